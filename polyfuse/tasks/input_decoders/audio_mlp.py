"""``audio/mlp``: latent -> MLP -> a normalised log-mel spectrogram ``(M, F_max)``.

The audio processor gives ``{"mel": (B, 1, M, F), "mask": (B, F)}`` (padded to the batch's longest
clip); the reconstruction has the longest a clip can be, ``F_max`` frames, and is compared with
the real frames only.

Legend: B batch, L latent width, M mel bands, F frames.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from polyfuse.data.processors.base import Features
from polyfuse.tasks.input_decoders.base import (
    InputDecoder,
    InputDecoderConfig,
    mlp,
    register_input_decoder,
)


@register_input_decoder("audio", "mlp", InputDecoderConfig, "MLP to a log-mel spectrogram")
class MlpAudioDecoder(InputDecoder):
    """``(B, L)`` -> ``(B, M, F_max)`` normalised log-mel values."""

    def __init__(self, config: InputDecoderConfig, spec: dict[str, Any], latent_dim: int) -> None:
        super().__init__(config, spec, latent_dim)
        self.n_mels, self.max_frames = int(spec["n_mels"]), int(spec["max_frames"])
        self.net = mlp([latent_dim, *config.hidden_dims, self.n_mels * self.max_frames])

    def forward(self, latent: Tensor) -> Tensor:
        return self.net(latent).view(-1, self.n_mels, self.max_frames)  # (B, M, F_max)

    def truth(self, features: Features) -> Tensor:
        """The batch's mel ``(B, M, F_max)``, zero-padded or cropped to F_max frames."""
        mel = features["mel"].float().squeeze(1)  # (B, M, F)
        frames = mel.shape[-1]
        if frames >= self.max_frames:
            return mel[..., : self.max_frames]
        return F.pad(mel, (0, self.max_frames - frames))

    def _mask(self, features: Features) -> Tensor:
        mask = features["mask"].float()  # (B, F)
        frames = mask.shape[-1]
        if frames >= self.max_frames:
            return mask[:, : self.max_frames]
        return F.pad(mask, (0, self.max_frames - frames))  # (B, F_max)

    def row_loss(self, reconstruction: Tensor, features: Features) -> Tensor:
        mask = self._mask(features).unsqueeze(1)  # (B, 1, F_max)
        error = (reconstruction.float() - self.truth(features)).square() * mask
        return error.sum((1, 2)) / (mask.sum((1, 2)) * self.n_mels).clamp(min=1.0)  # (B,)
