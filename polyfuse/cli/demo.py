"""``polyfuse demo``: generate the built-in multimodal table, train, evaluate, print the results."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from polyfuse.cli._common import format_metrics, format_table, user_errors

DEMO_CONFIG: dict[str, Any] = {
    "data": {
        "train": "train.csv",
        "test": "test.csv",
        "label": "label",
        "processors": {"image": {"size": 32}, "audio": {"sample_rate": 8000, "max_seconds": 1.0}},
    },
    "model": {
        "encoders": {"text": {"type": "bag"}},
        "fusion": {"type": "concat"},
        "modality_dropout": 0.1,
    },
    "training": {"epochs": 10, "batch_size": 32, "lr": 3e-3, "patience": 4},
}


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("demo", help="train and evaluate on built-in generated data")
    p.add_argument("--out", default="demo_output", help="folder for the data, config, run and bundle")
    p.add_argument("--rows", type=int, default=1500, help="training rows to generate")
    p.add_argument("--epochs", type=int, default=None, help="override the demo's epochs")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Generate data, write the config, train, and print a results table."""
    from polyfuse.bench.synthetic import make_demo_split
    from polyfuse.config import load_config
    from polyfuse.predictor import Predictor

    out = Path(args.out)
    started = time.perf_counter()
    print(f"generating the demo table in {out}/ (text, image, audio, numbers, categories)")
    make_demo_split(out, n_train=args.rows, n_test=max(300, args.rows // 5))
    config = {**DEMO_CONFIG, "training": {**DEMO_CONFIG["training"], "output_dir": "run"}}  # beside the YAML
    if args.epochs:
        config["training"]["epochs"] = args.epochs
    import yaml

    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with user_errors():
        predictor = Predictor(config=load_config(out / "config.yaml")).fit()
        bundle = predictor.save(out / "model")
        test = predictor.fitted.metrics["test"]
        ablation = [["all inputs", test["accuracy_score"]]]
        for spec in predictor.fitted.inputs:
            frame = _without(out / "test.csv", spec.columns)
            ablation.append(
                [f"without {spec.name}", predictor.evaluate(frame, base_dir=out)["accuracy_score"]]
            )
    print("\ntest scores\n" + format_metrics(test))
    print(
        "\nwhich inputs matter (test accuracy with one input emptied)\n"
        + format_table(ablation, ["inputs", "accuracy"])
    )
    print(
        f"\nbundle: {bundle}   config: {out / 'config.yaml'}   "
        f"total time: {time.perf_counter() - started:.0f}s"
    )
    return 0


def _without(path: Path, columns: list[str]) -> Any:
    import pandas as pd

    frame = pd.read_csv(path)
    for column in columns:
        frame[column] = None
    return frame
