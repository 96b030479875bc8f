"""Building blocks shared by the fusions: masking helpers, per-input projections, an attention block.

Every helper treats an absent row (or a padding token) as arbitrary, possibly non-finite, data:
it is replaced with ``torch.where`` before any arithmetic, so it can never leak a NaN.

Legend: B batch, T tokens, D width, M modalities (inputs), S sources.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polyfuse.layers import masked_mean, masked_softmax, mlp, stack_present, zero_absent

__all__ = ["masked_mean", "masked_softmax", "mlp", "stack_present", "zero_absent"]


class ModalityProjection(nn.Module):
    """Project every input to one width; absent rows become a learned "missing" vector per input.

    Args:
        modality_dims: input name -> width D_m, in sorted order.
        dim: the common width D.
        missing_init: initial value of the missing vectors (0 for sums, 1 for products).
        activation: applied after each projection (identity by default).
    """

    def __init__(
        self,
        modality_dims: dict[str, int],
        dim: int,
        missing_init: float = 0.0,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.names = list(modality_dims)
        self.project = nn.ModuleDict({n: nn.Linear(d, dim) for n, d in modality_dims.items()})
        self.missing = nn.Parameter(torch.full((len(self.names), dim), missing_init))
        self.activation = activation or nn.Identity()

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        """``{m: (B, D_m)}`` + ``{m: (B,)}`` -> (B, M, D)."""
        parts = [self.activation(self.project[n](zero_absent(embeddings[n], present[n]))) for n in self.names]
        stacked = torch.stack(parts, dim=1)  # (B, M, D)
        mask = stack_present(present, self.names).unsqueeze(-1)  # (B, M, 1)
        return torch.where(mask, stacked, self.missing)


class TokenProjection(nn.Module):
    """Project every input's tokens to one width, tag them with a learned modality embedding, join them.

    Args:
        modality_dims: input name -> width D_m, in sorted order.
        dim: the common width D.
    """

    def __init__(self, modality_dims: dict[str, int], dim: int) -> None:
        super().__init__()
        self.names = list(modality_dims)
        self.project = nn.ModuleDict({n: nn.Linear(d, dim) for n, d in modality_dims.items()})
        self.modality = nn.Parameter(torch.randn(len(self.names), dim) * 0.02)

    def project_one(self, name: str, tokens: Tensor, mask: Tensor) -> Tensor:
        """One input: (B, T_m, D_m) + (B, T_m) -> (B, T_m, D), padding zeroed before projecting."""
        index = self.names.index(name)
        return self.project[name](zero_absent(tokens, mask)) + self.modality[index]

    def forward(self, embeddings: dict[str, Tensor], masks: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``{m: (B, T_m, D_m)}`` + ``{m: (B, T_m)}`` -> tokens (B, sum T_m, D), mask (B, sum T_m)."""
        tokens = [self.project_one(n, embeddings[n], masks[n]) for n in self.names]
        return torch.cat(tokens, dim=1), torch.cat([masks[n] for n in self.names], dim=1)


class AttentionBlock(nn.Module):
    """Pre-norm transformer block: queries attend to a context, then a feed-forward layer.

    A learned "null" key/value is always attended to, so a query whose context is entirely masked
    (an absent modality) gets a finite output instead of a softmax over nothing. Self-attention is
    ``block(x, x, mask)``.

    Args:
        dim: width D.
        num_heads: attention heads (divide ``dim``).
        dropout: dropout on attention weights and the feed-forward output.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(dim)
        self.norm_ff = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.null = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.feed_forward = nn.Sequential(
            nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim), nn.Dropout(dropout)
        )

    def forward(self, query: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        """Query (B, T_q, D), context (B, T_k, D) with mask (B, T_k) -> (B, T_q, D)."""
        batch = context.shape[0]
        context = torch.cat([self.null.expand(batch, -1, -1), zero_absent(context, context_mask)], dim=1)
        keep = torch.cat([context_mask.new_ones(batch, 1), context_mask], dim=1)  # (B, 1 + T_k)
        context = self.norm_context(context)  # (B, 1 + T_k, D)
        attended, _ = self.attention(
            self.norm_query(query), context, context, key_padding_mask=~keep, need_weights=False
        )
        x = query + attended  # (B, T_q, D)
        return x + self.feed_forward(self.norm_ff(x))


class AttentionStack(nn.Module):
    """``num_layers`` :class:`AttentionBlock` s applied in turn, each attending to the same context.

    Args:
        dim: width D.
        num_heads: attention heads (divide ``dim``).
        dropout: dropout inside each block.
        num_layers: number of blocks.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float, num_layers: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([AttentionBlock(dim, num_heads, dropout) for _ in range(num_layers)])

    def forward(
        self, query: Tensor, context: Tensor, context_mask: Tensor, self_attention: bool = False
    ) -> Tensor:
        """Query (B, T_q, D), context (B, T_k, D) with mask (B, T_k) -> (B, T_q, D).

        With ``self_attention`` every block attends to its own input (``context`` is ignored and
        ``context_mask`` masks the query's tokens).
        """
        for block in self.blocks:
            query = block(query, query if self_attention else context, context_mask)
        return query
