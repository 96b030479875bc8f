"""Alignment registry: ``register_alignment``, ``create_alignment``, ``list_alignments``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from polyfuse._registry import Registry
from polyfuse.fusion.alignment.base import Aligner, AlignmentConfig

ALIGNMENTS: Registry[type[Aligner]] = Registry("alignment")
A = TypeVar("A", bound=type[Aligner])


def register_alignment(
    name: str, config: type[AlignmentConfig], description: str | None = None
) -> Callable[[A], A]:
    """Decorator: register an aligner class under ``name``; returns the class unchanged."""
    return ALIGNMENTS.register(name, config, description)  # type: ignore[return-value]


def parse_alignment_config(values: dict[str, Any]) -> AlignmentConfig:
    """Validate one alignment config dict; ``type`` is required."""
    if "type" not in values:
        raise ValueError(f"an alignment needs a 'type'; valid types: {', '.join(ALIGNMENTS.names())}")
    config = ALIGNMENTS.parse_config(values["type"], {k: v for k, v in values.items() if k != "type"})
    assert isinstance(config, AlignmentConfig)
    return config


def create_alignment(
    name_or_config: str | AlignmentConfig, modality_dims: dict[str, int], **kwargs: Any
) -> Aligner:
    """Build an aligner from a config, or from a name plus keyword options."""
    if isinstance(name_or_config, str):
        config = parse_alignment_config({"type": name_or_config, **kwargs})
    else:
        config = name_or_config
    return ALIGNMENTS.get(config.type).cls(modality_dims, config)


def list_alignments() -> list[str]:
    """Registered alignment names."""
    return ALIGNMENTS.names()
