"""The on-disk vector store behind an index: shards of vectors (``.npy``) and their rows (JSON).

A directory::

    index.json             format, dimension, the bundle that built it, sources, shards (SHA-256 each)
    shard-00000.npy        (n, D) float32 vectors, saved with numpy (never pickled)
    shard-00000.json       {"source": ..., "row": [...], "columns": {column: [...]}}
    approximate.faiss      the approximate index over every vector (past the size threshold)

``index.json`` is rewritten atomically after every shard, so an interrupted build resumes at the
next shard and an append adds shards without touching the others. A shard or approximate file
whose checksum or shape does not match is refused with a :class:`IndexFileError`, never a crash.

Legend: N vectors, Q queries, D width, K results per query.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polyfuse._hashing import sha256_file

FORMAT = 1
META = "index.json"
CHUNK = 65536
"""Gallery vectors scored at a time by exact search (bounds memory)."""


class IndexFileError(ValueError):
    """An index that cannot be used: missing, corrupt, truncated, or of another bundle."""


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, default=_plain))
    os.replace(tmp, path)


def _plain(value: Any) -> Any:
    """numpy scalars and other cells as JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


class VectorStore:
    """Shards of vectors with their rows; exact and approximate top-K search over all of them."""

    def __init__(self, path: str | Path, meta: dict[str, Any]) -> None:
        self.path = Path(path)
        self.meta = meta
        self._vectors: np.ndarray | None = None
        self._records: list[dict[str, Any]] | None = None

    # ------------------------------------------------------------------ open / create
    @classmethod
    def create(cls, path: str | Path, dim: int, info: dict[str, Any]) -> VectorStore:
        """A new empty store in ``path`` (created) with ``info`` (bundle, side, columns) recorded."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "dim": dim, **info, "sources": {}, "shards": [], "approximate": None}
        store = cls(out, meta)
        store.save_meta()
        return store

    @classmethod
    def open(cls, path: str | Path) -> VectorStore:
        """Open an existing store; raises :class:`IndexFileError` when it is missing or corrupt."""
        meta_path = Path(path) / META
        if not meta_path.is_file():
            raise IndexFileError(f"{path} is not a polyfuse index: {META} is missing")
        try:
            meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise IndexFileError(f"{meta_path} is corrupt: {error}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or "shards" not in meta:
            raise IndexFileError(f"{meta_path} is not an index of format {FORMAT}")
        return cls(path, meta)

    def save_meta(self) -> None:
        """Write ``index.json`` atomically."""
        _write_json(self.path / META, self.meta)

    @property
    def size(self) -> int:
        """N, the vectors stored."""
        return sum(int(s["rows"]) for s in self.meta["shards"])

    # ------------------------------------------------------------------ writing
    def add_shard(
        self, vectors: np.ndarray, source: str, rows: list[int], columns: dict[str, list[Any]]
    ) -> None:
        """Write one shard (``vectors`` (n, D) and each vector's source row and column values)."""
        if vectors.ndim != 2 or vectors.shape[1] != self.meta["dim"] or len(vectors) != len(rows):
            raise ValueError(
                f"shard of shape {vectors.shape} does not fit an index of width {self.meta['dim']}"
            )
        name = f"shard-{len(self.meta['shards']):05d}"
        np.save(self.path / f"{name}.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        _write_json(self.path / f"{name}.json", {"source": source, "row": rows, "columns": columns})
        self.meta["shards"].append(
            {
                "name": name,
                "rows": len(rows),
                "sha256": sha256_file(self.path / f"{name}.npy"),
                "rows_sha256": sha256_file(self.path / f"{name}.json"),
            }
        )
        self._vectors = self._records = None

    # ------------------------------------------------------------------ reading
    def vectors(self) -> np.ndarray:
        """(N, D) float32 of every shard, checked against the recorded checksums and shapes."""
        if self._vectors is None:
            parts = [self._load_shard(s) for s in self.meta["shards"]]
            dim = int(self.meta["dim"])
            self._vectors = np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
        return self._vectors

    def _load_shard(self, shard: dict[str, Any]) -> np.ndarray:
        path = self.path / f"{shard['name']}.npy"
        self.verify(path, shard["sha256"])
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise IndexFileError(f"index shard {path} is unreadable: {error}") from None
        if array.shape != (shard["rows"], self.meta["dim"]):
            raise IndexFileError(f"index shard {path} has shape {array.shape}, not ({shard['rows']}, D)")
        return array

    def verify(self, path: Path, expected: str) -> None:
        """Raise :class:`IndexFileError` when ``path`` is missing or its SHA-256 is not ``expected``."""
        if not path.is_file():
            raise IndexFileError(f"index {self.path} is truncated: {path.name} is missing")
        if sha256_file(path) != expected:
            raise IndexFileError(f"index file {path} does not match its checksum (corrupt or modified)")

    def records(self) -> list[dict[str, Any]]:
        """Each vector's ``{"source", "row", column: value}``, in vector order."""
        if self._records is None:
            records: list[dict[str, Any]] = []
            for shard in self.meta["shards"]:
                path = self.path / f"{shard['name']}.json"
                self.verify(path, shard["rows_sha256"])
                part = json.loads(path.read_text())
                cols = part["columns"]
                for i, row in enumerate(part["row"]):
                    records.append(
                        {"source": part["source"], "row": row, **{c: v[i] for c, v in cols.items()}}
                    )
            self._records = records
        return self._records

    # ------------------------------------------------------------------ search
    def search(self, queries: np.ndarray, k: int, exact: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` inner products: scores and vector ids, both (Q, min(k, N)), best first.

        ``exact=None`` or ``False`` uses the approximate index when one covers every vector, else
        exact search.
        """
        from polyfuse.retrieval.approximate import load_approximate

        k = min(k, self.size)
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        approximate: dict[str, Any] = self.meta.get("approximate") or {}
        # an approximate index missing the last shards (an interrupted append) is not used
        if not exact and approximate.get("vectors") == self.size:
            self.verify(self.path / approximate["file"], approximate["sha256"])
            return load_approximate(self.path / approximate["file"], approximate).search(queries, k)
        return exact_search(self.vectors(), queries, k)


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-``k`` inner products over ``vectors`` (N, D), in chunks of the gallery.

    Returns:
        scores (Q, k) float32 and ids (Q, k) int64, best first.
    """
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    best_s = torch.full((len(q), 0), float("-inf"))
    best_i = torch.zeros((len(q), 0), dtype=torch.long)
    for start in range(0, len(vectors), CHUNK):
        block = torch.from_numpy(np.ascontiguousarray(vectors[start : start + CHUNK]))
        scores = q @ block.T  # (Q, chunk)
        top = scores.topk(min(k, scores.shape[1]), dim=1)
        best_s = torch.cat([best_s, top.values], 1)
        best_i = torch.cat([best_i, top.indices + start], 1)
        keep = best_s.topk(min(k, best_s.shape[1]), dim=1)
        best_s, best_i = keep.values, best_i.gather(1, keep.indices)
    return best_s.numpy(), best_i.numpy()
