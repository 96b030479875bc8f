"""Decoding rows a slice at a time: each input's slice in one ``transform_many`` call
(:func:`transform_chunk`), and the slices run in this thread in large chunks when rows are fast or
in a thread pool in small ones when they are slow to decode (:func:`_run_chunks`; the first rows
decide)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from polyfuse.data.processors.base import BadValueError, Features, is_missing
from polyfuse.data.schema import TABULAR
from polyfuse.data.tables import resolve_media, undecodable_message
from polyfuse.data.targets import TargetProcessor

if TYPE_CHECKING:
    from polyfuse.data.dataset import InputSpec, MediaMemo, RowFeatures

PROBE_ROWS = 32
"""Rows decoded one after another first, to time what a row costs."""
THREADED_ROW_SECONDS = 1e-3
"""Rows slower than this (large JPEGs, audio) are decoded in threads: their decoders release the
GIL for long enough to run in parallel. Faster rows (small PNGs, short texts, numbers) are
mostly Python work, and threads only contend for the GIL: measured on 32 px PNG + text + number
rows, 3,578 rows/s in one thread against 1,076 with eight threads and 2,216 with two."""
CHUNK_ROWS = 16
"""Rows per task when decoding in threads (small, so slow rows spread over the workers)."""
BATCH_ROWS = 256
"""Rows per ``transform_many`` call in one thread (large, so per-call work is shared)."""


def _run_chunks(work: Callable[[int, int], list[Any]], count: int, threads: int | None) -> Iterator[Any]:
    """The items of ``work(start, stop)`` over ``range(count)``, in order; in threads only when
    rows are slow.

    ``threads``: 1 forces one thread; ``None`` lets the first :data:`PROBE_ROWS` rows decide
    (threads: ``min(8, cpu_count)``).
    """
    workers = threads or min(8, os.cpu_count() or 1)
    probe = min(count, PROBE_ROWS)
    started = time.perf_counter()
    yield from work(0, probe)
    slow = probe and (time.perf_counter() - started) / probe > THREADED_ROW_SECONDS
    if workers < 2 or count - probe <= CHUNK_ROWS or not (slow or threads):
        for start in range(probe, count, BATCH_ROWS):
            yield from work(start, min(start + BATCH_ROWS, count))
        return
    with ThreadPoolExecutor(workers) as pool:
        starts = range(probe, count, CHUNK_ROWS)
        for rows in pool.map(lambda start: work(start, min(start + CHUNK_ROWS, count)), starts):
            yield from rows


def _is_media_path(spec: InputSpec, value: Any) -> bool:
    media = spec.modality in ("image", "audio")
    return media and isinstance(value, str | os.PathLike) and not is_missing(value)


def transform_chunk(
    spec: InputSpec,
    cells: dict[str, list[Any]],
    start: int,
    stop: int,
    base_dir: Any,
    strict_missing: bool,
    memo: MediaMemo | None,
    features: list[RowFeatures],
    errors: list[list[tuple[str, str]]],
) -> None:
    """One input of rows ``start:stop``: checks, then one ``transform_many``; fills ``features``
    and ``errors`` (one entry per row of the chunk), as :func:`transform_row` would row by row."""
    usable: list[int] = []
    for k in range(stop - start):
        row_errors = errors[k]
        bad = False
        for column in spec.columns:
            cell = cells[column][start + k]
            if strict_missing and is_missing(cell):
                row_errors.append((column, "the cell is empty"))
            message = undecodable_message(cell)
            if message:
                row_errors.append((column, message))
                bad = True
        if bad:
            features[k][spec.name] = None
        else:
            usable.append(k)
    values: list[Any]
    if spec.name == TABULAR:
        values = [{c: cells[c][start + k] for c in spec.columns} for k in usable]
    else:
        source = cells[spec.columns[0]]
        media = spec.modality in ("image", "audio")
        values = [resolve_media(source[start + k], base_dir) if media else source[start + k] for k in usable]
    for k, result in zip(usable, _transform_many(spec, values, memo), strict=True):
        if isinstance(result, BadValueError):
            errors[k].append((result.column or spec.columns[0], str(result)))
            features[k][spec.name] = None
        else:
            features[k][spec.name] = result


def _transform_many(
    spec: InputSpec, values: list[Any], memo: MediaMemo | None
) -> list[Features | BadValueError | None]:
    """``spec.processor.transform_many(values)``; media files already in ``memo`` (from an
    earlier row) are reused, and each new file is decoded once and remembered, errors too."""
    if memo is None or spec.modality not in ("image", "audio"):
        return spec.processor.transform_many(values)
    keys = [(spec.name, str(v)) if _is_media_path(spec, v) else None for v in values]
    new: dict[tuple[str, str], Any] = {}
    for key, value in zip(keys, values, strict=True):
        if key is not None and key not in memo:
            new.setdefault(key, value)
    others = [i for i, key in enumerate(keys) if key is None]
    decoded = spec.processor.transform_many([*new.values(), *(values[i] for i in others)])
    memo.update(zip(new, decoded[: len(new)], strict=True))
    results: list[Features | BadValueError | None] = [None] * len(values)
    for i, result in zip(others, decoded[len(new) :], strict=True):
        results[i] = result
    for i, key in enumerate(keys):
        if key is not None:
            results[i] = memo[key]
    return results


def encode_target(
    target: TargetProcessor, record: dict[str, Any], base_dir: Any, errors: list[tuple[str, str]]
) -> Any:
    """The row's encoded target, or ``None`` with its problem appended to ``errors``."""
    bad = [(c, m) for c in target.columns if (m := undecodable_message(record.get(c)))]
    if bad:
        errors += bad
        return None
    try:
        return target.encode(target.resolve(target.value(record), base_dir))
    except BadValueError as error:
        errors.append((error.column or ", ".join(target.columns), str(error)))
        return None
