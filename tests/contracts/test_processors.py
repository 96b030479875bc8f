"""Contract tests run over every registered processor: scikit-learn's rules and polyfuse's own.

- ``__init__`` stores parameters only (learned ``*_`` attributes are unset until ``fit``);
  ``get_params()`` holds the constructor arguments, rebuilds an equal processor directly and
  through the generated config (as a bundle does), and unknown keys are refused by name;
- ``fit`` returns ``self``; fitted state round-trips through JSON (``get_state`` / ``set_state``)
  into a fresh instance that transforms identically;
- an absent value gives ``None``; ``collate`` gives absent rows a placeholder (masked when the
  input has a mask); ``augment`` draws only from the generator it is given.

Each processor declares its toy parameters and values in
:data:`~tests.contracts._inputs.PROCESSOR_FIXTURES`; a registered processor without one fails, so a
new processor cannot go untested. Processors whose package is unavailable are skipped with the reason.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError
from torch import Tensor

from polyfuse.data.processors import PROCESSORS, Features, Processor, create_processor, list_processors

from ._inputs import processor_fixture, require_fixture

ABSENT = [None, math.nan, ""]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("processor-media")


def setup(name: str, folder: Path) -> tuple[dict[str, Any], list[Any]]:
    return processor_fixture(name, folder)


def fitted(name: str, folder: Path) -> tuple[Processor, list[Any]]:
    params, values = setup(name, folder)
    return create_processor(name, params).fit(values), values


def as_json(value: Any) -> Any:
    """``value`` as it comes back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def assert_same_features(a: Features | None, b: Features | None) -> None:
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("name", list_processors())
def test_every_processor_has_a_contract_fixture(name: str) -> None:
    require_fixture(name)


@pytest.mark.parametrize("name", list_processors())
def test_init_stores_parameters_only(name: str, folder: Path) -> None:
    params, _ = setup(name, folder)
    processor = create_processor(name, params)
    config = PROCESSORS.get(name).config_cls.model_validate({**params, "type": name})
    given = {k: getattr(config, k) for k in type(config).model_fields if k != "type"}
    got = processor.get_params()
    assert {k: as_json(got.get(k)) for k in given} == as_json(given), f"{name}: get_params {got}"
    assert got == as_json(got), f"{name}: get_params is not JSON-safe"
    assert type(processor)(**got).get_params() == got
    learned = {k: v for k, v in vars(processor).items() if k.endswith("_") and not k.startswith("_")}
    assert all(v is None for v in learned.values()), f"{name}: __init__ set learned state {learned}"


@pytest.mark.parametrize("name", list_processors())
def test_get_params_rebuild_through_the_generated_config(name: str, folder: Path) -> None:
    """Bundles rebuild processors with ``create_processor(key, get_params())``."""
    processor = create_processor(name, setup(name, folder)[0])
    params = as_json(processor.get_params())
    assert create_processor(name, params).get_params() == processor.get_params()


@pytest.mark.parametrize("name", list_processors())
def test_generated_config_refuses_unknown_keys_by_name(name: str, folder: Path) -> None:
    params, _ = setup(name, folder)
    with pytest.raises(ValidationError, match="no_such_param"):
        create_processor(name, {**params, "no_such_param": 3})


def test_a_misspelt_image_option_is_named() -> None:
    with pytest.raises(ValidationError, match="max_shfit"):
        create_processor("image", {"max_shfit": 3})


@pytest.mark.parametrize("name", list_processors())
def test_fit_returns_self_and_present_values_transform(name: str, folder: Path) -> None:
    params, values = setup(name, folder)
    processor = create_processor(name, params)
    assert processor.fit([*values, None]) is processor  # absent values come as they are
    spec = processor.output_spec()
    assert spec == as_json(spec), f"{name}: output_spec is not JSON-safe"
    for value in values:
        features = processor.transform(value)
        assert features is not None and features, f"{name}: {value!r} gave no features"
        assert all(isinstance(t, Tensor) for t in features.values())
        assert all(torch.isfinite(t).all() for t in features.values() if t.is_floating_point())


@pytest.mark.parametrize("name", list_processors())
def test_state_round_trips_through_json_into_a_fresh_instance(name: str, folder: Path) -> None:
    processor, values = fitted(name, folder)
    state, tensors = processor.get_state()
    assert all(isinstance(t, Tensor) for t in tensors.values())
    fresh = type(processor)(**processor.get_params())
    fresh.set_state(as_json(state), {k: t.clone() for k, t in tensors.items()})
    assert fresh.output_spec() == processor.output_spec()
    for value in values:
        assert_same_features(fresh.transform(value), processor.transform(value))


@pytest.mark.parametrize("name", list_processors())
def test_absent_values_give_none(name: str, folder: Path) -> None:
    processor, _ = fitted(name, folder)
    for value in ABSENT:
        assert processor.transform(value) is None, f"{name}: absent {value!r} gave features"


@pytest.mark.parametrize("name", list_processors())
def test_collate_gives_absent_rows_a_placeholder(name: str, folder: Path) -> None:
    processor, values = fitted(name, folder)
    features = processor.transform(values[0])
    assert features is not None
    batch = processor.collate([features, None])
    for key, tensor in features.items():
        assert batch[key].shape[0] == 2, f"{name}: {key} is not batched"
        row = batch[key][0]
        while row.dim() > tensor.dim():  # a channel axis added by collate
            row = row.squeeze(0)
        assert torch.equal(row[tuple(slice(0, n) for n in tensor.shape)], tensor), f"{name}: {key} row 0"
    assert all(torch.isfinite(t).all() for t in batch.values() if t.is_floating_point())
    if "mask" in batch:
        assert batch["mask"].dtype == torch.bool and batch["mask"][0].any() and not batch["mask"][1].any()
    empty = processor.collate([None, None])
    assert empty.keys() == batch.keys() and all(t.shape[0] == 2 for t in empty.values())
    if "mask" in empty:
        assert not empty["mask"].any()


@pytest.mark.parametrize("name", list_processors())
def test_augment_draws_only_from_its_generator(name: str, folder: Path) -> None:
    params, values = setup(name, folder)
    processor = create_processor(name, params)
    if "augment" in processor.get_params():  # switched on, where the processor can augment
        processor = type(processor)(**{**processor.get_params(), "augment": True})
    processor.fit(values)
    features = processor.transform(values[0])
    assert features is not None
    before = copy.deepcopy(features)
    first = processor.augment(features, torch.Generator().manual_seed(3))
    second = processor.augment(features, torch.Generator().manual_seed(3))
    assert_same_features(features, before)  # the input is left untouched
    assert_same_features(first, second)
    assert first.keys() == features.keys()
    assert all(first[k].shape == features[k].shape for k in features)
