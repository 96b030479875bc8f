"""Masked tensor operations and small blocks shared by encoders, fusions and task heads.

Every helper treats an absent row (or a padding token) as arbitrary, possibly non-finite, data:
it is replaced with ``torch.where`` before any arithmetic, so it can never leak a NaN.

Legend: B batch, T tokens, D width, M modalities (inputs).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def zero_absent(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` with the rows (or tokens) where ``mask`` is False set to zero.

    Args:
        x: (B, D) or (B, T, D).
        mask: (B,) or (B, T) bool, True where ``x`` is real.

    Returns:
        Same shape as ``x``.
    """
    return torch.where(mask.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))


def stack_present(present: dict[str, Tensor], names: list[str]) -> Tensor:
    """The present masks of ``names`` side by side: (B, M) bool."""
    return torch.stack([present[name] for name in names], dim=1)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over axis 1 of the entries where ``mask`` is True; zeros where none is.

    Args:
        x: (B, N, D).
        mask: (B, N) bool.

    Returns:
        (B, D).
    """
    count = mask.sum(dim=1, keepdim=True).clamp(min=1).to(x.dtype)  # (B, 1)
    return zero_absent(x, mask).sum(dim=1) / count


def masked_softmax(scores: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Softmax over the entries where ``mask`` is True; all-zero weights where none is (never NaN).

    Args:
        scores: any shape.
        mask: bool, broadcastable to ``scores``.
        dim: the axis normalised over.

    Returns:
        Weights shaped like ``scores``.
    """
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=dim) * mask.to(scores.dtype)


def mlp(in_dim: int, hidden_dim: int, out_dim: int, dropout: float) -> nn.Module:
    """``(B, in_dim) -> (B, out_dim)``: Linear, GELU, dropout, Linear; one Linear when ``hidden_dim`` is 0."""
    if hidden_dim == 0:
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim)
    )


def masked_max(x: Tensor, mask: Tensor) -> Tensor:
    """Max over the real steps of a sequence; rows with no real step give zeros (never -inf).

    Args:
        x: (B, T, D) features.
        mask: (B, T) bool, True for real steps.

    Returns:
        (B, D) pooled features.
    """
    filled = x.masked_fill(~mask.unsqueeze(-1), torch.finfo(x.dtype).min)  # (B, T, D)
    pooled = filled.max(dim=1).values  # (B, D)
    return pooled * mask.any(dim=1, keepdim=True).to(x.dtype)
