"""The prediction-head contract and registry: what turns the model's outputs into K numbers per row.

A head is the model's *shape* on top of the encoders: ``mlp`` reads the fused vector (early and
intermediate fusion), ``late`` gives each input its own head and combines their predictions, and
``hybrid`` combines a head on the fused vector with per-input heads. Fusions know nothing of heads
or tasks; the classification, regression and multi-label tasks pick a head with
``model.task.head: {type: ...}``.

Legend: B batch, D width, K outputs, M inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from torch import Tensor, nn

from polyfuse._registry import ComponentConfig, Registry

if TYPE_CHECKING:
    from polyfuse.model import Fused
    from polyfuse.tasks.base import ModelDims


class HeadConfig(ComponentConfig):
    """Base of head configs."""


class Head(nn.Module):
    """Base class: ``forward(out) -> (B, K)``; ``reads_fused`` says whether it needs a fusion."""

    reads_fused: ClassVar[bool] = True

    def __init__(self, dims: ModelDims, num_outputs: int, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        self.num_outputs = num_outputs

    def forward(self, out: Fused) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


HEADS: Registry[type[Head]] = Registry("head")
H = TypeVar("H", bound=type[Head])


def register_head(name: str, config: type[HeadConfig], description: str | None = None) -> Callable[[H], H]:
    """Decorator: register a head class under ``name``; returns the class unchanged."""
    return HEADS.register(name, config, description)  # type: ignore[return-value]


def parse_head_config(values: dict[str, Any]) -> HeadConfig:
    """Validate a head config dict (``type`` defaults to ``mlp``)."""
    name = values.get("type") or "mlp"
    config = HEADS.parse_config(name, {k: v for k, v in values.items() if k != "type"})
    assert isinstance(config, HeadConfig)
    return config


def create_head(config: HeadConfig, dims: ModelDims, num_outputs: int) -> Head:
    """Build the head ``config.type`` names."""
    return HEADS.get(config.type).cls(dims, num_outputs, config)


def list_heads() -> list[str]:
    """Registered head names."""
    return HEADS.names()
