"""``tabular/mlp``: categorical embeddings concatenated with the numerics, then an MLP.

Legend: B batch, N numeric columns, K categorical columns, T = N + K column tokens, D width.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.encoders._layers import PositiveInts
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput


class MLPTabularConfig(EncoderConfig):
    """Options of :class:`MLPTabularEncoder`."""

    hidden_dims: PositiveInts = Field(
        [128, 128],
        min_length=1,
        max_length=8,
        description="widths of the MLP layers; the last is the output width",
    )
    embed_dim: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="width of each categorical embedding; none uses min(16, (cardinality+1)//2)",
    )
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout after each MLP layer")
    column_tokens: bool = Field(
        False, description="also return one token per column (adds projections that only token fusions use)"
    )


def embedding_dim(cardinality: int, config: MLPTabularConfig) -> int:
    """Width of one categorical column's embedding."""
    return config.embed_dim or max(1, min(16, (cardinality + 1) // 2))


def _mlp(in_dim: int, hidden_dims: list[int], dropout: float) -> nn.Sequential:
    """Linear, LayerNorm, GELU, dropout per hidden width: (B, in_dim) -> (B, hidden_dims[-1])."""
    layers: list[nn.Module] = []
    for width in hidden_dims:
        layers += [nn.Linear(in_dim, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout)]
        in_dim = width
    return nn.Sequential(*layers)


@register_encoder("tabular", "mlp", MLPTabularConfig)
class MLPTabularEncoder(Encoder):
    """One embedding per categorical column (id 0 = unknown), concatenated with the numerics, MLP.

    Input ``{"numeric": (B, N) float, "categorical": (B, K) long}`` with ids in
    ``[0, cardinality)``, the cardinality counting the unknown bucket 0 (either part may have zero
    columns); output pooled ``(B, D)`` with
    ``D = hidden_dims[-1]``. LayerNorm keeps it usable with batch size 1. With ``column_tokens``
    it also returns tokens ``(B, N + K, D)`` (numerics first; a numeric token is
    ``value * w_j + b_j``, a categorical one a projection of its embedding) and an all-True mask.
    """

    def __init__(self, config: MLPTabularConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        self.num_numeric = int(spec.get("num_numeric", 0))
        cardinalities = [max(1, int(c)) for c in spec.get("cardinalities", [])]
        widths = [embedding_dim(c, config) for c in cardinalities]
        if self.num_numeric + len(cardinalities) == 0:
            raise ValueError("tabular/mlp needs at least one numeric or categorical column")
        self.embeddings = nn.ModuleList(
            nn.Embedding(c, w) for c, w in zip(cardinalities, widths, strict=True)
        )
        self.mlp = _mlp(self.num_numeric + sum(widths), config.hidden_dims, config.dropout)
        self.output_dim = config.hidden_dims[-1]
        self.column_tokens = config.column_tokens
        if config.column_tokens:
            self.numeric_weight = nn.Parameter(torch.randn(self.num_numeric, self.output_dim) * 0.1)
            self.numeric_bias = nn.Parameter(torch.zeros(self.num_numeric, self.output_dim))
            self.projections = nn.ModuleList(nn.Linear(w, self.output_dim) for w in widths)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        embedded = [embed(x["categorical"][:, k]) for k, embed in enumerate(self.embeddings)]  # K x (B, E_k)
        parts = ([x["numeric"].float()] if self.num_numeric else []) + embedded
        pooled = self.mlp(torch.cat(parts, dim=-1))  # (B, D)
        if not self.column_tokens:
            return EncoderOutput(pooled)
        tokens = self._tokens(x, embedded)  # (B, N + K, D)
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)  # (B, N + K)
        return EncoderOutput(pooled, tokens, mask)

    def _tokens(self, x: dict[str, Tensor], embedded: list[Tensor]) -> Tensor:
        """One (B, D) token per column, stacked to (B, N + K, D)."""
        columns: list[Tensor] = []
        if self.num_numeric:
            numeric = x["numeric"].float().unsqueeze(-1)  # (B, N, 1)
            columns.append(numeric * self.numeric_weight + self.numeric_bias)  # (B, N, D)
        if embedded:
            projected = [proj(e) for proj, e in zip(self.projections, embedded, strict=True)]  # K x (B, D)
            columns.append(torch.stack(projected, dim=1))  # (B, K, D)
        return torch.cat(columns, dim=1)
