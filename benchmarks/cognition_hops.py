"""Where a trained ``hops`` model looks on relational questions, per kind: which object each hop takes.

    python benchmarks/cognition_hops.py RUN_DIR/bundles/hops RUN_DIR/data [--rows 2000]

For the first ``--rows`` relational questions of the iid test, the argmax of hop 1's weights is
compared with the cell of the object the question names, and each hop-2 head's argmax with the
cell of the object the answer is about (the closest or furthest other object; blank for count
questions) and with the empty cells (objects sit one to a cell of the generator's 4 x 4 grid, the
``image/cells`` tokens' layout). Prints a markdown table per kind: how often hop 1 is on the
named object, on an empty cell, and how often any hop-2 head is on the answer's object, on an
empty cell (mean over heads), with the share answered right. A model that stalls on some kind
shows here where it looks instead.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from cognition_probe import relation_kind

from polyfuse.bench.cognition.hops import HopsFusion
from polyfuse.bench.cognition.scene import COLOURS, GRID
from polyfuse.bench.cognition.score import is_correct
from polyfuse.predictor import Predictor


def cell(item: dict[str, Any]) -> int:
    """The row-major grid cell of an object of ``scenes.jsonl`` (x, y from 0 to 1)."""
    return min(int(item["y"] * GRID), GRID - 1) * GRID + min(int(item["x"] * GRID), GRID - 1)


def looks(bundle: Path, data: Path, rows: int) -> pd.DataFrame:
    """One row per relational question: its kind and where each hop looked (see the module)."""
    table = pd.read_csv(data / "table.csv", dtype=str, keep_default_na=False)
    table = table[(table["split"] == "test_iid") & (table["ability"] == "relation")].head(rows)
    with open(data / "scenes.jsonl", encoding="utf-8") as f:
        scenes = {int(s["scene_id"]): s for s in map(json.loads, f)}
    predictor = Predictor.load(bundle)
    fusion = predictor.fitted.model.fusion
    if not isinstance(fusion, HopsFusion):
        raise SystemExit(f"{bundle} is not a hops model (its fusion: {type(fusion).__name__})")
    weights: list[tuple[torch.Tensor, torch.Tensor]] = []
    fusion.register_forward_hook(
        lambda module, args, _: weights.append(
            tuple(w.detach() for w in module.attend(*args)[2:5:2])  # type: ignore[arg-type]
        )
    )
    predicted = predictor.predict(table[["image", "question", "audio"]], base_dir=data)["prediction"]
    first = torch.cat([w[0] for w in weights]).numpy()  # (N, T)
    second = torch.cat([w[1] for w in weights]).numpy()  # (N, T, H)
    out = []
    for i, (row, guess) in enumerate(zip(table.itertuples(), predicted, strict=True)):
        objects = scenes[int(row.scene_id)]["objects"]
        named = next(c for c in COLOURS if re.search(rf"\b{c}\b", row.question.lower()))
        subject = next(o for o in objects if o["colour"] == named)
        others = [o for o in objects if o is not subject]
        distances = [(o["x"] - subject["x"]) ** 2 + (o["y"] - subject["y"]) ** 2 for o in others]
        kind = relation_kind(row.question)
        target = others[int(np.argmin(distances) if kind.startswith("closest") else np.argmax(distances))]
        occupied = {cell(o) for o in objects}
        heads = second[i].argmax(0).tolist()  # (H,)
        out.append(
            {
                "kind": kind,
                "hop 1 on the named object": int(first[i].argmax()) == cell(subject),
                "hop 1 on an empty cell": int(first[i].argmax()) not in occupied,
                "a hop-2 head on the answer's object": (
                    float(cell(target) in heads) if kind != "count" else float("nan")
                ),
                "hop-2 heads on empty cells": float(np.mean([h not in occupied for h in heads])),
                "right": is_correct(row.answer, guess),
            }
        )
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="a saved hops bundle (RUN_DIR/bundles/hops)")
    parser.add_argument("data", type=Path, help="the generated set it was trained on (RUN_DIR/data)")
    parser.add_argument("--rows", type=int, default=2000, help="relational iid questions to look at")
    args = parser.parse_args()
    table = looks(args.bundle, args.data, args.rows).groupby("kind").mean()
    print("| kind | " + " | ".join(table.columns) + " |\n|" + "---|" * (len(table.columns) + 1))
    for kind, values in table.iterrows():
        print(f"| {kind} | " + " | ".join("" if np.isnan(v) else f"{v:.3f}" for v in values) + " |")


if __name__ == "__main__":
    main()
