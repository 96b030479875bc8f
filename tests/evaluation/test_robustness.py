"""Relative / effective robustness (MultiBench definitions) and the noise and absence passes."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from polyfuse import Predictor
from polyfuse.evaluation import (
    absence_robustness,
    effective_robustness,
    effective_robustness_fit,
    load_eval_data,
    noise_robustness,
    relative_robustness,
)

LEVELS = [0.0, 0.5, 0.9]


def test_relative_robustness_is_the_normalised_trapezoid_area() -> None:
    assert relative_robustness([0, 0.5, 1], [0.8, 0.8, 0.8]) == pytest.approx(0.8)
    # straight line from 1 to 0 over [0, 1]: area 0.5 (MultiBench's area over [0, 1] exactly)
    assert relative_robustness([0.0, 0.25, 0.5, 0.75, 1.0], [1, 0.75, 0.5, 0.25, 0]) == pytest.approx(0.5)
    # the same line over [0, 0.9] is normalised by the span: still the mean height
    assert relative_robustness([0, 0.9], [1.0, 0.1]) == pytest.approx(0.55)
    # uneven levels weigh by the interval: (0.9 + 0.7) / 2 * 0.1 + (0.7 + 0.1) / 2 * 0.8 over 0.9
    assert relative_robustness([0, 0.1, 0.9], [0.9, 0.7, 0.1]) == pytest.approx((0.08 + 0.32) / 0.9)


def test_effective_robustness_compares_drops_after_equalising_clean_scores() -> None:
    levels = [0, 0.5, 1.0]
    baseline = [0.9, 0.7, 0.5]
    assert effective_robustness(levels, [0.6, 0.4, 0.2], baseline) == pytest.approx(0.0)  # same drop
    assert effective_robustness(levels, [0.6, 0.6, 0.6], baseline) == pytest.approx(0.2)  # no drop
    assert effective_robustness(levels, [0.9, 0.5, 0.1], baseline) == pytest.approx(-0.2)  # twice the drop
    # equals RR(f) - RR(b) - (f(0) - b(0))
    f = [0.8, 0.75, 0.3]
    expected = relative_robustness(levels, f) - relative_robustness(levels, baseline) - (0.8 - 0.9)
    assert effective_robustness(levels, f, baseline) == pytest.approx(expected)


def test_effective_robustness_fit_returns_residuals_of_a_line() -> None:
    assert effective_robustness_fit([0.5, 0.6], [0.4, 0.5]) is None  # two points fit exactly
    residuals = effective_robustness_fit([0.5, 0.6, 0.7, 0.8], [0.4, 0.5, 0.6, 0.9])
    assert residuals is not None and sum(residuals) == pytest.approx(0.0, abs=1e-12)
    assert residuals[3] == max(residuals) > 0  # the model above the trend line


def test_noise_robustness_of_a_trained_model(trained: Any) -> None:
    predictor = Predictor.load(trained.bundle)
    table = trained.data_dir / "table.csv"
    data = load_eval_data(predictor, table)
    result = noise_robustness(predictor, data, LEVELS, injectors=["blur", "typos", "tabular/missing"], seed=1)
    clean = predictor.evaluate(table)["accuracy_score"]
    assert result["metric"] == "accuracy_score" and result["clean_score"] == pytest.approx(clean)
    assert {(c["input"], c["injector"]) for c in result["curves"]} == {
        ("photo", "image/blur"), ("description", "text/typos"), ("tabular", "tabular/missing"),
    }  # fmt: skip
    for curve in result["curves"]:
        assert len(curve["scores"]) == len(LEVELS) and curve["scores"][0] == pytest.approx(clean)
        assert curve["relative_robustness"] == pytest.approx(relative_robustness(LEVELS, curve["scores"]))
    assert result["relative_robustness"] == pytest.approx(relative_robustness(LEVELS, result["mean_scores"]))
    again = noise_robustness(predictor, data, LEVELS, injectors=["blur", "typos", "tabular/missing"], seed=1)
    assert again["curves"] == result["curves"]  # reproducible under the seed
    against_itself = noise_robustness(predictor, data, LEVELS, injectors=["blur"], seed=1, baseline=again)
    assert against_itself["effective_robustness"] == pytest.approx(0.0)


def test_absence_covers_every_subset(trained: Any) -> None:
    predictor = Predictor.load(trained.bundle)
    table = trained.data_dir / "table.csv"
    result = absence_robustness(predictor, table)
    names = ["description", "photo", "sound", "tabular"]
    assert result["inputs"] == names and len(result["subsets"]) == 2 ** len(names)
    assert result["subsets"][0] == {
        "removed": [],
        "score": pytest.approx(predictor.evaluate(table)["accuracy_score"]),
    }
    assert result["subsets"][-1]["removed"] == names
    assert len({tuple(s["removed"]) for s in result["subsets"]}) == 16
    # removing a column through the model's absent path equals emptying that column in the table
    frame = pd.read_csv(table, keep_default_na=False)
    frame["photo"] = ""
    emptied = predictor.evaluate(frame, base_dir=trained.data_dir)["accuracy_score"]
    assert next(s["score"] for s in result["subsets"] if s["removed"] == ["photo"]) == pytest.approx(emptied)
