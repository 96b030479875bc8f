"""``polyfuse train CONFIG``: train from a YAML config and write the bundle."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from polyfuse.cli._common import add_threads_argument, format_metrics, user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("config", help="YAML config (see examples/)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--on-bad-rows", choices=["error", "skip"], help="override data.on_bad_rows")
    p.add_argument("--output-dir", help="override training.output_dir")
    p.add_argument("--epochs", type=int, help="override training.epochs")
    p.add_argument("--bundle", help="where to write the bundle (default OUTPUT_DIR/model)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (off anyway without a TTY)")
    add_threads_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Train, save the bundle, print validation (and test) scores.

    The output folder is checked first (writable, not a file) and locked for the run: a second
    ``polyfuse train`` into it fails at once, naming the first one's pid.
    """
    from polyfuse._io import folder_lock, preflight_output
    from polyfuse._progress import progress_enabled
    from polyfuse.config import load_config
    from polyfuse.predictor import Predictor

    with user_errors():
        config = load_config(args.config)
        values = config.model_dump()
        if args.on_bad_rows:
            values["data"]["on_bad_rows"] = args.on_bad_rows
        if args.output_dir:
            values["training"]["output_dir"] = args.output_dir
        if args.epochs:
            values["training"]["epochs"] = args.epochs
        if args.threads:
            values["training"]["threads"] = args.threads
        values["training"]["progress"] = progress_enabled(
            values["training"]["progress"] and not args.no_progress
        )
        output_dir = preflight_output(values["training"]["output_dir"], kind="folder")
        bundle = Path(args.bundle or output_dir / "model")
        preflight_output(bundle, kind="folder")
        with folder_lock(output_dir):
            predictor = Predictor(config=values).fit(resume=args.resume)
            predictor.save(bundle)
    metrics = predictor.fitted.metrics
    print("\nvalidation\n" + format_metrics(metrics["valid"]))
    if "test" in metrics:
        print("\ntest\n" + format_metrics(metrics["test"]))
    print(f"\nbundle written to {bundle}")
    print(json.dumps(metrics["training"]))
    return 0
