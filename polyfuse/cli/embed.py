"""``polyfuse embed BUNDLE_OR_ENCODER DATA -o embeddings.parquet``: export embeddings for other tools.

With a bundle, the fused embedding of every readable row; with a pretrained encoder name
(``text/minilm``, ``image/hf`` + ``--option checkpoint=DIR``, ...), that encoder's pooled
embedding of one column, through the embedding cache.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from polyfuse.cli._common import CliError, output_file, user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("embed", help="write embeddings of a table (a bundle's fused ones, or an encoder's)")
    p.add_argument("source", help="bundle directory, or a pretrained encoder: text/minilm, image/hf, ...")
    p.add_argument("data", help="CSV, Parquet or JSONL table")
    p.add_argument("-o", "--output", required=True, help="Parquet file: row, embedding (list of floats)")
    p.add_argument("--column", help="with an encoder: the column to embed")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="encoder option, e.g. checkpoint=/models/vit (repeatable; values parsed as YAML)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="rows per forward pass")
    p.add_argument("--cache-dir", help="embedding cache directory (default: $POLYFUSE_CACHE_DIR or ~/.cache)")
    p.add_argument("--no-cache", action="store_true", help="compute everything, store nothing")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Embed and write the Parquet file."""
    import pandas as pd

    with user_errors():
        if (Path(args.source) / "manifest.json").is_file():
            rows, vectors = _from_bundle(args)
        else:
            rows, vectors = _from_encoder(args)
        frame = pd.DataFrame({"row": rows, "embedding": [v.tolist() for v in vectors]})
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        with output_file(args.output) as temp:
            frame.to_parquet(temp, index=False)
    width = vectors.shape[1] if len(vectors) else 0
    print(f"wrote {args.output}: {len(frame)} rows x {width} dims")
    return 0


def _from_bundle(args: argparse.Namespace) -> tuple[list[int], Any]:
    """Fused embeddings of the readable rows and their row numbers (as :meth:`Predictor.embed`)."""
    import numpy as np

    from polyfuse import Predictor
    from polyfuse.data.dataset import encode_rows
    from polyfuse.data.tables import iter_table
    from polyfuse.inference import embedding_dim, embeddings

    fitted = Predictor.load(args.source).fitted
    rows: list[int] = []
    parts = []
    for table in iter_table(args.data, 4096):
        vectors, numbers = embeddings(fitted, encode_rows(table, fitted.inputs), args.batch_size)
        parts.append(vectors)
        rows += numbers.tolist()
    return rows, np.concatenate(parts) if parts else np.zeros((0, embedding_dim(fitted)), np.float32)


def _from_encoder(args: argparse.Namespace) -> tuple[list[int], Any]:
    import yaml

    from polyfuse.data.cache import EmbeddingCache
    from polyfuse.data.tables import read_table, resolve_media
    from polyfuse.encoders.pretrained._embedding import build_frozen_encoder, embed_values

    if "/" not in args.source:
        raise CliError(f"{args.source!r} is neither a bundle directory nor an encoder like text/minilm")
    if not args.column:
        raise CliError("--column is required when embedding with an encoder")
    modality = args.source.split("/")[0]
    options: dict[str, Any] = {"type": args.source}
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--option {item!r}: expected KEY=VALUE")
        options[key] = yaml.safe_load(value)
    table = read_table(args.data)
    if args.column not in table.frame.columns:
        raise CliError(f"column {args.column!r} is not in {args.data}")
    values = table.frame[args.column].tolist()
    if modality in ("image", "audio"):
        values = [resolve_media(v, table.base_dir) for v in values]
    config, processor, encoder = build_frozen_encoder(modality, options)
    cache = None if args.no_cache else EmbeddingCache(args.cache_dir)
    vectors = embed_values(config, processor, encoder, values, args.batch_size, cache)
    return list(table.frame.index), vectors
