"""Audio clues: short tone sequences whose count names a number or whose pitch names a colour.

Two codes, both fixed for every generated set:

- a number ``k`` (1 to 8) is ``k`` short beeps at :data:`BEEP_HZ`;
- a colour is one to three tones at that colour's pitch (:data:`COLOUR_PITCHES`, half an octave
  apart from 250 Hz up, so neighbouring colours are far apart on a mel scale); the number of
  repeats is random and carries nothing.

Clips are mono, :data:`SAMPLE_RATE` Hz, 16-bit PCM WAV, at most :data:`MAX_SECONDS` long, with a
random lead-in, random tone lengths and loudness, and optional background noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from polyfuse.bench.cognition.scene import COLOURS

SAMPLE_RATE = 8000
MAX_SECONDS = 1.4
BEEP_HZ = 600.0
"""Pitch of the counting beeps: no colour's (it lies between blue's 500 Hz and yellow's 707 Hz)."""
COLOUR_PITCHES: dict[str, float] = {c: 250.0 * 2.0 ** (i / 2) for i, c in enumerate(COLOURS)}
"""Colour -> pitch in Hz: 250, 354, 500, 707, 1000, 1414, 2000, 2828."""
MAX_BEEPS = 8


def tone_sequence(pitches: Sequence[float], rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
    """Tones of the given pitches one after another: float32 samples in [-1, 1].

    Each tone lasts 70-100 ms with a Hann envelope, followed by 50-70 ms of silence, after a
    0-100 ms lead-in; ``noise`` is the standard deviation of added white noise.
    """
    parts = [np.zeros(int(rng.uniform(0.0, 0.1) * SAMPLE_RATE), dtype=np.float64)]
    for pitch in pitches:
        length = int(rng.uniform(0.07, 0.1) * SAMPLE_RATE)
        t = np.arange(length) / SAMPLE_RATE
        amplitude = rng.uniform(0.4, 0.8)
        parts.append(amplitude * np.sin(2 * np.pi * pitch * t) * np.hanning(length))
        parts.append(np.zeros(int(rng.uniform(0.05, 0.07) * SAMPLE_RATE)))
    samples = np.concatenate(parts)[: int(MAX_SECONDS * SAMPLE_RATE)]
    if noise > 0:
        samples = samples + rng.normal(0.0, noise, samples.shape)
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


def encode_number(count: int, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
    """``count`` beeps (1 to :data:`MAX_BEEPS`)."""
    if not 1 <= count <= MAX_BEEPS:
        raise ValueError(f"a beep count must be in [1, {MAX_BEEPS}], got {count}")
    return tone_sequence([BEEP_HZ] * count, rng, noise)


def encode_colour(colour: str, rng: np.random.Generator, noise: float = 0.0) -> np.ndarray:
    """One to three tones at the pitch of ``colour``."""
    repeats = int(rng.integers(1, 4))
    return tone_sequence([COLOUR_PITCHES[colour]] * repeats, rng, noise)


def write_wav(target: str | Path | BinaryIO, samples: np.ndarray) -> None:
    """Write mono float samples as 16-bit PCM WAV at :data:`SAMPLE_RATE` (byte-for-byte reproducible)
    to a path or a binary file object."""
    destination = str(target) if isinstance(target, (str, Path)) else target
    sf.write(destination, samples, SAMPLE_RATE, subtype="PCM_16", format="WAV")


def read_wav(path: str | Path) -> np.ndarray:
    """Float32 mono samples of a WAV written by :func:`write_wav`."""
    samples, _ = sf.read(str(path), dtype="float32", always_2d=False)
    return np.asarray(samples, dtype=np.float32)
