"""Audio injectors: white noise at a set signal-to-noise ratio, dropped segments.

They act on ``{"mel": (B, 1, M, F), "mask": (B, F)}`` from the :class:`AudioProcessor`: natural-log
mel power, normalised with the processor's ``mean_`` / ``std_``; padding frames are left alone.

**White noise** is added where it physically adds: in linear mel power. The normalised log-mel is
taken back to power ``P = exp(x * std + mean)``; white noise has a flat power spectrum, so its
expected mel power in band ``m`` is proportional to the filter's total weight ``sum_k W[m, k]``
(the Slaney filterbank of :mod:`polyfuse.data.processors._mel`); the noise power of each cell is
drawn from a Gamma distribution with that mean and ``k_m = (sum_k W[m,k])^2 / sum_k W[m,k]^2``
degrees of freedom (a periodogram bin of white noise is exponential; a band averages ``k_m`` of
them). Noise is scaled per clip so that ``mean(P) / mean(noise) = 10^(SNR / 10)`` over the clip's
real frames, i.e. the SNR is measured on the mel power spectrogram. The level maps linearly to
the SNR (:func:`level_to_snr_db`): ``SNR_dB = 40 - 50 * level`` (0.1 -> 35 dB, 0.5 -> 15 dB,
0.8 -> 0 dB, 0.9 -> -5 dB); level 0 adds nothing.

**Dropped segments**: each clip's real frames are cut into 10 equal segments and
``round(10 * level)`` of them, chosen at random, become silence (the log floor of the processor).

Legend: B batch, M mel bands, F frames, K FFT bins.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from polyfuse.data.processors._mel import LOG_FLOOR, mel_filterbank
from polyfuse.data.processors.base import Features
from polyfuse.evaluation.noise._registry import Injector, register_injector

NUM_SEGMENTS = 10
"""Segments a clip is cut into by ``dropped_segments``."""


def level_to_snr_db(level: float) -> float:
    """The signal-to-noise ratio in dB that ``white_noise`` uses at ``level`` (> 0): ``40 - 50 * level``."""
    return 40.0 - 50.0 * level


class AudioInjector(Injector):
    """Shared part: the processor's normalisation statistics."""

    modality = "audio"
    processors = ("audio",)  # log-mel spectrograms, not a pretrained encoder's waveform

    def _stats(self) -> tuple[float, float]:
        mean, std = self.processor.mean_, self.processor.std_  # type: ignore[attr-defined]
        if mean is None or std is None:
            raise RuntimeError("the audio processor is not fitted")
        return float(mean), float(std)


@register_injector("audio", "white_noise", "white noise at SNR = 40 - 50 * level dB (mel power)")
class WhiteNoiseInjector(AudioInjector):
    """Additive white noise in linear mel power at ``SNR_dB = 40 - 50 * level`` (see module doc)."""

    def _bands(self) -> tuple[np.ndarray, np.ndarray]:
        """Relative mean noise power per band (mean 1) and Gamma shapes, both ``(M,)``."""
        p = self.processor
        f_max = p.sample_rate / 2.0 if p.f_max is None else p.f_max  # type: ignore[attr-defined]
        weights = mel_filterbank(p.sample_rate, p.n_fft, p.n_mels, p.f_min, f_max).double().numpy()  # type: ignore[attr-defined]  # (M, K)
        total = weights.sum(axis=1)  # (M,)
        squares = (weights**2).sum(axis=1)
        shape = np.where(squares > 0, total**2 / np.maximum(squares, 1e-30), 1.0)
        return total / max(float(total.mean()), 1e-30), shape

    def apply(self, features: Features, level: float, generator: torch.Generator) -> Features:
        mel, mask = features["mel"], features["mask"]  # (B, 1, M, F), (B, F)
        batch, _, n_mels, frames = mel.shape
        mean, std = self._stats()
        power = torch.exp(mel.double() * std + mean)  # (B, 1, M, F) linear mel power
        valid = mask[:, None, None, :].to(power.dtype)  # (B, 1, 1, F)
        cells = valid.sum(dim=(1, 2, 3)).clamp_min(1.0) * n_mels  # (B,)
        signal = (power * valid).sum(dim=(1, 2, 3)) / cells  # (B,) mean mel power per clip
        noise_mean = signal / 10.0 ** (level_to_snr_db(level) / 10.0)  # (B,)
        band, shape = self._bands()
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))
        k = shape[None, None, :, None]
        draws = rng.gamma(k, 1.0 / k, size=(batch, 1, n_mels, frames))  # mean 1
        noise = torch.from_numpy(band[None, None, :, None] * draws).to(power.device)  # (B, 1, M, F)
        noisy = (power + noise_mean.view(-1, 1, 1, 1) * noise).clamp_min(LOG_FLOOR).log()
        out = torch.where(valid.bool(), (noisy - mean) / std, mel.double())
        return {**features, "mel": out.to(mel.dtype)}


@register_injector("audio", "dropped_segments", "round(10 * level) of 10 segments become silence")
class DroppedSegmentsInjector(AudioInjector):
    """Silences ``round(10 * level)`` of the 10 equal segments of each clip, chosen at random."""

    def apply(self, features: Features, level: float, generator: torch.Generator) -> Features:
        mel, mask = features["mel"], features["mask"]  # (B, 1, M, F), (B, F)
        mean, std = self._stats()
        silence = (math.log(LOG_FLOOR) - mean) / std
        drop = round(NUM_SEGMENTS * level)
        out = mel.clone()
        lengths = mask.sum(dim=1).tolist()  # (B,)
        for row, length in enumerate(lengths):
            order = torch.randperm(NUM_SEGMENTS, generator=generator).tolist()
            if length == 0:
                continue
            bounds = [round(i * length / NUM_SEGMENTS) for i in range(NUM_SEGMENTS + 1)]
            for segment in order[:drop]:
                out[row, :, :, bounds[segment] : bounds[segment + 1]] = silence
        return {**features, "mel": out}
