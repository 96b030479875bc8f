"""The component sections of a config: typed parsing with paths, the legacy spellings of model
shapes (``fusion: {type: late|hybrid}``, ``model.head``), processor options checked per modality,
and the ``auto`` task. :mod:`polyfuse.config.schema` builds the config classes on these."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from polyfuse._registry import ComponentConfig, UnknownComponentError


def _component(loc: tuple[str, ...], parse: Callable[..., BaseModel], *args: Any) -> dict[str, Any]:
    """``parse(*args)`` validates a component section, as a plain dict (see :func:`_typed`)."""
    return _typed(loc, parse, *args).model_dump()


def _typed(loc: tuple[str, ...], parse: Callable[..., BaseModel], *args: Any) -> Any:
    """``parse(*args)`` validates a component section into its typed config; its errors get ``loc``
    prepended (``model.encoders.<key>.*``) and an unknown ``type`` becomes an error at ``<loc>.type``."""
    try:
        return parse(*args)
    except ValidationError as error:
        details = [
            InitErrorDetails(type=e["type"], loc=(*loc, *e["loc"]), input=e["input"], ctx=e.get("ctx", {}))
            for e in error.errors()
        ]
        raise ValidationError.from_exception_data(error.title, details) from None
    except UnknownComponentError as error:
        unknown = PydanticCustomError("unknown_component", "{message}", {"message": str(error)})
        raise ValidationError.from_exception_data(
            "Config", [InitErrorDetails(type=unknown, loc=(*loc, "type"), input=None)]
        ) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HeadConfig(_Strict):
    """Legacy spelling of ``model.task.head: {type: mlp, ...}`` (kept so older configs load)."""

    hidden_dim: int = Field(128, ge=0, description="hidden width of the head MLP; 0 = linear head")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout inside the head")


SHAPE_FUSIONS = ("hybrid", "late")
"""Names accepted in ``model.fusion.type`` that stand for model shapes (task heads), not fusions."""


def fusion_choices() -> list[str]:
    """Every name ``model.fusion.type`` accepts: the registered fusions and the model shapes."""
    from polyfuse.fusion import list_fusions

    return sorted([*list_fusions(), *SHAPE_FUSIONS])


def _legacy_shapes(model: dict[str, Any]) -> dict[str, Any]:
    """Rewrite the older spellings of model shapes into ``model.task.head``.

    ``fusion: {type: late, ...}`` becomes ``task.head: {type: late, ...}`` (no fusion is built);
    ``fusion: {type: hybrid, combine, head_hidden_dim, ...}`` becomes ``fusion: {type: early, ...}``
    plus ``task.head: {type: hybrid, ...}``; ``head: {hidden_dim, dropout}`` becomes
    ``task.head: {type: mlp, ...}``.
    """
    model = dict(model)
    task = dict(model.get("task") or {"type": "auto"}) if isinstance(model.get("task") or {}, dict) else None
    if task is None:
        return model
    fusion = model.get("fusion")
    head: dict[str, Any] | None = None
    if isinstance(fusion, dict) and fusion.get("type") == "late":
        head = {"type": "late", **{k: v for k, v in fusion.items() if k not in ("type", "num_outputs")}}
        model["fusion"] = {"type": "concat"}
    elif isinstance(fusion, dict) and fusion.get("type") == "hybrid":
        keys = ("combine", "head_hidden_dim")
        head = {"type": "hybrid", "dropout": fusion.get("dropout", 0.1)}
        head.update({("hidden_dim" if k == "head_hidden_dim" else k): fusion[k] for k in keys if k in fusion})
        model["fusion"] = {
            "type": "early",
            **{k: v for k, v in fusion.items() if k not in (*keys, "type", "num_outputs")},
        }
    legacy = model.pop("head", None)
    if isinstance(legacy, dict) and head is None:
        HeadConfig.model_validate(legacy)  # errors at model.head.*
        head = {"type": "mlp", **legacy}
    if head is not None:
        task.setdefault("head", head)
        model["task"] = task
    return model


def _processor_options(modality: str, options: dict[str, Any]) -> BaseModel:
    """Validate a modality's processor options against that modality's processors (the default one,
    or a pretrained encoder's, which accepts a subset); the default processor's errors are raised.

    Column-keyed sections are checked once the schema says which modality each column is."""
    from polyfuse.data.processors import PROCESSORS

    default = PROCESSORS.get(modality).config_cls
    try:
        return default.model_validate({**options, "type": modality})
    except ValidationError:
        for entry in PROCESSORS.entries():
            if entry.name.startswith("pretrained/") and getattr(entry.cls, "modality", None) == modality:
                try:
                    return entry.config_cls.model_validate({**options, "type": entry.name}, strict=False)
                except ValidationError:
                    continue
        raise


def _auto_task(values: dict[str, Any]) -> ComponentConfig:
    """``model.task: {type: auto, head: ...}``: a head task whose type the label column decides."""
    from polyfuse.tasks._head_task import HeadTaskConfig

    return HeadTaskConfig.model_validate({**values, "type": "auto"})
