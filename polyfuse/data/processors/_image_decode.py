"""Decoding an image file or bytes with bounded work: the pixel count is checked from the header
before decoding, JPEGs decode at reduced scale (``Image.draft``), other images are reduced right
after decoding, EXIF orientation is applied, and any mode becomes ``"RGB"`` or ``"L"``. A file that
cannot be decoded raises :class:`~polyfuse.data.processors.base.BadValueError` naming it."""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import numpy as np
from PIL import Image

from polyfuse.data.processors.base import BadValueError

DEFAULT_MAX_PIXELS = 40_000_000
"""Largest image (width x height, after JPEG draft) decoded by default: 160 MB of pixels at most."""

_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}

_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation -> the transpose that makes the image upright (as ``ImageOps.exif_transpose``)."""


def decode_image(
    value: Any, max_pixels: int | None = DEFAULT_MAX_PIXELS, target: tuple[int, int] | None = None
) -> Image.Image:
    """Decode a path or bytes into an upright ``"RGB"`` or ``"L"`` Pillow image.

    Args:
        value: A path or the encoded bytes.
        max_pixels: Refuse an image with more pixels (after JPEG draft) before decoding it.
        target: The ``(width, height)`` the caller resizes to: a JPEG is decoded at a reduced
            scale and any image reduced by an integer factor, keeping at least twice this size.

    Raises:
        BadValueError: With the file (or ``<N bytes>``) and the reason in the message.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        source: Any = io.BytesIO(bytes(value))
        name = f"<{len(bytes(value))} bytes>"
    elif isinstance(value, (str, os.PathLike)):
        source = name = os.fspath(value)
        if not os.path.isfile(source):
            raise BadValueError(f"cannot read image '{name}': file not found")
    else:
        raise BadValueError(f"cannot read image: expected a path or bytes, got {type(value).__name__}")
    try:
        with warnings.catch_warnings():
            if max_pixels is not None:  # our own, lower limit applies: Pillow's warning is noise
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _decode(Image.open(source), max_pixels, target, name)
    except BadValueError:
        raise
    except Image.UnidentifiedImageError as error:
        raise BadValueError(f"cannot read image '{name}': unknown or corrupt format") from error
    except Exception as error:  # Pillow plugins raise many kinds of errors on broken files
        reason = str(error) or type(error).__name__
        raise BadValueError(f"cannot read image '{name}': {reason}") from error


def _decode(
    opened: Image.Image, max_pixels: int | None, target: tuple[int, int] | None, name: str
) -> Image.Image:
    """Check the size, decode (JPEG at reduced scale), reduce, orient and flatten an opened image."""
    with opened:
        keep = 2 * max(target) if target else 0  # smallest side kept before the final resize
        if keep:
            opened.draft(None, (keep, keep))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
        _check_pixels(opened, max_pixels, name)
        orientation = opened.getexif().get(0x0112)
        opened.load()  # decode now, so a truncated file fails here
        image = _reduce(opened, keep)
        if orientation in _ORIENTATION:
            image = image.transpose(_ORIENTATION[orientation])
        return _flatten(image)


def _check_pixels(image: Image.Image, max_pixels: int | None, name: str) -> None:
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        raise BadValueError(
            f"cannot read image '{name}': {width}x{height} = {width * height:,} pixels, more than"
            f" max_pixels ({max_pixels:,}) allows; downscale the file or raise the image processor's"
            " max_pixels"
        )


def _reduce(image: Image.Image, keep: int) -> Image.Image:
    """``image`` shrunk by the largest integer factor that keeps its shorter side >= ``keep``."""
    factor = min(image.size) // keep if keep else 1
    if factor < 2 or "transparency" in image.info:  # a colour key would not survive averaging
        return image
    try:
        return image.reduce(factor)
    except ValueError:  # a mode Pillow cannot reduce (P, 1, I;16): resized later as it is
        return image


def _flatten(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> ``"RGB"`` or ``"L"`` (alpha over white, high bit depth rescaled)."""
    if image.mode in _HIGH_DEPTH_MODES:
        return _high_depth_to_l(image)
    if image.mode in ("P", "L", "RGB") and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        grey = image.mode in ("LA", "La")
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L" if grey else "RGB")
    if image.mode in ("L", "1"):
        return image.convert("L")
    return image.convert("RGB")


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit integer or float greyscale -> 8-bit ``"L"``, keeping relative brightness.

    ``I;16*`` is scaled from 0-65535. ``I`` is read as 16-bit when any value exceeds 255 (and as
    8-bit otherwise); ``F`` as 0-1 when its maximum is at most 1 (and as 0-255 otherwise).
    """
    array = np.asarray(image, dtype=np.float64)
    peak = float(array.max()) if array.size else 0.0
    if image.mode.startswith("I;16") or (image.mode == "I" and peak > 255):
        scale = 255.0 / 65535.0
    elif image.mode == "F" and peak <= 1.0:
        scale = 255.0
    else:
        scale = 1.0
    grey = np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
    return Image.fromarray(grey)
