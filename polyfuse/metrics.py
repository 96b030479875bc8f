"""Metrics per task, computed with torchmetrics (imported when a metric is computed, not when this
module is: it pulls in transformers and matplotlib). Names end in ``_score`` (higher is better) or
``_loss`` / ``_error`` (lower is better), so selection and reports need no lookup table."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor


def higher_is_better(metric: str) -> bool:
    """True for ``*_score``, False for ``*_loss`` / ``*_error``; raises for other names."""
    if metric.endswith("_score"):
        return True
    if metric.endswith(("_loss", "_error")):
        return False
    raise ValueError(f"metric {metric!r} must end in _score, _loss or _error")


def _finite(value: Tensor) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def classification_metrics(probs: Tensor, target: Tensor, classes: Sequence[str]) -> dict[str, Any]:
    """Scores of class probabilities ``probs (N, K)`` against integer ``target (N,)``."""
    import torchmetrics.functional.classification as C

    k = len(classes)
    preds = probs.argmax(dim=1)
    eps = 1e-12
    log_loss = -torch.log(probs[torch.arange(len(target)), target].clamp_min(eps)).mean()
    per_p = C.multiclass_precision(preds, target, k, average="none", zero_division=0)
    per_r = C.multiclass_recall(preds, target, k, average="none", zero_division=0)
    per_f = C.multiclass_f1_score(preds, target, k, average="none", zero_division=0)
    support = torch.bincount(target, minlength=k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if k == 2:
            auc = C.binary_auroc(probs[:, 1], target) if support.min() > 0 else torch.tensor(math.nan)
        else:
            present = support > 0
            auc = C.multiclass_auroc(probs, target, k, average="none")[present].mean()
    return {
        "accuracy_score": float((preds == target).float().mean()),
        "macro_f1_score": float(per_f[support > 0].mean()),
        "macro_precision_score": float(per_p[support > 0].mean()),
        "macro_recall_score": float(per_r[support > 0].mean()),
        "roc_auc_score": _finite(auc),
        "log_loss": float(log_loss),
        "per_class": {
            name: {
                "precision_score": float(per_p[i]),
                "recall_score": float(per_r[i]),
                "f1_score": float(per_f[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": C.multiclass_confusion_matrix(preds, target, k).tolist(),
    }


def regression_metrics(pred: Tensor, target: Tensor) -> dict[str, Any]:
    """MAE, RMSE and R² of ``pred (N,)`` against ``target (N,)``."""
    import torchmetrics.functional.regression as R

    return {
        "mean_absolute_error": float(R.mean_absolute_error(pred, target)),
        "root_mean_squared_error": float(R.mean_squared_error(pred, target, squared=False)),
        "r2_score": _finite(R.r2_score(pred, target)) if len(target) > 1 else None,
    }


def multilabel_metrics(probs: Tensor, target: Tensor, classes: Sequence[str]) -> dict[str, Any]:
    """Micro/macro F1 at 0.5 and mean average precision of ``probs (N, L)`` vs 0/1 ``target``."""
    import torchmetrics.functional.classification as C

    labels = target.long()
    n = len(classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ap = C.multilabel_average_precision(probs, labels, n, average="none")
    per_f = C.multilabel_f1_score(probs, labels, n, average="none", zero_division=0)
    has_positive = labels.sum(0) > 0
    return {
        "micro_f1_score": float(C.multilabel_f1_score(probs, labels, n, average="micro", zero_division=0)),
        "macro_f1_score": float(per_f[has_positive].mean()) if has_positive.any() else None,
        "mean_average_precision_score": _finite(ap[has_positive].nanmean()) if has_positive.any() else None,
        "exact_match_score": float(((probs >= 0.5).long() == labels).all(1).float().mean()),
        "per_class": {
            name: {"f1_score": float(per_f[i]), "support": int(labels[:, i].sum())}
            for i, name in enumerate(classes)
        },
    }
