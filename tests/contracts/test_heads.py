"""Contract tests run over every registered prediction head (``mlp``, ``late``, ``hybrid``, ...) and
every value of a ``combine`` option, plus the older config spelling of late and hybrid fusion.

Fixture: a :class:`~polyfuse.model.Fused` record of three inputs whose absent rows hold NaN in
their pooled vectors and tokens (a head must ignore them); the fused vector is always finite (a
fusion's output). Heads that do not read the fused vector are given none.
"""

from __future__ import annotations

import itertools
import math
import typing
from typing import Any

import pytest
import torch
from pydantic import ValidationError
from torch import Tensor

from polyfuse.builder import build_model
from polyfuse.config.schema import parse_config
from polyfuse.data.batch import Batch
from polyfuse.data.dataset import InputSpec
from polyfuse.data.processors.tabular import TabularProcessor
from polyfuse.model import Fused, MultimodalModel
from polyfuse.tasks import ModelDims, parse_task_config, task_class
from polyfuse.tasks.heads import HEADS, Head, create_head, list_heads, parse_head_config

DIMS = {"audio": 6, "image": 8, "text": 5}
NUM_TOKENS = {"audio": 1, "image": 3, "text": 2}
FUSED_DIM = 7
NUM_OUTPUTS = 3
BATCH = 8
ABSENT_SUBSETS = [set(s) for k in (1, 2, 3) for s in itertools.combinations(sorted(DIMS), k)]
MIXED = [set(), set(), *ABSENT_SUBSETS, set()]
"""A batch with fully present rows and one row per absent subset (all three included)."""


def _cases() -> list[Any]:
    """Each head with its defaults, and once per value of a ``Literal`` ``combine`` option."""
    cases = []
    for name in list_heads():
        cases.append(pytest.param(name, {}, id=name))
        combine = HEADS.get(name).config_cls.model_fields.get("combine")
        for value in typing.get_args(combine.annotation) if combine is not None else ():
            cases.append(pytest.param(name, {"combine": value}, id=f"{name}-combine={value}"))
    return cases


CASES = _cases()


def reads_fused(name: str) -> bool:
    return HEADS.get(name).cls.reads_fused


def build(name: str, options: dict[str, Any], seed: int = 0) -> Head:
    """Head ``name`` over :data:`DIMS` (and a fused vector when it reads one), K = 3."""
    torch.manual_seed(seed)
    dims = ModelDims(FUSED_DIM if reads_fused(name) else None, dict(DIMS))
    return create_head(parse_head_config({"type": name, **options}), dims, NUM_OUTPUTS)


def make_fused(absent: list[set[str]], seed: int = 0, fill: float = math.nan, fused: bool = True) -> Fused:
    """Row ``i`` lacks the inputs ``absent[i]``; absent rows and padding hold ``fill``."""
    gen = torch.Generator().manual_seed(seed)
    batch = len(absent)
    pooled, tokens, masks, present = {}, {}, {}, {}
    for name, dim in DIMS.items():
        present[name] = torch.tensor([name not in row for row in absent])
        lengths = torch.randint(1, NUM_TOKENS[name] + 1, (batch,), generator=gen)
        masks[name] = (torch.arange(NUM_TOKENS[name]) < lengths.unsqueeze(1)) & present[name].unsqueeze(1)
        values = torch.randn(batch, NUM_TOKENS[name], dim, generator=gen)
        tokens[name] = values.masked_fill(~masks[name].unsqueeze(-1), fill)  # (B, T, D)
        pooled[name] = torch.randn(batch, dim, generator=gen).masked_fill(~present[name].unsqueeze(-1), fill)
    vector = torch.randn(batch, FUSED_DIM, generator=gen) if fused else None
    return Fused(vector, pooled, tokens, masks, {}, present)


def run(head: Head, name: str, absent: list[set[str]], seed: int = 0, fill: float = math.nan) -> Tensor:
    return head(make_fused(absent, seed, fill, fused=reads_fused(name)))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_output_is_one_row_of_k_per_input_row(name: str, options: dict[str, Any]) -> None:
    head = build(name, options).eval()
    assert run(head, name, [set()] * BATCH).shape == (BATCH, NUM_OUTPUTS)
    assert run(head, name, MIXED).shape == (len(MIXED), NUM_OUTPUTS)


@pytest.mark.parametrize(("name", "options"), CASES)
def test_finite_with_every_subset_absent(name: str, options: dict[str, Any]) -> None:
    head = build(name, options)
    for mode in (True, False):
        head.train(mode)
        assert torch.isfinite(run(head, name, MIXED)).all(), f"{name}: non-finite with mixed absent rows"
        for subset in ABSENT_SUBSETS:
            out = run(head, name, [subset] * 3)
            assert torch.isfinite(out).all(), f"{name}: non-finite without {subset}"


@pytest.mark.parametrize(("name", "options"), CASES)
def test_absent_values_are_ignored(name: str, options: dict[str, Any]) -> None:
    head = build(name, options).eval()
    with torch.no_grad():
        torch.testing.assert_close(run(head, name, MIXED, fill=math.nan), run(head, name, MIXED, fill=3.0))


@pytest.mark.parametrize(("name", "options"), CASES)
def test_every_parameter_gets_a_finite_gradient(name: str, options: dict[str, Any]) -> None:
    head = build(name, options).train()
    out = run(head, name, MIXED)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    for param_name, param in head.named_parameters():
        assert param.grad is not None, f"{name}: {param_name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name}: {param_name} has a non-finite gradient"


@pytest.mark.parametrize(("name", "options"), CASES)
def test_same_seed_same_output(name: str, options: dict[str, Any]) -> None:
    first, second = build(name, options, seed=7).eval(), build(name, options, seed=7).eval()
    with torch.no_grad():
        assert torch.equal(run(first, name, MIXED), run(second, name, MIXED))


@pytest.mark.parametrize("name", list_heads())
def test_config_is_strict_and_described(name: str) -> None:
    for field, info in HEADS.get(name).config_cls.model_fields.items():
        assert field == "type" or info.description, f"{name}: field {field!r} has no description"
    with pytest.raises(ValidationError, match="no_such_option"):
        parse_head_config({"type": name, "no_such_option": 1})


@pytest.mark.parametrize("name", [n for n in list_heads() if reads_fused(n)])
def test_a_head_that_reads_the_fused_vector_refuses_a_model_without_fusion(name: str) -> None:
    with pytest.raises(ValueError, match="fusion"):
        create_head(parse_head_config({"type": name}), ModelDims(None, dict(DIMS)), NUM_OUTPUTS)


@pytest.mark.parametrize("combine", ["average", "weighted"])
def test_late_head_combines_only_the_present_predictions(combine: str) -> None:
    head = build("late", {"combine": combine}).eval()
    out = make_fused([{"image", "text"}, {"image"}], fused=False)
    with torch.no_grad():
        combined = head(out)
        audio = head.heads["audio"](out.pooled["audio"])  # (B, K)
        text = head.heads["text"](out.pooled["text"][1:])  # (1, K)
    torch.testing.assert_close(combined[0], audio[0])  # only audio present: its prediction
    if combine == "average":
        torch.testing.assert_close(combined[1], (audio[1] + text[0]) / 2)


# --- the older spelling: late and hybrid as fusions ---------------------------------------------


def tabular_model(model: dict[str, Any]) -> MultimodalModel:
    """Three tabular inputs ``a``, ``b``, ``c`` (two numbers each), 3 classes, ``model`` section given."""
    rows = [{"x": float(i), "y": float(i % 3)} for i in range(12)]
    specs = [InputSpec(n, "tabular", ["x", "y"], TabularProcessor(["x", "y"]).fit(rows)) for n in "abc"]
    encoders = {"tabular": {"hidden_dims": [8]}}
    config = parse_config({"data": {"label": "label"}, "model": {"encoders": encoders, **model}})
    task = parse_task_config({**config.model.task.model_dump(exclude={"type"}), "type": "multiclass"})
    target = task_class("multiclass").create_target(task, ["label"], "|").fit(["x", "y", "z"])
    return build_model(specs, config, task, target)  # type: ignore[arg-type]


def tabular_batch(n: int, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    no_categories = torch.zeros(n, 0, dtype=torch.long)
    inputs = {m: {"numeric": torch.randn(n, 4, generator=gen), "categorical": no_categories} for m in "abc"}
    present = {m: torch.rand(n, generator=gen) > 0.3 for m in "abc"}
    return Batch(inputs, present, torch.randint(0, 3, (n,), generator=gen), torch.arange(n))


def check_trains(model: MultimodalModel) -> None:
    batch = tabular_batch(6)
    terms = model.train().training_step(batch)
    assert torch.isfinite(terms["loss"])
    terms["loss"].backward()
    assert model.predict_step(batch)["logits"].shape == (6, NUM_OUTPUTS)


def test_legacy_late_fusion_builds_a_model_without_fusion_and_a_late_head() -> None:
    model = tabular_model({"fusion": {"type": "late", "combine": "weighted"}})
    assert model.fusion is None
    assert isinstance(model.task.head, HEADS.get("late").cls)
    assert model.task.head.config.combine == "weighted"
    check_trains(model)
    spelled = tabular_model({"task": {"type": "multiclass", "head": {"type": "late", "combine": "weighted"}}})
    assert spelled.fusion is None and spelled.task.head.config == model.task.head.config


def test_legacy_hybrid_fusion_builds_an_early_fusion_and_a_hybrid_head() -> None:
    model = tabular_model({"fusion": {"type": "hybrid", "combine": "stacking", "head_hidden_dim": 4}})
    assert model.fusion is not None and model.fusion.config.type == "early"
    assert isinstance(model.task.head, HEADS.get("hybrid").cls)
    assert model.task.head.config.combine == "stacking" and model.task.head.config.hidden_dim == 4
    check_trains(model)
