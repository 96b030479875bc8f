"""Temperature scaling is kept only when it lowers held-out NLL (two-fold cross-fitting) on enough
validation rows; the record and the model card say what was done."""

from __future__ import annotations

import pytest
import torch

from polyfuse.tasks._calibration import MIN_TEMPERATURE_ROWS, fit_temperature


class Task(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("temperature", torch.ones(()))


def sample(rows: int, scale: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits whose softmax at T = 1 is calibrated, multiplied by ``scale`` (>1: overconfident)."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, 3, generator=gen)
    target = torch.multinomial(torch.softmax(logits, 1), 1, generator=gen).squeeze(1)
    return logits * scale, target


def test_an_overconfident_model_keeps_a_temperature_above_one() -> None:
    task = Task()
    record = fit_temperature(task, *sample(400, scale=4.0))
    assert record is not None and record["kept"] is True
    assert record["cross_fitted_nll_after"] < record["cross_fitted_nll_before"]
    assert 2.5 < record["temperature"] < 6.0
    assert float(task.temperature) == pytest.approx(record["temperature"])


def test_a_temperature_that_does_not_help_held_out_rows_is_not_kept() -> None:
    task = Task()
    task.temperature.fill_(3.0)  # a previous fit must not survive
    kept = [fit_temperature(task, *sample(60, scale=1.0, seed=s)) for s in range(6)]
    refused = [r for r in kept if r is not None and not r["kept"]]
    assert refused, "calibrated logits never refused a temperature"
    for record in refused:
        assert record["temperature"] == 1.0 and "cross-fitting" in record["skipped"]
        assert record["cross_fitted_nll_after"] >= record["cross_fitted_nll_before"]


def test_too_few_rows_leave_the_temperature_at_one() -> None:
    task = Task()
    record = fit_temperature(task, *sample(MIN_TEMPERATURE_ROWS - 1, scale=4.0))
    assert record == {
        "temperature": 1.0,
        "rows": MIN_TEMPERATURE_ROWS - 1,
        "kept": False,
        "skipped": f"only {MIN_TEMPERATURE_ROWS - 1} validation rows (temperature scaling needs 50)",
    }
    assert float(task.temperature) == 1.0
