"""The generation task: text target, decoders, decoding strategies, metrics, and a tiny end-to-end fit.

Legend: B batch, S memory tokens, D width, V vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from polyfuse import Predictor
from polyfuse.data.batch import Batch
from polyfuse.data.processors.base import BadValueError
from polyfuse.data.schema import infer_task
from polyfuse.model import Fused
from polyfuse.tasks import ModelDims, concat_outputs, create_task, parse_task_config
from polyfuse.tasks._decoding import DecodingConfig, decode
from polyfuse.tasks._memory import MemoryBuilder
from polyfuse.tasks._text_target import SPECIALS, TextTarget
from polyfuse.tasks.decoders import create_decoder, list_decoders, parse_decoder_config
from polyfuse.text_metrics import generation_metrics

SMALL = {
    "transformer": {"dim": 16, "num_layers": 2, "num_heads": 2, "dropout": 0.0},
    "lstm": {"dim": 16, "embed_dim": 8, "attention_dim": 8, "dropout": 0.0},
    "gru": {"dim": 16, "embed_dim": 8, "attention_dim": 8, "dropout": 0.0},
}


def fitted_target(texts: list[Any], **options: Any) -> TextTarget:
    target = TextTarget(**options)
    target.columns = ["caption"]
    return target.fit([{"text": t, "group": ""} for t in texts])


# ---------------------------------------------------------------- target


def test_text_target_round_trips_text_and_state() -> None:
    target = fitted_target(["a red circle", "two blue squares", "A red square"])
    encoded = target.encode({"text": "A red circle", "group": "g"})
    ids = encoded["ids"]
    assert ids[0] == target.bos_id and ids[-1] == target.eos_id and encoded["valid"]
    assert target.decode(ids[1:]) == "a red circle"  # word tokenizer lower-cases
    fresh = TextTarget()
    fresh.columns = ["caption"]
    fresh.set_state(json.loads(json.dumps(target.get_state())))
    assert fresh.encode("two blue squares") == target.encode("two blue squares")
    batch = target.collate([target.encode("a red circle"), target.encode("two blue squares .")])
    assert batch["ids"].shape == (2, 6) and batch["ids"][0, -1] == target.pad_id


def test_empty_long_and_non_utf8_targets() -> None:
    target = fitted_target(["one two three four five six seven", None, "", "ok"], max_length=5)
    assert target.empty_ == 2 and target.truncated_ == 1
    assert len(target.encode("one two three four five six seven")["ids"]) == 5
    empty = target.encode({"text": "  ", "group": "g"})
    assert not empty["valid"] and empty["ids"] == (target.bos_id, target.eos_id)
    target.strict_missing = True
    with pytest.raises(BadValueError, match="empty"):
        target.encode({"text": None, "group": "g"})
    assert target.encode(b"ok \xff")["valid"]  # undecodable bytes are replaced, not fatal


def test_char_tokenizer_for_chinese() -> None:
    target = fitted_target(["一只红色的猫", "两只蓝色的狗"], tokenizer="char")
    ids = target.encode("一只蓝色的猫")["ids"]
    assert len(ids) == 6 + 2
    assert target.decode(ids[1:]) == "一只蓝色的猫"


def test_char_tokenizer_keeps_spaces_between_words() -> None:
    # Spaces were dropped by the pre-tokenizer and decode removed every space: "the digit seven"
    # came back "thedigitseven", so a char target in a spaced script could never be generated.
    target = fitted_target(["the digit seven", "一只 red 猫"], tokenizer="char")
    ids = target.encode("the  digit\nseven ")["ids"]  # whitespace runs become one space
    assert len(ids) == len("the digit seven") + 2
    assert target.decode(ids[1:]) == "the digit seven"
    assert target.decode(target.encode("一只 red 猫")["ids"][1:]) == "一只 red 猫"
    fresh = TextTarget()
    fresh.columns = ["caption"]
    fresh.set_state(json.loads(json.dumps(target.get_state())))
    assert fresh.decode(ids[1:]) == "the digit seven"


def test_char_tokenizer_of_an_older_bundle_still_joins_characters() -> None:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    old = Tokenizer(models.WordLevel(unk_token="<unk>"))  # as saved before spaces were tokens
    old.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), "isolated")]
    )
    old.train_from_iterator(["一只红色的猫"], trainers.WordLevelTrainer(special_tokens=SPECIALS))
    target = fitted_target(["x"], tokenizer="char")
    target.tok_ = old
    assert target.decode(target.encode("一只猫")["ids"][1:]) == "一只猫"


def test_word_tokenizer_decodes_punctuation_without_stray_spaces() -> None:
    target = fitted_target(["refund: red lamp, broken (twice).", "a man 's dog"])
    ids = target.encode("Refund: red lamp, broken (twice).")["ids"]
    assert target.decode(ids[1:]) == "refund: red lamp, broken (twice)."
    assert target.decode(target.encode("a man 's dog")["ids"][1:]) == "a man ' s dog"  # 13a-neutral


def test_rows_with_identical_inputs_share_a_group() -> None:
    target = fitted_target(["x y z"])
    target.configure(["image"], strict_missing=False)
    a = target.value({"image": "1.jpg", "caption": "a dog", "other": 1})
    b = target.value({"image": "1.jpg", "caption": "a brown dog", "other": 2})
    c = target.value({"image": "2.jpg", "caption": "a dog"})
    assert a["group"] == b["group"] != c["group"]


# ---------------------------------------------------------------- decoders and decoding


@pytest.mark.parametrize("name", list_decoders())
def test_step_by_step_decoding_matches_teacher_forcing(name: str) -> None:
    """The key-value cache (or the RNN state) gives the same logits as the whole-sequence pass."""
    torch.manual_seed(0)
    decoder = create_decoder(parse_decoder_config({"type": name, **SMALL[name]}), 11, 8, 16).eval()
    memory, mask = torch.randn(3, 5, 16), torch.rand(3, 5) > 0.3
    mask[:, 0] = True
    ids = torch.randint(0, 11, (3, 6))
    with torch.no_grad():
        whole = decoder(ids, memory, mask)  # (B, T, V)
        state = decoder.start(memory, mask)
        steps = torch.stack([decoder.step(ids[:, t], state) for t in range(6)], 1)
    assert whole.shape == (3, 6, 11)
    assert torch.allclose(whole, steps, atol=1e-5)
    with torch.no_grad():  # reorder picks rows of the state
        state = decoder.start(memory, mask)
        decoder.step(ids[:, 0], state)
        picked = decoder.reorder(state, torch.tensor([2, 0]))
        assert torch.allclose(decoder.step(ids[[2, 0], 1], picked), steps[[2, 0], 1], atol=1e-5)


@pytest.fixture
def tiny_decoder() -> Any:
    torch.manual_seed(1)
    config = parse_decoder_config({"type": "transformer", **SMALL["transformer"]})
    return (
        create_decoder(config, 12, 10, 16).eval(),
        torch.randn(4, 3, 16),
        torch.ones(4, 3, dtype=torch.bool),
    )


def test_beam_of_one_is_greedy_and_beams_score_at_least_as_well(tiny_decoder: Any) -> None:
    decoder, memory, mask = tiny_decoder
    greedy, greedy_scores = decode(decoder, memory, mask, DecodingConfig(strategy="greedy"), 1, 2, 10)
    beam1, _ = decode(
        decoder, memory, mask, DecodingConfig(strategy="beam", beam_size=1, length_penalty=0), 1, 2, 10
    )
    assert beam1 == greedy
    beam4, beam_scores = decode(
        decoder,
        memory,
        mask,
        DecodingConfig(strategy="beam", beam_size=4, length_penalty=0, num_return=3),
        1,
        2,
        10,
    )
    assert len(beam4) == 4 and all(len(row) == 3 for row in beam4)
    assert (beam_scores[:, 0] >= greedy_scores[:, 0] - 1e-4).all()  # the best beam beats greedy
    assert (beam_scores[:, :-1] >= beam_scores[:, 1:]).all()  # best first


def test_sampling_is_seeded_and_top_k_one_is_greedy(tiny_decoder: Any) -> None:
    decoder, memory, mask = tiny_decoder
    greedy, _ = decode(decoder, memory, mask, DecodingConfig(strategy="greedy"), 1, 2, 10)
    one, _ = decode(decoder, memory, mask, DecodingConfig(strategy="sample", top_k=1), 1, 2, 10)
    assert one == greedy
    options = DecodingConfig(strategy="sample", temperature=2.0, top_p=0.9, seed=7, num_return=2)
    first, _ = decode(decoder, memory, mask, options, 1, 2, 10)
    again, _ = decode(decoder, memory, mask, options, 1, 2, 10)
    other, _ = decode(decoder, memory, mask, options.model_copy(update={"seed": 8}), 1, 2, 10)
    assert first == again and first != other


def test_no_repeat_ngram_blocks_repeats(tiny_decoder: Any) -> None:
    decoder, memory, mask = tiny_decoder
    for strategy in ("greedy", "beam"):
        options = DecodingConfig(strategy=strategy, no_repeat_ngram=1, beam_size=2)
        out, _ = decode(decoder, memory, mask, options, 1, 2, 10)
        for row in out:
            assert len(set(row[0])) == len(row[0]), row


def test_a_row_without_any_input_still_decodes() -> None:
    builder = MemoryBuilder({"image": 6, "text": 5}, 16)
    tokens = {"image": torch.randn(2, 4, 6), "text": torch.randn(2, 3, 5)}
    masks = {"image": torch.zeros(2, 4, dtype=torch.bool), "text": torch.zeros(2, 3, dtype=torch.bool)}
    memory, mask = builder(tokens, masks)
    assert memory.shape == (2, 8, 16) and mask[:, 0].all() and not mask[:, 1:].any()
    decoder = create_decoder(parse_decoder_config({"type": "lstm", **SMALL["lstm"]}), 9, 6, 16).eval()
    logits = decoder(torch.zeros(2, 3, dtype=torch.long), memory, mask)
    assert torch.isfinite(logits).all()


# ---------------------------------------------------------------- metrics


def test_generation_metrics_with_several_references() -> None:
    refs = [["a dog runs on the grass", "the dog is running"], ["a cat sleeps on a red mat"]]
    perfect = generation_metrics(["a dog runs on the grass", "a cat sleeps on a red mat"], refs)
    assert perfect["bleu4_score"] == pytest.approx(100.0)
    assert perfect["exact_match_score"] == 100.0 and perfect["wer_error"] == 0.0
    worse = generation_metrics(["a cat runs", "a dog sits"], refs)
    for key in ("bleu1_score", "bleu4_score", "rougeL_score", "cider_score", "chrf_score"):
        assert worse[key] < perfect[key], key
    assert worse["wer_error"] > 0.5 and worse["exact_match_score"] == 0.0


def test_infer_task_suggests_generation_for_free_text() -> None:
    captions = pd.Series([f"a photo of {i} dogs playing in the park" for i in range(200)])
    task, reason = infer_task(captions)
    assert task == "generation" and "free text" in reason
    assert infer_task(pd.Series(["cat", "dog", "bird"] * 50))[0] == "multiclass"


# ---------------------------------------------------------------- the task, contract-style


def make_fused(batch: int, present: bool = True) -> Fused:
    gen = torch.Generator().manual_seed(0)
    tokens = {
        "image": torch.randn(batch, 4, 6, generator=gen),
        "text": torch.randn(batch, 3, 5, generator=gen),
    }
    masks = {n: torch.full(t.shape[:2], present) for n, t in tokens.items()}
    pooled = {n: t.mean(1) for n, t in tokens.items()}
    flags = {n: torch.full((batch,), present) for n in tokens}
    return Fused(None, pooled, tokens, masks, {}, flags)


def test_task_steps_metrics_and_frame() -> None:
    config = parse_task_config(
        {"type": "generation", "decoder": {"type": "gru", **SMALL["gru"]}, "max_length": 8}
    )
    target = fitted_target(["a red circle", "a blue square", "two green stars", ""])
    torch.manual_seed(0)
    task = create_task(config, ModelDims(None, {"image": 6, "text": 5}), target)
    rows = [
        {"text": t, "group": g}
        for t, g in zip(["a red circle", "a blue square", "", "red"], "aabc", strict=True)
    ]
    batch = Batch({}, {}, target.collate([target.encode(r) for r in rows]), torch.arange(4))
    loss = task.train().training_step(make_fused(4), batch)["task_loss"]
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in task.parameters())
    task.eval()
    with torch.no_grad():
        outputs = concat_outputs([task.validation_step(make_fused(4, present=False), batch)])
    metrics = task.metrics(outputs)
    assert metrics["num_groups"] == 2  # group a has two references, c has none (empty target)
    assert "bleu4_score" in metrics and json.dumps(metrics)
    task.set_decoding(strategy="beam", beam_size=3, num_return=2)
    with torch.no_grad():
        frame = task.to_frame(task.predict_step(make_fused(4), batch))
    assert list(frame.columns[:2]) == ["prediction", "score"] and "prediction_2" in frame and len(frame) == 4
    with pytest.raises(ValueError):
        task.set_decoding(strategy="nucleus")


# ---------------------------------------------------------------- end to end


def _table(n: int) -> pd.DataFrame:
    colors, shapes = ["red", "blue", "green"], ["circle", "square"]
    rows = []
    for i in range(n):
        color, shape = colors[i % 3], shapes[(i // 3) % 2]
        rows.append({"words": f"{color} {shape}", "size": float(i % 2), "caption": f"a {color} {shape}"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Predictor, Path]:
    out = tmp_path_factory.mktemp("generation")
    predictor = Predictor(
        label="caption",
        task={
            "type": "generation",
            "decoder": {"type": "transformer", "dim": 32, "num_layers": 1, "num_heads": 2, "dropout": 0.0},
            "decoding": {"strategy": "beam", "beam_size": 2},
            "primary_metric": "exact_match_score",
        },
        columns={"words": "text", "size": "numeric"},
        processors={"text": {"vocab_size": 50, "max_length": 4}},
        encoders={"text": {"type": "bag", "embed_dim": 16}, "tabular": {"hidden_dims": [8]}},
        epochs=12,
        batch_size=16,
        lr=1e-2,
        progress=False,
        tensorboard=False,
        num_workers=0,
        output_dir=str(out / "run"),
    )
    predictor.fit(_table(96))
    return predictor, predictor.save(out / "bundle")


def test_fit_learns_to_caption_and_the_bundle_predicts_the_same(trained: tuple[Predictor, Path]) -> None:
    predictor, bundle = trained
    assert predictor.fitted.metrics["monitor"] == "exact_match_score"
    assert predictor.fitted.metrics["valid"]["exact_match_score"] >= 80.0
    table = _table(6)
    frame = predictor.predict(table)
    assert (frame["prediction"] == table["caption"]).mean() >= 0.8
    loaded = Predictor.load(bundle)
    assert loaded.predict(table)["prediction"].tolist() == frame["prediction"].tolist()
    metrics = loaded.evaluate(table)
    assert metrics["exact_match_score"] >= 80 and metrics["bleu2_score"] > 80 and metrics["rows"] == 6


def test_predict_handles_absent_inputs_and_empty_generations(trained: tuple[Predictor, Path]) -> None:
    predictor, _ = trained
    table = _table(3)
    table["words"] = None
    table["size"] = None
    frame = predictor.predict(table)  # every input absent: the "no input" token still decodes
    assert frame["error"].isna().all() and frame["prediction"].map(lambda t: isinstance(t, str)).all()
    task = predictor.fitted.model.task
    task.set_decoding(max_length=1)  # no room for a token: empty generations, reported, no crash
    try:
        frame = predictor.predict(_table(2))
    finally:
        task.set_decoding(max_length=None)
    assert frame["empty"].all() and (frame["prediction"] == "").all()


def test_cli_predict_num_return_and_decoding_overrides(
    trained: tuple[Predictor, Path], tmp_path: Path
) -> None:
    from polyfuse.cli.main import main

    _, bundle = trained
    data = tmp_path / "rows.csv"
    _table(4).drop(columns="caption").to_csv(data, index=False)
    out = tmp_path / "out.csv"
    assert main(["predict", str(bundle), str(data), "-o", str(out), "--num-return", "2"]) == 0
    frame = pd.read_csv(out, keep_default_na=False)
    assert {"prediction", "score", "prediction_2", "score_2"} <= set(frame.columns) and len(frame) == 4
    assert (frame["score"] >= frame["score_2"]).all()
    sampled = tmp_path / "sampled.csv"
    options = ["--decoding", "strategy=sample", "--decoding", "top_k=3", "--decoding", "seed=3"]
    assert main(["predict", str(bundle), str(data), "-o", str(sampled), *options]) == 0
    assert len(pd.read_csv(sampled)) == 4
    assert main(["predict", str(bundle), str(data), "-o", str(out), "--decoding", "strategy=nucleus"]) == 2


def test_evaluation_suite_gallery_report_and_absence(trained: tuple[Predictor, Path], tmp_path: Path) -> None:
    from polyfuse.evaluation.report import write_evaluation_report
    from polyfuse.evaluation.suite import run_evaluation

    predictor, _ = trained
    table = pd.concat([_table(12), _table(6).assign(caption="the " + _table(6)["caption"])])
    results = run_evaluation(predictor, table, robustness=True, levels=[0.0, 0.5])
    gallery = results["gallery"]
    assert gallery["best"] and len(gallery["best"][0]["references"]) >= 2  # grouped references
    assert results["absence"]["metric"] == "bleu4_score" or results["absence"]["subsets"]
    scores = {tuple(s["removed"]): s["score"] for s in results["absence"]["subsets"]}
    assert scores[()] >= scores[tuple(sorted(scores, key=len)[-1])]  # all inputs beat none
    html = write_evaluation_report(tmp_path / "report.html", results).read_text()
    assert "Generations" in html and "generated: " in html
