"""A labelled table decoded once for a predictor, and scoring of (perturbed) passes over it.

Every analysis (noise levels, absent subsets, calibration, timing) reuses the same decoded batches,
so media files are read once however many perturbations are scored.

Legend: B batch, N rows, K outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch import Tensor

from polyfuse.bundle import Fitted
from polyfuse.data.batch import Batch
from polyfuse.data.dataset import DataError, EncodedRows, encode_rows
from polyfuse.data.tables import read_table
from polyfuse.data.targets import check_target_columns
from polyfuse.inference import batches, run_steps
from polyfuse.tasks import StepOutputs

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor

log = logging.getLogger("polyfuse")

DataLike = str | Path | pd.DataFrame
BatchTransform = Callable[[Batch], Batch]


@dataclass
class EvalData:
    """Decoded, batched rows of a labelled table, ready for repeated scoring.

    Attributes:
        fitted: the trained state the rows were encoded for.
        encoded: the encoded good rows (kept to re-batch at other sizes).
        batches: model-ready batches on the model's device.
        target: the good rows' targets as the task's target processor collates them, on CPU.
        rows / bad_rows: rows in the table, and rows that could not be read.
    """

    fitted: Fitted
    encoded: EncodedRows
    batches: list[Batch]
    target: Any
    rows: int
    bad_rows: int
    _subsets: dict[tuple[str, frozenset[str]], float] = field(default_factory=dict, repr=False)

    @property
    def input_names(self) -> list[str]:
        """Model inputs in sorted order."""
        return sorted(spec.name for spec in self.fitted.inputs)

    @property
    def primary_metric(self) -> str:
        """The task's primary metric (``accuracy_score`` for classification)."""
        return self.fitted.model.task.primary_metric

    def outputs(self, transform: BatchTransform | None = None) -> StepOutputs:
        """The task's validation outputs (targets included) of every row, each batch passed through
        ``transform`` first."""
        return run_steps(self.fitted, self.batches, 0, validate=True, transform=transform)

    def metrics(self, outputs: StepOutputs) -> dict[str, Any]:
        """The task's metrics of ``outputs`` (non-finite output tensors -> 0, with a warning)."""
        cleaned = dict(outputs)
        for key, value in outputs.items():
            if key != "target" and isinstance(value, Tensor) and value.is_floating_point():
                bad = ~torch.isfinite(value)
                if bad.any():
                    log.warning("%d non-finite %s scored as 0", int(bad.sum()), key)
                    cleaned[key] = torch.where(bad, torch.zeros_like(value), value)
        return self.fitted.model.task.metrics(cleaned)

    def score(self, transform: BatchTransform | None = None, metric: str | None = None) -> float:
        """One metric (default: the primary one) of a (transformed) pass."""
        value = self.metrics(self.outputs(transform))[metric or self.primary_metric]
        return float("nan") if value is None else float(value)

    def subset_score(self, present: Iterable[str], metric: str | None = None) -> float:
        """The score with only the inputs in ``present`` (the others absent); cached."""
        key = (metric or self.primary_metric, frozenset(present))
        if key not in self._subsets:
            removed = [name for name in self.input_names if name not in key[1]]
            self._subsets[key] = self.score(lambda b: remove_inputs(b, removed, self.fitted), key[0])
        return self._subsets[key]


def remove_inputs(batch: Batch, names: Iterable[str], fitted: Fitted) -> Batch:
    """A copy of ``batch`` with the inputs ``names`` absent in every row, as the collate makes them."""
    processors = {spec.name: spec.processor for spec in fitted.inputs}
    inputs, present = dict(batch.inputs), dict(batch.present)
    for name in names:
        empty = processors[name].collate([None] * len(batch))
        inputs[name] = {k: v.to(batch.present[name].device) for k, v in empty.items()}
        present[name] = torch.zeros_like(batch.present[name])
    return Batch(inputs, present, batch.target, batch.index)


def load_eval_data(
    predictor: Predictor,
    data: DataLike | EvalData,
    base_dir: str | Path | None = None,
    batch_size: int | None = None,
) -> EvalData:
    """Decode a labelled table once for ``predictor`` (an :class:`EvalData` is returned as is).

    Unreadable rows are counted in ``bad_rows`` and left out, as :meth:`Predictor.evaluate` does.
    """
    if isinstance(data, EvalData):
        return data
    fitted = predictor.fitted
    table = read_table(data, base_dir)
    check_target_columns(fitted.target, list(table.frame.columns), table.source)
    encoded = encode_rows(table, fitted.inputs, fitted.target)
    if not encoded.index or (fitted.target is not None and not encoded.targets):
        raise DataError(encoded.errors, table.source, len(table.frame))
    size = batch_size or predictor.config.inference.batch_size
    cached = list(batches(fitted, encoded, size))
    targets = encoded.targets or []
    return EvalData(
        fitted,
        encoded,
        cached,
        fitted.target.collate(targets) if fitted.target is not None and targets else None,
        len(table.frame),
        len({e.row for e in encoded.errors}),
    )
