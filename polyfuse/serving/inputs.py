"""What a bundle reads, as the server shows it: columns, request models (OpenAPI) and metadata.

The request schema is generated per bundle from its inputs, so ``/docs`` and the page list the
real columns with their types: text as a string, numbers as numbers, categories with the values
seen in training, images and audio as base64 (or a path under the media root, when allowed).
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from polyfuse import Predictor, __version__
from polyfuse.serving.settings import ServeSettings

MEDIA = ("image", "audio")
"""Column kinds whose cells are files (sent as bytes)."""


@dataclass(frozen=True)
class Column:
    """One table column the model reads.

    Attributes:
        name: the column name, as the request spells it.
        kind: ``text``, ``image``, ``audio``, ``numeric``, ``categorical`` (or another modality).
        input: the model input it feeds (numbers and categories share ``tabular``).
        choices: categories seen in training (empty for other kinds).
    """

    name: str
    kind: str
    input: str
    choices: list[str] = field(default_factory=list)


def describe_columns(predictor: Predictor) -> list[Column]:
    """The columns a predictor reads, in the order of its inputs."""
    fitted = predictor.fitted
    modality = {c.name: c.modality for c in fitted.schema.columns}
    columns = []
    for spec in fitted.inputs:
        vocab: dict[str, dict[str, int]] = getattr(spec.processor, "vocab_", None) or {}
        for name in spec.columns:
            kind = modality.get(name, spec.modality)
            ids = vocab.get(name, {})
            choices = sorted(ids, key=lambda c: ids[c]) if kind == "categorical" else []
            columns.append(Column(name, kind, spec.name, choices))
    return columns


class MediaPath(BaseModel):
    """A file under the server's media root (only when started with ``--media-root``)."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(max_length=4096, description="path relative to the media root")


class MediaBase64(BaseModel):
    """A file's bytes, base64-encoded."""

    model_config = ConfigDict(extra="forbid")
    base64: str = Field(description="the file's bytes, base64 (a data: URL is accepted)")


def _field_type(column: Column, settings: ServeSettings) -> tuple[Any, str]:
    """The pydantic type of one column's cell and its description."""
    if column.kind == "text":
        return Annotated[str, Field(max_length=settings.max_text_chars)] | None, "text"
    if column.kind == "numeric":
        return Annotated[float, Field(allow_inf_nan=False)] | None, "a finite number"
    if column.kind == "categorical":
        shown = ", ".join(column.choices[:20]) + (", ..." if len(column.choices) > 20 else "")
        return str | int | float | bool | None, f"a category seen in training: {shown}"
    if column.kind in MEDIA:
        limit = f"at most {settings.max_media_bytes} bytes"
        what = f"{column.kind} file, base64 or a data: URL ({limit})"
        if settings.media_root is not None:
            return str | MediaBase64 | MediaPath | None, f"{what}, or {{'path': ...}} under the media root"
        return str | MediaBase64 | None, what
    return Any, f"a {column.kind} value"


def build_request_models(
    columns: list[Column], settings: ServeSettings
) -> tuple[type[BaseModel], type[BaseModel]]:
    """``(Row, PredictRequest)`` pydantic models for this bundle.

    A row's fields are the columns (every one optional: an absent cell is predicted with its
    modality masked); unknown fields are refused, so a misspelt column is a 422, not a silent mask.
    """
    fields: dict[str, Any] = {}
    for i, column in enumerate(columns):
        kind, description = _field_type(column, settings)
        fields[f"c{i}"] = (kind, Field(None, alias=column.name, description=description))
    row = create_model(  # type: ignore[call-overload]
        "Row", __config__=ConfigDict(extra="forbid", populate_by_name=False), **fields
    )
    rows = (list[row], Field(min_length=1, max_length=settings.max_rows, description="rows to predict"))
    request = create_model("PredictRequest", __config__=ConfigDict(extra="forbid"), rows=rows)
    return row, request


def multipart_schema(columns: list[Column]) -> dict[str, Any]:
    """OpenAPI schema of a multipart request: one row, media as file parts, the rest as fields."""
    properties: dict[str, Any] = {}
    for column in columns:
        if column.kind in MEDIA:
            properties[column.name] = {"type": "string", "format": "binary"}
        else:
            properties[column.name] = {"type": "string", "description": f"{column.kind} value"}
    return {"type": "object", "properties": properties, "additionalProperties": False}


TINY_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGM8EaDBwMDAxMDAwMDAAAAPygFEiUmOcwAA"
    "AABJRU5ErkJggg=="
)
"""A 2 x 2 PNG, base64: the image of the example request."""


def example_row(columns: list[Column]) -> dict[str, Any]:
    """A row for the docs' example request: text, a number, a known category, a tiny PNG, no audio."""
    values: dict[str, Any] = {"text": "an example sentence", "numeric": 1.0, "image": TINY_PNG, "audio": None}
    return {
        c.name: (c.choices[0] if c.choices else None) if c.kind == "categorical" else values.get(c.kind)
        for c in columns
    }


def metadata(predictor: Predictor, columns: list[Column], settings: ServeSettings) -> dict[str, Any]:
    """What ``/metadata`` answers: inputs, task, labels, versions and the model card."""
    import torch

    fitted = predictor.fitted
    labels = getattr(fitted.target, "classes_", None)  # classification and multi-label
    card = None
    if settings.bundle_dir is not None and (settings.bundle_dir / "README.md").is_file():
        card = (settings.bundle_dir / "README.md").read_text()
    if card is None:
        from polyfuse.model_card import render_model_card

        card = render_model_card(fitted)
    return {
        "task": fitted.schema.task,
        "label": fitted.schema.label,
        "labels": None if labels is None else [str(x) for x in labels],
        "columns": [asdict(c) for c in columns],
        "inputs": [
            {"name": s.name, "modality": s.modality, "columns": list(s.columns)} for s in fitted.inputs
        ],
        "metrics": fitted.metrics.get("valid", {}),
        "versions": {
            "polyfuse": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "limits": {
            "max_rows": settings.max_rows,
            "max_request_bytes": settings.max_request_bytes,
            "max_media_bytes": settings.max_media_bytes,
            "max_pixels": settings.max_pixels,
            "max_audio_seconds": settings.max_audio_seconds,
            "media_paths": settings.media_root is not None,
        },
        "model_card": card,
    }
