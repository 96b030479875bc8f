"""Image processor: decode with Pillow, resize, normalise with per-channel mean/std.

Values are an image file path (``str`` or ``pathlib.Path``) or the raw encoded ``bytes``. Any
Pillow mode is accepted: EXIF orientation is applied, transparency is composited over white,
16-bit and float greyscale are rescaled to 8 bits, and the result is converted to ``"RGB"``
(C = 3) or ``"L"`` (C = 1). A missing, corrupt or truncated file raises :class:`BadValueError`
naming the file and the reason; ``ImageFile.LOAD_TRUNCATED_IMAGES`` is never switched on here.

Work per image is bounded by what the model needs: a JPEG is decoded at a reduced scale
(``Image.draft``, down to twice the output size), any other large image is reduced by an integer
factor right after decoding, and an image with more than ``max_pixels`` pixels (after draft) is a
row error before it is decoded. Decoding holds at most about 4 bytes x ``max_pixels`` (160 MB at
the default 40 MP) per image; everything after the reduction is a few times the output size.

Shapes: ``transform`` -> ``{"pixels": (C, H, W) float}``; ``collate`` -> ``{"pixels": (B, C, H, W)}``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from polyfuse.data.processors._image_decode import (
    DEFAULT_MAX_PIXELS,
    decode_image,
    decode_pixels,
    reduce_image,
)
from polyfuse.data.processors._registry import register_processor
from polyfuse.data.processors.base import BadValueError, Features, Processor, is_missing

logger = logging.getLogger(__name__)

MAX_FIT_IMAGES = 256
"""How many training images :meth:`ImageProcessor.fit` decodes at most."""

GREY_TOLERANCE = 4.0 / 255.0
"""Largest channel difference (on a 0-1 scale) for which an RGB image still counts as grey."""


AUTO_SIZE_MAX = 64
"""Largest side ``size: auto`` picks: larger images are shrunk to it (a small CNN gains little more)."""

AUTO_SIZE_MIN = 8
"""Smallest side ``size: auto`` picks."""

_MODES = ("auto", "RGB", "L")
_RESIZES = ("squash", "crop")


@register_processor("image", "decode, orient, resize and normalise images")
class ImageProcessor(Processor):
    """Image file or bytes -> normalised pixels ``(C, H, W)``.

    Args:
        size: Output size: an int for a square, ``[height, width]``, or ``"auto"``: a square whose
            side is the median longer side of the images :meth:`fit` inspects, between 8 and 64
            (32 px images stay 32 px; photos become 64 px).
        mode: ``"RGB"`` (C = 3), ``"L"`` (C = 1), or ``"auto"``: greyscale when every image
            inspected by :meth:`fit` is grey, RGB otherwise.
        resize: ``"squash"`` stretches to the size; ``"crop"`` resizes the shorter side and
            centre-crops the longer one.
        augment: Whether :meth:`augment` changes anything (it is the identity otherwise).
        hflip: With ``augment``, flip left-right with probability 0.5.
        max_shift: With ``augment``, largest random translation as a fraction of the size; the
            uncovered border is filled with the training mean (0 after normalisation).
        brightness: With ``augment``, brightness factor drawn from ``[1 - b, 1 + b]``.
        contrast: With ``augment``, contrast factor drawn from ``[1 - c, 1 + c]``.
        max_pixels: Largest image (width x height) decoded; a larger one is a row error. JPEGs
            count at the reduced scale they are decoded at.

    Attributes:
        mode_: Fitted mode, ``"RGB"`` or ``"L"``.
        mean_: Per-channel mean of the training pixels on a 0-1 scale (list of C floats).
        std_: Per-channel standard deviation of the training pixels (list of C floats).
    """

    CACHE_NEUTRAL = frozenset({"max_pixels"})

    modality = "image"

    def __init__(
        self,
        size: int | Sequence[int] | Literal["auto"] = "auto",
        mode: str = "auto",
        resize: str = "squash",
        augment: bool = False,
        hflip: bool = False,
        max_shift: float = 0.1,
        brightness: float = 0.2,
        contrast: float = 0.2,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, got {max_pixels}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {list(_MODES)}, got {mode!r}")
        if resize not in _RESIZES:
            raise ValueError(f"resize must be one of {list(_RESIZES)}, got {resize!r}")
        self.size: int | list[int] | str = size if isinstance(size, int | str) else list(size)
        self.height, self.width = (0, 0) if size == "auto" else _parse_size(size)  # type: ignore[arg-type]
        self.mode = mode
        self.resize = resize
        self.augment_enabled = augment
        self.hflip = hflip
        self.max_shift = max_shift
        self.brightness = brightness
        self.contrast = contrast
        self.max_pixels = max_pixels
        self.mode_: str | None = None
        self.mean_: list[float] | None = None
        self.std_: list[float] | None = None

    def fit(self, values: Sequence[Any]) -> ImageProcessor:
        """Learn ``mode_``, ``mean_`` and ``std_`` from up to 256 present, readable images.

        The images are spread evenly over ``values``; unreadable ones are skipped with a
        warning. A channel with (almost) no variation gets std 1. With no usable image,
        ``"auto"`` falls back to RGB and mean/std to 0.5/0.5.
        """
        present = [value for value in values if not is_missing(value)]
        step = max(1, -(-len(present) // MAX_FIT_IMAGES))  # ceil division
        if self.size == "auto":
            self.height = self.width = auto_side(present[::step])
        images = [image for image in map(self._try_load, present[::step]) if image is not None]
        if self.mode != "auto":
            self.mode_ = self.mode
        else:
            grey = bool(images) and all(_is_grey(image) for image in images)
            self.mode_ = "L" if grey else "RGB"
        arrays = [_to_array(image.convert(self.mode_)) for image in images]
        if not arrays:
            logger.warning("ImageProcessor.fit found no readable image; using mean/std 0.5")
            channels = 1 if self.mode_ == "L" else 3
            self.mean_, self.std_ = [0.5] * channels, [0.5] * channels
            return self
        pixels = np.concatenate([a.reshape(a.shape[0], -1) for a in arrays], axis=1)  # (C, N)
        self.mean_ = [float(m) for m in pixels.mean(axis=1, dtype=np.float64)]
        self.std_ = [float(s) if s > 1e-3 else 1.0 for s in pixels.std(axis=1, dtype=np.float64)]
        return self

    def transform(self, value: Any) -> Features | None:
        """One image -> ``{"pixels": (C, H, W) float32}``; ``None`` when absent.

        Raises:
            BadValueError: The file is missing, unreadable, corrupt or truncated.
        """
        if is_missing(value):
            return None
        mode, mean, std = self._fitted()
        return {"pixels": _normalised(_to_array(self._load_array(value, mode)), mean, std)}  # (C, H, W)

    def transform_many(self, values: Sequence[Any]) -> list[Features | BadValueError | None]:
        """:meth:`transform` of each value, the images scaled and normalised as one array (row
        views of one tensor; the same values as one at a time)."""
        results: list[Features | BadValueError | None] = [None] * len(values)
        mode, mean, std = self._fitted()
        good: list[int] = []
        arrays: list[np.ndarray] = []
        for i, value in enumerate(values):
            if is_missing(value):
                continue
            try:
                arrays.append(self._load_array(value, mode))  # (H, W) or (H, W, C)
            except BadValueError as error:
                results[i] = error
                continue
            good.append(i)
        if good:
            stacked = np.stack(arrays)  # (N, H, W) or (N, H, W, C) uint8
            pixels = _normalised(_to_array_batch(stacked), mean, std)  # (N, C, H, W)
            for i, row in zip(good, pixels.unbind(), strict=True):
                results[i] = {"pixels": row}
        return results

    def collate(self, items: Sequence[Features | None]) -> Features:
        """Stack rows into ``{"pixels": (B, C, H, W)}``; absent rows are zeros."""
        spec = self.output_spec()
        shape = (spec["channels"], spec["height"], spec["width"])
        rows = [torch.zeros(shape) if item is None else item["pixels"] for item in items]
        return {"pixels": torch.stack(rows) if rows else torch.zeros((0, *shape))}

    def augment(self, features: Features, generator: torch.Generator) -> Features:
        """Random brightness, contrast, translation and flip, drawn from ``generator`` only.

        Identity unless the processor was built with ``augment=True``. Returns new tensors; the
        input is left untouched.
        """
        if not self.augment_enabled:
            return features
        _, mean, std = self._fitted()
        draws = torch.rand(5, generator=generator, dtype=torch.float64).tolist()
        image = features["pixels"] * std + mean  # (C, H, W) on the 0-1 scale
        image = image * (1.0 + self.brightness * (2.0 * draws[0] - 1.0))
        grey_level = image.mean()
        image = (image - grey_level) * (1.0 + self.contrast * (2.0 * draws[1] - 1.0)) + grey_level
        pixels = (image.clamp(0.0, 1.0) - mean) / std
        shift_y = round(self.max_shift * self.height * (2.0 * draws[2] - 1.0))
        shift_x = round(self.max_shift * self.width * (2.0 * draws[3] - 1.0))
        pixels = _translate(pixels, shift_y, shift_x)
        if self.hflip and draws[4] < 0.5:
            pixels = pixels.flip(-1)
        return {**features, "pixels": pixels}

    def output_spec(self) -> dict[str, Any]:
        """``{"channels": C, "height": H, "width": W}``."""
        mode, _, _ = self._fitted()
        return {"channels": 1 if mode == "L" else 3, "height": self.height, "width": self.width}

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {
            "size": self.size,
            "mode": self.mode,
            "resize": self.resize,
            "augment": self.augment_enabled,
            "hflip": self.hflip,
            "max_shift": self.max_shift,
            "brightness": self.brightness,
            "contrast": self.contrast,
            "max_pixels": self.max_pixels,
        }

    def get_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """``({"mode": mode_, "mean": mean_, "std": std_}, {})``."""
        self._fitted()
        size = [self.height, self.width]
        return {"mode": self.mode_, "mean": self.mean_, "std": self.std_, "size": size}, {}

    def set_state(self, state: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.mode_ = str(state["mode"])
        self.mean_ = [float(m) for m in state["mean"]]
        self.std_ = [float(s) for s in state["std"]]
        if "size" in state:  # the side ``size: auto`` chose (bundles before it hold an int size)
            self.height, self.width = (int(v) for v in state["size"])

    def _fitted(self) -> tuple[str, Tensor, Tensor]:
        """The fitted mode and mean/std shaped ``(C, 1, 1)`` for broadcasting."""
        if self.mode_ is None or self.mean_ is None or self.std_ is None or not self.height:
            raise RuntimeError("ImageProcessor is not fitted: call fit() or set_state() first")
        mean = torch.tensor(self.mean_, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.std_, dtype=torch.float32).view(-1, 1, 1)
        return self.mode_, mean, std

    def _load(self, value: Any) -> Image.Image:
        """Decode, orient, flatten transparency and resize; the result is ``"RGB"`` or ``"L"``."""
        return self._resized(decode_image(value, self.max_pixels, (self.width, self.height)))

    def _load_array(self, value: Any, mode: str) -> np.ndarray:
        """:meth:`_load` in ``mode`` as ``(H, W)`` or ``(H, W, 3)`` uint8; a plain PNG already of
        this size and mode is used as decoded (no Pillow round trip)."""
        size = (self.width, self.height)
        decoded = decode_pixels(value, self.max_pixels, size)
        if isinstance(decoded, np.ndarray):
            if decoded.shape[:2] == (self.height, self.width) and (decoded.ndim == 2) == (mode == "L"):
                return decoded
            decoded = reduce_image(Image.fromarray(decoded), size)
        return np.asarray(_as_mode(self._resized(decoded), mode))

    def _resized(self, image: Image.Image) -> Image.Image:
        """A decoded image at the processor's size (cropped or squashed, as ``resize`` says)."""
        size = (self.width, self.height)
        if self.resize == "crop":
            return ImageOps.fit(image, size, method=Image.Resampling.BILINEAR)
        if image.size == size:  # (resize would return a copy)
            return image
        return image.resize(size, Image.Resampling.BILINEAR)

    def _try_load(self, value: Any) -> Image.Image | None:
        try:
            return self._load(value)
        except BadValueError as error:
            logger.warning("ImageProcessor.fit skips an image: %s", error)
            return None


def auto_side(values: Sequence[Any]) -> int:
    """The square side ``size: auto`` picks for these images (paths or bytes): their median longer
    side, between :data:`AUTO_SIZE_MIN` and :data:`AUTO_SIZE_MAX`; the largest without a readable one.

    Only the headers are read (``Image.open`` does not decode), so this is cheap on any table.
    """
    sides = []
    for value in values:
        try:
            source = io.BytesIO(bytes(value)) if isinstance(value, bytes | bytearray) else value
            with Image.open(source) as image:
                sides.append(max(image.size))
        except Exception:  # an unreadable image is reported when it is decoded
            continue
    if not sides:
        return AUTO_SIZE_MAX
    return int(min(AUTO_SIZE_MAX, max(AUTO_SIZE_MIN, float(np.median(sides)))))


def _to_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """Pillow ``"RGB"`` / ``"L"`` image (or its uint8 array) -> float32 array ``(C, H, W)`` on a 0-1
    scale."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    if array.ndim == 2:
        return np.ascontiguousarray(array[None])  # (1, H, W)
    return np.ascontiguousarray(array.transpose(2, 0, 1))  # (H, W, C) -> (C, H, W)


def _normalised(array: np.ndarray, mean: Tensor, std: Tensor) -> Tensor:
    """``(array - mean) / std`` as a tensor, computed in place in numpy: ``array`` float32
    ``(..., C, H, W)`` (consumed), ``mean`` and ``std`` ``(C, 1, 1)``.

    In numpy, not torch, because a torch op on a batch wakes torch's worker threads, and after
    the decoding's single-threaded stretch that wake-up cost up to 13 ms for 256 images of 32 px
    on shared cores (0.5 ms in numpy, one thread); the float32 values are the same."""
    array -= mean.numpy()
    array /= std.numpy()
    return torch.from_numpy(array)


def _as_mode(image: Image.Image, mode: str) -> Image.Image:
    """``image`` in ``mode`` (itself when it is already: ``convert`` would copy it)."""
    return image if image.mode == mode else image.convert(mode)


def _to_array_batch(images: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` or ``(N, H, W, C)`` uint8 -> float32 ``(N, C, H, W)`` on a 0-1 scale, the
    values of :func:`_to_array` on each image."""
    array = images.astype(np.float32) / 255.0
    if array.ndim == 3:
        return np.ascontiguousarray(array[:, None])  # (N, 1, H, W)
    return np.ascontiguousarray(array.transpose(0, 3, 1, 2))  # (N, H, W, C) -> (N, C, H, W)


def _is_grey(image: Image.Image) -> bool:
    """True for ``"L"`` images and for RGB ones whose channels agree within GREY_TOLERANCE."""
    if image.mode == "L":
        return True
    array = _to_array(image)  # (3, H, W)
    return float(np.abs(array - array.mean(axis=0, keepdims=True)).max()) <= GREY_TOLERANCE


def _translate(pixels: Tensor, shift_y: int, shift_x: int) -> Tensor:
    """Shift ``(C, H, W)`` by whole pixels (positive: down / right), filling the border with 0."""
    _, height, width = pixels.shape
    out = torch.zeros_like(pixels)
    if abs(shift_y) >= height or abs(shift_x) >= width:
        return out
    src_y, dst_y = _span(shift_y, height)
    src_x, dst_x = _span(shift_x, width)
    out[:, dst_y, dst_x] = pixels[:, src_y, src_x]
    return out


def _span(shift: int, length: int) -> tuple[slice, slice]:
    """Source and destination slices of a 1-D shift by ``shift`` within ``length``."""
    if shift >= 0:
        return slice(0, length - shift), slice(shift, length)
    return slice(-shift, length), slice(0, length + shift)


def _parse_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``64`` -> ``(64, 64)``; ``[h, w]`` -> ``(h, w)``; rejects anything else."""
    if isinstance(size, int) and not isinstance(size, bool):
        height = width = size
    elif isinstance(size, Sequence) and len(size) == 2 and all(isinstance(s, int) for s in size):
        height, width = size[0], size[1]
    else:
        raise ValueError(f"size must be an int or [height, width], got {size!r}")
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return height, width
