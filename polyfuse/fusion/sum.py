"""Element-wise sum fusion: every input projected to a common width, then added."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor

from polyfuse.fusion._layers import ModalityProjection
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class SumFusionConfig(FusionConfig):
    """Options of :class:`SumFusion`."""

    hidden_dim: int = Field(64, ge=1, description="common width the inputs are projected to (output width)")


@register_fusion("sum", SumFusionConfig)
class SumFusion(Fusion):
    """Project every input to ``hidden_dim`` and add them (absent inputs: a learned "missing" vector).

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> ``(B, hidden_dim)``.
    Legend: B batch, D width, M modalities.
    """

    def __init__(self, modality_dims: dict[str, int], config: SumFusionConfig) -> None:
        super().__init__(modality_dims, config)
        self.project = ModalityProjection(self.modality_dims, config.hidden_dim, missing_init=0.0)
        self.output_dim = config.hidden_dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        return self.project(embeddings, present).sum(dim=1)  # (B, D)
