"""Audio processor: read with soundfile, mix to mono, resample, log-mel, global normalisation.

Values are an audio file path (``str`` or ``pathlib.Path``) or the raw encoded ``bytes`` of any
format libsndfile reads (WAV, FLAC, OGG, ...), at any sample rate and channel count. Channels are
averaged to mono, the signal is resampled to ``sample_rate`` with ``scipy.signal.resample_poly``,
cropped to its first ``max_seconds`` and turned into a natural-log mel spectrogram on the Slaney
mel scale (see :mod:`polyfuse.data.processors._mel`). Silence is a valid clip; a missing,
unreadable, empty (0 frames) or non-finite file raises :class:`BadValueError` naming the file.

Work per clip is bounded whatever its header claims: a sample rate above ``MAX_SOURCE_RATE``
(384 kHz) is a row error, only the first ``max_seconds`` are read, in blocks mixed to mono as they
come (so the channel count does not multiply memory), and resampling uses a ratio with a
denominator of at most 1000. A clip holds at most ``max_seconds`` x 384,000 float32 samples
(6 MB at 4 s) plus one 4 MB read block.

Shapes (M = n_mels, F frames): ``transform`` -> ``{"mel": (M, F) float}``, ``1 <= F <=
max_frames``; ``collate`` -> ``{"mel": (B, 1, M, F_max) float, "mask": (B, F_max) bool}``.
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from polyfuse.data.processors._mel import log_mel_spectrogram, num_frames
from polyfuse.data.processors._registry import register_processor
from polyfuse.data.processors.base import BadValueError, Features, Processor, is_missing

logger = logging.getLogger(__name__)

MAX_FIT_CLIPS = 256
"""How many training clips :meth:`AudioProcessor.fit` decodes at most."""

MAX_SOURCE_RATE = 384_000
"""Highest sample rate (Hz) a file may declare; a higher one is a damaged or hostile header."""

MAX_RATIO_DENOMINATOR = 1000
"""Resampling ratios are approximated to a denominator this small (common rates stay exact), so
the polyphase filter never grows with an odd source rate (2,147,483,647 Hz would need 320 GiB)."""

_BLOCK_VALUES = 1 << 20
"""Samples (frames x channels) read at a time."""


@register_processor("audio", "decode, resample and log-mel audio")
class AudioProcessor(Processor):
    """Audio file or bytes -> normalised log-mel spectrogram ``(n_mels, F)``.

    Args:
        sample_rate: Rate in Hz every clip is resampled to.
        max_seconds: Clips are cropped to their first ``max_seconds`` seconds.
        n_mels: Number of mel bands.
        n_fft: FFT size and Hann window length in samples.
        hop_length: Samples between spectrogram frames.
        f_min: Lowest mel filter edge in Hz.
        f_max: Highest mel filter edge in Hz; ``None`` means ``sample_rate / 2``.
        augment: Whether :meth:`augment` applies SpecAugment (identity otherwise).
        freq_mask: Widest frequency mask, in mel bands.
        time_mask: Widest time mask, in frames.
        num_masks: How many frequency masks and how many time masks to draw.

    Attributes:
        mean_: Mean of the training log-mel values (a float).
        std_: Standard deviation of the training log-mel values (a float).
    """

    modality = "audio"

    def __init__(
        self,
        sample_rate: int = 16000,
        max_seconds: float = 4.0,
        n_mels: int = 64,
        n_fft: int = 400,
        hop_length: int = 160,
        f_min: float = 0.0,
        f_max: float | None = None,
        augment: bool = False,
        freq_mask: int = 8,
        time_mask: int = 20,
        num_masks: int = 2,
    ) -> None:
        nyquist = sample_rate / 2.0
        if sample_rate < 1 or max_seconds <= 0 or n_mels < 1 or n_fft < 2 or hop_length < 1:
            raise ValueError("sample_rate, max_seconds, n_mels, n_fft and hop_length must be > 0")
        if not 0.0 <= f_min < (nyquist if f_max is None else f_max) <= nyquist:
            raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2, got {f_min}, {f_max}")
        if min(freq_mask, time_mask, num_masks) < 0:
            raise ValueError("freq_mask, time_mask and num_masks must be >= 0")
        self.sample_rate = sample_rate
        self.max_seconds = max_seconds
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.f_min = f_min
        self.f_max = f_max
        self.augment_enabled = augment
        self.freq_mask = freq_mask
        self.time_mask = time_mask
        self.num_masks = num_masks
        self.mean_: float | None = None
        self.std_: float | None = None

    @property
    def max_samples(self) -> int:
        """Samples kept at ``sample_rate``: ``round(max_seconds * sample_rate)``."""
        return max(1, round(self.max_seconds * self.sample_rate))

    def fit(self, values: Sequence[Any]) -> AudioProcessor:
        """Learn the global ``mean_`` / ``std_`` from up to 256 present, readable clips.

        The clips are spread evenly over ``values``; unreadable ones are skipped with a warning.
        With no usable clip, mean and std fall back to 0 and 1.
        """
        present = [value for value in values if not is_missing(value)]
        step = max(1, -(-len(present) // MAX_FIT_CLIPS))  # ceil division
        total = total_sq = count = 0.0
        for value in present[::step]:
            try:
                mel = self._log_mel(value).double()  # (M, F)
            except BadValueError as error:
                logger.warning("AudioProcessor.fit skips a clip: %s", error)
                continue
            total += float(mel.sum())
            total_sq += float(mel.square().sum())
            count += mel.numel()
        if count == 0:
            logger.warning("AudioProcessor.fit found no readable clip; using mean 0, std 1")
            self.mean_, self.std_ = 0.0, 1.0
            return self
        mean = total / count
        std = math.sqrt(max(total_sq / count - mean * mean, 0.0))
        self.mean_, self.std_ = mean, std if std > 1e-3 else 1.0
        return self

    def transform(self, value: Any) -> Features | None:
        """One clip -> ``{"mel": (n_mels, F) float32}``; ``None`` when absent.

        Raises:
            BadValueError: The file is missing, unreadable, empty or holds non-finite samples.
        """
        if is_missing(value):
            return None
        mean, std = self._fitted()
        return {"mel": (self._log_mel(value) - mean) / std}

    def collate(self, items: Sequence[Features | None]) -> Features:
        """Pad to the longest clip: ``{"mel": (B, 1, M, F_max), "mask": (B, F_max) bool}``.

        Padding is 0 (the training mean); an absent row is all padding with an all-False mask;
        ``F_max`` is at least 1 even when every row is absent.
        """
        lengths = [0 if item is None else int(item["mel"].shape[-1]) for item in items]
        f_max = max([1, *lengths])
        mel = torch.zeros((len(items), 1, self.n_mels, f_max))
        for row, (item, length) in enumerate(zip(items, lengths, strict=True)):
            if item is not None:
                mel[row, 0, :, :length] = item["mel"]
        frames = torch.arange(f_max).unsqueeze(0)  # (1, F_max)
        mask = frames < torch.tensor(lengths, dtype=torch.long).unsqueeze(1)  # (B, F_max)
        return {"mel": mel, "mask": mask}

    def augment(self, features: Features, generator: torch.Generator) -> Features:
        """SpecAugment frequency and time masking (set to 0), drawn from ``generator`` only.

        ``num_masks`` frequency masks of width ``U{0..freq_mask}`` bands and ``num_masks`` time
        masks of width ``U{0..min(time_mask, F)}`` frames (Park et al., 2019,
        https://arxiv.org/abs/1904.08779). Identity unless built with ``augment=True``; returns a
        new tensor and leaves the input untouched.
        """
        if not self.augment_enabled:
            return features
        mel = features["mel"].clone()  # (M, F)
        n_mels, frames = mel.shape
        for _ in range(self.num_masks):
            start, width = _draw_band(min(self.freq_mask, n_mels), n_mels, generator)
            mel[start : start + width, :] = 0.0
            start, width = _draw_band(min(self.time_mask, frames), frames, generator)
            mel[:, start : start + width] = 0.0
        return {**features, "mel": mel}

    def output_spec(self) -> dict[str, Any]:
        """``{"n_mels": M, "max_frames": frames of a max_seconds clip}``."""
        return {"n_mels": self.n_mels, "max_frames": num_frames(self.max_samples, self.hop_length)}

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {
            "sample_rate": self.sample_rate,
            "max_seconds": self.max_seconds,
            "n_mels": self.n_mels,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "f_min": self.f_min,
            "f_max": self.f_max,
            "augment": self.augment_enabled,
            "freq_mask": self.freq_mask,
            "time_mask": self.time_mask,
            "num_masks": self.num_masks,
        }

    def get_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """``({"mean": mean_, "std": std_}, {})``."""
        mean, std = self._fitted()
        return {"mean": mean, "std": std}, {}

    def set_state(self, state: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        """Restore what :meth:`get_state` returned."""
        self.mean_, self.std_ = float(state["mean"]), float(state["std"])

    def _fitted(self) -> tuple[float, float]:
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("AudioProcessor is not fitted: call fit() or set_state() first")
        return self.mean_, self.std_

    def _log_mel(self, value: Any) -> Tensor:
        """Unnormalised log-mel ``(M, F)`` of one clip."""
        waveform = load_audio(value, self.sample_rate, self.max_seconds)  # (N,)
        f_max = self.sample_rate / 2.0 if self.f_max is None else self.f_max
        return log_mel_spectrogram(
            torch.from_numpy(waveform[: self.max_samples]),
            self.sample_rate,
            self.n_fft,
            self.hop_length,
            self.n_mels,
            self.f_min,
            f_max,
        )


def load_audio(value: Any, sample_rate: int, max_seconds: float) -> np.ndarray:
    """Read a path or bytes -> mono float32 ``(N,)`` at ``sample_rate``, about ``max_seconds`` long.

    Only the first ``ceil(max_seconds * source_rate)`` frames are read, so long files stay cheap;
    the caller crops the resampled signal to its exact length.

    Raises:
        BadValueError: With the file (or ``<N bytes>``) and the reason in the message.
    """
    source, name = _source(value)
    try:
        with sf.SoundFile(source) as audio:
            source_rate = int(audio.samplerate)
            if not 1 <= source_rate <= MAX_SOURCE_RATE:
                raise BadValueError(
                    f"cannot read audio '{name}': its header claims {source_rate:,} Hz, outside the"
                    f" 1 to {MAX_SOURCE_RATE:,} Hz polyfuse reads (a damaged file?)"
                )
            mono = _read_mono(audio, math.ceil(max_seconds * source_rate), name)  # (N,)
    except BadValueError:
        raise
    except Exception as error:  # libsndfile and its wrappers raise several error types
        reason = getattr(error, "error_string", None) or str(error) or type(error).__name__
        raise BadValueError(f"cannot read audio '{name}': {reason}") from error
    if mono.shape[0] == 0:
        raise BadValueError(f"cannot read audio '{name}': the file has no audio frames")
    if source_rate != sample_rate:
        from scipy.signal import resample_poly  # imported on first use: scipy.signal takes ~1 s

        ratio = Fraction(sample_rate, source_rate).limit_denominator(MAX_RATIO_DENOMINATOR)
        mono = resample_poly(mono, ratio.numerator, ratio.denominator)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _read_mono(audio: sf.SoundFile, wanted: int, name: str) -> np.ndarray:
    """Up to ``wanted`` frames of an open file, averaged to mono block by block -> ``(N,)``."""
    block = max(1, _BLOCK_VALUES // max(1, audio.channels))
    parts, count = [], 0
    while count < wanted:
        frames = audio.read(frames=min(block, wanted - count), dtype="float32", always_2d=True)  # (n, ch)
        if frames.shape[0] == 0:
            break
        if not np.isfinite(frames).all():
            raise BadValueError(f"cannot read audio '{name}': non-finite samples (NaN or inf)")
        parts.append(frames.mean(axis=1))
        count += frames.shape[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _source(value: Any) -> tuple[Any, str]:
    """What soundfile opens, and the name an error message shows."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return io.BytesIO(data), f"<{len(data)} bytes>"
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not os.path.isfile(path):
            raise BadValueError(f"cannot read audio '{path}': file not found")
        return path, path
    raise BadValueError(f"cannot read audio: expected a path or bytes, got {type(value).__name__}")


def _draw_band(max_width: int, length: int, generator: torch.Generator) -> tuple[int, int]:
    """A random ``(start, width)`` with ``width`` in ``0..max_width`` inside ``0..length``."""
    width = int(torch.randint(0, max_width + 1, (1,), generator=generator))
    start = int(torch.randint(0, length - width + 1, (1,), generator=generator))
    return start, width
