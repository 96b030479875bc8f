"""Training reads frozen encoders' outputs from the embedding cache instead of running them per epoch.

For each input whose encoder is a frozen pretrained one with no trainable parameter, when the fusion
reads pooled vectors, every distinct value of the input in the training and validation tables is
embedded once by that very encoder, through :class:`~polyfuse.data.cache.EmbeddingCache` (a rerun,
another fusion or another task on the same data reads the rows back). Training then feeds the input
through a :class:`~polyfuse.data.precomputed.PrecomputedProcessor`: batches carry
``{PRECOMPUTED: (B, D)}`` and the model skips the encoder. The model keeps the encoder and the
bundle the input's own processor, so a saved bundle predicts from raw values with the same results.

When the fusion or the task reads token sequences (token fusions, text decoders), the cache holds
each value's tokens and token mask too (float16, half the memory; see
:func:`~polyfuse.encoders.pretrained._embedding.embed_token_values`), so a frozen EfficientNet's 7x7
grid is computed once per image, not once per epoch.

Inputs keep running their encoder when the processor augments (each epoch sees other pixels), when a
parameter of the encoder trains (fine-tuning, learned attention pooling), or with
``training.embedding_cache: off``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from polyfuse.config.schema import TrainingConfig
from polyfuse.data.cache import CacheStats, EmbeddingCache
from polyfuse.data.dataset import InputSpec, input_values
from polyfuse.data.precomputed import PrecomputedProcessor, value_key
from polyfuse.data.processors.base import BadValueError, is_missing
from polyfuse.data.tables import Table
from polyfuse.encoders.base import Encoder
from polyfuse.encoders.pretrained import PretrainedEncoder
from polyfuse.encoders.pretrained._embedding import (
    embed_token_values,
    embed_values,
    is_cacheable,
    split_token_rows,
    token_count,
)
from polyfuse.model import MultimodalModel
from polyfuse.training.trainer import resolve_device

log = logging.getLogger("polyfuse")


@dataclass
class FrozenInputs:
    """What training feeds the model, and what the cache did per pretrained input."""

    inputs: list[InputSpec]
    """The inputs, cached ones with a :class:`PrecomputedProcessor` in place of their processor."""
    report: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per pretrained input: ``{"cached": True, "values", "hits", "misses"}`` or
    ``{"cached": False, "reason"}`` (for ``metrics["training"]["embedding_cache"]``)."""


def precompute_frozen_inputs(
    training: TrainingConfig, inputs: Sequence[InputSpec], model: MultimodalModel, tables: Sequence[Table]
) -> FrozenInputs:
    """Embed the cacheable inputs' values of ``tables`` once and swap in lookup processors.

    Args:
        training: ``embedding_cache``, ``cache_dir``, ``cache_max_mb``, ``batch_size``, ``device``
            and ``progress`` are read.
        inputs: The fitted inputs (their processors are the encoders' own).
        model: The built model; its encoders compute the embeddings.
        tables: Every table training will read (train and validation).
    """
    result = FrozenInputs(list(inputs))
    encoders = {s.name: e for s in inputs if isinstance(e := model.encoders[s.name], PretrainedEncoder)}
    pretrained = [s for s in inputs if s.name in encoders]
    if not pretrained:
        return result
    cache: EmbeddingCache | None = None
    for spec in pretrained:
        encoder = encoders[spec.name]
        reason = _reason_not_cached(training, spec, encoder)
        if reason is not None:
            result.report[spec.name] = {"cached": False, "reason": reason}
            continue
        if cache is None:
            max_bytes = None if training.cache_max_mb is None else training.cache_max_mb * 2**20
            cache = EmbeddingCache(training.cache_dir, max_bytes)
        processor, stats = _precompute(training, spec, encoder, tables, cache, model.reads_tokens)
        result.inputs[result.inputs.index(spec)] = InputSpec(
            spec.name, spec.modality, spec.columns, processor
        )
        result.report[spec.name] = {
            "cached": True,
            "values": int(processor.embeddings.shape[0]),
            "hits": stats.hits,
            "misses": stats.misses,
            "tokens": processor.get_params()["tokens"],
        }
        log.info("embedding cache: %s: %d values read, %d computed", spec.name, stats.hits, stats.misses)
    return result


def _reason_not_cached(training: TrainingConfig, spec: InputSpec, encoder: Encoder) -> str | None:
    """Why ``spec``'s encoder must run during training, or ``None`` when its outputs can be cached."""
    if training.embedding_cache == "off":
        return "training.embedding_cache is off"
    if not is_cacheable(encoder):
        return "the encoder has trainable parameters"
    if spec.processor.get_params().get("augment"):
        return "the processor augments its inputs"
    return None


def _precompute(
    training: TrainingConfig,
    spec: InputSpec,
    encoder: Encoder,
    tables: Sequence[Table],
    cache: EmbeddingCache,
    tokens: bool = False,
) -> tuple[PrecomputedProcessor, CacheStats]:
    """Embed the distinct present values of ``spec`` in ``tables`` (+ the absent value, last);
    with ``tokens``, their tokens and masks too."""
    rows: dict[str | bytes, int] = {}
    values: list[Any] = []
    for table in tables:
        for value in input_values(table, spec):
            if not is_missing(value) and value_key(value) not in rows:
                rows[value_key(value)] = len(values)
                values.append(value)
    errors: dict[int, str] = {}
    stats = CacheStats()
    was_training = encoder.training
    encoder.to(resolve_device(training.device)).eval()
    options: dict[str, Any] = {
        "batch_size": training.batch_size,
        "cache": cache,
        "errors": errors,
        "stats": stats,
        "progress": training.progress,
        "desc": f"embedding {spec.name}",
    }
    # (N + 1, ...): the last row is the encoder's output for an absent value
    if tokens:
        count = _token_count(spec, encoder, values)
        packed = embed_token_values(
            encoder.config, spec.processor, encoder, [*values, None], count, **options
        )
        pooled, token_rows, masks = split_token_rows(packed[:-1], encoder.output_dim, count)
        absent = packed[-1, : encoder.output_dim].astype(np.float32)
    else:
        embeddings = embed_values(encoder.config, spec.processor, encoder, [*values, None], **options)
        pooled, absent, token_rows, masks = embeddings[:-1], embeddings[-1], None, None
    encoder.train(was_training)
    refused = {value_key(values[i]): message for i, message in errors.items()}
    processor = PrecomputedProcessor(
        np.asarray(pooled, dtype=np.float32), rows, absent, refused, token_rows, masks
    )
    return processor, stats


def _token_count(spec: InputSpec, encoder: Encoder, values: list[Any]) -> int:
    """T of the cached token rows, from the first value the processor reads (1 when none does)."""
    for value in values[:20]:
        try:
            return token_count(spec.processor, encoder, value)
        except BadValueError:
            continue
    return 1
