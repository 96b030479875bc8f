"""``transform_many`` (a chunk of rows at once) gives exactly what ``transform`` gives row by row,
with a bad value failing its own place only; ``encode_rows`` built on it keeps row order, errors
and the bytes of every tensor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from polyfuse.data.dataset import InputSpec, encode_rows, transform_row
from polyfuse.data.processors.base import BadValueError, Processor
from polyfuse.data.processors.image import ImageProcessor
from polyfuse.data.processors.tabular import TabularProcessor
from polyfuse.data.processors.text import TextProcessor
from polyfuse.data.schema import TABULAR
from polyfuse.data.tables import Table


def _same(processor: Processor, values: list[Any]) -> list[Any]:
    """Assert transform_many == transform value by value (tensors bitwise, errors by message)."""
    many = processor.transform_many(values)
    assert len(many) == len(values)
    for value, got in zip(values, many, strict=True):
        try:
            one = processor.transform(value)
        except BadValueError as error:
            assert isinstance(got, BadValueError) and str(got) == str(error) and got.column == error.column
            continue
        if one is None:
            assert got is None
            continue
        assert isinstance(got, dict) and got.keys() == one.keys()
        for key in one:
            assert got[key].dtype == one[key].dtype and torch.equal(got[key], one[key]), key
    return many


def _images(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    return paths


def test_text_rows_at_once_equal_one_at_a_time() -> None:
    processor = TextProcessor(vocab_size=60, max_length=3).fit(["a red cat", "the blue dog runs", "cat"])
    many = _same(processor, ["a red cat", None, "", "the blue dog runs far away", "zzz unseen", "cat"])
    assert many[1] is None and many[2] is None
    assert many[3]["ids"].shape == (3,)  # truncated to max_length
    assert _same(processor, [None, None]) == [None, None]


def test_tabular_rows_at_once_equal_one_at_a_time_and_a_bad_cell_fails_its_row() -> None:
    processor = TabularProcessor(numeric=["x", "y"], categorical=["c"]).fit(
        [{"x": 1.0, "y": 2, "c": "a"}, {"x": 3.0, "y": 5, "c": "b"}, {"x": 2.5, "y": 1, "c": "a"}]
    )
    rows = [
        {"x": 1.5, "y": 3, "c": "b"},
        {"x": "oops", "y": 3, "c": "a"},
        {"x": None, "y": float("nan"), "c": None},
        None,
        {"x": 1e30, "y": 1, "c": "a"},
        {"x": "2.0", "y": 4, "c": "unseen"},
    ]
    many = _same(processor, rows)
    assert isinstance(many[1], BadValueError) and many[1].column == "x"
    assert isinstance(many[4], BadValueError) and many[3] is None
    only_numbers = TabularProcessor(numeric=["x"], categorical=[]).fit([{"x": 1.0}, {"x": 2.0}])
    assert _same(only_numbers, [{"x": 1.0}, {"x": 3.0}])[1]["categorical"].shape == (0,)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_image_rows_at_once_equal_one_at_a_time(tmp_path: Path, mode: str) -> None:
    paths = _images(tmp_path)
    processor = ImageProcessor(size=16, mode=mode).fit(paths)
    many = _same(processor, [paths[0], str(tmp_path / "bad.png"), None, paths[1], paths[2]])
    assert isinstance(many[1], BadValueError) and "bad.png" in str(many[1])
    assert many[0]["pixels"].shape == ((3 if mode == "RGB" else 1), 16, 16)


def test_encode_rows_equals_row_by_row(tmp_path: Path) -> None:
    """Chunks of rows through transform_many give each row the features and errors that
    transform_row gives it alone, in table order (a chunk boundary falls inside the table)."""
    paths = _images(tmp_path)
    names = [*(Path(p).name for p in paths), "bad.png", "missing.png", ""] * 40
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "photo": names,
            "text": [["a red cat", "", "dog"][i % 3] for i in range(len(names))],
            "x": [str(v) for v in rng.normal(size=len(names)).round(3)],
        }
    )
    frame.loc[7, "x"] = "n/a"
    table = Table(frame, tmp_path, "t.csv")
    inputs = [
        InputSpec("photo", "image", ["photo"], ImageProcessor(size=8).fit(paths)),
        InputSpec("text", "text", ["text"], TextProcessor(vocab_size=40).fit(["a red cat", "dog"])),
        InputSpec(TABULAR, "tabular", ["x"], TabularProcessor(numeric=["x"]).fit([{"x": 0.0}, {"x": 1.0}])),
    ]
    encoded = encode_rows(table, inputs, threads=1)
    expected_index, expected_errors = [], []
    for i, row in enumerate(frame.to_dict("records")):
        features, errors = transform_row(row, inputs, tmp_path, False)
        if errors:
            expected_errors += [(i, c, m) for c, m in errors]
            continue
        expected_index.append(i)
        got = encoded.features[len(expected_index) - 1]
        for name, one in features.items():
            if one is None:
                assert got[name] is None
            else:
                assert all(torch.equal(got[name][k], one[k]) for k in one)  # type: ignore[index]
    assert encoded.index == expected_index and len(frame) > 256
    assert [(e.row, e.column, e.message) for e in encoded.errors] == expected_errors
    assert {e.column for e in encoded.errors} == {"photo", "x"}
