"""Text injectors: typos, word drop, shuffle.

They act on ``{"ids": (B, T) long, "mask": (B, T) bool}`` from the :class:`TextProcessor` (real
tokens first, then ``[PAD]`` = 0). Level ``l`` means:

- ``typos``: each real token is replaced with probability ``l``, half the time by ``[UNK]`` (id 1,
  what a misspelt word usually becomes) and half the time by a random vocabulary id;
- ``word_drop``: each real token is removed with probability ``l`` (the rest close up; a row keeps
  at least one token, so a present text never becomes empty);
- ``shuffle``: ``round(l * n)`` of a row's ``n`` real tokens, chosen at random, swap places in a
  random cycle (so each chosen position gets a different token).

Legend: B batch, T tokens.
"""

from __future__ import annotations

import torch

from polyfuse.data.processors.base import Features
from polyfuse.data.processors.text import PAD_ID, UNK_ID
from polyfuse.evaluation.noise._registry import Injector, register_injector, uniform


class TextInjector(Injector):
    """Shared part of the text injectors."""

    modality = "text"
    processors = ("text",)  # WordPiece ids with [PAD] = 0 and [UNK] = 1


@register_injector("text", "typos", "each token replaced with probability `level` ([UNK] or random)")
class TyposInjector(TextInjector):
    """Random token substitution: ``[UNK]`` or a random id, each token with probability ``level``."""

    def apply(self, features: Features, level: float, generator: torch.Generator) -> Features:
        ids, mask = features["ids"], features["mask"]  # (B, T)
        vocab = int(self.processor.output_spec()["vocab_size"])
        hit = (uniform(ids.shape, generator, ids) < level) & mask  # (B, T)
        as_unk = uniform(ids.shape, generator, ids) < 0.5
        random_ids = (uniform(ids.shape, generator, ids) * max(vocab - 2, 1)).long() + 2
        replacement = torch.where(as_unk, torch.full_like(ids, UNK_ID), random_ids.clamp_max(vocab - 1))
        return {**features, "ids": torch.where(hit, replacement, ids)}


@register_injector("text", "word_drop", "each token removed with probability `level`")
class WordDropInjector(TextInjector):
    """Removes each real token with probability ``level``; the kept tokens close up."""

    def apply(self, features: Features, level: float, generator: torch.Generator) -> Features:
        ids, mask = features["ids"], features["mask"]  # (B, T)
        keep = (uniform(ids.shape, generator, ids) >= level) & mask  # (B, T)
        first = torch.zeros_like(mask)
        first[:, 0] = True
        keep |= ~keep.any(dim=1, keepdim=True) & first & mask  # never empty a present row
        new_ids = torch.full_like(ids, PAD_ID)
        new_mask = torch.zeros_like(mask)
        for row in range(ids.shape[0]):
            kept = ids[row][keep[row]]
            new_ids[row, : len(kept)] = kept
            new_mask[row, : len(kept)] = True
        return {**features, "ids": new_ids, "mask": new_mask}


@register_injector("text", "shuffle", "round(level * n) tokens of a row swap places")
class ShuffleInjector(TextInjector):
    """Moves ``round(level * n)`` randomly chosen real tokens of each row round a random cycle."""

    def apply(self, features: Features, level: float, generator: torch.Generator) -> Features:
        ids, mask = features["ids"], features["mask"]  # (B, T)
        out = ids.clone()
        for row, length in enumerate(mask.sum(dim=1).tolist()):
            chosen = torch.randperm(max(length, 1), generator=generator)[: round(level * length)]
            if len(chosen) < 2:
                continue
            positions = chosen.to(ids.device)
            out[row, positions] = ids[row, positions.roll(1)]
        return {**features, "ids": out}
