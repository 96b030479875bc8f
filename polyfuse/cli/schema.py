"""``polyfuse schema``: the JSON schema of the whole config (every component's options included)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("schema", help="print the JSON schema of a config file (for editors)")
    p.add_argument("-o", "--output", help="write it to this file instead of printing it")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print or write the schema."""
    from polyfuse.components import config_json_schema

    text = json.dumps(config_json_schema(), indent=2)
    if args.output:
        from polyfuse.cli._common import user_errors, write_output_text

        with user_errors():
            write_output_text(args.output, text + "\n")
    else:
        print(text)
    return 0
