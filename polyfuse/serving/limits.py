"""Safety checks on what a request carries, before any of it reaches a processor.

Media arrive as bytes (base64 in JSON, or file parts in multipart). A path is read only when the
server was started with a media root, and then only a plain file under it. Images are sized from
their header with Pillow (no pixel is decoded) and audio from its header with ``soundfile.info``,
so a decompression bomb or a WAV header claiming hours of audio is refused with a message instead
of exhausting the worker.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import soundfile as sf
from PIL import Image

IMAGE_FORMATS = frozenset({"PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM", "ICO", "TGA"})
"""Image formats the server passes on; others (EPS, which runs Ghostscript, PDF, ...) are refused."""

AUDIO_SAMPLE_RATES = (1000, 384_000)
"""Lowest and highest sample rate accepted (an absurd rate would make resampling explode)."""

MAX_AUDIO_CHANNELS = 32

_DATA_URL = re.compile(r"^data:[\w.+-]+/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*;base64,", re.IGNORECASE)


class RowValueError(ValueError):
    """A value of one row that the server refuses; the row gets this message as its error."""


def decode_base64(text: str, max_bytes: int) -> bytes:
    """Bytes of a base64 string or a ``data:...;base64,`` URL, refused past ``max_bytes``.

    Raises:
        RowValueError: Not base64, or too large (checked before decoding).
    """
    match = _DATA_URL.match(text)
    payload = text[match.end() :] if match else text
    payload = "".join(payload.split())  # line breaks and spaces are allowed between characters
    if len(payload) // 4 * 3 > max_bytes + 2:
        raise RowValueError(f"the file is larger than the limit of {max_bytes} bytes")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RowValueError("not valid base64 (send the file's bytes base64-encoded)") from None
    if len(data) > max_bytes:
        raise RowValueError(f"the file is larger than the limit of {max_bytes} bytes")
    return data


def read_media_path(name: str, root: Path | None, max_bytes: int) -> bytes:
    """The bytes of ``name``, a relative path to a plain file under ``root``.

    Refused: no root configured, an absolute path, ``..``, a symlink that leaves the root, anything
    but a regular file (a folder, FIFO or device), a file over ``max_bytes``.

    Raises:
        RowValueError: With the reason; the message never says what lies outside the root.
    """
    if root is None:
        raise RowValueError(
            "this server reads no paths: send the file's bytes (base64 in JSON, or a multipart"
            " upload), or start it with --media-root"
        )
    pure = PurePosixPath(name)
    if not name or "\x00" in name or "\\" in name or pure.is_absolute() or ".." in pure.parts:
        raise RowValueError("a media path must be relative to the media root, without '..'")
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, *pure.parts))
    if os.path.commonpath([real_root, target]) != real_root:
        raise RowValueError("the media path leads outside the media root")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(target, flags)
    except OSError:
        raise RowValueError(f"no readable file {name!r} under the media root") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RowValueError(f"{name!r} is not a plain file")
        if info.st_size > max_bytes:
            raise RowValueError(f"the file is larger than the limit of {max_bytes} bytes")
        chunks, size = [], 0
        while size <= max_bytes and (chunk := os.read(fd, 1 << 20)):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > max_bytes:  # grew since fstat
        raise RowValueError(f"the file is larger than the limit of {max_bytes} bytes")
    return b"".join(chunks)


def check_image(data: bytes, max_pixels: int) -> None:
    """Refuse what is not an image of an allowed format, or has more than ``max_pixels`` pixels.

    Only the header is read: a 100,000 x 100,000 PNG of a few kilobytes is refused undecoded.

    Raises:
        RowValueError: With the reason.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            kind = image.format
    except Image.DecompressionBombError:
        raise RowValueError(f"the image has more than the limit of {max_pixels} pixels") from None
    except Exception:  # Pillow raises many kinds on garbage
        raise RowValueError("not a readable image (unknown or corrupt format)") from None
    if kind not in IMAGE_FORMATS:
        raise RowValueError(f"image format {kind} is not accepted (use one of {sorted(IMAGE_FORMATS)})")
    if width < 1 or height < 1:
        raise RowValueError(f"the image is empty ({width} x {height})")
    if width * height > max_pixels:
        raise RowValueError(
            f"the image is {width} x {height} pixels, more than the limit of {max_pixels} pixels"
        )


def check_audio(data: bytes, max_seconds: float) -> None:
    """Refuse what libsndfile cannot open, or whose header claims more than ``max_seconds``.

    Raises:
        RowValueError: With the reason (sample rate, channels or duration out of range).
    """
    try:
        info = sf.info(io.BytesIO(data))
    except Exception as error:  # libsndfile raises several error types
        reason = getattr(error, "error_string", None) or "unknown or corrupt format"
        raise RowValueError(f"not readable audio ({reason})") from None
    low, high = AUDIO_SAMPLE_RATES
    if not low <= info.samplerate <= high:
        raise RowValueError(f"sample rate {info.samplerate} Hz is outside {low}-{high} Hz")
    if not 1 <= info.channels <= MAX_AUDIO_CHANNELS:
        raise RowValueError(f"{info.channels} channels (at most {MAX_AUDIO_CHANNELS} are accepted)")
    seconds = info.frames / info.samplerate
    if seconds > max_seconds:
        raise RowValueError(f"the clip lasts {seconds:.1f} s, more than the limit of {max_seconds:g} s")


def media_bytes(value: Any, root: Path | None, max_bytes: int) -> bytes | None:
    """Bytes of one media cell: base64 text, ``{"base64": ...}``, ``{"path": ...}`` or raw bytes.

    Returns ``None`` for an absent cell (``None`` or an empty string).

    Raises:
        RowValueError: The value cannot be used.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (bytes, bytearray)):
        if len(value) > max_bytes:
            raise RowValueError(f"the file is larger than the limit of {max_bytes} bytes")
        return bytes(value) or None
    if isinstance(value, str):
        return decode_base64(value, max_bytes)
    if isinstance(value, dict) and isinstance(value.get("base64"), str):
        return decode_base64(value["base64"], max_bytes)
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        return read_media_path(value["path"], root, max_bytes)
    raise RowValueError("expected base64 text, {'base64': ...} or {'path': ...}")
