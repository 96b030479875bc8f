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

from polyfuse._progress import progress_bar
from polyfuse.data.cache import CacheStats, EmbeddingCache, cached_embeddings, namespace_key
from polyfuse.data.processors.base import BadValueError, Features, Processor
from polyfuse.encoders._registry import create_encoder, get_encoder_entry, parse_encoder_config
from polyfuse.encoders.base import Encoder, EncoderConfig
from polyfuse.encoders.pretrained._common import PretrainedEncoder


def build_frozen_encoder(
    modality: str, options: dict[str, Any], processor_options: dict[str, Any] | None = None
) -> tuple[EncoderConfig, Processor, Encoder]:
    """Config, fitted processor and eval-mode encoder of a frozen pretrained encoder.

    Raises:
        ValueError: The encoder is not a pretrained one, is configured to train, or has
            parameters that train even so (learned attention pooling).
    """
    config = parse_encoder_config(modality, options)
    cls = get_encoder_entry(modality, config.type).cls
    if not issubclass(cls, PretrainedEncoder) or not cls.is_frozen(config):
        raise ValueError(f"{config.type} is not a frozen pretrained encoder; only those can be cached")
    processor = cls.preprocessing(config, processor_options or {}).fit([])
    encoder = create_encoder(modality, config, processor.output_spec()).eval()
    if not is_cacheable(encoder):
        raise ValueError(f"{config.type} has trainable parameters (attention pooling?); it cannot be cached")
    return config, processor, encoder


def is_cacheable(encoder: Encoder) -> bool:
    """True for a frozen pretrained encoder none of whose parameters train: its output is fixed."""
    if not isinstance(encoder, PretrainedEncoder) or not type(encoder).is_frozen(encoder.config):
        return False
    return not any(p.requires_grad for p in encoder.parameters())


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
    *,
    errors: dict[int, str] | None = None,
    stats: CacheStats | None = None,
    progress: bool = False,
    desc: str = "embedding",
) -> np.ndarray:
    """Pooled embeddings ``(N, D)`` float32 of ``values`` (absent values give the encoder's zeros).

    Batches run on the device of the encoder's parameters (CPU for an encoder without any).

    Args:
        config: The encoder's config (part of the cache namespace).
        processor: Its fitted processor (its parameters are part of the namespace).
        encoder: The encoder, in eval mode.
        values: One raw value per row (text, or a resolved media path or bytes).
        batch_size: Rows per forward pass.
        cache: Where rows are read from and stored; ``None`` computes everything.
        errors: When given, a value the processor refuses is recorded here as
            ``{position: message}`` and its row is NaN (and not cached) instead of raising.
        stats: Incremented with the cache's hits and misses.
        progress: Show a progress bar over the batches computed.
        desc: The progress bar's label.

    Raises:
        BadValueError: A present value cannot be read (missing file, corrupt media) and
            ``errors`` is ``None``.
    """
    device = next((p.device for p in encoder.parameters()), torch.device("cpu"))

    def features(position: int) -> Features | None:
        if errors is None:
            return processor.transform(values[position])
        try:
            return processor.transform(values[position])
        except BadValueError as error:
            errors[position] = str(error)
            return None

    def compute(positions: list[int]) -> np.ndarray:
        out = np.full((len(positions), encoder.output_dim), np.nan, dtype=np.float32)
        starts = range(0, len(positions), batch_size)
        with torch.no_grad():
            for start in progress_bar(starts, progress, desc=desc, unit="batch", leave=False):
                chunk = positions[start : start + batch_size]
                rows = [features(i) for i in chunk]
                good = [j for j, i in enumerate(chunk) if errors is None or i not in errors]
                if not good:
                    continue
                batch = processor.collate([rows[j] for j in good])
                pooled = encoder({k: t.to(device) for k, t in batch.items()}).pooled  # (b, D)
                out[[start + j for j in good]] = pooled.float().cpu().numpy()
        return out

    about = {"encoder": config.model_dump(mode="json"), "processor": processor.cache_key()}
    namespace = cache_namespace(config, processor)
    return cached_embeddings(cache, namespace, values, compute, about, stats)


def token_count(processor: Processor, encoder: Encoder, sample: Any) -> int:
    """T of an encoder's token rows: the processor's ``max_length`` (texts, padded to it), else
    the count one real value gives (a fixed grid, e.g. 49 cells of a 224x224 image)."""
    params = processor.get_params()
    if isinstance(params.get("max_length"), int):
        return int(params["max_length"])
    device = next((p.device for p in encoder.parameters()), torch.device("cpu"))
    features = processor.collate([processor.transform(sample)])
    with torch.no_grad():
        out = encoder({k: t.to(device) for k, t in features.items()})
    return 1 if out.tokens is None else int(out.tokens.shape[1])


def split_token_rows(rows: np.ndarray, dim: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of :func:`embed_token_values` -> pooled ``(N, D)``, tokens ``(N, T, D)``, masks ``(N, T)``."""
    pooled = rows[:, :dim]
    tokens = rows[:, dim : dim + count * dim].reshape(len(rows), count, dim)
    return pooled, tokens, rows[:, dim + count * dim :] > 0.5


def embed_token_values(
    config: EncoderConfig,
    processor: Processor,
    encoder: Encoder,
    values: Sequence[Any],
    count: int,
    batch_size: int = 32,
    cache: EmbeddingCache | None = None,
    *,
    errors: dict[int, str] | None = None,
    stats: CacheStats | None = None,
    progress: bool = False,
    desc: str = "embedding tokens",
) -> np.ndarray:
    """Pooled vectors, tokens and token masks of ``values``, one float16 row each:
    ``[pooled (D) | tokens (T * D) | mask (T)]`` (split with :func:`split_token_rows`).

    Tokens are padded or cut to ``count`` (see :func:`token_count`); a pooled-only encoder gives
    its pooled vector as one token. Stored in the embedding cache as float16 (half the memory of
    float32; the decoders read them back as float32), under a namespace of their own. Arguments
    as :func:`embed_values`.
    """
    device = next((p.device for p in encoder.parameters()), torch.device("cpu"))
    dim = encoder.output_dim
    width = dim + count * dim + count

    def compute(positions: list[int]) -> np.ndarray:
        out = np.full((len(positions), width), np.nan, dtype=np.float32)
        starts = range(0, len(positions), batch_size)
        with torch.no_grad():
            for start in progress_bar(starts, enabled=progress, desc=desc, unit="batch", leave=False):
                chunk = positions[start : start + batch_size]
                rows: list[Features | None] = []
                good: list[int] = []
                for j, i in enumerate(chunk):
                    try:
                        rows.append(processor.transform(values[i]))
                        good.append(j)
                    except BadValueError as error:
                        if errors is None:
                            raise
                        errors[i] = str(error)
                        rows.append(None)
                if not good:
                    continue
                batch = processor.collate([rows[j] for j in good])
                result = encoder({k: t.to(device) for k, t in batch.items()})
                tokens = result.pooled[:, None] if result.tokens is None else result.tokens  # (b, T', D)
                mask = result.token_mask
                if mask is None:
                    mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
                tokens, mask = tokens[:, :count], mask[:, :count]
                padded = tokens.new_zeros(len(good), count, dim)
                padded[:, : tokens.shape[1]] = tokens * mask[..., None]
                flags = mask.new_zeros(len(good), count)
                flags[:, : mask.shape[1]] = mask
                packed = torch.cat([result.pooled, padded.flatten(1), flags.to(padded.dtype)], dim=1)
                out[[start + j for j in good]] = packed.float().cpu().numpy()
        return out

    about = {"encoder": config.model_dump(mode="json"), "processor": processor.cache_key(), "tokens": count}
    namespace = cache_namespace(config, processor) + f"-tokens{count}"
    return cached_embeddings(cache, namespace, values, compute, about, stats, dtype=np.float16)
