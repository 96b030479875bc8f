"""MultimodalModel: built encoders + a fusion + a task, composed. No config reading in here.

Legend: B batch, T tokens, D width.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor, nn

from polyfuse.data.processors.base import Features
from polyfuse.encoders.base import PRECOMPUTED, Encoder, EncoderOutput
from polyfuse.fusion.base import Fusion
from polyfuse.tasks.base import Task


@dataclass
class Batch:
    """A batch: per-input features and present masks, targets, and the rows' indices in the table."""

    inputs: dict[str, Features]
    present: dict[str, Tensor]
    """{input: (B,) bool}"""
    target: Tensor | None = None
    index: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    def to(self, device: torch.device | str) -> Batch:
        """A copy on ``device``."""
        return Batch(
            {k: {n: t.to(device, non_blocking=True) for n, t in f.items()} for k, f in self.inputs.items()},
            {k: v.to(device) for k, v in self.present.items()},
            None if self.target is None else self.target.to(device),
            self.index,
        )

    def __len__(self) -> int:
        return len(self.index)


class Fused(NamedTuple):
    """What :meth:`MultimodalModel.fuse` returns."""

    fused: Tensor
    """(B, D) fused vector; (B, K) predictions for fusions that produce predictions."""
    embeddings: dict[str, Tensor]
    """What the fusion saw: {input: (B, D_m)}, or {input: (B, T_m, D_m)} for token fusions."""
    masks: dict[str, Tensor]
    """The fusion's masks: {input: (B,)}, or {input: (B, T_m)} for token fusions."""
    pooled: dict[str, Tensor]
    """{input: (B, D_m)} the encoders' pooled outputs (what aligners compare)."""
    present: dict[str, Tensor]
    """{input: (B,) bool} after modality dropout."""


class MultimodalModel(nn.Module):
    """Encoders (one per input) -> fusion -> task head, plus optional alignment losses.

    Args:
        encoders: built encoders keyed by input name.
        fusion: built fusion whose ``modality_dims`` keys equal the encoders' keys.
        task: built task (head, loss, metrics).
        modality_dropout: probability, per row and input, of dropping a present input in training
            (never all inputs of a row).
        aligners: built alignment losses keyed by name; each term is logged as ``{name}_loss``.
        alignment_weights: factor of each aligner's loss in the training loss (default 1).
    """

    def __init__(
        self,
        encoders: dict[str, Encoder],
        fusion: Fusion,
        task: Task,
        modality_dropout: float = 0.0,
        aligners: dict[str, nn.Module] | None = None,
        alignment_weights: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        if sorted(encoders) != fusion.names:
            raise ValueError(f"fusion inputs {fusion.names} do not match encoders {sorted(encoders)}")
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.task = task
        self.modality_dropout = modality_dropout
        self.aligners = nn.ModuleDict(aligners or {})
        self.alignment_weights = {name: (alignment_weights or {}).get(name, 1.0) for name in self.aligners}

    def _drop_modalities(self, present: dict[str, Tensor]) -> dict[str, Tensor]:
        if not self.training or self.modality_dropout <= 0 or len(present) < 2:
            return present
        names = sorted(present)
        stacked = torch.stack([present[n] for n in names], dim=1)  # (B, M)
        keep = torch.rand(stacked.shape, device=stacked.device) >= self.modality_dropout
        kept = stacked & keep
        empty = ~kept.any(dim=1) & stacked.any(dim=1)  # never drop every present input
        kept[empty] = stacked[empty]
        return {n: kept[:, i] for i, n in enumerate(names)}

    def encode(self, batch: Batch) -> dict[str, EncoderOutput]:
        """Run every encoder: ``{input: EncoderOutput}``.

        An input given as ``{PRECOMPUTED: (B, D)}`` (its frozen encoder's pooled output, read from
        the embedding cache) skips its encoder and has no tokens.
        """
        return {name: _encode(enc, batch.inputs[name]) for name, enc in self.encoders.items()}

    def fuse(self, batch: Batch) -> Fused:
        """Encoders + fusion -> fused (B, D), plus what the fusion and the aligners saw."""
        present = self._drop_modalities(batch.present)
        outputs = self.encode(batch)
        pooled = {name: out.pooled for name, out in outputs.items()}
        if self.fusion.input_kind == "tokens":
            tokens = {name: _tokens(out, present[name]) for name, out in outputs.items()}
            embeddings = {name: t for name, (t, _) in tokens.items()}
            masks = {name: m for name, (_, m) in tokens.items()}
        else:
            embeddings, masks = pooled, present
        return Fused(self.fusion(embeddings, masks), embeddings, masks, pooled, present)

    def forward(self, batch: Batch) -> Tensor:
        """Raw task outputs (B, K)."""
        out: Tensor = self.task(self.fuse(batch).fused)
        return out

    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        """Named loss terms; ``loss`` is their sum and the one the trainer backpropagates."""
        if batch.target is None:
            raise ValueError("training_step needs targets")
        fused = self.fuse(batch)
        terms = {"task_loss": self.task.loss(self.task(fused.fused), batch.target)}
        terms.update(self.fusion.auxiliary_losses(fused.embeddings, fused.masks))
        for name, aligner in self.aligners.items():
            terms[f"{name}_loss"] = self.alignment_weights[name] * aligner(fused.pooled, fused.present)
        terms["loss"] = torch.stack(list(terms.values())).sum()
        return terms


def _encode(encoder: nn.Module, features: Features) -> EncoderOutput:
    """``encoder(features)``, or the precomputed pooled output ``(B, D)`` the features carry."""
    if PRECOMPUTED in features:
        return EncoderOutput(features[PRECOMPUTED])
    out: EncoderOutput = encoder(features)
    return out


def _tokens(out: EncoderOutput, present: Tensor) -> tuple[Tensor, Tensor]:
    """An encoder's tokens (B, T, D) and mask (B, T), absent rows masked; pooled-only as T = 1."""
    if out.tokens is None:
        tokens, mask = out.pooled.unsqueeze(1), None  # (B, 1, D)
    else:
        tokens, mask = out.tokens, out.token_mask
    if mask is None:
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
    return tokens, mask & present.unsqueeze(1)  # (B, T)
