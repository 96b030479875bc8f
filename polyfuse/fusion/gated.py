"""Gated multimodal unit (Arevalo et al. 2017), generalised from two inputs to M."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import ModalityProjection, masked_softmax, stack_present
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class GatedFusionConfig(FusionConfig):
    """Options of :class:`GatedFusion`."""

    hidden_dim: int = Field(64, ge=1, description="width of each input's candidate and of the output")


@register_fusion("gated", GatedFusionConfig)
class GatedFusion(Fusion):
    """Gated multimodal unit: per-dimension gates, computed from all inputs, mix the inputs.

    ``h_m = tanh(W_m x_m)``; ``z = softmax_m(W_z [x_1; ...; x_M])`` per output dimension over the
    inputs present in the row; output ``sum_m z_m * h_m``. With two inputs the softmax is the
    paper's sigmoid gate ``z h_1 + (1 - z) h_2``. Absent inputs enter the gate network as learned
    "missing" vectors and get gate 0; a row with no input present gives zeros.
    Paper: https://arxiv.org/abs/1702.01992

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> ``(B, hidden_dim)``.
    Legend: B batch, D width, M modalities.
    """

    def __init__(self, modality_dims: dict[str, int], config: GatedFusionConfig) -> None:
        super().__init__(modality_dims, config)
        num, dim = len(self.names), config.hidden_dim
        self.candidates = ModalityProjection(self.modality_dims, dim, activation=nn.Tanh())
        self.gate_inputs = ModalityProjection(self.modality_dims, dim)
        self.gate = nn.Linear(num * dim, num * dim)
        self.output_dim = dim

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        candidates = self.candidates(embeddings, present)  # (B, M, D)
        gate_in = self.gate_inputs(embeddings, present).flatten(1)  # (B, M * D)
        logits = self.gate(gate_in).view_as(candidates)  # (B, M, D)
        mask = stack_present(present, self.names).unsqueeze(-1)  # (B, M, 1)
        gates = masked_softmax(logits, mask, dim=1)  # (B, M, D)
        return (gates * candidates).sum(dim=1)  # (B, D)
