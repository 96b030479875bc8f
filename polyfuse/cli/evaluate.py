"""``polyfuse evaluate BUNDLE DATA``: score a bundle on a labelled table, optionally with robustness,
modality contribution, calibration and efficiency analyses and an HTML report."""

from __future__ import annotations

import argparse
import json
from typing import Any

from polyfuse.cli._common import (
    CliError,
    add_threads_argument,
    format_metrics,
    format_table,
    load_predictor,
    user_errors,
)


def parse_levels(text: str) -> list[float]:
    """``"0,0.3,0.6"`` -> ``[0.0, 0.3, 0.6]``, each in [0, 1]."""
    try:
        levels = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CliError(f"--levels must be comma-separated numbers, got {text!r}") from None
    if not levels or any(not 0.0 <= level <= 1.0 for level in levels):
        raise CliError(f"--levels must be numbers in [0, 1], got {text!r}")
    return levels


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("evaluate", help="score a bundle on a labelled table (and analyse it)")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("data", help="CSV, Parquet or JSONL table with the label column")
    p.add_argument("--json", dest="json_out", help="write the metrics (and analyses) as JSON here")
    p.add_argument("--chunk-rows", type=int, default=4096, help="rows read at a time (metrics only)")
    p.add_argument(
        "--robustness",
        action="store_true",
        help="score under noise per input and injector, and with every subset of inputs absent",
    )
    p.add_argument(
        "--contribution",
        action="store_true",
        help="modality contribution: ablation deltas and exact Shapley values",
    )
    p.add_argument(
        "--calibration",
        action="store_true",
        help="expected calibration error and reliability diagram (bundle temperature vs T = 1)",
    )
    p.add_argument(
        "--efficiency",
        action="store_true",
        help="parameters, training time, latency per row, throughput, peak memory",
    )
    p.add_argument("--report", help="write a self-contained HTML report here")
    p.add_argument(
        "--levels",
        default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9",
        help="noise levels for --robustness (comma-separated, in [0, 1])",
    )
    p.add_argument("--injectors", help="only these injectors (comma-separated, e.g. blur,typos)")
    p.add_argument("--baseline", help="another bundle: effective robustness against it")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (off anyway without a TTY)")
    p.add_argument(
        "--zero-shot-labels", metavar="COL", help="retrieval bundles: classify by COL's class names"
    )
    p.add_argument("--zero-shot-template", default="{}", help="class-name sentence, e.g. 'a photo of a {}'")
    p.add_argument(
        "--color-by",
        metavar="COL",
        help="autoencoder bundles: colour the --report's latent scatter by this column's values",
    )
    add_threads_argument(p)
    p.set_defaults(run=run)


def _analyses(args: argparse.Namespace) -> bool:
    return bool(args.robustness or args.contribution or args.calibration or args.efficiency or args.report)


def _task_report_only(args: argparse.Namespace) -> bool:
    return not (args.robustness or args.contribution or args.calibration or args.efficiency)


def _has_task_report(predictor: Any) -> bool:
    """Retrieval, autoencoder and image-generation bundles get a report of their own."""
    return bool(predictor.fitted.task_config.type in TASK_REPORTS)


def run(args: argparse.Namespace) -> int:
    """Print the metrics (and analyses); optionally write JSON and the HTML report."""
    from polyfuse._io import atomic_write_text, preflight_output
    from polyfuse._progress import progress_enabled
    from polyfuse._threads import apply_threads
    from polyfuse.data.checks import check_prediction_columns
    from polyfuse.data.tables import read_columns

    with user_errors():
        for path in (args.json_out, args.report):
            if path:
                preflight_output(path, kind="file")  # before the work, not after it
        predictor = load_predictor(args.bundle)
        if args.threads:
            predictor.config.training.threads = args.threads
            apply_threads(args.threads)
        if not args.zero_shot_labels:  # zero-shot reads the candidate side only
            check_prediction_columns(read_columns(args.data), predictor.fitted.input_columns, str(args.data))
        if args.color_by:
            _check_color_by(args, predictor.fitted.task_config.type, read_columns(args.data))
        progress = progress_enabled(not args.no_progress)
        if args.zero_shot_labels:
            from polyfuse.retrieval.zero_shot import zero_shot_classify

            metrics = zero_shot_classify(
                predictor.fitted, args.data, args.zero_shot_labels, args.zero_shot_template
            )
            results: dict[str, Any] = {"metrics": metrics}
        elif not _analyses(args) or (_task_report_only(args) and _has_task_report(predictor)):
            results = {
                "metrics": predictor.evaluate(args.data, chunk_rows=args.chunk_rows, progress=progress)
            }
        else:
            from polyfuse.evaluation.suite import run_evaluation

            results = run_evaluation(
                predictor,
                args.data,
                robustness=args.robustness,
                contribution=args.contribution,
                calibration=args.calibration,
                efficiency=args.efficiency,
                levels=parse_levels(args.levels),
                injectors=args.injectors.split(",") if args.injectors else None,
                seed=args.seed,
                baseline=load_predictor(args.baseline) if args.baseline else None,
            )
        if args.report and _has_task_report(predictor) and not args.zero_shot_labels:
            print(f"report written to {_task_report(args, predictor, results['metrics'])}")
            args.report = None  # the analyses (if any) are printed and in --json-out
    print(format_metrics(results["metrics"]))
    _print_analyses(results)
    if args.json_out:
        atomic_write_text(
            args.json_out, json.dumps(results if _analyses(args) else results["metrics"], indent=2)
        )
        print(f"\nresults written to {args.json_out}")
    if args.report:
        from polyfuse.evaluation.report import write_evaluation_report

        print(f"report written to {write_evaluation_report(args.report, results)}")
    return 0


TASK_REPORTS = ("retrieval", "autoencoder", "image_generation")
"""Tasks whose ``--report`` is their own page (not the classification report's sections)."""


def _check_color_by(args: argparse.Namespace, task: str, columns: list[str]) -> None:
    """``--color-by`` needs an autoencoder, ``--report`` and a column of the table (checked early)."""
    from polyfuse.evaluation.report.autoencoder import check_color_by

    if task != "autoencoder" or not args.report:
        raise CliError(
            f"--color-by colours the latent scatter of an autoencoder's --report; this bundle's task is"
            f" {task!r}{'' if args.report else ' and no --report was asked for'}"
        )
    check_color_by(columns, args.color_by, str(args.data))


def _task_report(args: argparse.Namespace, predictor: Any, metrics: dict[str, Any]) -> Any:
    """Write the report of a retrieval, autoencoder or image-generation bundle; returns its path."""
    task = predictor.fitted.task_config.type
    if task == "retrieval":
        from polyfuse.evaluation.report.retrieval import write_retrieval_report

        return write_retrieval_report(args.report, predictor.fitted, args.data)
    if task == "autoencoder":
        from polyfuse.evaluation.report.autoencoder import write_autoencoder_report

        return write_autoencoder_report(args.report, predictor, args.data, metrics, args.color_by)
    from polyfuse.evaluation.report.image_generation import write_image_generation_report

    return write_image_generation_report(args.report, predictor, args.data, metrics)


def _print_analyses(results: dict[str, Any]) -> None:
    robustness = results.get("robustness")
    if robustness:
        rows = [
            [c["input"], c["injector"], c["scores"][-1], c["relative_robustness"]]
            for c in robustness["curves"]
        ]
        print(f"\nrobustness ({robustness['metric']}; relative = mean over levels {robustness['levels']})")
        print(format_table(rows, ["input", "injector", "at max level", "relative"]))
        effective = robustness.get("effective_robustness")
        print(
            f"relative robustness {robustness['relative_robustness']:.4f}"
            + ("" if effective is None else f", effective robustness {effective:.4f}")
        )
    absence = results.get("absence")
    if absence:
        rows = [[" + ".join(s["removed"]) or "(none)", s["score"]] for s in absence["subsets"]]
        print("\nwith inputs removed\n" + format_table(rows, ["removed", absence["metric"]]))
    contribution = results.get("contribution")
    if contribution:
        rows = [
            [n, contribution["shapley"][n], contribution["ablation"][n], contribution["alone"][n]]
            for n in contribution["shapley"]
        ]
        print("\nmodality contribution\n" + format_table(rows, ["input", "shapley", "drop-one", "alone"]))
    calibration = results.get("calibration")
    if calibration:
        print(
            f"\ncalibration: temperature {calibration['temperature']:.3f}, ECE {calibration['ece']:.4f}"
            f" (at T = 1: {calibration['ece_uncalibrated']:.4f}), NLL {calibration['nll']:.4f}"
            f" (at T = 1: {calibration['nll_uncalibrated']:.4f})"
        )
    efficiency = results.get("efficiency")
    if efficiency:
        print("\nefficiency\n" + format_table([[k, v] for k, v in efficiency.items()], ["measure", "value"]))
