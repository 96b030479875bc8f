"""Built-in demo data: a three-class table whose evidence is spread over text, image, audio and
numbers, so that each modality alone is only partly right and fusion pays off. Generated locally
(Pillow + numpy + soundfile), seeded, no download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from PIL import Image, ImageDraw

CLASSES = ("alpha", "beta", "gamma")
SHAPES = ("circle", "square", "triangle")
PITCHES = (330.0, 660.0, 1320.0)
WORDS = ("bright", "calm", "loud")
FILLER = [
    "the",
    "a",
    "this",
    "that",
    "very",
    "quite",
    "some",
    "item",
    "looks",
    "seems",
    "sounds",
    "feels",
    "rather",
]
SAMPLE_RATE = 8000


def _draw(shape: str, rng: np.random.Generator, size: int) -> Image.Image:
    colour = tuple(int(c) for c in rng.integers(40, 255, 3))
    img = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(0, 40, 3)))
    draw = ImageDraw.Draw(img)
    r = rng.uniform(0.22, 0.4) * size
    cx, cy = rng.uniform(r, size - r, 2)
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    pixels = np.asarray(img, dtype=np.float32) + rng.normal(0, 18, (size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _tone(pitch: float, rng: np.random.Generator, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    freq = pitch * rng.uniform(0.94, 1.06)
    wave = 0.5 * np.sin(2 * np.pi * freq * t) * np.hanning(len(t))
    return (wave + rng.normal(0, 0.08, len(t))).astype(np.float32)


def _pick(true: int, keep: float, rng: np.random.Generator) -> int:
    return true if rng.random() < keep else int(rng.integers(0, len(CLASSES)))


def make_demo_table(
    out_dir: str | Path,
    n_rows: int = 1800,
    seed: int = 0,
    image_size: int = 32,
    keep: float = 0.6,
    empty: float = 0.03,
) -> pd.DataFrame:
    """Write ``table.csv`` plus ``images/`` and ``audio/`` under ``out_dir`` and return the table.

    Each modality shows the true class with probability ``keep`` (else a random one); ``empty``
    is the share of image and audio cells left empty, to exercise missing-modality handling.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_rows):
        label = int(rng.integers(0, len(CLASSES)))
        image_path, audio_path = f"images/{i:05d}.png", f"audio/{i:05d}.wav"
        _draw(SHAPES[_pick(label, keep, rng)], rng, image_size).save(out / image_path)
        sf.write(out / audio_path, _tone(PITCHES[_pick(label, keep, rng)], rng), SAMPLE_RATE)
        words = list(rng.choice(FILLER, size=int(rng.integers(4, 9))))
        words.insert(int(rng.integers(0, len(words))), WORDS[_pick(label, keep, rng)])
        rows.append(
            {
                "description": " ".join(words),
                "photo": "" if rng.random() < empty else image_path,
                "sound": "" if rng.random() < empty else audio_path,
                "weight": round(float(rng.normal(label, 1.6)), 3),
                "region": str(rng.choice(["north", "south", "east", "west"])),
                "label": CLASSES[label],
            }
        )
    frame = pd.DataFrame(rows)
    frame.to_csv(out / "table.csv", index=False)
    return frame


def make_demo_split(
    out_dir: str | Path, n_train: int = 1500, n_test: int = 300, seed: int = 0, **kwargs: float
) -> tuple[Path, Path]:
    """Train and test tables (``train.csv``, ``test.csv``) sharing one media folder."""
    out = Path(out_dir)
    frame = make_demo_table(out, n_train + n_test, seed, **kwargs)  # type: ignore[arg-type]
    frame.iloc[:n_train].to_csv(out / "train.csv", index=False)
    frame.iloc[n_train:].to_csv(out / "test.csv", index=False)
    (out / "table.csv").unlink()
    return out / "train.csv", out / "test.csv"


def make_fusion_table(
    out_dir: str | Path, n_rows: int = 2000, seed: int = 0, image_size: int = 32, test_fraction: float = 0.2
) -> tuple[Path, Path]:
    """A three-class table (``text``, ``photo`` at ``image_size`` px, ``value``) that needs all
    three inputs: each input rules out one wrong class (a word, a shape, a number near 0, 1 or 2),
    the three together rule out both, and no input repeats what both others say. One input alone
    is right half the time, two at best 83 %, all three 100 %. Writes ``train.csv``,
    ``test.csv`` and ``images/`` under ``out_dir``.
    """
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    patterns = [p for p in np.ndindex(2, 2, 2) if len(set(p)) == 2]  # both wrong classes ruled out
    rows = []
    for i in range(n_rows):
        label = int(rng.integers(0, 3))
        wrong = [c for c in range(3) if c != label]
        word, shape, level = (wrong[k] for k in patterns[int(rng.integers(0, len(patterns)))])
        path = f"images/{i:05d}.png"
        _draw(SHAPES[shape], rng, image_size).save(out / path)
        words = list(rng.choice(FILLER, size=int(rng.integers(4, 9))))
        words.insert(int(rng.integers(0, len(words))), WORDS[word])
        rows.append(
            {
                "text": " ".join(words),
                "photo": path,
                "value": round(float(level + rng.uniform(-0.35, 0.35)), 3),
                "label": CLASSES[label],
            }
        )
    frame = pd.DataFrame(rows)
    n_test = round(n_rows * test_fraction)
    frame.iloc[n_test:].to_csv(out / "train.csv", index=False)
    frame.iloc[:n_test].to_csv(out / "test.csv", index=False)
    return out / "train.csv", out / "test.csv"
