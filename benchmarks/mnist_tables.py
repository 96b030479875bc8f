"""MNIST tables for the generation and autoencoder benchmarks (written once, then reused).

- ``digits/{train,test}.csv``: ``image`` (a PNG path) and ``digit``: the judge's and seed 004's data.
- ``words/{train,test}.csv``: ``image``, ``prompt`` (the digit's English or Chinese word) and
  ``sound`` (an FSDD recording of the digit from the same split), each row with the prompt only,
  the sound only or both (a third each), plus ``digit`` for scoring.

    python benchmarks/mnist_tables.py --train-rows 30000

The images and tables go to benchmarks/output/mnist (ignored by git; the data stay in
../shared/data, see its README: MNIST, and FSDD under CC BY-SA 4.0).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parent.parent / "shared" / "data"
OUT = ROOT / "output" / "mnist"
ENGLISH = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
CHINESE = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]


def build(train_rows: int = 30000, seed: int = 0) -> Path:
    """Write the images and the four tables (skipped when they exist); returns the folder."""
    if (OUT / "words" / "test.csv").is_file() and len(
        pd.read_csv(OUT / "digits" / "train.csv")
    ) == train_rows:
        return OUT
    rng = np.random.default_rng(seed)
    mnist = np.load(SHARED / "mnist" / "mnist.npz")
    meta = pd.read_csv(SHARED / "fsdd" / "metadata.csv")
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    for kind in ("digits", "words"):
        (OUT / kind).mkdir(exist_ok=True)
    for split in ("train", "test"):
        images, labels = mnist[f"x_{split}"], mnist[f"y_{split}"]
        keep = np.arange(len(images)) if split == "test" else rng.permutation(len(images))[:train_rows]
        sounds = {
            d: meta[(meta["split"] == split) & (meta["label"] == d)]["file"].tolist() for d in range(10)
        }
        digits, words = [], []
        for index in keep:
            name = f"images/{split}_{index}.png"
            path = OUT / name
            if not path.is_file():
                Image.fromarray(images[index]).save(path)
            digit = int(labels[index])
            digits.append({"image": f"../{name}", "digit": digit})
            kind = rng.integers(3)  # 0 prompt only, 1 sound only, 2 both
            prompt = (ENGLISH if rng.random() < 0.5 else CHINESE)[digit] if kind != 1 else ""
            sound = str((SHARED / "fsdd" / rng.choice(sounds[digit])).resolve()) if kind != 0 else ""
            words.append({"image": f"../{name}", "prompt": prompt, "sound": sound, "digit": digit})
        pd.DataFrame(digits).to_csv(OUT / "digits" / f"{split}.csv", index=False)
        pd.DataFrame(words).to_csv(OUT / "words" / f"{split}.csv", index=False)
    return OUT


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-rows", type=int, default=30000)
    print(build(parser.parse_args().train_rows))
