"""Serving the tasks beyond classification, with nothing task-specific in the server: generated
text, a retrieved row, a generated image (PNG) come back as the library predicts them; tasks whose
answer for a row depends on the rows beside it are predicted one request per model call."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import b64
from fastapi.testclient import TestClient
from PIL import Image

from polyfuse import Predictor
from polyfuse.serving import ServeSettings, create_app

TRAINING = {"batch_size": 16, "lr": 1e-2, "progress": False, "tensorboard": False, "num_workers": 0}


def _serve(predictor: Predictor) -> TestClient:
    return TestClient(create_app(predictor, ServeSettings()))


def test_generated_text(tmp_path: Path) -> None:
    colours, shapes = ["red", "blue", "green"], ["circle", "square"]
    table = pd.DataFrame(
        [
            {
                "words": f"{colours[i % 3]} {shapes[i // 3 % 2]}",
                "caption": f"a {colours[i % 3]} {shapes[i // 3 % 2]}",
            }
            for i in range(48)
        ]
    )
    predictor = Predictor(
        label="caption",
        task={
            "type": "generation",
            "decoder": {"type": "transformer", "dim": 16, "num_layers": 1, "num_heads": 2},
        },
        columns={"words": "text"},
        processors={"text": {"vocab_size": 40, "max_length": 4}},
        encoders={"text": {"type": "bag", "embed_dim": 16}},
        epochs=2,
        output_dir=str(tmp_path / "run"),
        **TRAINING,
    ).fit(table)
    rows = [{"words": "red circle"}, {"words": "blue square"}, {}]
    expected = predictor.predict(pd.DataFrame(rows, columns=["words"]))
    with _serve(predictor) as client:
        answers = client.post("/predict", json={"rows": rows}).json()["rows"]
        assert client.app.state.service.batcher.join_requests is True  # type: ignore[attr-defined]
        meta = client.get("/metadata").json()
    assert [a["prediction"] for a in answers] == expected["prediction"].tolist()
    assert all(isinstance(a["prediction"], str) for a in answers)
    assert [a["score"] for a in answers] == pytest.approx(expected["score"].tolist(), abs=1e-5)
    assert meta["task"] == "generation" and meta["labels"] is None


def _picture(rgb: tuple[int, int, int]) -> bytes:
    pixels = np.zeros((16, 16, 3), dtype=np.uint8)
    pixels[4:12, 4:12] = rgb
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_retrieval_answers_within_each_request(tmp_path: Path) -> None:
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 60, 220), "white": (240, 240, 240)}
    (tmp_path / "photos").mkdir()
    records = []
    for name, rgb in colours.items():
        (tmp_path / "photos" / f"{name}.png").write_bytes(_picture(rgb))
        records += [{"photo": f"photos/{name}.png", "caption": f"a {name} square"}] * 3
    pd.DataFrame(records).to_csv(tmp_path / "table.csv", index=False)
    predictor = Predictor(
        task={"type": "retrieval", "query": ["caption"], "candidates": ["photo"], "embed_dim": 8},
        processors={"image": {"size": 16}, "text": {"vocab_size": 40, "max_length": 6}},
        encoders={"text": {"type": "bag", "embed_dim": 8}, "image": {"type": "cnn", "widths": [8]}},
        epochs=3,
        patience=None,
        output_dir=str(tmp_path / "run"),
        **TRAINING,
    ).fit(tmp_path / "table.csv", tmp_path / "table.csv")
    rows = [{"caption": f"a {n} square", "photo": b64(_picture(rgb))} for n, rgb in colours.items()][:3]
    frame = pd.DataFrame([{"caption": r["caption"], "photo": base64.b64decode(r["photo"])} for r in rows])
    expected = predictor.predict(frame)
    with _serve(predictor) as client:
        assert client.app.state.service.batcher.join_requests is False  # type: ignore[attr-defined]
        answers = client.post("/predict", json={"rows": rows}).json()["rows"]
        lone = client.post("/predict", json={"rows": rows[2:]}).json()["rows"]
    assert [a["prediction"] for a in answers] == expected["prediction"].tolist()
    assert all(a["prediction"] in (0, 1, 2) for a in answers)  # rows of this request only
    assert lone[0]["prediction"] == 0  # alone, its best match can only be itself


def test_generated_image_is_a_png(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(0)
    records = []
    for i in range(32):
        kind = ["top", "bottom"][i % 2]
        image = np.zeros((8, 8), dtype=np.uint8)
        image[(slice(0, 4) if kind == "top" else slice(4, 8)), :] = 220
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(tmp_path / "images" / f"{i}.png")
        records.append({"image": f"images/{i}.png", "word": f"the {kind} half"})
    pd.DataFrame(records).to_csv(tmp_path / "table.csv", index=False)
    task = {"type": "image_generation", "size": 8, "mode": "L", "widths": [8, 16], "norm_groups": 4}
    task |= {"sampling_steps": 3, "num_train_timesteps": 50}
    config: dict[str, Any] = {
        "data": {"label": "image", "columns": {"word": "text"}},
        "model": {"encoders": {"text": {"type": "bag", "embed_dim": 8}}, "task": task},
        "training": {"epochs": 1, **TRAINING, "output_dir": str(tmp_path / "run")},
    }
    predictor = Predictor(config=config).fit(tmp_path / "table.csv")
    rows = [{"word": "the top half"}, {"word": "the bottom half"}]
    expected = predictor.predict(pd.DataFrame(rows))["prediction"].tolist()
    with _serve(predictor) as client:
        assert client.app.state.service.batcher.join_requests is False  # type: ignore[attr-defined]
        answers = client.post("/predict", json={"rows": rows}).json()["rows"]
    pngs = [base64.b64decode(a["prediction"]["base64"]) for a in answers]
    assert [a["prediction"]["media_type"] for a in answers] == ["image/png", "image/png"]
    assert pngs == expected  # the same pixels as the library (sampling is seeded by row position)
    assert Image.open(io.BytesIO(pngs[0])).size == (8, 8)
