"""The one-row fast path behind :meth:`polyfuse.Predictor.predict_one`.

:meth:`~polyfuse.Predictor.predict` reads a table: it builds a DataFrame, checks its header, spins
up a decoding thread pool and a DataLoader, and sorts the output frame. For one request those fixed
costs dwarf the model (8.5 ms p50 against 1.2-1.7 ms for the bare model). :class:`FastPath` keeps
the collate function and device once, checks a row's keys only when they change, transforms the
row's values directly and returns a plain dict of the same columns :meth:`predict` writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from polyfuse.data.checks import check_prediction_columns
from polyfuse.data.dataset import make_collate, transform_row
from polyfuse.tasks.classification import ClassificationTask

if TYPE_CHECKING:
    from polyfuse.bundle import Fitted


class FastPath:
    """One row at a time through a fitted model, without DataFrames.

    Args:
        fitted: the trained state (its model is put in eval mode).
    """

    def __init__(self, fitted: Fitted) -> None:
        self.fitted = fitted
        self.model = fitted.model.eval()
        self.device = next(self.model.parameters()).device
        self.collate = make_collate(fitted.inputs)
        self.base_dir = Path.cwd()
        self._checked_keys: frozenset[str] | None = None
        self._columns: list[str] | None = None

    def predict_one(self, row: dict[str, Any], proba: bool = False) -> dict[str, Any]:
        """``{"row": 0, <prediction columns>, "error": None | message}`` for one row."""
        keys = frozenset(row)
        if keys != self._checked_keys:  # a missing input column is refused, as predict() does
            check_prediction_columns(list(row), self.fitted.schema, "the row")
            self._checked_keys = keys
        features, errors = transform_row(row, self.fitted.inputs, self.base_dir, False)
        if errors:
            message = "; ".join(f"column {c!r}: {m}" for c, m in errors)
            return {"row": 0, **dict.fromkeys(self._output_columns(proba)), "error": message}
        batch = self.collate([(0, features, None)]).to(self.device)
        with torch.inference_mode():
            outputs = self.model.predict_step(batch)  # type: ignore[operator]
        values = self._values({**outputs, "row": batch.index}, proba)
        if proba or self._columns is None:
            self._columns = list(values)
        return {"row": 0, **values, "error": None}

    def _values(self, outputs: dict[str, Any], proba: bool) -> dict[str, Any]:
        """The task's output frame for one row, as a dict. Classification builds it without pandas
        (the same columns and values as ``ClassificationTask.frame_from_logits``: a one-row
        DataFrame cost more than the model); other tasks go through ``to_frame``."""
        task = self.fitted.model.task
        if isinstance(task, ClassificationTask):
            probs = task.probabilities(outputs["logits"]).cpu()[0]  # (K,)
            classes = task.target.classes_
            values: dict[str, Any] = {"prediction": classes[int(probs.argmax())]}
            if proba:
                values.update({f"proba_{name}": float(probs[i]) for i, name in enumerate(classes)})
            return values
        frame = task.to_frame(outputs, proba)
        return {str(k): _scalar(v[0]) for k, v in frame.to_dict("list").items()}

    def _output_columns(self, proba: bool) -> list[str]:
        """The task's prediction columns (learned from a first good row; ``prediction`` before)."""
        if self._columns is None:
            return ["prediction"]
        return [c for c in self._columns if proba or not c.startswith("proba_")]


def _scalar(value: Any) -> Any:
    """A numpy scalar as the plain Python value (JSON-ready); other values as they are."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value
