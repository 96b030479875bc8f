"""Encoders: one input's tensors -> a pooled vector (and tokens). Importing this package registers
the from-scratch encoders (``text/*``, ``image/*``, ``audio/*``, ``tabular/*``) and the
pretrained ones (:mod:`polyfuse.encoders.pretrained`)."""

from polyfuse.encoders import audio as _audio  # noqa: F401  (registers)
from polyfuse.encoders import image as _image  # noqa: F401  (registers)
from polyfuse.encoders import pretrained as _pretrained  # noqa: F401  (registers; issue 5)
from polyfuse.encoders import tabular as _tabular  # noqa: F401  (registers)
from polyfuse.encoders import text as _text  # noqa: F401  (registers)
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
