"""Fixtures of the task tests: the generative tasks' kinds table (see kinds_data.py) and a tiny
retrieval table (coloured pictures, three captions each naming
the colour and shape) and a bundle trained on it in a few seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kinds_data import write_kinds_table
from PIL import Image

from polyfuse import Predictor

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 60, 220),
    "yellow": (230, 220, 30),
    "purple": (150, 40, 180),
    "white": (240, 240, 240),
}
SHAPES = ("square", "stripe")
TEMPLATES = ("a {c} {s}", "the picture shows a {c} {s}", "{c} {s} on black")


def make_retrieval_table(out_dir: str | Path, seed: int = 0) -> pd.DataFrame:
    """Write ``photos/*.png`` under ``out_dir``; 12 pictures x 3 captions = 36 rows (+ ``split``)."""
    out = Path(out_dir)
    (out / "photos").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    pictures = [(colour, rgb, shape) for colour, rgb in COLOURS.items() for shape in SHAPES]
    for i, (colour, rgb, shape) in enumerate(pictures):
        pixels = np.zeros((16, 16, 3), dtype=np.uint8)
        if shape == "square":
            pixels[4:12, 4:12] = rgb
        else:
            pixels[:, 6:10] = rgb
        pixels = np.clip(pixels + rng.integers(0, 20, pixels.shape), 0, 255).astype(np.uint8)
        path = f"photos/{i:02d}.png"
        Image.fromarray(pixels).save(out / path)
        rows += [{"photo": path, "caption": t.format(c=colour, s=shape), "split": "x"} for t in TEMPLATES]
    return pd.DataFrame(rows)


def retrieval_options(output_dir: Path, epochs: int = 25) -> dict[str, Any]:
    """Predictor options that learn the tiny table in a few seconds."""
    return {
        "task": {"type": "retrieval", "query": ["caption"], "candidates": ["photo"], "embed_dim": 16},
        "processors": {"image": {"size": 16}, "text": {"vocab_size": 100, "max_length": 8}},
        "encoders": {"text": {"type": "bag", "embed_dim": 16}, "image": {"type": "cnn", "widths": [8, 16]}},
        "epochs": epochs,
        "batch_size": 12,
        "lr": 1e-2,
        "patience": None,
        "progress": False,
        "tensorboard": False,
        "num_workers": 0,
        "output_dir": str(output_dir),
    }


@pytest.fixture(scope="session")
def retrieval_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(table directory with ``table.csv``, trained bundle directory)."""
    root = tmp_path_factory.mktemp("retrieval")
    make_retrieval_table(root).to_csv(root / "table.csv", index=False)
    predictor = Predictor(**retrieval_options(root / "run")).fit(root / "table.csv", root / "table.csv")
    predictor.save(root / "bundle")
    return root, root / "bundle"


@pytest.fixture(scope="session")
def kinds_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kinds table (never modified)."""
    return write_kinds_table(tmp_path_factory.mktemp("kinds"))
