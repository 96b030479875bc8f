"""Calibration reports: ECE, NLL and reliability diagrams of a bundle on a table (the measures and
the temperature fit live in :mod:`polyfuse.tasks._calibration`).

- **ECE** (Naeini et al. 2015; Guo et al. 2017, "On Calibration of Modern Neural Networks",
  https://arxiv.org/abs/1706.04599): rows are put in 15 equal-width bins of confidence (the top
  class probability, bin ``b`` holding ``((b-1)/15, b/15]``);
  ``ECE = sum_b n_b / N * |accuracy_b - confidence_b|``.
- **Temperature scaling** (Guo et al. 2017): one scalar ``T > 0`` divides the logits,
  ``softmax(z / T)``; it is fitted on validation logits by minimising the negative log-likelihood
  with L-BFGS over ``log T`` (so T stays positive). It leaves the predicted class unchanged. The
  fitted T is the ``temperature`` buffer of the classification task, so it is saved in
  ``model.safetensors`` and every probability the bundle gives (``predict_proba``, ``evaluate``)
  uses it.

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
