"""Low-rank multimodal fusion (Liu et al. 2018): tensor fusion with rank-R weight factors."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import zero_absent
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class LowRankFusionConfig(FusionConfig):
    """Options of :class:`LowRankFusion`."""

    rank: int = Field(4, ge=1, description="rank R of the weight tensor's decomposition")
    fused_dim: int = Field(64, ge=1, description="output width")
    hidden_dim: int | None = Field(
        None, ge=1, description="project each input to this width first (as tensor fusion does); none: raw"
    )
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout on each input before fusion")


@register_fusion("lowrank", LowRankFusionConfig)
class LowRankFusion(Fusion):
    """Low-rank multimodal fusion: ``h = sum_r lambda_r * prod_m (W_m^(r) [x_m; 1]) + b``.

    The same function class as tensor fusion with the weight tensor constrained to rank R, computed
    without building the outer product: each input meets its own factor ``W_m`` (R, D_m + 1, D_out)
    and the R x D_out results are multiplied across inputs, costing O(R * sum_m D_m * D_out) per row
    instead of O(prod_m D_m * D_out). An absent input's ``x_m`` is zero (factor ``[0; 1]``),
    which, as in tensor fusion, keeps the terms of the present inputs.
    Paper: https://arxiv.org/abs/1806.00064

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> ``(B, fused_dim)``.
    Legend: B batch, D width, M modalities, R rank.
    """

    def __init__(self, modality_dims: dict[str, int], config: LowRankFusionConfig) -> None:
        super().__init__(modality_dims, config)
        width = config.hidden_dim
        self.project = nn.ModuleDict(
            {n: nn.Linear(d, width) if width else nn.Identity() for n, d in self.modality_dims.items()}
        )
        self.factors = nn.ParameterDict(
            {
                n: nn.Parameter(
                    nn.init.xavier_normal_(torch.empty(config.rank, (width or d) + 1, config.fused_dim))
                )
                for n, d in self.modality_dims.items()
            }
        )
        self.rank_weights = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, config.rank)))
        self.bias = nn.Parameter(torch.zeros(config.fused_dim))
        self.dropout = nn.Dropout(config.dropout)
        self.output_dim = config.fused_dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        product: Tensor | None = None
        for name in self.names:
            x = self.project[name](self.dropout(zero_absent(embeddings[name], present[name])))
            x = zero_absent(x, present[name])  # (B, D_m)
            x = torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)  # (B, D_m + 1)
            term = torch.einsum("bd,rdo->bro", x, self.factors[name])  # (B, R, D)
            product = term if product is None else product * term
        assert product is not None
        return torch.einsum("r,bro->bo", self.rank_weights[0], product) + self.bias  # (B, D)
