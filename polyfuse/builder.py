"""Factories that turn config + schema into processors, a target processor and a model (the only
place that does)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from torch import nn

from polyfuse._registry import UnknownComponentError
from polyfuse.config.schema import Config
from polyfuse.data.dataset import InputSpec
from polyfuse.data.processors import create_processor
from polyfuse.data.schema import TABULAR, Schema
from polyfuse.data.targets import TargetProcessor
from polyfuse.encoders import create_encoder, parse_encoder_config
from polyfuse.encoders._registry import get_encoder_entry
from polyfuse.encoders.base import EncoderConfig
from polyfuse.encoders.pretrained import PretrainedEncoder
from polyfuse.fusion import create_fusion, parse_fusion_config
from polyfuse.fusion.alignment import create_alignment, parse_alignment_config
from polyfuse.model import MultimodalModel
from polyfuse.tasks import ModelDims, TaskConfig, create_task, parse_task_config, task_class


def _section(options: dict[str, dict[str, Any]], name: str, modality: str) -> dict[str, Any]:
    """Options for an input: the column's own section wins over its modality's."""
    merged = dict(options.get(modality, {}))
    if name != modality:
        merged.update(options.get(name, {}))
    return merged


def resolve_task(config: Config, schema: Schema) -> TaskConfig:
    """The task config with ``auto`` replaced by the task the schema inferred from the label."""
    task = config.model.task
    if task.type != "auto":
        assert isinstance(task, TaskConfig)
        return task
    return parse_task_config({**task.model_dump(exclude={"type"}), "type": schema.task})


def build_inputs(schema: Schema, config: Config) -> list[InputSpec]:
    """Unfitted processors, one per model input, in sorted input order."""
    specs = []
    for name, columns in sorted(schema.inputs().items()):
        modality = schema.modality_of(name)
        params = _section(config.data.processors, name, modality)
        if modality == TABULAR:
            params = {
                "numeric": [c for c in columns if c in schema.by_modality("numeric")],
                "categorical": [c for c in columns if c in schema.by_modality("categorical")],
                "unknown": "error" if config.data.missing == "error" else "bucket",
                **params,
            }
        # a pretrained encoder's weights fix its processor (derived, never configured twice)
        encoder = encoder_config(config, name, modality)
        encoder_cls = get_encoder_entry(modality, encoder.type).cls
        try:
            if issubclass(encoder_cls, PretrainedEncoder):
                processor = encoder_cls.preprocessing(encoder, params)
            else:
                processor = create_processor(modality, params)
        except (TypeError, ValueError) as error:
            raise ValueError(f"data.processors.{name} ({modality}): {error}") from None
        specs.append(InputSpec(name, modality, columns, processor))
    return specs


def build_target(schema: Schema, task: TaskConfig) -> TargetProcessor | None:
    """The task's unfitted target processor, reading the schema's target columns."""
    return task_class(task.type).create_target(task, schema.targets(), schema.label_delimiter)


def task_spec(spec: InputSpec) -> dict[str, Any]:
    """What a task's decoders know of an input: its processor's output spec, its modality and,
    for images, the per-channel mean/std the pixels were normalised with; for polyfuse's own text
    processor, its vocabulary (tokens in id order)."""
    values = {**spec.processor.output_spec(), "modality": spec.modality}
    for key in ("mean", "std"):
        if spec.modality == "image" and getattr(spec.processor, f"{key}_", None) is not None:
            values[key] = list(getattr(spec.processor, f"{key}_"))
    vocabulary = getattr(spec.processor, "vocabulary", None)
    if spec.modality == "text" and callable(vocabulary):
        values["vocabulary"] = vocabulary()  # the text decoder turns ids back into words
    return values


def encoder_config(config: Config, name: str, modality: str) -> EncoderConfig:
    """The validated encoder config of one input."""
    section = _section(config.model.encoders, name, modality)
    section.pop("modality", None)
    try:
        return parse_encoder_config(modality, section)
    except (ValidationError, UnknownComponentError, ValueError) as error:  # named with its path
        raise ValueError(f"model.encoders.{name} ({modality}): {error}") from None


def build_model(
    inputs: list[InputSpec],
    config: Config,
    task_config: TaskConfig,
    target: TargetProcessor | None,
    encoder_configs: dict[str, EncoderConfig] | None = None,
) -> MultimodalModel:
    """Encoders from the fitted processors' specs, the fusion (when the task reads one), the task."""
    configs = encoder_configs or {s.name: encoder_config(config, s.name, s.modality) for s in inputs}
    encoders = {
        s.name: create_encoder(s.modality, configs[s.name], s.processor.output_spec()) for s in inputs
    }
    dims = {n: e.output_dim for n, e in encoders.items()}
    fusion = None
    if task_class(task_config.type).needs_fusion(task_config):
        fusion = create_fusion(parse_fusion_config(config.model.fusion), dims)
    specs = {s.name: task_spec(s) for s in inputs}
    fused_dim = None if fusion is None else fusion.output_dim
    task = create_task(task_config, ModelDims(fused_dim, dims, specs), target)
    # alignment losses, named by type (``contrastive``, ``contrastive_2`` for a second one)
    aligners: dict[str, nn.Module] = {}
    weights: dict[str, float] = {}
    for values in config.model.alignment:
        alignment_config = parse_alignment_config(values)
        name = alignment_config.type
        name = name if name not in aligners else f"{name}_{len(aligners) + 1}"
        aligners[name] = create_alignment(alignment_config, dims)
        weights[name] = alignment_config.weight
    return MultimodalModel(encoders, fusion, task, config.model.modality_dropout, aligners, weights)
