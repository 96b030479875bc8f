"""A stand-in processor that feeds an input as its frozen encoder's precomputed pooled embeddings.

Training builds one per input whose encoder is frozen (see :mod:`polyfuse.training.frozen_inputs`): every
distinct value of the input is embedded once, through the embedding cache, and this processor
looks the embeddings up by value, so the encoder does not run on every batch of every epoch. It
never reaches a bundle: a bundle keeps the input's own processor, and its model the encoder.

Shapes: ``transform`` -> ``{PRECOMPUTED: (D,)}``; ``collate`` -> ``{PRECOMPUTED: (B, D)}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from polyfuse.data.batch import PRECOMPUTED
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
    """

    modality = "precomputed"

    def __init__(
        self,
        embeddings: np.ndarray,
        rows: Mapping[str | bytes, int],
        absent: np.ndarray,
        errors: Mapping[str | bytes, str] | None = None,
    ) -> None:
        if embeddings.ndim != 2 or absent.shape != (embeddings.shape[1],):
            raise ValueError(
                f"need (N, D) embeddings and a (D,) absent row, got {embeddings.shape}, {absent.shape}"
            )
        self.embeddings = torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))  # (N, D)
        self.rows = dict(rows)
        self.absent = torch.from_numpy(np.ascontiguousarray(absent, dtype=np.float32))  # (D,)
        self.errors = dict(errors or {})

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
        return {PRECOMPUTED: self.embeddings[self.rows[key]]}

    def collate(self, items: Sequence[Features | None]) -> Features:
        """Stack rows into ``{PRECOMPUTED: (B, D)}``; an absent row gets the encoder's absent output."""
        rows = [self.absent if item is None else item[PRECOMPUTED] for item in items]
        return {PRECOMPUTED: torch.stack(rows) if rows else self.absent.new_zeros(0, len(self.absent))}

    def output_spec(self) -> dict[str, Any]:
        """``{"dim": D}``."""
        return {"dim": int(self.embeddings.shape[1])}

    def get_params(self) -> dict[str, Any]:
        """Sizes only: the lookup itself is never saved."""
        return {"rows": int(self.embeddings.shape[0]), "dim": int(self.embeddings.shape[1])}
