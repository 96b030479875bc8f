"""Checks of a whole table against what training or a fitted schema needs, with plain messages.

- :func:`check_prediction_columns`: every input column a fitted model reads is in the table to
  predict; a missing or misspelt one is named, with the closest column the table has.
- :func:`check_split_sizes`: training and validation both have rows, or the message says why
  not (a table too small, a label too rare to split).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from polyfuse.data.schema import MissingColumnError, Schema


def closest_column(name: str, available: Iterable[str]) -> str | None:
    """The available column most like ``name``: same name up to case, else difflib's best match."""
    names = [str(a) for a in available]
    folded = [a for a in names if a.casefold() == name.casefold()]
    if folded:
        return folded[0]
    matches = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return matches[0] if matches else None


def check_prediction_columns(
    columns: Sequence[str], schema: Schema | Sequence[str], source: str = "the table"
) -> None:
    """Raise unless ``columns`` (a table's header) holds every input column ``schema`` reads (or
    every column of the given list: the columns a fitted model's inputs read).

    The label and ignored columns are not needed; extra columns are fine.

    Raises:
        MissingColumnError: Names each missing column, the closest present one when there is
            one, and the table.
    """
    present = [str(c) for c in columns]
    if isinstance(schema, Schema):
        needed = [c.name for c in schema.columns if c.modality != "ignore"]
    else:
        needed = list(schema)
    missing = [name for name in needed if name not in present]
    if not missing:
        return
    parts = []
    for name in missing:
        near = closest_column(name, [c for c in present if c not in needed])
        parts.append(f"{name!r}" + (f" (did you mean {near!r}?)" if near else ""))
    raise MissingColumnError(
        f"{source} lacks the input column(s) the model reads: {', '.join(parts)};"
        f" it has: {', '.join(present) or '(no columns)'}"
    )


def check_split_sizes(
    train_rows: int,
    valid_rows: int,
    source: str,
    carved: bool,
    valid_fraction: float = 0.1,
    smallest_label: tuple[str, int] | None = None,
) -> None:
    """Raise a plain :class:`ValueError` when training or validation has no row.

    Args:
        train_rows: Rows left for training.
        valid_rows: Rows for validation.
        source: The training table (named in the message).
        carved: Whether validation was carved from the training table (``data.valid`` unset).
        valid_fraction: ``data.valid_fraction``, quoted in the message.
        smallest_label: ``(label value, rows)`` of the rarest label, for classification.
    """
    if train_rows > 0 and valid_rows > 0:
        return
    total = train_rows + valid_rows if carved else train_rows
    if total == 0:
        raise ValueError(f"{source} has no data rows to train on")
    if not carved:
        raise ValueError(f"the validation table has no data rows; {source} has {train_rows}")
    hint = "give a validation table (data.valid) or more rows"
    if smallest_label is not None and smallest_label[1] < 2:
        label, count = smallest_label
        hint += f"; label {label!r} has {count} row, and a label needs at least 2 to be split"
    raise ValueError(
        f"{source} has only {total} rows: too few to train and validate (a validation share of"
        f" {valid_fraction:g} leaves {train_rows} to train and {valid_rows} to validate); {hint}"
    )


def duplicate_columns_message(names: Sequence[str], source: str) -> str | None:
    """``None`` when every column name is unique, else a message naming each repeated one and where."""
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(names, start=1):
        positions.setdefault(name, []).append(position)
    repeated = {n: p for n, p in positions.items() if len(p) > 1}
    if not repeated:
        return None
    parts = [f"{n!r} ({len(p)} times: columns {', '.join(map(str, p))})" for n, p in repeated.items()]
    return f"{source} names a column more than once: {'; '.join(parts)}; rename them so each is unique"
