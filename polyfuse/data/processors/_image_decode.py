"""Decoding an image file or bytes with bounded work: the pixel count is checked from the header
before decoding, JPEGs decode at reduced scale (``Image.draft``), other images are reduced right
after decoding, EXIF orientation is applied, and any mode becomes ``"RGB"`` or ``"L"``. A file that
cannot be decoded raises :class:`~polyfuse.data.processors.base.BadValueError` naming it.

Plain 8-bit grey or RGB PNGs (no transparency, no EXIF) decode through libspng (``pyspng``) when
it is installed: the same pixels as Pillow's (PNG is lossless; tested), in a third of the time on
small files, where Pillow's per-file Python work (plugin lookup, chunk parsing, array export) is
most of the cost. Any other file, and any file libspng refuses, goes through Pillow, which
decodes it or names the problem."""

from __future__ import annotations

import io
import os
import struct
import warnings
from typing import IO, Any

import numpy as np
from PIL import Image

from polyfuse.data.processors.base import BadValueError

try:
    import pyspng
except ImportError:  # pragma: no cover - a dependency; Pillow does the job alone without it
    pyspng = None

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
    decoded = decode_pixels(value, max_pixels, target)
    return reduce_image(Image.fromarray(decoded), target) if isinstance(decoded, np.ndarray) else decoded


def decode_pixels(
    value: Any, max_pixels: int | None = DEFAULT_MAX_PIXELS, target: tuple[int, int] | None = None
) -> np.ndarray | Image.Image:
    """:func:`decode_image` short of its last step for a plain PNG: its pixels as libspng decoded
    them, ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB) uint8 at full size, for callers that want an
    array and use it as it is when it has their size; any other image as :func:`decode_image`
    gives it. Same arguments and errors."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        name = f"<{len(data)} bytes>"
        fast = _decode_plain_png(data, max_pixels)
        return fast if fast is not None else _decode_with_pillow(io.BytesIO(data), max_pixels, target, name)
    if not isinstance(value, (str, os.PathLike)):
        raise BadValueError(f"cannot read image: expected a path or bytes, got {type(value).__name__}")
    name = os.fspath(value)
    try:
        png = _read_plain_png(name) if pyspng is not None else None
        # a plain PNG is read already: libspng decodes it, or Pillow names its problem
        source: IO[bytes] = io.BytesIO(png) if png is not None else open(name, "rb")  # noqa: SIM115
    except ValueError as error:  # the OS cannot take the path at all
        raise BadValueError(f"cannot read image {name!r}: the path holds a NUL byte") from error
    except OSError as error:
        missing = isinstance(error, FileNotFoundError | IsADirectoryError | NotADirectoryError)
        reason = "file not found" if missing else error.strerror or str(error)
        raise BadValueError(f"cannot read image '{name}': {reason}") from error
    fast = _decode_plain_png(png, max_pixels) if png is not None else None
    if fast is not None:
        return fast
    with source:  # closed after Pillow has read it
        return _decode_with_pillow(source, max_pixels, target, name)


_FIRST_READ_BYTES = 1 << 16
"""Bytes of a file read with one ``os.read`` to look for a plain PNG: a whole small file (a third of
the cost of a buffered ``open`` and two reads, per 32 px file), the header of a large one."""


def _read_plain_png(name: str) -> bytes | None:
    """The bytes of a plain PNG file (:func:`_is_plain_png`), or ``None`` for any other file.

    Raises:
        OSError: The file cannot be opened or read (missing, a folder, no permission).
    """
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        data = os.read(fd, _FIRST_READ_BYTES)
        if not _is_plain_png(data[:_HEADER_BYTES]):
            return None
        if len(data) == _FIRST_READ_BYTES:  # a large file: the rest
            chunks = [data]
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            data = b"".join(chunks)
        return data
    finally:
        os.close(fd)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEADER_BYTES = 26
"""The PNG signature and the IHDR chunk up to its colour type."""


def reduce_image(image: Image.Image, target: tuple[int, int] | None) -> Image.Image:
    """A decoded image reduced as :func:`decode_image` reduces it for ``target``."""
    return _reduce(image, _kept_side(target))


def _kept_side(target: tuple[int, int] | None) -> int:
    """Smallest side an image keeps before the caller's final resize to ``target`` (0: any)."""
    return 2 * max(target) if target else 0


def _is_plain_png(header: bytes) -> bool:
    """Whether a file's first bytes are an 8-bit grey (colour type 0) or RGB (2) PNG's."""
    return (
        len(header) >= _HEADER_BYTES
        and header[:8] == _PNG_SIGNATURE
        and header[12:16] == b"IHDR"
        and header[24] == 8
        and header[25] in (0, 2)
    )


def _decode_plain_png(data: bytes, max_pixels: int | None) -> np.ndarray | None:
    """A plain PNG's pixels (:func:`_is_plain_png`, without ``tRNS`` or ``eXIf`` chunks) decoded by
    libspng, ``(H, W)`` or ``(H, W, 3)`` uint8; ``None`` for any other file or one libspng refuses.

    Without ``max_pixels``, or past it, the file goes to Pillow: its decompression-bomb check, or
    the refusal's message, then apply.
    """
    if pyspng is None or max_pixels is None or not _is_plain_png(data[:_HEADER_BYTES]):
        return None
    if b"tRNS" in data or b"eXIf" in data:  # a colour key or an orientation: Pillow's path
        return None
    width, height = struct.unpack(">II", data[16:24])
    if width * height > max_pixels:
        return None
    try:
        array: np.ndarray = pyspng.load(data)
    except Exception:  # broken or truncated: Pillow decodes it or names the problem
        return None
    return array if array.dtype == np.uint8 and array.shape[:2] == (height, width) else None


def _decode_with_pillow(
    source: IO[bytes], max_pixels: int | None, target: tuple[int, int] | None, name: str
) -> Image.Image:
    """:func:`decode_image` of an open file or buffer, by Pillow."""
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
        keep = _kept_side(target)
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
