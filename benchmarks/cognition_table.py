"""Markdown tables from a ``polyfuse bench cognition run`` result (results.json), for the docs.

    python benchmarks/cognition_table.py cognition_output/results.json

Prints one table of accuracy per ability (iid test, with the 95% Wilson interval's half-width
for the first fusion as a guide) and per compositional-test ability, then perception and
cognition scores (mean accuracy and MME totals), overall iid and compositional accuracy, the
compositional gap and each fusion's training time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _accuracy(split: dict[str, Any], ability: str) -> str:
    part = split["abilities"].get(ability)
    return "n/a" if part is None else f"{part['accuracy_score']:.3f}"


def tables(results: dict[str, Any]) -> str:
    """The markdown of :func:`main`."""
    fusions = results["fusions"]
    names = list(fusions)
    first = fusions[names[0]]["scores"]["splits"]
    abilities = list(first["test_iid"]["abilities"])
    head = "| | " + " | ".join(names) + " | ± (95%) |\n|---|" + "---|" * (len(names) + 1)
    lines = [head]
    for split, label in (("test_iid", "iid"), ("test_comp", "compositional")):
        for ability in abilities:
            part = first[split]["abilities"].get(ability)
            half = "" if part is None else f"{(part['ci_high'] - part['ci_low']) / 2:.3f}"
            cells = [_accuracy(fusions[n]["scores"]["splits"][split], ability) for n in names]
            lines.append(f"| {ability} ({label}) | " + " | ".join(cells) + f" | {half} |")
    rows: list[tuple[str, Any]] = [
        ("**perception** (iid mean)", lambda s: f"{s['splits']['test_iid']['perception_score']:.3f}"),
        ("**cognition** (iid mean)", lambda s: f"{s['splits']['test_iid']['cognition_score']:.3f}"),
        ("MME perception / cognition (iid)", lambda s: "{:.0f} / {:.0f}".format(
            s["splits"]["test_iid"]["mme_perception_score"], s["splits"]["test_iid"]["mme_cognition_score"])),
        ("**iid** overall", lambda s: f"{s['splits']['test_iid']['accuracy_score']:.3f}"),
        ("**compositional** overall", lambda s: f"{s['splits']['test_comp']['accuracy_score']:.3f}"),
        ("compositional gap", lambda s: f"{s['compositional_gap']:+.3f}"),
    ]  # fmt: skip
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(fusions[n]["scores"]) for n in names) + " | |")
    times = " | ".join(f"{fusions[n]['train_seconds'] / 60:.1f} min" for n in names)
    lines.append(f"| training time | {times} | |")
    return "\n".join(lines) + f"\n\nTotal wall time: {results['total_seconds'] / 60:.1f} min."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_json", type=Path)
    args = parser.parse_args()
    print(tables(json.loads(args.results_json.read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
