"""Compare fusions: train each on the same data with the same seeds, score them side by side.

Every (fusion, seed) run trains a :class:`Predictor` from the same config with only
``model.fusion = {"type": fusion}`` and ``training.seed = seed`` changed, then is scored on
``data.test`` (or ``data.valid``). Effective robustness is MultiBench's (see
:mod:`polyfuse.evaluation.robustness`) against a baseline fusion run with the same seed (``late``
when compared, as in MultiBench, else the first fusion), and, with three fusions or more, also
Taori et al.'s regression form fitted across the fusions compared.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from polyfuse._threads import resolve_threads
from polyfuse.bundle import BundleError
from polyfuse.config.schema import Config, parse_config
from polyfuse.evaluation._data import load_eval_data
from polyfuse.evaluation.robustness import (
    DEFAULT_LEVELS,
    absence_robustness,
    effective_robustness_fit,
    noise_robustness,
    robustness_against,
)

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor

log = logging.getLogger("polyfuse")

SUMMARY_METRICS = (
    "accuracy_score",
    "macro_f1_score",
    "relative_robustness",
    "effective_robustness",
    "parameters",
    "training_seconds",
)
"""Columns of the side-by-side table (those a task does not have are left out)."""


def _mean_std(values: Sequence[float | None]) -> dict[str, float] | None:
    numbers = [float(v) for v in values if v is not None]
    if not numbers:
        return None
    return {
        "mean": float(np.mean(numbers)),
        "std": float(np.std(numbers, ddof=1)) if len(numbers) > 1 else 0.0,
    }


def _run(
    values: dict[str, Any],
    fusion: str,
    seed: int,
    out: Path,
    evaluate_on: str,
    robustness: bool,
    absence: bool,
    levels: Sequence[float],
    resume: bool = False,
) -> dict[str, Any]:
    from polyfuse.predictor import Predictor

    run_dir = out / f"{fusion}-seed{seed}"
    config = {
        **values,
        "model": {**values["model"], "fusion": {"type": fusion}},
        "data": {**values["data"], "test": None},
        "training": {**values["training"], "seed": seed, "output_dir": str(run_dir)},
    }
    predictor = (_saved_run(config, run_dir / "model") if resume else None) or Predictor(config=config).fit()
    evaluation = load_eval_data(predictor, evaluate_on)
    metrics = evaluation.metrics(evaluation.outputs())
    fitted = predictor.fitted
    return {
        "fusion": fusion,
        "seed": seed,
        "error": None,
        "primary_metric": fitted.model.task.primary_metric,
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None},
        "confusion_matrix": metrics.get("confusion_matrix"),
        "history": fitted.metrics.get("history", []),
        "parameters": sum(p.numel() for p in fitted.model.parameters()),
        "training_seconds": fitted.metrics["training"]["seconds"],
        "robustness": noise_robustness(predictor, evaluation, levels, seed=seed) if robustness else None,
        "absence": absence_robustness(predictor, evaluation) if absence else None,
        "bundle": str(predictor.save(run_dir / "model")),
    }


RUN_ONLY = ("output_dir", "progress", "tensorboard", "num_workers", "threads", "keep_checkpoints")
"""Training options that do not change what a run learns (ignored when matching a saved run)."""


def _saved_run(config: dict[str, Any], bundle: Path) -> Predictor | None:
    """The run's saved bundle when it was trained from this very config (for ``resume``), else None."""
    from polyfuse.predictor import Predictor

    if not (bundle / "manifest.json").is_file():
        return None
    try:
        predictor = Predictor.load(bundle)
    except (BundleError, OSError, ValueError, KeyError) as error:  # a broken bundle is retrained
        log.warning("compare: cannot reuse %s (%s); training again", bundle, error)
        return None
    wanted, saved = parse_config(config).model_dump(), predictor.config.model_dump()
    if wanted["model"]["task"]["type"] == "auto":  # saved bundles hold the task the label decided
        wanted["model"]["task"]["type"] = saved["model"]["task"]["type"]
    for values in (wanted, saved):
        values["training"] = {k: v for k, v in values["training"].items() if k not in RUN_ONLY}
    if wanted != saved:
        log.info("compare: %s was trained from another config; training again", bundle)
        return None
    log.info("compare: reusing the trained run in %s", bundle)
    return predictor


def _guarded(
    values: dict[str, Any],
    fusion: str,
    seed: int,
    out: Path,
    evaluate_on: str,
    robustness: bool,
    absence: bool,
    levels: Sequence[float],
    resume: bool = False,
) -> dict[str, Any]:
    """One run, its failure recorded instead of raised (one broken fusion must not sink the rest)."""
    log.info("compare: training %s with seed %d", fusion, seed)
    try:
        return _run(values, fusion, seed, out, evaluate_on, robustness, absence, levels, resume)
    except (ValueError, RuntimeError, OSError, KeyError, TypeError, IndexError) as error:
        log.warning("compare: %s (seed %d) failed: %s", fusion, seed, error)
        return {"fusion": fusion, "seed": seed, "error": f"{type(error).__name__}: {error}"}


def _worker_init(threads: int) -> None:
    """A compare worker process: its share of the CPU threads."""
    import torch

    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")


def compare_fusions(
    config: Config | dict[str, Any],
    fusions: Sequence[str],
    seeds: Sequence[int],
    output_dir: str | Path,
    *,
    robustness: bool = False,
    absence: bool = False,
    levels: Sequence[float] = DEFAULT_LEVELS,
    baseline: str | None = None,
    jobs: int = 1,
    resume: bool = False,
) -> dict[str, Any]:
    """Train and score every fusion with every seed; returns the ``compare.json`` content.

    A run that fails (a fusion that cannot be built for these inputs, say) is recorded with its
    error and left out of the summary; the others go on. With ``jobs > 1`` the runs go to that
    many worker processes, each with ``cpu_count // jobs`` torch threads (faster when the models
    use several threads poorly, and decoding, single-threaded, is spread); each run's result is
    the same as in one process with that many threads (CPU training is deterministic under its seed).
    With ``resume``, a run whose bundle is already saved in its folder from the same config (all
    but output and logging options) is scored from that bundle instead of trained again, so an
    interrupted comparison goes on where it stopped.
    """
    values = config.model_dump() if isinstance(config, Config) else dict(config)
    data = values["data"]
    evaluate_on = data.get("test") or data.get("valid")
    if not evaluate_on:
        raise ValueError("compare needs data.test (or data.valid) to score the fusions on the same rows")
    out = Path(output_dir)
    jobs_args = [
        (values, fusion, seed, out, evaluate_on, robustness, absence, tuple(levels), resume)
        for fusion in fusions
        for seed in seeds
    ]
    if jobs <= 1:
        runs = [_guarded(*a) for a in jobs_args]
    else:
        threads = resolve_threads(values["training"].get("threads"), jobs)
        values["training"] = {**values["training"], "threads": threads}
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, context, initializer=_worker_init, initargs=(threads,)) as pool:
            runs = list(pool.map(_guarded, *zip(*jobs_args, strict=True)))
    base = baseline or ("late" if "late" in fusions else fusions[0])
    if robustness:
        _effective(runs, base)
    summary = {f: _summarise([r for r in runs if r["fusion"] == f]) for f in fusions}
    fitted = None
    if robustness:
        named = [f for f in fusions if summary[f].get("relative_robustness")]
        residuals = (
            effective_robustness_fit(
                [summary[f]["accuracy_score"]["mean"] for f in named],
                [summary[f]["relative_robustness"]["mean"] for f in named],
            )
            if all(summary[f].get("accuracy_score") for f in named)
            else None
        )
        fitted = dict(zip(named, residuals, strict=True)) if residuals is not None else None
    primary = next((r["primary_metric"] for r in runs if not r["error"]), None)
    return {
        "metric": primary,
        "fusions": list(fusions),
        "seeds": list(seeds),
        "evaluated_on": str(evaluate_on),
        "levels": list(levels) if robustness else None,
        "baseline": base if robustness else None,
        "runs": runs,
        "summary": summary,
        "effective_robustness_fit": fitted,
    }


def _effective(runs: list[dict[str, Any]], baseline: str) -> None:
    """Set each run's MultiBench effective robustness against the baseline run of its seed."""
    by_seed = {r["seed"]: r for r in runs if r["fusion"] == baseline and not r["error"]}
    for run in runs:
        reference = by_seed.get(run["seed"])
        if run["error"] or reference is None:
            continue
        run["robustness"]["effective_robustness"] = robustness_against(
            run["robustness"], reference["robustness"]
        )


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if not r["error"]]
    summary: dict[str, Any] = {"runs": len(good), "errors": [r["error"] for r in runs if r["error"]]}
    if not good:
        return summary
    for key in good[0]["metrics"]:
        summary[key] = _mean_std([r["metrics"].get(key) for r in good])
    summary["parameters"] = _mean_std([r["parameters"] for r in good])
    summary["training_seconds"] = _mean_std([r["training_seconds"] for r in good])
    if good[0]["robustness"] is not None:
        summary["relative_robustness"] = _mean_std([r["robustness"]["relative_robustness"] for r in good])
        summary["effective_robustness"] = _mean_std([r["robustness"]["effective_robustness"] for r in good])
        summary["mean_scores"] = np.mean([r["robustness"]["mean_scores"] for r in good], axis=0).tolist()
    if good[0]["absence"] is not None:
        subsets = good[0]["absence"]["subsets"]
        summary["absence"] = [
            {
                "removed": s["removed"],
                "score": float(np.mean([r["absence"]["subsets"][i]["score"] for r in good])),
            }
            for i, s in enumerate(subsets)
        ]
        summary["inputs"] = good[0]["absence"]["inputs"]
    return summary


def format_compare_table(result: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the side-by-side table: ``mean ± std`` per fusion and metric."""
    summary = result["summary"]
    wanted = dict.fromkeys([result.get("metric") or SUMMARY_METRICS[0], *SUMMARY_METRICS])
    columns = [m for m in wanted if any(summary[f].get(m) for f in summary)]
    fitted = result.get("effective_robustness_fit")
    rows = []
    for fusion, entry in summary.items():
        cells: list[Any] = [fusion, entry["runs"]]
        for metric in columns:
            value = entry.get(metric)
            cells.append(None if value is None else _format_mean_std(metric, value))
        if fitted:
            cells.append(None if fitted.get(fusion) is None else f"{fitted[fusion]:.4f}")
        rows.append(cells)
    return ["fusion", "runs", *columns, *(["effective_robustness_fit"] if fitted else [])], rows


def _format_mean_std(metric: str, value: dict[str, float]) -> str:
    if metric == "parameters":
        return f"{value['mean']:,.0f}"
    if metric == "training_seconds":
        return f"{value['mean']:.1f} ± {value['std']:.1f}"
    return f"{value['mean']:.4f} ± {value['std']:.4f}"
