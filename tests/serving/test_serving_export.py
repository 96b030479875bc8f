"""ONNX export: onnxruntime on table rows (prepared by the bundle's processors, as
``preprocessing.json`` describes) matches ``Predictor.predict`` within 1e-5, at any batch size,
text length and audio length."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from polyfuse import Predictor
from polyfuse.cli.main import main

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
pytest.importorskip("onnx", reason="onnx is not installed")

from polyfuse.serving.export import ExportError, export_onnx, onnx_feeds  # noqa: E402

TOLERANCE = 1e-5
"""Largest absolute difference allowed between onnxruntime's and torch's outputs."""


def _rows(frame: pd.DataFrame, data_dir: Path) -> list[dict[str, Any]]:
    """Rows of varied text length and audio length, some media absent."""
    rows = [{k: v for k, v in r.items() if k != "label"} for r in frame.to_dict("records")]
    for i, row in enumerate(rows):
        row["description"] = row["description"] + " calm" * i
        if "sound" in row and i % 3 == 1:
            buffer = io.BytesIO()
            sf.write(
                buffer,
                np.random.default_rng(i).normal(0, 0.1, 400 * i).astype(np.float32),
                8000,
                format="WAV",
            )
            row["sound"] = buffer.getvalue()
        if "photo" in row and i % 4 == 2:
            row["photo"] = None
    return rows


def _compare(predictor: Predictor, out: Path, rows: list[dict[str, Any]], data_dir: Path) -> dict[str, float]:
    session = ort.InferenceSession(str(out / "model.onnx"))
    task = predictor.fitted.schema.task
    expected = predictor.predict(pd.DataFrame(rows), proba=True, base_dir=data_dir)
    assert expected["error"].isna().all()
    differences = {}
    for size in (1, len(rows)):
        names = [o.name for o in session.get_outputs()]
        feeds = onnx_feeds(predictor, rows[:size], data_dir, {i.name for i in session.get_inputs()})
        outputs = dict(zip(names, session.run(None, feeds), strict=True))
        head = expected.head(size)
        if task == "regression":
            want = head["prediction"].to_numpy(dtype=np.float32)
            got = outputs["value"]
        else:
            classes = predictor.fitted.target.classes_  # type: ignore[union-attr]
            want = head[[f"proba_{c}" for c in classes]].to_numpy(dtype=np.float32)
            got = outputs["probabilities"]
        assert got.shape == want.shape
        differences[f"batch {size}"] = float(np.abs(got - want).max())
    assert max(differences.values()) <= TOLERANCE, differences
    return differences


def test_export_matches_the_library(
    loaded: Predictor, trained: Any, demo_rows: pd.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "onnx"
    assert main(["export", str(trained.bundle), "--format", "onnx", "-o", str(out)]) == 0
    rows = _rows(demo_rows.head(10), trained.data_dir)
    _compare(loaded, out, rows, trained.data_dir)
    description = json.loads((out / "preprocessing.json").read_text())
    assert [i["name"] for i in description["inputs"]] == ["description", "photo", "sound", "tabular"]
    processors = {i["name"]: i["processor"] for i in description["inputs"]}
    assert processors == {
        "description": "TextProcessor",
        "photo": "ImageProcessor",
        "sound": "AudioProcessor",
        "tabular": "TabularProcessor",
    }
    photo = next(i for i in description["inputs"] if i["name"] == "photo")
    assert photo["params"]["size"] == 16 and len(photo["state"]["mean"]) == len(photo["state"]["std"])
    session = ort.InferenceSession(str(out / "model.onnx"))
    graph = {i.name: i.shape for i in session.get_inputs()}
    assert graph == {g["name"]: g["shape"] for g in description["graph_inputs"]}
    assert graph["photo.pixels"][0] == "batch" and graph["photo.pixels"][1:] == [3, 16, 16]
    assert isinstance(graph["description.ids"][1], str)  # text length is free
    assert description["graph_outputs"] == ["logits", "probabilities"]
    assert description["exporter"] == "torchscript"
    assert not loaded.fitted.model.training  # exporting left the served model in eval mode
    assert description["labels"] == ["alpha", "beta", "gamma"]


@pytest.mark.parametrize(
    ("task", "model", "exporter"),
    [
        ("regression", {"fusion": {"type": "gated", "hidden_dim": 16}}, "torchscript"),
        pytest.param(
            "multilabel",
            {"fusion": {"type": "early", "hidden_dim": 16, "num_heads": 2, "num_layers": 1}},
            "dynamo",  # the TorchScript tracer fixes the joined token count
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "binary",
            {"encoders": {"text": {"type": "transformer", "embed_dim": 16, "num_heads": 2, "num_layers": 1}}},
            "dynamo",  # the TorchScript exporter lacks an operator the transformer uses
            marks=pytest.mark.slow,
        ),
    ],
)
def test_other_tasks_fusions_and_encoders_export(
    task: str, model: dict[str, Any], exporter: str, demo_dir: Path, fast_config: Any, tmp_path: Path
) -> None:
    frame = pd.read_csv(demo_dir / "table.csv", keep_default_na=False)
    label = "label"
    if task == "regression":
        label = "weight"
        frame = frame.drop(columns=["label"])  # rows below are sent without it: not an input either
    elif task == "multilabel":
        frame["tags"] = frame["label"] + "|" + frame["region"]
        frame = frame.drop(columns=["label"])
        label = "tags"
    elif task == "binary":
        frame["label"] = np.where(frame["label"] == "alpha", "alpha", "other")
    frame.to_csv(demo_dir / "train.csv", index=False)
    config = fast_config(label=label)
    for key, value in model.items():
        config["model"][key] = {**config["model"].get(key, {}), **value}
    predictor = Predictor(config=config).fit(demo_dir / "train.csv")
    assert predictor.fitted.schema.task == task
    export_onnx(predictor, tmp_path / "onnx")
    assert json.loads((tmp_path / "onnx" / "preprocessing.json").read_text())["exporter"] == exporter
    rows = _rows(frame.drop(columns=[label]).head(8), demo_dir)
    _compare(predictor, tmp_path / "onnx", rows, demo_dir)


def test_unsupported_models_say_why(
    loaded: Predictor, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(loaded.fitted.schema, "task", "generation")
    with pytest.raises(ExportError, match="task 'generation' does not export to ONNX yet"):
        export_onnx(loaded, tmp_path)
