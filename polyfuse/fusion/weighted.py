"""Learned weighted average: one learned weight per input, shared by every row."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import ModalityProjection, masked_softmax, stack_present
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class WeightedFusionConfig(FusionConfig):
    """Options of :class:`WeightedFusion`."""

    hidden_dim: int = Field(64, ge=1, description="common width the inputs are projected to (output width)")


@register_fusion("weighted", WeightedFusionConfig)
class WeightedFusion(Fusion):
    """Weighted average of the projected inputs with learned global weights.

    The weights are a softmax of one learned logit per input, renormalised in each row over the
    inputs present in it; a row with no input present gives zeros.

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> ``(B, hidden_dim)``.
    Legend: B batch, D width, M modalities.
    """

    def __init__(self, modality_dims: dict[str, int], config: WeightedFusionConfig) -> None:
        super().__init__(modality_dims, config)
        self.project = ModalityProjection(self.modality_dims, config.hidden_dim)
        self.logits = nn.Parameter(torch.zeros(len(self.names)))
        self.output_dim = config.hidden_dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        projected = self.project(embeddings, present)  # (B, M, D)
        mask = stack_present(present, self.names)  # (B, M)
        weights = masked_softmax(self.logits.expand_as(mask), mask)  # (B, M)
        return (weights.unsqueeze(-1) * projected).sum(dim=1)  # (B, D)
