"""Calibration reports: ECE, NLL and reliability diagrams of a bundle on a table (the measures and
the temperature fit live in :mod:`polyfuse.tasks._calibration`).

Legend: N rows, K classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from polyfuse.evaluation._data import DataLike, EvalData, load_eval_data
from polyfuse.tasks._calibration import NUM_BINS, reliability_diagram, summary

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor


def calibration_report(predictor: Predictor, data: DataLike | EvalData) -> dict[str, Any] | None:
    """ECE, NLL and reliability diagrams with the bundle's temperature and without (T = 1).

    Returns ``None`` for tasks without a temperature (regression, multi-label).
    """
    evaluation = load_eval_data(predictor, data)
    task = evaluation.fitted.model.task
    buffer = getattr(task, "temperature", None)
    if (
        not isinstance(buffer, Tensor)
        or not isinstance(evaluation.target, Tensor)
        or evaluation.target.dim() != 1
    ):
        return None
    logits, target = evaluation.outputs()["logits"], evaluation.target
    temperature = float(buffer)
    scaled, raw = summary(logits, target, temperature), summary(logits, target, 1.0)
    return {
        "temperature": temperature,
        "ece": scaled["ece"],
        "nll": scaled["nll"],
        "ece_uncalibrated": raw["ece"],
        "nll_uncalibrated": raw["nll"],
        "num_bins": NUM_BINS,
        "reliability": reliability_diagram(torch.softmax(logits / temperature, dim=1), target),
        "reliability_uncalibrated": reliability_diagram(torch.softmax(logits, dim=1), target),
        "fitted_on_validation": predictor.fitted.metrics.get("calibration"),
    }
