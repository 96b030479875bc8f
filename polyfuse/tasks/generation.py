"""Text generation from any inputs: captions, transcripts, answers in words, summaries.

The target column is text; a decoder (``model.task.decoder``: ``transformer``, ``lstm``, ``gru``)
writes it, cross-attending over every input's tokens (image grid cells, text tokens, audio frames,
tabular values as one token) projected to one width, with a learned "no input" token so a row with
every input absent still decodes (see :mod:`polyfuse.tasks._memory`). Training is teacher forcing
with label smoothing, padding masked; rows with an empty target are skipped (no loss).

Validation decodes every validation row greedily and scores the groups of rows with identical
inputs against all their references (BLEU-1..4, chrF, ROUGE-L, CIDEr-D, exact match, WER/CER: see
:mod:`polyfuse.text_metrics`); the primary metric (``primary_metric``, default ``bleu4_score``)
selects the best epoch. Prediction decodes with ``decoding`` (beam search by default).

Legend: B batch, T target tokens, S memory tokens, D width, V vocabulary, K returned texts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field, SerializeAsAny, field_validator
from torch import Tensor

from polyfuse.data.batch import Batch
from polyfuse.data.targets import TargetProcessor
from polyfuse.tasks._decoding import DecodingConfig, decode
from polyfuse.tasks._memory import MemoryBuilder
from polyfuse.tasks._registry import register_task
from polyfuse.tasks._text_target import TextTarget
from polyfuse.tasks.base import ModelDims, StepOutputs, Task, TaskConfig
from polyfuse.tasks.decoders import DecoderConfig, create_decoder, parse_decoder_config
from polyfuse.text_metrics import generation_metrics

if TYPE_CHECKING:
    from polyfuse.model import Fused


class GenerationConfig(TaskConfig):
    """Options of the generation task."""

    decoder: SerializeAsAny[DecoderConfig] = Field(
        default_factory=lambda: parse_decoder_config({"type": "transformer"}),
        description="the text decoder: {type: transformer|lstm|gru, ...} (polyfuse list decoders)",
    )
    tokenizer: str = Field(
        "word", description="word, char (Chinese), bpe (byte-level), or a path to a tokenizer.json"
    )
    vocab_size: int = Field(10000, ge=8, description="largest vocabulary a trained tokenizer keeps")
    min_frequency: int = Field(1, ge=1, description="rarer target tokens become <unk>")
    max_length: int = Field(40, ge=3, description="most tokens per target (BOS/EOS included); longer are cut")
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0, description="label smoothing of the loss")
    primary_metric: str = Field(
        "bleu4_score", description="validation metric selecting the best epoch (e.g. cider_score)"
    )
    decoding: DecodingConfig = Field(
        default_factory=lambda: DecodingConfig(), description="how predictions are decoded"
    )
    valid_decoding: DecodingConfig = Field(
        default_factory=lambda: DecodingConfig(strategy="greedy"),
        description="how validation decodes (greedy by default, for speed)",
    )

    @field_validator("decoder", mode="before")
    @classmethod
    def _parse_decoder(cls, value: Any) -> DecoderConfig:
        if isinstance(value, DecoderConfig):
            return value
        if not isinstance(value, dict):
            raise ValueError("decoder must be a mapping with a 'type'")
        return parse_decoder_config(value)


def _memory_dim(config: DecoderConfig) -> int:
    return int(getattr(config, "dim", 256))


@register_task(
    "generation", GenerationConfig, "text generation (captions, transcripts, answers) by a decoder"
)
class GenerationTask(Task):
    """A decoder writes the target text, conditioned on every input's tokens."""

    name: ClassVar[str] = "generation"
    primary_metric: ClassVar[str] = "bleu4_score"
    reads_tokens: bool = True
    config: GenerationConfig
    target: TextTarget

    def __init__(self, config: GenerationConfig, dims: ModelDims, target: TargetProcessor | None) -> None:
        if not isinstance(target, TextTarget):
            raise ValueError("the generation task needs its text target (data.label names the text column)")
        super().__init__(config, dims, target)
        self.primary_metric = config.primary_metric  # type: ignore[misc]
        width = _memory_dim(config.decoder)
        self.memory = MemoryBuilder(dims.input_dims, width)
        self.decoder = create_decoder(config.decoder, target.num_outputs, config.max_length, width)
        self.decoding = config.decoding
        self.valid_decoding = config.valid_decoding

    @classmethod
    def needs_fusion(cls, config: TaskConfig) -> bool:
        return False

    @classmethod
    def create_target(cls, config: TaskConfig, columns: list[str], delimiter: str) -> TextTarget:
        assert isinstance(config, GenerationConfig)
        if len(columns) != 1:
            raise ValueError(f"generation reads one target text column, got {columns}")
        target = TextTarget(config.tokenizer, config.vocab_size, config.min_frequency, config.max_length)
        target.columns = columns
        return target

    def set_decoding(self, validation: bool = False, **options: Any) -> DecodingConfig:
        """Override decoding options of the next predictions (e.g. ``strategy="sample"``), or with
        ``validation`` of the next evaluations (``Predictor.evaluate`` scores what this decodes)."""
        current = self.valid_decoding if validation else self.decoding
        updated = DecodingConfig.model_validate({**current.model_dump(), **options})
        if validation:
            self.valid_decoding = updated
        else:
            self.decoding = updated
        return updated

    # ------------------------------------------------------------------ steps
    def _memory(self, out: Fused) -> tuple[Tensor, Tensor]:
        return self.memory(out.tokens, out.token_masks)  # (B, S, D), (B, S)

    def _loss(self, out: Fused, target: dict[str, Any], reduce: bool = True) -> Tensor:
        ids, valid = target["ids"], target["valid"]
        memory, mask = self._memory(out)
        logits = self.decoder(ids[:, :-1], memory, mask).float()  # (B, T-1, V)
        gold = ids[:, 1:].masked_fill(~valid[:, None], self.target.pad_id)  # empty targets: no loss
        loss = F.cross_entropy(
            logits.transpose(1, 2),
            gold,
            ignore_index=self.target.pad_id,
            label_smoothing=self.config.label_smoothing if self.training else 0.0,
            reduction="none",
        )  # (B, T-1)
        tokens = (gold != self.target.pad_id).float()
        if reduce:
            return (loss * tokens).sum() / tokens.sum().clamp(min=1)
        return torch.stack([(loss * tokens).sum(1), tokens.sum(1)], dim=1)  # (B, 2)

    def training_step(self, out: Fused, batch: Batch) -> dict[str, Tensor]:
        return {"task_loss": self._loss(out, batch.target)}

    def _generate(self, out: Fused, options: DecodingConfig, groups: list[str] | None = None) -> StepOutputs:
        """Decode every row; with ``groups``, rows of one group (identical inputs) decode once."""
        memory, mask = self._memory(out)
        rows = list(range(memory.shape[0]))
        if groups is not None:
            first: dict[str, int] = {}
            rows = [first.setdefault(g, i) for i, g in enumerate(groups)]
        unique = sorted(set(rows))
        index = torch.tensor(unique, device=memory.device)
        t = self.target
        ids, scores = decode(
            self.decoder, memory[index], mask[index], options, t.bos_id, t.eos_id, self.config.max_length
        )
        at = {row: j for j, row in enumerate(unique)}
        texts = [[t.decode(seq) for seq in ids[at[r]]] for r in rows]
        scores = scores[torch.tensor([at[r] for r in rows])]
        step: StepOutputs = {"text": [row[0] for row in texts], "score": scores[:, 0]}
        if options.num_return > 1:
            step["candidates"] = texts
            step["candidate_scores"] = scores
        return step

    def predict_step(self, out: Fused, batch: Batch) -> StepOutputs:
        return self._generate(out, self.decoding)

    def validation_step(self, out: Fused, batch: Batch) -> StepOutputs:
        step = self._generate(out, self.valid_decoding, batch.target["group"])
        sums = self._loss(out, batch.target, reduce=False)
        return {
            **step,
            "reference": batch.target["text"],
            "group": batch.target["group"],
            "valid": batch.target["valid"],
            "loss_sum": sums,  # (B, 2): each row's summed token loss and token count
        }

    # ------------------------------------------------------------------ after a split
    def grouped(self, outputs: StepOutputs) -> tuple[list[str], list[list[str]], list[int]]:
        """One hypothesis per group of rows with identical inputs, the group's references, and
        the position of the group's first row."""
        groups: dict[str, int] = {}
        hyps: list[str] = []
        refs: list[list[str]] = []
        first: list[int] = []
        for i, (group, text, ref, ok) in enumerate(
            zip(
                outputs["group"],
                outputs["text"],
                outputs["reference"],
                outputs["valid"].tolist(),
                strict=True,
            )
        ):
            if group not in groups:
                groups[group] = len(hyps)
                hyps.append(text)
                refs.append([])
                first.append(i)
            if ok:
                refs[groups[group]].append(ref)
        keep = [j for j, r in enumerate(refs) if r]
        return [hyps[j] for j in keep], [refs[j] for j in keep], [first[j] for j in keep]

    def metrics(self, outputs: StepOutputs) -> dict[str, Any]:
        hyps, refs, _ = self.grouped(outputs)
        metrics: dict[str, Any] = generation_metrics(hyps, refs) if hyps else {"num_groups": 0}
        sums = outputs["loss_sum"].sum(0)
        metrics["task_loss"] = float(sums[0] / sums[1].clamp(min=1))
        metrics["empty_generations"] = int(sum(not str(t).strip() for t in outputs["text"]))
        return metrics

    def to_frame(self, outputs: StepOutputs, proba: bool = False) -> pd.DataFrame:
        frame = pd.DataFrame({"prediction": outputs["text"], "score": outputs["score"].numpy()})
        frame["empty"] = [not str(t).strip() for t in outputs["text"]]
        if "candidates" in outputs:
            scores = outputs["candidate_scores"].numpy()
            for k in range(1, scores.shape[1]):
                frame[f"prediction_{k + 1}"] = [row[k] for row in outputs["candidates"]]
                frame[f"score_{k + 1}"] = scores[:, k]
        return frame
