"""``image/deconv``: latent -> a small feature map -> transposed convolutions -> pixels.

Each stage doubles H and W (a 4x4 transposed convolution, stride 2); the last map is resized to
the image size when the size is not the start map times a power of two.

Legend: B batch, L latent width, C channels, H/W height/width.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from polyfuse.tasks.input_decoders._image import ImageDecoder
from polyfuse.tasks.input_decoders.base import InputDecoderConfig, register_input_decoder


class DeconvImageDecoderConfig(InputDecoderConfig):
    """Options of :class:`DeconvImageDecoder`."""

    widths: list[int] = Field(
        default_factory=lambda: [64, 32], min_length=1, description="channels of each upsampling stage"
    )


@register_input_decoder("image", "deconv", DeconvImageDecoderConfig, "transposed convolutions, sigmoid")
class DeconvImageDecoder(ImageDecoder):
    """``(B, L)`` -> ``(B, w0, h0, w0')`` -> stages x2 -> ``(B, C, H, W)`` in [0, 1]."""

    def __init__(self, config: DeconvImageDecoderConfig, spec: dict[str, Any], latent_dim: int) -> None:
        super().__init__(config, spec, latent_dim)
        scale = 2 ** len(config.widths)
        self.start = (max(1, math.ceil(self.height / scale)), max(1, math.ceil(self.width / scale)))
        self.first = first = config.widths[0]
        self.project = nn.Sequential(nn.Linear(latent_dim, first * self.start[0] * self.start[1]), nn.ReLU())
        stages: list[nn.Module] = []
        widths = [*config.widths, config.widths[-1]]
        for a, b in pairwise(widths):
            stages += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU()]
        self.stages = nn.Sequential(*stages)
        self.out = nn.Conv2d(widths[-1], self.channels, 3, padding=1)

    def forward(self, latent: Tensor) -> Tensor:
        x = self.project(latent).view(-1, self.first, *self.start)  # (B, w0, h0, w0')
        x = self.out(self.stages(x))  # (B, C, h0 * 2^k, w0' * 2^k)
        if x.shape[-2:] != (self.height, self.width):
            x = F.interpolate(x, size=(self.height, self.width), mode="bilinear", align_corners=False)
        return torch.sigmoid(x)
