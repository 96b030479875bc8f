"""The cognition benchmark: determinism, languages, answers, splits, schema, scorer, adapter, CLI."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from polyfuse import Predictor, infer_schema
from polyfuse.bench.cognition import (
    VOCABULARY,
    GenerateOptions,
    Scene,
    SceneObject,
    answer_question,
    generate,
    get_ability,
    held_out_pairs,
    list_abilities,
    load_scenes,
    load_table,
    normalize_answer,
    predictor_answerer,
    register_ability,
    sample_question,
    sample_scene,
    score_callable,
    score_predictions,
    wilson_interval,
)
from polyfuse.bench.cognition import abilities as abilities_module
from polyfuse.bench.cognition.adapter import predict_rows
from polyfuse.bench.cognition.answers import ANSWERS, AmbiguousQuestion
from polyfuse.bench.cognition.generate import COLUMN_MODALITIES, SPLITS, plan_scenes
from polyfuse.bench.cognition.run import PRESETS, RunOptions, model_config, parse_fusions, resolve_fusion
from polyfuse.bench.cognition.scene import GRID
from polyfuse.bench.cognition.templates import LANGUAGES, TEMPLATES, render, slot_names
from polyfuse.cli.bench import parse_abilities
from polyfuse.cli.main import main
from polyfuse.encoders import create_encoder, parse_encoder_config

CJK = re.compile("[\u4e00-\u9fff]")
PERCEPTION = ["existence", "colour", "shape", "size", "position", "count"]
COGNITION = ["relation", "comparison", "arithmetic", "logic", "cross_modal"]


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small set in both languages (never modified by the tests)."""
    out = tmp_path_factory.mktemp("cognition")
    generate(out, GenerateOptions(n=240, seed=0, lang="both", size=32))
    return out


# ---------------------------------------------------------------- generator
def test_same_seed_gives_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    options = GenerateOptions(n=60, seed=3, lang="both", size=32, clutter=True, noise=0.05)
    generate(tmp_path / "a", options)
    generate(tmp_path / "b", options)
    first, second = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert first == second
    assert any(name.startswith("audio/") for name in first)
    assert {"table.csv", "train.csv", "valid.csv", "test_iid.csv", "test_comp.csv", "meta.json"} <= set(first)
    generate(tmp_path / "c", GenerateOptions(n=60, seed=4, lang="both", size=32, clutter=True, noise=0.05))
    other = _hashes(tmp_path / "c")
    assert other["table.csv"] != first["table.csv"]
    assert other["images/000000.png"] != first["images/000000.png"]


def test_registry_lists_every_ability_by_category() -> None:
    assert list_abilities("perception") == PERCEPTION
    assert list_abilities("cognition") == COGNITION
    assert get_ability("cross_modal").needs_audio and not get_ability("relation").needs_audio
    with pytest.raises(KeyError, match="existence"):
        get_ability("telepathy")


def test_register_ability_returns_the_sampler_unchanged() -> None:
    def sampler(scene: Scene, rng: np.random.Generator) -> Any:
        return "count_all", {}, {}

    try:
        assert register_ability("test_counting", "perception", "a test")(sampler) is sampler
        question = sample_question(
            "test_counting",
            Scene((SceneObject("red", "square", "small", 0.1, 0.1),)),
            rng=np.random.default_rng(0),
        )
        assert question is not None and question.answer == "1"
    finally:
        abilities_module._ABILITIES.pop("test_counting", None)


def test_every_ability_is_generated_in_both_languages(generated: Path) -> None:
    table = load_table(generated)
    assert set(table["ability"]) == set(PERCEPTION + COGNITION)
    for ability, rows in table.groupby("ability"):
        assert set(rows["lang"]) == {"en", "zh"}, ability
        assert all(CJK.search(q) for q in rows.loc[rows["lang"] == "zh", "question"]), ability
        assert all(q.isascii() for q in rows.loc[rows["lang"] == "en", "question"]), ability
    assert set(table["answer"]) <= set(VOCABULARY)
    assert set(table["category"]) == {"perception", "cognition"}
    needs_audio = table["ability"] == "cross_modal"
    assert (table.loc[needs_audio, "audio"] != "").all() and (table.loc[~needs_audio, "audio"] == "").all()
    assert (table.groupby("scene_id")["ability"].nunique() == 1).all()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_renders(lang: str) -> None:
    values = {
        "colour": "red",
        "colour2": "blue",
        "shape": "circle",
        "shape2": "square",
        "size": "small",
        "size2": "large",
    }
    rng = np.random.default_rng(0)
    for kind, templates in TEMPLATES.items():
        assert len(templates[lang]) >= 2, kind
        for template in templates[lang]:
            assert all(re.sub(r"^shapes", "shape", s) in values for s in slot_names(template)), template
        text = render(kind, values, lang, rng)
        assert "{" not in text and (bool(CJK.search(text)) == (lang == "zh")), text
    assert set(TEMPLATES) == set(ANSWERS)


# ---------------------------------------------------------------- answers on a hand-built scene
SCENE = Scene(
    (
        SceneObject("red", "square", "large", 0.125, 0.125),  # top left
        SceneObject("green", "circle", "small", 0.375, 0.125),  # top left, 0.25 from red
        SceneObject("blue", "triangle", "large", 0.875, 0.875),  # bottom right, furthest from red
        SceneObject("yellow", "circle", "large", 0.875, 0.375),  # top right
    )
)
CASES: list[tuple[str, dict[str, str], str]] = [
    ("exist_colour", {"colour": "red"}, "yes"),
    ("exist_colour", {"colour": "purple"}, "no"),
    ("exist_shape", {"shape": "triangle"}, "yes"),
    ("exist_colour_shape", {"colour": "red", "shape": "square"}, "yes"),
    ("exist_colour_shape", {"colour": "red", "shape": "circle"}, "no"),
    ("colour_of_shape", {"shape": "triangle"}, "blue"),
    ("colour_of_sized_shape", {"size": "small", "shape": "circle"}, "green"),
    ("is_colour", {"shape": "square", "colour": "red"}, "yes"),
    ("is_colour", {"shape": "square", "colour": "blue"}, "no"),
    ("shape_of", {"colour": "yellow"}, "circle"),
    ("is_shape", {"colour": "blue", "shape": "triangle"}, "yes"),
    ("is_shape", {"colour": "blue", "shape": "circle"}, "no"),
    ("size_of", {"colour": "green"}, "small"),
    ("is_size", {"colour": "red", "size": "small"}, "no"),
    ("horizontal_of", {"colour": "yellow"}, "right"),
    ("horizontal_of", {"colour": "green"}, "left"),
    ("vertical_of", {"colour": "yellow"}, "top"),
    ("vertical_of", {"colour": "blue"}, "bottom"),
    ("count_all", {}, "4"),
    ("count_shape", {"shape": "circle"}, "2"),
    ("count_size", {"size": "large"}, "3"),
    ("closest_shape", {"colour": "red"}, "circle"),
    ("furthest_shape", {"colour": "red"}, "triangle"),
    ("closest_colour", {"colour": "red"}, "green"),
    ("furthest_colour", {"colour": "red"}, "blue"),
    ("closest_colour", {"colour": "blue"}, "yellow"),
    ("same_shape_count", {"colour": "green"}, "1"),
    ("same_shape_count", {"colour": "red"}, "0"),
    ("more_shape", {"shape": "circle", "shape2": "square"}, "yes"),
    ("fewer_shape", {"shape": "triangle", "shape2": "circle"}, "yes"),
    ("more_size", {"size": "large", "size2": "small"}, "yes"),
    ("sum_shapes", {"shape": "circle", "shape2": "triangle"}, "3"),
    ("diff_shapes", {"shape": "circle", "shape2": "square"}, "1"),
    ("remove_shape", {"shape": "circle"}, "2"),
    ("add_shape", {"shape": "triangle"}, "2"),
    ("not_colour_shape", {"shape": "circle", "colour": "green"}, "yes"),
    ("not_colour_shape", {"shape": "square", "colour": "red"}, "no"),
    ("is_not_shape", {"colour": "red", "shape": "circle"}, "yes"),
    ("is_not_shape", {"colour": "red", "shape": "square"}, "no"),
    ("and_colours", {"colour": "red", "colour2": "blue"}, "yes"),
    ("and_colours", {"colour": "red", "colour2": "purple"}, "no"),
    ("or_colours", {"colour": "purple", "colour2": "white"}, "no"),
    ("or_colours", {"colour": "purple", "colour2": "red"}, "yes"),
    ("beeps_equal_count", {"beeps": "4"}, "yes"),
    ("beeps_equal_count", {"beeps": "3"}, "no"),
    ("beeps_equal_shape", {"shape": "circle", "beeps": "2"}, "yes"),
    ("tone_present", {"tone": "white"}, "no"),
    ("tone_present", {"tone": "red"}, "yes"),
    ("tone_shape", {"tone": "blue"}, "triangle"),
    ("tone_size", {"tone": "green"}, "small"),
]


@pytest.mark.parametrize(("kind", "values", "expected"), CASES)
def test_answer_on_hand_built_scene(kind: str, values: dict[str, str], expected: str) -> None:
    assert answer_question(SCENE, kind, **values) == expected


def test_every_kind_is_checked_and_ambiguous_references_raise() -> None:
    assert {kind for kind, _, _ in CASES} == set(ANSWERS)
    with pytest.raises(AmbiguousQuestion):
        answer_question(SCENE, "colour_of_shape", shape="circle")  # two circles


def test_samplers_give_vocabulary_answers_on_random_scenes() -> None:
    rng = np.random.default_rng(0)
    for ability in list_abilities():
        answers = set()
        for _ in range(40):
            scene = sample_scene(rng, int(rng.integers(2, 9)))
            question = sample_question(ability, scene, rng)
            if question is not None:
                assert question.answer == answer_question(
                    scene, question.kind, **question.slots, **question.audio
                )
                assert bool(question.audio) == get_ability(ability).needs_audio
                answers.add(question.answer)
        assert answers <= set(VOCABULARY) and len(answers) >= 2, ability


# ---------------------------------------------------------------- splits and schema
def test_recorded_questions_match_the_table_and_the_answer_functions(generated: Path) -> None:
    table = load_table(generated)
    lines = (generated / "scenes.jsonl").read_text(encoding="utf-8").splitlines()
    records = {r["scene_id"]: r for r in map(json.loads, lines)}
    scenes = load_scenes(generated)
    for scene_id, rows in table.groupby("scene_id"):
        asked = records[scene_id]["questions"]
        assert list(rows["answer"]) == [q["answer"] for q in asked]
        for q in asked:
            assert answer_question(scenes[scene_id], q["kind"], **q["slots"], **q["audio"]) == q["answer"]


def test_compositional_split_holds_out_its_colour_shape_pairs(generated: Path) -> None:
    held_out = held_out_pairs()
    scenes = load_scenes(generated)
    table = load_table(generated)
    splits = table.groupby("scene_id")["split"].first()
    for scene_id, scene in scenes.items():
        pairs = {(o.colour, o.shape) for o in scene.objects}
        if splits[scene_id] == "test_comp":
            assert pairs & held_out, scene_id
        else:
            assert not pairs & held_out, scene_id
    lines = (generated / "scenes.jsonl").read_text(encoding="utf-8").splitlines()
    for record in map(json.loads, lines):
        named = {(q["slots"].get("colour"), q["slots"].get("shape")) for q in record["questions"]}
        assert not (named & held_out) or record["split"] == "test_comp", record
    train_ids = set(table.loc[table["split"] == "train", "scene_id"])
    train_objects = [o for i in train_ids for o in scenes[i].objects]
    assert {c for c, _ in held_out} <= {o.colour for o in train_objects}
    assert {s for _, s in held_out} <= {o.shape for o in train_objects}
    assert set(table["split"]) == set(SPLITS)


def test_table_loads_with_the_expected_modalities(generated: Path) -> None:
    frame = pd.read_csv(generated / "train.csv")
    schema = infer_schema(frame, "answer")
    modalities = {c.name: c.modality for c in schema.columns}
    assert modalities == {"image": "image", "question": "text", "audio": "audio"}
    assert schema.task == "multiclass"
    full = infer_schema(pd.read_csv(generated / "table.csv"), "answer", columns=COLUMN_MODALITIES)
    assert full.inputs() == {"image": ["image"], "question": ["question"], "audio": ["audio"]}
    meta = json.loads((generated / "meta.json").read_text())
    assert meta["vocabulary"] == list(VOCABULARY) and sum(meta["rows"].values()) == 240


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="lang"):
        GenerateOptions(lang="fr")
    with pytest.raises(ValueError, match="too small"):
        GenerateOptions(n=4)
    with pytest.raises(KeyError, match="unknown ability"):
        GenerateOptions(abilities=("telepathy",))


def test_an_ability_listed_twice_gets_twice_the_scenes_in_every_split() -> None:
    assert parse_abilities("relation:2, shape") == ("relation", "relation", "shape")
    assert parse_abilities("") is None
    with pytest.raises(ValueError, match="whole number >= 1: 'shape:0'"):
        parse_abilities("relation,shape:0")
    plan = pd.DataFrame(
        plan_scenes(
            GenerateOptions(n=1200, questions_per_scene=1, abilities=("relation", "relation", "shape"))
        ),
        columns=["scene", "split", "ability"],
    )
    shares = plan.groupby("split")["ability"].apply(lambda a: (a == "relation").mean())
    assert shares.min() > 0.6 and shares.max() < 0.7  # 2/3 of each split, up to rounding
    assert shares["train"] == pytest.approx(2 / 3, abs=0.01)


# ---------------------------------------------------------------- scorer
def test_wilson_interval() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.49016, abs=1e-4) and high == pytest.approx(0.94331, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(10, 10)[0] == pytest.approx(0.72246, abs=1e-4)


def test_scorer_on_hand_made_predictions() -> None:
    rows = [  # (split, ability, scene, answer, prediction)
        ("test_iid", "existence", 1, "yes", " Yes"),
        ("test_iid", "existence", 1, "no", "no"),
        ("test_iid", "existence", 2, "yes", "yes"),
        ("test_iid", "existence", 2, "no", "yes"),
        ("test_iid", "relation", 3, "red", "red"),
        ("test_iid", "relation", 3, "circle", "circle"),
        ("test_iid", "relation", 4, "2", "2"),
        ("test_iid", "relation", 4, "blue", "blue"),
        ("test_comp", "existence", 5, "yes", "yes"),
        ("test_comp", "existence", 5, "no", None),
        ("test_comp", "relation", 6, "red", "blue"),
        ("test_comp", "relation", 6, "1", "2"),
    ]
    frame = pd.DataFrame(rows, columns=["split", "ability", "scene_id", "answer", "prediction"])
    scores = score_predictions(frame)
    iid = scores.splits["test_iid"]
    existence = iid.abilities["existence"]
    assert (existence.questions, existence.correct, existence.images) == (4, 3, 2)
    assert existence.accuracy_score == 0.75 and existence.accuracy_plus_score == 0.5
    assert existence.mme_score == pytest.approx(125.0)
    assert (existence.ci_low, existence.ci_high) == pytest.approx(wilson_interval(3, 4))
    assert iid.abilities["relation"].mme_score == pytest.approx(200.0)
    assert iid.accuracy_score == 7 / 8
    assert (iid.perception_score, iid.cognition_score) == (0.75, 1.0)
    assert (iid.mme_perception_score, iid.mme_cognition_score) == pytest.approx((125.0, 200.0))
    assert scores.splits["test_comp"].accuracy_score == 0.25
    assert scores.compositional_gap == pytest.approx(0.625)
    assert scores.ability_gaps == pytest.approx({"existence": 0.25, "relation": 1.0})
    assert json.loads(json.dumps(scores.to_dict()))["splits"]["test_iid"]["questions"] == 8


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Yes.", "yes"),
        ("是", "yes"),
        ("不是", "no"),
        ("three", "3"),
        ("红色", "red"),
        ("Large", "large"),
        ("圆形", "circle"),
        ("Left, I think", "left"),
        ("7", "7"),
        ("Perhaps so", "perhaps so"),
    ],
)
def test_normalize_answer(raw: str, expected: str) -> None:
    assert normalize_answer(raw) == expected


# ---------------------------------------------------------------- adapter
def test_adapter_scores_a_trivial_callable(generated: Path) -> None:
    calls: list[tuple[tuple[int, int], bool]] = []

    def always_yes(image: Image.Image, question: str, audio: np.ndarray | None) -> str:
        calls.append((image.size, audio is not None))
        assert audio is None or (audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 0)
        return "Yes"

    scores = score_callable(always_yes, generated)
    table = load_table(generated)
    for split in ("test_iid", "test_comp"):
        rows = table[table["split"] == split]
        assert scores.splits[split].accuracy_score == pytest.approx((rows["answer"] == "yes").mean())
        for ability, part in rows.groupby("ability"):
            expected = (part["answer"] == "yes").mean()
            assert scores.splits[split].abilities[ability].accuracy_score == pytest.approx(expected)
    tests = table[table["split"].isin(["test_iid", "test_comp"])]
    assert len(calls) == len(tests) and {size for size, _ in calls} == {(32, 32)}
    assert sum(has_audio for _, has_audio in calls) == int((tests["audio"] != "").sum())


def _tiny_config(output_dir: Path) -> dict[str, Any]:
    return {
        "data": {
            "label": "answer",
            "task": "multiclass",
            "on_bad_rows": "skip",
            "processors": {
                "image": {"size": 32},
                "audio": {"sample_rate": 8000, "max_seconds": 1.4, "n_mels": 16, "hop_length": 160},
                "text": {"vocab_size": 300, "max_length": 24},
            },
        },
        "model": {
            "encoders": {
                "image": {"type": "cnn", "widths": [8, 8, 8]},
                "text": {"type": "bigru", "embed_dim": 8, "hidden_dim": 8},
                "audio": {"type": "cnn", "widths": [8, 8]},
            },
            "fusion": {"type": "relation", "regions": "image", "hidden_dim": 8, "relation_dim": 16},
            "head": {"hidden_dim": 16},
        },
        "training": {
            "epochs": 1,
            "batch_size": 16,
            "progress": False,
            "tensorboard": False,
            "num_workers": 0,
            "output_dir": str(output_dir),
        },
    }


def test_cli_generate_then_evaluate_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    args = [
        "bench",
        "cognition",
        "generate",
        "--n",
        "60",
        "--seed",
        "1",
        "--out",
        str(data),
        "--size",
        "32",
        "--lang",
        "both",
    ]
    assert main(args) == 0
    assert "cross_modal" in capsys.readouterr().out
    predictor = Predictor(config=_tiny_config(tmp_path / "run")).fit(data / "train.csv", data / "valid.csv")
    bundle = predictor.save(tmp_path / "bundle")
    report, scores_json = tmp_path / "report.html", tmp_path / "scores.json"
    args = [
        "bench",
        "cognition",
        "evaluate",
        str(bundle),
        str(data),
        "--report",
        str(report),
        "--json",
        str(scores_json),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "test_iid" in out and "test_comp" in out and "compositional gap" in out
    page = report.read_text(encoding="utf-8")
    assert (
        'data-plot="radar"' in page
        and "data:image/png;base64," in page
        and "http" not in page.split("<body>")[1]
    )
    saved = json.loads(scores_json.read_text())
    assert set(saved["splits"]) == {"test_iid", "test_comp"}
    # the one-row-at-a-time adapter agrees with the batched predictions
    rows = predict_rows(Predictor.load(bundle), data).head(6)
    answerer = predictor_answerer(predictor)
    for _, row in rows.iterrows():
        image = Image.open(data / row["image"]).convert("RGB")
        clip = None
        if row["audio"]:
            from polyfuse.bench.cognition.audio import read_wav

            clip = read_wav(data / row["audio"])
        assert normalize_answer(answerer(image, row["question"], clip)) == row["prediction"]


def test_cli_run_compares_fusions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = [
        "bench",
        "cognition",
        "run",
        "--fusions",
        "concat,transformer",
        "--n",
        "60",
        "--epochs",
        "1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "transformer" in printed and "concat" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["fusions"]["transformer"]["fusion"] == "mult"
    assert (out / "bundles" / "concat" / "config.json").is_file()
    assert 'data-plot="radar"' in (out / "report.html").read_text(encoding="utf-8")


def test_fusion_names() -> None:
    assert resolve_fusion("transformer") == "mult"
    assert parse_fusions("concat, relation") == ("concat", "relation")
    with pytest.raises(ValueError, match="unknown fusion"):
        parse_fusions("telepathy")
    assert main(["bench", "cognition", "run", "--fusions", "nope"]) == 2


def test_presets_and_overrides() -> None:
    assert RunOptions.preset("small") == RunOptions()
    full = RunOptions.preset("full", epochs=3, n=None)  # None keeps the preset's value
    assert (full.epochs, full.n, full.size, full.stem) == (3, PRESETS["full"].n, 64, 4)
    assert full.n > 5 * RunOptions().n and full.epochs < PRESETS["full"].epochs
    anchors = PRESETS["anchors"]  # Santoro et al.'s setting: Sort-of-CLEVR's questions at its density
    assert anchors.abilities == ("relation", "relation", "shape", "position")  # half relational
    assert anchors.questions_per_scene == 10
    assert anchors.n // anchors.questions_per_scene == 10000 and anchors.size == 64
    assert anchors.image_encoder == "cells" and anchors.fusions == (*RunOptions().fusions, "hops")
    with pytest.raises(ValueError, match="presets: small, full, anchors"):
        RunOptions.preset("huge")
    with pytest.raises(ValueError, match="power of two"):
        RunOptions(size=48)  # 4 x 4 image tokens would straddle the scene's cells
    with pytest.raises(ValueError, match="image_encoder must be one of cnn, cells"):
        RunOptions(image_encoder="vit")


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_gives_one_coordinate_tagged_image_token_per_scene_cell(preset: str) -> None:
    options = RunOptions.preset(preset)
    config = model_config("relation", options, "unused")
    image = config["model"]["encoders"]["image"]
    assert image["type"] == options.image_encoder
    if options.image_encoder == "cnn":
        assert image["coords"] and image["stem"] == options.stem
    assert config["model"]["fusion"]["type"] == "relation" and config["model"]["fusion"]["regions"] == "image"
    spec = {"channels": 3, "height": options.size, "width": options.size}
    encoder = create_encoder("image", parse_encoder_config("image", image), spec).eval()
    with torch.no_grad():
        out = encoder({"pixels": torch.zeros(2, 3, options.size, options.size)})
    assert out.tokens is not None and out.tokens.shape[1] == GRID * GRID
    if options.image_encoder == "cells":  # tokens end with their cell's centre
        assert out.tokens[0, :, -2:].tolist()[:2] == [[-0.75, -0.75], [-0.25, -0.75]]


def test_cli_run_full_preset_on_chosen_abilities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="polyfuse")
    out = tmp_path / "run"
    args = ["bench", "cognition", "run", "--preset", "full", "--fusions", "relation"]
    args += ["--abilities", "relation,shape", "--n", "60", "--epochs", "1", "--out", str(out)]
    assert main([*args, "--questions-per-scene", "3", "--image-encoder", "cells"]) == 0
    printed = capsys.readouterr()
    assert "training relation (1/1)" in printed.out and "epoch 1/1" in caplog.text  # progress shown
    results = json.loads((out / "results.json").read_text())
    assert results["options"]["image_encoder"] == "cells"
    bundle = json.loads((out / "bundles" / "relation" / "config.json").read_text())
    assert bundle["config"]["model"]["encoders"]["image"]["type"] == "image/cells"
    assert results["options"]["size"] == 64 and results["options"]["stem"] == 4
    assert results["options"]["n"] == 60 and results["options"]["abilities"] == ["relation", "shape"]
    table = load_table(out / "data")
    assert set(table["ability"]) == {"relation", "shape"} and (table["audio"] == "").all()
    assert (table.groupby("scene_id").size() == 3).all() and results["options"]["questions_per_scene"] == 3
    scored = results["fusions"]["relation"]["scores"]["splits"]["test_iid"]["abilities"]
    assert set(scored) <= {"relation", "shape"}
    assert main([*args[:7], "--abilities", "telepathy", "--out", str(out)]) == 2
    generate_args = ["bench", "cognition", "generate", "--n", "20", "--out", str(tmp_path / "g")]
    assert main([*generate_args, "--abilities", "telepathy"]) == 2
