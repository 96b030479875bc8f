"""Contract tests run over every registered task (a new task is tested the day it registers).

Each task is built from its config (defaults plus its fixture's options), the widths of a tiny
:class:`~polyfuse.model.Fused` record made here directly (no encoders), and its own target
processor from ``create_target``, fitted on the fixture's toy rows. A task declares how to make
those rows in :data:`FIXTURES`; a registered task without one fails every test below, so a new
task cannot go untested.

Legend: B batch.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from pydantic import ValidationError
from torch import Tensor

from polyfuse.data.batch import Batch
from polyfuse.data.targets import TargetProcessor
from polyfuse.metrics import higher_is_better
from polyfuse.model import Fused
from polyfuse.tasks import TASKS, ModelDims, Task, concat_outputs, create_task, list_tasks, parse_task_config

DIMS = {"image": 6, "text": 5}
NUM_TOKENS = {"image": 4, "text": 3}
FUSED_DIM = 7
BATCH = 6


@dataclass(frozen=True)
class TaskFixture:
    """How the contract suite makes a task's toy targets.

    Attributes:
        rows: ``rows(n)`` -> ``n`` table rows holding the target columns (the batch's targets are
            ``target.encode(target.value(row))``, collated); the same rows fit the target processor.
        options: task config options beyond the defaults.
        label: the ``data.label`` column the task is given.
    """

    rows: Callable[[int], list[dict[str, Any]]]
    options: dict[str, Any] = field(default_factory=dict)
    label: str | None = "label"
    covered_by: str | None = None
    """For a task whose steps read the batch's processed inputs (an autoencoder reconstructs them),
    which the synthetic record here does not hold: the test file that runs it end to end instead."""


def _cycle(values: list[Any]) -> Callable[[int], list[dict[str, Any]]]:
    """``n`` rows whose ``label`` cycles through ``values`` (every value seen when n >= len)."""
    return lambda n: [{"label": values[i % len(values)]} for i in range(n)]


FIXTURES: dict[str, TaskFixture] = {
    "binary": TaskFixture(_cycle(["no", "yes"])),
    "multiclass": TaskFixture(_cycle(["cat", "dog", "bird"])),
    "regression": TaskFixture(_cycle([1.5, -2.0, 0.25, 7.0])),
    "multilabel": TaskFixture(_cycle(["a|b", "", "c", "b"])),
    "retrieval": TaskFixture(
        lambda n: [{"image": f"img{i % 3}.png"} for i in range(n)],
        {"query": ["text"], "candidates": ["image"]},
        label=None,
    ),
    "image_generation": TaskFixture(
        lambda n: [{"label": _png(i % 3)} for i in range(n)],
        {"size": 8, "widths": [8, 16], "norm_groups": 4, "num_train_timesteps": 10, "sampling_steps": 2},
    ),
    "autoencoder": TaskFixture(
        lambda n: [{} for _ in range(n)], label=None, covered_by="tests/tasks/test_autoencoder.py"
    ),
    "generation": TaskFixture(
        _cycle(["a red cat sits", "two dogs run", "the bird sings a song"]),
        {"max_length": 12, "decoding": {"strategy": "greedy", "max_length": 6}},
    ),
}
"""Per registered task, how to make its toy targets (add one with every new task)."""


def _png(shade: int) -> bytes:
    """A tiny encoded grey image (image targets accept raw bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 60 + 80 * shade, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def fixture_of(name: str) -> TaskFixture:
    if name not in FIXTURES:
        pytest.fail(
            f"task {name!r} has no contract fixture: add one to FIXTURES in tests/contracts/test_tasks.py"
        )
    fixture = FIXTURES[name]
    if fixture.covered_by is not None:
        assert Path(__file__).parents[2].joinpath(fixture.covered_by).is_file(), fixture.covered_by
        pytest.skip(f"task {name!r} reads processed inputs; run end to end in {fixture.covered_by}")
    return fixture


def make_fused(batch: int, fused: bool, seed: int = 0) -> Fused:
    """Every input present, with padding in its tokens; (x, y) positions for ``image``."""
    gen = torch.Generator().manual_seed(seed)
    pooled, tokens, masks = {}, {}, {}
    for name, dim in DIMS.items():
        pooled[name] = torch.randn(batch, dim, generator=gen)
        tokens[name] = torch.randn(batch, NUM_TOKENS[name], dim, generator=gen)  # (B, T, D)
        lengths = torch.randint(1, NUM_TOKENS[name] + 1, (batch,), generator=gen)
        masks[name] = torch.arange(NUM_TOKENS[name]) < lengths.unsqueeze(1)  # (B, T)
    positions = {"image": torch.rand(batch, NUM_TOKENS["image"], 2, generator=gen) * 2 - 1}
    present = {name: torch.ones(batch, dtype=torch.bool) for name in DIMS}
    vector = torch.randn(batch, FUSED_DIM, generator=gen) if fused else None
    return Fused(vector, pooled, tokens, masks, positions, present)


@dataclass
class Case:
    """A built task with its fitted target processor and toy rows."""

    task: Task
    target: TargetProcessor | None
    rows: list[dict[str, Any]]

    def batch(self, start: int, size: int) -> tuple[Fused, Batch]:
        """The fused record and batch of rows ``start .. start + size``."""
        rows = self.rows[start : start + size]
        target = None
        if self.target is not None:
            target = self.target.collate([self.target.encode(self.target.value(r)) for r in rows])
        fused = make_fused(size, self.task.dims.fused_dim is not None, seed=start)
        return fused, Batch({}, fused.present, target, torch.arange(start, start + size))


def build(name: str, seed: int = 0) -> Case:
    fixture = fixture_of(name)
    config = parse_task_config({"type": name, **fixture.options})
    cls = TASKS.get(name).cls
    target = cls.create_target(config, cls.target_columns(config, fixture.label), "|")
    rows = fixture.rows(2 * BATCH)
    if target is not None:
        target.fit([target.value(r) for r in rows])
    torch.manual_seed(seed)
    dims = ModelDims(FUSED_DIM if cls.needs_fusion(config) else None, dict(DIMS))
    return Case(create_task(config, dims, target), target, rows)


def rows_of(value: Any) -> list[int]:
    """The leading size of every tensor / list in a (nested) step output."""
    if isinstance(value, Tensor):
        return [value.shape[0]]
    if isinstance(value, dict):
        return [n for v in value.values() for n in rows_of(v)]
    if isinstance(value, list | tuple):
        return [len(value)]
    return []


@pytest.mark.parametrize("name", list_tasks())
def test_every_task_has_a_contract_fixture(name: str) -> None:
    fixture_of(name)


@pytest.mark.parametrize("name", list_tasks())
def test_training_step_gives_finite_named_scalars_that_reach_every_parameter(name: str) -> None:
    case = build(name)
    fused, batch = case.batch(0, BATCH)
    terms = case.task.train().training_step(fused, batch)
    assert isinstance(terms, dict) and terms, f"{name}: no loss terms"
    for term, value in terms.items():
        assert isinstance(value, Tensor) and value.ndim == 0, f"{name}: {term} is not a scalar tensor"
        assert torch.isfinite(value), f"{name}: {term} is not finite"
    torch.stack([t.float() for t in terms.values()]).sum().backward()
    for param_name, param in case.task.named_parameters():
        if param.requires_grad:
            assert param.grad is not None, f"{name}: {param_name} got no gradient"
            assert torch.isfinite(param.grad).all(), f"{name}: {param_name} has a non-finite gradient"


@pytest.mark.parametrize("name", list_tasks())
def test_predict_step_gives_one_row_per_input_row(name: str) -> None:
    case = build(name)
    with torch.no_grad():
        outputs = case.task.eval().predict_step(*case.batch(0, BATCH))
    assert isinstance(outputs, dict) and outputs
    assert set(rows_of(outputs)) == {BATCH}, f"{name}: step outputs of {rows_of(outputs)} rows"


@pytest.mark.parametrize("name", list_tasks())
def test_metrics_of_concatenated_validation_steps(name: str) -> None:
    case = build(name)
    case.task.eval()
    with torch.no_grad():
        steps = [case.task.validation_step(*case.batch(start, BATCH // 2)) for start in (0, BATCH // 2)]
    outputs = concat_outputs(steps)
    assert set(rows_of(outputs)) == {BATCH}
    metrics = case.task.metrics(outputs)
    primary = case.task.primary_metric
    higher_is_better(primary)  # raises unless *_score, *_loss or *_error
    assert primary in metrics, f"{name}: primary metric {primary!r} not in {sorted(metrics)}"
    assert isinstance(metrics[primary], float | int) and math.isfinite(metrics[primary])
    json.dumps(metrics)  # metrics are written to JSON reports


@pytest.mark.parametrize("name", list_tasks())
def test_to_frame_gives_one_row_per_input_row_prediction_first(name: str) -> None:
    case = build(name)
    case.task.eval()
    with torch.no_grad():
        outputs = concat_outputs([case.task.predict_step(*case.batch(start, 3)) for start in (0, 3)])
    for proba in (False, True):
        frame = case.task.to_frame(outputs, proba=proba)
        assert isinstance(frame, pd.DataFrame) and len(frame) == BATCH
        assert frame.columns[0] == "prediction", f"{name}: columns {list(frame.columns)}"


@pytest.mark.parametrize("name", list_tasks())
def test_target_state_round_trips_through_json(name: str) -> None:
    case = build(name)
    if case.target is None:
        pytest.skip(f"task {name!r} has no targets")
    cls = TASKS.get(name).cls
    fresh = cls.create_target(case.task.config, case.target.columns, "|")
    assert fresh is not None
    fresh.set_state(json.loads(json.dumps(case.target.get_state())))
    for row in case.rows:
        before, after = case.target.encode(case.target.value(row)), fresh.encode(fresh.value(row))
        assert torch.equal(before, after) if isinstance(before, Tensor) else before == after


@pytest.mark.parametrize("name", list_tasks())
def test_config_is_strict_and_described(name: str) -> None:
    entry = TASKS.get(name)
    for field_name, info in entry.config_cls.model_fields.items():
        assert field_name == "type" or info.description, f"{name}: field {field_name!r} has no description"
    with pytest.raises(ValidationError, match="no_such_option"):
        parse_task_config({"type": name, "no_such_option": 1})
    assert entry.description, f"{name}: no description for polyfuse list"
