"""``image/hf_clip``: the vision tower of a CLIP checkpoint, projected into CLIP's joint space.

Pair it with ``text/hf_clip`` on the same checkpoint (see :mod:`polyfuse.encoders.pretrained._clip`).
Input size, resizing and mean/std come from the checkpoint's image processor (``AutoImageProcessor``),
as for ``image/hf``. For the vision tower alone (its hidden width, no projection) use ``image/hf``.

Legend: B batch, C channels, H/W height/width, P patches, D the projection width.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from polyfuse.data.processors.base import Processor
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import EncoderConfig, EncoderOutput
from polyfuse.encoders.pretrained._clip import ClipTower, HFClipConfig
from polyfuse.encoders.pretrained.hf_image import checkpoint_image_processor


@register_encoder("image", "hf_clip", HFClipConfig)
class HFClipImageEncoder(ClipTower):
    """CLIP vision tower + visual projection over pixels prepared as the checkpoint prescribes.

    Input ``{"pixels": (B, 3, H, W)}``. Output pooled ``(B, D)``: the projected class token
    (``get_image_features``), L2-normalised with ``normalize``; tokens ``(B, 1 + P, D)``: the
    class token and every patch through the same final norm and projection, all real.
    """

    tower: ClassVar[str] = "vision"

    @classmethod
    def preprocessing(cls, config: EncoderConfig, options: Mapping[str, Any]) -> Processor:
        """Size, resizing and mean/std from the checkpoint's image processor config."""
        assert isinstance(config, HFClipConfig)
        return checkpoint_image_processor(config.checkpoint, config.download, options, config.type)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        with self.grad_context():
            out = self.backbone(pixel_values=x["pixels"])
            hidden = self.backbone.vision_model.post_layernorm(out.last_hidden_state)  # (B, 1 + P, W)
            tokens = self.backbone.visual_projection(hidden)  # (B, 1 + P, D)
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)  # (B, 1 + P)
        pooled = F.normalize(out.image_embeds, dim=-1) if self.normalize else out.image_embeds
        return EncoderOutput(pooled, tokens, mask)
