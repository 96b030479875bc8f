"""The target processor of text generation: a tokenizer trained on the target column (or loaded).

Tokenizers come from Hugging Face ``tokenizers``: ``word`` (lower-cased words and punctuation, a
word-level vocabulary of the training targets), ``char`` (one token per character: Chinese and
other scripts without spaces), ``bpe`` (byte-level BPE, any language), or a path to a pretrained
``tokenizer.json`` / a checkpoint directory holding one. Its JSON is part of the fitted state, so a
bundle decodes without the training table.

``value(row)`` reads the target text and a key of the row's input columns' raw values: rows with
identical inputs (one image, five captions) are one group, whose texts are all references when
scoring (see :meth:`GenerationTask.metrics`).

Shapes: ``collate`` -> ``{"ids": (B, T) long, "valid": (B,) bool, "text": [B str], "group": [B str]}``;
``ids`` start with BOS and end with EOS, padded with PAD (id 0).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from polyfuse.data.processors.base import BadValueError, is_missing
from polyfuse.data.targets import TargetProcessor

log = logging.getLogger("polyfuse")

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = [PAD, BOS, EOS, UNK]


def as_text(value: Any) -> str:
    """A cell as text: bytes decoded as UTF-8 (bad bytes replaced), anything else ``str``-ed."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


_NO_SPACE_BEFORE = re.compile(r" +([.,:;!?%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{]) +")


def detokenize(text: str) -> str:
    """The word tokenizer's output (tokens joined by spaces) as text: no space before closing
    punctuation or after an opening bracket (``"refund : a lamp , ( red )"`` -> ``"refund: a lamp,
    (red)"``). Metric-neutral: sacrebleu's 13a tokeniser splits these marks off again and the other
    metrics drop punctuation. Apostrophes are left alone (13a keeps ``'s`` apart, as Flickr8k does).
    """
    return _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))


def _train_tokenizer(kind: str, texts: list[str], vocab_size: int, min_frequency: int) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer: Any = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
    else:
        tok = Tokenizer(models.WordLevel(unk_token=UNK))
        if kind == "char":  # every character a token, spaces included (runs of whitespace -> one space)
            tok.normalizer = normalizers.Sequence(
                [normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
            )
            tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), "isolated")
            tok.decoder = decoders.Fuse()
        else:
            tok.normalizer = normalizers.Lowercase()
            tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIALS
        )
    tok.train_from_iterator(texts, trainer)
    return tok


def _load_tokenizer(path: str) -> Any:
    from tokenizers import Tokenizer

    file = Path(path)
    if file.is_dir():
        file = file / "tokenizer.json"
    if not file.is_file():
        raise ValueError(f"tokenizer {path!r}: no tokenizer.json there (word, char, bpe or a path)")
    tok = Tokenizer.from_file(str(file))
    for special in SPECIALS:
        if tok.token_to_id(special) is None:
            tok.add_special_tokens([special])
    return tok


class TextTarget(TargetProcessor):
    """Target text -> token ids between BOS and EOS; ids -> text.

    Args:
        tokenizer: ``word``, ``char``, ``bpe``, or a path to a ``tokenizer.json`` (or its folder).
        vocab_size: largest vocabulary a trained tokenizer keeps (specials included).
        min_frequency: tokens seen fewer times in training become UNK (word/char) or are not merged.
        max_length: most tokens of a target, BOS and EOS included; longer ones are truncated
            (counted and warned about in :meth:`fit`).
    """

    def __init__(
        self, tokenizer: str = "word", vocab_size: int = 10000, min_frequency: int = 1, max_length: int = 40
    ) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.min_frequency = min_frequency
        self.max_length = max_length
        self.strict_missing = False
        """Set by the pipeline from ``data.missing: error``: an empty target is then a bad row."""
        self.input_columns: list[str] | None = None
        """The model's input columns (set by the builder); rows are grouped by their raw values."""

    def configure(self, input_columns: Sequence[str], strict_missing: bool) -> None:
        self.input_columns = sorted(str(c) for c in input_columns)
        self.strict_missing = strict_missing

    # ------------------------------------------------------------------ fitting
    def fit(self, values: Sequence[Any]) -> TextTarget:
        texts = [
            as_text(v["text"]) for v in values if not is_missing(v["text"]) and as_text(v["text"]).strip()
        ]
        if not texts:
            raise ValueError("the target column has no text to learn a vocabulary from")
        if self.tokenizer in ("word", "char", "bpe"):
            self.tok_ = _train_tokenizer(self.tokenizer, texts, self.vocab_size, self.min_frequency)
        else:
            self.tok_ = _load_tokenizer(self.tokenizer)
        self.empty_ = len(values) - len(texts)
        self.truncated_ = sum(len(e.ids) + 2 > self.max_length for e in self.tok_.encode_batch(texts))
        if self.empty_:
            log.warning("%d training rows have an empty target text: they are skipped (no loss)", self.empty_)
        if self.truncated_:
            log.warning(
                "%d training targets are longer than max_length=%d tokens and are truncated",
                self.truncated_,
                self.max_length,
            )
        return self

    @property
    def pad_id(self) -> int:
        return int(self.tok_.token_to_id(PAD))

    @property
    def bos_id(self) -> int:
        return int(self.tok_.token_to_id(BOS))

    @property
    def eos_id(self) -> int:
        return int(self.tok_.token_to_id(EOS))

    @property
    def num_outputs(self) -> int:
        return int(self.tok_.get_vocab_size())

    # ------------------------------------------------------------------ rows
    def value(self, row: dict[str, Any]) -> Any:
        """``{"text": the target cell, "group": a key of the input columns' raw values}``."""
        columns = self.input_columns
        if columns is None:
            columns = sorted(str(c) for c in row if c not in self.columns)
        raw = json.dumps([as_text(row.get(c)) for c in columns], ensure_ascii=False)
        return {"text": row.get(self.columns[0]), "group": hashlib.sha1(raw.encode()).hexdigest()[:16]}

    def encode(self, value: Any) -> dict[str, Any]:
        """One target -> ``{"ids": T ints, "valid": bool, "text": str, "group": str}`` (plain values:
        rows compare with ``==``; :meth:`collate` makes the tensors).

        An empty target gives ``valid=False`` (no loss, no reference) unless ``strict_missing``.
        """
        if not isinstance(value, dict):
            value = {"text": value, "group": ""}
        text = value["text"]
        empty = is_missing(text) or not as_text(text).strip()
        if empty and self.strict_missing:
            raise BadValueError("the target text is empty")
        text = "" if empty else as_text(text)
        ids = self.tok_.encode(text).ids[: self.max_length - 2] if text else []
        return {
            "ids": (self.bos_id, *ids, self.eos_id),
            "valid": not empty,
            "text": text,
            "group": value.get("group", ""),
        }

    def collate(self, items: Sequence[Any]) -> dict[str, Any]:
        """Rows -> padded ``ids`` (B, T), ``valid`` (B,), and the texts and groups as lists."""
        longest = max((len(item["ids"]) for item in items), default=2)
        ids = torch.full((len(items), longest), self.pad_id, dtype=torch.long)
        for i, item in enumerate(items):
            ids[i, : len(item["ids"])] = torch.tensor(item["ids"], dtype=torch.long)
        return {
            "ids": ids,
            "valid": torch.tensor([bool(item["valid"]) for item in items], dtype=torch.bool),
            "text": [item["text"] for item in items],
            "group": [item["group"] for item in items],
        }

    def decode(self, ids: Tensor | Sequence[int]) -> str:
        """Token ids (specials dropped, cut at EOS) -> text."""
        values = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        if self.eos_id in values:
            values = values[: values.index(self.eos_id)]
        values = [i for i in values if i not in (self.pad_id, self.bos_id)]
        text: str = self.tok_.decode(values, skip_special_tokens=True)
        if self.tokenizer == "char" and self.tok_.decoder is None:
            text = text.replace(" ", "")  # a bundle from before spaces were tokens: every char joined
        elif self.tokenizer == "word":
            text = detokenize(text)
        return text.strip()

    # ------------------------------------------------------------------ state
    def get_state(self) -> dict[str, Any]:
        return {
            "tokenizer": self.tokenizer,
            "vocab_size": self.vocab_size,
            "min_frequency": self.min_frequency,
            "max_length": self.max_length,
            "input_columns": self.input_columns,
            "tokenizer_json": self.tok_.to_str(),
            "empty_": self.empty_,
            "truncated_": self.truncated_,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = state["tokenizer"]
        self.vocab_size = state["vocab_size"]
        self.min_frequency = state["min_frequency"]
        self.max_length = state["max_length"]
        self.input_columns = state.get("input_columns")
        self.tok_ = Tokenizer.from_str(state["tokenizer_json"])
        self.empty_ = state.get("empty_", 0)
        self.truncated_ = state.get("truncated_", 0)
