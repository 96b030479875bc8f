"""The default head: an MLP on the fused vector."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field
from torch import Tensor

from polyfuse.layers import mlp
from polyfuse.tasks.heads.base import Head, HeadConfig, register_head

if TYPE_CHECKING:
    from polyfuse.model import Fused
    from polyfuse.tasks.base import ModelDims


class MlpHeadConfig(HeadConfig):
    """Options of :class:`MlpHead`."""

    hidden_dim: int = Field(128, ge=0, description="hidden width of the head MLP; 0 = linear head")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout inside the head")


@register_head("mlp", MlpHeadConfig, "an MLP on the fused vector (early and intermediate fusion)")
class MlpHead(Head):
    """``(B, D) -> (B, K)``: Linear, GELU, dropout, Linear (one Linear when ``hidden_dim`` is 0)."""

    def __init__(self, dims: ModelDims, num_outputs: int, config: MlpHeadConfig) -> None:
        super().__init__(dims, num_outputs, config)
        if dims.fused_dim is None:
            raise ValueError("the mlp head needs a fusion (the model has none)")
        self.net = mlp(dims.fused_dim, config.hidden_dim, num_outputs, config.dropout)

    def forward(self, out: Fused) -> Tensor:
        assert out.fused is not None
        return self.net(out.fused)  # type: ignore[no-any-return]
