"""Which column is which modality, and which task the label asks for.

Inference looks at file extensions, dtypes and cardinality; explicit choices always win. Every
decision keeps its reason, and suspicious columns get warnings, so ``polyfuse inspect`` can explain.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from polyfuse.data.processors.base import is_missing

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".au", ".opus")
TABULAR = "tabular"
"""Name of the one input that groups every numeric and categorical column."""

log = logging.getLogger("polyfuse")

MAX_NON_NUMBERS = 0.05
"""A column whose present cells are numbers but for at most this share is numeric; the others are
named in a warning (and are bad rows), instead of the whole column silently becoming text."""

_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana and CJK ideographs
_WORD = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")
"""A word: one character of a script written without spaces (Chinese, Japanese), else a run of
non-space characters; so a Chinese sentence counts as many words, not as one id-like token."""


class MissingColumnError(KeyError):
    """A column named in the config is not in the table; the message names the columns and the table."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0])


@dataclass
class ColumnInfo:
    """One column's modality and why."""

    name: str
    modality: str
    reason: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class Schema:
    """The columns (in table order), the target column (if any) and the task."""

    label: str | None
    task: str
    columns: list[ColumnInfo]
    task_reason: str = ""
    label_delimiter: str = "|"

    def targets(self) -> list[str]:
        """The columns the task reads as targets: the label column, when there is one."""
        return [] if self.label is None else [self.label]

    def by_modality(self, modality: str) -> list[str]:
        """Column names of one modality, in table order."""
        return [c.name for c in self.columns if c.modality == modality]

    def inputs(self) -> dict[str, list[str]]:
        """Model inputs: one per text/image/audio column, one ``tabular`` for numbers + categories."""
        result: dict[str, list[str]] = {}
        for col in self.columns:
            if col.modality in ("text", "image", "audio"):
                result[col.name] = [col.name]
        tabular = self.by_modality("numeric") + self.by_modality("categorical")
        if tabular:
            result[TABULAR] = tabular
        return result

    def modality_of(self, input_name: str) -> str:
        """Modality of a model input (``tabular`` for the grouped one)."""
        if input_name == TABULAR:
            return TABULAR
        return next(c.modality for c in self.columns if c.name == input_name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Schema:
        """Inverse of :meth:`to_dict`."""
        columns = [ColumnInfo(**c) for c in values["columns"]]
        return cls(**{**values, "columns": columns})


def _present(series: pd.Series) -> pd.Series:
    return series[[not is_missing(v) for v in series]]


def _extension_share(values: pd.Series, extensions: tuple[str, ...]) -> float:
    if values.empty:
        return 0.0
    hits = [isinstance(v, str) and v.strip().lower().endswith(extensions) for v in values]
    return float(np.mean(hits))


def infer_column(name: str, series: pd.Series) -> ColumnInfo:
    """Guess one column's modality from its values."""
    values = _present(series)
    n_rows, n_present = len(series), len(values)
    warnings = []
    if n_rows and n_present / n_rows < 0.5:
        warnings.append(f"{n_rows - n_present} of {n_rows} cells are empty")
    if n_present == 0:
        warnings = [
            f"every one of its {n_rows} cells is empty: the column is left out of the model"
            f" (a media column whose paths were lost? set data.columns.{name} to keep it as an input)"
        ]
        return ColumnInfo(name, "ignore", "every cell is empty", warnings)
    n_unique = values.map(str).nunique()  # map, not astype: astype(str) decodes bytes
    if n_unique == 1:
        warnings.append("constant column: it carries no information")
    if values.map(lambda v: isinstance(v, (bytes, bytearray))).all():
        return ColumnInfo(name, "image", "raw bytes (assumed encoded images)", warnings)
    for modality, extensions in (("image", IMAGE_EXTENSIONS), ("audio", AUDIO_EXTENSIONS)):
        share = _extension_share(values.head(200), extensions)
        if share >= 0.9:
            return ColumnInfo(name, modality, f"{share:.0%} of values end in {modality} extensions", warnings)
    few = max(2, min(20, int(0.05 * n_present) + 2))
    if pd.api.types.is_bool_dtype(series):
        return ColumnInfo(name, "categorical", "boolean dtype", warnings)
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        if not pd.api.types.is_numeric_dtype(series):
            warnings.append("numbers stored as text")
        integral = bool(np.all(np.mod(numeric.to_numpy(dtype=float), 1) == 0))
        if integral and n_unique <= few and n_present >= 20:
            return ColumnInfo(name, "categorical", f"integers with only {n_unique} distinct values", warnings)
        if integral and n_unique == n_present and n_present >= 20:
            return _integer_id(name, numeric, warnings)
        return ColumnInfo(name, "numeric", f"numeric values, {n_unique} distinct", warnings)
    mostly = _mostly_numbers(name, values, numeric, few)
    if mostly is not None:
        return ColumnInfo(name, "numeric", mostly[0], [*warnings, mostly[1]])
    texts = values.astype(str)
    mean_words = float(texts.map(lambda t: len(_WORD.findall(t))).mean())
    if n_unique == n_present and n_present >= 20 and mean_words < 1.5:
        warnings.append("looks like an identifier (every value unique, single word): ignored")
        return ColumnInfo(name, "ignore", "unique single-token strings (an id)", warnings)
    if n_unique <= few or (mean_words < 3 and n_unique <= 0.2 * n_present):
        if n_unique > 100:
            warnings.append(f"high-cardinality category ({n_unique} values)")
        return ColumnInfo(
            name, "categorical", f"strings with {n_unique} distinct values, {mean_words:.1f} words", warnings
        )
    return ColumnInfo(
        name, "text", f"free text, {mean_words:.1f} words on average, {n_unique} distinct", warnings
    )


_ID_NAME = re.compile(r"(^|_)(id|idx|index|key|row|uid|uuid)$|[a-z]Id$|ID$", re.IGNORECASE)


def _integer_id(name: str, numeric: pd.Series, warnings: list[str]) -> ColumnInfo:
    """A column of distinct integers: an id when named like one or counting up by one (ignored,
    loudly), else a number with a warning that it may be an id."""
    steps = np.diff(np.sort(numeric.to_numpy(dtype=float)))
    counter = bool(len(steps)) and bool(np.all(steps == 1))
    if _ID_NAME.search(name) or counter:
        why = "named like an id" if _ID_NAME.search(name) else "consecutive integers"
        warnings.append(
            f"looks like an identifier (every value a distinct integer, {why}): ignored, not used as"
            f" a number; set data.columns.{name}: numeric if it is a real quantity"
        )
        return ColumnInfo(name, "ignore", f"distinct integers, {why} (an id)", warnings)
    warnings.append(
        f"every value is a distinct integer: if this is an id, set data.columns.{name}: ignore"
        " (it is read as a number)"
    )
    return ColumnInfo(name, "numeric", f"numeric values, {len(numeric)} distinct integers", warnings)


def _mostly_numbers(name: str, values: pd.Series, numeric: pd.Series, few: int) -> tuple[str, str] | None:
    """(reason, warning) when all but a few present cells are numbers (of many distinct values):
    the column is numeric and the warning names the odd cells, which become bad rows."""
    odd = values[numeric.isna()]
    numbers = numeric.dropna()
    if len(values) < 20 or len(odd) > MAX_NON_NUMBERS * len(values) or numbers.nunique() <= few:
        return None
    cells = ", ".join(f"row {row} {value!r}" for row, value in list(odd.items())[:5])
    more = f" and {len(odd) - 5} more" if len(odd) > 5 else ""
    comma = any(isinstance(v, str) and _DECIMAL_COMMA.match(v) for v in odd)
    hint = " (decimal commas? polyfuse reads 1.5, not 1,5)" if comma else ""
    warning = (
        f"{len(odd)} of {len(values)} cells are not numbers: {cells}{more}{hint}; the column is"
        f" read as numeric and these rows are bad (fix them, or set data.columns.{name})"
    )
    return f"numeric values, {numbers.nunique()} distinct, {len(odd)} cells not numbers", warning


def infer_task(series: pd.Series, delimiter: str = "|") -> tuple[str, str]:
    """Guess the task from the label column; returns (task, reason)."""
    values = _present(series)
    if values.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
        return "multilabel", "label cells are lists"
    textual = pd.api.types.is_string_dtype(values) or values.dtype == object
    if textual and values.astype(str).str.contains(delimiter, regex=False).mean() > 0.1:
        return "multilabel", f"label strings contain the delimiter {delimiter!r}"
    n_unique = values.astype(str).nunique()
    if textual and n_unique > 50 and n_unique > 0.3 * len(values):
        words = float(values.astype(str).map(lambda v: len(v.split())).mean())
        if words >= 3:
            return "generation", (
                f"free text label ({n_unique} distinct values, {words:.1f} words on average): text"
                " generation by a decoder, not a classifier of that many classes"
                " (set model.task.type to override)"
            )
    if n_unique <= 2:
        return "binary", f"{n_unique} distinct label values"
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        integral = bool(np.all(np.mod(numeric.to_numpy(dtype=float), 1) == 0))
        if not integral:
            return "regression", "non-integer numeric label"
        if n_unique > 50:
            return "regression", f"integer label with {n_unique} distinct values"
    return "multiclass", f"{n_unique} distinct label values"


def infer_schema(
    frame: pd.DataFrame,
    label: str | None,
    columns: dict[str, str] | None = None,
    task: str = "auto",
    label_delimiter: str = "|",
    source: str = "the table",
    sections: Sequence[str] = (),
    log_warnings: bool = True,
) -> Schema:
    """Infer the schema of ``frame``; ``columns`` and ``task`` override inference.

    Each column's warnings are logged (logger ``polyfuse``, level WARNING) unless
    ``log_warnings`` is False (``polyfuse inspect`` prints them itself).

    ``sections`` are the keys of per-input config sections (``data.processors``,
    ``model.encoders``): each that is not a modality name must be a column. ``source`` (the
    table's file) is named in the error when a column the config names is absent.
    """
    explicit = dict(columns or {})
    by_column = [k for k in sections if k not in ("text", "image", "audio", TABULAR)]
    named = [label] if label is not None else []
    missing = list(dict.fromkeys(c for c in [*named, *explicit, *by_column] if c not in frame.columns))
    if missing:
        raise MissingColumnError(
            f"column(s) {', '.join(map(repr, missing))} named in the config are not in {source};"
            f" it has: {', '.join(map(str, frame.columns))}"
        )
    infos = []
    label_values = frame[label].map(str) if label is not None else None
    for name in frame.columns:
        if name == label:
            continue
        if name in explicit:
            info = ColumnInfo(str(name), explicit[name], "set in the config")
            if explicit[name] != "ignore" and all(is_missing(v) for v in frame[name]):
                info.warnings.append(
                    f"set to {explicit[name]} but every cell is empty: the input is always absent"
                )
        else:
            info = infer_column(str(name), frame[name])
            if (
                label_values is not None
                and info.modality != "ignore"
                and frame[name].map(str).equals(label_values)
            ):
                info.warnings.append("identical to the label: a leak")
        if info.name == TABULAR and info.modality in ("text", "image", "audio"):
            raise ValueError(f"column name {TABULAR!r} is reserved for the grouped tabular input")
        infos.append(info)
    if task == "auto":
        if label is None:
            raise ValueError(
                "the task cannot be inferred without a label column: set data.label or model.task"
            )
        task, reason = infer_task(frame[label], label_delimiter)
    else:
        reason = "set in the config"
    if log_warnings:
        for info in infos:
            for warning in info.warnings:
                log.warning("%s, column %r: %s", source, info.name, warning)
    return Schema(label, task, infos, reason, label_delimiter)
