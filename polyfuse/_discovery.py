"""Import every public module of a package, so a component added as one file registers itself."""

from __future__ import annotations

import importlib
import pkgutil


def import_submodules(package: str) -> list[str]:
    """Import the modules and subpackages of ``package`` whose names do not start with ``_``.

    Returns the imported module names, sorted (the registration order is deterministic).
    """
    module = importlib.import_module(package)
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(module.__path__, package + ".")
        if not info.name.rsplit(".", 1)[-1].startswith("_")
    )
    for name in names:
        importlib.import_module(name)
    return names
