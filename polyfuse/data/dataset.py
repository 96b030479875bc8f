"""Rows -> tensors -> batches, with per-row error capture and an in-memory cache of decoded media.

Each model input (a text/image/audio column, or the grouped tabular columns) has a processor.
:func:`encode_rows` transforms rows and records, instead of raising, which rows failed and why,
so training can stop with one clear message (or skip them) and prediction can fail one row, not
the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from polyfuse._progress import progress_bar
from polyfuse.data._chunks import _is_media_path, _run_chunks, encode_target, transform_chunk
from polyfuse.data.batch import Batch
from polyfuse.data.processors.base import BadValueError, Features, Processor, is_missing
from polyfuse.data.schema import TABULAR
from polyfuse.data.tables import Table, resolve_media, undecodable_message
from polyfuse.data.targets import TargetProcessor


@dataclass
class InputSpec:
    """One model input: its name, modality, source columns and processor."""

    name: str
    modality: str
    columns: list[str]
    processor: Processor


@dataclass
class RowError:
    """Why one row could not be used."""

    row: int
    column: str
    message: str


class DataError(ValueError):
    """Bad rows found before training; the message groups them by column."""

    def __init__(
        self,
        errors: Sequence[RowError],
        source: str,
        total_rows: int,
        hint: str = "fix them, or pass --on-bad-rows skip (data.on_bad_rows: skip) to skip them",
    ) -> None:
        self.errors = list(errors)
        lines = [f"{len({e.row for e in errors})} of {total_rows} rows in {source} are bad:"]
        by_column: dict[str, list[RowError]] = {}
        for error in errors:
            by_column.setdefault(error.column, []).append(error)
        for column, items in by_column.items():
            rows = ", ".join(str(e.row) for e in items[:5]) + (", ..." if len(items) > 5 else "")
            lines.append(f"  column {column!r}: {len(items)} rows (rows {rows}); first: {items[0].message}")
        lines.append(hint)
        super().__init__("\n".join(lines))


RowFeatures = dict[str, Features | None]


def _input_value(spec: InputSpec, row: dict[str, Any], base_dir: Any) -> Any:
    if spec.name == TABULAR:
        return {c: row.get(c) for c in spec.columns}
    value = row.get(spec.columns[0])
    return resolve_media(value, base_dir) if spec.modality in ("image", "audio") else value


def input_values(table: Table, spec: InputSpec) -> list[Any]:
    """The raw values of one input, one per row of ``table`` (media paths resolved)."""
    records: list[dict[str, Any]] = table.frame.to_dict("records")  # type: ignore[assignment]
    return [_input_value(spec, row, table.base_dir) for row in records]


MediaMemo = dict[tuple[str, str], "Features | BadValueError | None"]
"""Decoded media (or the error decoding gave) per (input, resolved path), shared by the rows of a
table that name the same file (several questions about one image)."""


def transform_row(
    row: dict[str, Any],
    inputs: Sequence[InputSpec],
    base_dir: Any,
    strict_missing: bool,
    memo: MediaMemo | None = None,
) -> tuple[RowFeatures, list[tuple[str, str]]]:
    """One row -> features per input (None = absent) and ``(column, message)`` errors.

    With ``memo``, an image or audio file already decoded for another row is reused (the same
    tensors: augmentations return new ones and never write into them), as is its error.
    """
    features: RowFeatures = {}
    errors: list[tuple[str, str]] = []
    for spec in inputs:
        if strict_missing:
            errors += [(c, "the cell is empty") for c in spec.columns if is_missing(row.get(c))]
        undecodable = [(c, m) for c in spec.columns if (m := undecodable_message(row.get(c)))]
        if undecodable:
            errors += undecodable
            features[spec.name] = None
            continue
        value = _input_value(spec, row, base_dir)
        key = (spec.name, str(value)) if memo is not None and _is_media_path(spec, value) else None
        try:
            features[spec.name] = _transform(spec, value, memo, key)
        except BadValueError as error:
            errors.append((error.column or spec.columns[0], str(error)))
            features[spec.name] = None
    return features, errors


def _transform(
    spec: InputSpec, value: Any, memo: MediaMemo | None, key: tuple[str, str] | None
) -> Features | None:
    """``spec.processor.transform(value)``, through ``memo`` when ``key`` is set (errors too)."""
    if memo is None or key is None:
        return spec.processor.transform(value)
    if key not in memo:
        try:
            memo[key] = spec.processor.transform(value)
        except BadValueError as error:
            memo[key] = error
    known = memo[key]
    if isinstance(known, BadValueError):
        raise known
    return known


@dataclass
class EncodedRows:
    """Transformed rows: features and targets for good rows, errors for bad ones."""

    index: list[int]
    features: list[RowFeatures]
    targets: list[Any] | None
    errors: list[RowError]


def encode_rows(
    table: Table,
    inputs: Sequence[InputSpec],
    target: TargetProcessor | None = None,
    strict_missing: bool = False,
    progress: bool = False,
    desc: str = "decoding",
    threads: int | None = None,
    keep_features: bool = True,
    memo: MediaMemo | None = None,
) -> EncodedRows:
    """Transform every row of ``table``, a chunk of rows at a time, each input's chunk in one
    :meth:`~polyfuse.data.processors.base.Processor.transform_many` call; in threads when rows are
    slow to decode (:func:`_run_chunks`).

    Rows that name the same image or audio file share its decoded tensors: a table of ten
    questions per image holds each image once. With ``keep_features=False`` rows are only
    checked (for tables decoded lazily later), and nothing is shared. ``memo``: the decoded media
    of earlier calls to reuse and extend (slices of one table decoded one after another).
    """
    frame = table.frame
    count = len(frame)
    positions = list(frame.index)
    names = {c for spec in inputs for c in spec.columns}
    cells = {c: frame[c].tolist() if c in frame.columns else [None] * count for c in names}
    records: list[dict[str, Any]] | None = None
    if target is not None:
        records = frame.to_dict("records")  # type: ignore[assignment]
    if not keep_features:
        memo = None
    elif memo is None:
        memo = {}

    def work(start: int, stop: int) -> list[tuple[RowFeatures, list[tuple[str, str]], Any]]:
        features: list[RowFeatures] = [{} for _ in range(start, stop)]
        errors: list[list[tuple[str, str]]] = [[] for _ in range(start, stop)]
        for spec in inputs:
            transform_chunk(spec, cells, start, stop, table.base_dir, strict_missing, memo, features, errors)
        targets = [None] * (stop - start)
        if target is not None and records is not None:
            for k in range(stop - start):
                targets[k] = encode_target(target, records[start + k], table.base_dir, errors[k])
        return list(zip(features, errors, targets, strict=True))

    results = list(
        progress_bar(
            _run_chunks(work, count, threads),
            progress,
            total=count,
            desc=desc,
            unit="row",
            leave=False,
        )
    )
    encoded = EncodedRows([], [], [] if target is not None else None, [])
    for i, (features, errors, row_target) in enumerate(results):
        if errors:
            encoded.errors += [RowError(int(positions[i]), c, m) for c, m in errors]
            continue
        encoded.index.append(int(positions[i]))
        if keep_features:
            encoded.features.append(features)
        if encoded.targets is not None and row_target is not None:
            encoded.targets.append(row_target)
    return encoded


def _row_seed(seed: int, epoch: int, index: int) -> int:
    return (seed * 1_000_003 + epoch * 7919 + index) % (2**63)


class RowsDataset(Dataset[tuple[int, RowFeatures, Any]]):
    """Rows held in memory (decoded once, reused every epoch); augmentation seeded per row+epoch."""

    def __init__(
        self, encoded: EncodedRows, inputs: Sequence[InputSpec], augment: bool = False, seed: int = 0
    ) -> None:
        self.encoded = encoded
        self.processors = {s.name: s.processor for s in inputs}
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Augmentations differ per epoch but are reproducible."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.encoded.index)

    def __getitem__(self, i: int) -> tuple[int, RowFeatures, Any]:
        features = self.encoded.features[i]
        if self.augment:
            generator = torch.Generator().manual_seed(_row_seed(self.seed, self.epoch, i))
            features = {
                name: None if f is None else self.processors[name].augment(f, generator)
                for name, f in features.items()
            }
        target = None if self.encoded.targets is None else self.encoded.targets[i]
        return self.encoded.index[i], features, target


class LazyRowsDataset(Dataset[tuple[int, RowFeatures, Any]]):
    """Rows decoded on access (for tables whose media do not fit in memory); use with workers.

    Bad rows must have been filtered out beforehand (``keep`` lists the index labels of the
    usable rows, as :attr:`EncodedRows.index` holds them).
    """

    def __init__(
        self,
        table: Table,
        keep: Sequence[int],
        inputs: Sequence[InputSpec],
        target: TargetProcessor | None,
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        self.records = dict(zip(table.frame.index, table.frame.to_dict("records"), strict=True))
        self.base_dir = table.base_dir
        self.keep = list(keep)
        self.inputs = list(inputs)
        self.target = target
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Augmentations differ per epoch but are reproducible."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.keep)

    def __getitem__(self, i: int) -> tuple[int, RowFeatures, Any]:
        row = self.records[self.keep[i]]
        features, errors = transform_row(row, self.inputs, self.base_dir, False)
        if errors:
            raise BadValueError(f"row {self.keep[i]} became unreadable during training: {errors[0][1]}")
        if self.augment:
            generator = torch.Generator().manual_seed(_row_seed(self.seed, self.epoch, i))
            features = {
                s.name: None if features[s.name] is None else s.processor.augment(features[s.name], generator)  # type: ignore[arg-type]
                for s in self.inputs
            }
        value = None if self.target is None else self.target.resolve(self.target.value(row), self.base_dir)
        target = None if self.target is None else self.target.encode(value)
        return self.keep[i], features, target


def make_collate(
    inputs: Sequence[InputSpec], target: TargetProcessor | None = None
) -> Callable[[list[tuple[int, RowFeatures, Any]]], Batch]:
    """A collate function building a :class:`Batch` with present masks (targets by ``target``)."""
    processors = {s.name: s.processor for s in inputs}
    stack = target.collate if target is not None else (lambda items: torch.stack(list(items)))

    def collate(items: list[tuple[int, RowFeatures, Any]]) -> Batch:
        batch_inputs, present = {}, {}
        for name, processor in processors.items():
            column = [features[name] for _, features, _ in items]
            batch_inputs[name] = processor.collate(column)
            present[name] = torch.tensor([f is not None for f in column], dtype=torch.bool)
        targets = [t for _, _, t in items]
        target = None if any(t is None for t in targets) else stack(targets)
        index = torch.tensor([i for i, _, _ in items], dtype=torch.long)
        return Batch(batch_inputs, present, target, index)

    return collate


def estimate_bytes(encoded_sample: Sequence[RowFeatures], total_rows: int) -> int:
    """Memory the decoded features of ``total_rows`` rows would take, from a sample."""
    if not encoded_sample:
        return 0
    size = sum(
        t.element_size() * t.nelement()
        for row in encoded_sample
        for features in row.values()
        if features is not None
        for t in features.values()
    )
    return int(size / len(encoded_sample) * total_rows)
