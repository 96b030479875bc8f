"""``image/mlp``: flatten the pixels and apply an MLP (the classic dense autoencoder's encoder).

Legend: B batch, C channels, H/W height/width, D width.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from pydantic import Field
from torch import Tensor, nn

from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput


class MlpImageConfig(EncoderConfig):
    """Options of :class:`MlpImageEncoder`."""

    hidden_dims: list[int] = Field(
        default_factory=lambda: [128, 64], min_length=1, description="widths of the layers; D is the last"
    )
    activate_last: bool = Field(True, description="ReLU after the last layer too")


@register_encoder("image", "mlp", MlpImageConfig, "flattened pixels through an MLP")
class MlpImageEncoder(Encoder):
    """``{"pixels": (B, C, H, W)}`` -> flatten -> Linear/ReLU layers -> pooled ``(B, D)``."""

    def __init__(self, config: MlpImageConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        widths = [int(spec["channels"]) * int(spec["height"]) * int(spec["width"]), *config.hidden_dims]
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (a, b) in enumerate(pairwise(widths)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2 or config.activate_last:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        self.output_dim = config.hidden_dims[-1]

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        return EncoderOutput(self.net(x["pixels"]))  # (B, D)
