"""``transformer``: a pre-norm transformer decoder (causal self-attention + cross-attention over the
inputs' tokens) with a key-value cache for step-by-step decoding (Vaswani et al. 2017,
https://arxiv.org/abs/1706.03762).

Legend: B batch, T target tokens, S memory tokens, D width, H heads, V vocabulary.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from polyfuse.tasks.decoders.base import Decoder, DecoderConfig, DecoderState, register_decoder


class TransformerDecoderConfig(DecoderConfig):
    """Options of :class:`TransformerDecoder`."""

    num_layers: int = Field(3, ge=1, description="decoder layers")
    num_heads: int = Field(8, ge=1, description="attention heads (must divide dim)")
    dim: int = Field(256, ge=8, description="decoder width D (the memory is projected to it)")
    ffn_mult: int = Field(4, ge=1, description="feed-forward width as a multiple of dim")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout in attention outputs and MLPs")
    tie_embeddings: bool = Field(True, description="share the input embedding with the output layer")


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))

    def split(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, H, T, D/H)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh))  # (B, T, D)


class _Layer(nn.Module):
    def __init__(self, c: TransformerDecoderConfig) -> None:
        super().__init__()
        self.self_attn = _Attention(c.dim, c.num_heads, c.dropout)
        self.cross_attn = _Attention(c.dim, c.num_heads, c.dropout)
        self.norms = nn.ModuleList(nn.LayerNorm(c.dim) for _ in range(3))
        self.mlp = nn.Sequential(
            nn.Linear(c.dim, c.ffn_mult * c.dim), nn.GELU(), nn.Linear(c.ffn_mult * c.dim, c.dim)
        )
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: Tensor, memory_kv: tuple[Tensor, Tensor], memory_bias: Tensor, cache: Any) -> Tensor:
        """``x`` (B, T, D); ``cache`` None (teacher forcing, causal) or ``[k, v]`` grown in place."""
        h = self.norms[0](x)
        q, k, v = (self.self_attn.split(f(h)) for f in (self.self_attn.q, self.self_attn.k, self.self_attn.v))
        if cache is not None:
            if cache[0] is not None:
                k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)  # (B, H, t, D/H)
            cache[0], cache[1] = k, v
        x = x + self.drop(self.self_attn.attend(q, k, v, None, causal=cache is None))
        h = self.norms[1](x)
        q = self.cross_attn.split(self.cross_attn.q(h))
        x = x + self.drop(self.cross_attn.attend(q, *memory_kv, memory_bias, causal=False))
        return x + self.drop(self.mlp(self.norms[2](x)))

    def memory_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        a = self.cross_attn
        return a.split(a.k(memory)), a.split(a.v(memory))  # (B, H, S, D/H) each


@register_decoder(
    "transformer", TransformerDecoderConfig, "transformer decoder, cross-attention over input tokens"
)
class TransformerDecoder(Decoder):
    """Token + position embeddings -> layers -> norm -> vocabulary logits."""

    config: TransformerDecoderConfig

    def __init__(
        self, config: TransformerDecoderConfig, vocab_size: int, max_length: int, memory_dim: int
    ) -> None:
        super().__init__(config, vocab_size, max_length, memory_dim)
        if config.dim % config.num_heads:
            raise ValueError(f"dim {config.dim} is not divisible by num_heads {config.num_heads}")
        self.embed = nn.Embedding(vocab_size, config.dim)
        self.position = nn.Embedding(max_length, config.dim)
        self.memory_in = nn.Linear(memory_dim, config.dim) if memory_dim != config.dim else nn.Identity()
        self.layers = nn.ModuleList(_Layer(config) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(config.dim)
        # tied: the output layer reads the embedding matrix (safetensors refuses shared parameters)
        untied = nn.Linear(config.dim, vocab_size, bias=False)
        self.head: nn.Linear | None = None if config.tie_embeddings else untied
        nn.init.normal_(self.embed.weight, std=0.02)

    @staticmethod
    def _bias(memory_mask: Tensor) -> Tensor:
        """(B, S) bool -> (B, 1, 1, S) additive attention bias (0 keep, -inf masked)."""
        bias = torch.zeros(memory_mask.shape, dtype=torch.float32, device=memory_mask.device)
        return bias.masked_fill(~memory_mask, float("-inf"))[:, None, None, :]

    def forward(self, ids: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        memory = self.memory_in(memory)  # (B, S, D)
        bias = self._bias(memory_mask).to(memory.dtype)
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.embed(ids) + self.position(positions)  # (B, T, D)
        for layer in self._layers():
            x = layer(x, layer.memory_kv(memory), bias, None)
        return self._logits(self.norm(x))  # (B, T, V)

    def _layers(self) -> list[_Layer]:
        return list(self.layers)  # type: ignore[arg-type]

    def _logits(self, x: Tensor) -> Tensor:
        return F.linear(x, self.embed.weight) if self.head is None else self.head(x)

    def start(self, memory: Tensor, memory_mask: Tensor) -> DecoderState:
        memory = self.memory_in(memory)
        return {
            "memory_kv": [layer.memory_kv(memory) for layer in self._layers()],
            "bias": self._bias(memory_mask).to(memory.dtype),
            "cache": [[None, None] for _ in self.layers],
            "step": 0,
        }

    def step(self, ids: Tensor, state: DecoderState) -> Tensor:
        position = min(int(state["step"]), self.max_length - 1)
        x = self.embed(ids)[:, None, :] + self.position.weight[position]  # (B, 1, D)
        for layer, kv, cache in zip(self._layers(), state["memory_kv"], state["cache"], strict=True):
            x = layer(x, kv, state["bias"], cache)
        state["step"] = int(state["step"]) + 1
        return self._logits(self.norm(x[:, 0]))  # (B, V)

    def reorder(self, state: DecoderState, index: Tensor) -> DecoderState:
        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.index_select(0, index)

        return {
            "memory_kv": [
                (k.index_select(0, index), v.index_select(0, index)) for k, v in state["memory_kv"]
            ],
            "bias": state["bias"].index_select(0, index),
            "cache": [[pick(k), pick(v)] for k, v in state["cache"]],
            "step": state["step"],
        }
