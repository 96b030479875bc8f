"""The batch record every layer above the data reads, and the precomputed-features marker.

Legend: B batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from polyfuse.data.processors.base import Features

PRECOMPUTED = "precomputed"
"""Feature key of an input fed as its encoder's pooled output, computed beforehand:
``{PRECOMPUTED: (B, D)}`` (the embedding cache of frozen encoders, see
:mod:`polyfuse.data.precomputed`). The model passes it on as the pooled vector without running the
encoder."""
PRECOMPUTED_TOKENS = "precomputed_tokens"
"""Feature key of a cached input's tokens ``(B, T, D)`` (beside :data:`PRECOMPUTED`), when a decoder
or a token fusion reads them; :data:`PRECOMPUTED_MASK` holds their ``(B, T)`` bool mask."""
PRECOMPUTED_MASK = "precomputed_mask"


def _to(value: Any, device: torch.device | str) -> Any:
    """``value`` on ``device``: tensors moved, dicts and lists of tensors moved item by item."""
    if isinstance(value, Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to(v, device) for v in value)
    return value


@dataclass
class Batch:
    """A batch: per-input features and present masks, targets, and the rows' indices in the table.

    ``target`` is whatever the task's target processor collates: ``(B,)`` class indices, ``(B, K)``
    multi-hot or standardised values, ``{"ids": (B, T), ...}`` token ids, ``(B, C, H, W)`` images, a
    ``(B,)`` group id; ``None`` when the rows carry no targets (prediction).
    """

    inputs: dict[str, Features]
    present: dict[str, Tensor]
    """{input: (B,) bool}"""
    target: Any = None
    index: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    def to(self, device: torch.device | str) -> Batch:
        """A copy on ``device``."""
        return Batch(
            _to(self.inputs, device), _to(self.present, device), _to(self.target, device), self.index
        )

    def __len__(self) -> int:
        return len(self.index)
