"""Encoders: one input's tensors -> a pooled vector (and tokens). Importing this package registers
the from-scratch encoders (``text/*``, ``image/*``, ``audio/*``, ``tabular/*``) and the
pretrained ones (:mod:`polyfuse.encoders.pretrained`)."""

from polyfuse._discovery import import_submodules
from polyfuse.encoders._registry import (
    DEFAULT_ENCODERS,
    ENCODERS,
    create_encoder,
    list_encoders,
    parse_encoder_config,
    register_encoder,
)
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput

__all__ = [
    "DEFAULT_ENCODERS",
    "ENCODERS",
    "Encoder",
    "EncoderConfig",
    "EncoderOutput",
    "create_encoder",
    "list_encoders",
    "parse_encoder_config",
    "register_encoder",
]

import_submodules(__name__)
