"""The image target: an image column read by the image processor, scaled to [-1, 1].

Wraps :class:`~polyfuse.data.processors.image.ImageProcessor` (decoding, orientation, resizing,
grey or RGB) and undoes its mean/std normalisation, so targets are ``2 * pixel - 1`` whatever the
training images' statistics: what a diffusion model denoises.

Legend: B batch, C channels, H/W height/width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from polyfuse.data.processors.base import BadValueError, is_missing
from polyfuse.data.processors.image import ImageProcessor
from polyfuse.data.tables import resolve_media
from polyfuse.data.targets import TargetProcessor


class ImageTarget(TargetProcessor):
    """Image path or bytes -> ``(C, H, W)`` in [-1, 1]; collates to ``(B, C, H, W)``.

    Args:
        size: side of the square images (or ``[height, width]``).
        mode: ``"L"`` (grey), ``"RGB"`` or ``"auto"`` (grey when every image :meth:`fit` inspects is).
    """

    def __init__(self, size: int | Sequence[int] = 32, mode: str = "auto") -> None:
        self.processor = ImageProcessor(size=size, mode=mode, resize="squash")

    def fit(self, values: Sequence[Any]) -> ImageTarget:
        self.processor.fit(values)
        return self

    def resolve(self, value: Any, base_dir: Any) -> Any:
        return resolve_media(value, base_dir)

    def encode(self, value: Any) -> Tensor:
        if is_missing(value):
            raise BadValueError("the image to generate is empty")
        features = self.processor.transform(value)
        assert features is not None
        _, mean, std = self.processor._fitted()
        return ((features["pixels"] * std + mean) * 2.0 - 1.0).clamp(-1.0, 1.0)  # (C, H, W)

    def output_spec(self) -> dict[str, Any]:
        """``{"channels": C, "height": H, "width": W}``."""
        return self.processor.output_spec()

    def get_state(self) -> dict[str, Any]:
        state, _ = self.processor.get_state()
        return {"params": self.processor.get_params(), "state": state}

    def set_state(self, state: dict[str, Any]) -> None:
        params = state["params"]
        self.processor = ImageProcessor(size=params["size"], mode=params["mode"], resize=params["resize"])
        self.processor.set_state(state["state"], {})
