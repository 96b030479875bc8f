"""Modality contribution: ablation deltas and exact Shapley values over the model's inputs.

The value of a coalition ``S`` of inputs is the score of the trained model when only the inputs in
``S`` are present and the others are absent in every row (the model's own missing-modality path,
no retraining). Exact Shapley values (Shapley 1953; over features, Lundberg & Lee 2017,
https://arxiv.org/abs/1705.07874) average each input's marginal gain over all ``2^M`` coalitions:

    phi_i = sum_{S without i} |S|! (M - |S| - 1)! / M! * (v(S + i) - v(S))

They add up to ``v(all) - v(none)`` (efficiency) and an input the model ignores gets 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from polyfuse.evaluation._data import DataLike, EvalData, load_eval_data

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor

MAX_EXACT_INPUTS = 12
"""Most inputs exact Shapley values are computed for (2^12 = 4096 scoring passes)."""


def shapley_values(names: Sequence[str], value: Callable[[frozenset[str]], float]) -> dict[str, float]:
    """Exact Shapley values of the players ``names`` under the coalition ``value`` function."""
    players = list(names)
    m = len(players)
    if m > MAX_EXACT_INPUTS:
        raise ValueError(
            f"exact Shapley values over {m} inputs need 2^{m} passes; at most {MAX_EXACT_INPUTS}"
        )
    cache: dict[frozenset[str], float] = {}

    def v(coalition: frozenset[str]) -> float:
        if coalition not in cache:
            cache[coalition] = float(value(coalition))
        return cache[coalition]

    result = {}
    for player in players:
        others = [p for p in players if p != player]
        total = 0.0
        for size in range(m):
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for coalition in itertools.combinations(others, size):
                base = frozenset(coalition)
                total += weight * (v(base | {player}) - v(base))
        result[player] = total
    return result


def modality_contribution(
    predictor: Predictor, data: DataLike | EvalData, metric: str | None = None
) -> dict[str, Any]:
    """How much each input contributes to the score.

    Returns:
        ``{"metric", "full_score": v(all), "empty_score": v(none),
        "ablation": {input: v(all) - v(all without input)},
        "alone": {input: v({input}) - v(none)},
        "shapley": {input: exact Shapley value}}``; the Shapley values sum to
        ``full_score - empty_score``.
    """
    evaluation = load_eval_data(predictor, data)
    metric = metric or evaluation.primary_metric
    names = evaluation.input_names

    def value(coalition: frozenset[str]) -> float:
        return evaluation.subset_score(coalition, metric)

    everyone, nobody = frozenset(names), frozenset[str]()
    return {
        "metric": metric,
        "full_score": value(everyone),
        "empty_score": value(nobody),
        "ablation": {n: value(everyone) - value(everyone - {n}) for n in names},
        "alone": {n: value(frozenset({n})) - value(nobody) for n in names},
        "shapley": shapley_values(names, value),
    }
