"""Index scale: build rows/s, query latency p50/p99, bytes per million vectors, and the approximate
index's recall at 10 against exact search, on synthetic clustered unit vectors.

    python benchmarks/retrieval_scale.py --sizes 10000,100000,1000000 --dim 256

The store and the FAISS HNSW index are the ones ``polyfuse index`` writes (no bundle: the vectors
are made here), so the figures are those of the index itself, not of the towers that embed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from polyfuse.retrieval.approximate import DEFAULTS, ApproximateIndex
from polyfuse.retrieval.store import VectorStore, exact_search

SHARD = 65_536


def unit_vectors(n: int, dim: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """``n`` unit vectors around random cluster centres (closer to real embeddings than uniform)."""
    picks = rng.integers(0, len(centres), n)
    x = centres[picks] + 0.35 * rng.standard_normal((n, dim), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def measure(n: int, dim: int, queries: int, seed: int) -> dict[str, Any]:
    """Build a store + HNSW index of ``n`` vectors and time them."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((256, dim), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        store = VectorStore.create(Path(tmp) / "idx", dim, {"side": "candidate", "columns": ["id"]})
        approximate = ApproximateIndex.build(dim, **DEFAULTS)
        store_seconds = hnsw_seconds = 0.0
        for start in range(0, n, SHARD):
            block = unit_vectors(min(SHARD, n - start), dim, rng, centres)
            rows = list(range(start, start + len(block)))
            t0 = time.perf_counter()
            store.add_shard(block, "synthetic", rows, {"id": rows})
            store.save_meta()
            t1 = time.perf_counter()
            approximate.add(block)
            hnsw_seconds += time.perf_counter() - t1
            store_seconds += t1 - t0
        approximate.save(Path(tmp) / "idx" / "approximate.faiss")
        files = {p.suffix: 0 for p in (Path(tmp) / "idx").iterdir()}
        for p in (Path(tmp) / "idx").iterdir():
            files[p.suffix] += p.stat().st_size
        vectors = store.vectors()
        q = unit_vectors(queries, dim, rng, centres)
        exact_ms, approx_ms, hits = [], [], 0
        for row in q:
            t0 = time.perf_counter()
            _, truth = exact_search(vectors, row[None], 10)
            t1 = time.perf_counter()
            _, found = approximate.search(row[None], 10)
            t2 = time.perf_counter()
            exact_ms.append(1000 * (t1 - t0))
            approx_ms.append(1000 * (t2 - t1))
            hits += len(set(truth[0].tolist()) & set(found[0].tolist()))
    per_million = 1e6 / n
    return {
        "vectors": n,
        "dim": dim,
        "store_rows_per_s": round(n / store_seconds),
        "hnsw_rows_per_s": round(n / hnsw_seconds),
        "exact_p50_ms": round(float(np.percentile(exact_ms, 50)), 2),
        "exact_p99_ms": round(float(np.percentile(exact_ms, 99)), 2),
        "approx_p50_ms": round(float(np.percentile(approx_ms, 50)), 3),
        "approx_p99_ms": round(float(np.percentile(approx_ms, 99)), 3),
        "approx_recall_at_10": round(hits / (10 * queries), 4),
        "vectors_mb_per_million": round(files[".npy"] * per_million / 2**20, 1),
        "rows_json_mb_per_million": round(files[".json"] * per_million / 2**20, 1),
        "hnsw_mb_per_million": round(files[".faiss"] * per_million / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import faiss
    import torch

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    for n in (int(s) for s in args.sizes.split(",")):
        print(json.dumps(measure(n, args.dim, args.queries, args.seed)), flush=True)


if __name__ == "__main__":
    main()
