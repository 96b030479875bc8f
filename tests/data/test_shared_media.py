"""Rows naming the same media file share its decoding (several questions per image); errors too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from polyfuse.data.dataset import InputSpec, RowsDataset, encode_rows
from polyfuse.data.processors.image import ImageProcessor
from polyfuse.data.tables import Table


class CountingImageProcessor(ImageProcessor):
    """An image processor that counts its decodes."""

    calls = 0

    def _load(self, value: Any) -> Image.Image:  # fit
        type(self).calls += 1
        return super()._load(value)

    def _load_array(self, value: Any, mode: str) -> np.ndarray:  # transform, transform_many
        type(self).calls += 1
        return super()._load_array(value, mode)


def _table(tmp_path: Path) -> Table:
    for name, level in (("a.png", 40), ("b.png", 200)):
        Image.fromarray(np.full((8, 8, 3), level, dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "bad.png").write_bytes(b"not an image" * 4)
    frame = pd.DataFrame({"image": ["a.png", "b.png", "a.png", "bad.png", "a.png", "bad.png"]})
    return Table(frame, tmp_path, str(tmp_path / "table.csv"))


@pytest.fixture
def spec(tmp_path: Path) -> InputSpec:
    processor = CountingImageProcessor(size=8, augment=True)
    processor.fit([str(tmp_path / "a.png"), str(tmp_path / "b.png")])
    CountingImageProcessor.calls = 0
    return InputSpec("image", "image", ["image"], processor)


def test_each_file_is_decoded_once_and_its_tensors_shared(tmp_path: Path, spec: InputSpec) -> None:
    encoded = encode_rows(_table(tmp_path), [spec], threads=1)
    assert CountingImageProcessor.calls == 3  # a, b, bad: not six
    assert encoded.index == [0, 1, 2, 4]
    pixels = [f["image"]["pixels"] for f in encoded.features if f["image"] is not None]
    assert pixels[0] is pixels[2] is pixels[3] and not torch.equal(pixels[0], pixels[1])
    # the bad file fails both of its rows, each named, with the decoder's message
    assert [(e.row, e.column) for e in encoded.errors] == [(3, "image"), (5, "image")]
    assert encoded.errors[0].message == encoded.errors[1].message and "bad.png" in encoded.errors[0].message


def test_augmenting_one_row_leaves_the_shared_tensor_alone(tmp_path: Path, spec: InputSpec) -> None:
    encoded = encode_rows(_table(tmp_path), [spec], threads=1)
    shared = encoded.features[0]["image"]["pixels"].clone()  # type: ignore[index]
    dataset = RowsDataset(encoded, [spec], augment=True, seed=0)
    first, third = dataset[0][1]["image"], dataset[2][1]["image"]  # rows 0 and 2 share a.png
    assert first is not None and third is not None
    assert not torch.equal(first["pixels"], third["pixels"])  # each row draws its own augmentation
    torch.testing.assert_close(encoded.features[0]["image"]["pixels"], shared)  # type: ignore[index]


def test_rows_checked_only_decode_every_row(tmp_path: Path, spec: InputSpec) -> None:
    """keep_features=False (lazy decoding later) keeps nothing, so nothing is shared or held."""
    encoded = encode_rows(_table(tmp_path), [spec], threads=1, keep_features=False)
    assert CountingImageProcessor.calls == 6 and encoded.features == []
    assert [e.row for e in encoded.errors] == [3, 5]


def test_a_memo_carries_decoded_files_across_calls(tmp_path: Path, spec: InputSpec) -> None:
    """``predict`` decodes a table slice by slice with one memo: a file named again in a later
    slice is not decoded again."""
    table = _table(tmp_path)
    memo: dict[Any, Any] = {}
    first = encode_rows(Table(table.frame.iloc[:3], tmp_path, "t"), [spec], threads=1, memo=memo)
    assert CountingImageProcessor.calls == 2  # a, b
    later = encode_rows(Table(table.frame.iloc[3:], tmp_path, "t"), [spec], threads=1, memo=memo)
    assert CountingImageProcessor.calls == 3  # only bad.png is new
    assert later.features[0]["image"]["pixels"] is first.features[0]["image"]["pixels"]  # type: ignore[index]
    assert [e.row for e in later.errors] == [3, 5]
