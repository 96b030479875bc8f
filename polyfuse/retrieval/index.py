"""A gallery embedded by a retrieval bundle, searchable by the other side's queries.

:meth:`RetrievalIndex.build` streams a gallery table chunk by chunk through one side's tower
(the candidate side by default: photos to be found by sentences), one shard per chunk, so a stopped
build resumes at the next chunk and another gallery appends without a rebuild. Past
``approximate_threshold`` vectors an approximate FAISS HNSW index serves the queries (it is grown,
not rebuilt, by appends); below it search is exact. :meth:`RetrievalIndex.search` embeds queries
with the other tower and returns one row per (query, rank).

Legend: N gallery vectors, Q queries, D width, K results per query.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from polyfuse._progress import progress_bar
from polyfuse.data.dataset import RowError
from polyfuse.data.precomputed import value_key
from polyfuse.data.tables import iter_table, read_table
from polyfuse.retrieval.approximate import DEFAULTS, FILE, ApproximateIndex, load_approximate
from polyfuse.retrieval.store import IndexFileError, VectorStore
from polyfuse.retrieval.towers import OTHER, embed_side, fingerprint, retrieval_task, side_columns

if TYPE_CHECKING:
    from polyfuse.bundle import Fitted
    from polyfuse.tasks.retrieval import Side

log = logging.getLogger("polyfuse")
APPROXIMATE_THRESHOLD = 100_000
"""Vectors from which an index builds and serves an approximate FAISS index."""
RESULT_COLUMNS = ("query_row", "rank", "candidate_row")


@dataclass
class BuildReport:
    """What one build or append did."""

    added: int = 0
    skipped_duplicates: int = 0
    chunks_skipped: int = 0
    errors: list[RowError] = field(default_factory=list)


def source_key(gallery: Any) -> str:
    """How an index recognises a gallery it has (partly) indexed: the file, or the frame's content."""
    if isinstance(gallery, pd.DataFrame):
        return f"(DataFrame {int(pd.util.hash_pandas_object(gallery, index=False).sum()) & (2**63 - 1):x})"
    return str(Path(gallery).resolve())


class RetrievalIndex:
    """A :class:`~polyfuse.retrieval.store.VectorStore` tied to the bundle that embedded it."""

    def __init__(self, store: VectorStore, fitted: Fitted, batch_size: int = 256) -> None:
        self.store = store
        self.fitted = fitted
        self.batch_size = batch_size

    @property
    def side(self) -> Side:
        """The side the gallery holds (``candidate`` or ``query``)."""
        side: Side = self.store.meta["side"]
        return side

    @property
    def size(self) -> int:
        """N, the vectors indexed."""
        return self.store.size

    # ------------------------------------------------------------------ open / build
    @classmethod
    def open(
        cls, path: str | Path, fitted: Fitted, bundle_path: str | None = None, batch_size: int = 256
    ) -> RetrievalIndex:
        """Open an index; refused when another bundle built it (both named)."""
        store = VectorStore.open(path)
        built_by = store.meta.get("bundle", {})
        mine = fingerprint(fitted)
        if built_by.get("fingerprint") != mine:
            raise IndexFileError(
                f"index {path} was built by bundle {built_by.get('path', '?')} (fingerprint"
                f" {built_by.get('fingerprint', '?')}), not by bundle {bundle_path or '(this predictor)'}"
                f" (fingerprint {mine}); rebuild the index with this bundle or search with that one"
            )
        return cls(store, fitted, batch_size)

    @classmethod
    def build(
        cls,
        fitted: Fitted,
        gallery: str | Path | pd.DataFrame,
        path: str | Path,
        *,
        side: Side = "candidate",
        bundle_path: str | None = None,
        chunk_rows: int = 4096,
        approximate_threshold: int = APPROXIMATE_THRESHOLD,
        dedupe: bool = True,
        batch_size: int = 256,
        progress: bool = False,
    ) -> tuple[RetrievalIndex, BuildReport]:
        """Embed ``gallery`` into the index at ``path`` (created, resumed, or appended to).

        Args:
            fitted: a trained retrieval bundle.
            gallery: a table (path or DataFrame) with the indexed side's columns.
            path: the index directory.
            side: the tower that embeds the gallery; queries then go through the other one.
            bundle_path: recorded in the index, to name the bundle in errors.
            chunk_rows: rows per shard (the unit of resumption).
            approximate_threshold: from this many vectors on, an approximate index is kept.
            dedupe: skip rows whose indexed cells equal an indexed row's (five captions, one photo).
            batch_size: rows per forward pass.
            progress: show progress bars.
        """
        if (Path(path) / "index.json").is_file():
            index = cls.open(path, fitted, bundle_path, batch_size)
            if index.side != side:
                raise IndexFileError(f"index {path} holds {index.side}s, not {side}s")
        else:
            info = {
                "bundle": {"fingerprint": fingerprint(fitted), "path": bundle_path},
                "side": side,
                "columns": side_columns(fitted, side),
            }
            dim = retrieval_task(fitted).config.embed_dim
            index = cls(VectorStore.create(path, dim, info), fitted, batch_size)
        report = index._add(gallery, chunk_rows, approximate_threshold, dedupe, progress)
        return index, report

    def _add(
        self, gallery: Any, chunk_rows: int, threshold: int, dedupe: bool, progress: bool
    ) -> BuildReport:
        meta, report = self.store.meta, BuildReport()
        key = source_key(gallery)
        state = meta["sources"].setdefault(key, {"chunks_done": 0, "complete": False})
        if state["complete"]:
            log.info("index %s: gallery %s is already indexed", self.store.path, key)
            return report
        columns = meta["columns"]
        seen = {_cells_key(r, columns) for r in self.store.records()} if dedupe else set()
        rows_read = 0
        for i, table in enumerate(
            progress_bar(iter_table(gallery, chunk_rows), unit="chunk", enabled=progress)
        ):
            rows_read += len(table.frame)
            if i < state["chunks_done"]:
                report.chunks_skipped += 1
                continue
            emb = embed_side(self.fitted, table, self.side, self.batch_size, progress)
            report.errors += emb.errors
            keep, records = [], []
            frame = table.frame.loc[emb.rows] if len(emb.rows) else table.frame.iloc[:0]
            for j, row in enumerate(frame[columns].to_dict("records")):
                cells = _cells_key(row, columns)
                if cells in seen:
                    report.skipped_duplicates += 1
                    continue
                seen.add(cells)
                keep.append(j)
                records.append(row)
            if keep:
                vectors = emb.vectors[keep]
                self.store.add_shard(
                    vectors,
                    key,
                    [int(r) for r in emb.rows[keep]],
                    {c: [_cell(r[c]) for r in records] for c in columns},
                )
                report.added += len(keep)
            state["chunks_done"] = i + 1
            self.store.save_meta()
        if rows_read == 0 and self.store.size == 0:
            raise ValueError(f"the gallery {key} is empty: nothing to index")
        approximate = self._approximate()
        if approximate is None and self.store.size >= threshold:
            approximate = ApproximateIndex.build(int(meta["dim"]), **DEFAULTS)
        if approximate is not None and approximate.size < self.store.size:
            approximate.add(self.store.vectors()[approximate.size :])  # grown, never rebuilt
            self._save_approximate(approximate)
        state["complete"] = True
        self.store.save_meta()
        return report

    def _approximate(self) -> ApproximateIndex | None:
        info = self.store.meta.get("approximate")
        if info is None:
            return None
        self.store.verify(self.store.path / info["file"], info["sha256"])
        return load_approximate(self.store.path / info["file"], info)

    def _save_approximate(self, approximate: ApproximateIndex) -> None:
        from polyfuse._hashing import sha256_file

        approximate.save(self.store.path / FILE)
        params = {"m": DEFAULTS["m"], "ef_construction": DEFAULTS["ef_construction"]}
        self.store.meta["approximate"] = {
            "kind": "faiss-hnsw",
            "file": FILE,
            "vectors": approximate.size,
            "sha256": sha256_file(self.store.path / FILE),
            "ef_search": DEFAULTS["ef_search"],
            **params,
        }

    # ------------------------------------------------------------------ search
    def search(
        self, queries: str | Path | pd.DataFrame, k: int = 10, exact: bool | None = None
    ) -> pd.DataFrame:
        """Top-``k`` gallery rows per query row.

        Returns:
            ``query_row``, ``rank`` (1 = best), ``candidate_row`` (its row in its gallery), the
            gallery's indexed columns, ``score`` (cosine), ``error``; an unreadable query gets one row
            with its error and no results; ``gallery`` names the source when the index has several.
        """
        table = read_table(queries)
        if len(table.frame) == 0:
            raise ValueError("no queries: the query table is empty")
        emb = embed_side(self.fitted, table, OTHER[self.side], self.batch_size)
        columns = self.store.meta["columns"]
        parts = []
        if len(emb.rows) and self.store.size:
            scores, ids = self.store.search(emb.vectors, k, exact)
            records = self.store.records()
            several = len(self.store.meta["sources"]) > 1
            rows: list[dict[str, Any]] = []
            for q, (row_scores, row_ids) in enumerate(zip(scores, ids, strict=True)):
                for rank, (score, vid) in enumerate(zip(row_scores, row_ids, strict=True), 1):
                    if vid < 0:  # HNSW returns -1 when it finds fewer than k
                        continue
                    record = records[vid]
                    item = {"query_row": int(emb.rows[q]), "rank": rank, "candidate_row": record["row"]}
                    item.update({c: record[c] for c in columns})
                    item["score"] = float(score)
                    if several:
                        item["gallery"] = record["source"]
                    rows.append(item)
            parts.append(pd.DataFrame(rows))
        errors = _error_rows(emb.errors)
        if len(errors):
            parts.append(errors)
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(RESULT_COLUMNS))
        if "error" not in frame:
            frame["error"] = None
        for column in RESULT_COLUMNS:  # integers, with <NA> on a query's error row
            frame[column] = frame[column].astype("Int64")
        return frame.sort_values(["query_row", "rank"], ignore_index=True, na_position="first")


def _cell(value: Any) -> Any:
    """A JSON-safe cell (bytes as their length: raw image bytes are not copied into the index)."""
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _cells_key(row: dict[str, Any], columns: list[str]) -> tuple[Any, ...]:
    return tuple(value_key(row.get(c)) for c in columns)


def _error_rows(errors: list[RowError]) -> pd.DataFrame:
    """One row per unreadable query: ``query_row`` and ``error`` (its problems, per column)."""
    messages: dict[int, list[str]] = {}
    for e in errors:
        messages.setdefault(e.row, []).append(f"column {e.column!r}: {e.message}")
    return pd.DataFrame(
        {
            "query_row": pd.Series(list(messages), dtype="int64"),
            "error": ["; ".join(m) for m in messages.values()],
        }
    )
