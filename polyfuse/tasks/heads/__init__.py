"""Prediction heads (model shapes): mlp, late, hybrid. Importing this package registers them."""

from polyfuse._discovery import import_submodules
from polyfuse.tasks.heads.base import (
    HEADS,
    Head,
    HeadConfig,
    create_head,
    list_heads,
    parse_head_config,
    register_head,
)

import_submodules(__name__)

__all__ = ["HEADS", "Head", "HeadConfig", "create_head", "list_heads", "parse_head_config", "register_head"]
