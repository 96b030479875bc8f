"""A small generic registry: one instance per component kind (encoders, fusions, tasks, ...).

Registration is a decorator that returns the class unchanged; ``create`` builds by name; unknown
names raise with the list of valid ones. Each entry carries a pydantic config class whose field
descriptions ``polyfuse list`` prints.

Components outside the core (the cognition benchmark's encoder and fusion, a user's package)
register through the ``polyfuse.components`` entry-point group: each entry names a module whose
import registers its components. Registries load them the first time a name is missing or the
names are listed, so the core never imports them itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

PLUGIN_GROUP = "polyfuse.components"


@cache
def load_plugins() -> tuple[str, ...]:
    """Import every module of the ``polyfuse.components`` entry points (once); their names."""
    loaded = []
    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        entry.load()
        loaded.append(entry.name)
    return tuple(loaded)


class ComponentConfig(BaseModel):
    """Base of every component config: unknown keys are errors, ``type`` picks the component."""

    model_config = ConfigDict(extra="forbid")

    type: str


@dataclass(frozen=True)
class RegistryEntry(Generic[T]):
    """One registered component: its class, config class and one-line description."""

    name: str
    cls: T
    config_cls: type[ComponentConfig]
    description: str


class UnknownComponentError(KeyError):
    """Raised for a component name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to component classes for one kind of component."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, RegistryEntry[T]] = {}

    def register(
        self, name: str, config: type[ComponentConfig], description: str | None = None
    ) -> Callable[[T], T]:
        """Decorator registering ``cls`` under ``name``; returns the class unchanged."""

        def decorator(cls: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            doc = description or (getattr(cls, "__doc__", None) or "").strip().splitlines()[0:1]
            text = doc if isinstance(doc, str) else (doc[0] if doc else "")
            self._entries[name] = RegistryEntry(name, cls, config, text)
            return cls

        return decorator

    def get(self, name: str) -> RegistryEntry[T]:
        """Return the entry for ``name`` or raise with the valid names."""
        if name not in self._entries:
            load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none)"
            raise UnknownComponentError(
                f"unknown {self.kind} {name!r}; valid {self.kind}s: {valid}"
            ) from None

    def parse_config(self, name: str, values: dict[str, Any]) -> ComponentConfig:
        """Validate ``values`` (without or with ``type``) against the component's config class."""
        entry = self.get(name)
        return entry.config_cls.model_validate({**values, "type": name})

    def names(self) -> list[str]:
        """Sorted registered names (plugins included)."""
        load_plugins()
        return sorted(self._entries)

    def entries(self) -> list[RegistryEntry[T]]:
        """Entries in name order."""
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            load_plugins()
        return name in self._entries
