"""The approximate index past the size threshold: FAISS HNSW over inner products.

FAISS (``faiss-cpu``, Douze et al. 2024, https://arxiv.org/abs/2401.08281) was chosen over hnswlib
and usearch: it installs as a wheel beside torch here (hnswlib builds from source), is the most
established of the three, writes its indexes in its own binary format (no pickle), and an HNSW
index (Malkov and Yashunin 2018, https://arxiv.org/abs/1603.09320) takes new vectors without a
rebuild, so appending to a gallery stays cheap. Recall against exact search and latency are in
docs/benchmarks.md (``benchmarks/retrieval_scale.py``).

Legend: N vectors, Q queries, D width, K results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

FILE = "approximate.faiss"
DEFAULTS = {"m": 32, "ef_construction": 80, "ef_search": 128}
"""HNSW graph degree, build-time and search-time beam widths."""


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "approximate search needs faiss: pip install 'polyfuse[retrieval]' (faiss-cpu)"
        ) from None
    return faiss


class ApproximateIndex:
    """A FAISS HNSW index of inner products (cosine on normalised vectors)."""

    def __init__(self, index: Any, ef_search: int) -> None:
        self.index = index
        self.index.hnsw.efSearch = ef_search

    @classmethod
    def build(
        cls, dim: int, m: int = 32, ef_construction: int = 80, ef_search: int = 128
    ) -> ApproximateIndex:
        """An empty HNSW index of width ``dim``."""
        faiss = _faiss()
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        return cls(index, ef_search)

    def add(self, vectors: np.ndarray) -> None:
        """Append (n, D) vectors; their ids continue from the current size."""
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    @property
    def size(self) -> int:
        """N, the vectors indexed."""
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores (Q, K) float32 and ids (Q, K) int64, best first."""
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids.astype(np.int64)

    def save(self, path: str | Path) -> None:
        """Write FAISS's binary format."""
        _faiss().write_index(self.index, str(path))


def load_approximate(path: str | Path, info: dict[str, Any]) -> ApproximateIndex:
    """Read an index written by :meth:`ApproximateIndex.save`; ``info`` holds its ``ef_search``."""
    from polyfuse.retrieval.store import IndexFileError

    try:
        index = _faiss().read_index(str(path))
    except RuntimeError as error:
        raise IndexFileError(f"approximate index {path} is unreadable: {error}") from None
    return ApproximateIndex(index, int(info.get("ef_search", DEFAULTS["ef_search"])))
