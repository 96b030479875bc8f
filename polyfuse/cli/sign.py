"""``polyfuse sign BUNDLE --key FILE``: sign a bundle's manifest (HMAC key file or ed25519 PEM key)."""

from __future__ import annotations

import argparse
from typing import Any

from polyfuse.cli._common import user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("sign", help="sign a bundle (HMAC secret or ed25519 private key)")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--key", required=True, help="HMAC key file (16+ random bytes) or ed25519 PEM private key")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check the checksums, write ``signature.json``, print what signed it."""
    from polyfuse.signing import load_key, sign_bundle

    with user_errors():
        path = sign_bundle(args.bundle, args.key)
        key = load_key(args.key)
    print(f"signed {args.bundle} ({key.algorithm}, key {key.key_id}): {path}")
    return 0
