"""Task registry: ``register_task``, ``parse_task_config``, ``create_task``, ``list_tasks``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from polyfuse._registry import Registry
from polyfuse.data.targets import TargetProcessor
from polyfuse.tasks.base import ModelDims, Task, TaskConfig

TASKS: Registry[type[Task]] = Registry("task")
T = TypeVar("T", bound=type[Task])

HEAD_TASKS = ("binary", "multiclass", "regression", "multilabel")
"""The tasks ``auto`` chooses among from the label column (see :func:`polyfuse.data.schema.infer_task`)."""


def register_task(name: str, config: type[TaskConfig], description: str | None = None) -> Callable[[T], T]:
    """Decorator: register a task class under ``name`` with its config class; returns it unchanged."""
    return TASKS.register(name, config, description)  # type: ignore[return-value]


def parse_task_config(values: dict[str, Any]) -> TaskConfig:
    """Validate a task config dict; ``type`` must name a registered task."""
    name = values.get("type")
    if not name:
        raise ValueError("model.task needs a 'type'")
    config = TASKS.parse_config(name, {k: v for k, v in values.items() if k != "type"})
    assert isinstance(config, TaskConfig)
    return config


def create_task(config: TaskConfig, dims: ModelDims, target: TargetProcessor | None) -> Task:
    """Build the task ``config.type`` names, with its heads."""
    return TASKS.get(config.type).cls(config, dims, target)


def task_class(name: str) -> type[Task]:
    """The registered class of task ``name``; raises with the valid names."""
    return TASKS.get(name).cls


def list_tasks() -> list[str]:
    """Registered task names."""
    return TASKS.names()
