"""ECE, reliability diagram, temperature scaling, and the temperature travelling in the bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from polyfuse import Predictor
from polyfuse.data.dataset import encode_rows
from polyfuse.data.tables import read_table
from polyfuse.evaluation import (
    calibration_report,
    expected_calibration_error,
    fit_temperature,
    fit_temperature_to_logits,
    reliability_diagram,
)
from polyfuse.inference import run_steps


def _calibrated(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary probabilities whose confidence is exactly the chance of being right."""
    confidence = 0.5 + 0.5 * torch.rand(n, generator=generator)  # (N,) in [0.5, 1)
    predicted = (torch.rand(n, generator=generator) < 0.5).long()
    right = torch.rand(n, generator=generator) < confidence
    target = torch.where(right, predicted, 1 - predicted)
    probs = torch.stack([confidence, 1 - confidence], dim=1)
    probs = torch.where(predicted.unsqueeze(1) == 0, probs, probs.flip(1))
    return probs, target


def test_ece_is_about_zero_when_calibrated_and_large_when_overconfident() -> None:
    generator = torch.Generator().manual_seed(0)
    probs, target = _calibrated(40_000, generator)
    assert expected_calibration_error(probs, target) < 0.01
    # 99 % confident, right 60 % of the time: ECE = 0.39
    over = torch.tensor([[0.99, 0.01]]).repeat(1000, 1)
    target = (torch.arange(1000) >= 600).long()
    assert expected_calibration_error(over, target) == pytest.approx(0.39, abs=1e-5)


def test_reliability_diagram_bins() -> None:
    probs, target = _calibrated(5000, torch.Generator().manual_seed(1))
    diagram = reliability_diagram(probs, target)
    assert len(diagram["edges"]) == 16 and sum(diagram["count"]) == 5000
    assert diagram["count"][:7] == [0] * 7 and diagram["accuracy"][0] is None  # confidence >= 0.5
    filled = [
        (c, a) for c, a in zip(diagram["confidence"], diagram["accuracy"], strict=True) if c is not None
    ]
    assert all(abs(c - a) < 0.06 for c, a in filled)


def test_temperature_scaling_lowers_the_nll_of_overconfident_logits() -> None:
    generator = torch.Generator().manual_seed(2)
    logits = 2.0 * torch.randn(3000, 4, generator=generator)  # calibrated: labels drawn from them
    target = torch.multinomial(torch.softmax(logits, 1), 1, generator=generator).squeeze(1)
    overconfident = 4.0 * logits
    temperature = fit_temperature_to_logits(overconfident, target)
    assert temperature == pytest.approx(4.0, rel=0.15)  # undoes the sharpening
    before = F.cross_entropy(overconfident, target)
    after = F.cross_entropy(overconfident / temperature, target)
    assert after < before - 0.1
    ece_before = expected_calibration_error(torch.softmax(overconfident, 1), target)
    ece_after = expected_calibration_error(torch.softmax(overconfident / temperature, 1), target)
    assert ece_after < 0.05 < ece_before
    assert fit_temperature_to_logits(logits / 3.0, target) < 1.0  # under-confident: T < 1


def test_temperature_round_trips_through_the_bundle(trained: Any, tmp_path: Path) -> None:
    predictor = Predictor.load(trained.bundle)
    task = predictor.fitted.model.task
    assert float(task.temperature) == 1.0  # 6 validation rows: too few to fit, left at 1
    assert "skipped" in predictor.fitted.metrics["calibration"]
    table = trained.data_dir / "table.csv"
    plain = predictor.predict_proba(table)
    task.temperature.fill_(3.0)
    loaded = Predictor.load(predictor.save(tmp_path / "hot"))
    assert float(loaded.fitted.model.task.temperature) == pytest.approx(3.0)
    scaled = loaded.predict_proba(table)
    columns = [c for c in plain.columns if c.startswith("proba_")]
    assert (scaled["prediction"] == plain["prediction"]).all()  # the class never changes
    p1, p3 = plain[columns].to_numpy(), scaled[columns].to_numpy()
    assert not np.allclose(p1, p3)
    expected = torch.softmax(torch.log(torch.tensor(p1)) / 3.0, dim=1).numpy()  # softmax(z/3)
    assert np.allclose(p3, expected, atol=1e-5)
    report = calibration_report(loaded, table)
    assert report is not None and report["temperature"] == pytest.approx(3.0)
    assert report["nll"] != pytest.approx(report["nll_uncalibrated"])


def test_bundles_without_a_temperature_load_with_t_one(trained: Any) -> None:
    model = Predictor.load(trained.bundle).fitted.model
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("task.temperature")}
    model.task.temperature.fill_(2.0)
    model.load_state_dict(state)  # as a bundle written before temperature scaling
    assert float(model.task.temperature) == 1.0


def test_fit_temperature_on_encoded_rows(trained: Any) -> None:
    predictor = Predictor.load(trained.bundle)
    fitted = predictor.fitted
    table = read_table(trained.data_dir / "table.csv")
    encoded = encode_rows(table, fitted.inputs, fitted.target)
    outputs = run_steps(fitted, encoded, 64, validate=True)
    record = fit_temperature(fitted.model.task, outputs["logits"], outputs["target"])
    assert record is not None and record["rows"] == 60 and "skipped" not in record
    assert float(fitted.model.task.temperature) == pytest.approx(record["temperature"])
    assert record["nll_after"] <= record["nll_before"] + 1e-6
