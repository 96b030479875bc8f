"""``polyfuse schema``: the JSON schema validates every shipped example and names a misspelt key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from polyfuse.cli.main import main
from polyfuse.components import config_json_schema

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return config_json_schema()


def test_the_schema_accepts_every_example(schema: dict[str, Any]) -> None:
    assert len(EXAMPLES) >= 1
    for path in EXAMPLES:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)


@pytest.mark.parametrize(
    ("model", "word"),
    [
        ({"fusion": {"type": "concat", "widht": 3}}, "widht"),
        ({"fusion": {"type": "concatt"}}, "concatt"),
        ({"task": {"type": "multiclass", "head": {"type": "mlp", "hiden_dim": 3}}}, "hiden_dim"),
        ({"encoders": {"image": {"type": "resnett"}}}, "resnett"),
    ],
)
def test_the_schema_rejects_a_misspelt_component_option(
    schema: dict[str, Any], model: dict[str, Any], word: str
) -> None:
    config = {"data": {"label": "y"}, "model": model}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, schema)


def test_processor_sections_are_checked(schema: dict[str, Any]) -> None:
    jsonschema.validate({"data": {"label": "y", "processors": {"image": {"size": 32}}}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"data": {"label": "y", "processors": {"image": {"max_shfit": 3}}}}, schema)


def test_cli_writes_the_schema(tmp_path: Path) -> None:
    assert main(["schema", "-o", str(tmp_path / "s.json")]) == 0
    written = json.loads((tmp_path / "s.json").read_text())
    assert {"data", "model", "training", "inference"} <= set(written["properties"])
