"""Audio processor for pretrained speech models: the raw waveform at the model's sample rate.

Pretrained speech encoders (wav2vec2, HuBERT, Whisper) bring their own front end, so the processor
only reads, mixes to mono, resamples and crops (with :func:`~polyfuse.data.processors.audio.load_audio`)
and, when the model's feature extractor asks for it, standardises each clip to zero mean and unit
variance. ``sample_rate`` and ``normalize`` are derived from the checkpoint by the encoder's
``preprocessing``; ``fit`` learns nothing.

Shapes (N samples): ``transform`` -> ``{"waveform": (N,) float}``, ``1 <= N <= max_samples``;
``collate`` -> ``{"waveform": (B, N_max) float, "mask": (B, N_max) bool}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from polyfuse.data.processors._registry import register_processor
from polyfuse.data.processors.audio import load_audio
from polyfuse.data.processors.base import Features, Processor, is_missing


@register_processor("pretrained/waveform", "raw waveforms at a pretrained model's sample rate")
class WaveformProcessor(Processor):
    """Audio file or bytes -> mono waveform ``(N,)`` at the pretrained model's sample rate.

    Args:
        sample_rate: Rate in Hz the model was trained at.
        max_seconds: Clips are cropped to their first ``max_seconds`` seconds.
        normalize: Standardise each clip to zero mean, unit variance (wav2vec2-style extractors).
    """

    modality = "audio"

    def __init__(self, sample_rate: int = 16000, max_seconds: float = 10.0, normalize: bool = False) -> None:
        if sample_rate < 1 or max_seconds <= 0:
            raise ValueError(f"sample_rate and max_seconds must be > 0, got {sample_rate}, {max_seconds}")
        self.sample_rate = sample_rate
        self.max_seconds = max_seconds
        self.normalize = normalize

    @property
    def max_samples(self) -> int:
        """Samples kept: ``round(max_seconds * sample_rate)``."""
        return max(1, round(self.max_seconds * self.sample_rate))

    def fit(self, values: Sequence[Any]) -> WaveformProcessor:
        """Nothing to learn: the sample rate and normalisation are the model's."""
        return self

    def transform(self, value: Any) -> Features | None:
        """One clip -> ``{"waveform": (N,) float32}``; ``None`` when absent.

        Raises:
            BadValueError: The file is missing, unreadable, empty or holds non-finite samples.
        """
        if is_missing(value):
            return None
        waveform = torch.from_numpy(load_audio(value, self.sample_rate, self.max_seconds)[: self.max_samples])
        if self.normalize:
            waveform = (waveform - waveform.mean()) / torch.sqrt(waveform.var(unbiased=False) + 1e-7)
        return {"waveform": waveform}

    def collate(self, items: Sequence[Features | None]) -> Features:
        """Zero-pad to the longest clip; an absent row is all padding with an all-False mask."""
        lengths = [0 if item is None else int(item["waveform"].shape[0]) for item in items]
        n_max = max([1, *lengths])
        waveform = torch.zeros((len(items), n_max))
        for row, (item, length) in enumerate(zip(items, lengths, strict=True)):
            if item is not None:
                waveform[row, :length] = item["waveform"]
        mask = torch.arange(n_max).unsqueeze(0) < torch.tensor(lengths, dtype=torch.long).unsqueeze(1)
        return {"waveform": waveform, "mask": mask}  # (B, N_max) each

    def output_spec(self) -> dict[str, Any]:
        """``{"sample_rate", "max_samples"}``."""
        return {"sample_rate": self.sample_rate, "max_samples": self.max_samples}

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {"sample_rate": self.sample_rate, "max_seconds": self.max_seconds, "normalize": self.normalize}

    def get_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """No state."""
        return {}, {}
