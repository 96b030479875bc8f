"""Tests of ImageProcessor: decoding of every mode, EXIF, fit statistics, augment, errors."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from polyfuse.data.processors.base import BadValueError
from polyfuse.data.processors.image import ImageProcessor, decode_image

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _encode(image: Image.Image, fmt: str = "PNG", **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _save(image: Image.Image, path: Path, fmt: str = "PNG", **kwargs: object) -> Path:
    path.write_bytes(_encode(image, fmt, **kwargs))
    return path


def _noise(width: int, height: int, seed: int) -> Image.Image:
    array = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(array)


def _pixels01(processor: ImageProcessor, value: object) -> torch.Tensor:
    """Transform and undo the normalisation: (C, H, W) on the 0-1 scale."""
    pixels = processor.transform(value)["pixels"]  # type: ignore[index]
    mean = torch.tensor(processor.mean_).view(-1, 1, 1)
    std = torch.tensor(processor.std_).view(-1, 1, 1)
    return pixels * std + mean


@pytest.fixture
def colour_files(tmp_path: Path) -> list[Path]:
    return [_save(_noise(10 + i, 7 + i, i), tmp_path / f"img{i}.png") for i in range(4)]


def test_fit_transform_shapes_and_normalisation(colour_files: list[Path]) -> None:
    processor = ImageProcessor(size=8).fit([*colour_files, None])
    assert processor.mode_ == "RGB"
    assert processor.output_spec() == {"channels": 3, "height": 8, "width": 8}
    out = torch.stack([processor.transform(f)["pixels"] for f in colour_files])  # type: ignore[index]
    assert out.shape == (4, 3, 8, 8) and out.dtype == torch.float32
    per_channel = out.permute(1, 0, 2, 3).reshape(3, -1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(per_channel.std(1, unbiased=False), torch.ones(3), atol=1e-4)


def test_fit_learns_per_channel_mean_and_std(tmp_path: Path) -> None:
    red = _save(Image.new("RGB", (5, 5), RED), tmp_path / "red.png")
    blue = _save(Image.new("RGB", (5, 5), BLUE), tmp_path / "blue.png")
    processor = ImageProcessor(size=4, mode="RGB").fit([red, blue, tmp_path / "missing.png"])
    assert processor.mean_ == pytest.approx([0.5, 0.0, 0.5])
    assert processor.std_ == pytest.approx([0.5, 1.0, 0.5])  # constant channel: std 1
    assert processor.transform(red)["pixels"][:, 0, 0].tolist() == pytest.approx([1.0, 0.0, -1.0])


def test_rectangular_size_and_resize_modes(tmp_path: Path) -> None:
    stripes = Image.new("RGB", (12, 4))
    for x, colour in ((0, RED), (4, GREEN), (8, BLUE)):
        stripes.paste(colour, (x, 0, x + 4, 4))
    path = _save(stripes, tmp_path / "stripes.png")
    squash = ImageProcessor(size=[4, 6], mode="RGB").fit([path])
    assert squash.transform(path)["pixels"].shape == (3, 4, 6)
    assert _pixels01(squash, path)[:, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0])
    crop = ImageProcessor(size=4, mode="RGB", resize="crop").fit([path])
    green = torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1).expand(3, 4, 4)
    assert torch.allclose(_pixels01(crop, path), green, atol=1e-5)


def test_exif_orientation_rotates_the_image(tmp_path: Path) -> None:
    stored = Image.new("RGB", (4, 2), (0, 0, 0))  # 4 wide, 2 tall
    stored.putpixel((0, 0), RED)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = _save(stored, tmp_path / "rotated.png", exif=exif)
    assert decode_image(path).size == (2, 4)
    processor = ImageProcessor(size=[4, 2], mode="RGB").fit([path])
    red = _pixels01(processor, path)[0]  # (H=4, W=2)
    assert red.shape == (4, 2)
    assert red[0, 1] == pytest.approx(1.0)  # stored top-left is displayed top-right
    assert float(red.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("image", "fmt", "mode", "pixel"),
    [
        (Image.new("RGBA", (3, 3), (255, 0, 0, 0)), "PNG", "RGB", (255, 255, 255)),
        (Image.new("RGBA", (3, 3), (255, 0, 0, 255)), "PNG", "RGB", (255, 0, 0)),
        (Image.new("LA", (3, 3), (100, 255)), "PNG", "L", 100),
        (Image.new("L", (3, 3), 77), "PNG", "L", 77),
        (Image.new("1", (3, 3), 1), "PNG", "L", 255),
        (Image.fromarray(np.full((3, 3), 65535, np.uint16)), "PNG", "L", 255),
        (Image.fromarray(np.full((3, 3), 0.5, np.float32)), "TIFF", "L", 128),
        (Image.new("CMYK", (8, 8), (0, 255, 0, 0)), "TIFF", "RGB", (255, 0, 255)),
    ],
)
def test_every_mode_decodes_to_rgb_or_l(image: Image.Image, fmt: str, mode: str, pixel: object) -> None:
    decoded = decode_image(_encode(image, fmt))
    assert decoded.mode == mode
    assert decoded.getpixel((0, 0)) == pixel


def test_sixteen_bit_greyscale_keeps_relative_brightness() -> None:
    array = np.array([[0, 1000], [32768, 65535]], dtype=np.uint16)
    source = Image.fromarray(array)
    assert source.mode == "I;16"
    decoded = np.asarray(decode_image(_encode(source)))
    assert decoded.tolist() == [[0, 4], [128, 255]]


def test_palette_image_uses_its_palette() -> None:
    palette = Image.new("P", (2, 2), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert decode_image(_encode(palette)).getpixel((0, 0)) == (10, 200, 30)


def test_auto_mode_detects_greyscale(tmp_path: Path, colour_files: list[Path]) -> None:
    grey_l = _save(Image.new("L", (6, 6), 90), tmp_path / "l.png")
    grey_rgb = _save(Image.new("RGB", (6, 6), (40, 40, 40)), tmp_path / "grey_rgb.jpg", "JPEG")
    grey = ImageProcessor(size=5).fit([grey_l, grey_rgb, None])
    assert grey.mode_ == "L"
    assert grey.output_spec()["channels"] == 1
    assert grey.transform(colour_files[0])["pixels"].shape == (1, 5, 5)
    mixed = ImageProcessor(size=5).fit([grey_l, grey_rgb, colour_files[0]])
    assert mixed.mode_ == "RGB"
    assert mixed.transform(grey_l)["pixels"].shape == (3, 5, 5)
    assert ImageProcessor(size=5, mode="RGB").fit([grey_l]).mode_ == "RGB"


def test_bytes_and_paths_give_the_same_pixels(colour_files: list[Path]) -> None:
    processor = ImageProcessor(size=6).fit(colour_files)
    from_path = processor.transform(str(colour_files[1]))["pixels"]  # type: ignore[index]
    from_bytes = processor.transform(colour_files[1].read_bytes())["pixels"]  # type: ignore[index]
    assert torch.equal(from_path, from_bytes)


def test_bad_files_raise_bad_value_error_naming_the_file(tmp_path: Path) -> None:
    processor = ImageProcessor(size=8, mode="RGB").fit([])
    png = _encode(_noise(64, 64, 0), "PNG")
    jpeg = _encode(_noise(64, 64, 1), "JPEG")
    cases = {
        "missing.png": None,
        "corrupt.png": b"not an image at all" * 10,
        "truncated.png": png[: len(png) // 2],
        "truncated.jpg": jpeg[: len(jpeg) // 2],
    }
    for name, data in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(BadValueError, match=f"cannot read image '{path}'"):
            processor.transform(path)
    with pytest.raises(BadValueError, match="truncated"):
        processor.transform(tmp_path / "truncated.jpg")
    with pytest.raises(BadValueError, match="file not found"):
        processor.transform(tmp_path / "missing.png")
    with pytest.raises(BadValueError, match="bytes"):
        processor.transform(png[:100])
    with pytest.raises(BadValueError, match="expected a path or bytes"):
        processor.transform(3.5)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_fit_skips_unreadable_images(tmp_path: Path, colour_files: list[Path]) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"garbage")
    processor = ImageProcessor(size=4).fit([broken, *colour_files])
    reference = ImageProcessor(size=4).fit(colour_files)
    assert processor.mean_ == pytest.approx(reference.mean_)


@pytest.mark.parametrize("value", [None, float("nan"), "", "  "])
def test_absent_values_transform_to_none(value: object) -> None:
    assert ImageProcessor(mode="RGB").fit([]).transform(value) is None


def test_collate_stacks_and_zeroes_absent_rows(colour_files: list[Path]) -> None:
    processor = ImageProcessor(size=[3, 5]).fit(colour_files)
    item = processor.transform(colour_files[0])
    batch = processor.collate([item, None])
    assert batch["pixels"].shape == (2, 3, 3, 5)
    assert torch.equal(batch["pixels"][0], item["pixels"])  # type: ignore[index]
    assert not batch["pixels"][1].any()
    assert processor.collate([None])["pixels"].shape == (1, 3, 3, 5)


def test_state_round_trips_through_json(tmp_path: Path, colour_files: list[Path]) -> None:
    processor = ImageProcessor(size=[6, 4], resize="crop").fit(colour_files)
    state, tensors = processor.get_state()
    restored = ImageProcessor(**json.loads(json.dumps(processor.get_params())))
    restored.set_state(json.loads(json.dumps(state)), tensors)
    assert restored.output_spec() == processor.output_spec()
    for path in colour_files:
        expected = processor.transform(path)["pixels"]  # type: ignore[index]
        assert torch.equal(restored.transform(path)["pixels"], expected)  # type: ignore[index]


def test_augment_is_deterministic_per_generator(colour_files: list[Path]) -> None:
    processor = ImageProcessor(size=16, augment=True, hflip=True).fit(colour_files)
    item = processor.transform(colour_files[0])
    original = item["pixels"].clone()  # type: ignore[index]

    def run(seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return processor.augment(item, generator)["pixels"]  # type: ignore[arg-type]

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    assert not torch.equal(run(0), original)
    assert torch.equal(item["pixels"], original)  # type: ignore[index]
    plain = ImageProcessor(size=16).fit(colour_files)
    assert plain.augment(item, torch.Generator()) is item  # type: ignore[arg-type]


def test_augment_flip_only_returns_image_or_its_mirror(colour_files: list[Path]) -> None:
    processor = ImageProcessor(
        size=8, augment=True, hflip=True, max_shift=0.0, brightness=0.0, contrast=0.0
    ).fit(colour_files)
    pixels = processor.transform(colour_files[0])["pixels"]  # type: ignore[index]
    outcomes = set()
    for seed in range(16):
        out = processor.augment({"pixels": pixels}, torch.Generator().manual_seed(seed))
        if torch.allclose(out["pixels"], pixels, atol=1e-5):
            outcomes.add("same")
        elif torch.allclose(out["pixels"], pixels.flip(-1), atol=1e-5):
            outcomes.add("flipped")
        else:
            outcomes.add("other")
    assert outcomes == {"same", "flipped"}


def test_augment_shift_fills_border_with_zero(colour_files: list[Path]) -> None:
    processor = ImageProcessor(size=10, augment=True, max_shift=0.3, brightness=0.0, contrast=0.0).fit(
        colour_files
    )
    pixels = processor.transform(colour_files[0])["pixels"]  # type: ignore[index]
    shifted = [
        processor.augment({"pixels": pixels}, torch.Generator().manual_seed(seed))["pixels"]
        for seed in range(8)
    ]
    zero_columns = [int((s == 0).all(dim=(0, 1)).sum()) for s in shifted]
    assert max(zero_columns) >= 1 and max(zero_columns) <= 3  # at most 0.3 * 10 pixels


def test_params_validation_and_rebuild() -> None:
    processor = ImageProcessor(size=(32, 48), mode="L", resize="crop", augment=True)
    assert processor.get_params()["size"] == [32, 48]
    assert ImageProcessor(**processor.get_params()).get_params() == processor.get_params()
    with pytest.raises(ValueError, match="mode"):
        ImageProcessor(mode="CMYK")
    with pytest.raises(ValueError, match="size"):
        ImageProcessor(size=[1, 2, 3])
    with pytest.raises(RuntimeError, match="not fitted"):
        ImageProcessor().output_spec()


def test_transform_is_thread_safe(colour_files: list[Path]) -> None:
    processor = ImageProcessor(size=8).fit(colour_files)
    values = colour_files * 8
    expected = [processor.transform(v)["pixels"] for v in values]  # type: ignore[index]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(processor.transform, values))
    assert all(torch.equal(r["pixels"], e) for r, e in zip(results, expected, strict=True))  # type: ignore[index]
