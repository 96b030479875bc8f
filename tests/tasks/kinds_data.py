"""Tiny tables for the generative tasks' tests: a few kinds of 8x8 grey images, each named by a word,
a category and a number (so any input tells which image a row shows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

KINDS = ["top", "bottom", "left", "right"]
SIZE = 8


def kind_image(kind: str, rng: np.random.Generator) -> np.ndarray:
    """An 8x8 uint8 image: the half ``kind`` names is bright, the rest dark, plus a little noise."""
    image = np.zeros((SIZE, SIZE), dtype=np.float32)
    half = SIZE // 2
    region = {
        "top": np.s_[:half, :],
        "bottom": np.s_[half:, :],
        "left": np.s_[:, :half],
        "right": np.s_[:, half:],
    }
    image[region[kind]] = 220.0
    image += rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_kinds_table(folder: Path, rows: int = 64, seed: int = 0, kinds: list[str] | None = None) -> Path:
    """``table.csv`` with ``image`` (PNG path), ``word`` (a sentence naming the kind), ``kind`` (a
    category) and ``level`` (a number per kind); returns its path."""
    rng = np.random.default_rng(seed)
    kinds = kinds or KINDS
    (folder / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(rows):
        kind = kinds[i % len(kinds)]
        name = f"images/{i:03d}.png"
        Image.fromarray(kind_image(kind, rng)).save(folder / name)
        records.append({"image": name, "word": f"the {kind} half", "kind": kind, "level": KINDS.index(kind)})
    path = folder / "table.csv"
    pd.DataFrame(records).to_csv(path, index=False)
    return path
