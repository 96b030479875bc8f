"""``polyfuse predict BUNDLE DATA -o out.csv``: batch prediction, streamed chunk by chunk."""

from __future__ import annotations

import argparse
from typing import Any

from polyfuse.cli._common import user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("predict", help="predict a table with a bundle")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("data", help="CSV, Parquet or JSONL table")
    p.add_argument("-o", "--output", required=True, help="output CSV (row, prediction, ..., error)")
    p.add_argument("--proba", action="store_true", help="add class probabilities")
    p.add_argument("--chunk-rows", type=int, default=4096, help="rows read at a time")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write predictions; rows that fail carry their error and do not stop the others."""
    from polyfuse.predictor import Predictor

    rows = failed = 0
    with user_errors():
        predictor = Predictor.load(args.bundle)
        for i, frame in enumerate(predictor.iter_predict(args.data, args.proba, args.chunk_rows, True)):
            frame.to_csv(args.output, mode="w" if i == 0 else "a", header=i == 0, index=False)
            rows += len(frame)
            failed += int(frame["error"].notna().sum())
    print(f"{rows} rows predicted into {args.output}; {failed} rows failed (see the error column)")
    return 0
