"""Late fusion: one prediction head per input, the predictions combined."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import masked_softmax, mlp, stack_present, zero_absent
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig

Combine = Literal["average", "weighted", "stacking"]


class LateFusionConfig(FusionConfig):
    """Options of :class:`LateFusion`."""

    combine: Combine = Field(
        "average",
        description="'average' over present inputs, 'weighted' (learned softmax weights renormalised over"
        " present inputs) or 'stacking' (a linear layer over all predictions)",
    )
    hidden_dim: int = Field(64, ge=0, description="hidden width of each input's head; 0 = linear head")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout inside each head")
    num_outputs: int | None = Field(
        None, ge=1, description="prediction width K; filled by the builder with the task's output width"
    )


def require_outputs(num_outputs: int | None, name: str) -> int:
    """``num_outputs``, or a clear error when the builder did not fill it."""
    if num_outputs is None:
        raise ValueError(f"{name} fusion needs num_outputs (build_model fills it with the task's width)")
    return num_outputs


class PredictionCombiner(nn.Module):
    """Combine S predictions per row, some absent, into one.

    Args:
        num_sources: S, the number of predictions per row.
        num_outputs: K, the width of each prediction.
        mode: ``average``, ``weighted`` or ``stacking`` (see :class:`LateFusionConfig`).
    """

    def __init__(self, num_sources: int, num_outputs: int, mode: Combine) -> None:
        super().__init__()
        self.mode = mode
        self.logits = nn.Parameter(torch.zeros(num_sources)) if mode == "weighted" else None
        self.stack = nn.Linear(num_sources * num_outputs, num_outputs) if mode == "stacking" else None
        # stacking: one stand-in prediction per absent source; otherwise: the output of an empty row
        rows = num_sources if mode == "stacking" else 1
        self.missing = nn.Parameter(torch.zeros(rows, num_outputs))

    def forward(self, predictions: Tensor, present: Tensor) -> Tensor:
        """Predictions (B, S, K) with present mask (B, S) -> (B, K)."""
        if self.stack is not None:
            filled = torch.where(present.unsqueeze(-1), predictions, self.missing)  # (B, S, K)
            return self.stack(filled.flatten(1))  # type: ignore[no-any-return]
        if self.logits is not None:
            weights = masked_softmax(self.logits.expand_as(present), present)  # (B, S)
        else:
            weights = present.to(predictions.dtype)
            weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1)  # (B, S)
        combined = (weights.unsqueeze(-1) * zero_absent(predictions, present)).sum(dim=1)  # (B, K)
        return torch.where(present.any(dim=1, keepdim=True), combined, self.missing[0])


@register_fusion("late", LateFusionConfig)
class LateFusion(Fusion):
    """A head per input predicts the task on its own; the predictions are combined.

    Each input's head maps its embedding to K outputs (logits for classification); the combiner
    averages them over the inputs present in the row, weights them with learned weights renormalised
    over those inputs, or stacks them with a linear layer (absent inputs: learned stand-in
    predictions). The output is the prediction itself, so the builder replaces the task head with an
    identity. Survey of fusion levels: Baltrusaitis et al. 2019, https://arxiv.org/abs/1705.09406

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> ``(B, K)``.
    Legend: B batch, D width, K outputs, M modalities.
    """

    produces_predictions: ClassVar[bool] = True

    def __init__(self, modality_dims: dict[str, int], config: LateFusionConfig) -> None:
        super().__init__(modality_dims, config)
        outputs = require_outputs(config.num_outputs, "late")
        self.heads = nn.ModuleDict(
            {n: mlp(d, config.hidden_dim, outputs, config.dropout) for n, d in self.modality_dims.items()}
        )
        self.combiner = PredictionCombiner(len(self.names), outputs, config.combine)
        self.output_dim = outputs

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        predictions = [self.heads[n](zero_absent(embeddings[n], present[n])) for n in self.names]
        stacked = torch.stack(predictions, dim=1)  # (B, M, K)
        return self.combiner(stacked, stack_present(present, self.names))  # type: ignore[no-any-return]
