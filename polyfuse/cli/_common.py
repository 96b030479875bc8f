"""Shared CLI helpers: error mapping and tables."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor


class CliError(Exception):
    """An error shown to the user as one message, exit code 2."""


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's input errors into :class:`CliError` (no traceback for bad input).

    The error classes are imported here, not at module level, so ``polyfuse --help`` does not
    import torch."""
    from polyfuse._io import OutputError
    from polyfuse.bundle import BundleError
    from polyfuse.config.schema import ConfigError
    from polyfuse.data.dataset import DataError
    from polyfuse.data.processors.base import BadValueError

    try:
        yield
    except (ConfigError, DataError, BundleError, BadValueError, FileNotFoundError, KeyError) as error:
        raise CliError(str(error).strip('"')) from None
    except (ValueError, OutputError) as error:
        raise CliError(str(error)) from None


@contextlib.contextmanager
def output_file(path: str | Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write; it replaces ``path`` only when the block succeeds.

    A failed write (a full disk, a lost mount) becomes a :class:`CliError` saying the earlier file
    is unchanged, not a traceback.
    """
    from polyfuse._io import atomic_file

    target = Path(path)
    try:
        with atomic_file(target) as temp:
            yield temp
    except OSError as error:
        if isinstance(error, FileNotFoundError) or error.strerror is None:
            raise
        raise CliError(
            f"cannot write {target}: {error.strerror}; an earlier {target.name} there is unchanged"
        ) from None


def write_output_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`output_file`."""
    with output_file(path) as temp:
        temp.write_text(text, encoding="utf-8")


def load_predictor(bundle: str | Path) -> Predictor:
    """``Predictor.load(bundle)`` (a bundle that cannot be built is a :class:`BundleError`)."""
    from polyfuse.predictor import Predictor

    return Predictor.load(bundle)


def format_table(rows: list[list[Any]], header: list[str]) -> str:
    """A plain text table with aligned columns."""
    cells = [[str(h) for h in header]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def format_metrics(metrics: dict[str, Any]) -> str:
    """Scalar metrics, the per-class table and the confusion matrix, as text."""
    scalars = [[k, v] for k, v in metrics.items() if isinstance(v, (int, float)) or v is None]
    parts = [format_table(scalars, ["metric", "value"])]
    per_class = metrics.get("per_class")
    if per_class:
        fields = list(next(iter(per_class.values())))
        rows = [[name, *[scores[f] for f in fields]] for name, scores in per_class.items()]
        parts.append(format_table(rows, ["class", *[f.removesuffix("_score") for f in fields]]))
    matrix = metrics.get("confusion_matrix")
    if matrix and per_class:
        names = list(per_class)
        rows = [[f"true {n}", *row] for n, row in zip(names, matrix, strict=True)]
        parts.append(format_table(rows, ["confusion", *[f"pred {n}" for n in names]]))
    return "\n\n".join(parts)


def add_threads_argument(parser: Any) -> None:
    """``--threads N|auto``: torch's CPU threads (``training.threads``)."""
    parser.add_argument(
        "--threads",
        type=parse_threads,
        help="torch CPU threads (overrides training.threads; 'auto' = torch's default, the cores or"
        " $OMP_NUM_THREADS, shared among compare --jobs)",
    )


def parse_threads(text: str) -> int | str:
    """``"auto"`` or a positive int."""
    if text.strip() == "auto":
        return "auto"
    if not text.strip().isdigit() or int(text) < 1:
        import argparse

        raise argparse.ArgumentTypeError(f"must be a positive number or 'auto', got {text!r}")
    return int(text)
