"""``polyfuse compare CONFIG --fusions concat,gated|all --seeds 3``: train several fusions on the same
data and seeds; write compare.json, a mean ± std table (compare.txt) and compare.html."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from polyfuse.cli._common import (
    CliError,
    add_threads_argument,
    format_table,
    user_errors,
    write_output_text,
)
from polyfuse.cli.evaluate import parse_levels


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("compare", help="train several fusions with the same data and seeds, side by side")
    p.add_argument("config", help="YAML config (data.test, or data.valid, is the table scored)")
    p.add_argument("--fusions", default="all", help="comma-separated fusion names, or 'all'")
    p.add_argument(
        "--seeds",
        default="3",
        help="a count N (seeds training.seed .. training.seed + N - 1) or a list '0,1,2'",
    )
    p.add_argument("--out", help="output folder (default: TRAINING.OUTPUT_DIR/compare)")
    p.add_argument("--robustness", action="store_true", help="noise robustness per run")
    p.add_argument("--absence", action="store_true", help="scores with every subset of inputs removed")
    p.add_argument("--levels", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", help="noise levels")
    p.add_argument(
        "--baseline", help="fusion for effective robustness (default: late if compared, else the first)"
    )
    p.add_argument("--epochs", type=int, help="override training.epochs")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs trained at once in worker processes, each with cpu_count // jobs threads",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="score runs already trained in --out from the same config instead of training them again",
    )
    add_threads_argument(p)
    p.set_defaults(run=run)


def parse_seeds(text: str, base: int) -> list[int]:
    """``"3"`` -> ``[base, base + 1, base + 2]``; ``"0,5"`` -> ``[0, 5]``."""
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        count = int(text)
    except ValueError:
        raise CliError(f"--seeds must be a count or a comma-separated list, got {text!r}") from None
    if count < 1:
        raise CliError("--seeds must be at least 1")
    return list(range(base, base + count))


def parse_fusions(text: str) -> list[str]:
    """``"all"`` -> every registered fusion and model shape (late, hybrid); else the listed names,
    checked against them."""
    from polyfuse.config.schema import fusion_choices

    known = fusion_choices()
    if text.strip() == "all":
        return known
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise CliError(f"unknown fusion(s) {unknown}; valid fusions: {', '.join(known)}")
    return names


def run(args: argparse.Namespace) -> int:
    """Train every fusion with every seed, print the table, write the JSON, table and report."""
    from polyfuse.config import load_config
    from polyfuse.evaluation.compare import compare_fusions, format_compare_table
    from polyfuse.evaluation.report import write_compare_report

    fusions = parse_fusions(args.fusions)
    with user_errors():
        config = load_config(args.config)
        values = config.model_dump()
        if args.epochs:
            values["training"]["epochs"] = args.epochs
        if args.threads:  # per run (per worker with --jobs)
            values["training"]["threads"] = args.threads
        values["training"]["progress"] = False
        seeds = parse_seeds(args.seeds, config.training.seed)
        out = Path(args.out or Path(config.training.output_dir) / "compare")
        result = compare_fusions(
            values,
            fusions,
            seeds,
            out,
            robustness=args.robustness,
            absence=args.absence,
            levels=parse_levels(args.levels),
            baseline=args.baseline,
            jobs=args.jobs,
            resume=args.resume,
        )
    out.mkdir(parents=True, exist_ok=True)
    write_output_text(out / "compare.json", json.dumps(result, indent=2))
    header, rows = format_compare_table(result)
    text = format_table(rows, header)
    failed = [f"{r['fusion']} (seed {r['seed']}): {r['error']}" for r in result["runs"] if r.get("error")]
    if failed:
        text += "\n\nfailed runs:\n" + "\n".join(f"  {line}" for line in failed)
    write_output_text(out / "compare.txt", text + "\n")
    report = write_compare_report(out / "compare.html", result, (header, rows), result["metric"] or "score")
    print(text)
    print(f"\nwritten: {out / 'compare.json'}, {out / 'compare.txt'}, {report}")
    return 0 if len(failed) < len(result["runs"]) else 2
