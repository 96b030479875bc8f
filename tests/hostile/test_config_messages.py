"""Config mistakes are refused when the config is loaded, with the file, line and column (YAML and
encoding errors) or the config path (``training.device``), and no traceback on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyfuse import ConfigError
from polyfuse.cli.main import main
from polyfuse.config import load_config
from polyfuse.config.schema import TrainingConfig, parse_config


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (
            "data:\n  label: y\n  columns: {a: text\ntraining:\n  epochs: 2\n",
            "line 4, column 9: expected ',' or '}'",
        ),
        ("data:\n  label: y\ntraining:\n\tepochs: 2\n", "line 4, column 1: found character '\\t'"),
        ("data:\n  label: [y\n", "line 3, column 1: expected ',' or ']'"),
        ("data:\n  label: y\n   epochs: 2\n", "line 3, column 10: mapping values are not allowed here"),
        ('data:\n  label: "y\n', "line 3, column 1: found unexpected end of stream"),
    ],
    ids=["unclosed-brace", "tab", "unclosed-list", "bad-indent", "unclosed-quote"],
)
def test_malformed_yaml_names_file_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"invalid YAML in {path}: {where}")


def test_non_utf8_config_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "data:\n  label: ça".encode() + b"\xe9\n")  # columns count characters
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"invalid config {path}: line 2, column 12 (byte 0xe9) is not valid UTF-8; save the file as UTF-8"
    )


def test_cli_train_with_malformed_yaml_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "data:\n  label: y\n  columns: {a: text\n")
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: invalid YAML in {path}: line 4, column 1:")
    assert "Traceback" not in err


@pytest.mark.parametrize("device", ["tpu:7", "gpu", "cuda:x", "cpu:1", "cuda:-1", "metal"])
def test_unknown_device_is_refused_at_config_load(tmp_path: Path, device: str) -> None:
    path = _write(tmp_path, f"data:\n  label: y\ntraining:\n  device: '{device}'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"invalid config {path}:\n  training.device: {device!r} is not a device polyfuse trains on;"
        " use auto, cpu, cuda, cuda:N or mps"
    )


@pytest.mark.parametrize(
    ("device", "stored"),
    [
        ("auto", "auto"),
        ("cpu", "cpu"),
        ("cuda", "cuda"),
        ("cuda:1", "cuda:1"),
        ("mps", "mps"),
        (" CUDA:0", "cuda:0"),
    ],
)
def test_valid_devices_load(device: str, stored: str) -> None:
    assert TrainingConfig(device=device).device == stored


def test_cli_train_with_bad_device_exits_2_before_touching_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "run"
    path = _write(tmp_path, f"data:\n  label: y\ntraining:\n  device: tpu:7\n  output_dir: {output}\n")
    assert main(["train", str(path)]) == 2
    assert "training.device: 'tpu:7' is not a device polyfuse trains on" in capsys.readouterr().err
    assert not output.exists()


def test_python_config_gets_the_same_device_check() -> None:
    with pytest.raises(ConfigError, match=r"training.device: 'tpu:7' is not a device"):
        parse_config({"data": {"label": "y"}, "training": {"device": "tpu:7"}})
