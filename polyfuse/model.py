"""MultimodalModel: built encoders + a fusion + a task, composed. No config reading in here.

Legend: B batch, T tokens, D width, P position features.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from polyfuse.data.batch import PRECOMPUTED, PRECOMPUTED_MASK, PRECOMPUTED_TOKENS, Batch
from polyfuse.data.processors.base import Features
from polyfuse.encoders.base import Encoder, EncoderOutput
from polyfuse.fusion.base import Fusion
from polyfuse.tasks.base import StepOutputs, Task


class Fused(NamedTuple):
    """What the encoders and the fusion produced for a batch: what every task receives."""

    fused: Tensor | None
    """(B, D) the fusion's output; ``None`` when the model has no fusion (late heads, retrieval)."""
    pooled: dict[str, Tensor]
    """{input: (B, D_m)} each encoder's pooled output."""
    tokens: dict[str, Tensor]
    """{input: (B, T_m, D_m)} each encoder's tokens; pooled-only encoders as ``T_m = 1``."""
    token_masks: dict[str, Tensor]
    """{input: (B, T_m)} True for a real token of a present row."""
    positions: dict[str, Tensor]
    """{input: (B, T_m, P)} where the encoder declares its tokens' positions (e.g. x, y)."""
    present: dict[str, Tensor]
    """{input: (B,) bool} after modality dropout."""


class MultimodalModel(nn.Module):
    """Encoders (one per input) -> fusion -> task, plus optional alignment losses.

    Args:
        encoders: built encoders keyed by input name.
        fusion: built fusion whose ``modality_dims`` keys equal the encoders' keys, or ``None`` when
            the task reads the encoders' outputs directly (late heads, retrieval towers).
        task: built task (its heads or decoders, loss terms, metrics).
        modality_dropout: probability, per row and input, of dropping a present input in training
            (never all inputs of a row).
        aligners: built alignment losses keyed by name; each term is logged as ``{name}_loss``.
        alignment_weights: factor of each aligner's loss in the training loss (default 1).
    """

    def __init__(
        self,
        encoders: dict[str, Encoder],
        fusion: Fusion | None,
        task: Task,
        modality_dropout: float = 0.0,
        aligners: dict[str, nn.Module] | None = None,
        alignment_weights: dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        if fusion is not None and sorted(encoders) != fusion.names:
            raise ValueError(f"fusion inputs {fusion.names} do not match encoders {sorted(encoders)}")
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.task = task
        self.modality_dropout = modality_dropout
        self.aligners = nn.ModuleDict(aligners or {})
        self.alignment_weights = {name: (alignment_weights or {}).get(name, 1.0) for name in self.aligners}

    @property
    def reads_tokens(self) -> bool:
        """Whether anything reads the encoders' tokens (a token fusion, or the task's decoders)."""
        token_fusion = self.fusion is not None and self.fusion.input_kind == "tokens"
        return token_fusion or self.task.reads_tokens

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
        the embedding cache) skips its encoder and has no tokens, unless the cache holds them too
        (``PRECOMPUTED_TOKENS``, ``PRECOMPUTED_MASK``).
        """
        return {name: _encode(enc, batch.inputs[name]) for name, enc in self.encoders.items()}

    def fuse(self, batch: Batch) -> Fused:
        """Encoders + fusion -> the :class:`Fused` record every task reads."""
        present = self._drop_modalities(batch.present)
        outputs = self.encode(batch)
        pooled = {name: out.pooled for name, out in outputs.items()}
        tokens, masks = {}, {}
        for name, out in outputs.items():
            tokens[name], masks[name] = _tokens(out, present[name])
        positions = {n: out.positions for n, out in outputs.items() if out.positions is not None}
        fused = None
        if self.fusion is not None:
            if self.fusion.input_kind == "tokens":
                fused = self.fusion(tokens, masks, **_positions_for(self.fusion, positions))
            else:
                fused = self.fusion(pooled, present)
        return Fused(fused, pooled, tokens, masks, positions, present)

    def forward(self, batch: Batch) -> StepOutputs:
        """The task's outputs of a batch (see :meth:`predict_step`)."""
        return self.predict_step(batch)

    def predict_step(self, batch: Batch) -> StepOutputs:
        """The task's outputs of a batch: ``{name: (B, ...) tensor or list}``."""
        return self.task.predict_step(self.fuse(batch), batch)

    def validation_step(self, batch: Batch) -> StepOutputs:
        """The task's outputs of a batch plus what its metrics need."""
        return self.task.validation_step(self.fuse(batch), batch)

    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        """Named loss terms; ``loss`` is their sum and the one the trainer backpropagates."""
        if batch.target is None and self.task.target is not None:
            raise ValueError("training_step needs targets")
        out = self.fuse(batch)
        terms = dict(self.task.training_step(out, batch))
        if self.fusion is not None:
            seen = out.tokens if self.fusion.input_kind == "tokens" else out.pooled
            masks = out.token_masks if self.fusion.input_kind == "tokens" else out.present
            terms.update(self.fusion.auxiliary_losses(seen, masks))
        for name, aligner in self.aligners.items():
            terms[f"{name}_loss"] = self.alignment_weights[name] * aligner(out.pooled, out.present)
        terms["loss"] = torch.stack([t.float() for t in terms.values()]).sum()
        return terms


def _encode(encoder: nn.Module, features: Features) -> EncoderOutput:
    """``encoder(features)``, or the precomputed pooled output ``(B, D)`` the features carry."""
    if PRECOMPUTED in features:
        if PRECOMPUTED_TOKENS in features:  # cached tokens (float16 in the cache)
            tokens = features[PRECOMPUTED_TOKENS].to(features[PRECOMPUTED].dtype)
            return EncoderOutput(features[PRECOMPUTED], tokens, features[PRECOMPUTED_MASK])
        return EncoderOutput(features[PRECOMPUTED])
    out: EncoderOutput = encoder(features)
    return out


def _positions_for(fusion: Fusion, positions: dict[str, Tensor]) -> dict[str, Any]:
    """``{"positions": ...}`` for fusions that read token positions, else nothing."""
    return {"positions": positions} if fusion.reads_positions else {}


def _tokens(out: EncoderOutput, present: Tensor) -> tuple[Tensor, Tensor]:
    """An encoder's tokens (B, T, D) and mask (B, T), absent rows masked; pooled-only as T = 1."""
    if out.tokens is None:
        tokens, mask = out.pooled.unsqueeze(1), None  # (B, 1, D)
    else:
        tokens, mask = out.tokens, out.token_mask
    if mask is None:
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
    return tokens, mask & present.unsqueeze(1)  # (B, T)
