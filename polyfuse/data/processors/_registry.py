"""Processor registry: ``register_processor``, ``create_processor``, ``list_processors``.

A processor's options are its ``__init__`` parameters (scikit-learn's rule), so its config class is
generated from that signature: the same names, types and defaults, unknown keys refused. Bundles
name processors by their registry key.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import create_model

from polyfuse._registry import ComponentConfig, Registry
from polyfuse.data.processors.base import Processor

PROCESSORS: Registry[type[Processor]] = Registry("processor")
P = TypeVar("P", bound=type[Processor])


def signature_config(cls: type) -> type[ComponentConfig]:
    """A pydantic config class with ``cls.__init__``'s parameters as fields (extra keys forbidden)."""
    init = cls.__dict__.get("__init__") or next(
        c.__dict__["__init__"] for c in cls.__mro__ if "__init__" in c.__dict__
    )
    hints = typing.get_type_hints(init)
    fields: dict[str, Any] = {}
    for name, parameter in inspect.signature(init).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[name] = (hints.get(name, Any), default)
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{cls.__name__}Config",
        __base__=ComponentConfig,
        **fields,
    )


def register_processor(name: str, description: str | None = None) -> Callable[[P], P]:
    """Decorator: register a processor class under ``name`` (its config from its signature)."""

    def decorator(cls: P) -> P:
        return PROCESSORS.register(name, signature_config(cls), description)(cls)  # type: ignore[return-value]

    return decorator


def processor_key(processor: Processor) -> str:
    """The registry key of ``processor``'s class; raises for an unregistered class."""
    for entry in PROCESSORS.entries():
        if entry.cls is type(processor):
            return entry.name
    raise KeyError(f"processor class {type(processor).__name__} is not registered (register_processor)")


def create_processor(name: str, params: dict[str, Any]) -> Processor:
    """An unfitted processor ``name`` from ``params``, validated against its signature."""
    entry = PROCESSORS.get(name)
    config = entry.config_cls.model_validate({**params, "type": name})
    values = {k: getattr(config, k) for k in type(config).model_fields if k != "type"}
    return entry.cls(**values)


def list_processors() -> list[str]:
    """Registered processor names."""
    return PROCESSORS.names()
