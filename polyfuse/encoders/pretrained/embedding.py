"""Embed one column with a frozen pretrained encoder, through the on-disk embedding cache.

``build_frozen_encoder`` turns a config into ``(processor, encoder)`` with the processor derived
from the weights; ``embed_values`` runs it in batches, reading rows already in the
:class:`~polyfuse.data.cache.EmbeddingCache` (same encoder config, weights and preprocessing, same
input content) and computing and storing the rest.

Legend: N rows, D width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from polyfuse.data.cache import EmbeddingCache, cached_embeddings, namespace_key
from polyfuse.data.processors.base import Processor
from polyfuse.encoders._registry import create_encoder, get_encoder_entry, parse_encoder_config
from polyfuse.encoders.base import Encoder, EncoderConfig
from polyfuse.encoders.pretrained._common import PretrainedEncoder


def build_frozen_encoder(
    modality: str, options: dict[str, Any], processor_options: dict[str, Any] | None = None
) -> tuple[EncoderConfig, Processor, Encoder]:
    """Config, fitted processor and eval-mode encoder of a frozen pretrained encoder.

    Raises:
        ValueError: The encoder is not a pretrained one, or is configured to train.
    """
    config = parse_encoder_config(modality, options)
    cls = get_encoder_entry(modality, config.type).cls
    if not issubclass(cls, PretrainedEncoder) or not cls.is_frozen(config):
        raise ValueError(f"{config.type} is not a frozen pretrained encoder; only those can be cached")
    processor = cls.preprocessing(config, processor_options or {}).fit([])
    encoder = create_encoder(modality, config, processor.output_spec()).eval()
    return config, processor, encoder


def cache_namespace(config: EncoderConfig, processor: Processor) -> str:
    """The cache namespace of an encoder config + its processor (weights tag included)."""
    cls = get_encoder_entry(config.type.split("/")[0], config.type).cls
    assert issubclass(cls, PretrainedEncoder)
    return namespace_key(config.model_dump_json(), cls.weights_tag(config), processor.cache_key())


def embed_values(
    config: EncoderConfig,
    processor: Processor,
    encoder: Encoder,
    values: Sequence[Any],
    batch_size: int = 32,
    cache: EmbeddingCache | None = None,
) -> np.ndarray:
    """Pooled embeddings ``(N, D)`` float32 of ``values`` (absent values give the encoder's zeros).

    Raises:
        BadValueError: A present value cannot be read (missing file, corrupt media).
    """

    def compute(positions: list[int]) -> np.ndarray:
        parts = []
        with torch.no_grad():
            for start in range(0, len(positions), batch_size):
                rows = [processor.transform(values[i]) for i in positions[start : start + batch_size]]
                parts.append(encoder(processor.collate(rows)).pooled.float().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, encoder.output_dim), np.float32)

    about = {"encoder": config.model_dump(mode="json"), "processor": processor.cache_key()}
    return cached_embeddings(cache, cache_namespace(config, processor), values, compute, about)
