"""``text/bag``: token embeddings averaged over the real tokens (a neural bag of words).

Legend: B batch, T tokens, D width.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from torch import Tensor, nn

from polyfuse.encoders._layers import masked_mean
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput


class BagTextConfig(EncoderConfig):
    """Options of :class:`BagTextEncoder`."""

    embed_dim: int = Field(128, ge=1, le=4096, description="width of the token embeddings (= output width)")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout on the token embeddings")


@register_encoder("text", "bag", BagTextConfig)
class BagTextEncoder(Encoder):
    """Embed tokens and average them over the real (mask True) positions.

    Input ``{"ids": (B, T) long, "mask": (B, T) bool}``; output pooled ``(B, D)`` and the token
    embeddings ``(B, T, D)`` with the input mask. Rows with no real token pool to zeros.
    """

    def __init__(self, config: BagTextConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        self.embed = nn.Embedding(spec["vocab_size"], config.embed_dim, padding_idx=spec.get("pad_id", 0))
        self.dropout = nn.Dropout(config.dropout)
        self.output_dim = config.embed_dim

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        mask = x["mask"].bool()  # (B, T)
        tokens = self.dropout(self.embed(x["ids"])) * mask.unsqueeze(-1)  # (B, T, D)
        return EncoderOutput(masked_mean(tokens, mask), tokens, mask)
