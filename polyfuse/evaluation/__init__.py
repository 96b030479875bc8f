"""Evaluation: metrics, robustness (noise + absent modalities), contribution, calibration,
efficiency, fusion comparison and the HTML report.

The names below are loaded on first use (the task modules import :mod:`.metrics` while the
analyses import the model and the training pipeline, so eager imports here would be circular).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EvalData": "_data",
    "load_eval_data": "_data",
    "DEFAULT_LEVELS": "robustness",
    "noise_robustness": "robustness",
    "absence_robustness": "robustness",
    "relative_robustness": "robustness",
    "effective_robustness": "robustness",
    "effective_robustness_fit": "robustness",
    "modality_contribution": "contribution",
    "shapley_values": "contribution",
    "calibration_report": "calibration",
    "expected_calibration_error": "calibration",
    "reliability_diagram": "calibration",
    "fit_temperature": "calibration",
    "fit_temperature_to_logits": "calibration",
    "efficiency_report": "efficiency",
    "compare_fusions": "compare",
    "run_evaluation": "suite",
    "write_report": "report",
    "write_evaluation_report": "report",
    "write_compare_report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
