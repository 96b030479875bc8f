"""Noise injector registry, keyed by modality and name (``image/blur``, ``text/typos``, ...).

An injector corrupts the *processed* tensors of one input of a batch (what the collate function
produced), at a ``level`` in ``[0, 1]``: level 0 is the identity, higher levels corrupt more. It is
built with the input's fitted processor, so it can undo and redo the processor's normalisation
(image mean/std, audio log-mel statistics, tabular imputation). Randomness comes only from the
``torch.Generator`` passed in, so a seeded evaluation is reproducible.

An injector declares the processors whose features it understands (``processors``: registry keys,
by default the modality's own processor): the audio injectors corrupt log-mel spectrograms, so they
do not apply to a pretrained speech encoder's raw waveform, and robustness analyses skip them there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar, TypeVar

import torch
from torch import Tensor

from polyfuse._registry import ComponentConfig, Registry
from polyfuse.data.processors import processor_key
from polyfuse.data.processors.base import Features, Processor


class InjectorConfig(ComponentConfig):
    """Injectors take no options (the level is their only knob); this only names them."""


class Injector(ABC):
    """Corrupts one input's batched features at a level in [0, 1].

    Args:
        processor: the fitted processor of the input the injector is applied to.
    """

    modality: ClassVar[str]
    processors: ClassVar[tuple[str, ...]] = ()
    """Registry keys of the processors whose features this injector corrupts (empty: the
    modality's own processor, whose key is the modality)."""

    def __init__(self, processor: Processor) -> None:
        if not applies_to(type(self), processor):
            raise ValueError(
                f"{type(self).__name__} corrupts the features of {accepted(type(self))} processors,"
                f" not {processor_key(processor)!r}"
            )
        self.processor = processor

    def __call__(self, features: Features, level: float, generator: torch.Generator) -> Features:
        """New features corrupted at ``level``; ``features`` is left untouched; level 0 returns it."""
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"noise level must be in [0, 1], got {level}")
        if level == 0.0:
            return features
        return self.apply(features, float(level), generator)

    @abstractmethod
    def apply(self, features: Features, level: float, generator: torch.Generator) -> Features:
        """The corruption at ``0 < level <= 1``."""


INJECTORS: Registry[type[Injector]] = Registry("noise injector")
InjectorT = TypeVar("InjectorT", bound=type[Injector])


def register_injector(
    modality: str, name: str, description: str | None = None
) -> Callable[[InjectorT], InjectorT]:
    """Decorator: register an injector class for ``modality`` under ``name``; returns it unchanged."""
    return INJECTORS.register(f"{modality}/{name}", InjectorConfig, description)  # type: ignore[return-value]


def injector_key(modality: str, name: str) -> str:
    """Registry key for ``name``, bare (``blur``) or already qualified (``image/blur``)."""
    return name if name.startswith(modality + "/") else f"{modality}/{name}"


def create_injector(modality: str, name: str, processor: Processor) -> Injector:
    """Build the injector ``modality/name`` for an input with the fitted ``processor``."""
    return INJECTORS.get(injector_key(modality, name)).cls(processor)  # type: ignore[call-arg]


def accepted(cls: type[Injector]) -> tuple[str, ...]:
    """The processor keys ``cls`` declares (its modality's own processor by default)."""
    return cls.processors or (cls.modality,)


def applies_to(cls: type[Injector], processor: Processor) -> bool:
    """Whether ``cls`` understands the features ``processor`` produces."""
    return processor_key(processor) in accepted(cls)


def list_injectors(modality: str | None = None, processor: Processor | None = None) -> list[str]:
    """Registered ``modality/name`` keys, optionally for one modality and one processor."""
    keys = [n for n in INJECTORS.names() if modality is None or n.startswith(modality + "/")]
    return [k for k in keys if processor is None or applies_to(INJECTORS.get(k).cls, processor)]


def uniform(shape: Sequence[int], generator: torch.Generator, like: Tensor) -> Tensor:
    """``U[0, 1)`` draws from ``generator`` (CPU), moved to ``like``'s device."""
    return torch.rand(tuple(shape), generator=generator).to(like.device)


def normal(shape: Sequence[int], generator: torch.Generator, like: Tensor) -> Tensor:
    """Standard normal draws from ``generator`` (CPU), moved to ``like``'s device."""
    return torch.randn(tuple(shape), generator=generator).to(like.device)
