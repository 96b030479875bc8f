"""Early fusion: the tokens of every input joined into one sequence before a shared transformer."""

from __future__ import annotations

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from polyfuse.fusion._layers import AttentionStack, TokenProjection
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class EarlyFusionConfig(FusionConfig):
    """Options of :class:`EarlyFusion`."""

    hidden_dim: int = Field(64, ge=1, description="width of the shared transformer (output width)")
    num_heads: int = Field(4, ge=1, description="attention heads; must divide hidden_dim")
    num_layers: int = Field(2, ge=1, description="transformer blocks over the joined sequence")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout inside the transformer blocks")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> EarlyFusionConfig:
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"num_heads {self.num_heads} must divide hidden_dim {self.hidden_dim}")
        return self


@register_fusion("early", EarlyFusionConfig)
class EarlyFusion(Fusion):
    """One transformer over the tokens of all inputs, read out through a learned [CLS] token.

    Every input's tokens are projected to ``hidden_dim`` and tagged with a learned modality
    embedding; the sequences are concatenated behind a [CLS] token and run through ``num_layers``
    pre-norm self-attention blocks (padding and absent inputs masked out). The [CLS] token is always
    present, so a row with every input absent still attends to something. Single-stream fusion as in
    VisualBERT / UNITER (e.g. Chen et al. 2020, https://arxiv.org/abs/1909.11740).

    Shapes: embeddings ``{m: (B, T_m, D_m)}``, masks ``{m: (B, T_m)}`` -> ``(B, hidden_dim)``.
    Legend: B batch, T tokens, D width, M modalities.
    """

    input_kind = "tokens"

    def __init__(self, modality_dims: dict[str, int], config: EarlyFusionConfig) -> None:
        super().__init__(modality_dims, config)
        dim = config.hidden_dim
        self.tokens = TokenProjection(self.modality_dims, dim)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.blocks = AttentionStack(dim, config.num_heads, config.dropout, config.num_layers)
        self.norm = nn.LayerNorm(dim)
        self.output_dim = dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        tokens, mask = self.tokens(embeddings, present)  # (B, T, D), (B, T)
        batch = tokens.shape[0]
        x = torch.cat([self.cls.expand(batch, -1, -1), tokens], dim=1)  # (B, 1 + T, D)
        mask = torch.cat([mask.new_ones(batch, 1), mask], dim=1)  # (B, 1 + T)
        x = self.blocks(x, x, mask, self_attention=True)  # (B, 1 + T, D)
        return self.norm(x[:, 0])  # (B, D)
