"""Text decoders of the generation task: transformer, LSTM/GRU with attention. Importing this
package registers them."""

from polyfuse._discovery import import_submodules
from polyfuse.tasks.decoders.base import (
    DECODERS,
    Decoder,
    DecoderConfig,
    create_decoder,
    list_decoders,
    parse_decoder_config,
    register_decoder,
)

import_submodules(__name__)

__all__ = [
    "DECODERS",
    "Decoder",
    "DecoderConfig",
    "create_decoder",
    "list_decoders",
    "parse_decoder_config",
    "register_decoder",
]
