"""Fixtures of the evaluation tests: fitted processors with batches of each modality, one full
evaluation of the session's trained bundle, and the checks an HTML report must pass (plots as PNG
data URIs; every plot loaded in headless Chromium)."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from polyfuse.data.processors.audio import AudioProcessor
from polyfuse.data.processors.base import Features, Processor
from polyfuse.data.processors.image import ImageProcessor
from polyfuse.data.processors.tabular import TabularProcessor
from polyfuse.data.processors.text import TextProcessor

SENTENCES = [
    "the quick brown fox jumps over the lazy dog",
    "a calm voice sounds bright and loud today",
    "this item looks rather quiet but seems very calm",
    "some words repeat some words repeat again and again",
] * 4


def _image() -> tuple[Processor, Features]:
    processor = ImageProcessor(size=16)
    processor.set_state({"mode": "RGB", "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]}, {})
    pixels = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    mean, std = (
        torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1),
        torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1),
    )
    return processor, {"pixels": (pixels - mean) / std}


def _audio() -> tuple[Processor, Features]:
    processor = AudioProcessor(sample_rate=8000, n_mels=32)
    processor.set_state({"mean": -6.0, "std": 3.0}, {})
    generator = torch.Generator().manual_seed(2)
    lengths = torch.tensor([40, 40, 35, 30, 25, 40, 20, 10] * 2)
    mel = torch.randn(16, 1, 32, 40, generator=generator)
    mask = torch.arange(40).unsqueeze(0) < lengths.unsqueeze(1)  # (B, F)
    return processor, {"mel": mel * mask[:, None, None, :], "mask": mask}


def _text() -> tuple[Processor, Features]:
    processor = TextProcessor(vocab_size=120, max_length=16).fit(SENTENCES)
    return processor, processor.collate([processor.transform(s) for s in SENTENCES])


def _tabular() -> tuple[Processor, Features]:
    rows = [{"a": float(i), "b": float(i % 5) if i % 7 else None, "c": "xyz"[i % 3]} for i in range(32)]
    processor = TabularProcessor(numeric=["a", "b"], categorical=["c"]).fit(rows)
    return processor, processor.collate([processor.transform(r) for r in rows])


@pytest.fixture(scope="session")
def modality_batches() -> dict[str, tuple[Processor, Features]]:
    """``{modality: (fitted processor, batched features)}`` for image, audio, text and tabular."""
    return {"image": _image(), "audio": _audio(), "text": _text(), "tabular": _tabular()}


@pytest.fixture(scope="session")
def evaluated(trained: Any) -> dict[str, Any]:
    """Every analysis of the trained bundle on its table (3 noise levels)."""
    from polyfuse import Predictor
    from polyfuse.evaluation import run_evaluation

    predictor = Predictor.load(trained.bundle)
    return run_evaluation(
        predictor,
        trained.data_dir / "table.csv",
        robustness=True,
        contribution=True,
        calibration=True,
        efficiency=True,
        levels=[0.0, 0.5, 0.9],
    )


IMG = re.compile(r'<img class="plot" data-plot="([a-z_]+)" alt="[^"]*" src="data:image/png;base64,([^"]+)">')


class ReportChecks:
    """What a report must satisfy; Chromium runs with a private profile under ``tmp_path``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def plots(self, html: str) -> dict[str, bytes]:
        """``{plot name: PNG bytes}`` of every image; each must be a plot whose data URI is a PNG."""
        found = IMG.findall(html)
        assert html.count("<img") == len(found)  # every image is a plot with a data URI
        images = {name: base64.b64decode(data, validate=True) for name, data in found}
        for name, png in images.items():
            assert png.startswith(b"\x89PNG\r\n\x1a\n"), name
            with Image.open(io.BytesIO(png)) as image:
                image.verify()
                assert image.size[0] > 200 and image.size[1] > 100, name
        return images

    def browser_dom(self, path: Path) -> str:
        """The DOM of ``path`` after headless Chromium loaded it (plots marked by the inline script)."""
        browser = shutil.which("chromium")
        if browser is None:
            pytest.skip("chromium is not installed (Debian packages chromium and chromium-driver)")
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={self.tmp_path / 'chromium-profile'}", "--virtual-time-budget=5000",
            "--dump-dom", path.resolve().as_uri(),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    def assert_loaded(self, dom: str, names: list[str]) -> None:
        """Every plot in ``names``, and no other, was decoded by the browser."""
        loaded = re.findall(r'<img[^>]*data-plot="([a-z_]+)"[^>]*data-loaded="yes"', dom)
        assert sorted(loaded) == sorted(names), dom[:500]
        assert f'data-plots-loaded="{len(names)}"' in dom and f'data-plots-total="{len(names)}"' in dom


@pytest.fixture
def report_checks(tmp_path: Path) -> ReportChecks:
    """The report checks (see :class:`ReportChecks`)."""
    return ReportChecks(tmp_path)
