"""``image/cnn``: a small stack of conv-norm-ReLU-maxpool stages, pooled over a coarse grid.

Legend: B batch, C channels, H/W height/width, T = H'*W' spatial tokens, D width.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from torch import Tensor, nn

from polyfuse.encoders._layers import Norm, PositiveInts, conv_norm_relu, spatial_tokens
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


@register_encoder("image", "cnn", CNNImageConfig)
class CNNImageEncoder(Encoder):
    """Stages of 3x3 conv, norm, ReLU and 2x2 max-pool; pooled = a g x g grid of the last map, projected.

    Input ``{"pixels": (B, C, H, W)}``; output pooled ``(B, D)``, tokens ``(B, H'*W', D)`` (the
    last feature map's positions, row-major) and an all-True mask, with ``D = widths[-1]`` and
    ``H' = ceil(H / 2**len(widths))``.
    """

    def __init__(self, config: CNNImageConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        stages: list[nn.Module] = []
        in_channels = int(spec["channels"])
        for width in config.widths:
            stages += [conv_norm_relu(in_channels, width, config.norm), nn.MaxPool2d(2, ceil_mode=True)]
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
        self.output_dim = width

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        features = self.stages(x["pixels"])  # (B, D, H', W')
        tokens, mask = spatial_tokens(features)  # (B, T, D), (B, T)
        return EncoderOutput(self.pool(features), tokens, mask)
