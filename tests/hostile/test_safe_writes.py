"""Faults while writing: a full disk (ENOSPC, simulated), a read-only or missing folder, a second
run into a locked folder. The old file or bundle stays whole, nothing half-written is left, and the
message is one line naming the path (and, for a lock, the holder's pid)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import polyfuse._io
from polyfuse import Predictor
from polyfuse._io import (
    LOCK_NAME,
    OutputError,
    atomic_directory,
    atomic_write_text,
    folder_lock,
    preflight_output,
)

HOLD_LOCK = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_io", {polyfuse._io.__file__!r})
io = importlib.util.module_from_spec(spec)
spec.loader.exec_module(io)  # only this module: importing polyfuse (torch) takes seconds
with io.folder_lock(sys.argv[1], sys.argv[2]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _full_disk(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def lock_holder(tmp_path: Path) -> Iterator[Any]:
    """``hold(folder, name=LOCK_NAME)`` starts a process holding the lock; yields its pid."""
    children: list[subprocess.Popen[str]] = []

    def hold(folder: Path, name: str = LOCK_NAME) -> int:
        child = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(folder), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        return child.pid

    yield hold
    for child in children:
        child.communicate("\n", timeout=30)


# ---------------------------------------------------------------------------- atomic files
def test_full_disk_leaves_the_old_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "metrics.json"
    target.write_text("old")
    monkeypatch.setattr(os, "fsync", _full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        atomic_write_text(target, "new content")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["metrics.json"]  # no temporary file left behind


def test_atomic_write_replaces_on_success(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["a.txt"]


def test_failed_folder_write_leaves_the_old_folder(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "a.txt").write_text("old")
    with pytest.raises(OSError), atomic_directory(target) as temp:
        (temp / "a.txt").write_text("new")
        _full_disk()
    assert (target / "a.txt").read_text() == "old"
    assert os.listdir(tmp_path) == ["out"]


def test_folder_swap_keeps_foreign_files_and_drops_stale_ones(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    for name, text in (("a.txt", "old"), ("mine.txt", "user's"), ("stale.sig", "x")):
        (target / name).write_text(text)
    with atomic_directory(target, drop={"stale.sig"}) as temp:
        (temp / "a.txt").write_text("new")
    assert {p.name: p.read_text() for p in target.iterdir()} == {"a.txt": "new", "mine.txt": "user's"}
    assert os.listdir(tmp_path) == ["out"]


def test_folder_write_through_a_symlink_replaces_the_real_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.txt").write_text("old")
    (tmp_path / "link").symlink_to(real)
    with atomic_directory(tmp_path / "link") as temp:
        (temp / "a.txt").write_text("new")
    assert (tmp_path / "link").is_symlink() and (real / "a.txt").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link", "real"]


def test_folder_write_onto_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file")
    with pytest.raises(OutputError) as caught, atomic_directory(tmp_path / "out"):
        pass
    assert (
        str(caught.value) == f"cannot write the folder {tmp_path / 'out'}: a file of that name is in the way"
    )


def test_bundle_save_on_a_full_disk_keeps_the_old_bundle(
    bundle_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    predictor = Predictor.load(bundle_copy)
    before = {p.name: p.read_bytes() for p in bundle_copy.iterdir()}
    import polyfuse.bundle

    original = polyfuse.bundle.save_file

    def fail_on_weights(tensors: Any, filename: str, metadata: Any = None) -> None:
        if filename.endswith("model.safetensors"):
            _full_disk()
        original(tensors, filename, metadata=metadata)

    monkeypatch.setattr(polyfuse.bundle, "save_file", fail_on_weights)
    with pytest.raises(OSError, match="No space left on device"):
        predictor.save(bundle_copy)
    assert {p.name: p.read_bytes() for p in bundle_copy.iterdir()} == before
    assert os.listdir(bundle_copy.parent) == ["bundle"]
    Predictor.load(bundle_copy)


# ---------------------------------------------------------------------------- lock
def test_second_writer_fails_at_once_naming_folder_and_pid(tmp_path: Path, lock_holder: Any) -> None:
    pid = lock_holder(tmp_path / "run")
    with pytest.raises(OutputError) as caught, folder_lock(tmp_path / "run"):
        pass
    assert str(caught.value) == (
        f"{tmp_path / 'run'} is in use by another polyfuse run (pid {pid}); wait for it to finish"
        " or write somewhere else"
    )


def _holder(folder: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder), LOCK_NAME],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    return child


def test_lock_is_free_again_when_its_holder_ends(tmp_path: Path) -> None:
    child = _holder(tmp_path)
    child.communicate("\n", timeout=30)
    assert child.returncode == 0 and not (tmp_path / LOCK_NAME).exists()
    with folder_lock(tmp_path):
        pass


def test_lock_left_by_a_killed_run_is_not_stale(tmp_path: Path) -> None:
    child = _holder(tmp_path)
    child.kill()  # SIGKILL: no cleanup, the lock file stays with the dead pid
    child.wait(timeout=30)
    assert (tmp_path / LOCK_NAME).read_text().strip() == str(child.pid)
    with folder_lock(tmp_path) as lock:
        assert lock.read_text().strip() == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    with folder_lock(tmp_path), folder_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()


def test_lock_removes_a_folder_it_made_only_when_left_empty(tmp_path: Path) -> None:
    with folder_lock(tmp_path / "empty"):
        pass
    with folder_lock(tmp_path / "used"):
        (tmp_path / "used" / "result.txt").write_text("kept")
    assert sorted(os.listdir(tmp_path)) == ["used"]
    assert os.listdir(tmp_path / "used") == ["result.txt"]


# ---------------------------------------------------------------------------- preflight
def test_preflight_missing_folder_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as caught:
        preflight_output(tmp_path / "nope" / "out.csv", kind="file")
    assert (
        str(caught.value)
        == f"cannot write {tmp_path / 'nope' / 'out.csv'}: the folder {tmp_path / 'nope'} does not exist"
    )


def test_preflight_file_path_that_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputError) as caught:
        preflight_output(tmp_path, kind="file")
    assert (
        str(caught.value) == f"{tmp_path} is a folder; give a file name (for example {tmp_path / 'out.csv'})"
    )


def test_preflight_folder_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("x")
    with pytest.raises(OutputError, match=r"cannot write into .*run: it is a file, not a folder$"):
        preflight_output(tmp_path / "run")


def test_preflight_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OutputError) as caught:
        preflight_output(tmp_path / "run" / "deeper")
    assert str(caught.value) == f"cannot write {tmp_path / 'run' / 'deeper'}: {tmp_path} is read-only"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_preflight_read_only_folder_for_real(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="is read-only"):
            preflight_output(tmp_path / "out.csv", kind="file")
    finally:
        tmp_path.chmod(0o700)


def test_preflight_not_enough_space(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=rf"^not enough space to write {tmp_path}: \d+ MiB free in"):
        preflight_output(tmp_path, need_bytes=2**62)
    assert preflight_output(tmp_path, need_bytes=1) == tmp_path
