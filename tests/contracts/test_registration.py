"""A new component is one file: every public module of a component package registers something.

Component packages import their public submodules on import (:mod:`polyfuse._discovery`), so a
module that registers nothing is either forgotten or a home for shared helpers, which should be
``_``-prefixed (and is then not imported for registration). ``polyfuse list KIND`` shows every
registered name of each kind (:func:`polyfuse.components.registries`).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

import pytest

from polyfuse._registry import Registry
from polyfuse.cli.main import main
from polyfuse.components import registries
from polyfuse.data.processors import PROCESSORS
from polyfuse.encoders import ENCODERS
from polyfuse.evaluation.noise import INJECTORS
from polyfuse.fusion import FUSIONS
from polyfuse.fusion.alignment import ALIGNMENTS
from polyfuse.tasks import TASKS
from polyfuse.tasks.decoders import DECODERS
from polyfuse.tasks.heads import HEADS
from polyfuse.tasks.input_decoders.base import DECODERS as INPUT_DECODERS

PACKAGES: dict[str, Registry[Any]] = {
    "polyfuse.data.processors": PROCESSORS,
    "polyfuse.encoders": ENCODERS,
    "polyfuse.evaluation.noise": INJECTORS,
    "polyfuse.fusion": FUSIONS,
    "polyfuse.fusion.alignment": ALIGNMENTS,
    "polyfuse.tasks": TASKS,
    "polyfuse.tasks.heads": HEADS,
    "polyfuse.tasks.decoders": DECODERS,
    "polyfuse.tasks.input_decoders": INPUT_DECODERS,
}
"""Each component package and the registry its modules register into (subpackages included, unless
they are component packages of their own)."""

NOT_COMPONENTS = {"base"}
"""Public module names that hold a package's contract, not components."""


def component_modules(package: str) -> list[str]:
    """Public modules of ``package`` and of its public subpackages that are not component packages."""
    found = []
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__, package + "."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or leaf in NOT_COMPONENTS or info.name in PACKAGES:
            continue
        found += component_modules(info.name) if info.ispkg else [info.name]
    return found


MODULES = [
    pytest.param(package, module, id=module) for package in PACKAGES for module in component_modules(package)
]


@pytest.mark.parametrize(("package", "module"), MODULES)
def test_every_public_module_registers_a_component(package: str, module: str) -> None:
    registered = {entry.cls.__module__ for entry in PACKAGES[package].entries()}
    assert module in registered, (
        f"{module} registers no {PACKAGES[package].kind}: a module of shared helpers should be"
        f" '_'-prefixed ({module.rsplit('.', 1)[0]}._{module.rsplit('.', 1)[1]})"
    )


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_importing_a_package_registers_its_modules(package: str) -> None:
    """Discovery imported every public module (a module not imported could register nothing)."""
    importlib.import_module(package)
    for module in component_modules(package):
        assert module in sys.modules, f"{module} was not imported by {package}"


def test_every_component_registry_is_a_listed_kind() -> None:
    kinds = registries()
    for package, registry in PACKAGES.items():
        assert any(r is registry for r in kinds.values()), f"{package}'s {registry.kind}s are not a kind"


@pytest.mark.parametrize("kind", sorted(registries()))
def test_polyfuse_list_shows_every_registered_name(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        assert main(["list", kind]) == 0
    except SystemExit as error:  # argparse refused the kind
        pytest.fail(f"polyfuse list {kind} is not accepted (exit {error.code})")
    listed = {
        line.split(":", 1)[0] for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")
    }
    missing = set(registries()[kind].names()) - listed
    assert not missing, f"polyfuse list {kind} does not show {sorted(missing)}"
