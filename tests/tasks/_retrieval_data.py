"""A tiny retrieval table: coloured pictures, three captions each naming the colour and shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

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
