"""Tasks: what a model solves from its encoders' and fusion's outputs. Importing this package
registers every task module in it (one file per task) and the prediction heads."""

from polyfuse._discovery import import_submodules
from polyfuse.tasks._registry import (
    HEAD_TASKS,
    TASKS,
    create_task,
    list_tasks,
    parse_task_config,
    register_task,
    task_class,
)
from polyfuse.tasks.base import ModelDims, StepOutputs, Task, TaskConfig, concat_outputs

import_submodules(__name__)

__all__ = [
    "HEAD_TASKS",
    "TASKS",
    "ModelDims",
    "StepOutputs",
    "Task",
    "TaskConfig",
    "concat_outputs",
    "create_task",
    "list_tasks",
    "parse_task_config",
    "register_task",
    "task_class",
]
