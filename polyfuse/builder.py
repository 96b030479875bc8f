"""Factories that turn config + schema into processors and a model (the only place that does)."""

from __future__ import annotations

from typing import Any

from torch import nn

from polyfuse.config.schema import Config
from polyfuse.data.dataset import InputSpec
from polyfuse.data.processors.base import Processor
from polyfuse.data.schema import TABULAR, Schema
from polyfuse.encoders import create_encoder, parse_encoder_config
from polyfuse.encoders._registry import get_encoder_entry
from polyfuse.encoders.base import EncoderConfig
from polyfuse.encoders.pretrained import PretrainedEncoder
from polyfuse.fusion import FUSIONS, create_fusion, parse_fusion_config
from polyfuse.fusion.alignment import create_alignment, parse_alignment_config
from polyfuse.model import MultimodalModel
from polyfuse.tasks import create_task
from polyfuse.tasks.base import LabelProcessor


def processor_classes() -> dict[str, type[Processor]]:
    """Processor class per modality."""
    from polyfuse.data.processors.audio import AudioProcessor
    from polyfuse.data.processors.image import ImageProcessor
    from polyfuse.data.processors.tabular import TabularProcessor
    from polyfuse.data.processors.text import TextProcessor

    return {
        "text": TextProcessor,
        "image": ImageProcessor,
        "audio": AudioProcessor,
        TABULAR: TabularProcessor,
        **pretrained_processor_classes(),  # issue 5: named in bundles, built by pretrained encoders
    }


def pretrained_processor_classes() -> dict[str, type[Processor]]:
    """Processors that pretrained encoders derive from their weights, keyed ``pretrained/<class>``."""
    from polyfuse.data.processors.pretrained_audio import WaveformProcessor
    from polyfuse.data.processors.pretrained_image import PretrainedImageProcessor
    from polyfuse.data.processors.pretrained_text import PretrainedTextProcessor, USETextProcessor

    classes = (PretrainedTextProcessor, USETextProcessor, PretrainedImageProcessor, WaveformProcessor)
    return {f"pretrained/{cls.__name__}": cls for cls in classes}


def _section(options: dict[str, dict[str, Any]], name: str, modality: str) -> dict[str, Any]:
    """Options for an input: the column's own section wins over its modality's."""
    merged = dict(options.get(modality, {}))
    if name != modality:
        merged.update(options.get(name, {}))
    return merged


def build_inputs(schema: Schema, config: Config) -> list[InputSpec]:
    """Unfitted processors, one per model input, in sorted input order."""
    classes = processor_classes()
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
        # --- issue 5: a pretrained encoder's weights fix its processor (derived, never configured twice)
        encoder = encoder_config(config, name, modality)
        encoder_cls = get_encoder_entry(modality, encoder.type).cls
        try:
            if issubclass(encoder_cls, PretrainedEncoder):
                processor = encoder_cls.preprocessing(encoder, params)
            else:
                processor = classes[modality](**params)
        except TypeError as error:
            raise ValueError(f"data.processors for {name!r} ({modality}): {error}") from None
        specs.append(InputSpec(name, modality, columns, processor))
    return specs


def encoder_config(config: Config, name: str, modality: str) -> EncoderConfig:
    """The validated encoder config of one input."""
    section = _section(config.model.encoders, name, modality)
    section.pop("modality", None)
    try:
        return parse_encoder_config(modality, section)
    except Exception as error:
        raise ValueError(f"model.encoders for {name!r} ({modality}): {error}") from None


def build_model(
    inputs: list[InputSpec],
    config: Config,
    task_name: str,
    labels: LabelProcessor,
    encoder_configs: dict[str, EncoderConfig] | None = None,
) -> MultimodalModel:
    """Encoders from the fitted processors' specs, the fusion, the task head."""
    configs = encoder_configs or {s.name: encoder_config(config, s.name, s.modality) for s in inputs}
    encoders = {
        s.name: create_encoder(s.modality, configs[s.name], s.processor.output_spec()) for s in inputs
    }
    dims = {n: e.output_dim for n, e in encoders.items()}
    fusion_config = parse_fusion_config(config.model.fusion)
    # --- fusions that produce predictions (late, hybrid): they get the task's width, the task no head
    if FUSIONS.get(fusion_config.type).cls.produces_predictions:
        fusion_config = fusion_config.model_copy(update={"num_outputs": labels.num_outputs})
    fusion = create_fusion(fusion_config, dims)
    task = create_task(task_name, fusion.output_dim, labels, config.model.head)
    if fusion.produces_predictions:
        task.head = nn.Identity()
    # --- alignment losses, named by type (``contrastive``, ``contrastive_2`` for a second one)
    aligners: dict[str, nn.Module] = {}
    weights: dict[str, float] = {}
    for values in config.model.alignment:
        alignment_config = parse_alignment_config(values)
        name = alignment_config.type
        name = name if name not in aligners else f"{name}_{len(aligners) + 1}"
        aligners[name] = create_alignment(alignment_config, dims)
        weights[name] = alignment_config.weight
    return MultimodalModel(encoders, fusion, task, config.model.modality_dropout, aligners, weights)
