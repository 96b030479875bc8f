"""Spoken digit -> MNIST image retrieval on the AV digits (FSDD recordings paired with MNIST digits).

Trains ``model.task: {type: retrieval, query: [sound], candidates: [photo]}`` with from-scratch
towers (the audio CNN on log-mel frames, the image CNN) on the clean variant's 2,700 training rows,
indexes the 300 test photos with ``Predictor.index`` and searches them with the 300 test
recordings (``index.search``), exactly as a user would.

Each row pairs a recording with a random MNIST image of the same digit, so which photo goes with
which recording is arbitrary within a digit. Two figures, both in percent:

- **R@K (same digit)**: a hit when one of the top K photos shows the recording's digit (the
  question "the picture for a sound" asks);
- **R@K (paired photo)**: a hit when the row's own photo is in the top K; with 30 photos per digit
  in the gallery, chance for a perfect digit ranking is about 1/30 at K = 1.

    python benchmarks/avdigits_retrieval.py --epochs 12 --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from avdigits import LOG_MEL, OUT, build_tables  # noqa: E402

from polyfuse import Predictor  # noqa: E402

KS = (1, 5, 10)


def config(folder: Path, epochs: int) -> dict[str, Any]:
    """From-scratch towers: image CNN 32-64 on 28 px grey digits, audio CNN 32-64 on 40 log-mels."""
    return {
        "data": {
            "train": str(folder / "train.csv"),
            "label": None,
            "columns": {"photo": "image", "sound": "audio", "label": "ignore"},
            "processors": {
                "image": {"size": 28, "mode": "L"},
                "audio": LOG_MEL,
            },
        },
        "model": {
            "encoders": {
                "image": {"type": "cnn", "widths": [32, 64]},
                "audio": {"type": "cnn", "widths": [32, 64]},
            },
            "task": {"type": "retrieval", "query": ["sound"], "candidates": ["photo"], "embed_dim": 64},
        },
        "training": {
            "epochs": epochs,
            "batch_size": 64,
            "lr": 2e-3,
            "patience": 4,
            "progress": False,
            "tensorboard": False,
            "output_dir": str(OUT / "runs" / "retrieval"),
        },
    }


def recall(results: pd.DataFrame, test: pd.DataFrame, k: int) -> dict[str, float]:
    """Share of queries with the same digit / their own photo among the top ``k`` results."""
    top = results[results["rank"] <= k]
    digit = test["label"].to_numpy()
    same = top.assign(hit=digit[top["candidate_row"]] == digit[top["query_row"]])
    own = top.assign(hit=top["candidate_row"] == top["query_row"])
    queries = len(test)
    return {
        f"same_digit_r@{k}": round(100 * same.groupby("query_row")["hit"].any().sum() / queries, 1),
        f"paired_photo_r@{k}": round(100 * own.groupby("query_row")["hit"].any().sum() / queries, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = build_tables("clean")
    started = time.perf_counter()
    predictor = Predictor(config=config(folder, args.epochs)).fit()
    seconds = time.perf_counter() - started
    test = pd.read_csv(folder / "test.csv")
    test["photo"] = [str(folder / p) for p in test["photo"]]
    index = predictor.index(test[["photo"]])
    results = index.search(test[["sound"]], k=max(KS))
    if results["error"].notna().any():
        raise SystemExit(f"unreadable queries: {results[results['error'].notna()].head()}")
    scores: dict[str, Any] = {"train_seconds": round(seconds, 1)}
    for k in KS:
        scores.update(recall(results, test, k))
    training = predictor.fitted.metrics["training"]
    scores.update(epochs=training["epochs_run"], best_epoch=training["best_epoch"], gallery=len(test))
    print(json.dumps(scores))


if __name__ == "__main__":
    main()
