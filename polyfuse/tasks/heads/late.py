"""Late fusion as a model shape: one prediction head per input, the predictions combined."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.layers import masked_softmax, mlp, stack_present, zero_absent
from polyfuse.tasks.heads.base import Head, HeadConfig, register_head

if TYPE_CHECKING:
    from polyfuse.model import Fused
    from polyfuse.tasks.base import ModelDims

Combine = Literal["average", "weighted", "stacking"]


class LateHeadConfig(HeadConfig):
    """Options of :class:`LateHead`."""

    combine: Combine = Field(
        "average",
        description="'average' over present inputs, 'weighted' (learned softmax weights renormalised over"
        " present inputs) or 'stacking' (a linear layer over all predictions)",
    )
    hidden_dim: int = Field(64, ge=0, description="hidden width of each input's head; 0 = linear head")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout inside each head")


class PredictionCombiner(nn.Module):
    """Combine S predictions per row, some absent, into one.

    Args:
        num_sources: S, the number of predictions per row.
        num_outputs: K, the width of each prediction.
        mode: ``average``, ``weighted`` or ``stacking`` (see :class:`LateHeadConfig`).
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


@register_head("late", LateHeadConfig, "late fusion: a head per input, predictions combined")
class LateHead(Head):
    """A head per input predicts the task on its own; the predictions are combined.

    Each input's head maps its pooled embedding to K outputs (logits for classification); the
    combiner averages them over the inputs present in the row, weights them with learned weights
    renormalised over those inputs, or stacks them with a linear layer (absent inputs: learned
    stand-in predictions). The model builds no fusion for it. Survey of fusion levels:
    Baltrusaitis et al. 2019, https://arxiv.org/abs/1705.09406

    Shapes: pooled ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> ``(B, K)``.
    """

    reads_fused: ClassVar[bool] = False

    def __init__(self, dims: ModelDims, num_outputs: int, config: LateHeadConfig) -> None:
        super().__init__(dims, num_outputs, config)
        self.names = sorted(dims.input_dims)
        self.heads = nn.ModuleDict(
            {n: mlp(dims.input_dims[n], config.hidden_dim, num_outputs, config.dropout) for n in self.names}
        )
        self.combiner = PredictionCombiner(len(self.names), num_outputs, config.combine)

    def forward(self, out: Fused) -> Tensor:
        predictions = [self.heads[n](zero_absent(out.pooled[n], out.present[n])) for n in self.names]
        stacked = torch.stack(predictions, dim=1)  # (B, M, K)
        return self.combiner(stacked, stack_present(out.present, self.names))  # type: ignore[no-any-return]
