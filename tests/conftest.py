"""Shared fixtures: a tiny multimodal table (text, image, audio, number, category) and a config
that trains on it in about a second on CPU, plus one trained bundle shared by the whole session.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from polyfuse import Predictor
from polyfuse.bench.synthetic import make_demo_table
from polyfuse.data.cache import ENV_DIR

# The test models are tiny: one intra-op thread is faster, and ~10x faster on a shared, loaded CPU.
torch.set_num_threads(1)

N_ROWS = 60
"""Rows of the demo table (test modules repeat it as a constant)."""


def make_fast_config(output_dir: str | Path, **data: Any) -> dict[str, Any]:
    """A config (YAML layout) with small encoders that trains on the demo table in ~1 s.

    ``data`` entries go into the ``data`` section (``label`` defaults to ``"label"``).
    """
    return {
        "data": {
            "label": "label",
            "processors": {
                "image": {"size": 16},
                "audio": {"sample_rate": 8000, "max_seconds": 0.5, "n_mels": 32},
                "text": {"vocab_size": 200, "max_length": 16},
            },
            **data,
        },
        "model": {
            "encoders": {
                "text": {"type": "bag", "embed_dim": 16},
                "image": {"type": "cnn", "widths": [8, 16]},
                "audio": {"type": "cnn", "widths": [8, 16]},
                "tabular": {"hidden_dims": [16]},
            },
            "head": {"hidden_dim": 16},
        },
        "training": {
            "epochs": 2,
            "batch_size": 16,
            "lr": 5e-3,
            "progress": False,
            "tensorboard": False,
            "num_workers": 0,
            "output_dir": str(output_dir),
        },
    }


@pytest.fixture(scope="session", autouse=True)
def embedding_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Training with frozen pretrained encoders writes the embedding cache: never to ``~/.cache``."""
    path = tmp_path_factory.mktemp("embedding-cache")
    before = os.environ.get(ENV_DIR)
    os.environ[ENV_DIR] = str(path)
    yield path
    if before is None:
        os.environ.pop(ENV_DIR, None)
    else:
        os.environ[ENV_DIR] = before


@pytest.fixture(scope="session")
def make_config() -> Callable[..., dict[str, Any]]:
    """``make_config(output_dir, **data)``: :func:`make_fast_config`, for fixtures of any scope."""
    return make_fast_config


@pytest.fixture
def fast_config(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``fast_config(output_dir=None, **data)``: the fast config; its run goes to ``tmp_path/run``
    unless ``output_dir`` is given; ``data`` entries go into the ``data`` section."""

    def factory(output_dir: str | Path | None = None, **data: Any) -> dict[str, Any]:
        return make_fast_config(output_dir or tmp_path / "run", **data)

    return factory


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated demo folder (``table.csv``, ``images/``, ``audio/``); never modified."""
    out = tmp_path_factory.mktemp("demo")
    make_demo_table(out, n_rows=N_ROWS, image_size=16, empty=0.0)
    return out


@pytest.fixture
def demo_dir(demo_source: Path, tmp_path: Path) -> Path:
    """A private copy of the demo folder that a test may corrupt."""
    return Path(shutil.copytree(demo_source, tmp_path / "data"))


@pytest.fixture
def demo_frame(demo_dir: Path) -> pd.DataFrame:
    """The demo table of the private copy (media paths relative to ``demo_dir``)."""
    return pd.read_csv(demo_dir / "table.csv", keep_default_na=False)


@dataclass
class Trained:
    """A predictor trained once per session, its saved bundle and the data it was trained on."""

    predictor: Predictor
    bundle: Path
    data_dir: Path
    train_table: Path


@pytest.fixture(scope="session")
def trained(demo_source: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Train on a throw-away copy of the demo table, save the bundle, then delete the training copy
    (so every test using the bundle also shows that loading needs no training data)."""
    root = tmp_path_factory.mktemp("trained")
    train_dir = Path(shutil.copytree(demo_source, root / "train_data"))
    predictor = Predictor(config=make_fast_config(root / "run", train=str(train_dir / "table.csv")))
    predictor.fit()
    bundle = predictor.save(root / "bundle")
    shutil.rmtree(train_dir)
    data_dir = Path(shutil.copytree(demo_source, root / "data"))
    return Trained(predictor, bundle, data_dir, train_dir / "table.csv")


@pytest.fixture
def hf_offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test may reach a hub: the env var, and the flag huggingface_hub read at import."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    yield
