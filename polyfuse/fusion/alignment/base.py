"""The alignment contract: an auxiliary loss over the pooled embeddings of several inputs.

An aligner is an ``nn.Module`` built from ``modality_dims`` (input name -> width) and its config;
``forward(embeddings, present)`` takes ``{m: (B, D_m)}`` pooled embeddings and ``{m: (B,)}`` present
masks and returns a scalar loss computed only on rows where the inputs involved are present. With
nothing to compare it returns a zero that is still connected to the graph, so ``backward`` works.
The model adds ``weight * loss`` to the task loss.

Legend: B batch, D width, M modalities.
"""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from polyfuse._registry import ComponentConfig


class AlignmentConfig(ComponentConfig):
    """Base of alignment configs."""

    weight: float = Field(0.1, ge=0.0, description="factor of this loss in the training loss")


class Aligner(nn.Module):
    """Base class: subclasses implement ``forward``."""

    def __init__(self, modality_dims: dict[str, int], config: AlignmentConfig) -> None:
        super().__init__()
        if len(modality_dims) < 2:
            raise ValueError(f"{config.type} alignment needs at least two inputs")
        self.modality_dims = dict(sorted(modality_dims.items()))
        self.names = list(self.modality_dims)
        self.config = config

    def forward(
        self, embeddings: dict[str, Tensor], present: dict[str, Tensor]
    ) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
