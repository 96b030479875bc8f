"""The text-decoder contract and registry: token ids + a memory of input tokens -> next-token logits.

A decoder is built from its config, the vocabulary size, the longest sequence it writes and the
memory width (the generation task projects every input's tokens to ``memory_dim`` and concatenates
them, see :mod:`polyfuse.tasks.decoders.memory`). It has two ways of running:

- teacher forcing: ``forward(ids (B, T), memory (B, S, D), memory_mask (B, S)) -> (B, T, V)``;
- step by step: ``start(memory, memory_mask) -> state``, then ``step(ids (B,), state) -> (B, V)``
  with the state updated in place (a key-value cache for the transformer, the hidden state for the
  RNN), and ``reorder(state, index (B',))`` picks rows of the state (beam search).

Legend: B batch, T target tokens, S memory tokens, D width, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from torch import Tensor, nn

from polyfuse._registry import ComponentConfig, Registry

DecoderState = dict[str, Any]
"""A decoder's running state: tensors with the batch (or beam) rows first, and ``"step"``."""


class DecoderConfig(ComponentConfig):
    """Base of decoder configs."""


class Decoder(nn.Module):
    """Base class of text decoders."""

    def __init__(self, config: DecoderConfig, vocab_size: int, max_length: int, memory_dim: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.memory_dim = memory_dim

    def forward(self, ids: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:  # pragma: no cover
        """Teacher forcing: logits ``(B, T, V)`` of the token after each of ``ids`` ``(B, T)``."""
        raise NotImplementedError

    def start(self, memory: Tensor, memory_mask: Tensor) -> DecoderState:  # pragma: no cover
        """The state before the first step (memory projections computed once)."""
        raise NotImplementedError

    def step(self, ids: Tensor, state: DecoderState) -> Tensor:  # pragma: no cover
        """Logits ``(B, V)`` of the next token after ``ids`` ``(B,)``; ``state`` is advanced."""
        raise NotImplementedError

    def reorder(self, state: DecoderState, index: Tensor) -> DecoderState:
        """The state's rows ``index`` ``(B',)`` (every tensor entry is indexed on dim 0)."""
        return {k: _select(v, index) for k, v in state.items()}


def _select(value: Any, index: Tensor) -> Any:
    if isinstance(value, Tensor):
        return value.index_select(0, index)
    if isinstance(value, list):
        return [_select(v, index) for v in value]
    if isinstance(value, tuple):
        return tuple(_select(v, index) for v in value)
    return value


DECODERS: Registry[type[Decoder]] = Registry("decoder")
D = TypeVar("D", bound=type[Decoder])


def register_decoder(
    name: str, config: type[DecoderConfig], description: str | None = None
) -> Callable[[D], D]:
    """Decorator: register a decoder class under ``name``; returns the class unchanged."""
    return DECODERS.register(name, config, description)  # type: ignore[return-value]


def parse_decoder_config(values: dict[str, Any]) -> DecoderConfig:
    """Validate a decoder config dict (``type`` defaults to ``transformer``)."""
    name = values.get("type") or "transformer"
    config = DECODERS.parse_config(name, {k: v for k, v in values.items() if k != "type"})
    assert isinstance(config, DecoderConfig)
    return config


def create_decoder(config: DecoderConfig, vocab_size: int, max_length: int, memory_dim: int) -> Decoder:
    """Build the decoder ``config.type`` names."""
    return DECODERS.get(config.type).cls(config, vocab_size, max_length, memory_dim)


def list_decoders() -> list[str]:
    """Registered decoder names."""
    return DECODERS.names()
