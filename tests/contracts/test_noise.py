"""Contract tests run over every registered noise injector, on the batched features of every
registered processor of its modality (robustness curves apply each injector of a modality to every
input of that modality, whatever its processor).

An injector corrupts a collated batch at a level in [0, 1]: level 0 is the identity, the output keeps
the keys, shapes and dtypes, stays finite, never makes an absent row present, leaves its input
untouched, and draws only from the generator it is given. The toy values come from
:data:`~tests.contracts._inputs.PROCESSOR_FIXTURES`.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from polyfuse.data.processors import PROCESSORS, Features, Processor, create_processor, list_processors
from polyfuse.evaluation.noise import INJECTORS, Injector, create_injector, list_injectors
from polyfuse.evaluation.noise._registry import accepted

from ._inputs import processor_fixture

LEVELS = [0.3, 1.0]
CASES = [
    pytest.param(injector, processor, id=f"{injector}-on-{processor}")
    for injector in list_injectors()
    for processor in accepted(INJECTORS.get(injector).cls)
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("noise-media")


_BATCHES: dict[str, tuple[Processor, Features]] = {}
"""Per processor: fitted on its toy values, and their batch plus an absent row (fitted once)."""


def setup(injector: str, processor: str, folder: Path) -> tuple[Injector, Features]:
    """The injector built with the fitted processor, and a fresh copy of the processor's batch."""
    if processor not in _BATCHES:
        params, values = processor_fixture(processor, folder)
        fitted = create_processor(processor, params).fit(values)
        _BATCHES[processor] = fitted, fitted.collate([*(fitted.transform(v) for v in values), None])
    fitted, batch = _BATCHES[processor]
    modality, name = injector.split("/", 1)
    return create_injector(modality, name, fitted), copy.deepcopy(batch)


def test_every_modality_with_injectors_has_a_processor() -> None:
    modalities = {INJECTORS.get(n).cls.modality for n in list_injectors()}
    assert modalities <= {PROCESSORS.get(n).cls.modality for n in list_processors()}


@pytest.mark.parametrize(("injector", "processor"), CASES)
def test_level_zero_is_the_identity(injector: str, processor: str, folder: Path) -> None:
    noise, batch = setup(injector, processor, folder)
    out = noise(batch, 0.0, torch.Generator().manual_seed(0))
    assert out.keys() == batch.keys() and all(torch.equal(out[k], batch[k]) for k in batch)


@pytest.mark.parametrize(("injector", "processor"), CASES)
def test_corrupted_batch_keeps_its_shape_and_stays_finite(
    injector: str, processor: str, folder: Path
) -> None:
    noise, batch = setup(injector, processor, folder)
    before = copy.deepcopy(batch)
    for level in LEVELS:
        out = noise(batch, level, torch.Generator().manual_seed(0))
        assert out.keys() == batch.keys(), f"{injector}: keys {sorted(out)}"
        for key, tensor in out.items():
            assert tensor.shape == batch[key].shape and tensor.dtype == batch[key].dtype, key
            assert not tensor.is_floating_point() or torch.isfinite(tensor).all(), f"{injector}: {key}"
        if "mask" in batch:
            assert not out["mask"][-1].any(), f"{injector} made the absent row present"
    assert all(torch.equal(batch[k], before[k]) for k in batch), f"{injector} changed its input"


@pytest.mark.parametrize(("injector", "processor"), CASES)
def test_same_seed_same_corruption(injector: str, processor: str, folder: Path) -> None:
    noise, batch = setup(injector, processor, folder)
    first = noise(batch, 0.5, torch.Generator().manual_seed(11))
    torch.manual_seed(1)  # the global generator must not matter
    second = noise(batch, 0.5, torch.Generator().manual_seed(11))
    assert all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize("injector", list_injectors())
def test_levels_outside_zero_to_one_are_refused(injector: str, folder: Path) -> None:
    processor = accepted(INJECTORS.get(injector).cls)[0]
    noise, batch = setup(injector, processor, folder)
    for level in (-0.1, 1.5):
        with pytest.raises(ValueError, match="level"):
            noise(batch, level, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("injector", list_injectors())
def test_declared_processors_are_registered_and_others_refused(injector: str, folder: Path) -> None:
    """An injector names the processors whose features it corrupts; on any other processor of its
    modality it refuses to be built (the audio injectors on a pretrained encoder's waveform)."""
    cls = INJECTORS.get(injector).cls
    assert set(accepted(cls)) <= set(list_processors())
    others = [
        p
        for p in list_processors()
        if PROCESSORS.get(p).cls.modality == cls.modality and p not in accepted(cls)
    ]
    for processor in others:
        params, values = processor_fixture(processor, folder)
        fitted = create_processor(processor, params).fit(values)
        with pytest.raises(ValueError, match="corrupts the features of"):
            create_injector(cls.modality, injector, fitted)
