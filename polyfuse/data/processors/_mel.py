"""Log-mel spectrogram in torch, with a Slaney mel filterbank written in numpy.

The mel scale is Slaney's (the Auditory Toolbox's, librosa's default ``htk=False``): linear below
1 kHz (``mel = f / (200 / 3)``), logarithmic above (``mel = 15 + 27 * ln(f / 1000) / ln(6.4)``).
Each triangular filter is divided by its width in Hz (Slaney "area" normalisation, librosa's
``norm="slaney"``), so filters carry about equal energy for white noise. The construction is
that of ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)``.

Legend: N samples, K = n_fft // 2 + 1 frequency bins, F frames, M = n_mels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

LOG_FLOOR = 1e-10
"""Smallest mel power before the logarithm (silence maps to ``ln(1e-10)`` ~ -23)."""

_F_SP = 200.0 / 3.0  # Hz per mel in the linear region
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15 mels at 1 kHz
_LOG_STEP = float(np.log(6.4) / 27.0)


def hz_to_mel(hz: npt.ArrayLike) -> np.ndarray:
    """Frequencies in Hz -> Slaney mels (same shape)."""
    freq = np.asarray(hz, dtype=np.float64)
    linear = freq / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(freq, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOG_STEP
    return np.where(freq >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mel: npt.ArrayLike) -> np.ndarray:
    """Slaney mels -> frequencies in Hz (same shape); inverse of :func:`hz_to_mel`."""
    mels = np.asarray(mel, dtype=np.float64)
    linear = mels * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOG_STEP * (mels - _MIN_LOG_MEL))
    return np.where(mels >= _MIN_LOG_MEL, log, linear)


def mel_band_edges(n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """The ``n_mels + 2`` filter corner frequencies in Hz; filter ``m`` peaks at ``edges[m + 1]``."""
    return mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))


@lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> Tensor:
    """Slaney-normalised triangular filters, float32 ``(M, K)``; cached, do not modify in place."""
    fft_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)  # (K,)
    edges = mel_band_edges(n_mels, f_min, f_max)  # (M + 2,)
    widths = np.diff(edges)  # (M + 1,)
    ramps = edges[:, None] - fft_hz[None, :]  # (M + 2, K)
    rising = -ramps[:-2] / widths[:-1, None]  # (M, K)
    falling = ramps[2:] / widths[1:, None]  # (M, K)
    weights = np.maximum(0.0, np.minimum(rising, falling))  # (M, K)
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # area normalisation
    return torch.from_numpy(weights.astype(np.float32))


@lru_cache(maxsize=16)
def _hann(n_fft: int) -> Tensor:
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float32)


def num_frames(num_samples: int, hop_length: int) -> int:
    """Frames :func:`log_mel_spectrogram` returns for ``num_samples`` samples (centred STFT)."""
    return 1 + num_samples // hop_length


def log_mel_spectrogram(
    waveform: Tensor,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    f_min: float,
    f_max: float,
) -> Tensor:
    """Natural-log mel power spectrogram of a mono waveform.

    The STFT is centred (zero padding of ``n_fft // 2`` on both sides, so any length >= 1 works)
    with a periodic Hann window of ``n_fft`` samples.

    Args:
        waveform: Mono samples, float ``(N,)`` with ``N >= 1``.
        sample_rate: Sample rate of ``waveform`` in Hz.
        n_fft: FFT size and window length in samples.
        hop_length: Samples between frames.
        n_mels: Number of mel bands M.
        f_min: Lowest filter edge in Hz.
        f_max: Highest filter edge in Hz (at most ``sample_rate / 2``).

    Returns:
        ``ln(max(mel power, 1e-10))``, float32 ``(M, F)`` with ``F = 1 + N // hop_length``.
    """
    spectrum = torch.stft(
        waveform.to(torch.float32),
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=n_fft,
        window=_hann(n_fft),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )  # (K, F)
    power = spectrum.real.square() + spectrum.imag.square()  # (K, F)
    mel = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max) @ power  # (M, F)
    return mel.clamp_min(LOG_FLOOR).log()
