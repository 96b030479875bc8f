"""Accuracy of a trained bundle per question kind on a generated set's iid test, for the docs.

    python benchmarks/cognition_kinds.py RUN_DIR/bundles/hops RUN_DIR/data

Relational questions are split into closest / furthest (asking a shape or a colour) and count, as
``cognition_probe.py`` prints them; other abilities are one kind each. Prints a markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from cognition_probe import relation_kind

from polyfuse.bench.cognition.adapter import predict_rows
from polyfuse.bench.cognition.score import is_correct
from polyfuse.predictor import Predictor


def graded_rows(predictor: Predictor, data: Path) -> pd.DataFrame:
    """The iid test's rows with the prediction, ``right`` (bool) and ``kind`` (see the module)."""
    rows = predict_rows(predictor, data, ("test_iid",))
    rows["right"] = [is_correct(a, p) for a, p in zip(rows["answer"], rows["prediction"], strict=True)]
    rows["kind"] = [
        relation_kind(q) if a == "relation" else a
        for q, a in zip(rows["question"], rows["ability"], strict=True)
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="a saved bundle (RUN_DIR/bundles/FUSION)")
    parser.add_argument("data", type=Path, help="the generated set it was trained on (RUN_DIR/data)")
    args = parser.parse_args()
    rows = graded_rows(Predictor.load(args.bundle), args.data)
    print("| kind | questions | accuracy |\n|---|---|---|")
    for kind, part in rows.groupby("kind")["right"]:
        print(f"| {kind} | {len(part)} | {part.mean():.3f} |")


if __name__ == "__main__":
    main()
