"""Tests of TextProcessor: WordPiece ids, truncation, absent values, state round trip."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from polyfuse.data.processors.text import PAD_ID, UNK_ID, TextProcessor

CORPUS = [
    "The quick brown fox jumps over the lazy dog",
    "A lazy dog sleeps in the sun",
    "我爱北京天安门",
    "今天天气很好",
    "Mixed 中文 and English text",
    None,
    float("nan"),
    "",
    12345,
]


@pytest.fixture(scope="module")
def fitted() -> TextProcessor:
    return TextProcessor(vocab_size=500).fit(CORPUS)


def test_transform_returns_long_ids_within_vocabulary(fitted: TextProcessor) -> None:
    ids = fitted.transform("the lazy fox")["ids"]
    assert ids.dtype == torch.long
    assert ids.shape == (3,)
    assert int(ids.min()) >= 2  # every word was seen: no [PAD], no [UNK]
    assert int(ids.max()) < fitted.output_spec()["vocab_size"]


def test_output_spec_reports_fitted_vocabulary(fitted: TextProcessor) -> None:
    spec = fitted.output_spec()
    assert spec["pad_id"] == 0 and spec["max_length"] == 128
    assert spec["vocab_size"] == len(fitted.tokenizer_.get_vocab())  # type: ignore[union-attr]
    assert 2 < spec["vocab_size"] <= 500
    words = [f"word{i} tok{i % 7}" for i in range(300)]
    small = TextProcessor(vocab_size=60).fit(words).output_spec()["vocab_size"]
    large = TextProcessor(vocab_size=400).fit(words).output_spec()["vocab_size"]
    assert small <= 60 < large <= 400


def test_special_tokens_have_fixed_ids(fitted: TextProcessor) -> None:
    vocab = fitted.tokenizer_.get_vocab()  # type: ignore[union-attr]
    assert vocab["[PAD]"] == PAD_ID == 0
    assert vocab["[UNK]"] == UNK_ID == 1


def test_chinese_characters_are_single_known_tokens(fitted: TextProcessor) -> None:
    assert fitted.tokenize("我爱北京") == ["我", "爱", "北", "京"]
    ids = fitted.transform("我爱北京")["ids"]
    assert ids.shape == (4,)
    assert len(set(ids.tolist())) == 4 and int(ids.min()) >= 2
    mixed = fitted.transform("English 天气")["ids"]
    assert mixed.shape == (3,) and UNK_ID not in mixed.tolist()


def test_unseen_character_becomes_unk(fitted: TextProcessor) -> None:
    assert fitted.transform("猫")["ids"].tolist() == [UNK_ID]
    assert fitted.transform("жжж")["ids"].tolist() == [UNK_ID]  # "ж" never seen
    ids = fitted.transform("the 猫 dog")["ids"].tolist()
    assert ids[1] == UNK_ID and ids[0] != UNK_ID and ids[2] != UNK_ID


def test_lowercase_parameter() -> None:
    lower = TextProcessor().fit(["hello world"])
    assert torch.equal(lower.transform("HELLO World")["ids"], lower.transform("hello world")["ids"])
    cased = TextProcessor(lowercase=False).fit(["hello world"])
    assert cased.transform("HELLO")["ids"].tolist() == [UNK_ID]
    assert UNK_ID not in cased.transform("hello")["ids"].tolist()


def test_min_frequency_drops_rare_words() -> None:
    texts = ["the zebra runs", "the cat sits", "the dog runs"]
    assert TextProcessor(min_frequency=1).fit(texts).tokenize("zebra") == ["zebra"]
    assert len(TextProcessor(min_frequency=2).fit(texts).tokenize("zebra")) > 1


def test_truncation_keeps_the_first_tokens(fitted: TextProcessor) -> None:
    text = "the quick brown fox jumps over the lazy dog"
    full = fitted.transform(text)["ids"]
    short = TextProcessor(vocab_size=500, max_length=4)
    short.set_state(*fitted.get_state())
    assert full.shape == (9,)
    assert torch.equal(short.transform(text)["ids"], full[:4])


def test_numbers_are_tokenized_as_strings(fitted: TextProcessor) -> None:
    assert torch.equal(fitted.transform(12345)["ids"], fitted.transform("12345")["ids"])
    assert fitted.transform(12345)["ids"].tolist() != [UNK_ID]


@pytest.mark.parametrize("value", [None, float("nan"), "", "   \n"])
def test_absent_values_transform_to_none(fitted: TextProcessor, value: object) -> None:
    assert fitted.transform(value) is None


def test_text_without_tokens_is_one_unk(fitted: TextProcessor) -> None:
    assert fitted.transform("\x00\x01")["ids"].tolist() == [UNK_ID]


def test_collate_pads_and_masks(fitted: TextProcessor) -> None:
    rows = [fitted.transform("the lazy dog"), None, fitted.transform("我")]
    batch = fitted.collate(rows)
    assert batch["ids"].shape == (3, 3) and batch["ids"].dtype == torch.long
    assert batch["mask"].dtype == torch.bool
    assert batch["mask"].tolist() == [[True] * 3, [False] * 3, [True, False, False]]
    assert batch["ids"][1].tolist() == [PAD_ID] * 3
    assert batch["ids"][2, 1:].tolist() == [PAD_ID] * 2
    assert torch.equal(batch["ids"][0], rows[0]["ids"])  # type: ignore[index]


def test_collate_of_only_absent_rows_has_one_column(fitted: TextProcessor) -> None:
    batch = fitted.collate([None, None])
    assert batch["ids"].shape == (2, 1) and not batch["mask"].any()


def test_state_round_trips_through_json(fitted: TextProcessor) -> None:
    state, tensors = fitted.get_state()
    assert tensors == {}
    restored = TextProcessor(**fitted.get_params())
    restored.set_state(json.loads(json.dumps(state)), {})
    assert restored.output_spec() == fitted.output_spec()
    for text in ["the quick dog", "今天很好", "unknown ЖЖ words", "12345"]:
        assert torch.equal(restored.transform(text)["ids"], fitted.transform(text)["ids"])


def test_get_params_rebuilds_an_equal_processor() -> None:
    processor = TextProcessor(vocab_size=123, max_length=7, lowercase=False, min_frequency=2)
    assert TextProcessor(**processor.get_params()).get_params() == processor.get_params()
    assert json.loads(json.dumps(processor.get_params())) == processor.get_params()


def test_unfitted_processor_raises() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        TextProcessor().transform("hello")


def test_invalid_parameters_raise() -> None:
    with pytest.raises(ValueError, match="max_length"):
        TextProcessor(max_length=0)


def test_transform_is_pure_and_thread_safe(fitted: TextProcessor) -> None:
    texts = [f"the lazy dog {i} 天气" for i in range(64)]
    state_before = fitted.get_state()
    expected = [fitted.transform(t)["ids"] for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fitted.transform, texts))
    assert all(torch.equal(r["ids"], e) for r, e in zip(results, expected, strict=True))  # type: ignore[index]
    assert fitted.get_state() == state_before
