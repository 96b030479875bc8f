"""Small building blocks shared by the from-scratch encoders: masked pooling, conv stacks.

Legend: B batch, T tokens/steps, D width, C channels, H/W height/width.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.layers import masked_max, masked_mean

__all__ = ["masked_max", "masked_mean"]

PositiveInts = list[Annotated[int, Field(ge=1, le=4096)]]
"""A list of positive ints (layer widths, kernel sizes), bounded per item; lists keep YAML plain."""

Norm = Literal["batch", "group"]
"""Normalisation of conv stacks: ``batch`` (fast, needs batches > 1 when training) or ``group``."""


def ensure_one_real_step(mask: Tensor) -> Tensor:
    """Mark step 0 real in rows with no real step, so attention/packing never sees an empty row.

    Args:
        mask: (B, T) bool.

    Returns:
        (B, T) bool; callers zero those rows' outputs afterwards with the original mask.
    """
    empty = ~mask.any(dim=1)  # (B,)
    fixed = mask.clone()
    fixed[:, 0] |= empty
    return fixed


def norm_2d(kind: Norm, channels: int) -> nn.Module:
    """A 2-D normalisation layer: BatchNorm, or GroupNorm with up to 8 groups."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(math.gcd(8, channels), channels)


def conv_norm_relu(in_channels: int, out_channels: int, norm: Norm, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (no bias), normalisation, ReLU: (B, C_in, H, W) -> (B, C_out, H/s, W/s)."""
    return ConvNormReLU(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        norm_2d(norm, out_channels),
        nn.ReLU(inplace=True),
    )


class ConvNormReLU(nn.Sequential):
    """Conv2d, norm, ReLU; in eval mode a BatchNorm is folded into the convolution's weights.

    Folding (``w' = w * g / sqrt(v + eps)``, ``b' = b_n - m * g / sqrt(v + eps)``, computed per call
    from the current parameters, so nothing goes stale) saves the norm's pass over the feature map:
    about 40 % of a small CNN's inference time on CPU. The same function up to float rounding;
    training (batch statistics) and GroupNorm run the layers as they are. The children keep
    ``nn.Sequential``'s names (``0``, ``1``, ``2``), so saved weights load unchanged.
    (B, C_in, H, W) -> (B, C_out, H/s, W/s).
    """

    def forward(self, x: Tensor) -> Tensor:
        folded = self.folded(x)
        return super().forward(x) if folded is None else nn.functional.relu(folded, inplace=True)

    def folded(self, x: Tensor) -> Tensor | None:
        """The convolution with the BatchNorm folded in, before the ReLU; ``None`` when the layers
        must run as they are (training, GroupNorm, no running statistics).
        (B, C_in, H, W) -> (B, C_out, H/s, W/s)."""
        conv, norm = self[0], self[1]
        conv_ok = isinstance(conv, nn.Conv2d) and conv.padding_mode == "zeros"
        if self.training or not conv_ok or not isinstance(norm, nn.BatchNorm2d) or norm.running_var is None:
            return None
        assert isinstance(conv, nn.Conv2d) and norm.running_mean is not None
        scale = torch.rsqrt(norm.running_var + norm.eps)  # (C_out,)
        if norm.weight is not None:
            scale = scale * norm.weight
        shift = -norm.running_mean * scale  # (C_out,)
        if norm.bias is not None:
            shift = shift + norm.bias
        if conv.bias is not None:
            shift = shift + conv.bias * scale
        weight = conv.weight * scale.view(-1, 1, 1, 1)  # (C_out, C_in, k, k)
        return nn.functional.conv2d(x, weight, shift, conv.stride, conv.padding, conv.dilation, conv.groups)


def run_stages(stages: Iterable[nn.Module], x: Tensor) -> Tensor:
    """``stages`` applied in order; in inference, a :class:`ConvNormReLU` followed by a max-pool
    takes its ReLU after the pool: ReLU and max commute (the same values), and the ReLU then passes
    over a quarter of the map (about 5 % of a small CNN's inference time on CPU).
    (B, C, H, W) -> what the stages make of it."""
    modules = list(stages)
    i = 0
    while i < len(modules):
        block, pool = modules[i], modules[i + 1] if i + 1 < len(modules) else None
        if isinstance(block, ConvNormReLU) and isinstance(pool, nn.MaxPool2d):
            folded = block.folded(x)
            if folded is not None:
                x = nn.functional.relu(pool(folded), inplace=True)
                i += 2
                continue
        x = block(x)
        i += 1
    return x


class MaxPool2x2(nn.MaxPool2d):
    """``nn.MaxPool2d(2, ceil_mode=True)``; without autograd, on even sides, as maxima of strided
    views (row pairs, then column pairs): the same values (NaN included), 2-3x faster on CPU than
    the kernel, which also computes the indices backward would need. Odd sides (ceil mode's
    partial windows), training and tracing (ONNX export, ``torch.compile``: the graph must not
    keep one input's branch) use the kernel.
    (B, C, H, W) -> (B, C, ceil(H / 2), ceil(W / 2)).
    """

    def __init__(self) -> None:
        super().__init__(2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        grad = torch.is_grad_enabled() and x.requires_grad
        if grad or height % 2 or width % 2 or torch.jit.is_tracing() or torch.compiler.is_compiling():
            return super().forward(x)
        rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])  # (B, C, H/2, W)
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])  # (B, C, H/2, W/2)


def spatial_tokens(features: Tensor) -> tuple[Tensor, Tensor]:
    """Flatten a feature map into row-major tokens with an all-True mask.

    Args:
        features: (B, D, H, W) feature map.

    Returns:
        Tokens (B, H*W, D) and mask (B, H*W) bool.
    """
    tokens = features.flatten(2).transpose(1, 2)  # (B, H*W, D)
    mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)  # (B, H*W)
    return tokens, mask


def coordinate_map(height: int, width: int, like: Tensor) -> Tensor:
    """Normalised pixel-centre coordinates, as in CoordConv (https://arxiv.org/abs/1807.03247).

    Args:
        height: H.
        width: W.
        like: any tensor; the map gets its device and dtype.

    Returns:
        (2, H, W): channel 0 is x (column), channel 1 is y (row), each from -1 (left / top) to 1
        (right / bottom), measured at the centre of each position, so a coarse map's values are the
        centres of the regions its positions cover.
    """
    xs = (torch.arange(width, device=like.device, dtype=like.dtype) + 0.5) / width * 2 - 1  # (W,)
    ys = (torch.arange(height, device=like.device, dtype=like.dtype) + 0.5) / height * 2 - 1  # (H,)
    return torch.stack([xs.expand(height, width), ys.unsqueeze(1).expand(height, width)])  # (2, H, W)
