"""Defaults sized by the data: what the table holds picks the parts a user left unconfigured.

Run after the processors are fitted and before the model is built (:func:`choose_defaults`):

- text inputs with no encoder configured get the ``bag`` encoder (mean of token embeddings) when
  their median text is short (at most :data:`SHORT_TEXT_WORDS` words): word order adds little there
  and a bidirectional GRU costs most of the epoch; longer texts keep the ``bigru`` default;
- image inputs with ``size: auto`` (the default) are resized to their median longer side, at most
  64 px (:func:`polyfuse.data.processors.image.auto_side`): 32 px images are not upsampled to 64 px,
  which made the CNN four times slower for nothing; a small table (under
  :data:`SMALL_TABLE_ROWS` training rows) of images of at most 32 px with no image encoder
  configured gets a CNN of widths :data:`SMALL_IMAGE_WIDTHS` (a quarter of the default's work).
  Larger tables keep the default CNN: on AV digits (2,700 rows of 28 px digits) the small CNN
  lost 0.5-0.7 points of test accuracy in its 8 epochs;
- audio inputs with no encoder configured get a CNN of widths :data:`SMALL_AUDIO_WIDTHS` on a
  small table (under :data:`SMALL_TABLE_ROWS` training rows).

Every choice is logged, written to ``metrics.json`` (``training.defaults``) and to the model card.
An explicit setting always wins.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from polyfuse.config.schema import Config
from polyfuse.data.dataset import InputSpec, input_values
from polyfuse.data.processors.base import is_missing
from polyfuse.data.tables import Table

log = logging.getLogger("polyfuse")

SHORT_TEXT_WORDS = 32
"""Median words per text up to which an unconfigured text input gets the ``bag`` encoder."""

SMALL_IMAGE_SIDE = 32
"""Largest image side (after ``size: auto``) that gets the small CNN."""

SMALL_IMAGE_WIDTHS = [16, 32, 64]
"""CNN stage widths for small images (the default is 32, 64, 128)."""

SMALL_TABLE_ROWS = 2000
"""Training rows under which small images, and any audio, get the small CNNs."""

SMALL_AUDIO_WIDTHS = [16, 32, 64]
"""Audio CNN stage widths for small tables (the default is 32, 64, 128, 128: on the demo's
1,350 rows it was 11x the image CNN's time per batch and most of each epoch)."""

MAX_SAMPLED_TEXTS = 2000
"""Texts whose lengths are counted (spread evenly over the training rows)."""


def _unconfigured(config: Config, name: str, modality: str) -> bool:
    """Whether the user left this input's encoder entirely to the defaults (no type, no options)."""
    return not config.model.encoders.get(modality) and not config.model.encoders.get(name)


def median_words(values: list[Any]) -> float:
    """Median whitespace-separated words of the present values (0 when none)."""
    present = [str(v) for v in values if not is_missing(v)]
    step = max(1, -(-len(present) // MAX_SAMPLED_TEXTS))
    counts = [len(text.split()) for text in present[::step]]
    return float(np.median(counts)) if counts else 0.0


def choose_defaults(config: Config, inputs: list[InputSpec], train: Table) -> tuple[Config, dict[str, str]]:
    """The config with data-sized choices filled in, and ``{input.option: "value (why)"}``."""
    chosen: dict[str, str] = {}
    encoders = dict(config.model.encoders)
    for spec in inputs:
        if spec.modality == "text" and _unconfigured(config, spec.name, "text"):
            words = median_words(input_values(train, spec))
            kind = "bag" if words <= SHORT_TEXT_WORDS else "bigru"
            encoders[spec.name] = {"type": kind, "modality": "text"}
            limit = f"{'<=' if kind == 'bag' else '>'} {SHORT_TEXT_WORDS}"
            chosen[f"{spec.name}.encoder"] = f"{kind} (median text {words:g} words {limit})"
        if spec.modality == "image" and getattr(spec.processor, "size", None) == "auto":
            side = spec.processor.height  # type: ignore[attr-defined]
            chosen[f"{spec.name}.image_size"] = f"{side} (median image side, at most 64)"
        if spec.modality == "image" and _unconfigured(config, spec.name, "image"):
            side = max(spec.processor.output_spec()["height"], spec.processor.output_spec()["width"])
            if side <= SMALL_IMAGE_SIDE and len(train.frame) < SMALL_TABLE_ROWS:
                encoders[spec.name] = {"type": "cnn", "widths": SMALL_IMAGE_WIDTHS, "modality": "image"}
                widths = ", ".join(map(str, SMALL_IMAGE_WIDTHS))
                why = f"images of {side} px <= 32, {len(train.frame)} rows < {SMALL_TABLE_ROWS}"
                chosen[f"{spec.name}.encoder"] = f"cnn, widths {widths} ({why})"
        small = len(train.frame) < SMALL_TABLE_ROWS
        if spec.modality == "audio" and small and _unconfigured(config, spec.name, "audio"):
            encoders[spec.name] = {"type": "cnn", "widths": SMALL_AUDIO_WIDTHS, "modality": "audio"}
            widths = ", ".join(map(str, SMALL_AUDIO_WIDTHS))
            why = f"{len(train.frame)} rows < {SMALL_TABLE_ROWS}"
            chosen[f"{spec.name}.encoder"] = f"cnn, widths {widths} ({why})"
    for key, value in chosen.items():
        log.info("default chosen from the data: %s = %s", key, value)
    if encoders == config.model.encoders:
        return config, chosen
    model = config.model.model_copy(update={"encoders": encoders})
    return config.model_copy(update={"model": model}), chosen
