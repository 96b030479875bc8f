"""Robustness: scores under noise of increasing level, and with modalities absent.

Relative and effective robustness follow MultiBench (Liang et al. 2021, "MultiBench: Multiscale
Benchmarks for Multimodal Representation Learning", NeurIPS Datasets and Benchmarks,
https://arxiv.org/abs/2107.07502, section 3 and its ``eval_scripts/robustness.py``):

- **relative robustness** is the area under the score-vs-noise-level curve. MultiBench integrates
  with the trapezoid rule over levels 0, 0.1, ..., 1; we divide the area by the span of the levels
  so that the number is in score units (a mean score over the levels) whatever levels are used;
  over [0, 1] the two are equal.
- **effective robustness** measures how fast the score drops *beyond what the clean score
  explains*: MultiBench subtracts the curve of a baseline model (late fusion) shifted to the same
  clean score, ``f(l) - (b(l) - b(0) + f(0))``, and sums over levels; we take the same normalised
  trapezoid area, which works out to ``RR(f) - RR(b) - (f(0) - b(0))``. Positive: degrades more
  slowly than the baseline. MultiBench also min-max normalises over the methods of a leaderboard;
  we report raw values.

Across many models, :func:`effective_robustness_fit` gives the regression form of Taori et al.
2020 ("Measuring Robustness to Natural Distribution Shifts in Image Classification",
https://arxiv.org/abs/2007.00644): a model's relative robustness minus the value a least-squares
line of clean score -> relative robustness, fitted over the models compared, predicts for it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from polyfuse.data.batch import Batch
from polyfuse.data.dataset import InputSpec
from polyfuse.evaluation._data import DataLike, EvalData, load_eval_data
from polyfuse.evaluation.noise import create_injector, list_injectors

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor

DEFAULT_LEVELS = tuple(round(0.1 * i, 1) for i in range(10))
"""Noise levels 0, 0.1, ..., 0.9."""


def relative_robustness(levels: Sequence[float], scores: Sequence[float]) -> float:
    """Trapezoid area under ``scores`` over ``levels`` divided by the levels' span (MultiBench)."""
    x, y = np.asarray(levels, dtype=float), np.asarray(scores, dtype=float)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError("levels and scores must be non-empty and of equal length")
    if len(x) == 1 or x[-1] == x[0]:
        return float(y.mean())
    area = float(np.sum((y[1:] + y[:-1]) * np.diff(x) / 2.0))
    return area / float(x[-1] - x[0])


def effective_robustness(
    levels: Sequence[float], scores: Sequence[float], baseline: Sequence[float]
) -> float:
    """MultiBench effective robustness of ``scores`` against a ``baseline`` curve at the same levels.

    The normalised area of ``scores(l) - (baseline(l) - baseline(0) + scores(0))``; ``levels[0]``
    must be the clean level.
    """
    if len(baseline) != len(scores):
        raise ValueError("scores and baseline must be measured at the same levels")
    shifted = np.asarray(baseline, dtype=float) - baseline[0] + scores[0]
    return relative_robustness(levels, (np.asarray(scores, dtype=float) - shifted).tolist())


def effective_robustness_fit(clean: Sequence[float], relative: Sequence[float]) -> list[float] | None:
    """Taori-style effective robustness of several models: residuals of a line clean -> relative.

    Returns ``None`` with fewer than 3 models (two points fit any line exactly).
    """
    x, y = np.asarray(clean, dtype=float), np.asarray(relative, dtype=float)
    if len(x) < 3:
        return None
    slope, intercept = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, float(y.mean()))
    return [float(v) for v in y - (slope * x + intercept)]


def _with_noise(batch: Batch, name: str, injector: Any, level: float, generator: torch.Generator) -> Batch:
    inputs = dict(batch.inputs)
    inputs[name] = injector(batch.inputs[name], level, generator)
    return Batch(inputs, batch.present, batch.target, batch.index)


def _selected(spec: InputSpec, injectors: Sequence[str] | None) -> list[str]:
    """The injectors that apply to ``spec``'s processor, narrowed to ``injectors`` when given."""
    available = list_injectors(spec.modality, spec.processor)
    if injectors is None:
        return available
    return [key for key in available if key in injectors or key.split("/", 1)[1] in injectors]


def noise_robustness(
    predictor: Predictor,
    data: DataLike | EvalData,
    levels: Sequence[float] = DEFAULT_LEVELS,
    injectors: Sequence[str] | None = None,
    metric: str | None = None,
    seed: int = 0,
    baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score curves with each registered injector applied to each input, one input at a time.

    Args:
        predictor: a trained predictor.
        data: a labelled table (path or DataFrame) or an :class:`EvalData` already decoded.
        levels: noise levels in [0, 1]; the first should be 0 (clean).
        injectors: keys (``image/blur``) or bare names (``blur``) to use; default all registered.
        metric: the score (default: the task's primary metric).
        seed: each (input, injector, level) pass gets a fresh generator seeded from ``seed`` and
            the level's position, so results are reproducible.
        baseline: another model's result of this function, for effective robustness.

    Returns:
        ``{"metric", "levels", "clean_score", "curves": [{"input", "modality", "injector",
        "scores", "relative_robustness"}], "inputs": {input: {"scores", "relative_robustness"}},
        "mean_scores", "relative_robustness", "effective_robustness"}``.
    """
    evaluation = load_eval_data(predictor, data)
    metric = metric or evaluation.primary_metric
    clean = evaluation.score(metric=metric)
    curves = []
    for spec in sorted(evaluation.fitted.inputs, key=lambda s: s.name):
        for key in _selected(spec, injectors):
            injector = create_injector(spec.modality, key, spec.processor)
            scores = []
            for i, level in enumerate(levels):
                if level == 0:
                    scores.append(clean)
                    continue
                generator = torch.Generator().manual_seed(seed * 1_000_003 + i)

                def transform(
                    b: Batch,
                    n: str = spec.name,
                    inj: Any = injector,
                    lv: float = level,
                    g: torch.Generator = generator,
                ) -> Batch:
                    return _with_noise(b, n, inj, lv, g)

                scores.append(evaluation.score(transform, metric))
            curves.append(
                {
                    "input": spec.name,
                    "modality": spec.modality,
                    "injector": key,
                    "scores": scores,
                    "relative_robustness": relative_robustness(levels, scores),
                }
            )
    result = _summarise(list(levels), metric, clean, curves)
    result["effective_robustness"] = robustness_against(result, baseline) if baseline is not None else None
    return result


def _summarise(
    levels: list[float], metric: str, clean: float, curves: list[dict[str, Any]]
) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for name in dict.fromkeys(c["input"] for c in curves):
        scores = np.mean([c["scores"] for c in curves if c["input"] == name], axis=0).tolist()
        inputs[name] = {"scores": scores, "relative_robustness": relative_robustness(levels, scores)}
    mean = np.mean([c["scores"] for c in curves], axis=0).tolist() if curves else [clean] * len(levels)
    return {
        "metric": metric,
        "levels": levels,
        "clean_score": clean,
        "curves": curves,
        "inputs": inputs,
        "mean_scores": mean,
        "relative_robustness": relative_robustness(levels, mean),
    }


def robustness_against(result: dict[str, Any], baseline: dict[str, Any]) -> float:
    """Effective robustness of a :func:`noise_robustness` result against a baseline model's result,
    averaged over the (input, injector) curves both have."""
    if list(result["levels"]) != list(baseline["levels"]):
        raise ValueError("the baseline was measured at other noise levels")
    base = {(c["input"], c["injector"]): c["scores"] for c in baseline["curves"]}
    values = [
        effective_robustness(result["levels"], c["scores"], base[(c["input"], c["injector"])])
        for c in result["curves"]
        if (c["input"], c["injector"]) in base
    ]
    if not values:
        raise ValueError("the baseline has no noise curve in common with this model")
    return float(np.mean(values))


def absence_robustness(
    predictor: Predictor, data: DataLike | EvalData, metric: str | None = None
) -> dict[str, Any]:
    """The score with every subset of inputs removed (absent in every row), 2^M passes.

    Returns ``{"metric", "inputs", "subsets": [{"removed": [...], "score"}]}``, ordered by the
    number of inputs removed (the first is the full model, the last has every input absent).
    """
    evaluation = load_eval_data(predictor, data)
    metric = metric or evaluation.primary_metric
    names = evaluation.input_names
    subsets = []
    for size in range(len(names) + 1):
        for removed in itertools.combinations(names, size):
            present = [n for n in names if n not in removed]
            subsets.append({"removed": list(removed), "score": evaluation.subset_score(present, metric)})
    return {"metric": metric, "inputs": names, "subsets": subsets}
