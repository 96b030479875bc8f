"""Every component registry by kind, and the JSON schema of a whole config built from them.

``polyfuse list KIND`` prints a registry; ``polyfuse schema`` prints :func:`config_json_schema`, so
editors can validate YAML files with every component's own options.
"""

from __future__ import annotations

from typing import Any

from polyfuse._registry import ComponentConfig, Registry


def registries() -> dict[str, Registry[Any]]:
    """``{kind: registry}`` for every component kind (importing them registers the components)."""
    from polyfuse.data.processors import PROCESSORS
    from polyfuse.encoders import ENCODERS
    from polyfuse.evaluation.noise import INJECTORS
    from polyfuse.fusion import FUSIONS
    from polyfuse.fusion.alignment import ALIGNMENTS
    from polyfuse.tasks import TASKS
    from polyfuse.tasks.decoders import DECODERS
    from polyfuse.tasks.heads import HEADS
    from polyfuse.tasks.input_decoders.base import DECODERS as INPUT_DECODERS

    return {
        "encoders": ENCODERS,
        "fusions": FUSIONS,
        "tasks": TASKS,
        "heads": HEADS,
        "decoders": DECODERS,
        "input_decoders": INPUT_DECODERS,
        "processors": PROCESSORS,
        "alignments": ALIGNMENTS,
        "noise": INJECTORS,
    }


def _one_of(registry: Registry[Any], defs: dict[str, Any], strip: str = "") -> dict[str, Any]:
    """A ``oneOf`` over the registry's config schemas, each with ``type`` fixed to its name."""
    options = []
    for entry in registry.entries():
        schema = entry.config_cls.model_json_schema()
        defs.update(schema.pop("$defs", {}))
        properties = schema.setdefault("properties", {})
        names = [entry.name, entry.name.removeprefix(strip)] if strip else [entry.name]
        properties["type"] = {"enum": sorted(set(names)), "description": entry.description}
        schema["title"] = entry.name
        options.append(schema)
    return {"oneOf": options}


def config_json_schema() -> dict[str, Any]:
    """The JSON schema of a polyfuse YAML config, every component's options included."""
    from polyfuse.config.schema import SHAPE_FUSIONS, Config, HeadConfig

    schema = Config.model_json_schema()
    defs = schema.setdefault("$defs", {})
    kinds = registries()
    model = defs["ModelConfig"]["properties"]
    fusions = _one_of(kinds["fusions"], defs)
    fusions["oneOf"].append({"properties": {"type": {"enum": list(SHAPE_FUSIONS)}}, "title": "model shapes"})
    model["fusion"] = {**fusions, "description": model["fusion"].get("description", "")}
    defs["HeadConfig"] = _one_of(kinds["heads"], defs)  # every task's ``head`` option
    model["head"] = {
        "$ref": "#/$defs/LegacyHeadConfig",
        "description": "legacy spelling of model.task.head: {type: mlp, ...}",
    }
    defs["LegacyHeadConfig"] = HeadConfig.model_json_schema()
    tasks = _one_of(kinds["tasks"], defs)
    tasks["oneOf"].append({"properties": {"type": {"const": "auto"}}, "title": "auto"})
    model["task"] = {**tasks, "description": model["task"].get("description", "")}
    model["alignment"] = {"type": "array", "items": _one_of(kinds["alignments"], defs)}
    encoders = kinds["encoders"]
    model["encoders"] = {
        "type": "object",
        "description": "encoder config keyed by modality or column; 'type' picks the encoder",
        "additionalProperties": {
            "anyOf": [_one_of(encoders, defs, f"{m}/") for m in ("text", "image", "audio", "tabular")]
        },
    }
    data = defs["DataConfig"]["properties"]
    data["processors"] = {
        "type": "object",
        "description": data["processors"].get("description", ""),
        "additionalProperties": {
            "anyOf": [_config_without_type(e.config_cls, defs) for e in kinds["processors"].entries()]
        },
    }
    return schema


def _config_without_type(config: type[ComponentConfig], defs: dict[str, Any]) -> dict[str, Any]:
    """A processor's options (processor sections are keyed by modality or column, not ``type``)."""
    schema = config.model_json_schema()
    defs.update(schema.pop("$defs", {}))
    schema.get("properties", {}).pop("type", None)
    schema["required"] = [r for r in schema.get("required", []) if r != "type"]
    return schema
