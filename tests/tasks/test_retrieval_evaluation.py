"""Evaluating retrieval bundles: zero-shot classification (class names as text queries), the report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from polyfuse import Predictor
from polyfuse.cli.main import main
from polyfuse.retrieval.zero_shot import zero_shot_classify


def colour_table(root: Path, out: Path) -> Path:
    """The tiny table's photos (absolute paths), labelled with their colour."""
    table = pd.read_csv(root / "table.csv").drop_duplicates("photo")
    frame = pd.DataFrame(
        {"photo": [str(root / p) for p in table.photo], "colour": [c.split()[1] for c in table.caption]}
    )
    frame.to_csv(out, index=False)
    return out


def test_zero_shot_names_the_colour(retrieval_bundle: tuple[Path, Path], tmp_path: Path) -> None:
    root, bundle = retrieval_bundle
    data = colour_table(root, tmp_path / "colours.csv")
    fitted = Predictor.load(bundle).fitted
    metrics = zero_shot_classify(fitted, data, "colour", template="a {} square")
    assert metrics["classes"] == ["blue", "green", "purple", "red", "white", "yellow"]
    assert metrics["rows"] == 12 and metrics["bad_rows"] == 0
    assert metrics["accuracy_score"] >= 0.75  # chance is 1/6
    with pytest.raises(KeyError, match="'shade'"):
        zero_shot_classify(fitted, data, "shade")


def test_cli_evaluate_zero_shot(
    retrieval_bundle: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, bundle = retrieval_bundle
    data = colour_table(root, tmp_path / "colours.csv")
    args = ["evaluate", str(bundle), str(data), "--zero-shot-labels", "colour"]
    assert main([*args, "--zero-shot-template", "a {} stripe"]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_retrieval_report_has_curves_and_a_gallery(
    retrieval_bundle: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, bundle = retrieval_bundle
    report = tmp_path / "report.html"
    assert main(["evaluate", str(bundle), str(root / "table.csv"), "--report", str(report)]) == 0
    page = report.read_text()
    assert 'data-plot="recall_curves"' in page
    assert page.count('data-plot="gallery_') == 6  # six queries, each with its top five photos
    assert "query: a red square" in page
    assert "mean_recall_score" in capsys.readouterr().out
