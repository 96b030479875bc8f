"""The HTML report: one self-contained file, every plot a PNG data URI that a browser loads."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from polyfuse.evaluation.report import EVALUATION_PLOTS, write_evaluation_report

IMG = re.compile(r'<img class="plot" data-plot="([a-z_]+)" alt="[^"]*" src="data:image/png;base64,([^"]+)">')


def plots_in(html: str) -> dict[str, bytes]:
    """``{plot name: PNG bytes}`` of every plot image in a report."""
    found = IMG.findall(html)
    assert html.count("<img") == len(found)  # every image is a plot with a data URI
    return {name: base64.b64decode(data, validate=True) for name, data in found}


def check_pngs(images: dict[str, bytes]) -> None:
    for name, png in images.items():
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), name
        with Image.open(io.BytesIO(png)) as image:
            image.verify()
            assert image.size[0] > 200 and image.size[1] > 100, name


def load_in_chromium(path: Path, tmp_path: Path) -> str:
    """The DOM of ``path`` after headless Chromium loaded it (plots marked by the inline script)."""
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed (Debian packages chromium and chromium-driver)")
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=5000", "--dump-dom",
        path.resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def assert_all_plots_loaded(dom: str, names: list[str]) -> None:
    loaded = re.findall(r'<img[^>]*data-plot="([a-z_]+)"[^>]*data-loaded="yes"', dom)
    assert sorted(loaded) == sorted(names), dom[:500]
    assert f'data-plots-loaded="{len(names)}"' in dom and f'data-plots-total="{len(names)}"' in dom


def test_report_has_one_png_per_expected_plot(evaluated: dict[str, Any], tmp_path: Path) -> None:
    path = write_evaluation_report(tmp_path / "report.html", evaluated)
    html = path.read_text()
    images = plots_in(html)
    assert sorted(images) == sorted(EVALUATION_PLOTS)
    check_pngs(images)
    assert not re.search(r'(src|href)="(https?:|//)', html)  # self-contained: nothing fetched
    for title in ("Robustness to noise", "Absent modalities", "Modality contribution", "Calibration",
                  "Efficiency"):
        assert f"<h2>{title}</h2>" in html


def test_report_without_analyses_has_the_basic_plots(evaluated: dict[str, Any], tmp_path: Path) -> None:
    basic = {k: evaluated[k] for k in ("data", "model", "metrics", "history")}
    images = plots_in(write_evaluation_report(tmp_path / "basic.html", basic).read_text())
    assert sorted(images) == ["confusion_matrix", "learning_curves", "per_class_scores"]


def test_every_plot_loads_in_headless_chromium(evaluated: dict[str, Any], tmp_path: Path) -> None:
    path = write_evaluation_report(tmp_path / "report.html", evaluated)
    assert_all_plots_loaded(load_in_chromium(path, tmp_path), list(EVALUATION_PLOTS))


def test_chromium_check_catches_a_broken_plot(tmp_path: Path) -> None:
    from polyfuse.evaluation.report import Plot, Section, write_report

    good = Plot("good", _tiny_png())
    path = write_report(tmp_path / "broken.html", [Section("s", [good, Plot("broken", b"not a png")])])
    dom = load_in_chromium(path, tmp_path)
    assert re.search(r'data-plot="broken"[^>]*data-loaded="no"', dom)
    assert re.search(r'data-plot="good"[^>]*data-loaded="yes"', dom)
    assert 'data-plots-loaded="1"' in dom and 'data-plots-total="2"' in dom


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()
