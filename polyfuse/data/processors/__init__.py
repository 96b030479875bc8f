"""Processors: one per input, raw values -> tensors. See :mod:`polyfuse.data.processors.base`."""

from polyfuse.data.processors.base import BadValueError, Features, Processor, is_missing

__all__ = ["BadValueError", "Features", "Processor", "is_missing"]
