"""Tasks: head, loss and metrics per task type. Importing this package registers them."""

from polyfuse.tasks import classification as _classification  # noqa: F401
from polyfuse.tasks import multilabel as _multilabel  # noqa: F401
from polyfuse.tasks import regression as _regression  # noqa: F401
from polyfuse.tasks._registry import TASKS, create_label_processor, create_task, list_tasks
from polyfuse.tasks.base import LabelProcessor, Task

__all__ = ["TASKS", "LabelProcessor", "Task", "create_label_processor", "create_task", "list_tasks"]
