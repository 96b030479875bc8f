"""Reading tables (CSV, Parquet, JSONL, DataFrame), whole or in chunks, and resolving media paths."""

from __future__ import annotations

import codecs
import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from polyfuse.data.checks import duplicate_columns_message

SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}


@dataclass
class Table:
    """A table with the folder its relative media paths resolve against and where it came from."""

    frame: pd.DataFrame
    base_dir: Path
    source: str


def _format(path: Path) -> str:
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"cannot read {path}: unknown table format {path.suffix!r}"
            f" (use one of {', '.join(sorted(SUFFIXES))})"
        ) from None


MARK_ERRORS = "polyfuse-mark"
"""A decoding error handler: each byte that is not UTF-8 becomes the private-use character
U+100000 + byte (pandas' strings cannot hold Python's lone surrogates), which
:func:`undecodable_message` finds and names."""
_MARK_BASE = 0x100000
_MARKED = re.compile(f"[{chr(_MARK_BASE + 0x80)}-{chr(_MARK_BASE + 0xFF)}]")


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(chr(_MARK_BASE + byte) for byte in bad), error.end


codecs.register_error(MARK_ERRORS, _mark_undecodable)


def undecodable_message(value: Any) -> str | None:
    """Why a cell read with ``keep_undecodable`` is unusable (``None`` when it is fine): its first
    byte that is not UTF-8 and where (the message itself holds no marker)."""
    if not isinstance(value, str) or value.isascii():
        return None
    found = _MARKED.search(value)
    if found is None:
        return None
    byte = ord(found.group()) - _MARK_BASE
    return f"not valid UTF-8 (byte 0x{byte:02x} at character {found.start() + 1}); save the table as UTF-8"


class TableError(ValueError):
    """A table that cannot be used as a whole (empty, undecodable, duplicate column names)."""


def _bad_utf8(path: Path) -> str:
    """Where ``path`` first breaks UTF-8: ``line N, column C (byte 0xXX)``."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                column = len(line[: error.start].decode("utf-8", errors="replace")) + 1
                return f"line {number}, column {column} (byte 0x{line[error.start]:02x})"
    return "a byte sequence"


def _undecodable(path: Path) -> TableError:
    return TableError(
        f"cannot read {path}: {_bad_utf8(path)} is not valid UTF-8; save the table as UTF-8"
        " (from a spreadsheet: CSV UTF-8)"
    )


def _check_header(path: Path, kind: str) -> None:
    """A CSV/TSV whose header names a column twice (pandas would rename one silently)."""
    if kind not in ("csv", "tsv"):
        return
    sep = "\t" if kind == "tsv" else ","
    try:
        header = pd.read_csv(
            path,
            sep=sep,
            header=None,
            nrows=1,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            encoding_errors=MARK_ERRORS,  # later rows are not this check's business
        )
    except pd.errors.EmptyDataError:
        raise TableError(f"{path} is empty: no header and no rows") from None
    names = [str(v) for v in header.iloc[0]] if len(header) else []
    if any(undecodable_message(name) for name in names):
        raise _undecodable(path)
    message = duplicate_columns_message(names, str(path))
    if message:
        raise TableError(message)


def _checked(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    message = duplicate_columns_message([str(c) for c in frame.columns], source)
    if message:
        raise TableError(message)
    if len(frame) == 0:
        what = "a header but no data rows" if len(frame.columns) else "no rows and no columns"
        raise TableError(f"{source} has {what}")
    return frame


def read_table(data: str | Path | pd.DataFrame, base_dir: str | Path | None = None) -> Table:
    """Read a whole table. A DataFrame's media paths resolve against ``base_dir`` (default: cwd).

    Raises:
        FileNotFoundError: No such file.
        TableError: The table has no rows, names a column twice, or is not UTF-8 (the message
            names the file, line and column).
    """
    if isinstance(data, pd.DataFrame):
        frame = _checked(data, "the DataFrame")
        return Table(frame.reset_index(drop=True), Path(base_dir or Path.cwd()), "(DataFrame)")
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"table not found: {path}")
    kind = _format(path)
    _check_header(path, kind)
    try:
        if kind == "csv":
            frame = pd.read_csv(path, keep_default_na=True, encoding="utf-8-sig")
        elif kind == "tsv":
            frame = pd.read_csv(path, sep="\t", encoding="utf-8-sig")
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        elif kind == "jsonl":
            frame = pd.read_json(path, lines=True)
        else:
            frame = pd.read_json(path)
    except UnicodeDecodeError:
        raise _undecodable(path) from None
    frame = _checked(frame, str(path))
    return Table(frame.reset_index(drop=True), Path(base_dir or path.parent), str(path))


def read_columns(data: str | Path | pd.DataFrame) -> list[str]:
    """The column names of a table, reading as little of it as the format allows."""
    if isinstance(data, pd.DataFrame):
        return [str(c) for c in data.columns]
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"table not found: {path}")
    kind = _format(path)
    if kind in ("csv", "tsv"):
        _check_header(path, kind)
        try:
            header = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", nrows=0, encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise _undecodable(path) from None
        return [str(c) for c in header.columns]
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    return [str(c) for c in next(iter_table(path, 1)).frame.columns]


def iter_table(
    data: str | Path | pd.DataFrame,
    chunk_rows: int = 10_000,
    base_dir: str | Path | None = None,
    keep_undecodable: bool = False,
) -> Iterator[Table]:
    """Stream a table in chunks of ``chunk_rows`` (row index continues across chunks).

    A file without data rows, with a repeated column name or that is not UTF-8 raises
    :class:`TableError` (an empty DataFrame gives one empty chunk). With ``keep_undecodable``, a
    CSV / TSV cell that is not UTF-8 is kept with its bad bytes marked (:data:`MARK_ERRORS`), so
    the row that holds it can fail alone (:func:`undecodable_message`) instead of the whole table:
    what prediction and evaluation do.
    """
    if isinstance(data, pd.DataFrame):
        message = duplicate_columns_message([str(c) for c in data.columns], "the DataFrame")
        if message:
            raise TableError(message)
        for start in range(0, max(len(data), 1), chunk_rows):
            chunk = data.iloc[start : start + chunk_rows].copy()
            chunk.index = pd.RangeIndex(start, start + len(chunk))  # rows are positions, as for files
            yield Table(chunk, Path(base_dir or Path.cwd()), "(DataFrame)")
        return
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"table not found: {path}")
    kind, root = _format(path), Path(base_dir or path.parent)
    _check_header(path, kind)
    try:
        yield from _chunks(path, kind, root, chunk_rows, keep_undecodable)
    except UnicodeDecodeError:
        raise _undecodable(path) from None
    except pd.errors.EmptyDataError:
        raise TableError(f"{path} is empty: no header and no rows") from None


def _chunks(path: Path, kind: str, root: Path, chunk_rows: int, keep_undecodable: bool) -> Iterator[Table]:
    """:func:`iter_table`'s chunks of a file (decoding errors propagate to it)."""
    chunks: Iterator[pd.DataFrame]
    if kind in ("csv", "tsv"):
        chunks = pd.read_csv(
            path,
            sep="\t" if kind == "tsv" else ",",
            chunksize=chunk_rows,
            encoding="utf-8-sig",
            encoding_errors=MARK_ERRORS if keep_undecodable else "strict",
        )
    elif kind == "jsonl":
        chunks = pd.read_json(path, lines=True, chunksize=chunk_rows)
    elif kind == "parquet":
        import pyarrow.parquet as pq

        chunks = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows))
    else:
        chunks = iter([pd.read_json(path)])
    offset = 0
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        chunk.index = pd.RangeIndex(offset, offset + len(chunk))
        offset += len(chunk)
        yield Table(chunk, root, str(path))
    if offset == 0:
        raise TableError(f"{path} has a header but no data rows")


def resolve_media(value: Any, base_dir: Path) -> Any:
    """A relative media path becomes absolute against ``base_dir``; other values pass through.

    The result is ``str(base_dir / Path(value).expanduser())`` (or the path itself when absolute),
    joined as strings when the path is plain (nothing ``Path`` would normalise), since ``Path`` costs
    a few microseconds a row, as much as reading a small file."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return value
        if _PLAIN_POSIX and "//" not in text and "/." not in text and text[0] not in "~." and text[-1] != "/":
            if text[0] == "/":
                return text
            base = str(base_dir)
            return text if base == "." else (base + text if base.endswith("/") else f"{base}/{text}")
        path = Path(text)
        with contextlib.suppress(RuntimeError):  # "~name/..." of no such user: kept as written
            path = path.expanduser()
        return str(path if path.is_absolute() else base_dir / path)
    return value


_PLAIN_POSIX = os.sep == "/" and os.altsep is None
"""Paths are plain strings to join (not Windows', with drives and two separators)."""
