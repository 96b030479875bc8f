"""polyfuse: build, train, evaluate and ship multimodal models from a table.

The public names below are imported on first use, so ``import polyfuse`` (and ``polyfuse --help``)
stay fast: torch and the rest load when a name that needs them is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from polyfuse._version import __version__

if TYPE_CHECKING:
    from polyfuse.bundle import BundleError
    from polyfuse.config import Config, ConfigError, load_config
    from polyfuse.data.batch import Batch
    from polyfuse.data.dataset import DataError
    from polyfuse.data.schema import Schema, infer_schema
    from polyfuse.encoders import create_encoder, list_encoders, register_encoder
    from polyfuse.fusion import create_fusion, list_fusions, register_fusion
    from polyfuse.model import Fused, MultimodalModel
    from polyfuse.predictor import Predictor
    from polyfuse.tasks import create_task, list_tasks, register_task

_EXPORTS = {
    "Batch": "polyfuse.data.batch",
    "BundleError": "polyfuse.bundle",
    "Config": "polyfuse.config",
    "ConfigError": "polyfuse.config",
    "DataError": "polyfuse.data.dataset",
    "Fused": "polyfuse.model",
    "MultimodalModel": "polyfuse.model",
    "Predictor": "polyfuse.predictor",
    "Schema": "polyfuse.data.schema",
    "create_encoder": "polyfuse.encoders",
    "create_fusion": "polyfuse.fusion",
    "create_task": "polyfuse.tasks",
    "infer_schema": "polyfuse.data.schema",
    "list_encoders": "polyfuse.encoders",
    "list_fusions": "polyfuse.fusion",
    "list_tasks": "polyfuse.tasks",
    "load_config": "polyfuse.config",
    "register_encoder": "polyfuse.encoders",
    "register_fusion": "polyfuse.fusion",
    "register_task": "polyfuse.tasks",
}

__all__ = [
    "Batch",
    "BundleError",
    "Config",
    "ConfigError",
    "DataError",
    "Fused",
    "MultimodalModel",
    "Predictor",
    "Schema",
    "__version__",
    "create_encoder",
    "create_fusion",
    "create_task",
    "infer_schema",
    "list_encoders",
    "list_fusions",
    "list_tasks",
    "load_config",
    "register_encoder",
    "register_fusion",
    "register_task",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'polyfuse' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
