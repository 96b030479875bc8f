"""``lstm`` / ``gru``: a recurrent decoder with additive attention over the inputs' tokens, Show,
Attend and Tell (Xu et al. 2015, https://arxiv.org/abs/1502.03044; additive attention: Bahdanau et
al. 2015, https://arxiv.org/abs/1409.0473). The initial state comes from the mean of the memory;
each step attends with the previous hidden state, gates the context (the paper's beta) and feeds
``[embedding; context]`` to the cell.

Legend: B batch, T target tokens, S memory tokens, D width (hidden), E embedding, V vocabulary.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.tasks.decoders.base import Decoder, DecoderConfig, DecoderState, register_decoder


class RnnDecoderConfig(DecoderConfig):
    """Options of :class:`RnnDecoder`."""

    cell: Literal["lstm", "gru"] = Field("lstm", description="recurrent cell")
    dim: int = Field(512, ge=8, description="hidden width")
    embed_dim: int = Field(256, ge=8, description="token embedding width")
    attention_dim: int = Field(256, ge=8, description="width of the additive attention")
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="dropout before the output layer")


class RnnDecoder(Decoder):
    """An LSTM or GRU cell stepping over the target, attending over the memory at every step."""

    config: RnnDecoderConfig

    def __init__(self, config: RnnDecoderConfig, vocab_size: int, max_length: int, memory_dim: int) -> None:
        super().__init__(config, vocab_size, max_length, memory_dim)
        c = config
        self.embed = nn.Embedding(vocab_size, c.embed_dim)
        self.key = nn.Linear(memory_dim, c.attention_dim)
        self.query = nn.Linear(c.dim, c.attention_dim)
        self.score = nn.Linear(c.attention_dim, 1)
        self.gate = nn.Linear(c.dim, memory_dim)
        self.init_h = nn.Linear(memory_dim, c.dim)
        self.init_c = nn.Linear(memory_dim, c.dim) if c.cell == "lstm" else None
        cell = nn.LSTMCell if c.cell == "lstm" else nn.GRUCell
        self.cell = cell(c.embed_dim + memory_dim, c.dim)
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.dim + memory_dim, vocab_size)

    def start(self, memory: Tensor, memory_mask: Tensor) -> DecoderState:
        weights = memory_mask.unsqueeze(-1).to(memory.dtype)  # (B, S, 1)
        mean = (memory * weights).sum(1) / weights.sum(1).clamp(min=1)  # (B, D_mem)
        state: DecoderState = {
            "memory": memory,
            "keys": self.key(memory),  # (B, S, A)
            "mask": memory_mask,
            "h": torch.tanh(self.init_h(mean)),
            "step": 0,
        }
        if self.init_c is not None:
            state["c"] = torch.tanh(self.init_c(mean))
        return state

    def step(self, ids: Tensor, state: DecoderState) -> Tensor:
        h = state["h"]
        energy = self.score(torch.tanh(state["keys"] + self.query(h)[:, None, :])).squeeze(-1)  # (B, S)
        energy = energy.masked_fill(~state["mask"], float("-inf"))
        alpha = torch.softmax(energy, dim=-1).nan_to_num(0.0)  # (B, S)
        context = (alpha.unsqueeze(-1) * state["memory"]).sum(1)  # (B, D_mem)
        context = torch.sigmoid(self.gate(h)) * context
        x = torch.cat([self.embed(ids), context], dim=-1)
        if self.config.cell == "lstm":
            state["h"], state["c"] = self.cell(x, (h, state["c"]))
        else:
            state["h"] = self.cell(x, h)
        state["step"] = int(state["step"]) + 1
        return self.out(self.drop(torch.cat([state["h"], context], dim=-1)))  # (B, V)

    def forward(self, ids: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        state = self.start(memory, memory_mask)
        steps = [self.step(ids[:, t], state) for t in range(ids.shape[1])]
        return torch.stack(steps, dim=1)  # (B, T, V)


register_decoder("lstm", RnnDecoderConfig, "LSTM with additive attention (Show, Attend and Tell)")(RnnDecoder)


class GruDecoderConfig(RnnDecoderConfig):
    """Options of the GRU decoder (``cell`` defaults to ``gru``)."""

    cell: Literal["lstm", "gru"] = Field("gru", description="recurrent cell")


@register_decoder("gru", GruDecoderConfig, "GRU with additive attention")
class GruDecoder(RnnDecoder):
    """:class:`RnnDecoder` with a GRU cell."""
