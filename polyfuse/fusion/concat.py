"""Concatenation fusion: the pooled embeddings side by side, absent inputs replaced by a learned
"missing" vector, followed by an optional projection."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class ConcatFusionConfig(FusionConfig):
    """Options of :class:`ConcatFusion`."""

    hidden_dim: int | None = Field(
        None, ge=1, description="width of a projection after concatenation; none keeps the sum"
    )
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout on the fused vector")


@register_fusion("concat", ConcatFusionConfig)
class ConcatFusion(Fusion):
    """Concatenate the modality embeddings (absent ones replaced by a learned vector).

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> ``(B, sum D_m)`` or
    ``(B, hidden_dim)`` when a projection is configured.
    """

    def __init__(self, modality_dims: dict[str, int], config: ConcatFusionConfig) -> None:
        super().__init__(modality_dims, config)
        self.missing = nn.ParameterDict(
            {name: nn.Parameter(torch.zeros(dim)) for name, dim in self.modality_dims.items()}
        )
        total = sum(self.modality_dims.values())
        self.project: nn.Module = (
            nn.Sequential(nn.Linear(total, config.hidden_dim), nn.GELU())
            if config.hidden_dim
            else nn.Identity()
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output_dim = config.hidden_dim or total

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        parts = []
        for name in self.names:
            mask = present[name].unsqueeze(-1)  # (B, 1)
            parts.append(torch.where(mask, embeddings[name], self.missing[name]))
        return self.dropout(self.project(torch.cat(parts, dim=-1)))  # (B, D)
