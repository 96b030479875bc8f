"""Serving fixtures: the session's trained bundle behind an in-process app (helpers in
serving_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="serving needs the serve extra: pip install 'polyfuse[serve]'")

from fastapi.testclient import TestClient

from polyfuse import Predictor
from polyfuse.serving import ServeSettings, create_app


@pytest.fixture(scope="session")
def demo_rows(trained: Any) -> pd.DataFrame:
    """The demo table of the session's trained bundle (media relative to ``trained.data_dir``)."""
    return pd.read_csv(trained.data_dir / "table.csv", keep_default_na=False)


@pytest.fixture(scope="session")
def loaded(trained: Any) -> Predictor:
    """The session's bundle, loaded as a server loads it."""
    return Predictor.load(trained.bundle)


@pytest.fixture(scope="session")
def client(loaded: Predictor, trained: Any) -> Iterator[TestClient]:
    """An in-process client of the app with default settings (warm-up included)."""
    app = create_app(loaded, ServeSettings(bundle_dir=trained.bundle))
    with TestClient(app) as test_client:
        yield test_client
