"""Tampered bundles: a manifest that points outside the bundle, a symlinked file, or JSON edited
and re-checksummed by hand is refused with a :class:`BundleError` naming the bundle and the entry,
never followed, never a traceback."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hostile_helpers import Trained, edit_json

from polyfuse import BundleError, Predictor
from polyfuse.bundle import FORMAT_VERSION
from polyfuse.cli.main import main


def _list(bundle: Path, name: str, target: Path | None = None) -> None:
    """Add ``name`` to the manifest with the checksum of ``target`` (default: the named path)."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    source = target if target is not None else bundle / name
    manifest["files"][name] = hashlib.sha256(source.read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("/etc/passwd", "an absolute path"),
        ("../../etc/hostname", "a path leaving the bundle"),
        ("sub/../../outside.txt", "a path leaving the bundle"),
        ("./config.json", "not a plain relative path"),
    ],
)
def test_manifest_entry_outside_the_bundle_is_refused(bundle_copy: Path, entry: str, why: str) -> None:
    outside = bundle_copy.parent / "outside.txt"
    outside.write_text("secret")
    _list(bundle_copy, entry, outside)
    with pytest.raises(BundleError) as caught:
        Predictor.load(bundle_copy)
    assert str(caught.value) == (
        f"bundle {bundle_copy}: manifest.json lists {entry!r}, which is {why}; a bundle holds only"
        " plain files inside its folder, refusing to load it"
    )


def test_symlinked_bundle_file_is_refused_even_with_a_matching_checksum(bundle_copy: Path) -> None:
    real = bundle_copy.parent / "weights-elsewhere.safetensors"
    os.replace(bundle_copy / "model.safetensors", real)
    (bundle_copy / "model.safetensors").symlink_to(real)  # same bytes, same checksum
    with pytest.raises(BundleError, match=r"lists 'model.safetensors', which is a symbolic link"):
        Predictor.load(bundle_copy)


def test_entry_through_a_symlinked_folder_is_refused(bundle_copy: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "notes.txt").write_text("x")
    (bundle_copy / "extra").symlink_to(tmp_path / "elsewhere")
    _list(bundle_copy, "extra/notes.txt")
    with pytest.raises(BundleError, match=r"lists 'extra/notes.txt', which is a symbolic link"):
        Predictor.load(bundle_copy)


def test_entry_that_is_a_folder_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "folder").mkdir()
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["files"]["folder"] = "0" * 64
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"lists 'folder', which is not a regular file"):
        Predictor.load(bundle_copy)


def test_symlinked_manifest_is_refused(bundle_copy: Path) -> None:
    real = bundle_copy.parent / "manifest.json"
    os.replace(bundle_copy / "manifest.json", real)
    (bundle_copy / "manifest.json").symlink_to(real)
    with pytest.raises(BundleError, match=r"manifest\.json is missing"):
        Predictor.load(bundle_copy)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ([1, 2], "is corrupt: not a JSON object"),
        (
            {"format_version": FORMAT_VERSION, "files": ["config.json"]},
            "is corrupt: 'files' must map file names to SHA-256 checksums",
        ),
        (
            {"format_version": FORMAT_VERSION, "files": {"config.json": 7}},
            "is corrupt: 'files' must map file names to SHA-256 checksums",
        ),
    ],
    ids=["list", "files-list", "checksum-not-text"],
)
def test_manifest_of_the_wrong_shape_is_refused(bundle_copy: Path, manifest: Any, message: str) -> None:
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as caught:
        Predictor.load(bundle_copy)
    assert str(caught.value) == f"{bundle_copy / 'manifest.json'} {message}"


# ---------------------------------------------------------------------------- edited and re-checksummed
def test_config_json_that_is_not_json_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "config.json").write_text('{"config": ')
    edit_json_checksum_only(bundle_copy, "config.json")
    with pytest.raises(BundleError, match=rf"^bundle {bundle_copy}: config.json is not valid JSON \("):
        Predictor.load(bundle_copy)


def edit_json_checksum_only(bundle: Path, name: str) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def _set_epochs(header: dict[str, Any]) -> None:
    header["config"]["training"]["epochs"] = -1


def _drop_inputs(header: dict[str, Any]) -> None:
    del header["inputs"]


def _unknown_processor(header: dict[str, Any]) -> None:
    header["inputs"][0]["processor"] = "PickleProcessor"


def _bad_schema(header: dict[str, Any]) -> None:
    header["schema"]["columns"] = [{"name": "x"}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _set_epochs,
            "config.json holds an invalid config or schema (training.epochs: Input should be greater",
        ),
        (_drop_inputs, "config.json lacks one of config, schema, task, targets, inputs"),
        (
            _unknown_processor,
            "config.json names an unknown processor 'PickleProcessor' for input 'description'",
        ),
        (_bad_schema, "config.json holds an invalid config or schema ("),
    ],
    ids=["invalid-config", "missing-key", "unknown-processor", "bad-schema"],
)
def test_edited_config_json_is_a_bundle_error(bundle_copy: Path, change: Any, message: str) -> None:
    edit_json(bundle_copy, "config.json", change)
    with pytest.raises(BundleError) as caught:
        Predictor.load(bundle_copy)
    assert str(caught.value).startswith(f"bundle {bundle_copy}: {message}")


def test_processors_json_without_an_input_state_is_a_bundle_error(bundle_copy: Path) -> None:
    edit_json(bundle_copy, "processors.json", lambda states: states.pop("photo"))
    with pytest.raises(BundleError) as caught:
        Predictor.load(bundle_copy)
    assert str(caught.value) == f"bundle {bundle_copy}: processors.json lacks the state of photo"


def test_cli_bundle_that_passes_checks_but_cannot_load_is_one_message(
    bundle_copy: Path, trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def widen(header: dict[str, Any]) -> None:
        header["inputs"][0]["encoder"]["embed_dim"] = 999  # weights no longer fit the model

    edit_json(bundle_copy, "config.json", widen)
    table = trained.data_dir / "table.csv"
    assert main(["predict", str(bundle_copy), str(table), "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: bundle {bundle_copy} passes its checksums but cannot be loaded (RuntimeError:"
    )
    assert err.rstrip().endswith("its files were edited, or written by an incompatible polyfuse")
    assert "Traceback" not in err
