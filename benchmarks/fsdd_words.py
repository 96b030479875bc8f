"""Spoken digits to words (FSDD): a recording -> the digit's English word, WER and CER.

The Free Spoken Digit Dataset (Jakobovski et al., CC BY-SA 4.0) is read in place from
../shared/data/fsdd (see its README; nothing is copied). Input: the audio column, log-mel
(8 kHz, 40 bands, 1 s max, SpecAugment) into the from-scratch ``audio/cnn``; target: "zero" ..
"nine", written by a 2-layer transformer decoder (character tokenizer by default) that
cross-attends to the CNN's frames. Beside it, the same processor and encoder with a classification
head (label: the same word), the same epochs, batch and learning rate: its accuracy is the figure
the generator's exact match is compared with.

Split: ``official`` (takes 0-4 of every speaker test, 2700 train / 300 test: every speaker in
both) or ``speaker`` (one speaker held out entirely: 2500 train / 500 test, an unseen voice).
10 % of train is held out for model selection in both. Prints one JSON line per model.

    python benchmarks/fsdd_words.py --threads 1 --epochs 16
    python benchmarks/fsdd_words.py --threads 1 --epochs 16 --split speaker --test-speaker theo
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from avdigits import LOG_MEL

from polyfuse import Predictor

FSDD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fsdd"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
AUDIO = {
    **LOG_MEL,
    "augment": True,
    "freq_mask": 6,
    "time_mask": 10,
}


def tables(split: str, test_speaker: str, root: Path = FSDD) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, test)`` frames of ``audio`` (absolute path) and ``word``."""
    meta = pd.read_csv(root / "metadata.csv")
    frame = pd.DataFrame(
        {
            "audio": [str((root / f).resolve()) for f in meta["file"]],
            "word": [WORDS[d] for d in meta["label"]],
        }
    )
    if split == "official":
        is_test = meta["split"] == "test"
    else:
        if test_speaker not in set(meta["speaker"]):
            raise SystemExit(f"unknown speaker {test_speaker!r}: one of {sorted(set(meta['speaker']))}")
        is_test = meta["speaker"] == test_speaker
    return frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)


def options(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Training options shared by both models."""
    return {
        "columns": {"audio": "audio"},
        "processors": {"audio": AUDIO},
        "encoders": {"audio": {"type": "cnn"}},
        "epochs": args.epochs,
        "batch_size": 64,
        "lr": 3e-3,
        "patience": None,
        "seed": args.seed,
        "threads": args.threads,
        "progress": False,
        "tensorboard": False,
        "num_workers": 0,
        "output_dir": f"{args.out}/{args.split}-{name}",
    }


def generator(args: argparse.Namespace) -> Predictor:
    task = {
        "type": "generation",
        "tokenizer": args.tokenizer,
        "decoder": {"type": "transformer", "dim": 64, "num_layers": 2, "num_heads": 4, "dropout": 0.1},
        "max_length": 12,
        "primary_metric": "exact_match_score",
        "decoding": {"strategy": "greedy"},
    }
    return Predictor(label="word", task=task, **options(args, "generation"))


def classifier(args: argparse.Namespace) -> Predictor:
    return Predictor(label="word", task="multiclass", **options(args, "classification"))


def run_generation(args: argparse.Namespace, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    start = time.perf_counter()
    predictor = generator(args).fit(train)
    seconds = time.perf_counter() - start
    metrics = predictor.evaluate(test)
    predicted = predictor.predict(test)["prediction"].fillna("").tolist()
    wrong = Counter((ref, hyp) for ref, hyp in zip(test["word"], predicted, strict=True) if ref != hyp)
    return {
        "model": f"audio/cnn -> transformer decoder ({args.tokenizer} tokenizer)",
        "train_seconds": round(seconds, 1),
        "exact_match": round(metrics["exact_match_score"], 2),
        "wer": round(metrics["wer_error"], 4),
        "cer": round(metrics["cer_error"], 4),
        "not_a_digit_word": sum(hyp not in WORDS for hyp in predicted),
        "errors": [f"{ref} -> {hyp!r} x{n}" for (ref, hyp), n in wrong.most_common(8)],
        "test_rows": len(test),
    }


def run_classification(args: argparse.Namespace, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    start = time.perf_counter()
    predictor = classifier(args).fit(train)
    seconds = time.perf_counter() - start
    metrics = predictor.evaluate(test)
    return {
        "model": "audio/cnn -> classification head",
        "train_seconds": round(seconds, 1),
        "accuracy": round(100 * metrics["accuracy_score"], 2),
        "test_rows": len(test),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["official", "speaker"], default="official")
    parser.add_argument("--test-speaker", default="theo", help="the held-out speaker of --split speaker")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--tokenizer", choices=["char", "word"], default="char")
    parser.add_argument("--models", default="generation,classification")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/fsdd_words")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, test = tables(args.split, args.test_speaker)
    runners = {"generation": run_generation, "classification": run_classification}
    for name in args.models.split(","):
        result = {"split": args.split, "train_rows": len(train), **runners[name](args, train, test)}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
