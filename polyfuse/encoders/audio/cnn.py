"""``audio/cnn``: a 2-D CNN over the log-mel spectrogram, pooled over frequency then time.

Legend: B batch, C channels, M mel bands, F frames (F' after downsampling), D width.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as functional
from pydantic import Field
from torch import Tensor, nn

from polyfuse.encoders._layers import MaxPool2x2, Norm, PositiveInts, conv_norm_relu, masked_mean
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput


class CNNAudioConfig(EncoderConfig):
    """Options of :class:`CNNAudioEncoder`."""

    widths: PositiveInts = Field(
        [32, 64, 128, 128],
        min_length=1,
        max_length=8,
        description="channels of each stage; each stage halves mel bands and frames",
    )
    norm: Norm = Field(
        "batch", description="normalisation after each conv: batch or group (for tiny batches)"
    )


def _halve_mask(mask: Tensor) -> Tensor:
    """(B, F) bool -> (B, ceil(F / 2)) bool: a pooled frame is real if either source frame is."""
    pooled = functional.max_pool1d(mask.unsqueeze(1).float(), 2, ceil_mode=True)  # (B, 1, F/2)
    return pooled.squeeze(1).bool()


@register_encoder("audio", "cnn", CNNAudioConfig)
class CNNAudioEncoder(Encoder):
    """Stages of 3x3 conv, norm, ReLU and 2x2 max-pool over (mel, time); frequency averaged.

    Input ``{"mel": (B, 1, M, F), "mask": (B, F) bool}``; output pooled ``(B, D)`` (masked mean
    over time), tokens ``(B, F', D)`` (one per downsampled frame, zero at padding) and their mask
    ``(B, F')``, with ``D = widths[-1]`` and ``F' = ceil(F / 2**len(widths))``. Padded frames are
    zeroed before every stage, so results do not depend on the padding; rows with no real frame
    give zeros.
    """

    def __init__(self, config: CNNAudioConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        channels = [1, *config.widths]
        self.stages = nn.ModuleList(
            conv_norm_relu(c_in, c_out, config.norm) for c_in, c_out in pairwise(channels)
        )
        self.pool = MaxPool2x2()
        self.output_dim = config.widths[-1]

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        mask = x["mask"].bool()  # (B, F)
        hidden = x["mel"] * mask[:, None, None, :]  # (B, 1, M, F)
        for stage in self.stages:
            if hidden.device.type == "cpu":  # oneDNN's channels-last kernels (a 1-channel input stays NCHW)
                hidden = hidden.contiguous(memory_format=torch.channels_last)
            hidden = stage(hidden) * mask[:, None, None, :]  # (B, C, M, F)
            hidden, mask = self.pool(hidden), _halve_mask(mask)  # (B, C, M/2, F/2), (B, F/2)
        tokens = hidden.mean(dim=2).transpose(1, 2) * mask.unsqueeze(-1)  # (B, F', D)
        return EncoderOutput(masked_mean(tokens, mask), tokens, mask)
