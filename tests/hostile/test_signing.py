"""Signatures catch what checksums cannot: a file edited and re-checksummed by hand. HMAC key files
always; ed25519 PEM keys with the ``cryptography`` package (skipped without it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hostile_helpers import edit_json

from polyfuse import BundleError, Predictor
from polyfuse.cli.main import main
from polyfuse.signing import SignatureError, load_key, sign_bundle, verify_bundle


@pytest.fixture
def hmac_key(tmp_path: Path) -> Path:
    path = tmp_path / "hmac.key"
    path.write_bytes(bytes(range(32)))
    return path


def _raise_lr(header: dict[str, Any]) -> None:
    header["config"]["training"]["lr"] = 0.5


def test_cli_sign_then_verify(bundle_copy: Path, hmac_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_id = load_key(hmac_key).key_id
    assert main(["sign", str(bundle_copy), "--key", str(hmac_key)]) == 0
    assert (
        capsys.readouterr().out
        == f"signed {bundle_copy} (hmac-sha256, key {key_id}): {bundle_copy / 'signature.json'}\n"
    )
    assert main(["verify", str(bundle_copy), "--key", str(hmac_key)]) == 0
    assert capsys.readouterr().out == (
        f"{bundle_copy}: signature OK (hmac-sha256, key {key_id}); every checksum matches\n"
    )
    Predictor.load(bundle_copy)  # a signed bundle still loads


def test_edit_with_updated_checksums_passes_the_checksums_but_not_the_signature(
    bundle_copy: Path, hmac_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_bundle(bundle_copy, hmac_key)
    edit_json(bundle_copy, "config.json", _raise_lr)
    Predictor.load(bundle_copy)  # the checksums cannot tell: they were updated with the edit
    assert main(["verify", str(bundle_copy), "--key", str(hmac_key)]) == 2
    assert capsys.readouterr().err == (
        f"error: bundle {bundle_copy}: the signature does not match manifest.json (edited after"
        " signing); refusing it\n"
    )


def test_damage_after_signing_is_caught_by_the_checksums(bundle_copy: Path, hmac_key: Path) -> None:
    sign_bundle(bundle_copy, hmac_key)
    weights = bundle_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"model\.safetensors does not match its checksum"):
        verify_bundle(bundle_copy, hmac_key)


def test_another_hmac_key_is_named(bundle_copy: Path, hmac_key: Path, tmp_path: Path) -> None:
    sign_bundle(bundle_copy, hmac_key)
    other = tmp_path / "other.key"
    other.write_bytes(b"another secret of enough bytes!!")
    with pytest.raises(SignatureError) as caught:
        verify_bundle(bundle_copy, other)
    assert str(caught.value) == (
        f"bundle {bundle_copy} was signed with key {load_key(hmac_key).key_id}, not with {other}"
        f" (key {load_key(other).key_id})"
    )


def test_short_hmac_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    path.write_bytes(b"secret\n")
    with pytest.raises(SignatureError, match=r"holds 7 bytes, too few for an HMAC key \(at least 16;"):
        load_key(path)


def test_unsigned_bundle_is_named(bundle_copy: Path, hmac_key: Path) -> None:
    with pytest.raises(SignatureError) as caught:
        verify_bundle(bundle_copy, hmac_key)
    assert (
        str(caught.value) == f"bundle {bundle_copy} is not signed: signature.json is missing (polyfuse sign)"
    )


@pytest.mark.parametrize("content", ["{not json", json.dumps({"algorithm": "hmac-sha256"}), "[]"])
def test_corrupt_signature_file_is_named(bundle_copy: Path, hmac_key: Path, content: str) -> None:
    (bundle_copy / "signature.json").write_text(content)
    with pytest.raises(SignatureError, match=rf"^bundle {bundle_copy}: signature.json is corrupt \("):
        verify_bundle(bundle_copy, hmac_key)


def test_saving_again_drops_the_stale_signature(bundle_copy: Path, hmac_key: Path) -> None:
    sign_bundle(bundle_copy, hmac_key)
    (bundle_copy / "notes.txt").write_text("kept")
    Predictor.load(bundle_copy).save(bundle_copy)
    assert not (bundle_copy / "signature.json").exists()
    assert (bundle_copy / "notes.txt").read_text() == "kept"


def test_verify_without_a_key_checks_only_the_checksums(
    bundle_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(bundle_copy)]) == 0
    assert "every checksum matches (damage check only: pass --key" in capsys.readouterr().out
    (bundle_copy / "README.md").write_text("edited")
    assert main(["verify", str(bundle_copy)]) == 2
    assert "README.md does not match its checksum" in capsys.readouterr().err


# ---------------------------------------------------------------------------- ed25519
@pytest.fixture
def ed25519_keys(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("cryptography")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private, public = tmp_path / "key.pem", tmp_path / "key.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_ed25519_sign_with_private_verify_with_public(
    bundle_copy: Path, ed25519_keys: tuple[Path, Path]
) -> None:
    private, public = ed25519_keys
    sign_bundle(bundle_copy, private)
    assert verify_bundle(bundle_copy, public).algorithm == "ed25519"
    edit_json(bundle_copy, "config.json", _raise_lr)
    with pytest.raises(SignatureError, match=r"the signature does not match manifest\.json"):
        verify_bundle(bundle_copy, public)


def test_ed25519_public_key_cannot_sign(bundle_copy: Path, ed25519_keys: tuple[Path, Path]) -> None:
    with pytest.raises(SignatureError) as caught:
        sign_bundle(bundle_copy, ed25519_keys[1])
    assert str(caught.value) == f"key file {ed25519_keys[1]} is a public key: signing needs the private key"


def test_algorithm_mismatch_is_named(
    bundle_copy: Path, ed25519_keys: tuple[Path, Path], hmac_key: Path
) -> None:
    sign_bundle(bundle_copy, ed25519_keys[0])
    with pytest.raises(SignatureError) as caught:
        verify_bundle(bundle_copy, hmac_key)
    assert (
        str(caught.value)
        == f"bundle {bundle_copy} is signed with ed25519, but {hmac_key} is an hmac-sha256 key"
    )


def test_unreadable_pem_is_named(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    path = tmp_path / "broken.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    with pytest.raises(SignatureError, match=rf"^key file {path} is not a readable PEM key: "):
        load_key(path)
