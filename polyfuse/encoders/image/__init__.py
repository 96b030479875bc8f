"""From-scratch image encoders; input ``{"pixels": (B, C, H, W)}``.

Built from the image processor's spec ``{"channels", "height", "width"}``.
"""

from polyfuse._discovery import import_submodules
from polyfuse.encoders.image.cnn import CNNImageConfig, CNNImageEncoder
from polyfuse.encoders.image.resnet import ResNetImageConfig, ResNetImageEncoder

__all__ = [
    "CNNImageConfig",
    "CNNImageEncoder",
    "ResNetImageConfig",
    "ResNetImageEncoder",
]

import_submodules(__name__)
