"""Encoder registry, keyed by modality and name (``text/bigru``, ``image/resnet``, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from polyfuse._registry import Registry, RegistryEntry
from polyfuse.encoders.base import Encoder, EncoderConfig

ENCODERS: Registry[type[Encoder]] = Registry("encoder")
E = TypeVar("E", bound=type[Encoder])

#: The encoder each modality gets when the config names none.
DEFAULT_ENCODERS = {"text": "bigru", "image": "cnn", "audio": "cnn", "tabular": "mlp"}


def register_encoder(
    modality: str, name: str, config: type[EncoderConfig], description: str | None = None
) -> Callable[[E], E]:
    """Decorator: register an encoder class for ``modality`` under ``name``."""
    return ENCODERS.register(f"{modality}/{name}", config, description)  # type: ignore[return-value]


def encoder_key(modality: str, name: str) -> str:
    """Registry key for ``name``, bare (``bigru``) or already qualified (``text/bigru``)."""
    return name if name.startswith(modality + "/") else f"{modality}/{name}"


def get_encoder_entry(modality: str, name: str) -> RegistryEntry[type[Encoder]]:
    """Registry entry for ``modality/name`` (``name`` bare or qualified); raises with the valid names."""
    return ENCODERS.get(encoder_key(modality, name))


def parse_encoder_config(modality: str, values: dict[str, Any]) -> EncoderConfig:
    """Validate a config dict for ``modality``.

    ``type`` is optional (the modality's default) and may be bare (``bigru``) or qualified
    (``text/bigru``); the returned config's ``type`` is always the qualified registry key.
    """
    name = values.get("type") or DEFAULT_ENCODERS[modality]
    key = encoder_key(modality, name)
    config = ENCODERS.parse_config(key, {k: v for k, v in values.items() if k != "type"})
    assert isinstance(config, EncoderConfig)
    return config


def create_encoder(modality: str, config: EncoderConfig, spec: dict[str, Any]) -> Encoder:
    """Build the encoder named by ``config.type`` for ``modality`` from its processor ``spec``."""
    entry = get_encoder_entry(modality, config.type)
    return entry.cls(config, spec)


def list_encoders(modality: str | None = None) -> list[str]:
    """Registered ``modality/name`` keys, optionally for one modality."""
    return [n for n in ENCODERS.names() if modality is None or n.startswith(modality + "/")]
