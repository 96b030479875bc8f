"""``polyfuse inspect DATA``: show the inferred schema, the reasons and the warnings."""

from __future__ import annotations

import argparse
from typing import Any

from polyfuse.cli._common import format_table, user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("inspect", help="show which column is which modality, and why")
    p.add_argument("data", help="CSV, Parquet or JSONL table")
    p.add_argument("--label", help="the label column (to infer the task)")
    p.add_argument("--rows", type=int, default=10000, help="rows to look at")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the schema table and warnings."""
    from polyfuse.data.schema import infer_column, infer_schema
    from polyfuse.data.tables import read_table

    with user_errors():
        frame = read_table(args.data).frame.head(args.rows)
        if args.label:
            schema = infer_schema(frame, args.label, source=args.data, log_warnings=False)
            columns = schema.columns
        else:
            columns = [infer_column(str(c), frame[c]) for c in frame.columns]
    print(f"{args.data}: {len(frame)} rows looked at, {len(frame.columns)} columns\n")
    print(format_table([[c.name, c.modality, c.reason] for c in columns], ["column", "modality", "why"]))
    if args.label:
        print(f"\nlabel {args.label!r}: task {schema.task} ({schema.task_reason})")
    warnings = [(c.name, w) for c in columns for w in c.warnings]
    if warnings:
        print("\nwarnings:")
        for name, text in warnings:
            print(f"  {name}: {text}")
    return 0
