"""Pausing Python's cyclic garbage collector while a chunk of rows is decoded and predicted.

A chunk's temporaries (a dict and a tensor view per row and input, the batches) are alive while the
collector's young generations run, so they are promoted, and every few chunks the promoted count
triggers a full collection, which walks every long-lived object of the process: the ~220,000 of
torch, pandas and the model, 30-120 ms a time on a 2-core machine, against ~80 ms to predict the
whole 400-row chunk. Paused, the collector never sees them: reference counting frees them when
the chunk is done (none of them form cycles), nothing is promoted, and the full collections stop
coming. Measured on the 400-row speed table, alternating blocks of 20 predictions in one process:
the mean prediction 7 % faster.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_restore = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block (re-entrant and thread-safe: the collector is
    enabled again, if it was enabled before, when the last block running in any thread ends)."""
    global _depth, _restore
    with _lock:
        if _depth == 0:
            _restore = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore:
                gc.enable()
