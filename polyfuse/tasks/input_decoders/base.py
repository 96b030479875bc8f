"""The input-decoder contract and its registry.

An input decoder is built from its config, the input's spec (the processor's ``output_spec()``
plus ``modality``, see :func:`polyfuse.builder.task_spec`) and the latent width L. It maps a latent
``(B, L)`` to a reconstruction of the input's features, and scores a reconstruction against the
batch's features row by row, so that absent rows can be left out.

Legend: B batch, L latent width.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any, TypeVar

from pydantic import Field
from torch import Tensor, nn

from polyfuse._registry import ComponentConfig, Registry
from polyfuse.data.processors.base import Features


class InputDecoderConfig(ComponentConfig):
    """Base of input-decoder configs."""

    hidden_dims: list[int] = Field(
        default_factory=lambda: [128], description="hidden widths of the MLP from the latent"
    )


class InputDecoder(nn.Module):
    """Latent ``(B, L)`` -> a reconstruction of one input's features."""

    def __init__(self, config: InputDecoderConfig, spec: dict[str, Any], latent_dim: int) -> None:
        super().__init__()
        self.config = config
        self.spec = dict(spec)
        self.latent_dim = latent_dim

    def forward(self, latent: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The reconstruction (``(B, ...)``, the decoder's own layout)."""
        raise NotImplementedError

    def row_loss(self, reconstruction: Tensor, features: Features) -> Tensor:  # pragma: no cover
        """(B,) reconstruction loss of each row against the batch's features of this input."""
        raise NotImplementedError

    def truth(self, features: Features) -> Tensor:
        """What :meth:`row_loss` compares with, in the reconstruction's layout (for metrics)."""
        raise NotImplementedError

    def to_values(self, reconstruction: Tensor) -> list[Any]:
        """One value per row for the prediction frame (default: nested lists of floats)."""
        return [row.tolist() for row in reconstruction.float().cpu()]


DECODERS: Registry[type[InputDecoder]] = Registry("input decoder")
T = TypeVar("T", bound=type[InputDecoder])


def register_input_decoder(
    modality: str, name: str, config: type[InputDecoderConfig], description: str | None = None
) -> Callable[[T], T]:
    """Decorator registering a decoder of ``modality`` inputs as ``modality/name``."""
    return DECODERS.register(f"{modality}/{name}", config, description)  # type: ignore[return-value]


def decoder_modalities() -> list[str]:
    """Modalities that have at least one decoder."""
    return sorted({name.split("/")[0] for name in DECODERS.names()})


DEFAULT_DECODERS = {"image": "deconv", "audio": "mlp", "tabular": "mlp", "text": "rnn"}
"""The decoder each modality gets when its section names no ``type``."""


def create_input_decoder(
    modality: str, options: dict[str, Any], spec: dict[str, Any], latent_dim: int
) -> InputDecoder:
    """Build the decoder ``options["type"]`` names (default per modality) for one input."""
    name = options.get("type") or DEFAULT_DECODERS.get(modality)
    if name is None:
        raise ValueError(
            f"no decoder rebuilds {modality} inputs; decoders exist for {', '.join(decoder_modalities())}"
        )
    entry = DECODERS.get(f"{modality}/{name}")
    config = entry.config_cls.model_validate({**options, "type": f"{modality}/{name}"})
    assert isinstance(config, InputDecoderConfig)
    return entry.cls(config, spec, latent_dim)


def mlp(widths: list[int], last_activation: bool = False) -> nn.Sequential:
    """Linear layers between consecutive ``widths`` with ReLU between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or last_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
