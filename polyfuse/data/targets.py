"""The target-processor contract: target cells in, target tensors out (scikit-learn style).

A task reads its targets (a label, a text column, an image column, a group of columns) through one
target processor: ``fit`` learns the label set, scaling or vocabulary from the training rows;
``encode`` turns one row's cell (or cells) into a tensor and raises
:class:`~polyfuse.data.processors.base.BadValueError` for an unusable value, which the dataset
reports with the row and the column; ``collate`` stacks rows into the batch's ``target``. State
round-trips through JSON (:meth:`get_state` / :meth:`set_state`), never pickle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch


class TargetProcessor(ABC):
    """Turns target cells into targets and model outputs back into values."""

    columns: list[str]
    """The table columns this processor reads (set by the task that creates it)."""

    @abstractmethod
    def fit(self, values: Sequence[Any]) -> TargetProcessor:
        """Learn the label set / scaling / vocabulary from training values; returns ``self``."""

    @abstractmethod
    def encode(self, value: Any) -> Any:
        """One row's target value -> a tensor (or dict of tensors); raises BadValueError."""

    def collate(self, items: Sequence[Any]) -> Any:
        """Rows' encoded targets -> the batch's ``target`` (default: ``torch.stack``)."""
        return torch.stack(list(items))

    def value(self, row: dict[str, Any]) -> Any:
        """This processor's raw value in a row (the one column's cell, by default)."""
        return row.get(self.columns[0]) if len(self.columns) == 1 else {c: row.get(c) for c in self.columns}

    def configure(self, input_columns: Sequence[str], strict_missing: bool) -> None:
        """Told before :meth:`fit`: the model's input columns and whether an empty target is a bad
        row (``data.missing: error``). Default: ignored (targets that need them keep them)."""
        return None

    def resolve(self, value: Any, base_dir: Any) -> Any:
        """A raw value made readable: media targets resolve relative paths against the table's
        folder ``base_dir`` (default: unchanged)."""
        return value

    @property
    def num_outputs(self) -> int:
        """K, a head's output width (classes, labels, 1 for regression, the vocabulary size)."""
        raise NotImplementedError(f"{type(self).__name__} has no fixed output width")

    @abstractmethod
    def get_state(self) -> dict[str, Any]:
        """JSON-safe fitted state (parameters included)."""

    @abstractmethod
    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`."""


def check_target_columns(target: TargetProcessor | None, columns: Sequence[str], source: str) -> None:
    """Raise ``KeyError`` naming the target columns a table lacks (evaluation needs them)."""
    missing = [c for c in (target.columns if target is not None else []) if c not in columns]
    if len(missing) == 1:
        raise KeyError(f"label column {missing[0]!r} is not in {source}")
    if missing:
        raise KeyError(f"target columns {', '.join(map(repr, missing))} are not in {source}")
