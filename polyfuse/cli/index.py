"""``polyfuse index BUNDLE GALLERY -o INDEX``: embed a gallery with a retrieval bundle's tower.

Streamed chunk by chunk with a progress bar; rerun the same command to resume a stopped build, or
give another gallery to append to the index without rebuilding it.
"""

from __future__ import annotations

import argparse
from typing import Any

from polyfuse.cli._common import user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("index", help="embed a gallery into a searchable index (retrieval bundles)")
    p.add_argument("bundle", help="retrieval bundle directory")
    p.add_argument("gallery", help="CSV, Parquet or JSONL table with the indexed side's columns")
    p.add_argument("-o", "--output", required=True, help="index directory (created, resumed or appended to)")
    p.add_argument(
        "--side",
        choices=("candidate", "query"),
        default="candidate",
        help="which tower embeds the gallery (default: candidate; queries go through the other)",
    )
    p.add_argument("--chunk-rows", type=int, default=4096, help="rows per shard (the unit of resumption)")
    p.add_argument(
        "--approximate-threshold",
        type=int,
        default=None,
        help="vectors from which an approximate FAISS HNSW index serves queries (default 100000)",
    )
    p.add_argument("--keep-duplicates", action="store_true", help="index rows with identical cells again")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build, resume or append; print what was added."""
    from pathlib import Path

    from polyfuse.predictor import Predictor
    from polyfuse.retrieval.index import APPROXIMATE_THRESHOLD, RetrievalIndex

    with user_errors():
        predictor = Predictor.load(args.bundle)
        index, report = RetrievalIndex.build(
            predictor.fitted,
            args.gallery,
            args.output,
            side=args.side,
            bundle_path=str(Path(args.bundle).resolve()),
            chunk_rows=args.chunk_rows,
            approximate_threshold=args.approximate_threshold or APPROXIMATE_THRESHOLD,
            dedupe=not args.keep_duplicates,
            batch_size=predictor.config.inference.batch_size,
            progress=True,
        )
    kind = "approximate (FAISS HNSW)" if index.store.meta.get("approximate") else "exact"
    print(
        f"index {args.output}: {index.size} vectors ({kind} search); added {report.added},"
        f" skipped {report.skipped_duplicates} duplicates, {len(report.errors)} unreadable rows"
        + (f", resumed after {report.chunks_skipped} chunks" if report.chunks_skipped else "")
    )
    for error in report.errors[:10]:
        print(f"  row {error.row}, column {error.column!r}: {error.message}")
    return 0
