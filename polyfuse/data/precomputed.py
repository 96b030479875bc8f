"""A stand-in processor that feeds an input as its frozen encoder's precomputed pooled embeddings.

Training builds one per input whose encoder is frozen (see :mod:`polyfuse.training.frozen_inputs`): every
distinct value of the input is embedded once, through the embedding cache, and this processor
looks the embeddings up by value, so the encoder does not run on every batch of every epoch. It
never reaches a bundle: a bundle keeps the input's own processor, and its model the encoder.

Shapes: ``transform`` -> ``{PRECOMPUTED: (D,)}``; ``collate`` -> ``{PRECOMPUTED: (B, D)}``. With
tokens (decoders and token fusions read them): also ``{PRECOMPUTED_TOKENS: (B, T, D) float16,
PRECOMPUTED_MASK: (B, T) bool}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from polyfuse.data.batch import PRECOMPUTED, PRECOMPUTED_MASK, PRECOMPUTED_TOKENS
from polyfuse.data.processors.base import BadValueError, Features, Processor, is_missing


def value_key(value: Any) -> str | bytes:
    """What identifies a raw value in the lookup: bytes as they are, anything else as its text."""
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else str(value)


class PrecomputedProcessor(Processor):
    """Raw value -> its precomputed pooled embedding; absent values stay absent.

    Args:
        embeddings: ``(N, D)`` float32, one row per distinct present value.
        rows: :func:`value_key` of a value -> its row of ``embeddings``.
        absent: ``(D,)`` the encoder's pooled output for an absent value (what :meth:`collate`
            gives an absent row, as the encoder would).
        errors: :func:`value_key` -> why the input's own processor refused that value (raised
            again by :meth:`transform`, so bad rows are reported exactly as without the cache).
        tokens: ``(N, T, D)`` the encoder's tokens per value (float16 keeps half the memory), or
            ``None`` for pooled vectors only.
        masks: ``(N, T)`` bool, True for a real token (with ``tokens``).
    """

    modality = "precomputed"

    def __init__(
        self,
        embeddings: np.ndarray,
        rows: Mapping[str | bytes, int],
        absent: np.ndarray,
        errors: Mapping[str | bytes, str] | None = None,
        tokens: np.ndarray | None = None,
        masks: np.ndarray | None = None,
    ) -> None:
        if embeddings.ndim != 2 or absent.shape != (embeddings.shape[1],):
            raise ValueError(
                f"need (N, D) embeddings and a (D,) absent row, got {embeddings.shape}, {absent.shape}"
            )
        self.embeddings = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))  # (N, D)
        self.rows = dict(rows)
        self.absent = torch.from_numpy(np.ascontiguousarray(absent, dtype=np.float32))  # (D,)
        self.errors = dict(errors or {})
        self.tokens = None if tokens is None else torch.from_numpy(np.ascontiguousarray(tokens))  # (N, T, D)
        self.masks = None if masks is None else torch.from_numpy(np.ascontiguousarray(masks, dtype=bool))

    def fit(self, values: Sequence[Any]) -> PrecomputedProcessor:
        """Nothing to learn."""
        return self

    def transform(self, value: Any) -> Features | None:
        """``{PRECOMPUTED: (D,)}``, ``None`` when absent; a value refused beforehand raises again.

        Raises:
            BadValueError: The input's own processor refused this value.
            KeyError: The value was not precomputed (a table other than those embedded).
        """
        if is_missing(value):
            return None
        key = value_key(value)
        if key in self.errors:
            raise BadValueError(self.errors[key])
        row = self.rows[key]
        if self.tokens is None or self.masks is None:
            return {PRECOMPUTED: self.embeddings[row]}
        return {
            PRECOMPUTED: self.embeddings[row],
            PRECOMPUTED_TOKENS: self.tokens[row],
            PRECOMPUTED_MASK: self.masks[row],
        }

    def collate(self, items: Sequence[Features | None]) -> Features:
        """Stack rows into ``{PRECOMPUTED: (B, D)}``; an absent row gets the encoder's absent output."""
        rows = [self.absent if item is None else item[PRECOMPUTED] for item in items]
        out = {PRECOMPUTED: torch.stack(rows) if rows else self.absent.new_zeros(0, len(self.absent))}
        if self.tokens is not None and self.masks is not None:
            blank, off = (
                self.tokens.new_zeros(self.tokens.shape[1:]),
                self.masks.new_zeros(self.masks.shape[1:]),
            )
            out[PRECOMPUTED_TOKENS] = torch.stack(
                [blank if i is None else i[PRECOMPUTED_TOKENS] for i in items]
            )
            out[PRECOMPUTED_MASK] = torch.stack([off if i is None else i[PRECOMPUTED_MASK] for i in items])
        return out

    def output_spec(self) -> dict[str, Any]:
        """``{"dim": D}``."""
        return {"dim": int(self.embeddings.shape[1])}

    def get_params(self) -> dict[str, Any]:
        """Sizes only: the lookup itself is never saved."""
        tokens = 0 if self.tokens is None else int(self.tokens.shape[1])
        return {"rows": int(self.embeddings.shape[0]), "dim": int(self.embeddings.shape[1]), "tokens": tokens}
