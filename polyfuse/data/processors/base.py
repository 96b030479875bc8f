"""The processor contract: raw cell values in, tensors out (scikit-learn style).

``__init__`` stores parameters only; ``fit`` learns state into attributes ending in ``_`` and
returns ``self``; ``transform`` is pure. A value that is empty (None, NaN, "") is *absent*:
``transform`` returns ``None`` and the row's present-mask is False. A value that is present but
unusable (missing file, corrupt image, unparsable number) raises :class:`BadValueError`, which the
dataset turns into a per-row error naming the row, the column and the file.

State round-trips through :meth:`get_state` / :meth:`set_state` as JSON-safe values plus a dict of
tensors (saved with safetensors), never pickle.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

Features = dict[str, Tensor]
"""One input's tensors, e.g. ``{"ids": (T,), "mask": (T,)}`` for one row or ``(B, T)`` batched."""


class BadValueError(ValueError):
    """A present value that cannot be processed (missing file, corrupt media, bad number).

    ``column`` names the column when the processor handles several (tabular); else the dataset
    knows it.
    """

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


def is_missing(value: Any) -> bool:
    """True for None, NaN, empty or whitespace-only strings and empty bytes."""
    if value is None:
        return True
    if isinstance(value, float):  # (numpy's float64 too)
        return math.isnan(value)
    if isinstance(value, (str, bytes)):
        return not value.strip()
    if isinstance(value, (int, list, tuple, dict)):  # (bool too); the common cases skip pandas
        return False
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, (list, tuple, dict)) else False
    except (TypeError, ValueError):
        return False


class Processor(ABC):
    """Turns the raw values of one input (one column, or a group of tabular columns) into tensors."""

    modality: ClassVar[str]
    CACHE_NEUTRAL: ClassVar[frozenset[str]] = frozenset()
    """Parameters that do not change an accepted value's tensors (limits); not in :meth:`cache_key`."""

    @abstractmethod
    def fit(self, values: Sequence[Any]) -> Processor:
        """Learn state from training values (absent values included, as they come)."""

    @abstractmethod
    def transform(self, value: Any) -> Features | None:
        """One row's value -> tensors, ``None`` when absent; raises BadValueError when unusable."""

    def transform_many(self, values: Sequence[Any]) -> list[Features | BadValueError | None]:
        """:meth:`transform` of each value, with a value's :class:`BadValueError` returned in its
        place instead of raised (one bad value fails its row, not the others).

        The default loops; processors override it to do a batch's work at once (one tokenizer
        call, one tensor split into rows) with outputs equal to :meth:`transform`'s.
        """
        results: list[Features | BadValueError | None] = []
        for value in values:
            try:
                results.append(self.transform(value))
            except BadValueError as error:
                results.append(error)
        return results

    @abstractmethod
    def collate(self, items: Sequence[Features | None]) -> Features:
        """Stack rows into a batch; absent rows (``None``) get a zero placeholder of the right shape."""

    def augment(self, features: Features, generator: torch.Generator) -> Features:
        """Training-time augmentation of one row's tensors; identity unless overridden."""
        return features

    @abstractmethod
    def output_spec(self) -> dict[str, Any]:
        """What an encoder needs to know about the tensors (vocab size, channels, n_mels, ...)."""

    @abstractmethod
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-safe); ``type(self)(**get_params())`` rebuilds an unfitted copy."""

    def get_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """Fitted state as (JSON-safe dict, tensors). Default: no state."""
        return {}, {}

    def set_state(self, state: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        """Restore what :meth:`get_state` returned. Default: nothing to restore."""
        return None

    def cache_key(self) -> str:
        """A string that changes whenever the transform's output could change (for caches).

        Parameters named in :attr:`CACHE_NEUTRAL` are left out: they can refuse a value but never
        change what an accepted one becomes, so adding such a limit keeps existing caches valid.
        """
        import json

        params = {k: v for k, v in self.get_params().items() if k not in self.CACHE_NEUTRAL}
        return json.dumps({"type": type(self).__name__, **params}, sort_keys=True)
