"""Fixtures of the evaluation tests: fitted processors with batches of each modality, and one
full evaluation of the session's trained bundle (shared by the report tests)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

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
    mean, std = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
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
        predictor, trained.data_dir / "table.csv", robustness=True, contribution=True, calibration=True,
        efficiency=True, levels=[0.0, 0.5, 0.9],
    )
