"""Tensor fusion (Zadeh et al. 2017): the outer product of the inputs, each with a 1 appended."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import zero_absent
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class TensorFusionConfig(FusionConfig):
    """Options of :class:`TensorFusion`."""

    hidden_dim: int = Field(
        8, ge=1, le=256, description="width each input is projected to before the outer product"
    )
    fused_dim: int | None = Field(
        64, ge=1, description="width of the projection after the outer product; none keeps the flat tensor"
    )
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout on the flattened tensor")
    max_tensor_size: int = Field(
        1_000_000, ge=1, description="refuse configs whose flattened tensor (hidden_dim + 1)^M is larger"
    )


@register_fusion("tensor", TensorFusionConfig)
class TensorFusion(Fusion):
    """Tensor fusion network: ``z = [h_1; 1] (x) [h_2; 1] (x) ... (x) [h_M; 1]``, flattened.

    ``h_m = ReLU(W_m x_m)`` (width ``hidden_dim``). The appended 1 keeps every lower-order term
    (unimodal, bimodal, ...) in the tensor; an absent input's ``h_m`` is set to zero, so its factor
    is ``[0; 1]`` and the tensor reduces exactly to the product of the present inputs. The tensor
    has ``(hidden_dim + 1)^M`` entries, then a ReLU projection to ``fused_dim``.
    Paper: https://arxiv.org/abs/1707.07250

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` ->
    ``(B, fused_dim)`` or ``(B, (hidden_dim + 1)^M)``.
    Legend: B batch, D width, M modalities.
    """

    def __init__(self, modality_dims: dict[str, int], config: TensorFusionConfig) -> None:
        super().__init__(modality_dims, config)
        size = (config.hidden_dim + 1) ** len(self.names)
        if size > config.max_tensor_size:
            raise ValueError(
                f"tensor fusion of {len(self.names)} inputs at hidden_dim {config.hidden_dim} has {size}"
                f" entries (> max_tensor_size {config.max_tensor_size}); lower hidden_dim or use lowrank"
            )
        self.project = nn.ModuleDict(
            {n: nn.Linear(d, config.hidden_dim) for n, d in self.modality_dims.items()}
        )
        self.dropout = nn.Dropout(config.dropout)
        self.post: nn.Module = (
            nn.Sequential(nn.Linear(size, config.fused_dim), nn.ReLU()) if config.fused_dim else nn.Identity()
        )
        self.output_dim = config.fused_dim or size

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        fused: Tensor | None = None
        for name in self.names:
            hidden = torch.relu(self.project[name](zero_absent(embeddings[name], present[name])))
            hidden = zero_absent(hidden, present[name])  # (B, H)
            factor = torch.cat([hidden, hidden.new_ones(hidden.shape[0], 1)], dim=1)  # (B, H + 1)
            fused = factor if fused is None else (fused.unsqueeze(2) * factor.unsqueeze(1)).flatten(1)
        assert fused is not None
        return self.post(self.dropout(fused))  # (B, D)
