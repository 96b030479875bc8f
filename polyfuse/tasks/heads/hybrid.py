"""Hybrid fusion as a model shape: a head on the fused vector and per-input heads, combined."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.layers import mlp, zero_absent
from polyfuse.tasks.heads.base import Head, HeadConfig, register_head
from polyfuse.tasks.heads.late import Combine, PredictionCombiner

if TYPE_CHECKING:
    from polyfuse.model import Fused
    from polyfuse.tasks.base import ModelDims


class HybridHeadConfig(HeadConfig):
    """Options of :class:`HybridHead`."""

    combine: Combine = Field(
        "weighted",
        description="how the fused and per-input predictions are combined: average|weighted|stacking",
    )
    hidden_dim: int = Field(64, ge=0, description="hidden width of every prediction head; 0 = linear")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout inside every head")


@register_head("hybrid", HybridHeadConfig, "hybrid fusion: the fused head and per-input heads, combined")
class HybridHead(Head):
    """Early and late fusion together: ``combine(head(fused), head_1(x_1), ..., head_M(x_M))``.

    With ``fusion: {type: early}`` (the shape ``fusion: {type: hybrid}`` stands for) the fused branch
    is a shared transformer over every input's tokens; each late head sees one input's pooled
    vector. The fused prediction is always present, the late ones only where their input is; the
    M + 1 predictions are combined as in late fusion. Survey: Baltrusaitis et al. 2019,
    https://arxiv.org/abs/1705.09406

    Shapes: fused ``(B, D)``, pooled ``{m: (B, D_m)}`` -> ``(B, K)``.
    """

    def __init__(self, dims: ModelDims, num_outputs: int, config: HybridHeadConfig) -> None:
        super().__init__(dims, num_outputs, config)
        if dims.fused_dim is None:
            raise ValueError("the hybrid head needs a fusion (the model has none)")
        self.names = sorted(dims.input_dims)
        hidden, dropout = config.hidden_dim, config.dropout
        self.fused_head = mlp(dims.fused_dim, hidden, num_outputs, dropout)
        self.heads = nn.ModuleDict(
            {n: mlp(dims.input_dims[n], hidden, num_outputs, dropout) for n in self.names}
        )
        self.combiner = PredictionCombiner(len(self.names) + 1, num_outputs, config.combine)

    def forward(self, out: Fused) -> Tensor:
        assert out.fused is not None
        fused = self.fused_head(out.fused)  # (B, K)
        late = [self.heads[n](zero_absent(out.pooled[n], out.present[n])) for n in self.names]
        predictions = torch.stack([fused, *late], dim=1)  # (B, 1 + M, K)
        rows = torch.stack([out.present[n] for n in self.names], dim=1)  # (B, M)
        mask = torch.cat([rows.new_ones(rows.shape[0], 1), rows], dim=1)  # (B, 1 + M)
        return self.combiner(predictions, mask)  # type: ignore[no-any-return]
