"""Modality attention: per-row attention weights over the inputs."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import ModalityProjection, masked_softmax, stack_present
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class AttentionFusionConfig(FusionConfig):
    """Options of :class:`AttentionFusion`."""

    hidden_dim: int = Field(64, ge=1, description="common width the inputs are projected to (output width)")
    score_dim: int = Field(32, ge=1, description="hidden width of the scoring MLP")


@register_fusion("attention", AttentionFusionConfig)
class AttentionFusion(Fusion):
    """Attention-weighted sum of the projected inputs, with weights computed per row.

    ``h_m = tanh(W_m x_m)``, ``s_m = v^T tanh(U h_m)``, ``a = softmax(s)`` over the inputs present
    in the row, output ``sum_m a_m h_m`` (additive attention, Bahdanau et al. 2015,
    https://arxiv.org/abs/1409.0473, applied across modalities). A row with no input present gives
    zeros.

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> ``(B, hidden_dim)``.
    Legend: B batch, D width, M modalities.
    """

    def __init__(self, modality_dims: dict[str, int], config: AttentionFusionConfig) -> None:
        super().__init__(modality_dims, config)
        self.project = ModalityProjection(self.modality_dims, config.hidden_dim, activation=nn.Tanh())
        self.score = nn.Sequential(
            nn.Linear(config.hidden_dim, config.score_dim), nn.Tanh(), nn.Linear(config.score_dim, 1)
        )
        self.output_dim = config.hidden_dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        projected = self.project(embeddings, present)  # (B, M, D)
        scores = self.score(projected).squeeze(-1)  # (B, M)
        weights = masked_softmax(scores, stack_present(present, self.names))  # (B, M)
        return (weights.unsqueeze(-1) * projected).sum(dim=1)  # (B, D)
