"""The bundle: a directory that reloads into the same predictor without training data, network or
pickle, and refuses newer, truncated or tampered bundles with a clear message."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open

from polyfuse import BundleError, Predictor, __version__
from polyfuse.bench.synthetic import CLASSES
from polyfuse.bundle import FILES, FORMAT_VERSION

Trained = Any  # conftest.Trained: predictor, bundle, data_dir, train_table
N_ROWS = 60  # rows of the demo table built by conftest
ALL_FILES = {*FILES, "manifest.json"}


@pytest.fixture
def bundle_copy(trained: Trained, tmp_path: Path) -> Path:
    """A private copy of the session's bundle that a test may damage."""
    return Path(shutil.copytree(trained.bundle, tmp_path / "bundle"))


@pytest.fixture
def offline_and_no_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any network connection or unpickling during the test fails it."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the network or pickle was used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)


# ---------------------------------------------------------------------------- round trip
def test_round_trip_gives_identical_predictions(trained: Trained) -> None:
    loaded = Predictor.load(trained.bundle)
    table = trained.data_dir / "table.csv"
    expected = trained.predictor.predict(table, proba=True)
    actual = loaded.predict(table, proba=True)
    pd.testing.assert_frame_equal(actual, expected)
    assert len(actual) == N_ROWS and actual["error"].isna().all()
    assert list(actual.columns) == ["row", "prediction", *[f"proba_{c}" for c in CLASSES], "error"]
    assert set(actual["prediction"]) <= set(CLASSES)
    np.testing.assert_array_equal(loaded.embed(table), trained.predictor.embed(table))
    assert loaded.evaluate(table) == trained.predictor.evaluate(table)


def test_loading_needs_no_training_data_network_or_pickle(
    trained: Trained, offline_and_no_pickle: None
) -> None:
    assert not trained.train_table.exists()  # conftest deleted it after saving the bundle
    loaded = Predictor.load(trained.bundle)
    out = loaded.predict(trained.data_dir / "table.csv")
    assert out["prediction"].isin(CLASSES).all()
    assert loaded.fitted.schema.label == "label"
    assert loaded.fitted.target.classes_ == list(CLASSES)  # type: ignore[attr-defined]


def test_dataframe_rows_are_numbered_by_position(trained: Trained) -> None:
    """A DataFrame with a shuffled, non-integer index: ``row`` is the position in the frame."""
    frame = pd.read_csv(trained.data_dir / "table.csv")
    order = np.random.default_rng(0).permutation(N_ROWS)
    shuffled = frame.iloc[order].set_axis([f"r{i}" for i in order])
    out = trained.predictor.predict(shuffled, proba=True, base_dir=trained.data_dir, chunk_rows=16)
    reference = trained.predictor.predict(trained.data_dir / "table.csv", proba=True)
    assert out["row"].tolist() == list(range(N_ROWS))
    assert out["prediction"].tolist() == reference["prediction"].iloc[order].tolist()


def test_bundle_holds_exactly_the_listed_files(trained: Trained) -> None:
    assert {p.name for p in trained.bundle.iterdir()} == ALL_FILES
    manifest = json.loads((trained.bundle / "manifest.json").read_text())
    assert set(manifest["files"]) == set(FILES)
    assert manifest["format_version"] == FORMAT_VERSION
    header = json.loads((trained.bundle / "config.json").read_text())
    assert header["format_version"] == FORMAT_VERSION
    assert header["polyfuse_version"] == __version__


def test_every_file_is_json_markdown_or_safetensors(trained: Trained) -> None:
    kinds = {}
    for path in sorted(trained.bundle.iterdir()):
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
        if path.suffix == ".json":
            json.loads(path.read_text())
            kinds[path.name] = "json"
        elif path.suffix == ".md":
            assert path.read_text().startswith("# ")
            kinds[path.name] = "markdown"
        else:
            assert path.suffix == ".safetensors", path.name
            with safe_open(str(path), framework="pt") as tensors:
                keys = list(tensors.keys())
                for key in keys:
                    assert torch.isfinite(tensors.get_tensor(key).float()).all(), key
            kinds[path.name] = "safetensors"
            if path.name == "model.safetensors":
                model_keys = set(trained.predictor.fitted.model.state_dict())
                assert set(keys) == model_keys
    assert sorted(kinds.values()).count("safetensors") == 2
    assert set(kinds) == ALL_FILES


def test_model_card_lists_schema_and_validation_scores(trained: Trained) -> None:
    card = (trained.bundle / "README.md").read_text()
    fitted = trained.predictor.fitted
    for column in fitted.schema.columns:
        assert f"| `{column.name}` | {column.modality} |" in card
    assert {c.modality for c in fitted.schema.columns} == {"text", "image", "audio", "numeric", "categorical"}
    accuracy = fitted.metrics["valid"]["accuracy_score"]
    assert f"| accuracy_score | {accuracy:.4f} |" in card
    assert "multiclass on `label`" in card
    assert "Classes: alpha, beta, gamma" in card
    assert "bad rows skipped: none" in card
    metrics = json.loads((trained.bundle / "metrics.json").read_text())
    assert metrics["valid"]["accuracy_score"] == accuracy


# ---------------------------------------------------------------------------- refusals
def test_newer_format_version_is_refused(bundle_copy: Path) -> None:
    manifest_path = bundle_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest_path.write_text(json.dumps(manifest))
    newer = rf"format {FORMAT_VERSION + 1}, newer than this polyfuse.*upgrade polyfuse"
    with pytest.raises(BundleError, match=newer):
        Predictor.load(bundle_copy)


@pytest.mark.parametrize("name", sorted(ALL_FILES))
def test_bundle_missing_a_file_is_refused(bundle_copy: Path, name: str) -> None:
    (bundle_copy / name).unlink()
    expected = "manifest.json is missing" if name == "manifest.json" else f"truncated: {name} is missing"
    with pytest.raises(BundleError, match=re.escape(expected)):
        Predictor.load(bundle_copy)


@pytest.mark.parametrize("name", ["model.safetensors", "processors.safetensors", "config.json"])
def test_truncated_file_is_refused(bundle_copy: Path, name: str) -> None:
    data = (bundle_copy / name).read_bytes()
    (bundle_copy / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=re.escape(f"{name} does not match its checksum")):
        Predictor.load(bundle_copy)


def test_truncated_manifest_is_refused(bundle_copy: Path) -> None:
    manifest = (bundle_copy / "manifest.json").read_text()
    (bundle_copy / "manifest.json").write_text(manifest[: len(manifest) // 2])
    with pytest.raises(BundleError, match=r"manifest\.json is corrupt"):
        Predictor.load(bundle_copy)


def test_manifest_must_list_every_file(bundle_copy: Path) -> None:
    """Dropping a file from the manifest does not switch off its checksum."""
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    del manifest["files"]["model.safetensors"]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    weights = bundle_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    with pytest.raises(BundleError, match=r"manifest\.json does not list model\.safetensors"):
        Predictor.load(bundle_copy)


@pytest.mark.parametrize("position", [-1, -100, 200])
def test_flipped_byte_in_weights_is_refused(bundle_copy: Path, position: int) -> None:
    path = bundle_copy / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.safetensors does not match its checksum"):
        Predictor.load(bundle_copy)


def test_not_a_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not a directory"):
        Predictor.load(tmp_path / "nowhere")
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        Predictor.load(tmp_path)
