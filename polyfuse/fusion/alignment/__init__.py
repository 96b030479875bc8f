"""Alignment objectives: auxiliary losses that pull the inputs' embeddings into one space.

Importing this package registers them.
"""

from polyfuse._discovery import import_submodules
from polyfuse.fusion.alignment._registry import (
    ALIGNMENTS,
    create_alignment,
    list_alignments,
    parse_alignment_config,
    register_alignment,
)
from polyfuse.fusion.alignment.base import Aligner, AlignmentConfig

__all__ = [
    "ALIGNMENTS",
    "Aligner",
    "AlignmentConfig",
    "create_alignment",
    "list_alignments",
    "parse_alignment_config",
    "register_alignment",
]

import_submodules(__name__)
