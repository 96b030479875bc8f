"""``image/hf``: a Hugging Face vision backbone: ViT, DINOv2, the CLIP/SigLIP vision tower
(transformers), ConvNeXt, ResNet, RegNet, EfficientNet (CNNs).

Weights come from ``AutoModel`` (for a two-tower checkpoint such as CLIP, its ``vision_model``);
the input size and mean/std come from the same checkpoint's ``AutoImageProcessor`` config and
drive a :class:`~polyfuse.data.processors.pretrained_image.PretrainedImageProcessor`.

Legend: B batch, C channels, H/W height/width, T tokens, D width.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor

from polyfuse.data.processors.base import Processor
from polyfuse.data.processors.pretrained_image import PretrainedImageProcessor
from polyfuse.encoders._layers import spatial_tokens
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import EncoderConfig, EncoderOutput
from polyfuse.encoders.pretrained._common import (
    FineTuneConfig,
    FrozenAware,
    Pooling,
    derive_processor,
    require,
    resolve_checkpoint,
    set_trainable,
)


class HFImageConfig(FineTuneConfig):
    """Options of :class:`HFImageEncoder`."""

    checkpoint: str = Field(
        ..., description="hub name or local save_pretrained directory (weights + image processor)"
    )
    pooling: Literal["cls", "mean", "attention"] = Field(
        "cls", description="cls (the model's pooled output or first token), mean of tokens, or attention"
    )
    download: bool = Field(False, description="allow downloading a hub checkpoint missing locally")


@register_encoder("image", "hf", HFImageConfig)
class HFImageEncoder(FrozenAware):
    """A Hugging Face vision model over pixels prepared as its image processor prescribes.

    Input ``{"pixels": (B, 3, H, W)}``; output pooled ``(B, D)`` and the last hidden states as
    tokens ``(B, T, D)`` (patches, or a CNN's final map flattened row-major) with an all-True mask.
    """

    trainable_modes: ClassVar[tuple[str, ...]] = ("frozen", "all", "last_n")

    def __init__(self, config: HFImageConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        transformers = require("transformers")
        model = transformers.AutoModel.from_pretrained(
            resolve_checkpoint(config.checkpoint), local_files_only=not config.download
        )
        vision = getattr(model, "vision_model", None)  # CLIP / SigLIP: keep the image tower only
        self.backbone = vision if vision is not None else model
        pooler = getattr(self.backbone, "pooler", None)
        if isinstance(pooler, torch.nn.Module) and any(True for _ in pooler.parameters()):
            # ViT's dense+tanh head (untrained, unused); a CNN's parameter-free average pool stays,
            # as ResNet, RegNet and EfficientNet call it unconditionally
            self.backbone.pooler = None
        model_config = model.config.vision_config if vision is not None else model.config
        self.output_dim = backbone_width(self.backbone, model_config)
        self.pool = Pooling(config.pooling, self.output_dim)
        set_trainable(self.backbone, config.trainable, config.last_n)

    @classmethod
    def preprocessing(cls, config: EncoderConfig, options: Mapping[str, Any]) -> Processor:
        """Size, resizing and mean/std from the checkpoint's image processor config."""
        assert isinstance(config, HFImageConfig)
        return checkpoint_image_processor(config.checkpoint, config.download, options, config.type)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        with self.grad_context():
            out = self.backbone(pixel_values=x["pixels"])
        hidden = out.last_hidden_state
        if hidden.dim() == 4:  # a CNN's (B, D, H', W') map
            tokens, mask = spatial_tokens(hidden)  # (B, H'*W', D), (B, H'*W')
        else:
            tokens = hidden  # (B, T, D)
            mask = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)  # (B, T)
        pooled = getattr(out, "pooler_output", None)
        if pooled is not None and pooled.dim() > 2:
            pooled = pooled.flatten(1)
        return EncoderOutput(self.pool(tokens, mask, pooled), tokens, mask)


def backbone_width(backbone: torch.nn.Module, config: Any) -> int:
    """Channels of the backbone's last hidden state, read from its config (or, for EfficientNet,
    whose config does not hold it, from its final convolution)."""
    width = getattr(config, "hidden_size", None)
    if isinstance(width, int):
        return width
    sizes = getattr(config, "hidden_sizes", None)
    if sizes:
        return int(sizes[-1])
    top = getattr(getattr(backbone, "encoder", None), "top_conv", None)  # EfficientNet
    if isinstance(top, torch.nn.Conv2d):
        return int(top.out_channels)
    raise ValueError(
        f"image/hf cannot tell the output width of a {getattr(config, 'model_type', '?')!r} checkpoint;"
        " supported: ViT, DINOv2, CLIP/SigLIP vision, ConvNeXt, ResNet, RegNet, EfficientNet"
    )


def checkpoint_image_processor(
    checkpoint: str, download: bool, options: Mapping[str, Any], owner: str
) -> Processor:
    """The unfitted image processor a checkpoint's own image processor config describes (size,
    resizing, mean/std), with the user's other ``options``."""
    transformers = require("transformers")
    image_processor = transformers.AutoImageProcessor.from_pretrained(
        resolve_checkpoint(checkpoint), local_files_only=not download
    )
    derived = image_preprocessing(image_processor.to_dict())
    return derive_processor(PretrainedImageProcessor, derived, options, owner)


def image_preprocessing(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A Hugging Face image processor config -> ``PretrainedImageProcessor`` size, resize, mean, std.

    A centre crop (``do_center_crop`` + ``crop_size``) or a ``shortest_edge`` size becomes
    ``resize="crop"`` at the crop size; an exact ``height``/``width`` becomes ``"squash"``.
    """
    size = settings.get("size") or {}
    crop = settings.get("crop_size") or {}
    if isinstance(size, int):
        size = {"shortest_edge": size}
    if settings.get("do_center_crop") and crop:
        height, width, resize = crop["height"], crop["width"], "crop"
    elif "height" in size:
        height, width, resize = size["height"], size["width"], "squash"
    elif "shortest_edge" in size:
        height = width = size["shortest_edge"]
        resize = "crop"
    else:
        raise ValueError(f"cannot read an input size from the image processor config: {dict(settings)}")
    normalize = settings.get("do_normalize", True)
    mean = list(settings.get("image_mean") or (0.0, 0.0, 0.0)) if normalize else [0.0, 0.0, 0.0]
    std = list(settings.get("image_std") or (1.0, 1.0, 1.0)) if normalize else [1.0, 1.0, 1.0]
    return {"size": [int(height), int(width)], "resize": resize, "mean": mean, "std": std}
