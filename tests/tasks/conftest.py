"""Fixtures of the generative tasks' tests: the kinds table (see kinds_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kinds_data import write_kinds_table


@pytest.fixture(scope="session")
def kinds_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kinds table (never modified)."""
    return write_kinds_table(tmp_path_factory.mktemp("kinds"))
