"""``text/bigru`` and ``text/lstm``: recurrent text encoders over packed sequences.

Sequences are packed by length (``mask.sum(1)``), so padding never reaches either direction; the
text processor pads on the right, so the real tokens of a row are a prefix. The pooled vector is
the masked mean of the per-step outputs (both directions contribute evenly, and it is robust to
long sequences), not the last hidden state.

Legend: B batch, T tokens, D width.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from polyfuse.encoders._layers import ensure_one_real_step, masked_mean
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput


class RecurrentTextConfig(EncoderConfig):
    """Options shared by the recurrent text encoders."""

    embed_dim: int = Field(128, ge=1, le=4096, description="width of the token embeddings")
    hidden_dim: int = Field(128, ge=1, le=4096, description="hidden width per direction")
    num_layers: int = Field(1, ge=1, le=8, description="number of stacked recurrent layers")
    bidirectional: bool = Field(True, description="read the text both ways (doubles the output width)")
    dropout: float = Field(
        0.1, ge=0.0, lt=1.0, description="dropout on embeddings, between layers and on outputs"
    )


class BiGRUTextConfig(RecurrentTextConfig):
    """Options of :class:`BiGRUTextEncoder`."""


class LSTMTextConfig(RecurrentTextConfig):
    """Options of :class:`LSTMTextEncoder`."""


class _RecurrentTextEncoder(Encoder):
    """Embedding, then a packed GRU/LSTM; pooled = masked mean of the step outputs.

    Input ``{"ids": (B, T) long, "mask": (B, T) bool}``; output pooled ``(B, D)``, tokens
    ``(B, T, D)`` (per-step outputs, zero at padding) and the input mask, with
    ``D = hidden_dim * (2 if bidirectional else 1)``. Rows with no real token give zeros.
    """

    rnn_class: ClassVar[type[nn.GRU] | type[nn.LSTM]]

    def __init__(self, config: RecurrentTextConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        self.embed = nn.Embedding(spec["vocab_size"], config.embed_dim, padding_idx=spec.get("pad_id", 0))
        self.rnn = self.rnn_class(
            config.embed_dim,
            config.hidden_dim,
            num_layers=config.num_layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output_dim = config.hidden_dim * (2 if config.bidirectional else 1)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        mask = x["mask"].bool()  # (B, T)
        lengths = ensure_one_real_step(mask).sum(dim=1).cpu()  # (B,) >= 1 for packing
        embedded = self.dropout(self.embed(x["ids"]))  # (B, T, E)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        steps, _ = pad_packed_sequence(out, batch_first=True, total_length=mask.shape[1])  # (B, T, D)
        tokens = self.dropout(steps) * mask.unsqueeze(-1)  # (B, T, D)
        return EncoderOutput(masked_mean(tokens, mask), tokens, mask)


@register_encoder("text", "bigru", BiGRUTextConfig)
class BiGRUTextEncoder(_RecurrentTextEncoder):
    """Bidirectional GRU over token embeddings, pooled by masked mean (the default text encoder)."""

    rnn_class = nn.GRU


@register_encoder("text", "lstm", LSTMTextConfig)
class LSTMTextEncoder(_RecurrentTextEncoder):
    """(Bi)LSTM over token embeddings, pooled by masked mean."""

    rnn_class = nn.LSTM
