"""Running row work in chunks: in this thread in large chunks when rows are fast, in a thread pool
in small ones when they are slow to decode (the first rows decide)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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


def _run_rows(work: Callable[[int], Any], count: int, threads: int | None) -> Iterator[Any]:
    """``work(i)`` for ``i`` in ``range(count)``, in order, as :func:`_run_chunks` schedules them."""
    return _run_chunks(lambda start, stop: [work(i) for i in range(start, stop)], count, threads)
