"""Element-wise product fusion: every input projected to a common width, then multiplied."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import ModalityProjection
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class ProductFusionConfig(FusionConfig):
    """Options of :class:`ProductFusion`."""

    hidden_dim: int = Field(64, ge=1, description="common width the inputs are projected to (output width)")


@register_fusion("product", ProductFusionConfig)
class ProductFusion(Fusion):
    """Project every input to ``hidden_dim`` and multiply them element-wise.

    Each projection is followed by a LayerNorm so that the product of M factors keeps a stable
    scale. An absent input is replaced by a learned "missing" vector initialised to ones, the
    identity of the product, so the other inputs pass through unchanged at first.

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> ``(B, hidden_dim)``.
    Legend: B batch, D width, M modalities.
    """

    def __init__(self, modality_dims: dict[str, int], config: ProductFusionConfig) -> None:
        super().__init__(modality_dims, config)
        self.project = ModalityProjection(
            self.modality_dims,
            config.hidden_dim,
            missing_init=1.0,
            activation=nn.LayerNorm(config.hidden_dim),
        )
        self.output_dim = config.hidden_dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        return self.project(embeddings, present).prod(dim=1)  # (B, D)
