"""``text/hf_clip``: the text tower of a CLIP checkpoint, projected into CLIP's joint image-text space.

Pair it with ``image/hf_clip`` on the same checkpoint: their pooled vectors are
``CLIPModel.get_text_features`` and ``get_image_features``, in one space (see
:mod:`polyfuse.encoders.pretrained._clip`). The tokenizer comes from the checkpoint
(``AutoTokenizer``), and the longest text from its position table (77 tokens for OpenAI CLIP).

Legend: B batch, T tokens, D the projection width (``projection_dim``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor

from polyfuse.data.processors.base import Processor
from polyfuse.data.processors.pretrained_text import PretrainedTextProcessor
from polyfuse.encoders._layers import ensure_one_real_step
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import EncoderConfig, EncoderOutput
from polyfuse.encoders.pretrained._clip import ClipTower, HFClipConfig, tower_config
from polyfuse.encoders.pretrained._common import derive_processor


@register_encoder("text", "hf_clip", HFClipConfig)
class HFClipTextEncoder(ClipTower):
    """CLIP text tower + text projection over the checkpoint's own BPE tokens.

    Input ``{"ids": (B, T) long, "mask": (B, T) bool}``. Output pooled ``(B, D)``: the projected
    state of the end-of-text token (``get_text_features``), L2-normalised with ``normalize``,
    zeros for an absent text; tokens ``(B, T, D)``: every final state through the same projection
    (zero at padding), with the input mask.
    """

    tower: ClassVar[str] = "text"

    @classmethod
    def preprocessing(cls, config: EncoderConfig, options: Mapping[str, Any]) -> Processor:
        """The checkpoint's tokenizer; ``max_length`` (at most the model's positions) may be set."""
        assert isinstance(config, HFClipConfig)
        positions = int(tower_config(config, "text").max_position_embeddings)
        options = dict(options)
        max_length = options.pop("max_length", positions)
        if not 2 <= max_length <= positions:
            raise ValueError(
                f"max_length of {config.type} must be between 2 and {positions}, got {max_length}"
            )
        derived = {"tokenizer": config.checkpoint, "download": config.download, "max_length": max_length}
        return derive_processor(PretrainedTextProcessor, derived, options, config.type)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        ids, mask = x["ids"], x["mask"].bool()  # (B, T), (B, T)
        with self.grad_context():
            out = self.backbone(input_ids=ids, attention_mask=ensure_one_real_step(mask).long())
            tokens = self.backbone.text_projection(out.last_hidden_state)  # (B, T, D)
        present = mask.any(dim=1, keepdim=True)  # (B, 1)
        pooled = out.text_embeds * present  # (B, D)
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        return EncoderOutput(pooled, tokens * mask.unsqueeze(-1), mask)
