"""The encoder contract.

An encoder is an ``nn.Module`` built from its config and the input spec of its fitted processor
(``Processor.output_spec()``). ``output_dim`` is known at construction. ``forward`` takes the batched
features of one input and returns an :class:`EncoderOutput`: always a pooled ``(B, D)`` vector, and a
token sequence ``(B, T, D)`` with its ``(B, T)`` bool mask when the encoder has one (for fusions
that attend over tokens and decoders that cross-attend), and the tokens' positions ``(B, T, P)``
when it knows them.

Legend: B batch, T tokens, D width, C channels, H/W height/width, F frames.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor, nn

from polyfuse._registry import ComponentConfig


class EncoderOutput(NamedTuple):
    """What every encoder returns."""

    pooled: Tensor
    """(B, D) one vector per row."""
    tokens: Tensor | None = None
    """(B, T, D) token sequence, when the encoder has one."""
    token_mask: Tensor | None = None
    """(B, T) True where a token is real (not padding)."""
    positions: Tensor | None = None
    """(B, T, P) where each token is (e.g. its x and y in [-1, 1]), when the encoder knows."""


class EncoderConfig(ComponentConfig):
    """Base of encoder configs; subclasses add their own fields, each with a description."""


class Encoder(nn.Module):
    """Base class: subclasses set ``self.output_dim`` in ``__init__`` and implement ``forward``."""

    output_dim: int

    def __init__(self, config: EncoderConfig, spec: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.spec = dict(spec)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:  # pragma: no cover - abstract
        raise NotImplementedError
