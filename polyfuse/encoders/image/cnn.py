"""``image/cnn``: an optional patchify stem, then conv-norm-ReLU-maxpool stages, pooled over a coarse grid.

Legend: B batch, C channels, H/W height/width, T = H'*W' spatial tokens, D width.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.encoders._layers import (
    MaxPool2x2,
    Norm,
    PositiveInts,
    conv_norm_relu,
    coordinate_map,
    norm_2d,
    run_stages,
    spatial_tokens,
)
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput


class CNNImageConfig(EncoderConfig):
    """Options of :class:`CNNImageEncoder`."""

    widths: PositiveInts = Field(
        [32, 64, 128],
        min_length=1,
        max_length=8,
        description="channels of each stage; each stage halves H and W",
    )
    norm: Norm = Field(
        "batch", description="normalisation after each conv: batch or group (for tiny batches)"
    )
    pool_grid: int = Field(
        2,
        ge=1,
        le=8,
        description="pool the last map to a g x g grid, flatten and project (keeps layout);"
        " 1 = global average",
    )
    stem: int = Field(
        1,
        ge=1,
        le=16,
        description="patchify stem: an s x s conv with stride s (ConvNeXt's) before the stages, cutting"
        " H and W by s at a fraction of a stage's cost; 1 = none",
    )
    coords: bool = Field(
        False,
        description="CoordConv: append x, y coordinate channels (-1 to 1) to the pixels, and add each"
        " token's projected (x, y) to it, so tokens know where they are (relations, positions)",
    )


@register_encoder("image", "cnn", CNNImageConfig)
class CNNImageEncoder(Encoder):
    """Stages of 3x3 conv, norm, ReLU and 2x2 max-pool; pooled = a g x g grid of the last map, projected.

    Input ``{"pixels": (B, C, H, W)}``; output pooled ``(B, D)``, tokens ``(B, H'*W', D)`` (the
    last feature map's positions, row-major) and an all-True mask, with ``D = widths[-1]`` and
    ``H' = ceil(ceil(H / s) / 2**len(widths))`` for a stem of side ``s``. With ``stem`` > 1 a
    conv of kernel and stride ``s`` (non-overlapping patches, as ConvNeXt's stem,
    https://arxiv.org/abs/2201.03545), norm and ReLU come first, with ``widths[0]`` channels. Stem
    patches and max-pools never straddle: token ``(i, j)`` sees the block of pixels it covers and
    its neighbours, so when an image is a grid of ``H' x W'`` cells, token and cell coincide.

    With ``coords`` (CoordConv, Liu et al. 2018, https://arxiv.org/abs/1807.03247) the first conv
    also sees two coordinate channels, so features can encode exact positions despite the convs'
    translation equivariance, and token ``t`` becomes ``features_t + W (x_t, y_t) + b`` with
    ``(x_t, y_t)`` the centre of the region it covers: the same as appending the coordinates to
    every object before a linear layer, as the relation network of Santoro et al. 2017 does
    (https://arxiv.org/abs/1706.01427), while the token width stays D. The pooled vector comes from
    the feature map alone.
    """

    def __init__(self, config: CNNImageConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        stages: list[nn.Module] = []
        in_channels = int(spec["channels"]) + (2 if config.coords else 0)
        if config.stem > 1:
            stem = nn.Conv2d(in_channels, config.widths[0], config.stem, stride=config.stem, bias=False)
            # ceil: a partial patch at the border is zero-padded, as the max-pools' ceil_mode does
            stages += [
                _CeilPad(config.stem),
                stem,
                norm_2d(config.norm, config.widths[0]),
                nn.ReLU(inplace=True),
            ]
            in_channels = config.widths[0]
        for width in config.widths:
            stages += [conv_norm_relu(in_channels, width, config.norm), MaxPool2x2()]
            in_channels = width
        self.stages = nn.Sequential(*stages)
        width, grid = config.widths[-1], config.pool_grid
        self.pool: nn.Module = (
            nn.Sequential(
                nn.AdaptiveAvgPool2d(grid), nn.Flatten(), nn.Linear(width * grid * grid, width), nn.ReLU()
            )
            if grid > 1
            else nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        )
        self.position = nn.Linear(2, width) if config.coords else None
        self.output_dim = width

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        pixels = x["pixels"]  # (B, C, H, W)
        if self.position is not None:
            grid = coordinate_map(pixels.shape[2], pixels.shape[3], pixels)  # (2, H, W)
            pixels = torch.cat([pixels, grid.expand(pixels.shape[0], -1, -1, -1)], dim=1)  # (B, C + 2, H, W)
        if pixels.device.type == "cpu":  # oneDNN's channels-last kernels: 2-3x faster conv + max-pool
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        features = run_stages(self.stages, pixels)  # (B, D, H', W')
        tokens, mask = spatial_tokens(features)  # (B, T, D), (B, T)
        if self.position is not None:
            centres = coordinate_map(features.shape[2], features.shape[3], features).flatten(1).T  # (T, 2)
            tokens = tokens + self.position(centres)  # (B, T, D)
        return EncoderOutput(self.pool(features), tokens, mask)


class _CeilPad(nn.Module):
    """Zero-pad the bottom and right to multiples of ``side``: (B, C, H, W) -> (B, C, H~, W~)."""

    def __init__(self, side: int) -> None:
        super().__init__()
        self.side = side

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        return nn.functional.pad(x, (0, -width % self.side, 0, -height % self.side))
