"""Entry point: ``polyfuse <command> ...``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from polyfuse._version import __version__
from polyfuse.cli import (
    bench,
    cache,
    compare,
    demo,
    embed,
    evaluate,
    generate,
    inspect,
    list_components,
    predict,
    train,
)
from polyfuse.cli._common import CliError

COMMANDS = (train, evaluate, compare, predict, inspect, list_components, demo, bench, cache, embed, generate)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="polyfuse", description=__doc__)
    parser.add_argument("--version", action="version", version=f"polyfuse {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input or config)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.run(args) or 0)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
