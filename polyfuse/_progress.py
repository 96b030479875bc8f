"""One rule for progress bars: drawn only when asked for and when stderr is a terminal.

A bar redraws itself with carriage returns; in a log file or CI output that is a wall of
half-lines. :func:`progress_enabled` says whether to draw one (``requested`` and a TTY, and
``POLYFUSE_NO_PROGRESS`` unset); :func:`progress_bar` is ``tqdm`` under that rule.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

ENV_OFF = "POLYFUSE_NO_PROGRESS"
"""Set (to anything but empty or 0) to turn every progress bar off."""

T = TypeVar("T")


def progress_enabled(requested: bool = True, stream: Any = None) -> bool:
    """Whether to draw a bar: ``requested``, ``POLYFUSE_NO_PROGRESS`` unset and ``stream``
    (default ``sys.stderr``) a terminal."""
    if not requested or os.environ.get(ENV_OFF, "") not in ("", "0"):
        return False
    target = sys.stderr if stream is None else stream
    isatty = getattr(target, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):  # a closed stream
        return False


def progress_bar(iterable: Iterable[T], enabled: bool = True, **options: Any) -> Iterable[T]:
    """``tqdm(iterable, **options)``, disabled unless :func:`progress_enabled` says otherwise."""
    return tqdm(iterable, disable=not progress_enabled(enabled), **options)  # type: ignore[no-any-return]
