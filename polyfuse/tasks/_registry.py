"""Task registry: ``register_task``, ``create_task``, ``list_tasks``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from polyfuse._registry import ComponentConfig, Registry
from polyfuse.config.schema import HeadConfig
from polyfuse.tasks.base import LabelProcessor, Task

TASKS: Registry[type[Task]] = Registry("task")
T = TypeVar("T", bound=type[Task])


class TaskConfig(ComponentConfig):
    """Tasks take their options from ``model.head``; this only names them."""


def register_task(name: str, description: str | None = None) -> Callable[[T], T]:
    """Decorator: register a task class under ``name``."""
    return TASKS.register(name, TaskConfig, description)  # type: ignore[return-value]


def create_label_processor(name: str, delimiter: str = "|") -> LabelProcessor:
    """The unfitted label processor the task ``name`` uses."""
    cls = TASKS.get(name).cls
    return cls.make_labels(delimiter)  # type: ignore[attr-defined, no-any-return]


def create_task(name: str, input_dim: int, labels: LabelProcessor, config: HeadConfig) -> Task:
    """Build a task module with its head."""
    return TASKS.get(name).cls(input_dim, labels, config)


def list_tasks() -> list[str]:
    """Registered task names."""
    return TASKS.names()
