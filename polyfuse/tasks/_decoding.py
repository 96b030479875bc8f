"""Decoding strategies of the generation task: greedy, beam search and sampling, batched.

``decode(decoder, memory, mask, options, ...)`` runs a :class:`~polyfuse.tasks.decoders.Decoder`
step by step (its state holds a key-value cache or the RNN's hidden state) and returns, per row,
``num_return`` token sequences with their scores (sum of log-probabilities, divided by
``length ** length_penalty`` for beam search).

- greedy: the most likely token at every step;
- beam: ``beam_size`` hypotheses per row, length penalty (Wu et al. 2016,
  https://arxiv.org/abs/1609.08144, simplified to ``length ** alpha``), no repeated n-grams of
  size ``no_repeat_ngram`` (0 = allowed);
- sample: temperature, top-k, top-p (nucleus, Holtzman et al. 2020, https://arxiv.org/abs/1904.09751),
  seeded by ``seed`` so a run is reproducible.

Legend: B batch, K beams or samples, S memory tokens, D width, V vocabulary, L length.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from polyfuse.tasks.decoders.base import Decoder


class DecodingConfig(BaseModel):
    """How text is generated (``model.task.decoding``, overridable at predict time)."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["greedy", "beam", "sample"] = Field("beam", description="greedy, beam or sample")
    beam_size: int = Field(3, ge=1, description="hypotheses kept per row (beam)")
    length_penalty: float = Field(0.6, description="beam scores are divided by length ** length_penalty")
    no_repeat_ngram: int = Field(0, ge=0, description="forbid repeating n-grams of this size (0 = off)")
    temperature: float = Field(1.0, gt=0, description="softmax temperature (sample)")
    top_k: int = Field(0, ge=0, description="sample among the k most likely tokens (0 = all)")
    top_p: float = Field(1.0, gt=0, le=1.0, description="sample within this probability mass (nucleus)")
    seed: int = Field(0, description="seed of sampling")
    max_length: int | None = Field(None, ge=1, description="most generated tokens (default: the target's)")
    num_return: int = Field(1, ge=1, description="texts returned per row (best first)")


def _banned(seqs: Tensor, n: int) -> list[set[int]]:
    """Per row of ``seqs`` (R, L): tokens that would complete an n-gram already present."""
    out: list[set[int]] = []
    for row in seqs.tolist():
        banned: set[int] = set()
        if len(row) >= n:
            prefix = tuple(row[len(row) - n + 1 :]) if n > 1 else ()
            for i in range(len(row) - n + 1):
                if tuple(row[i : i + n - 1]) == prefix:
                    banned.add(row[i + n - 1])
        out.append(banned)
    return out


@torch.no_grad()
def decode(
    decoder: Decoder,
    memory: Tensor,
    mask: Tensor,
    options: DecodingConfig,
    bos: int,
    eos: int,
    max_length: int,
) -> tuple[list[list[list[int]]], Tensor]:
    """Generate from ``memory`` (B, S, D) with ``mask`` (B, S).

    Returns:
        ``ids[b][k]`` token lists (no BOS/EOS) and scores (B, K), best first, K = ``num_return``.
    """
    length = min(options.max_length or max_length, max_length) - 1
    if length <= 0:  # no room for a token: empty texts
        k = options.num_return
        return [[[] for _ in range(k)] for _ in range(memory.shape[0])], torch.zeros(memory.shape[0], k)
    if options.strategy == "beam":
        return _beam(decoder, memory, mask, options, bos, eos, length)
    k = options.num_return
    memory, mask = memory.repeat_interleave(k, 0), mask.repeat_interleave(k, 0)  # (B*K, S, D)
    rows = memory.shape[0]
    state = decoder.start(memory, mask)
    generator = torch.Generator(device="cpu").manual_seed(options.seed)
    seqs = torch.full((rows, 1), bos, dtype=torch.long, device=memory.device)
    scores = torch.zeros(rows, device=memory.device)
    done = torch.zeros(rows, dtype=torch.bool, device=memory.device)
    for _ in range(length):
        logp = torch.log_softmax(decoder.step(seqs[:, -1], state).float(), dim=-1)  # (R, V)
        logp = _block_ngrams(logp, seqs, options.no_repeat_ngram)
        if options.strategy == "greedy":
            token = logp.argmax(-1)
        else:
            token = _sample(logp / options.temperature, options, generator).to(memory.device)
        token = torch.where(done, torch.full_like(token, eos), token)
        scores = scores + torch.where(done, 0.0, logp.gather(1, token[:, None])[:, 0])
        seqs = torch.cat([seqs, token[:, None]], 1)
        done |= token == eos
        if bool(done.all()):
            break
    ids = [_strip(row, eos) for row in seqs[:, 1:].tolist()]
    batch = rows // k
    out = [[ids[b * k + j] for j in range(k)] for b in range(batch)]
    scores = scores.view(batch, k)
    order = scores.argsort(dim=1, descending=True)
    out = [[out[b][j] for j in order[b].tolist()] for b in range(batch)]
    return out, scores.gather(1, order).cpu()


def _strip(row: list[int], eos: int) -> list[int]:
    return row[: row.index(eos)] if eos in row else row


def _block_ngrams(logp: Tensor, seqs: Tensor, n: int) -> Tensor:
    if n <= 0 or seqs.shape[1] < n:
        return logp
    for r, banned in enumerate(_banned(seqs[:, 1:] if seqs.shape[1] > 1 else seqs, n)):
        if banned:
            logp[r, list(banned)] = float("-inf")
    return logp


def _sample(logits: Tensor, options: DecodingConfig, generator: torch.Generator) -> Tensor:
    """One token per row of ``logits`` (R, V), restricted to top-k and top-p."""
    logits = logits.cpu()
    if options.top_k > 0:
        kth = logits.topk(min(options.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        outside = probs.cumsum(-1) - probs > options.top_p  # keep the first token always
        sorted_logits = sorted_logits.masked_fill(outside, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(1, order, sorted_logits)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]


def _beam(
    decoder: Decoder, memory: Tensor, mask: Tensor, options: DecodingConfig, bos: int, eos: int, length: int
) -> tuple[list[list[list[int]]], Tensor]:
    """Batched beam search: B rows x K beams decoded together as B*K rows."""
    batch, k = memory.shape[0], options.beam_size
    device = memory.device
    state = decoder.start(memory.repeat_interleave(k, 0), mask.repeat_interleave(k, 0))
    seqs = torch.full((batch * k, 1), bos, dtype=torch.long, device=device)
    beam_scores = torch.zeros(batch, k, device=device)
    beam_scores[:, 1:] = float("-inf")  # all beams start identical: keep one
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    for step in range(length):
        logp = torch.log_softmax(decoder.step(seqs[:, -1], state).float(), dim=-1)  # (B*K, V)
        logp = _block_ngrams(logp, seqs, options.no_repeat_ngram)
        vocab = logp.shape[-1]
        total = (beam_scores.view(-1, 1) + logp).view(batch, k * vocab)
        top, index = total.topk(2 * k, dim=1)  # (B, 2K)
        beam, token = index // vocab, index % vocab
        new_rows, new_tokens, new_scores = [], [], []
        for b in range(batch):
            chosen = 0
            for j in range(2 * k):
                score = float(top[b, j])
                if score == float("-inf"):
                    break
                row = b * k + int(beam[b, j])
                if int(token[b, j]) == eos:
                    if len(finished[b]) < max(k, options.num_return) or j < k:
                        norm = score / ((step + 1) ** options.length_penalty)
                        finished[b].append((norm, seqs[row, 1:].tolist()))
                    continue
                new_rows.append(row)
                new_tokens.append(int(token[b, j]))
                new_scores.append(score)
                chosen += 1
                if chosen == k:
                    break
            while chosen < k:  # fewer live candidates than beams: pad with dead ones
                new_rows.append(b * k)
                new_tokens.append(eos)
                new_scores.append(float("-inf"))
                chosen += 1
        index_rows = torch.tensor(new_rows, device=device)
        seqs = torch.cat([seqs[index_rows], torch.tensor(new_tokens, device=device)[:, None]], 1)
        state = decoder.reorder(state, index_rows)
        beam_scores = torch.tensor(new_scores, device=device).view(batch, k)
        best_live = beam_scores.max(1).values
        if all(
            len(finished[b]) >= k
            and max(s for s, _ in finished[b])
            >= float(best_live[b]) / (max(step + 1, 1) ** options.length_penalty)
            for b in range(batch)
        ):
            break
    out: list[list[list[int]]] = []
    scores = torch.full((batch, options.num_return), float("-inf"))
    for b in range(batch):
        pool = list(finished[b])
        for j in range(k):  # unfinished beams count too, at full length
            if float(beam_scores[b, j]) > float("-inf"):
                norm = float(beam_scores[b, j]) / (seqs.shape[1] - 1) ** options.length_penalty
                pool.append((norm, seqs[b * k + j, 1:].tolist()))
        pool.sort(key=lambda item: item[0], reverse=True)
        picks = pool[: options.num_return]
        while len(picks) < options.num_return:
            picks.append((float("-inf"), []))
        out.append([ids for _, ids in picks])
        scores[b] = torch.tensor([s for s, _ in picks])
    return out, scores
