"""How many CPU threads torch computes with (``training.threads``, ``--threads``).

``auto`` keeps torch's current count (its default is the physical cores, or ``$OMP_NUM_THREADS``;
a script's own ``torch.set_num_threads`` is respected) but never more than the cores this process
may use divided by the runs started together (``compare --jobs``), at least 1: two trainings
sharing two cores each get one thread instead of fighting over two (on two shared cores a training
took 65 s with two threads and 27 s with one). A number is applied as given. The count only
changes speed: results are the same up to float rounding.
"""

from __future__ import annotations

import os

AUTO = "auto"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def resolve_threads(value: int | str | None, jobs: int = 1) -> int:
    """The thread count ``value`` stands for: an int as given, ``auto``/``None`` as described above."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"threads must be at least 1 or 'auto', got {value}")
        return value
    if value not in (None, AUTO):
        raise ValueError(f"threads must be a positive int or 'auto', got {value!r}")
    import torch

    return max(1, min(torch.get_num_threads(), available_cores() // max(1, jobs)))


def apply_threads(value: int | str | None, jobs: int = 1) -> int:
    """Set torch's intra-op threads to ``resolve_threads(value, jobs)`` (only when it changes: the
    call is cheap on every prediction) and return the count."""
    import torch

    threads = resolve_threads(value, jobs)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
