"""``image/mlp``: latent -> MLP -> C*H*W pixels through a sigmoid (seed 004's mirrored decoder).

Legend: B batch, L latent width, C channels, H/W height/width.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from polyfuse.tasks.input_decoders._image import ImageDecoder
from polyfuse.tasks.input_decoders.base import InputDecoderConfig, mlp, register_input_decoder


@register_input_decoder("image", "mlp", InputDecoderConfig, "MLP to every pixel, sigmoid output")
class MlpImageDecoder(ImageDecoder):
    """``(B, L)`` -> hidden_dims -> ``(B, C, H, W)`` in [0, 1]."""

    def __init__(self, config: InputDecoderConfig, spec: dict[str, Any], latent_dim: int) -> None:
        super().__init__(config, spec, latent_dim)
        size = self.channels * self.height * self.width
        self.net = mlp([latent_dim, *config.hidden_dims, size])

    def forward(self, latent: Tensor) -> Tensor:
        pixels = torch.sigmoid(self.net(latent))  # (B, C*H*W)
        return pixels.view(-1, self.channels, self.height, self.width)
