"""``text/transformer``: a small pre-norm transformer encoder with learned positions.

After Vaswani et al. (2017), https://arxiv.org/abs/1706.03762, with the pre-norm arrangement of
Xiong et al. (2020), https://arxiv.org/abs/2002.04745.

Legend: B batch, T tokens, D width.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from polyfuse.encoders._layers import ensure_one_real_step, masked_mean
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput


class TransformerTextConfig(EncoderConfig):
    """Options of :class:`TransformerTextEncoder`."""

    embed_dim: int = Field(128, ge=8, le=4096, description="model width (= output width)")
    num_heads: int = Field(4, ge=1, le=64, description="attention heads; must divide embed_dim")
    num_layers: int = Field(2, ge=1, le=24, description="number of transformer layers")
    ff_dim: int = Field(256, ge=1, le=16384, description="hidden width of each feed-forward block")
    dropout: float = Field(
        0.1, ge=0.0, lt=1.0, description="dropout on embeddings, attention and feed-forward"
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TransformerTextConfig:
        if self.embed_dim % self.num_heads:
            raise ValueError(f"num_heads ({self.num_heads}) must divide embed_dim ({self.embed_dim})")
        return self


@register_encoder("text", "transformer", TransformerTextConfig)
class TransformerTextEncoder(Encoder):
    """Token + learned position embeddings, pre-norm ``nn.TransformerEncoder``, masked mean.

    Input ``{"ids": (B, T) long, "mask": (B, T) bool}`` with ``T <= max_length`` of the spec;
    output pooled ``(B, D)``, tokens ``(B, T, D)`` (zero at padding) and the input mask. Rows with
    no real token attend to position 0 only (to keep attention finite) and are zeroed afterwards.
    """

    def __init__(self, config: TransformerTextConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        self.max_length = int(spec["max_length"])
        self.embed = nn.Embedding(spec["vocab_size"], config.embed_dim, padding_idx=spec.get("pad_id", 0))
        self.positions = nn.Embedding(self.max_length, config.embed_dim)
        nn.init.normal_(self.positions.weight, std=0.02)
        layer = nn.TransformerEncoderLayer(
            config.embed_dim,
            config.num_heads,
            dim_feedforward=config.ff_dim,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(
            layer, config.num_layers, norm=nn.LayerNorm(config.embed_dim), enable_nested_tensor=False
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output_dim = config.embed_dim

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        ids, mask = x["ids"], x["mask"].bool()  # (B, T), (B, T)
        length = ids.shape[1]
        if length > self.max_length:
            raise ValueError(f"sequence length {length} exceeds the encoder's max_length {self.max_length}")
        steps = torch.arange(length, device=ids.device)  # (T,)
        hidden = self.dropout(self.embed(ids) + self.positions(steps))  # (B, T, D)
        padding = ~ensure_one_real_step(mask)  # (B, T) True where attention must not look
        tokens = self.layers(hidden, src_key_padding_mask=padding) * mask.unsqueeze(-1)  # (B, T, D)
        return EncoderOutput(masked_mean(tokens, mask), tokens, mask)
