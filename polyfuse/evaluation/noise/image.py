"""Image injectors: Gaussian noise, blur, occlusion, contrast loss.

They act on ``{"pixels": (B, C, H, W)}`` normalised by the :class:`ImageProcessor`: noise, blur
and contrast take pixels back to the 0-1 scale with the processor's ``mean_`` / ``std_``, corrupt
them, clip to [0, 1] and normalise again. Level ``l`` means:

- ``gaussian_noise``: additive noise of standard deviation ``l`` (0-1 pixel scale);
- ``blur``: Gaussian blur of standard deviation ``l * min(H, W) / 8`` pixels;
- ``occlusion``: one square-ish patch covering a share ``l`` of the image, at a random place,
  filled with the training mean colour;
- ``contrast``: contrast scaled by ``1 - l`` around each image's mean.

Legend: B batch, C channels, H/W height/width.
"""

from __future__ import annotations

import math
from abc import abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor

from polyfuse.data.processors.base import Features
from polyfuse.evaluation.noise._registry import Injector, normal, register_injector


class ImageInjector(Injector):
    """Shared part of the image injectors."""

    modality = "image"
    processors = ("image", "pretrained/image")  # both give normalised pixels with mean_ / std_


class PixelScaleInjector(ImageInjector):
    """Undoes the normalisation, corrupts on the 0-1 scale, clips to [0, 1], normalises again."""

    def _stats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        mean = torch.tensor(self.processor.mean_, dtype=like.dtype, device=like.device)  # type: ignore[attr-defined]
        std = torch.tensor(self.processor.std_, dtype=like.dtype, device=like.device)  # type: ignore[attr-defined]
        return mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)  # (1, C, 1, 1)

    def apply(self, features: Features, level: float, generator: torch.Generator) -> Features:
        pixels = features["pixels"]
        mean, std = self._stats(pixels)
        image = pixels * std + mean  # (B, C, H, W) on the 0-1 scale
        image = self.corrupt(image, level, generator).clamp(0.0, 1.0)
        return {**features, "pixels": (image - mean) / std}

    @abstractmethod
    def corrupt(self, image: Tensor, level: float, generator: torch.Generator) -> Tensor:
        """Corrupt ``image (B, C, H, W)`` on the 0-1 scale."""


@register_injector("image", "gaussian_noise", "additive Gaussian noise, std = level (0-1 pixel scale)")
class GaussianNoiseInjector(PixelScaleInjector):
    """Additive Gaussian pixel noise with standard deviation ``level``."""

    def corrupt(self, image: Tensor, level: float, generator: torch.Generator) -> Tensor:
        return image + level * normal(image.shape, generator, image)


@register_injector("image", "blur", "Gaussian blur, sigma = level * min(H, W) / 8 pixels")
class BlurInjector(PixelScaleInjector):
    """Separable Gaussian blur with ``sigma = level * min(H, W) / 8`` pixels (edges replicated)."""

    def corrupt(self, image: Tensor, level: float, generator: torch.Generator) -> Tensor:
        _, channels, height, width = image.shape
        sigma = level * min(height, width) / 8.0
        radius = max(1, math.ceil(3.0 * sigma))
        offsets = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
        kernel = torch.exp(-0.5 * (offsets / max(sigma, 1e-6)) ** 2)
        kernel = kernel / kernel.sum()  # (2r + 1,)
        out = F.pad(image, (radius, radius, 0, 0), mode="replicate")
        out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
        out = F.pad(out, (0, 0, radius, radius), mode="replicate")
        return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


@register_injector("image", "occlusion", "a patch covering a share `level` of the image, mean colour")
class OcclusionInjector(ImageInjector):
    """One patch of ``round(sqrt(l) * H) x round(sqrt(l) * W)`` pixels per image, at a random place.

    The patch gets the training mean colour, which is 0 after normalisation; the rest of the image
    is left bit-for-bit unchanged.
    """

    def apply(self, features: Features, level: float, generator: torch.Generator) -> Features:
        pixels = features["pixels"]  # (B, C, H, W)
        batch, _, height, width = pixels.shape
        patch_h = min(height, max(1, round(math.sqrt(level) * height)))
        patch_w = min(width, max(1, round(math.sqrt(level) * width)))
        corners = torch.rand(batch, 2, generator=generator)  # (B, 2)
        out = pixels.clone()
        for row in range(batch):
            top = int(corners[row, 0] * (height - patch_h + 1))
            left = int(corners[row, 1] * (width - patch_w + 1))
            out[row, :, top : top + patch_h, left : left + patch_w] = 0.0
        return {**features, "pixels": out}


@register_injector("image", "contrast", "contrast scaled by 1 - level around each image's mean")
class ContrastInjector(PixelScaleInjector):
    """Contrast reduced to ``1 - level`` of the original around each image's mean brightness."""

    def corrupt(self, image: Tensor, level: float, generator: torch.Generator) -> Tensor:
        centre = image.mean(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        return (image - centre) * (1.0 - level) + centre
