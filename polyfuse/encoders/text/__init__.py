"""From-scratch text encoders; input ``{"ids": (B, T) long, "mask": (B, T) bool}``.

Built from the text processor's spec ``{"vocab_size", "pad_id", "max_length"}``.
"""

from polyfuse._discovery import import_submodules
from polyfuse.encoders.text.bag import BagTextConfig, BagTextEncoder
from polyfuse.encoders.text.cnn import CNNTextConfig, CNNTextEncoder
from polyfuse.encoders.text.rnn import BiGRUTextConfig, BiGRUTextEncoder, LSTMTextConfig, LSTMTextEncoder
from polyfuse.encoders.text.transformer import TransformerTextConfig, TransformerTextEncoder

__all__ = [
    "BagTextConfig",
    "BagTextEncoder",
    "BiGRUTextConfig",
    "BiGRUTextEncoder",
    "CNNTextConfig",
    "CNNTextEncoder",
    "LSTMTextConfig",
    "LSTMTextEncoder",
    "TransformerTextConfig",
    "TransformerTextEncoder",
]

import_submodules(__name__)
