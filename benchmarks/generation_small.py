"""Small generation tasks that need no data download: numbers to English words (text-to-text,
synthetic: no translation corpus ships with polyfuse) and a Chinese target (character tokenizer)
from numbers and a category. Prints one JSON line per task.

    python benchmarks/generation_small.py --rows 2000 --epochs 8
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import torch

from polyfuse import Predictor

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
ZH_DIGITS = "零一二三四五六七八九"
ZH_COLORS = {"red": "红色", "blue": "蓝色", "green": "绿色", "black": "黑色"}
ZH_THINGS = {"cat": "猫", "dog": "狗", "bird": "鸟"}


def english(n: int) -> str:
    """0..999 in English words."""
    words = []
    if n >= 100:
        words += [ONES[n // 100], "hundred"]
        n %= 100
        if n == 0:
            return " ".join(words)
    if n >= 20:
        words.append(TENS[n // 10])
        if n % 10:
            words.append(ONES[n % 10])
    elif n >= 10:
        words.append(TEENS[n - 10])
    else:
        words.append(ONES[n])
    return " ".join(words)


def tables(rows: int, seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    numbers = rng.integers(0, 1000, rows)
    text2text = pd.DataFrame(
        {"digits": [" ".join(str(n)) for n in numbers], "words": [english(n) for n in numbers]}
    )
    counts = rng.integers(1, 10, rows)
    colors = rng.choice(list(ZH_COLORS), rows)
    things = rng.choice(list(ZH_THINGS), rows)
    chinese = pd.DataFrame(
        {
            "count": counts.astype(float),
            "color": colors,
            "thing": things,
            "caption": [
                f"{ZH_DIGITS[c]}只{ZH_COLORS[k]}的{ZH_THINGS[t]}"
                for c, k, t in zip(counts, colors, things, strict=True)
            ],
        }
    )
    return {
        "text-to-text (digits -> English words)": text2text,
        "Chinese caption (numbers + categories)": chinese,
    }


def run(name: str, frame: pd.DataFrame, epochs: int) -> dict[str, object]:
    label = "words" if "words" in frame else "caption"
    columns = (
        {"digits": "text"}
        if label == "words"
        else {"count": "numeric", "color": "categorical", "thing": "categorical"}
    )
    split = int(len(frame) * 0.8)
    train, test = frame.iloc[:split], frame.iloc[split:]
    predictor = Predictor(
        label=label,
        columns=columns,
        task={
            "type": "generation",
            "tokenizer": "word" if label == "words" else "char",
            "decoder": {"type": "transformer", "dim": 64, "num_layers": 2, "num_heads": 4, "dropout": 0.1},
            "primary_metric": "exact_match_score",
            "decoding": {"strategy": "greedy"},
        },
        encoders={"text": {"type": "transformer"}} if label == "words" else {},
        epochs=epochs,
        batch_size=64,
        lr=2e-3,
        progress=False,
        tensorboard=False,
        num_workers=0,
        output_dir="runs/generation_small",
    )
    start = time.perf_counter()
    predictor.fit(train)
    seconds = time.perf_counter() - start
    metrics = predictor.evaluate(test)
    keep = ("exact_match_score", "bleu4_score", "chrf_score", "wer_error", "cer_error")
    sample = predictor.predict(test.head(3))["prediction"].tolist()
    return {
        "task": name,
        "train_seconds": round(seconds, 1),
        **{k: metrics.get(k) for k in keep},
        "sample": sample,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name, frame in tables(args.rows, 0).items():
        print(json.dumps(run(name, frame, args.epochs), ensure_ascii=False))


if __name__ == "__main__":
    main()
