"""Image processor whose size and normalisation are the pretrained weights', not the data's.

:class:`PretrainedImageProcessor` decodes and resizes exactly like
:class:`~polyfuse.data.processors.image.ImageProcessor` (any Pillow mode, EXIF orientation,
``squash`` or ``crop`` resizing, the same augmentations) but always outputs RGB and normalises with
the mean/std the weights were trained with. Those numbers are derived from the checkpoint by the
pretrained encoder's ``preprocessing`` (a Hugging Face image processor config, or the constants a
packaged model documents), so they are never configured twice; ``fit`` learns nothing.

Shapes: ``transform`` -> ``{"pixels": (3, H, W) float}``; ``collate`` -> ``{"pixels": (B, 3, H, W)}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polyfuse.data.processors._registry import register_processor
from polyfuse.data.processors.image import DEFAULT_MAX_PIXELS, ImageProcessor


@register_processor("pretrained/image", "images resized and normalised as a pretrained model expects")
class PretrainedImageProcessor(ImageProcessor):
    """Image file or bytes -> ``(3, H, W)`` pixels normalised with the weights' mean and std.

    Args:
        size: Input size the weights expect: an int or ``[height, width]``.
        mean: Per-channel mean (RGB, on a 0-1 scale) the weights were trained with.
        std: Per-channel standard deviation (RGB, 0-1 scale).
        resize: ``"squash"`` or ``"crop"`` (shorter side to size, then centre crop).
        augment, hflip, max_shift, brightness, contrast: training augmentation, and max_pixels the
            decoding bound, as in :class:`~polyfuse.data.processors.image.ImageProcessor`.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        resize: str = "crop",
        augment: bool = False,
        hflip: bool = False,
        max_shift: float = 0.1,
        brightness: float = 0.2,
        contrast: float = 0.2,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        super().__init__(size, "RGB", resize, augment, hflip, max_shift, brightness, contrast, max_pixels)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values each (std > 0), got {mean!r}, {std!r}")
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]

    def fit(self, values: Sequence[Any]) -> PretrainedImageProcessor:
        """Nothing is learned from the data: mode RGB, the weights' mean and std."""
        self.mode_, self.mean_, self.std_ = "RGB", list(self.mean), list(self.std)
        return self

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (size, mean, std, resize and the augmentation options)."""
        params = super().get_params()
        params.pop("mode")
        return {**params, "mean": self.mean, "std": self.std}
