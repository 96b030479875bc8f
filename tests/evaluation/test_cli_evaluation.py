"""``polyfuse evaluate`` with every analysis flag, and ``polyfuse compare``, end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from polyfuse import list_fusions
from polyfuse.cli.main import main
from polyfuse.evaluation.report import EVALUATION_PLOTS


def test_evaluate_with_every_flag(
    trained: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], report_checks: Any
) -> None:
    report, out = tmp_path / "out.html", tmp_path / "out.json"
    code = main([
        "evaluate", str(trained.bundle), str(trained.data_dir / "table.csv"), "--robustness",
        "--contribution", "--calibration", "--efficiency", "--levels", "0,0.9", "--report", str(report),
        "--json", str(out),
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    for heading in (
        "robustness (accuracy_score",
        "with inputs removed",
        "modality contribution",
        "calibration: temperature",
        "efficiency",
    ):
        assert heading in printed
    results = json.loads(out.read_text())
    assert results["robustness"]["levels"] == [0.0, 0.9] and len(results["robustness"]["curves"]) == 11
    assert len(results["absence"]["subsets"]) == 16
    contribution = results["contribution"]
    assert sum(contribution["shapley"].values()) == pytest.approx(
        contribution["full_score"] - contribution["empty_score"]
    )
    assert results["calibration"]["temperature"] == 1.0 and 0 <= results["calibration"]["ece"] <= 1
    efficiency = results["efficiency"]
    assert efficiency["parameters"] > 1000 and efficiency["latency_ms_per_row"] > 0
    assert efficiency["throughput_rows_per_second"] > 0 and efficiency["training_seconds"] > 0
    assert efficiency["peak_memory_mb"] > 50
    assert sorted(report_checks.plots(report.read_text())) == sorted(EVALUATION_PLOTS)


def test_evaluate_rejects_bad_levels(trained: Any, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["evaluate", str(trained.bundle), str(trained.data_dir / "table.csv"), "--robustness"]
    assert main([*args, "--levels", "0,1.5"]) == 2
    assert "in [0, 1]" in capsys.readouterr().err


@pytest.fixture
def compare_config(demo_dir: Path, fast_config: Callable[..., dict[str, Any]], tmp_path: Path) -> Path:
    frame = pd.read_csv(demo_dir / "table.csv", keep_default_na=False)
    frame.iloc[:45].to_csv(demo_dir / "train.csv", index=False)
    frame.iloc[45:].to_csv(demo_dir / "test.csv", index=False)
    config = fast_config(
        tmp_path / "runs", train=str(demo_dir / "train.csv"), test=str(demo_dir / "test.csv")
    )
    config["training"]["epochs"] = 1
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_compare_two_fusions_two_seeds(
    compare_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], report_checks: Any
) -> None:
    fusions = [f for f in ("concat", "late") if f in list_fusions()] or list_fusions()[:2]
    if len(fusions) == 1:
        fusions = fusions * 2
    out = tmp_path / "compare"
    code = main(
        [
            "compare",
            str(compare_config),
            "--fusions",
            ",".join(dict.fromkeys(fusions)),
            "--seeds",
            "2",
            "--robustness",
            "--absence",
            "--levels",
            "0,0.9",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads((out / "compare.json").read_text())
    names = list(dict.fromkeys(fusions))
    assert result["fusions"] == names and result["seeds"] == [0, 1] and result["metric"] == "accuracy_score"
    assert len(result["runs"]) == 2 * len(names) and not any(r["error"] for r in result["runs"])
    assert result["evaluated_on"].endswith("test.csv")
    for name in names:
        entry = result["summary"][name]
        runs = [r for r in result["runs"] if r["fusion"] == name]
        accuracies = [r["metrics"]["accuracy_score"] for r in runs]
        assert entry["runs"] == 2
        assert entry["accuracy_score"]["mean"] == pytest.approx(sum(accuracies) / 2)
        assert entry["accuracy_score"]["std"] == pytest.approx(abs(accuracies[0] - accuracies[1]) / 2**0.5)
        assert len(entry["absence"]) == 16 and len(entry["mean_scores"]) == 2
        assert all(Path(r["bundle"], "model.safetensors").is_file() for r in runs)
    baseline = result["baseline"]
    assert result["summary"][baseline]["effective_robustness"]["mean"] == pytest.approx(0.0)
    table = (out / "compare.txt").read_text()
    assert table.splitlines()[0].split()[:3] == ["fusion", "runs", "accuracy_score"]
    assert all(any(line.startswith(n) for line in table.splitlines()) for n in names)
    assert "±" in table and table in capsys.readouterr().out
    expected = [
        "compare_absence_matrix",
        "compare_learning_curves",
        "compare_robustness_curves",
        "compare_robustness_scatter",
        "compare_scores",
    ]
    assert sorted(report_checks.plots((out / "compare.html").read_text())) == expected
    report_checks.assert_loaded(report_checks.browser_dom(out / "compare.html"), expected)


def test_compare_rejects_unknown_fusions(compare_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(compare_config), "--fusions", "concat,nosuch"]) == 2
    assert "valid fusions: " in capsys.readouterr().err


def test_compare_jobs_and_resume(compare_config: Path, tmp_path: Path) -> None:
    from polyfuse.config import load_config
    from polyfuse.evaluation.compare import compare_fusions

    values = load_config(compare_config).model_dump()
    values["training"]["progress"] = False
    serial = compare_fusions(values, ["concat"], [0, 1], tmp_path / "serial")
    parallel = compare_fusions(values, ["concat"], [0, 1], tmp_path / "parallel", jobs=2)
    assert [r["seed"] for r in parallel["runs"]] == [0, 1] and not any(r["error"] for r in parallel["runs"])
    for one, other in zip(serial["runs"], parallel["runs"], strict=True):
        assert one["parameters"] == other["parameters"]
        # the workers run one torch thread each, as this test process does (conftest)
        assert one["metrics"]["accuracy_score"] == pytest.approx(other["metrics"]["accuracy_score"])
        assert one["history"][-1]["train_loss"] == pytest.approx(other["history"][-1]["train_loss"], rel=1e-5)
    assert (tmp_path / "parallel" / "concat-seed1" / "model" / "model.safetensors").is_file()
    # resume: saved runs from the same config are scored, not trained again; another config retrains
    resumed = compare_fusions(values, ["concat"], [0, 1], tmp_path / "parallel", resume=True)
    for one, other in zip(parallel["runs"], resumed["runs"], strict=True):
        assert other["training_seconds"] == one["training_seconds"] and other["metrics"] == one["metrics"]
    values["training"]["lr"] *= 2
    retrained = compare_fusions(values, ["concat"], [0], tmp_path / "parallel", resume=True)
    assert (
        retrained["runs"][0]["history"][-1]["train_loss"] != parallel["runs"][0]["history"][-1]["train_loss"]
    )
