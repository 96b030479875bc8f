"""Fixtures of the hostile-input suite: private copies of the session's bundle and demo data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hostile_helpers import Trained


@pytest.fixture
def bundle_copy(trained: Trained, tmp_path: Path) -> Path:
    """A private copy of the session's bundle that a test may tamper with."""
    return Path(shutil.copytree(trained.bundle, tmp_path / "bundle"))


@pytest.fixture
def data_copy(trained: Trained, tmp_path: Path) -> Path:
    """A private copy of the demo data folder (``table.csv``, ``images/``, ``audio/``)."""
    return Path(shutil.copytree(trained.data_dir, tmp_path / "data"))
