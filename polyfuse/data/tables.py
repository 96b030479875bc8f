"""Reading tables (CSV, Parquet, JSONL, DataFrame), whole or in chunks, and resolving media paths."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

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


def read_table(data: str | Path | pd.DataFrame, base_dir: str | Path | None = None) -> Table:
    """Read a whole table. A DataFrame's media paths resolve against ``base_dir`` (default: cwd)."""
    if isinstance(data, pd.DataFrame):
        return Table(data.reset_index(drop=True), Path(base_dir or Path.cwd()), "(DataFrame)")
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"table not found: {path}")
    kind = _format(path)
    if kind == "csv":
        frame = pd.read_csv(path, keep_default_na=True)
    elif kind == "tsv":
        frame = pd.read_csv(path, sep="\t")
    elif kind == "parquet":
        frame = pd.read_parquet(path)
    elif kind == "jsonl":
        frame = pd.read_json(path, lines=True)
    else:
        frame = pd.read_json(path)
    return Table(frame.reset_index(drop=True), Path(base_dir or path.parent), str(path))


def iter_table(
    data: str | Path | pd.DataFrame, chunk_rows: int = 10_000, base_dir: str | Path | None = None
) -> Iterator[Table]:
    """Stream a table in chunks of ``chunk_rows`` (row index continues across chunks)."""
    if isinstance(data, pd.DataFrame):
        for start in range(0, max(len(data), 1), chunk_rows):
            chunk = data.iloc[start : start + chunk_rows].copy()
            chunk.index = pd.RangeIndex(start, start + len(chunk))  # rows are positions, as for files
            yield Table(chunk, Path(base_dir or Path.cwd()), "(DataFrame)")
        return
    path = Path(data)
    if not path.is_file():
        raise FileNotFoundError(f"table not found: {path}")
    kind, root = _format(path), Path(base_dir or path.parent)
    chunks: Iterator[pd.DataFrame]
    if kind in ("csv", "tsv"):
        chunks = pd.read_csv(path, sep="\t" if kind == "tsv" else ",", chunksize=chunk_rows)
    elif kind == "jsonl":
        chunks = pd.read_json(path, lines=True, chunksize=chunk_rows)
    elif kind == "parquet":
        import pyarrow.parquet as pq

        chunks = (b.to_pandas() for b in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows))
    else:
        chunks = iter([pd.read_json(path)])
    offset = 0
    for chunk in chunks:
        chunk.index = pd.RangeIndex(offset, offset + len(chunk))
        offset += len(chunk)
        yield Table(chunk, root, str(path))


def resolve_media(value: Any, base_dir: Path) -> Any:
    """A relative media path becomes absolute against ``base_dir``; other values pass through."""
    if isinstance(value, str) and value.strip():
        path = Path(value.strip()).expanduser()
        return str(path if path.is_absolute() else base_dir / path)
    return value
