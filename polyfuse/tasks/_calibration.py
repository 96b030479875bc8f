"""Calibration of class probabilities: expected calibration error, reliability diagrams, temperature scaling.

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
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from torch import nn

NUM_BINS = 15
"""Confidence bins of the ECE and the reliability diagram."""

TEMPERATURE_RANGE = (0.05, 20.0)
"""The fitted temperature is clipped to this range."""

MIN_TEMPERATURE_ROWS = 50
"""Fewest validation rows a temperature is fitted on (fewer leave T = 1: too noisy to trust; 41
rows once gave a temperature that made test NLL worse)."""


def _bins(confidence: Tensor, num_bins: int) -> Tensor:
    """Bin index of each confidence: bin ``b`` holds ``(b / num_bins, (b + 1) / num_bins]``."""
    return (torch.ceil(confidence * num_bins).long() - 1).clamp(0, num_bins - 1)


def reliability_diagram(probs: Tensor, target: Tensor, num_bins: int = NUM_BINS) -> dict[str, Any]:
    """Per-bin mean confidence, accuracy and row count of ``probs (N, K)`` against ``target (N,)``.

    Empty bins have ``None`` confidence and accuracy.
    """
    confidence, predicted = probs.float().max(dim=1)  # (N,)
    correct = (predicted == target).float()
    index = _bins(confidence, num_bins)
    counts = torch.bincount(index, minlength=num_bins)
    conf_sum = torch.bincount(index, weights=confidence, minlength=num_bins)
    correct_sum = torch.bincount(index, weights=correct, minlength=num_bins)
    nonzero = counts.clamp_min(1)
    return {
        "edges": [b / num_bins for b in range(num_bins + 1)],
        "confidence": [float(c) if n else None for c, n in zip(conf_sum / nonzero, counts, strict=True)],
        "accuracy": [float(a) if n else None for a, n in zip(correct_sum / nonzero, counts, strict=True)],
        "count": [int(n) for n in counts],
    }


def expected_calibration_error(probs: Tensor, target: Tensor, num_bins: int = NUM_BINS) -> float:
    """ECE of class probabilities ``probs (N, K)`` against integer ``target (N,)``, 15 bins."""
    confidence, predicted = probs.float().max(dim=1)
    correct = (predicted == target).float()
    index = _bins(confidence, num_bins)
    gap = torch.bincount(index, weights=correct - confidence, minlength=num_bins)  # per-bin sums
    return float(gap.abs().sum() / max(len(target), 1))


def fit_temperature_to_logits(logits: Tensor, target: Tensor, max_iter: int = 100) -> float:
    """The temperature ``T`` minimising the NLL of ``softmax(logits / T)`` (L-BFGS on ``log T``)."""
    logits, target = logits.detach().double().cpu(), target.detach().cpu()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), target)
        loss.backward()
        return loss

    optimizer.step(closure)
    low, high = TEMPERATURE_RANGE
    value = float(log_t.detach().exp())
    return min(max(value, low), high) if value == value else 1.0  # NaN -> no scaling


def summary(logits: Tensor, target: Tensor, temperature: float) -> dict[str, float]:
    probs = torch.softmax(logits.float() / temperature, dim=1)
    return {
        "ece": expected_calibration_error(probs, target),
        "nll": float(F.cross_entropy(logits.float() / temperature, target)),
    }


def _cross_fitted_nll(logits: Tensor, target: Tensor) -> tuple[float, float]:
    """Held-out NLL without and with a temperature, two-fold: T fitted on each half, scored on the other."""
    order = torch.randperm(len(target), generator=torch.Generator().manual_seed(0))
    folds = [order[0::2], order[1::2]]
    before = after = 0.0
    for fit, held in (folds, folds[::-1]):
        temperature = fit_temperature_to_logits(logits[fit], target[fit])
        before += summary(logits[held], target[held], 1.0)["nll"] * len(held)
        after += summary(logits[held], target[held], temperature)["nll"] * len(held)
    return before / len(target), after / len(target)


def fit_temperature(
    task: nn.Module, logits: Tensor, target: Tensor, min_rows: int = MIN_TEMPERATURE_ROWS
) -> dict[str, Any] | None:
    """Fit ``task.temperature`` on validation logits ``(N, K)`` and targets ``(N,)``, if it helps.

    A temperature is kept only when the validation split can support it: at least ``min_rows``
    rows, and two-fold cross-fitting (fit on one half, score the other) shows a lower held-out NLL
    than no scaling; otherwise the temperature stays 1 and the record says why (``"skipped"``).

    Returns ``{"temperature", "rows", "cross_fitted_nll_before", "cross_fitted_nll_after", "kept",
    "ece_before", "ece_after", "nll_before", "nll_after"}`` for ``metrics["calibration"]``.
    """
    buffer = getattr(task, "temperature", None)
    if not isinstance(buffer, Tensor) or target is None or target.dim() != 1 or not len(target):
        return None
    buffer.fill_(1.0)
    rows = len(target)
    if rows < min_rows:
        return {
            "temperature": 1.0,
            "rows": rows,
            "kept": False,
            "skipped": f"only {rows} validation rows (temperature scaling needs {min_rows})",
        }
    held_before, held_after = _cross_fitted_nll(logits, target)
    record: dict[str, Any] = {
        "rows": rows,
        "cross_fitted_nll_before": held_before,
        "cross_fitted_nll_after": held_after,
    }
    if not held_after < held_before:
        return {
            **record,
            "temperature": 1.0,
            "kept": False,
            "skipped": f"a temperature did not lower held-out NLL in two-fold cross-fitting"
            f" ({held_before:.4f} -> {held_after:.4f})",
        }
    temperature = fit_temperature_to_logits(logits, target)
    buffer.fill_(temperature)
    before, after = summary(logits, target, 1.0), summary(logits, target, temperature)
    return {
        **record,
        "temperature": temperature,
        "kept": True,
        "ece_before": before["ece"],
        "ece_after": after["ece"],
        "nll_before": before["nll"],
        "nll_after": after["nll"],
    }
