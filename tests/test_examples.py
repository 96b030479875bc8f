"""Every shipped example config validates, and the demo runs end to end on a tiny table."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyfuse.cli.main import main
from polyfuse.config import load_config

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))


def test_examples_are_found() -> None:
    assert len(EXAMPLES) == 2, [p.name for p in EXAMPLES]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_validates(path: Path) -> None:
    config = load_config(path)
    assert config.data.label  # an autoencoder's label colours and probes its latent
    assert Path(config.data.train or "").is_absolute()  # resolved against the YAML's folder


def test_demo_trains_evaluates_and_prints_the_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--out", str(tmp_path), "--rows", "90", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "accuracy_score" in out and "without photo" in out
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert load_config(tmp_path / "config.yaml").data.label == "label"
