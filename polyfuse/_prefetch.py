"""Import slow modules in a background thread while the data is read and decoded.

A fit imports two heavy modules it cannot avoid: ``torch._dynamo`` (the first optimizer built
imports it) and ``torchmetrics`` (the first validation; it pulls in transformers and scipy). On two
busy cores they took 19 of a 28 s fit; started at the beginning of ``fit`` they load while the
processors are fitted and the media decoded (Pillow and the tokenizer release the GIL), and
:func:`wait` is called before training starts, so the main thread never imports them at the same
time (no import-lock contention).
"""

from __future__ import annotations

import importlib
import threading

FIT_MODULES = ("torch._dynamo", "torchmetrics.functional.classification")
"""What a fit imports late and slowly."""

_started: threading.Thread | None = None


def start(modules: tuple[str, ...] = FIT_MODULES) -> None:
    """Begin importing ``modules`` in a daemon thread (no-op when they are imported already)."""
    global _started
    if _started is not None:
        return

    def work() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # an optional module missing: the main thread reports it when used
                continue

    _started = threading.Thread(target=work, name="polyfuse-prefetch", daemon=True)
    _started.start()


def wait() -> None:
    """Block until the background imports are done (call before the main thread needs them)."""
    if _started is not None:
        _started.join()
