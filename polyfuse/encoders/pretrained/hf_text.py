"""``text/hf``: any Hugging Face ``AutoModel`` text encoder (BERT, RoBERTa, MiniLM, multilingual BERTs).

The checkpoint is a hub name, a local directory written by ``save_pretrained``, or
``package:NAME``; both the weights (``AutoModel``) and the tokenizer (``AutoTokenizer``, through
:class:`~polyfuse.data.processors.pretrained_text.PretrainedTextProcessor`) come from it.

Legend: B batch, T tokens, D width.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from polyfuse.data.processors.base import Processor
from polyfuse.data.processors.pretrained_text import PretrainedTextProcessor
from polyfuse.encoders._layers import ensure_one_real_step
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


class HFTextOptions(FineTuneConfig):
    """Pooling and output options shared by ``text/hf`` and ``text/minilm``."""

    pooling: Literal["cls", "mean", "attention"] = Field(
        "mean", description="cls (first token), mean of real tokens, or learned attention pooling"
    )
    normalize: bool = Field(False, description="L2-normalise the pooled vector (sentence embeddings)")


class HFTextConfig(HFTextOptions):
    """Options of :class:`HFTextEncoder`."""

    checkpoint: str = Field(
        ..., description="hub name, local save_pretrained directory, or package:NAME (weights + tokenizer)"
    )
    download: bool = Field(False, description="allow downloading a hub checkpoint missing locally")


@register_encoder("text", "hf", HFTextConfig)
class HFTextEncoder(FrozenAware):
    """A Hugging Face ``AutoModel`` over the checkpoint's own tokens.

    Input ``{"ids": (B, T) long, "mask": (B, T) bool}``; output pooled ``(B, D)``, the last hidden
    states as tokens ``(B, T, D)`` and the input mask (``D`` = the model's ``hidden_size``).
    """

    trainable_modes: ClassVar[tuple[str, ...]] = ("frozen", "all", "last_n")

    def __init__(self, config: HFTextOptions, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        checkpoint, download = self.source(config)
        transformers = require("transformers")
        backbone = transformers.AutoModel.from_pretrained(checkpoint, local_files_only=not download)
        if getattr(backbone, "pooler", None) is not None:  # NSP-trained dense+tanh head: unused
            backbone.pooler = None
        self.backbone = backbone
        self.output_dim = int(backbone.config.hidden_size)
        self.pool = Pooling(config.pooling, self.output_dim)
        self.normalize = config.normalize
        set_trainable(self.backbone, config.trainable, config.last_n)

    @classmethod
    def source(cls, config: EncoderConfig) -> tuple[str, bool]:
        """``(checkpoint for from_pretrained, download allowed)``."""
        assert isinstance(config, HFTextConfig)
        return resolve_checkpoint(config.checkpoint), config.download

    @classmethod
    def tokenizer_name(cls, config: EncoderConfig) -> str:
        """The checkpoint name the processor stores (``package:NAME`` kept unresolved)."""
        assert isinstance(config, HFTextConfig)
        return config.checkpoint

    @classmethod
    def preprocessing(cls, config: EncoderConfig, options: Mapping[str, Any]) -> Processor:
        """The checkpoint's tokenizer (``max_length`` may be set in ``data.processors``)."""
        derived = {"tokenizer": cls.tokenizer_name(config), "download": cls.source(config)[1]}
        return derive_processor(PretrainedTextProcessor, derived, options, config.type)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        ids, mask = x["ids"], x["mask"].bool()  # (B, T), (B, T)
        with self.grad_context():
            hidden = self.backbone(input_ids=ids, attention_mask=ensure_one_real_step(mask).long())
        tokens = hidden.last_hidden_state * mask.unsqueeze(-1)  # (B, T, D), zero at padding
        pooled = self.pool(tokens, mask)  # (B, D)
        if self.normalize:
            pooled = F.normalize(pooled, dim=-1)
        return EncoderOutput(pooled, tokens, mask)
