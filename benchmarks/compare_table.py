"""Markdown tables from a ``polyfuse compare`` result (compare.json), for docs/benchmarks.md.

    python benchmarks/compare_table.py benchmarks/output/avdigits/compare-hard/compare.json

Prints, per fusion (mean ± std over seeds): accuracy, macro F1, relative and effective robustness,
the score with each input removed (the absence matrix), parameters and training time; then each
fusion's gain over the best single input, when the single-input accuracies are given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _cell(entry: dict[str, Any] | None, scale: float = 100.0, digits: int = 1) -> str:
    if not entry:
        return "n/a"
    return f"{scale * entry['mean']:.{digits}f} ± {scale * entry['std']:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("compare_json", type=Path)
    parser.add_argument(
        "--best-single", type=float, help="best single-input accuracy (%%), for the gain column"
    )
    args = parser.parse_args()
    result = json.loads(args.compare_json.read_text())
    summary = result["summary"]
    first = next(s for s in summary.values() if s.get("absence"))
    removed = [
        " + ".join(a["removed"]) for a in first["absence"] if 0 < len(a["removed"]) < len(first["inputs"])
    ]
    header = ["fusion", "accuracy %", "macro F1 %", "relative rob.", "effective rob."]
    header += [f"{r} removed %" for r in removed] + ["parameters", "train s"]
    if args.best_single is not None:
        header.append("gain vs best single (pts)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    order = sorted(summary, key=lambda f: -(summary[f].get("accuracy_score") or {"mean": -1})["mean"])
    for fusion in order:
        entry = summary[fusion]
        if not entry.get("accuracy_score"):
            print(f"| {fusion} | failed: {'; '.join(entry.get('errors', []))} |")
            continue
        absent = {" + ".join(a["removed"]): a["score"] for a in entry.get("absence", [])}
        cells = [
            fusion,
            _cell(entry["accuracy_score"]),
            _cell(entry.get("macro_f1_score")),
            _cell(entry.get("relative_robustness"), 1.0, 3),
            _cell(entry.get("effective_robustness"), 1.0, 3),
            *[f"{100 * absent[r]:.1f}" if r in absent else "n/a" for r in removed],
            f"{entry['parameters']['mean']:,.0f}",
            f"{entry['training_seconds']['mean']:.0f}",
        ]
        if args.best_single is not None:
            cells.append(f"{100 * entry['accuracy_score']['mean'] - args.best_single:+.1f}")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
