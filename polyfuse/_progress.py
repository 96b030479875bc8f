"""Progress bars: a bar with rate and ETA on a terminal, nothing when output goes to a file or CI."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def progress_enabled(requested: bool) -> bool:
    """True when a bar was asked for and standard error is a terminal."""
    return requested and sys.stderr.isatty()


def progress_bar(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    unit: str = "it",
    desc: str | None = None,
    enabled: bool = True,
    **options: Any,
) -> Iterable[T]:
    """``tqdm(iterable)`` when :func:`progress_enabled`, else ``iterable`` itself."""
    if not progress_enabled(enabled):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, unit=unit, desc=desc, leave=False, dynamic_ncols=True, **options)
