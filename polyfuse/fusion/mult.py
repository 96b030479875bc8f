"""Multimodal transformer (MulT, Tsai et al. 2019): cross-modal attention between every pair of inputs."""

from __future__ import annotations

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from polyfuse.fusion._layers import AttentionBlock, AttentionStack, TokenProjection, masked_mean
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class MulTFusionConfig(FusionConfig):
    """Options of :class:`MulTFusion`."""

    hidden_dim: int = Field(32, ge=1, description="width d of every cross-modal stream")
    num_heads: int = Field(4, ge=1, description="attention heads; must divide hidden_dim")
    num_layers: int = Field(1, ge=1, description="cross-modal blocks per ordered pair of inputs")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout inside the attention blocks")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> MulTFusionConfig:
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"num_heads {self.num_heads} must divide hidden_dim {self.hidden_dim}")
        return self


@register_fusion("mult", MulTFusionConfig)
class MulTFusion(Fusion):
    """Cross-modal transformer: each input's tokens attend to every other input's tokens.

    For each ordered pair (source -> target) a stack of cross-modal blocks lets the target's tokens
    (queries) attend to the source's tokens (keys/values). Per target, the M - 1 streams are
    concatenated along the width, passed through one self-attention block, and mean-pooled over the
    target's real tokens; the M pooled vectors are concatenated. Each block also attends to a learned
    null token, so an absent source never gives a softmax over nothing; an absent target's pooled
    vector is a learned "missing" vector. Needs at least two inputs.
    Paper: https://arxiv.org/abs/1906.00295

    Shapes: embeddings ``{m: (B, T_m, D_m)}``, masks ``{m: (B, T_m)}`` -> ``(B, M (M - 1) d)``.
    Legend: B batch, T tokens, D width, M modalities, d = hidden_dim.
    """

    input_kind = "tokens"

    def __init__(self, modality_dims: dict[str, int], config: MulTFusionConfig) -> None:
        super().__init__(modality_dims, config)
        if len(self.names) < 2:
            raise ValueError("mult fusion needs at least two inputs")
        dim, heads, stream = config.hidden_dim, config.num_heads, config.hidden_dim * (len(self.names) - 1)
        self.tokens = TokenProjection(self.modality_dims, dim)
        self.cross = nn.ModuleDict(
            {
                f"{source}->{target}": AttentionStack(dim, heads, config.dropout, config.num_layers)
                for target in self.names
                for source in self.names
                if source != target
            }
        )
        self.self_attention = nn.ModuleDict(
            {t: AttentionBlock(stream, heads, config.dropout) for t in self.names}
        )
        self.missing = nn.Parameter(torch.zeros(len(self.names), stream))
        self.output_dim = len(self.names) * stream

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        tokens = {n: self.tokens.project_one(n, embeddings[n], present[n]) for n in self.names}
        pooled = []
        for index, target in enumerate(self.names):
            mask = present[target]  # (B, T_t)
            streams = [
                self.cross[f"{s}->{target}"](tokens[target], tokens[s], present[s])
                for s in self.names
                if s != target
            ]
            joined = torch.cat(streams, dim=-1)  # (B, T_t, (M - 1) d)
            joined = self.self_attention[target](joined, joined, mask)  # (B, T_t, (M - 1) d)
            row_present = mask.any(dim=1)  # (B,)
            vector = masked_mean(joined, mask)  # (B, (M - 1) d)
            pooled.append(torch.where(row_present.unsqueeze(-1), vector, self.missing[index]))
        return torch.cat(pooled, dim=-1)  # (B, M (M - 1) d)
