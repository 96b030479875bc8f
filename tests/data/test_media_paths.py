"""``resolve_media`` joins plain relative paths as strings, with the same results as ``pathlib``."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from polyfuse.data.tables import resolve_media


def _with_pathlib(value: Any, base_dir: Path) -> Any:
    """What ``resolve_media`` returned before its string fast path."""
    if isinstance(value, str) and value.strip():
        path = Path(value.strip()).expanduser()
        return str(path if path.is_absolute() else base_dir / path)
    return value


PARTS = ["a", "b.png", ".", "..", "", "~", ".hidden", "x y"]
VALUES = sorted(
    {
        form
        for n in range(1, 4)
        for combo in itertools.product(PARTS, repeat=n)
        for joined in ("/".join(combo), "//".join(combo))
        for form in (joined, "/" + joined, f"  {joined} ", joined + "/")
    }
)


@pytest.mark.skipif(os.sep != "/", reason="POSIX paths")
@pytest.mark.parametrize("base_dir", [Path("."), Path("/"), Path("/data/set"), Path("rel/dir")])
def test_resolve_media_equals_pathlib(base_dir: Path) -> None:
    assert len(VALUES) > 1000
    different = [v for v in VALUES if resolve_media(v, base_dir) != _with_pathlib(v, base_dir)]
    assert different == []
    assert resolve_media("img/1.png", Path("/data")) == "/data/img/1.png"
    assert resolve_media("~/1.png", Path("/data")) == str(Path.home() / "1.png")


def test_resolve_media_passes_other_values_through() -> None:
    for value in (None, 3, b"\x89PNG", "", "   "):
        assert resolve_media(value, Path("/data")) is value


def test_home_of_an_unknown_user_is_kept_as_written() -> None:
    """``~name`` of no such user made ``expanduser`` raise, which stopped a whole prediction; the
    path stays as written, and reading it fails that row alone ("file not found")."""
    value = "~no_such_user_polyfuse/a.png"
    assert resolve_media(value, Path("/data")) == f"/data/{value}"
