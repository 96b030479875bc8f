"""``polyfuse list encoders|fusions|tasks``: registered components and their config fields."""

from __future__ import annotations

import argparse
from typing import Any

from polyfuse._registry import Registry


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("list", help="list registered encoders, fusions or tasks")
    p.add_argument("kind", choices=["encoders", "fusions", "tasks", "decoders"])
    p.set_defaults(run=run)


def describe(registry: Registry[Any]) -> str:
    """Each entry with its description and its config fields (type, default, description)."""
    lines = []
    for entry in registry.entries():
        lines.append(f"{entry.name}: {entry.description}")
        for field, info in entry.config_cls.model_fields.items():
            if field == "type":
                continue
            default = "required" if info.is_required() else f"default {info.default!r}"
            annotation = getattr(info.annotation, "__name__", str(info.annotation))
            lines.append(f"    {field} ({annotation}, {default}): {info.description or ''}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the registry."""
    from polyfuse.encoders import ENCODERS
    from polyfuse.fusion import FUSIONS
    from polyfuse.tasks import TASKS
    from polyfuse.tasks.decoders import DECODERS

    registries: dict[str, Registry[Any]] = {
        "encoders": ENCODERS,
        "fusions": FUSIONS,
        "tasks": TASKS,
        "decoders": DECODERS,
    }
    registry = registries[args.kind]
    print(describe(registry))
    return 0
