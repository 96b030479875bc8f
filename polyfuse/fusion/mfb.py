"""Multi-modal factorised bilinear pooling (MFB, Yu et al. 2017), extended to M inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import ModalityProjection
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class MFBFusionConfig(FusionConfig):
    """Options of :class:`MFBFusion`."""

    fused_dim: int = Field(64, ge=1, description="output width o")
    factor: int = Field(4, ge=1, description="factor k: each input is projected to k * o before sum pooling")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout on the element-wise product")


@register_fusion("mfb", MFBFusionConfig)
class MFBFusion(Fusion):
    """Factorised bilinear pooling: ``z = SumPool_k(U_1 x_1 * ... * U_M x_M)``, power- and L2-normalised.

    Every input is projected to ``k * o``; the projections are multiplied element-wise (two inputs:
    the paper's low-rank bilinear form; more inputs: the same factorisation of a higher-order one),
    summed over windows of ``k``, passed through ``sign(z) sqrt(|z|)`` and L2-normalised. An absent
    input's projection is replaced by a learned vector initialised to ones (the product's identity).
    The square root is smoothed with a small epsilon so its gradient at 0 stays finite.
    Paper: https://arxiv.org/abs/1708.01471

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> ``(B, fused_dim)``.
    Legend: B batch, D width, M modalities.
    """

    def __init__(self, modality_dims: dict[str, int], config: MFBFusionConfig) -> None:
        super().__init__(modality_dims, config)
        self.factor, self.output_dim = config.factor, config.fused_dim
        self.project = ModalityProjection(
            self.modality_dims, config.factor * config.fused_dim, missing_init=1.0
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        joint = self.dropout(self.project(embeddings, present).prod(dim=1))  # (B, k * o)
        pooled = joint.view(joint.shape[0], self.output_dim, self.factor).sum(dim=2)  # (B, o)
        powered = torch.sign(pooled) * torch.sqrt(pooled.abs() + 1e-8)  # (B, o)
        return F.normalize(powered, dim=1)  # (B, o)
