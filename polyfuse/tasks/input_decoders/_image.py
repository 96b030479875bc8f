"""Shared part of the image decoders: pixels on the 0-1 scale, per-row MSE, PNG-ready values.

The image processor normalises pixels with a per-channel mean/std; image decoders predict the
0-1 pixel values (a sigmoid output) and compare them with the batch's pixels mapped back to 0-1,
so losses and metrics (MSE, PSNR, SSIM) read on the scale the images were stored in.

Legend: B batch, C channels, H/W height/width.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from polyfuse.data.processors.base import Features
from polyfuse.tasks.input_decoders.base import InputDecoder, InputDecoderConfig


class ImageDecoder(InputDecoder):
    """Base of image decoders: ``forward`` gives ``(B, C, H, W)`` in [0, 1]."""

    mean: Tensor
    std: Tensor

    def __init__(self, config: InputDecoderConfig, spec: dict[str, Any], latent_dim: int) -> None:
        super().__init__(config, spec, latent_dim)
        self.channels, self.height, self.width = (
            int(spec["channels"]),
            int(spec["height"]),
            int(spec["width"]),
        )
        mean = torch.tensor(spec.get("mean", [0.0] * self.channels), dtype=torch.float32)
        std = torch.tensor(spec.get("std", [1.0] * self.channels), dtype=torch.float32)
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)

    def truth(self, features: Features) -> Tensor:
        """The batch's pixels ``(B, C, H, W)`` back on the 0-1 scale."""
        return (features["pixels"].float() * self.std + self.mean).clamp(0.0, 1.0)

    def row_loss(self, reconstruction: Tensor, features: Features) -> Tensor:
        error = (reconstruction.float() - self.truth(features)).square()
        return error.flatten(1).mean(1)  # (B,)

    def to_values(self, reconstruction: Tensor) -> list[Any]:
        """PNG bytes per row (see :func:`polyfuse.tasks._images.png_bytes`)."""
        from polyfuse.tasks._images import png_bytes

        return [png_bytes(image) for image in reconstruction.float().cpu()]
