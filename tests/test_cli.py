"""The ``polyfuse`` command line, run in-process: train -> evaluate -> predict, inspect, list, and
bad input answered with exit code 2 and one message on stderr (no traceback)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from polyfuse import Predictor
from polyfuse._registry import Registry
from polyfuse.bench.synthetic import CLASSES
from polyfuse.cli.main import main
from polyfuse.encoders import ENCODERS, list_encoders
from polyfuse.fusion import FUSIONS, list_fusions
from polyfuse.tasks import TASKS, list_tasks

ConfigFactory = Callable[..., dict[str, Any]]
N_TRAIN, N_VALID = 48, 12  # the conftest demo table, split in two


@dataclass
class CliRun:
    """What ``polyfuse train`` produced."""

    data_dir: Path
    valid: Path
    output_dir: Path
    bundle: Path
    stdout: str


@pytest.fixture(scope="module")
def cli_run(
    demo_source: Path, tmp_path_factory: pytest.TempPathFactory, make_config: ConfigFactory
) -> Iterator[CliRun]:
    """``polyfuse train config.yaml`` once per module, run from another folder: the YAML's
    relative table paths must resolve against the YAML's own folder."""
    root = tmp_path_factory.mktemp("cli")
    data_dir = Path(shutil.copytree(demo_source, root / "data"))
    frame = pd.read_csv(data_dir / "table.csv")
    frame.iloc[:N_TRAIN].to_csv(data_dir / "train.csv", index=False)
    frame.iloc[N_TRAIN:].to_csv(data_dir / "valid.csv", index=False)
    config = make_config("unused", train="train.csv", valid="valid.csv", test="valid.csv")
    (data_dir / "config.yaml").write_text(yaml.safe_dump(config))
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    output_dir = root / "run"
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout):
        patch.chdir(elsewhere)
        code = main(["train", "../data/config.yaml", "--output-dir", str(output_dir)])
    assert code == 0
    yield CliRun(data_dir, data_dir / "valid.csv", output_dir, output_dir / "model", stdout.getvalue())


# ---------------------------------------------------------------------------- train / evaluate / predict
def test_train_writes_bundle_and_prints_scores(cli_run: CliRun) -> None:
    assert (cli_run.bundle / "model.safetensors").is_file()
    assert (cli_run.output_dir / "metrics.jsonl").read_text().count("\n") == 2  # two epochs
    assert "validation" in cli_run.stdout and "test" in cli_run.stdout
    assert f"bundle written to {cli_run.bundle}" in cli_run.stdout
    summary = json.loads(cli_run.stdout.strip().splitlines()[-1])
    assert summary["train_rows"] == N_TRAIN and summary["valid_rows"] == N_VALID
    assert summary["epochs_run"] == 2


def test_evaluate_json_matches_predictor(
    cli_run: CliRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "metrics.json"
    assert main(["evaluate", str(cli_run.bundle), str(cli_run.valid), "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    written = json.loads(out_json.read_text())
    expected = Predictor.load(cli_run.bundle).evaluate(cli_run.valid)
    assert written["accuracy_score"] == pytest.approx(expected["accuracy_score"], abs=1e-12)
    assert written["confusion_matrix"] == expected["confusion_matrix"]
    assert written["rows"] == N_VALID and written["bad_rows"] == 0
    assert set(written["per_class"]) == set(CLASSES)
    assert re.search(rf"^accuracy_score +{expected['accuracy_score']:.4f}$", printed, re.MULTILINE)
    assert "true alpha" in printed and "pred gamma" in printed


def test_predict_csv_with_probabilities(
    cli_run: CliRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_csv = tmp_path / "out.csv"
    code = main(
        [
            "predict",
            str(cli_run.bundle),
            str(cli_run.valid),
            "-o",
            str(out_csv),
            "--proba",
            "--chunk-rows",
            "5",
        ]
    )
    assert code == 0
    assert f"{N_VALID} rows predicted into {out_csv}; 0 rows failed" in capsys.readouterr().out
    out = pd.read_csv(out_csv)
    assert out["row"].tolist() == list(range(N_VALID))
    proba = out[[f"proba_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert out["prediction"].tolist() == [CLASSES[i] for i in proba.argmax(axis=1)]
    expected = Predictor.load(cli_run.bundle).predict(cli_run.valid, proba=True)
    np.testing.assert_allclose(proba, expected[[f"proba_{c}" for c in CLASSES]].to_numpy(), atol=1e-6)
    assert out["error"].isna().all()


# ---------------------------------------------------------------------------- inspect
def test_inspect_prints_modalities_and_warnings(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.read_csv(demo_dir / "table.csv")
    frame.insert(0, "item_id", [f"item-{i:04d}" for i in range(len(frame))])
    frame["source"] = "web"
    frame.to_csv(demo_dir / "inspect.csv", index=False)
    assert main(["inspect", str(demo_dir / "inspect.csv"), "--label", "label"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if len(line.split()) > 2}
    expected = {
        "item_id": "ignore",
        "description": "text",
        "photo": "image",
        "sound": "audio",
        "weight": "numeric",
        "region": "categorical",
        "source": "categorical",
    }
    assert {k: rows.get(k) for k in expected} == expected
    assert "label 'label': task multiclass" in out
    warnings = out.split("warnings:")[1]
    assert "item_id: looks like an identifier" in warnings
    assert "source: constant column" in warnings
    assert "photo" not in warnings


def test_inspect_without_label(demo_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(demo_dir / "table.csv")]) == 0
    out = capsys.readouterr().out
    assert "60 rows looked at, 6 columns" in out
    assert any(line.split()[:2] == ["label", "categorical"] for line in out.splitlines())


# ---------------------------------------------------------------------------- list
@pytest.mark.parametrize(
    ("kind", "registry", "names"),
    [("encoders", ENCODERS, list_encoders), ("fusions", FUSIONS, list_fusions), ("tasks", TASKS, list_tasks)],
)
def test_list_shows_every_component_and_field(
    kind: str, registry: Registry[Any], names: Callable[[], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", kind]) == 0
    out = capsys.readouterr().out
    listed = [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")]
    assert listed == names() and listed
    for entry in registry.entries():
        assert f"{entry.name}: {entry.description}" in out
        assert entry.description, f"{entry.name} has no description"
        for field, info in entry.config_cls.model_fields.items():
            if field == "type":
                continue
            assert info.description, f"{entry.name}.{field} has no description"
            assert f"    {field} (" in out and info.description in out


# ---------------------------------------------------------------------------- bad input -> exit 2
def _write_yaml(folder: Path, config: dict[str, Any]) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"training": {"epochs": "many"}}, "training.epochs: Input should be a valid integer"),
        ({"training": {"epoch": 2}}, "training.epoch: Extra inputs are not permitted"),
        ({"model": {"encoders": {"audio": {"type": "cnn", "depth": 3}}}}, "model.encoders.audio.depth"),
        ({"data": {"columns": {"colour": "categorical"}}}, "'colour' named in the config are not in"),
    ],
)
def test_train_with_bad_config_exits_2_without_traceback(
    change: dict[str, Any],
    expected: str,
    demo_dir: Path,
    fast_config: ConfigFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = fast_config(train="table.csv")
    for section, values in change.items():
        config[section] = {**config[section], **values}
    path = _write_yaml(demo_dir, config)
    assert main(["train", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert expected in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    if "colour" in expected:
        assert str(demo_dir / "table.csv") in captured.err


def test_missing_config_bundle_or_label_exit_2(
    cli_run: CliRun, demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", str(tmp_path / "absent.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), str(cli_run.valid), "-o", str(tmp_path / "o.csv")]) == 2
    assert "manifest.json is missing" in capsys.readouterr().err
    unlabelled = tmp_path / "unlabelled.csv"
    pd.read_csv(cli_run.valid).drop(columns=["label"]).to_csv(unlabelled, index=False)
    assert main(["evaluate", str(cli_run.bundle), str(unlabelled)]) == 2
    err = capsys.readouterr().err
    assert "label column 'label' is not in" in err and "Traceback" not in err
