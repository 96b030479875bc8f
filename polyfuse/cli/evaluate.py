"""``polyfuse evaluate BUNDLE DATA``: score a bundle on a labelled table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from polyfuse.cli._common import format_metrics, user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("evaluate", help="score a bundle on a labelled table")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("data", help="CSV, Parquet or JSONL table with the label column")
    p.add_argument("--json", dest="json_out", help="write the metrics as JSON here")
    p.add_argument("--chunk-rows", type=int, default=4096, help="rows read at a time")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the metrics table; optionally write JSON."""
    from polyfuse.predictor import Predictor

    with user_errors():
        predictor = Predictor.load(args.bundle)
        metrics = predictor.evaluate(args.data, chunk_rows=args.chunk_rows, progress=True)
    print(format_metrics(metrics))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(metrics, indent=2))
        print(f"\nmetrics written to {args.json_out}")
    return 0
