"""Bundle signatures: proof that a bundle's manifest (and so every file it lists) came from a key holder.

The manifest's SHA-256 checksums catch damage, not deliberate edits: whoever edits a file can
update ``manifest.json`` too. A signature over ``manifest.json``, made with a key the editor does
not hold, catches that. Two kinds of key file:

- **HMAC-SHA256**: any file of at least 16 bytes, used as is (``head -c 32 /dev/urandom > key``).
  The same secret signs and verifies, so every verifier can also sign.
- **ed25519** (needs the ``cryptography`` package, extra ``polyfuse[sign]``): a PEM private key
  signs (``openssl genpkey -algorithm ed25519 -out key.pem``); its PEM public key verifies
  (``openssl pkey -in key.pem -pubout -out key.pub``), so verifiers cannot sign.

The signature lives in ``signature.json`` beside the manifest; saving a bundle again drops it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polyfuse._io import atomic_write_text
from polyfuse.bundle import SIGNATURE, BundleError, _verify

DOMAIN = b"polyfuse bundle manifest v1\n"
"""Prefix of the signed bytes, so a signature is never valid for anything but a bundle manifest."""

MIN_HMAC_BYTES = 16


class SignatureError(BundleError):
    """A missing, malformed or wrong signature, or an unusable key file; the message names both."""


@dataclass
class Key:
    """A loaded key: its algorithm, an id (a digest, safe to show), and the key object or bytes."""

    algorithm: str  # "hmac-sha256" or "ed25519"
    key_id: str
    secret: Any
    can_sign: bool


def load_key(path: str | Path) -> Key:
    """Read a key file: a PEM ed25519 key (private or public), else an HMAC secret (raw bytes)."""
    key_path = Path(path)
    try:
        data = key_path.read_bytes()
    except OSError as error:
        raise SignatureError(f"cannot read key file {key_path}: {error.strerror}") from None
    if data.lstrip().startswith(b"-----BEGIN"):
        return _load_pem(key_path, data)
    if len(data) < MIN_HMAC_BYTES:
        raise SignatureError(
            f"key file {key_path} holds {len(data)} bytes, too few for an HMAC key (at least"
            f" {MIN_HMAC_BYTES}; make one with: head -c 32 /dev/urandom > {key_path})"
        )
    key_id = hashlib.sha256(b"hmac key id\n" + data).hexdigest()[:16]
    return Key("hmac-sha256", key_id, data, True)


def _load_pem(path: Path, data: bytes) -> Key:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise SignatureError(
            f"key file {path} is a PEM key: ed25519 signatures need the cryptography package"
            " (pip install 'polyfuse[sign]')"
        ) from None
    try:
        if b"PRIVATE KEY" in data:
            key: Any = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise SignatureError(f"key file {path} is not a readable PEM key: {error}") from None
    private = isinstance(key, ed25519.Ed25519PrivateKey)
    if not private and not isinstance(key, ed25519.Ed25519PublicKey):
        raise SignatureError(f"key file {path} is a {type(key).__name__}; polyfuse signs with ed25519 only")
    public = key.public_key() if private else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Key("ed25519", hashlib.sha256(raw).hexdigest()[:16], key, private)


def _payload(directory: Path) -> bytes:
    return DOMAIN + (directory / "manifest.json").read_bytes()


def sign_bundle(directory: str | Path, key_file: str | Path) -> Path:
    """Check the bundle's checksums, then sign its ``manifest.json``; returns ``signature.json``."""
    bundle = Path(directory)
    _verify(bundle)
    key = load_key(key_file)
    if not key.can_sign:
        raise SignatureError(f"key file {key_file} is a public key: signing needs the private key")
    if key.algorithm == "hmac-sha256":
        signature = hmac.new(key.secret, _payload(bundle), hashlib.sha256).hexdigest()
    else:
        signature = key.secret.sign(_payload(bundle)).hex()
    record = {"algorithm": key.algorithm, "key_id": key.key_id, "signature": signature}
    atomic_write_text(bundle / SIGNATURE, json.dumps(record, indent=2) + "\n")
    return bundle / SIGNATURE


def verify_bundle(directory: str | Path, key_file: str | Path) -> Key:
    """Check ``signature.json`` against ``key_file``, then every checksum; returns the key used.

    Raises:
        SignatureError: The bundle is unsigned, the signature is malformed, made with another key
            or another algorithm, or does not match the manifest.
        BundleError: A file does not match its checksum (see :mod:`polyfuse.bundle`).
    """
    bundle = Path(directory)
    key = load_key(key_file)
    record = _read_signature(bundle)
    if record["algorithm"] != key.algorithm:
        raise SignatureError(
            f"bundle {bundle} is signed with {record['algorithm']}, but {key_file} is an {key.algorithm} key"
        )
    if record["key_id"] != key.key_id:
        raise SignatureError(
            f"bundle {bundle} was signed with key {record['key_id']}, not with {key_file} (key {key.key_id})"
        )
    if not _matches(key, bundle, record["signature"]):
        raise SignatureError(
            f"bundle {bundle}: the signature does not match manifest.json (edited after signing); refusing it"
        )
    _verify(bundle)
    return key


def _matches(key: Key, bundle: Path, signature: str) -> bool:
    if key.algorithm == "hmac-sha256":
        expected = hmac.new(key.secret, _payload(bundle), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)
    from cryptography.exceptions import InvalidSignature

    public = key.secret.public_key() if key.can_sign else key.secret
    try:
        public.verify(bytes.fromhex(signature), _payload(bundle))
    except (InvalidSignature, ValueError):
        return False
    return True


def _read_signature(bundle: Path) -> dict[str, str]:
    path = bundle / SIGNATURE
    if not (bundle / "manifest.json").is_file():
        raise BundleError(f"{bundle} is not a polyfuse bundle or is truncated: manifest.json is missing")
    if path.is_symlink() or not path.is_file():
        raise SignatureError(f"bundle {bundle} is not signed: {SIGNATURE} is missing (polyfuse sign)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SignatureError(f"bundle {bundle}: {SIGNATURE} is corrupt ({error})") from None
    fields = ("algorithm", "key_id", "signature")
    if not isinstance(record, dict) or not all(isinstance(record.get(f), str) for f in fields):
        raise SignatureError(f"bundle {bundle}: {SIGNATURE} is corrupt (needs {', '.join(fields)})")
    return {f: record[f] for f in fields}
