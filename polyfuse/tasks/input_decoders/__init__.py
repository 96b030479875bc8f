"""Input decoders: rebuild one input's features from a latent vector (autoencoders).

One registry keyed by ``modality/name`` (``image/mlp``, ``image/deconv``, ``audio/mlp``,
``tabular/mlp``, ``text/rnn``); importing this package registers every decoder module in it.
"""

from polyfuse._discovery import import_submodules
from polyfuse.tasks.input_decoders.base import (
    DECODERS,
    InputDecoder,
    InputDecoderConfig,
    create_input_decoder,
    decoder_modalities,
    register_input_decoder,
)

import_submodules(__name__)

__all__ = [
    "DECODERS",
    "InputDecoder",
    "InputDecoderConfig",
    "create_input_decoder",
    "decoder_modalities",
    "register_input_decoder",
]
