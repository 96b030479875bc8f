"""``polyfuse verify BUNDLE [--key FILE]``: check a bundle's checksums and, with a key, its signature."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from polyfuse.cli._common import user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("verify", help="check a bundle's checksums and signature")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--key", help="HMAC key file, or the ed25519 public (or private) PEM key")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every check passes, 2 with the reason otherwise."""
    from polyfuse.bundle import _verify
    from polyfuse.signing import verify_bundle

    with user_errors():
        if args.key:
            key = verify_bundle(args.bundle, args.key)
            print(f"{args.bundle}: signature OK ({key.algorithm}, key {key.key_id}); every checksum matches")
        else:
            _verify(Path(args.bundle))
            print(
                f"{args.bundle}: every checksum matches (damage check only: pass --key to check"
                " the signature, which also catches deliberate edits)"
            )
    return 0
