"""``polyfuse search INDEX --text "..." | --image PATH | --audio PATH | --queries TABLE [-k 10]``.

Embeds the queries with the bundle that built the index (recorded in it, or ``--bundle``) and
prints the top K gallery rows of each: rank, the gallery row and its columns, the cosine score.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from polyfuse.cli._common import CliError, format_table, output_file, user_errors

FLAGS = {"text": "text", "image": "image", "audio": "audio"}


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("search", help="search an index with a text, an image, a sound or a table")
    p.add_argument("index", help="index directory written by polyfuse index")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="a text query")
    what.add_argument("--image", help="an image file as the query")
    what.add_argument("--audio", help="an audio file as the query")
    what.add_argument("--queries", help="a table of queries (the query side's columns)")
    p.add_argument("-k", type=int, default=10, help="results per query")
    p.add_argument("--bundle", help="the bundle (default: the one recorded in the index)")
    p.add_argument("--exact", action="store_true", help="exact search even when an approximate index exists")
    p.add_argument("-o", "--output", help="also write the results as CSV here")
    p.set_defaults(run=run)


def query_frame(args: argparse.Namespace, fitted: Any, side: str) -> Any:
    """The queries as a table: ``--queries`` read, or one row from ``--text/--image/--audio``."""
    import pandas as pd

    from polyfuse.retrieval.towers import side_specs

    if args.queries:
        return args.queries
    flag = next(f for f in FLAGS if getattr(args, f) is not None)
    specs = [s for s in side_specs(fitted, side) if s.modality == flag]  # type: ignore[arg-type]
    if not specs:
        kinds = sorted({s.modality for s in side_specs(fitted, side)})  # type: ignore[arg-type]
        raise CliError(f"the index is searched by {side}s of modality {kinds}; --{flag} does not fit")
    value = getattr(args, flag)
    if flag != "text":
        value = str(Path(value).resolve())
    return pd.DataFrame({specs[0].columns[0]: [value]})


def run(args: argparse.Namespace) -> int:
    """Search and print one block per query."""
    from polyfuse.predictor import Predictor
    from polyfuse.retrieval.index import RetrievalIndex
    from polyfuse.retrieval.store import VectorStore
    from polyfuse.retrieval.towers import OTHER

    with user_errors():
        store = VectorStore.open(args.index)
        bundle = args.bundle or store.meta.get("bundle", {}).get("path")
        if not bundle:
            raise CliError(f"index {args.index} names no bundle: pass --bundle")
        predictor = Predictor.load(bundle)
        index = RetrievalIndex.open(args.index, predictor.fitted, str(Path(bundle).resolve()))
        queries = query_frame(args, predictor.fitted, OTHER[index.side])
        results = index.search(queries, args.k, exact=True if args.exact else None)
    shown = [c for c in results.columns if c not in ("error",)]
    rows = [[_short(v) for v in r] for r in results[shown].itertuples(index=False)]
    print(format_table(rows, shown))
    bad = results[results["error"].notna()]
    for row in bad.itertuples(index=False):
        print(f"query row {row.query_row}: {row.error}")
    if args.output:
        with user_errors(), output_file(args.output) as temp:
            results.to_csv(temp, index=False)
        print(f"results written to {args.output}")
    return 0


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 60:
        return value[:57] + "..."
    if isinstance(value, dict | list):
        return json.dumps(value)[:60]
    return value
