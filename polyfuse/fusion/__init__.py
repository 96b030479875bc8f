"""Fusions: combine per-input embeddings into one vector. Importing this package registers them."""

from polyfuse._discovery import import_submodules
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

import_submodules(__name__)
