"""Entry point: ``polyfuse <command> ...``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from polyfuse._discovery import import_submodules
from polyfuse._version import __version__
from polyfuse.cli._common import CliError

DESCRIPTION = "Build, train, evaluate and ship multimodal (text, image, audio, tabular) models from a table."


def command_modules() -> list[ModuleType]:
    """Every subcommand: the public modules of :mod:`polyfuse.cli` with an ``add_parser`` (one file
    per subcommand; a new file is a new command)."""
    modules = [importlib.import_module(name) for name in import_submodules("polyfuse.cli")]
    return [m for m in modules if hasattr(m, "add_parser")]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="polyfuse", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"polyfuse {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in command_modules():
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
