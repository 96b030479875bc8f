"""``image/resnet``: a small ResNet of basic blocks, sized for 28-128 px inputs.

After He et al. (2016), "Deep Residual Learning for Image Recognition",
https://arxiv.org/abs/1512.03385.

Legend: B batch, C channels, H/W height/width, T = H'*W' spatial tokens, D width.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from polyfuse.encoders._layers import Norm, PositiveInts, conv_norm_relu, norm_2d, spatial_tokens
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput


class ResNetImageConfig(EncoderConfig):
    """Options of :class:`ResNetImageEncoder`."""

    widths: PositiveInts = Field(
        [32, 64, 128],
        min_length=1,
        max_length=8,
        description="channels of each stage; stages after the first halve H, W",
    )
    num_blocks: PositiveInts = Field(
        [1, 1, 1], min_length=1, max_length=8, description="basic blocks per stage (same length as widths)"
    )
    stem_stride: int | None = Field(
        None,
        ge=1,
        le=4,
        description="stride of the stem conv; none picks 1 below 64 px, 2 from 64 px, +maxpool from 128",
    )
    norm: Norm = Field("batch", description="normalisation in every block: batch or group (for tiny batches)")

    @model_validator(mode="after")
    def _one_depth_per_stage(self) -> ResNetImageConfig:
        if len(self.widths) != len(self.num_blocks):
            raise ValueError(
                f"widths ({len(self.widths)}) and num_blocks ({len(self.num_blocks)}) differ in length"
            )
        return self


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection: (B, C_in, H, W) -> (B, C_out, H/s, W/s)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm: Norm) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_norm_relu(in_channels, out_channels, norm, stride),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            norm_2d(norm, out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                norm_2d(norm, out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def _stem(in_channels: int, width: int, config: ResNetImageConfig, min_side: int) -> nn.Sequential:
    """Stem conv, strided (and max-pooled) for larger images so stage 1 runs at <= ~64 px."""
    stride = config.stem_stride or (2 if min_side >= 64 else 1)
    layers: list[nn.Module] = [conv_norm_relu(in_channels, width, config.norm, stride)]
    if config.stem_stride is None and min_side >= 128:
        layers.append(nn.MaxPool2d(3, stride=2, padding=1))
    return nn.Sequential(*layers)


@register_encoder("image", "resnet", ResNetImageConfig)
class ResNetImageEncoder(Encoder):
    """Stem conv, then stages of basic blocks; pooled = global average of the last map.

    Input ``{"pixels": (B, C, H, W)}``; output pooled ``(B, D)``, tokens ``(B, H'*W', D)`` (the
    last feature map's positions, row-major) and an all-True mask, with ``D = widths[-1]``.
    """

    def __init__(self, config: ResNetImageConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        min_side = min(int(spec["height"]), int(spec["width"]))
        self.stem = _stem(int(spec["channels"]), config.widths[0], config, min_side)
        blocks: list[nn.Module] = []
        in_channels = config.widths[0]
        for stage, (width, depth) in enumerate(zip(config.widths, config.num_blocks, strict=True)):
            for index in range(depth):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(BasicBlock(in_channels, width, stride, config.norm))
                in_channels = width
        self.blocks = nn.Sequential(*blocks)
        self.output_dim = config.widths[-1]

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        tokens, mask = spatial_tokens(self.blocks(self.stem(x["pixels"])))  # (B, T, D), (B, T)
        return EncoderOutput(tokens.mean(dim=1), tokens, mask)
