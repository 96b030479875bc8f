"""Text processor: a WordPiece tokenizer trained on the training texts.

The tokenizer is built with the Hugging Face ``tokenizers`` library: ``BertNormalizer`` (Chinese,
Japanese and Korean ideographs are split into single-character words), ``BertPreTokenizer`` and a
WordPiece model with the special tokens ``[PAD]`` (id 0) and ``[UNK]`` (id 1). Its state is the
tokenizer's own JSON string, so a fitted processor round-trips through JSON without pickle.

Fitting is deterministic: the same texts give the same tokenizer JSON, byte for byte, in any
process. (The ``tokenizers`` trainer numbers the ``##`` continuation pieces in the order of a
randomly seeded hash map and breaks ties between equally frequent merges by those numbers, so two
processes could learn different vocabularies. :meth:`TextProcessor.fit` registers every
continuation piece up front, in sorted order, which fixes the numbering and so the ties.)

Shapes: ``transform`` -> ``{"ids": (T,) long}`` with ``1 <= T <= max_length``;
``collate`` -> ``{"ids": (B, T_max) long, "mask": (B, T_max) bool}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from polyfuse.data.processors._registry import register_processor
from polyfuse.data.processors.base import BadValueError, Features, Processor, is_missing

if TYPE_CHECKING:
    from tokenizers import Tokenizer


PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
PAD_ID = 0
UNK_ID = 1
_NO_IDS = torch.zeros(0, dtype=torch.long)
"""An absent row's ids (padding only)."""
CONTINUATION = "##"


@register_processor("text", "WordPiece tokenizer trained on the column (from-scratch text encoders)")
class TextProcessor(Processor):
    """Free text -> WordPiece token ids.

    Args:
        vocab_size: Vocabulary size the tokenizer aims for (special tokens included). The
            fitted size, reported by :meth:`output_spec`, is smaller on a small corpus, and can
            be larger when the corpus has more distinct characters than ``vocab_size`` (every
            character seen in training is kept).
        max_length: Longest token sequence kept; longer texts are truncated at the end.
        lowercase: Lowercase (and strip accents) before tokenizing.
        min_frequency: Fewest occurrences a merge needs to enter the vocabulary.

    Attributes:
        tokenizer_: The fitted ``tokenizers.Tokenizer`` (set by :meth:`fit` or :meth:`set_state`).

    A present value that is not a string (a number, say) is tokenized as ``str(value)``. A present
    text that yields no token at all (only control characters) becomes the single ``[UNK]`` id, so
    every present row has at least one unmasked token.
    """

    modality = "text"

    def __init__(
        self,
        vocab_size: int = 8000,
        max_length: int = 128,
        lowercase: bool = True,
        min_frequency: int = 1,
    ) -> None:
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2 (for [PAD] and [UNK]), got {vocab_size}")
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        if min_frequency < 1:
            raise ValueError(f"min_frequency must be at least 1, got {min_frequency}")
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.lowercase = lowercase
        self.min_frequency = min_frequency
        self.tokenizer_: Tokenizer | None = None

    def fit(self, values: Sequence[Any]) -> TextProcessor:
        """Train the tokenizer on the present values (absent ones are skipped); deterministic."""
        texts = list(_present_texts(values))
        tokenizer = self._new_tokenizer()
        from tokenizers import trainers

        pieces = [CONTINUATION + c for c in sorted(_continuation_chars(tokenizer, texts))]
        trainer = trainers.WordPieceTrainer(
            vocab_size=self.vocab_size,
            min_frequency=self.min_frequency,
            special_tokens=[PAD_TOKEN, UNK_TOKEN, *pieces],  # fixed ids for the ## pieces
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        self.tokenizer_ = _without_added(tokenizer, set(pieces))
        return self

    def transform(self, value: Any) -> Features | None:
        """One text -> ``{"ids": (T,) long}``, or ``None`` when the value is absent."""
        if is_missing(value):
            return None
        ids = self._fitted().encode(str(value), add_special_tokens=False).ids[: self.max_length]
        return {"ids": torch.tensor(ids or [UNK_ID], dtype=torch.long)}

    def transform_many(self, values: Sequence[Any]) -> list[Features | BadValueError | None]:
        """:meth:`transform` of each value: one ``encode_batch`` call and one tensor, split into
        rows (views)."""
        results: list[Features | BadValueError | None] = [None] * len(values)
        present = [i for i, value in enumerate(values) if not is_missing(value)]
        if not present:
            return results
        tokenizer = self._fitted()
        # encode_batch_fast (tokenizers >= 0.20) skips the character offsets: the same ids, 20 % sooner
        encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
        encodings = encode([str(values[i]) for i in present], add_special_tokens=False)
        rows = [encoding.ids[: self.max_length] or [UNK_ID] for encoding in encodings]
        flat = torch.tensor([token for row in rows for token in row], dtype=torch.long)
        for i, ids in zip(present, flat.split([len(row) for row in rows]), strict=True):
            results[i] = {"ids": ids}
        return results

    def collate(self, items: Sequence[Features | None]) -> Features:
        """Pad rows to the longest: ``{"ids": (B, T_max) long, "mask": (B, T_max) bool}``.

        Padding uses id 0 (``[PAD]``); an absent row is all padding with an all-False mask, and
        ``T_max`` is at least 1 even when every row is absent.
        """
        rows = [_NO_IDS if item is None else item["ids"] for item in items]
        lengths = [len(row) for row in rows]
        t_max = max([1, *lengths])
        if len(rows) and max(lengths):  # one C++ loop, not a copy per row from Python
            ids = pad_sequence(rows, batch_first=True, padding_value=PAD_ID)  # (B, T_max)
        else:
            ids = torch.full((len(items), t_max), PAD_ID, dtype=torch.long)
        positions = torch.arange(t_max).unsqueeze(0)  # (1, T_max)
        mask = positions < torch.tensor(lengths, dtype=torch.long).unsqueeze(1)  # (B, T_max)
        return {"ids": ids, "mask": mask}

    def output_spec(self) -> dict[str, Any]:
        """``{"vocab_size": fitted vocabulary size, "pad_id": 0, "max_length": max_length}``."""
        return {
            "vocab_size": self._fitted().get_vocab_size(with_added_tokens=True),
            "pad_id": PAD_ID,
            "max_length": self.max_length,
        }

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {
            "vocab_size": self.vocab_size,
            "max_length": self.max_length,
            "lowercase": self.lowercase,
            "min_frequency": self.min_frequency,
        }

    def get_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """``({"tokenizer": <tokenizer JSON string>}, {})``."""
        return {"tokenizer": self._fitted().to_str()}, {}

    def set_state(self, state: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        """Restore the tokenizer from its JSON string."""
        from tokenizers import Tokenizer

        self.tokenizer_ = Tokenizer.from_str(state["tokenizer"])

    def vocabulary(self) -> list[str]:
        """The tokens in id order (``[PAD]`` first, ``##`` marking a word's continuation)."""
        vocab = self._fitted().get_vocab(with_added_tokens=True)
        tokens = [""] * (max(vocab.values(), default=-1) + 1)
        for token, index in vocab.items():
            tokens[index] = token
        return tokens

    def tokenize(self, value: Any) -> list[str]:
        """The tokens of one text (before truncation), for inspection and debugging."""
        return list(self._fitted().encode(str(value), add_special_tokens=False).tokens)

    def _new_tokenizer(self) -> Tokenizer:
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

        tokenizer = Tokenizer(models.WordPiece(unk_token=UNK_TOKEN))
        tokenizer.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, lowercase=self.lowercase
        )
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        return tokenizer

    def _fitted(self) -> Tokenizer:
        if self.tokenizer_ is None:
            raise RuntimeError("TextProcessor is not fitted: call fit() or set_state() first")
        return self.tokenizer_


def _continuation_chars(tokenizer: Tokenizer, texts: Sequence[str]) -> set[str]:
    """Every character that follows another inside a word of ``texts`` (after normalisation and
    pre-tokenisation): exactly the characters the trainer makes a ``##`` piece of."""
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    assert normalizer is not None and pre_tokenizer is not None
    chars: set[str] = set()
    for text in texts:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            chars.update(word[1:])
    return chars


def _without_added(tokenizer: Tokenizer, pieces: set[str]) -> Tokenizer:
    """The tokenizer with ``pieces`` kept in its vocabulary but not as special added tokens (which
    would split any text containing "##a" around it)."""
    state = json.loads(tokenizer.to_str())
    state["added_tokens"] = [t for t in state["added_tokens"] if t["content"] not in pieces]
    from tokenizers import Tokenizer

    return Tokenizer.from_str(json.dumps(state, ensure_ascii=False))


def _present_texts(values: Sequence[Any]) -> Iterator[str]:
    """The present values as strings."""
    for value in values:
        if not is_missing(value):
            yield str(value)
