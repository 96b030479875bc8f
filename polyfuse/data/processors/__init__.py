"""Processors: one per input, raw values -> tensors. See :mod:`polyfuse.data.processors.base`.
Importing this package registers every processor module in it (one file per processor)."""

from polyfuse._discovery import import_submodules
from polyfuse.data.processors._registry import (
    PROCESSORS,
    create_processor,
    list_processors,
    processor_key,
    register_processor,
)
from polyfuse.data.processors.base import BadValueError, Features, Processor, is_missing

import_submodules(__name__)

__all__ = [
    "PROCESSORS",
    "BadValueError",
    "Features",
    "Processor",
    "create_processor",
    "is_missing",
    "list_processors",
    "processor_key",
    "register_processor",
]
