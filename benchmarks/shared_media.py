"""Memory of decoded images held for training, with and without sharing per file.

    python benchmarks/shared_media.py DIR/train.csv [--no-share]

Encodes the table's ``image`` column at 64 px the way training keeps it in memory and prints the
peak resident memory of the process. Run once with and once without ``--no-share`` (sharing
switched off), each in a fresh process.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import pandas as pd

import polyfuse.data.dataset as dataset
from polyfuse.data.dataset import InputSpec, encode_rows
from polyfuse.data.processors.image import ImageProcessor
from polyfuse.data.tables import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", type=Path)
    parser.add_argument("--no-share", action="store_true", help="decode every row's file anew")
    args = parser.parse_args()
    if args.no_share:
        dataset._is_media_path = lambda spec, value: False  # type: ignore[assignment]
    frame = pd.read_csv(args.table, dtype=str, keep_default_na=False)
    table = Table(frame[["image"]], args.table.parent, str(args.table))
    processor = ImageProcessor(size=64)
    processor.fit([str(args.table.parent / p) for p in frame["image"].head(100)])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    encoded = encode_rows(table, [InputSpec("image", "image", ["image"], processor)])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sharing = "off" if args.no_share else "on"
    print(
        f"{len(encoded.index)} rows, {frame['image'].nunique()} files, sharing {sharing}:"
        f" peak RSS {peak:.0f} MB ({peak - before:.0f} MB for the decoded images),"
        f" {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
