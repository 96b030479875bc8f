"""``text/rnn``: latent -> a GRU (or LSTM) language model -> the input's own tokens.

The text processor gives ``{"ids": (B, T), "mask": (B, T)}`` (WordPiece ids, no specials). The
decoder adds two ids of its own after the vocabulary, BOS and EOS, feeds ``[BOS, x_1 .. x_n]`` with
the latent concatenated to every step's embedding and its projection as the initial state, and
scores ``[x_1 .. x_n, EOS]`` by cross-entropy (teacher forcing), the mean over each row's tokens.
Predictions decode greedily to ``max_length`` tokens or EOS and join the WordPiece tokens back
into text (``##`` pieces glued to the token before).

Its "reconstruction" tensor is the latent itself (``(B, L)``): the tokens are decoded only when
values are asked for (:meth:`TextRnnDecoder.to_values`), and the loss needs the true tokens.

Legend: B batch, L latent width, T tokens, E embedding width, D hidden width, V vocabulary (+2).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from polyfuse.data.processors.base import Features
from polyfuse.tasks.input_decoders.base import InputDecoder, InputDecoderConfig, register_input_decoder


class TextRnnDecoderConfig(InputDecoderConfig):
    """Options of :class:`TextRnnDecoder`."""

    cell: Literal["gru", "lstm"] = Field("gru", description="recurrent cell")
    dim: int = Field(128, ge=4, description="hidden width D")
    embed_dim: int = Field(64, ge=4, description="token embedding width E")
    max_length: int | None = Field(
        None, ge=1, description="longest text generated, in tokens (default: the text processor's)"
    )


@register_input_decoder("text", "rnn", TextRnnDecoderConfig, "GRU/LSTM language model from the latent")
class TextRnnDecoder(InputDecoder):
    """``(B, L)`` -> token logits over the input's vocabulary; greedy text at prediction time."""

    config: TextRnnDecoderConfig

    def __init__(self, config: TextRnnDecoderConfig, spec: dict[str, Any], latent_dim: int) -> None:
        super().__init__(config, spec, latent_dim)
        vocabulary = spec.get("vocabulary")
        if not vocabulary:
            raise ValueError(
                "text reconstruction needs polyfuse's own text processor (its vocabulary decodes the"
                " tokens); a pretrained text input cannot be rebuilt: leave it out of task.inputs"
            )
        self.vocabulary: list[str] = list(vocabulary)
        size = len(self.vocabulary)
        self.pad_id, self.bos_id, self.eos_id = int(spec.get("pad_id", 0)), size, size + 1
        self.max_length = config.max_length or int(spec.get("max_length", 32))
        self.embed = nn.Embedding(size + 2, config.embed_dim)
        self.init = nn.Linear(latent_dim, config.dim)
        rnn = nn.GRU if config.cell == "gru" else nn.LSTM
        self.rnn = rnn(config.embed_dim + latent_dim, config.dim, batch_first=True)
        self.out = nn.Linear(config.dim, size + 2)

    def forward(self, latent: Tensor) -> Tensor:
        return latent  # (B, L): decoded by row_loss (teacher forcing) or to_values (greedy)

    def _state(self, latent: Tensor) -> Any:
        h = torch.tanh(self.init(latent)).unsqueeze(0)  # (1, B, D)
        return h if self.config.cell == "gru" else (h, torch.zeros_like(h))

    def _logits(self, latent: Tensor, ids: Tensor, state: Any) -> tuple[Tensor, Any]:
        """``ids`` (B, T) -> logits (B, T, V) and the state after them."""
        steps = latent.unsqueeze(1).expand(-1, ids.shape[1], -1)  # (B, T, L)
        hidden, state = self.rnn(torch.cat([self.embed(ids), steps], -1), state)
        return self.out(hidden), state

    def _teacher_forcing(self, features: Features) -> tuple[Tensor, Tensor, Tensor]:
        """Inputs ``[BOS, x]``, targets ``[x, EOS]`` (B, T + 1) and their mask (B, T + 1)."""
        ids, mask = features["ids"].long(), features["mask"].bool()
        batch = ids.shape[0]
        lengths = mask.sum(1)  # (B,)
        bos = torch.full((batch, 1), self.bos_id, dtype=torch.long, device=ids.device)
        tokens = ids.masked_fill(~mask, self.pad_id)
        inputs = torch.cat([bos, tokens], 1)
        targets = torch.cat([tokens, torch.full_like(bos, self.pad_id)], 1)
        targets[torch.arange(batch, device=ids.device), lengths] = self.eos_id
        positions = torch.arange(targets.shape[1], device=ids.device).unsqueeze(0)
        return inputs, targets, positions <= lengths.unsqueeze(1)

    def row_loss(self, reconstruction: Tensor, features: Features) -> Tensor:
        """(B,) mean token cross-entropy of each row's text (EOS included) given the latent."""
        latent = reconstruction.float()
        inputs, targets, keep = self._teacher_forcing(features)
        logits, _ = self._logits(latent, inputs, self._state(latent))
        loss = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T + 1)
        return (loss * keep).sum(1) / keep.sum(1).clamp(min=1)

    def truth(self, features: Features) -> Tensor:
        """The token ids (B, T), padding as ``pad_id``."""
        return features["ids"].masked_fill(~features["mask"].bool(), self.pad_id)

    @torch.no_grad()
    def generate(self, latent: Tensor) -> Tensor:
        """Greedy token ids (B, T <= max_length) from latents (B, L), EOS and after as ``pad_id``."""
        latent = latent.float().to(self.out.weight.device)
        ids = torch.full((latent.shape[0], 1), self.bos_id, dtype=torch.long, device=latent.device)
        state, done, steps = self._state(latent), torch.zeros_like(ids[:, 0], dtype=torch.bool), []
        for _ in range(self.max_length):
            logits, state = self._logits(latent, ids, state)
            logits[:, -1, self.bos_id] = float("-inf")
            ids = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
            done = done | (ids[:, 0] == self.eos_id)
            steps.append(ids[:, 0].masked_fill(done, self.pad_id))
            if bool(done.all()):
                break
        return torch.stack(steps, 1) if steps else ids[:, :0]

    def text(self, ids: Tensor) -> list[str]:
        """Token ids (B, T) -> one text per row (padding and the decoder's own ids dropped)."""
        texts = []
        for row in ids.tolist():
            tokens = [self.vocabulary[i] for i in row if i != self.pad_id and i < len(self.vocabulary)]
            texts.append(" ".join(tokens).replace(" ##", "").strip())
        return texts

    def to_values(self, reconstruction: Tensor) -> list[Any]:
        """Per row: the text decoded greedily from its latent."""
        return self.text(self.generate(reconstruction).cpu())
