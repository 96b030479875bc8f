"""Fusion registry: ``register_fusion``, ``create_fusion``, ``list_fusions``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from polyfuse._registry import Registry
from polyfuse.fusion.base import Fusion, FusionConfig

FUSIONS: Registry[type[Fusion]] = Registry("fusion")
F = TypeVar("F", bound=type[Fusion])


def register_fusion(
    name: str, config: type[FusionConfig], description: str | None = None
) -> Callable[[F], F]:
    """Decorator: register a fusion class under ``name``; returns the class unchanged."""
    return FUSIONS.register(name, config, description)  # type: ignore[return-value]


def parse_fusion_config(values: dict[str, Any]) -> FusionConfig:
    """Validate a fusion config dict (``type`` defaults to ``concat``)."""
    name = values.get("type") or "concat"
    config = FUSIONS.parse_config(name, {k: v for k, v in values.items() if k != "type"})
    assert isinstance(config, FusionConfig)
    return config


def create_fusion(name_or_config: str | FusionConfig, modality_dims: dict[str, int], **kwargs: Any) -> Fusion:
    """Build a fusion from a config, or from a name plus keyword options."""
    if isinstance(name_or_config, str):
        config = parse_fusion_config({"type": name_or_config, **kwargs})
    else:
        config = name_or_config
    return FUSIONS.get(config.type).cls(modality_dims, config)


def list_fusions() -> list[str]:
    """Registered fusion names."""
    return FUSIONS.names()
