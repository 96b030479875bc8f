"""Fusions: combine per-input embeddings into one vector. Importing this package registers them."""

from polyfuse.fusion import concat as _concat  # noqa: F401  (registers)
from polyfuse.fusion._registry import (
    FUSIONS,
    create_fusion,
    list_fusions,
    parse_fusion_config,
    register_fusion,
)
from polyfuse.fusion.base import Fusion, FusionConfig

__all__ = [
    "FUSIONS",
    "Fusion",
    "FusionConfig",
    "create_fusion",
    "list_fusions",
    "parse_fusion_config",
    "register_fusion",
]
