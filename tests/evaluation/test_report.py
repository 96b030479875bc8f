"""The HTML report: one self-contained file, every plot a PNG data URI that a browser loads."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from PIL import Image

from polyfuse.evaluation.report import EVALUATION_PLOTS, Plot, Section, write_evaluation_report, write_report


def test_report_has_one_png_per_expected_plot(
    evaluated: dict[str, Any], tmp_path: Path, report_checks: Any
) -> None:
    html = write_evaluation_report(tmp_path / "report.html", evaluated).read_text()
    assert sorted(report_checks.plots(html)) == sorted(EVALUATION_PLOTS)
    assert not re.search(r'(src|href)="(https?:|//)', html)  # self-contained: nothing fetched
    for title in (
        "Robustness to noise",
        "Absent modalities",
        "Modality contribution",
        "Calibration",
        "Efficiency",
    ):
        assert f"<h2>{title}</h2>" in html


def test_report_without_analyses_has_the_basic_plots(
    evaluated: dict[str, Any], tmp_path: Path, report_checks: Any
) -> None:
    basic = {k: evaluated[k] for k in ("data", "model", "metrics", "history")}
    images = report_checks.plots(write_evaluation_report(tmp_path / "basic.html", basic).read_text())
    assert sorted(images) == ["confusion_matrix", "learning_curves", "per_class_scores"]


def test_every_plot_loads_in_headless_chromium(
    evaluated: dict[str, Any], tmp_path: Path, report_checks: Any
) -> None:
    path = write_evaluation_report(tmp_path / "report.html", evaluated)
    report_checks.assert_loaded(report_checks.browser_dom(path), list(EVALUATION_PLOTS))


def test_chromium_check_catches_a_broken_plot(tmp_path: Path, report_checks: Any) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    plots = [Plot("good", buffer.getvalue()), Plot("broken", b"not a png")]
    dom = report_checks.browser_dom(write_report(tmp_path / "broken.html", [Section("s", list(plots))]))
    assert re.search(r'data-plot="broken"[^>]*data-loaded="no"', dom)
    assert re.search(r'data-plot="good"[^>]*data-loaded="yes"', dom)
    assert 'data-plots-loaded="1"' in dom and 'data-plots-total="2"' in dom
