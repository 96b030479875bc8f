"""``polyfuse list encoders|fusions|tasks``: registered components and their config fields."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polyfuse._registry import Registry


KINDS = [
    "encoders",
    "fusions",
    "tasks",
    "heads",
    "decoders",
    "input_decoders",
    "processors",
    "alignments",
    "noise",
]


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("list", help="list registered components of a kind and their options")
    p.add_argument("kind", choices=KINDS)
    p.set_defaults(run=run)


def describe(registry: Registry[Any]) -> str:
    """Each entry with its description and its config fields (type, default, description)."""
    lines = []
    for entry in registry.entries():
        lines.append(f"{entry.name}: {entry.description}")
        for field, info in entry.config_cls.model_fields.items():
            if field == "type":
                continue
            default = "required" if info.is_required() else f"default {_default(info)!r}"
            annotation = getattr(info.annotation, "__name__", str(info.annotation))
            lines.append(f"    {field} ({annotation}, {default}): {info.description or ''}")
    return "\n".join(lines)


def _default(info: Any) -> Any:
    """A field's default, a nested config shown as its plain values."""
    value = info.get_default(call_default_factory=True)
    return value.model_dump() if hasattr(value, "model_dump") else value


def run(args: argparse.Namespace) -> int:
    """Print the registry."""
    from polyfuse.components import registries

    print(describe(registries()[args.kind]))
    return 0
