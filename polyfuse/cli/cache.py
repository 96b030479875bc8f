"""``polyfuse cache info|clear``: show or empty the embedding cache of frozen encoders."""

from __future__ import annotations

import argparse
from typing import Any

from polyfuse.cli._common import format_table


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("cache", help="show or clear the embedding cache of frozen pretrained encoders")
    p.add_argument("action", choices=["info", "clear"], help="info: list namespaces; clear: delete")
    p.add_argument(
        "--dir", help="cache directory (default: $POLYFUSE_CACHE_DIR or ~/.cache/polyfuse/embeddings)"
    )
    p.add_argument("--namespace", help="with clear: only this namespace")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the namespaces, or delete them."""
    from polyfuse.data.cache import EmbeddingCache

    cache = EmbeddingCache(args.dir)
    if args.action == "clear":
        freed = cache.clear(args.namespace)
        print(f"cleared {cache.root}: {freed / 2**20:.1f} MB freed")
        return 0
    entries = cache.info()
    rows = [
        [
            e["namespace"],
            e["about"].get("encoder", {}).get("type", "?"),
            e["rows"],
            e["shards"],
            round(e["bytes"] / 2**20, 2),
        ]
        for e in entries
    ]
    print(f"{cache.root}: {len(entries)} namespaces, {cache.size_bytes() / 2**20:.1f} MB\n")
    print(format_table(rows, ["namespace", "encoder", "rows", "shards", "MB"]))
    return 0
