"""``text/cnn``: parallel 1-D convolutions of several widths, max-pooled over the real tokens.

After Kim (2014), "Convolutional Neural Networks for Sentence Classification",
https://arxiv.org/abs/1408.5882.

Legend: B batch, T tokens, D width, E embedding width.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.encoders._layers import PositiveInts, masked_max
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput


class CNNTextConfig(EncoderConfig):
    """Options of :class:`CNNTextEncoder`."""

    embed_dim: int = Field(128, ge=1, le=4096, description="width of the token embeddings")
    num_filters: int = Field(128, ge=1, le=4096, description="filters per kernel width")
    kernel_sizes: PositiveInts = Field(
        [3, 4, 5], min_length=1, max_length=8, description="convolution widths in tokens, one branch each"
    )
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout on embeddings and pooled features")


@register_encoder("text", "cnn", CNNTextConfig)
class CNNTextEncoder(Encoder):
    """Token embeddings, one ReLU conv per kernel width (zero-padded to length T), masked max over time.

    Input ``{"ids": (B, T) long, "mask": (B, T) bool}``; output pooled ``(B, D)``, tokens
    ``(B, T, D)`` (the concatenated conv features) and the input mask, with
    ``D = num_filters * len(kernel_sizes)``. Padding is zeroed before the convolutions, so results
    do not depend on what the padding holds; rows with no real token give zeros.
    """

    def __init__(self, config: CNNTextConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        self.embed = nn.Embedding(spec["vocab_size"], config.embed_dim, padding_idx=spec.get("pad_id", 0))
        self.convs = nn.ModuleList(
            nn.Sequential(
                nn.ConstantPad1d(((k - 1) // 2, k // 2), 0.0),
                nn.Conv1d(config.embed_dim, config.num_filters, k),
            )
            for k in config.kernel_sizes
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output_dim = config.num_filters * len(config.kernel_sizes)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        mask = x["mask"].bool()  # (B, T)
        embedded = self.dropout(self.embed(x["ids"])) * mask.unsqueeze(-1)  # (B, T, E)
        channels_first = embedded.transpose(1, 2)  # (B, E, T)
        features = torch.cat([torch.relu(conv(channels_first)) for conv in self.convs], dim=1)  # (B, D, T)
        tokens = features.transpose(1, 2) * mask.unsqueeze(-1)  # (B, T, D)
        return EncoderOutput(self.dropout(masked_max(tokens, mask)), tokens, mask)
