"""``polyfuse predict BUNDLE DATA -o out.csv``: batch prediction, streamed chunk by chunk.

The output is written to a temporary sibling and renamed over ``out.csv`` at the end, so a failed
run (a full disk, Ctrl-C) leaves an earlier ``out.csv`` whole; two runs into one file cannot
interleave (the second fails at once, naming the first's pid).
"""

from __future__ import annotations

import argparse
from typing import Any

from polyfuse.cli._common import add_threads_argument, load_predictor, output_file, user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("predict", help="predict a table with a bundle")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("data", help="CSV, Parquet or JSONL table")
    p.add_argument("-o", "--output", required=True, help="output CSV (row, prediction, ..., error)")
    p.add_argument("--proba", action="store_true", help="add class probabilities")
    p.add_argument("--chunk-rows", type=int, default=4096, help="rows read at a time")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (off anyway without a TTY)")
    p.add_argument(
        "--decoding",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="text generation: override a decoding option (strategy=beam, beam_size=5, top_p=0.9, ...)",
    )
    p.add_argument("--num-return", type=int, help="text generation: the N best texts with their scores")
    add_threads_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write predictions; rows that fail carry their error and do not stop the others."""
    from polyfuse._io import folder_lock, preflight_output
    from polyfuse._progress import progress_enabled
    from polyfuse.data.checks import check_prediction_columns
    from polyfuse.data.tables import read_columns

    rows = failed = 0
    with user_errors():
        output = preflight_output(args.output, kind="file")
        predictor = load_predictor(args.bundle)
        if args.threads:
            predictor.config.training.threads = args.threads
        _set_decoding(predictor, args.decoding, args.num_return)
        check_prediction_columns(read_columns(args.data), predictor.fitted.input_columns, str(args.data))
        progress = progress_enabled(not args.no_progress)
        chunks = predictor.iter_predict(args.data, args.proba, args.chunk_rows, progress)
        with folder_lock(output.parent, f".{output.name}.lock"), output_file(output) as temp:
            for i, frame in enumerate(chunks):
                frame.to_csv(temp, mode="w" if i == 0 else "a", header=i == 0, index=False)
                rows += len(frame)
                failed += int(frame["error"].notna().sum())
    print(f"{rows} rows predicted into {args.output}; {failed} rows failed (see the error column)")
    return 0


def _set_decoding(predictor: Any, options: list[str], num_return: int | None) -> None:
    """Apply ``--decoding KEY=VALUE`` and ``--num-return`` to a generation task's decoding."""
    from polyfuse.cli._common import CliError

    updates: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise CliError(f"--decoding takes KEY=VALUE, got {option!r}")
        updates[key.strip()] = value.strip()
    if num_return is not None:
        updates["num_return"] = num_return
    if not updates:
        return
    task = predictor.fitted.model.task
    if not hasattr(task, "set_decoding"):
        raise CliError(f"--decoding and --num-return apply to text generation, not to task {task.name!r}")
    if "num_return" in updates and updates.get("strategy", task.decoding.strategy) == "beam":
        updates.setdefault("beam_size", max(int(updates["num_return"]), task.decoding.beam_size))
    try:
        task.set_decoding(**updates)
    except ValueError as error:
        raise CliError(f"--decoding: {error}") from None
