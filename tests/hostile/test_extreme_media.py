"""Extreme but valid media: work per row is bounded by what the model needs, and a file past the
bounds is one row's error (naming the file and the limit), never a crash of the whole prediction."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hostile_helpers import N_ROWS, Trained, png_header, wav_bytes
from PIL import Image

from polyfuse.data.processors.audio import MAX_SOURCE_RATE, AudioProcessor, load_audio
from polyfuse.data.processors.base import BadValueError
from polyfuse.data.processors.image import DEFAULT_MAX_PIXELS, ImageProcessor, decode_image


def _predict_with(
    trained: Trained, data: Path, column: str, row: int, payload: bytes, name: str
) -> pd.DataFrame:
    (data / name).write_bytes(payload)
    frame = pd.read_csv(data / "table.csv")
    frame.loc[row, column] = name
    frame.to_csv(data / "hostile.csv", index=False)
    return trained.predictor.predict(data / "hostile.csv")


# ---------------------------------------------------------------------------- audio
@pytest.mark.parametrize("rate", [2_147_483_647, 10_000_000, MAX_SOURCE_RATE + 1])
def test_audio_header_with_absurd_rate_is_one_row_error(trained: Trained, data_copy: Path, rate: int) -> None:
    started = time.perf_counter()
    out = _predict_with(trained, data_copy, "sound", 4, wav_bytes(rate, 4000), "absurd.wav")
    assert time.perf_counter() - started < 30  # was: 320 GiB / 90 s for the resampling filter
    error = out.loc[4, "error"]
    assert error.startswith("column 'sound': cannot read audio '")
    assert f"absurd.wav': its header claims {rate:,} Hz, outside the 1 to 384,000 Hz" in error
    assert out.drop(index=4)["error"].isna().all() and len(out) == N_ROWS


def test_audio_at_the_highest_rate_is_read_and_cropped() -> None:
    clip = load_audio(wav_bytes(MAX_SOURCE_RATE, MAX_SOURCE_RATE * 6), 16000, 4.0)
    assert clip.shape == (64000,)  # only the first 4 s were read, then resampled 384k -> 16k
    assert np.isfinite(clip).all()


def test_odd_source_rate_resamples_with_a_bounded_ratio() -> None:
    clip = load_audio(wav_bytes(44_101, 44_101), 16000, 4.0)  # 1 s at a prime-ish rate
    assert abs(clip.shape[0] - 16000) <= 1


@pytest.mark.parametrize("channels", [2, 64])
def test_many_channels_are_mixed_to_mono_block_by_block(channels: int) -> None:
    frames = 3000
    clip = load_audio(wav_bytes(8000, frames, channels), 8000, 4.0)
    samples = (np.sin(np.arange(frames * channels) / 7.0) * 8000).astype("<i2").reshape(frames, channels)
    expected = (samples.astype(np.float32) / 32768.0).mean(axis=1)
    np.testing.assert_allclose(clip, expected, atol=1e-6)


def test_long_clip_reads_only_max_seconds(tmp_path: Path) -> None:
    processor = AudioProcessor(sample_rate=8000, max_seconds=0.5, n_mels=16).fit([wav_bytes(8000, 800)])
    features = processor.transform(wav_bytes(8000, 8000 * 120))  # two minutes
    assert features is not None and features["mel"].shape == (16, 26)


# ---------------------------------------------------------------------------- images
def test_image_header_past_max_pixels_is_refused_before_decoding(trained: Trained, data_copy: Path) -> None:
    started = time.perf_counter()
    out = _predict_with(trained, data_copy, "photo", 9, png_header(13_000, 13_000), "huge.png")
    assert time.perf_counter() - started < 30
    assert out.loc[9, "error"] == (
        f"column 'photo': cannot read image '{data_copy / 'huge.png'}': 13000x13000 = 169,000,000 pixels,"
        f" more than max_pixels ({DEFAULT_MAX_PIXELS:,}) allows; downscale the file or raise the image"
        " processor's max_pixels"
    )
    assert out.drop(index=9)["error"].isna().all()


def test_image_past_pillows_bomb_limit_is_a_row_error() -> None:
    with pytest.raises(BadValueError, match=r"cannot read image '<\d+ bytes>': .*(bomb|max_pixels)"):
        decode_image(png_header(20_000, 20_000), max_pixels=None)


def _encoded(
    size: tuple[int, int], kind: str, colour: tuple[int, int, int] = (200, 40, 10), **kw: int
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, kind, **kw)
    return buffer.getvalue()


def test_large_jpeg_is_decoded_at_reduced_scale() -> None:
    jpeg = _encoded((4000, 3000), "JPEG")
    with pytest.raises(BadValueError, match="4000x3000 = 12,000,000 pixels"):
        decode_image(jpeg, max_pixels=1_000_000)  # in full it is past the limit...
    image = decode_image(jpeg, max_pixels=1_000_000, target=(16, 16))  # ...at 1/8 scale it is not
    assert min(image.size) >= 32 and image.size[0] * image.size[1] < 200_000
    assert np.abs(np.asarray(image, dtype=float).mean(axis=(0, 1)) - (200, 40, 10)).max() < 4


def test_large_png_is_reduced_right_after_decoding() -> None:
    image = decode_image(_encoded((3000, 2000), "PNG", compress_level=1), target=(16, 16))
    assert image.size == (49, 33)  # reduced by 2000 // 32 = 62: shorter side kept >= 2 x 16
    assert tuple(np.asarray(image)[0, 0]) == (200, 40, 10)


def test_exif_orientation_survives_the_reduction() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: upright is taller than wide
    buffer = io.BytesIO()
    Image.new("RGB", (1600, 800), (0, 0, 255)).save(buffer, "JPEG", exif=exif.tobytes())
    image = decode_image(buffer.getvalue(), target=(16, 16))
    assert image.size[1] > image.size[0]


def test_max_pixels_is_a_processor_option(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(_encoded((300, 200), "PNG"))
    strict = ImageProcessor(size=8, max_pixels=50_000).fit([])
    with pytest.raises(BadValueError, match="300x200 = 60,000 pixels, more than max_pixels"):
        strict.transform(tmp_path / "big.png")
    relaxed = ImageProcessor(size=8, max_pixels=60_000).fit([])
    features = relaxed.transform(tmp_path / "big.png")
    assert features is not None and features["pixels"].shape == (3, 8, 8)
    assert relaxed.get_params()["max_pixels"] == 60_000


def test_max_pixels_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_pixels must be positive, got 0"):
        ImageProcessor(max_pixels=0)
