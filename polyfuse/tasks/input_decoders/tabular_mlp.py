"""``tabular/mlp``: latent -> MLP -> standardised numbers and one logit vector per category column.

The tabular processor gives ``{"numeric": (B, 2N), "categorical": (B, K)}``: N standardised values
then N missing indicators, and K category ids. Numbers are rebuilt with squared error where they
were present; categories with cross-entropy.

Legend: B batch, L latent width, N numeric columns, K categorical columns, V_k categories of column k.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from polyfuse.data.processors.base import Features
from polyfuse.tasks.input_decoders.base import (
    InputDecoder,
    InputDecoderConfig,
    mlp,
    register_input_decoder,
)


@register_input_decoder("tabular", "mlp", InputDecoderConfig, "MLP to numbers and category logits")
class MlpTabularDecoder(InputDecoder):
    """``(B, L)`` -> ``(B, N + sum V_k)``: N numbers then each categorical column's logits."""

    def __init__(self, config: InputDecoderConfig, spec: dict[str, Any], latent_dim: int) -> None:
        super().__init__(config, spec, latent_dim)
        self.num_numeric = int(spec.get("num_numeric", 0)) // 2
        self.cardinalities = [int(c) for c in spec.get("cardinalities", [])]
        width = self.num_numeric + sum(self.cardinalities)
        self.net = mlp([latent_dim, *config.hidden_dims, max(width, 1)])

    def forward(self, latent: Tensor) -> Tensor:
        return self.net(latent)  # (B, N + sum V_k)

    def _split(self, reconstruction: Tensor) -> tuple[Tensor, list[Tensor]]:
        numbers = reconstruction[:, : self.num_numeric]  # (B, N)
        logits = list(torch.split(reconstruction[:, self.num_numeric :], self.cardinalities, dim=1))
        return numbers, logits

    def truth(self, features: Features) -> Tensor:
        """``(B, N + K)``: the standardised numbers, then the category ids (as floats)."""
        parts = []
        if self.num_numeric:
            parts.append(features["numeric"][:, : self.num_numeric].float())
        if self.cardinalities:
            parts.append(features["categorical"].float())
        return torch.cat(parts, 1)

    def row_loss(self, reconstruction: Tensor, features: Features) -> Tensor:
        numbers, logits = self._split(reconstruction.float())
        loss = torch.zeros(reconstruction.shape[0], device=reconstruction.device)
        terms = 0
        if self.num_numeric:
            values = features["numeric"].float()
            seen = 1.0 - values[:, self.num_numeric :]  # (B, N), 1 where the number was present
            error = (numbers - values[:, : self.num_numeric]).square() * seen
            loss = loss + error.sum(1) / seen.sum(1).clamp(min=1.0)
            terms += 1
        for k, column_logits in enumerate(logits):
            ids = features["categorical"][:, k].long()
            loss = loss + F.cross_entropy(column_logits, ids, reduction="none") / len(logits)
        terms += bool(logits)
        return loss / max(terms, 1)

    def to_values(self, reconstruction: Tensor) -> list[Any]:
        """Per row: the standardised numbers, then each category column's most likely id."""
        numbers, logits = self._split(reconstruction.float().cpu())
        ids = torch.stack([lg.argmax(1) for lg in logits], 1) if logits else torch.zeros(len(numbers), 0)
        return [[*n.tolist(), *map(int, i.tolist())] for n, i in zip(numbers, ids, strict=True)]
