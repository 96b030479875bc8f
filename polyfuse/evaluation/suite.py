"""Everything ``polyfuse evaluate`` can measure, on one decoded copy of the data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from polyfuse.evaluation._data import DataLike, load_eval_data
from polyfuse.evaluation.calibration import calibration_report
from polyfuse.evaluation.contribution import modality_contribution
from polyfuse.evaluation.efficiency import efficiency_report
from polyfuse.evaluation.robustness import (
    DEFAULT_LEVELS,
    absence_robustness,
    noise_robustness,
    robustness_against,
)

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor


def run_evaluation(
    predictor: Predictor,
    data: DataLike,
    *,
    robustness: bool = False,
    contribution: bool = False,
    calibration: bool = False,
    efficiency: bool = False,
    levels: Sequence[float] = DEFAULT_LEVELS,
    injectors: Sequence[str] | None = None,
    seed: int = 0,
    baseline: Predictor | None = None,
    base_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Task metrics plus the chosen analyses; the table is read and decoded once.

    ``robustness`` adds noise curves (``"robustness"``) and the absent-subset scores
    (``"absence"``); ``baseline`` (another trained predictor) adds effective robustness against it.
    The result is what :func:`polyfuse.evaluation.report.write_evaluation_report` draws.
    """
    evaluation = load_eval_data(predictor, data, base_dir)
    outputs = evaluation.outputs()
    metrics = evaluation.metrics(outputs)
    metrics.update({"rows": evaluation.rows, "bad_rows": evaluation.bad_rows})
    fitted = predictor.fitted
    results: dict[str, Any] = {
        "data": "(DataFrame)" if isinstance(data, pd.DataFrame) else str(data),
        "model": {
            "fusion": fitted.config.model.fusion.get("type") if fitted.model.fusion is not None else None,
            "head": getattr(getattr(fitted.task_config, "head", None), "type", None),
            "inputs": evaluation.input_names,
            "task": fitted.schema.task,
        },
        "metrics": metrics,
        "history": fitted.metrics.get("history", []),
    }
    if hasattr(predictor.fitted.model.task, "grouped"):  # text generation: best and worst examples
        from polyfuse.evaluation.gallery import generation_gallery

        results["gallery"] = generation_gallery(predictor, data, outputs, base_dir=base_dir)
    if robustness:
        results["robustness"] = noise_robustness(predictor, evaluation, levels, injectors, seed=seed)
        if baseline is not None:
            reference = noise_robustness(
                baseline, load_eval_data(baseline, data, base_dir), levels, injectors, seed=seed
            )
            results["robustness"]["effective_robustness"] = robustness_against(
                results["robustness"], reference
            )
            results["robustness"]["baseline_relative_robustness"] = reference["relative_robustness"]
        results["absence"] = absence_robustness(predictor, evaluation)
    if contribution:
        results["contribution"] = modality_contribution(predictor, evaluation)
    if calibration:
        results["calibration"] = calibration_report(predictor, evaluation)
    if efficiency:
        results["efficiency"] = efficiency_report(predictor, evaluation)
    return results
