"""Train one fusion on a generated set under several seeds: the run-to-run spread, per question kind.

    polyfuse bench cognition run --preset anchors --fusions hops --out DIR   # or generate a set
    python benchmarks/cognition_seeds.py DIR/data --fusion hops --seeds 0,1 --out SEEDS

Only the training seed changes (initial weights, batch order, dropout); the data are the set
given. Each seed trains with the preset's options (``--preset``, default ``anchors``) as ``run``
does and is scored on the iid test; relational questions are split into closest / furthest (asking
a shape or a colour) and count as ``cognition_kinds.py`` does. Prints a markdown table, one row per
seed and the mean with its standard deviation, and writes ``SEEDS/seeds.jsonl``. Seeds run one
after another; to use two cores for two seeds, start two processes with ``--threads 1``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from cognition_kinds import graded_rows

from polyfuse.bench.cognition.run import RunOptions, fit_fusion


def kinds_of(fusion: str, data: Path, out: Path, options: RunOptions) -> dict[str, float]:
    """Train ``fusion`` with ``options`` and return its iid accuracy per kind (and ``relation``)."""
    predictor, _ = fit_fusion(fusion, data, out, options)
    rows = graded_rows(predictor, data)
    kinds = {str(k): float(v.mean()) for k, v in rows.groupby("kind")["right"]}
    kinds["relation"] = float(rows.loc[rows["ability"] == "relation", "right"].mean())
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a generated set (RUN_DIR/data)")
    parser.add_argument("--fusion", default="hops")
    parser.add_argument("--seeds", default="0,1", help="training seeds, comma-separated")
    parser.add_argument("--preset", default="anchors")
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--threads", type=int, default=None, help="default: the preset's")
    parser.add_argument("--out", type=Path, required=True, help="where the runs and seeds.jsonl go")
    args = parser.parse_args()
    import torch

    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        options = RunOptions.preset(args.preset, seed=seed, epochs=args.epochs, threads=args.threads)
        if options.threads is not None:
            torch.set_num_threads(options.threads)
        kinds = kinds_of(args.fusion, args.data, args.out / f"seed{seed}", options)
        results.append({"seed": seed, "fusion": args.fusion, **kinds})
        with open(args.out / "seeds.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(results[-1]) + "\n")
    columns = [c for c in results[0] if c not in ("seed", "fusion")]
    print("| seed | " + " | ".join(columns) + " |\n|" + "---|" * (len(columns) + 1))
    for r in results:
        print(f"| {r['seed']} | " + " | ".join(f"{r[c]:.3f}" for c in columns) + " |")
    if len(results) > 1:
        cells = [
            f"{statistics.mean(r[c] for r in results):.3f} ± {statistics.stdev(r[c] for r in results):.3f}"
            for c in columns
        ]
        print("| mean ± sd | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
