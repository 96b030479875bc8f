"""Numbers and categories of one table, grouped into one input.

Numeric columns: median imputation with a missing-indicator per column, then standardisation.
Categorical columns: a vocabulary per column; id 0 is the bucket for unknown and missing values.

Numbers the model cannot use are row errors, never silent NaN: text (with a hint for decimal
commas), infinities, values beyond float32 (``1e39`` would overflow to inf) and values more than
``MAX_ABS_Z`` standard deviations from the training mean. ``fit`` leaves values more than
``OUTLIER_SCALES`` robust scales from the median out of the statistics, with a warning, so one
typo cannot scale a whole column to nothing.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from polyfuse.data.processors._registry import register_processor
from polyfuse.data.processors.base import BadValueError, Features, Processor, is_missing

log = logging.getLogger("polyfuse")

FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_ABS_Z = 1e6
"""Largest standardised value a cell may take (a training value is within sqrt(rows))."""
OUTLIER_SCALES = 1e6
"""``fit`` leaves out values farther than this many robust scales (IQR / 1.349) from the median."""

_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")


def category_key(value: Any) -> str:
    """Canonical string of a category (``3``, ``3.0`` and ``"3"`` are one category)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    return str(value).strip()


@register_processor("tabular", "impute and standardise numbers, index categories")
class TabularProcessor(Processor):
    """Numeric + categorical columns -> ``{"numeric": (2N,), "categorical": (K,)}``.

    The numeric part holds N standardised values followed by N missing indicators.

    Args:
        numeric: numeric column names.
        categorical: categorical column names.
        min_count: categories seen fewer times in training go to the unknown bucket.
        unknown: ``"bucket"`` maps unseen categories to id 0; ``"error"`` rejects them.
    """

    modality: ClassVar[str] = "tabular"

    def __init__(
        self,
        numeric: Sequence[str] = (),
        categorical: Sequence[str] = (),
        min_count: int = 1,
        unknown: str = "bucket",
    ) -> None:
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.min_count = min_count
        self.unknown = unknown

    def _number(self, column: str, value: Any) -> float:
        if is_missing(value):
            return math.nan
        try:
            number = float(value)
        except (TypeError, ValueError):
            comma = isinstance(value, str) and _DECIMAL_COMMA.match(value)
            hint = " (a decimal comma? polyfuse reads 1.5, not 1,5)" if comma else ""
            raise BadValueError(f"{value!r} is not a number{hint}", column) from None
        if math.isinf(number):
            raise BadValueError(f"{value!r} is not finite", column)
        if abs(number) > FLOAT32_MAX:
            raise BadValueError(f"{value!r} is beyond the float32 range (about ±3.4e38)", column)
        return number

    def _fit_number(self, column: str, value: Any) -> float:
        """Like ``_number``, but an unusable value is left out of the statistics (``transform``
        reports its row), as image and audio processors skip unreadable files in ``fit``."""
        try:
            return self._number(column, value)
        except BadValueError:
            return math.nan

    def fit(self, values: Sequence[Any]) -> TabularProcessor:
        rows = [v if isinstance(v, Mapping) else {} for v in values]  # not a mapping: all absent
        numbers = np.array(
            [[self._fit_number(c, r.get(c)) for c in self.numeric] for r in rows], dtype=np.float64
        ).reshape(len(rows), len(self.numeric))
        for j, column in enumerate(self.numeric):
            _drop_extremes(column, numbers[:, j])
        with np.errstate(all="ignore"):
            median = np.nanmedian(numbers, axis=0) if len(rows) else np.zeros(len(self.numeric))
        self.median_ = [0.0 if math.isnan(m) else float(m) for m in np.atleast_1d(median)]
        filled = np.where(np.isnan(numbers), np.array(self.median_), numbers)
        self.mean_ = [float(m) for m in filled.mean(axis=0)] if len(rows) else []
        std = filled.std(axis=0) if len(rows) else np.ones(len(self.numeric))
        self.std_ = [float(s) if s > 1e-12 else 1.0 for s in std]
        self.vocab_: dict[str, dict[str, int]] = {}
        for column in self.categorical:
            counts = Counter(category_key(r.get(column)) for r in rows if not is_missing(r.get(column)))
            kept = sorted(k for k, n in counts.items() if n >= self.min_count)
            self.vocab_[column] = {k: i + 1 for i, k in enumerate(kept)}
        return self

    def transform(self, value: Any) -> Features | None:
        if not isinstance(value, Mapping) and is_missing(value):  # the whole group absent
            return None  # (one row's empty cells are imputed, not absent)
        numeric, ids = self._row(value)
        return {
            "numeric": torch.tensor(numeric, dtype=torch.float32),
            "categorical": torch.tensor(ids, dtype=torch.long),
        }

    def transform_many(self, values: Sequence[Any]) -> list[Features | BadValueError | None]:
        """:meth:`transform` of each value, with one tensor per kind for all rows (split into
        row views)."""
        results: list[Features | BadValueError | None] = [None] * len(values)
        good: list[int] = []
        numeric: list[list[float]] = []
        categorical: list[list[int]] = []
        for i, value in enumerate(values):
            if not isinstance(value, Mapping) and is_missing(value):
                continue
            try:
                row_numeric, row_ids = self._row(value)
            except BadValueError as error:
                results[i] = error
                continue
            good.append(i)
            numeric.append(row_numeric)
            categorical.append(row_ids)
        if good:
            width = 2 * len(self.numeric)
            numbers = torch.tensor(numeric, dtype=torch.float32).reshape(len(good), width)
            cats = torch.tensor(categorical, dtype=torch.long).reshape(len(good), len(self.categorical))
            for i, x, c in zip(good, numbers.unbind(), cats.unbind(), strict=True):
                results[i] = {"numeric": x, "categorical": c}
        return results

    def _row(self, row: Mapping[str, Any]) -> tuple[list[float], list[int]]:
        """One row's scaled numbers with their missing flags, and category ids; raises
        :class:`BadValueError` naming the column of a bad cell."""
        numbers = [self._number(c, row.get(c)) for c in self.numeric]
        missing = [1.0 if math.isnan(x) else 0.0 for x in numbers]
        scaled = [
            0.0 if math.isnan(x) else (x - m) / s
            for x, m, s in zip(numbers, self.mean_, self.std_, strict=True)
        ]
        for column, z, m in zip(self.numeric, scaled, self.mean_, strict=True):
            if abs(z) > MAX_ABS_Z:
                raise BadValueError(
                    f"{row.get(column)!r} is {abs(z):.3g} standard deviations from the training mean"
                    f" {m:.6g} (more than {MAX_ABS_Z:.0e}): a typo or a unit error?",
                    column,
                )
        ids = []
        for column in self.categorical:
            cell = row.get(column)
            index = 0 if is_missing(cell) else self.vocab_[column].get(category_key(cell), 0)
            if index == 0 and not is_missing(cell) and self.unknown == "error":
                raise BadValueError(f"category {cell!r} was not seen in training", column)
            ids.append(index)
        return scaled + missing, ids

    def collate(self, items: Sequence[Features | None]) -> Features:
        width = 2 * len(self.numeric)
        numeric = [x["numeric"] if x else torch.zeros(width) for x in items]
        empty = torch.zeros(len(self.categorical), dtype=torch.long)
        cats = [x["categorical"] if x else empty for x in items]
        return {"numeric": torch.stack(numeric), "categorical": torch.stack(cats)}

    def output_spec(self) -> dict[str, Any]:
        return {
            "num_numeric": 2 * len(self.numeric),
            "cardinalities": [len(self.vocab_[c]) + 1 for c in self.categorical],
        }

    def get_params(self) -> dict[str, Any]:
        return {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "min_count": self.min_count,
            "unknown": self.unknown,
        }

    def get_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        state = {"median_": self.median_, "mean_": self.mean_, "std_": self.std_, "vocab_": self.vocab_}
        return state, {}

    def set_state(self, state: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        self.median_ = list(state["median_"])
        self.mean_ = list(state["mean_"])
        self.std_ = list(state["std_"])
        self.vocab_ = {c: dict(v) for c, v in state["vocab_"].items()}


def _drop_extremes(column: str, values: np.ndarray) -> None:
    """Set to NaN (in place) the values more than ``OUTLIER_SCALES`` robust scales from the median,
    with a warning naming them. The scale is IQR / 1.349, else the median of the non-zero absolute
    deviations; with no spread to measure nothing is dropped."""
    finite = values[~np.isnan(values)]
    if finite.size < 4:
        return
    median = float(np.median(finite))
    q1, q3 = np.percentile(finite, [25, 75])
    scale = float(q3 - q1) / 1.349
    if scale <= 0:
        deviations = np.abs(finite - median)
        nonzero = deviations[deviations > 0]
        scale = float(np.median(nonzero)) if nonzero.size >= 2 else 0.0
    if scale <= 0:
        return
    with np.errstate(invalid="ignore"):
        far = np.abs(values - median) > OUTLIER_SCALES * scale
    if not far.any():
        return
    shown = ", ".join(f"{v:.6g}" for v in values[far][:5]) + (", ..." if far.sum() > 5 else "")
    log.warning(
        "column %r: %d value(s) far from all the others (%s; the median is %.6g) are left out of its"
        " scaling; such a row is bad as an input",
        column,
        int(far.sum()),
        shown,
        median,
    )
    values[far] = np.nan
