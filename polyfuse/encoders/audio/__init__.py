"""From-scratch audio encoders; input ``{"mel": (B, 1, n_mels, F), "mask": (B, F) bool}``.

Built from the audio processor's spec ``{"n_mels", "max_frames"}``.
"""

from polyfuse._discovery import import_submodules
from polyfuse.encoders.audio.cnn import CNNAudioConfig, CNNAudioEncoder

__all__ = ["CNNAudioConfig", "CNNAudioEncoder"]

import_submodules(__name__)
