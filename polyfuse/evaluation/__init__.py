"""Evaluation: robustness (noise + absent modalities), contribution, calibration,
efficiency, fusion comparison and the HTML report.

The names below are loaded on first use, so importing this package costs nothing until an analysis
runs. The metric functions live in :mod:`polyfuse.metrics`, the calibration measures in
:mod:`polyfuse.tasks._calibration`.
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
    "expected_calibration_error": "polyfuse.tasks._calibration",
    "reliability_diagram": "polyfuse.tasks._calibration",
    "fit_temperature": "polyfuse.tasks._calibration",
    "fit_temperature_to_logits": "polyfuse.tasks._calibration",
    "efficiency_report": "efficiency",
    "JudgeFeatures": "generation",
    "conditional_accuracy": "generation",
    "fid_kid": "generation",
    "nearest_training_distance": "generation",
    "linear_probe_score": "generation",
    "compare_fusions": "compare",
    "run_evaluation": "suite",
    "write_report": "report",
    "write_evaluation_report": "report",
    "write_compare_report": "report",
    "write_autoencoder_report": "polyfuse.evaluation.report.autoencoder",
    "write_image_generation_report": "polyfuse.evaluation.report.image_generation",
    "latent_scatter": "polyfuse.evaluation.report.latent",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _EXPORTS[name]
    return getattr(importlib.import_module(module if "." in module else f"{__name__}.{module}"), name)
