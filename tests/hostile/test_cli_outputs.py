"""The command line's outputs: checked before any work, written whole or not at all, one writer at
a time, and no progress-bar carriage returns in logs."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hostile_helpers import N_ROWS, Trained

import polyfuse._io
from polyfuse._io import LOCK_NAME
from polyfuse._progress import progress_enabled
from polyfuse.cli.main import main
from polyfuse.data.dataset import encode_rows
from polyfuse.data.tables import read_table

HOLD_LOCK = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_io", {polyfuse._io.__file__!r})
io = importlib.util.module_from_spec(spec)
spec.loader.exec_module(io)
with io.folder_lock(sys.argv[1], sys.argv[2]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _hold(folder: Path, name: str = LOCK_NAME) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder), name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    return child


def _predict(trained: Trained, output: Path, *extra: str) -> int:
    table = trained.data_dir / "table.csv"
    return main(["predict", str(trained.bundle), str(table), "-o", str(output), *extra])


def test_predict_into_a_missing_folder(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "no" / "such" / "out.csv"
    assert _predict(trained, output) == 2
    assert (
        capsys.readouterr().err
        == f"error: cannot write {output}: the folder {output.parent} does not exist\n"
    )


def test_predict_onto_a_folder(trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _predict(trained, tmp_path) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path} is a folder; give a file name (for example {tmp_path / 'out.csv'})\n"
    )


def test_predict_on_a_full_disk_keeps_the_earlier_output(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.csv"
    output.write_text("earlier,results\n")
    original = pd.DataFrame.to_csv
    calls: list[int] = []

    def second_chunk_fails(self: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", second_chunk_fails)
    assert _predict(trained, output, "--chunk-rows", "25") == 2
    assert capsys.readouterr().err == (
        f"error: cannot write {output}: No space left on device; an earlier out.csv there is unchanged\n"
    )
    assert output.read_text() == "earlier,results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_predict_into_a_file_another_run_writes(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    child = _hold(tmp_path, ".out.csv.lock")
    try:
        assert _predict(trained, tmp_path / "out.csv") == 2
    finally:
        child.communicate("\n", timeout=30)
    assert capsys.readouterr().err == (
        f"error: {tmp_path} is in use by another polyfuse run (pid {child.pid}); wait for it to finish"
        " or write somewhere else\n"
    )
    assert not (tmp_path / "out.csv").exists()


def test_predict_writes_whole_output_and_no_lock_file(trained: Trained, tmp_path: Path) -> None:
    assert _predict(trained, tmp_path / "out.csv", "--chunk-rows", "25", "--no-progress") == 0
    assert len(pd.read_csv(tmp_path / "out.csv")) == N_ROWS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_train_into_a_locked_output_folder_fails_at_once(
    demo_dir: Path, fast_config: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "run"
    config = fast_config(output, train="table.csv")
    (demo_dir / "config.yaml").write_text(yaml.safe_dump(config))
    child = _hold(output)
    try:
        assert main(["train", str(demo_dir / "config.yaml")]) == 2
    finally:
        child.communicate("\n", timeout=30)
    assert capsys.readouterr().err == (
        f"error: {output} is in use by another polyfuse run (pid {child.pid}); wait for it to finish"
        " or write somewhere else\n"
    )
    assert not output.exists()  # nothing trained; the holder's lock and the folder it made are gone


def test_train_output_dir_that_is_a_file(
    demo_dir: Path, fast_config: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run").write_text("not a folder")
    (demo_dir / "config.yaml").write_text(yaml.safe_dump(fast_config(tmp_path / "run", train="table.csv")))
    assert main(["train", str(demo_dir / "config.yaml")]) == 2
    assert (
        capsys.readouterr().err
        == f"error: cannot write into {tmp_path / 'run'}: it is a file, not a folder\n"
    )


def test_evaluate_checks_its_json_path_before_scoring(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    json_out = tmp_path / "missing" / "m.json"
    table = trained.data_dir / "table.csv"
    assert main(["evaluate", str(trained.bundle), str(table), "--json", str(json_out), "--no-progress"]) == 2
    assert (
        capsys.readouterr().err
        == f"error: cannot write {json_out}: the folder {json_out.parent} does not exist\n"
    )


# ---------------------------------------------------------------------------- progress
class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYFUSE_NO_PROGRESS", raising=False)
    assert progress_enabled(True, _Stream(True)) is True
    assert progress_enabled(True, _Stream(False)) is False
    assert progress_enabled(False, _Stream(True)) is False
    monkeypatch.setenv("POLYFUSE_NO_PROGRESS", "1")
    assert progress_enabled(True, _Stream(True)) is False


def test_no_carriage_returns_when_stderr_is_not_a_terminal(
    trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    table = read_table(trained.data_dir / "table.csv")
    encode_rows(table, trained.predictor.fitted.inputs, progress=True, desc="reading")
    assert "\r" not in capsys.readouterr().err  # was: a redrawn tqdm bar in the log


def test_cli_predict_logs_have_no_carriage_returns(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _predict(trained, tmp_path / "out.csv") == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "\r" not in captured.out


def test_embed_on_a_full_disk_keeps_the_earlier_output(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``polyfuse embed`` writes through a temporary sibling: a failed write leaves the old file."""
    output = tmp_path / "vectors.parquet"
    output.write_bytes(b"earlier")

    def full_disk(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> None:
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full_disk)
    table = trained.data_dir / "table.csv"
    assert main(["embed", str(trained.bundle), str(table), "-o", str(output)]) != 0
    assert output.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vectors.parquet"]
