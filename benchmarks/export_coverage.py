"""Which models export to ONNX: one tiny model per encoder, fusion, head and task (the others at the
demo defaults), each trained for one epoch, exported, and checked by ``export_onnx`` itself
(onnxruntime against torch at batch sizes 1 and 5 and three text/audio lengths).

    python benchmarks/export_coverage.py [--out export_coverage.json]

Prints a markdown table: component, result (the exporter that passed, or why none did), seconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

BASE: dict[str, Any] = {
    "data": {
        "label": "label",
        "processors": {
            "image": {"size": 16},
            "audio": {"sample_rate": 8000, "max_seconds": 0.5, "n_mels": 32},
            "text": {"vocab_size": 200, "max_length": 16},
        },
    },
    "model": {
        "encoders": {
            "text": {"type": "bag", "embed_dim": 16},
            "image": {"type": "cnn", "widths": [8, 16]},
            "audio": {"type": "cnn", "widths": [8, 16]},
            "tabular": {"hidden_dims": [16]},
        },
    },
    "training": {"epochs": 1, "batch_size": 16, "progress": False, "tensorboard": False, "num_workers": 0},
}
SMALL = {"hidden_dim": 16, "num_heads": 2, "num_layers": 1}
CASES: list[tuple[str, dict[str, Any]]] = [
    *[
        (f"text/{t}", {"model": {"encoders": {"text": {"type": t, "embed_dim": 16}}}})
        for t in ("bigru", "lstm", "cnn")
    ],
    (
        "text/transformer",
        {
            "model": {
                "encoders": {
                    "text": {"type": "transformer", "embed_dim": 16, "num_heads": 2, "num_layers": 1}
                }
            }
        },
    ),
    ("image/resnet", {"model": {"encoders": {"image": {"type": "resnet"}}}}),
    ("image/cells", {"model": {"encoders": {"image": {"type": "cells"}}}}),
    *[
        (f"fusion {f}", {"model": {"fusion": {"type": f}}})
        for f in ("sum", "product", "weighted", "attention", "gated", "tensor", "lowrank", "mfb", "relation")
    ],
    *[(f"fusion {f}", {"model": {"fusion": {"type": f, **SMALL}}}) for f in ("early", "mult")],
    ("fusion film", {"model": {"fusion": {"type": "film", "hidden_dim": 16}}}),
    ("fusion hops", {"model": {"fusion": {"type": "hops", "hidden_dim": 16}}}),
    *[(f"head {h}", {"model": {"task": {"type": "auto", "head": {"type": h}}}}) for h in ("late", "hybrid")],
    ("task binary", {"label": "binary"}),
    ("task regression", {"label": "weight"}),
    ("task multilabel", {"label": "tags"}),
]


def merge(base: dict[str, Any], extra: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """``extra`` over ``base``: sections merged, a component (an encoder, the fusion, the task) replaced."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        nested = isinstance(value, dict) and depth < 2 and key not in ("task", "fusion")
        out[key] = merge(out.get(key, {}), value, depth + 1) if nested else value
    return out


def run_case(name: str, extra: dict[str, Any], data: Path, work: Path) -> dict[str, Any]:
    from polyfuse import Predictor
    from polyfuse.serving.export import ExportError, export_onnx

    label = extra.pop("label", "label")
    config = merge(BASE, extra)
    config["data"]["label"] = label
    config["training"]["output_dir"] = str(work / "run")
    started = time.perf_counter()
    try:
        predictor = Predictor(config=config).fit(data)
    except Exception as error:  # a component that does not train on this table: say so
        return {"case": name, "result": f"training failed: {type(error).__name__}: {str(error)[:120]}"}
    try:
        export_onnx(predictor, work / "onnx")
        exporter = json.loads((work / "onnx" / "preprocessing.json").read_text())["exporter"]
        result = f"exports ({exporter})"
    except ExportError as error:
        result = f"does not export: {str(error)[:300]}"
    return {"case": name, "result": result, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--only", default=None, help="comma-separated case names")
    args = parser.parse_args()
    import torch

    from polyfuse.bench.synthetic import make_demo_table

    torch.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory(prefix="export-coverage-") as tmp:
        frame = make_demo_table(Path(tmp) / "data", n_rows=60, image_size=16, empty=0.0)
        frame["binary"] = (frame["label"] == "alpha").map({True: "yes", False: "no"})
        frame["tags"] = frame["label"] + "|" + frame["region"]
        for name, extra in CASES:
            if args.only and name not in args.only.split(","):
                continue
            label = extra.get("label", "label")
            drop = [c for c in ("label", "binary", "tags") if c != label]
            table = Path(tmp) / "data" / f"{label}.csv"
            frame.drop(columns=drop).to_csv(table, index=False)
            result = run_case(
                name, copy.deepcopy(extra), table, Path(tmp) / name.replace(" ", "_").replace("/", "_")
            )
            results.append(result)
            print(json.dumps(result), flush=True)
    print("\n| component | ONNX export | seconds |\n|---|---|---|")
    for r in results:
        print(f"| {r['case']} | {r['result']} | {r.get('seconds', '-')} |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
