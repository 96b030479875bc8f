"""Tests of the libspng path for plain PNGs: the same pixels and errors as Pillow's, taken only
for 8-bit grey or RGB files without transparency or EXIF."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import polyfuse.data.processors._image_decode as image_decode
from polyfuse.data.processors.base import BadValueError
from polyfuse.data.processors.image import ImageProcessor, decode_image

pytest.importorskip("pyspng", reason="pyspng (a dependency) is not installed")


def _png(image: Image.Image, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **kwargs)
    return buffer.getvalue()


def _noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


class _Counting:
    """Stands in for the pyspng module, counting the files it is asked to decode."""

    def __init__(self, module: Any) -> None:
        self.module, self.calls = module, 0

    def load(self, data: bytes) -> np.ndarray:
        self.calls += 1
        return self.module.load(data)  # type: ignore[no-any-return]


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> _Counting:
    stub = _Counting(image_decode.pyspng)
    monkeypatch.setattr(image_decode, "pyspng", stub)
    return stub


def _with_pillow_only(monkeypatch: pytest.MonkeyPatch, fn: Any) -> Any:
    with monkeypatch.context() as patch:
        patch.setattr(image_decode, "pyspng", None)
        return fn()


PLAIN = {
    "grey": Image.fromarray(_noise((24, 40))),
    "rgb": Image.fromarray(_noise((24, 40, 3))),
    "rgb_optimised": Image.fromarray(_noise((24, 40, 3), 1)),
    "large_rgb": Image.fromarray(np.kron(_noise((30, 45, 3), 2), np.ones((20, 20, 1), np.uint8))),
}


@pytest.mark.parametrize("name", sorted(PLAIN))
@pytest.mark.parametrize("size", [8, (40, 24)])
@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("resize", ["squash", "crop"])
def test_plain_png_gives_pillows_pixels(
    monkeypatch: pytest.MonkeyPatch, counting: _Counting, name: str, size: Any, mode: str, resize: str
) -> None:
    data = _png(PLAIN[name], optimize=name == "rgb_optimised")
    processor = ImageProcessor(size=size, mode=mode, resize=resize).fit([data])
    counting.calls = 0
    fast = processor.transform_many([data])[0]["pixels"]  # type: ignore[index]
    fast_one = processor.transform(data)["pixels"]  # type: ignore[index]
    slow = _with_pillow_only(monkeypatch, lambda: processor.transform_many([data])[0]["pixels"])  # type: ignore[index]
    assert counting.calls == 2
    assert fast.dtype == slow.dtype and fast.shape == slow.shape
    assert bool((fast == slow).all()) and bool((fast_one == slow).all())


def test_decode_image_of_a_large_plain_png_is_reduced_as_pillows(
    monkeypatch: pytest.MonkeyPatch, counting: _Counting, tmp_path: Path
) -> None:
    path = tmp_path / "large.png"
    path.write_bytes(_png(PLAIN["large_rgb"]))  # 900 x 600
    fast = decode_image(path, target=(16, 16))
    slow = _with_pillow_only(monkeypatch, lambda: decode_image(path, target=(16, 16)))
    assert counting.calls == 1
    assert fast.size == slow.size == (50, 34) and fast.mode == slow.mode == "RGB"  # reduced by 600 // 32 = 18
    assert np.array_equal(np.asarray(fast), np.asarray(slow))


def _transparent_rgb() -> bytes:
    return _png(Image.fromarray(_noise((8, 8, 3))), transparency=(0, 0, 0))


def _with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return _png(Image.fromarray(_noise((8, 12, 3))), exif=exif.tobytes())


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_noise((8, 8, 3))).save(buffer, "JPEG")
    return buffer.getvalue()


OTHER = {
    "palette": lambda: _png(Image.fromarray(_noise((8, 8, 3))).convert("P")),
    "rgba": lambda: _png(Image.fromarray(_noise((8, 8, 4)))),
    "grey_16_bit": lambda: _png(Image.fromarray(_noise((8, 8)).astype(np.uint16) * 257)),
    "colour_key": _transparent_rgb,
    "exif_orientation": _with_exif,
    "jpeg": _jpeg,
}


@pytest.mark.parametrize("name", sorted(OTHER))
def test_other_images_go_through_pillow(
    monkeypatch: pytest.MonkeyPatch, counting: _Counting, name: str
) -> None:
    data = OTHER[name]()
    fast = decode_image(data, target=(8, 8))
    slow = _with_pillow_only(monkeypatch, lambda: decode_image(data, target=(8, 8)))
    assert counting.calls == 0
    assert fast.mode == slow.mode and np.array_equal(np.asarray(fast), np.asarray(slow))
    if name == "exif_orientation":
        assert fast.size == (8, 12)  # rotated upright


def test_broken_plain_png_gets_pillows_error(counting: _Counting, tmp_path: Path) -> None:
    data = _png(PLAIN["rgb"])
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadValueError, match=f"cannot read image '{path}'"):
        decode_image(path)
    assert counting.calls == 1  # libspng refused it; Pillow named the problem


def test_plain_png_past_max_pixels_is_refused_before_decoding(counting: _Counting) -> None:
    data = _png(PLAIN["rgb"])  # 40 x 24 = 960 pixels
    with pytest.raises(BadValueError, match="40x24 = 960 pixels, more than max_pixels"):
        decode_image(data, max_pixels=900)
    assert counting.calls == 0


def test_unreadable_paths_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(BadValueError, match=f"cannot read image '{tmp_path}': file not found"):
        decode_image(tmp_path)
    with pytest.raises(BadValueError, match="file not found"):
        decode_image(tmp_path / "absent.png")
    with pytest.raises(BadValueError, match=r"'a\\x00b.png': the path holds a NUL byte"):
        decode_image("a\x00b.png")  # one row's error, not an exception that stops the batch


def test_plain_png_larger_than_the_first_read_is_read_whole(
    monkeypatch: pytest.MonkeyPatch, counting: _Counting, tmp_path: Path
) -> None:
    """One ``os.read`` takes a small file; a larger plain PNG is read to its end, not cut short."""
    path = tmp_path / "noise.png"
    path.write_bytes(_png(Image.fromarray(_noise((160, 200, 3), 3))))  # incompressible: ~96 kB
    assert path.stat().st_size > image_decode._FIRST_READ_BYTES
    fast = decode_image(path)
    slow = _with_pillow_only(monkeypatch, lambda: decode_image(path))
    assert counting.calls == 1 and np.array_equal(np.asarray(fast), np.asarray(slow))


def test_other_files_are_not_read_past_their_header(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A JPEG (or any file that is not a plain PNG) goes to Pillow after one read of its start."""
    import os

    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg() + bytes(3 * image_decode._FIRST_READ_BYTES))  # trailing bytes Pillow ignores
    reads: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    assert decode_image(path).size == (8, 8)
    assert reads == [image_decode._FIRST_READ_BYTES]
