"""Cognition scenes as text: each scene's caption, answers in words beside the classifier, and
caption -> scene retrieval, on one generated set (polyfuse/bench/cognition), every model from scratch.

Parts (``--parts``, comma-separated):

- ``captions``: one row per scene, image -> caption (generation task: the benchmark's image CNN, one
  token per scene cell, at the size the scenes are drawn; a transformer decoder, word tokenizer,
  greedy decoding). On test_iid and test_comp scenes: exact match of the whole caption, BLEU-4, and
  how many of the reference's objects the caption gets right (its whole "size colour shape at the
  vertical horizontal" phrase; then per attribute, matching objects by colour, unique in a scene).
- ``answers``: image + question (+ the audio clip where the row has one) -> the answer as free text
  (generation task, transformer decoder) beside a classifier (``polyfuse bench cognition``'s config
  for ``--fusion``), trained on the same train/valid rows for the same epochs: exact match per
  ability (after the benchmark's answer normalisation) against the classifier's accuracy.
- ``retrieval``: caption -> scene image (retrieval task: a BiGRU text tower, the image CNN tower),
  R@1/5/10 and median rank over the test_iid scenes, one caption per scene (a 1:1 gallery).

Prints markdown tables and one JSON line per result, and writes ``results.json`` under ``--out``.

    python benchmarks/cognition_generation.py                       # a first look, ~2.5 min
    python benchmarks/cognition_generation.py --scenes 2500 --answer-epochs 8   # docs/benchmarks.md
    python benchmarks/cognition_generation.py --scenes 10000 --epochs 30 --answer-epochs 12 \\
        --parts captions,answers --out benchmarks/output/cognition_generation_large   # larger
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from polyfuse import Predictor
from polyfuse.bench.cognition.abilities import list_abilities
from polyfuse.bench.cognition.adapter import predict_rows
from polyfuse.bench.cognition.generate import TEST_SPLITS, GenerateOptions, generate, load_table
from polyfuse.bench.cognition.run import RunOptions, image_encoder, model_config
from polyfuse.bench.cognition.score import CognitionScores, score_predictions
from polyfuse.text_metrics import generation_metrics, normalise

PARTS = ("captions", "answers", "retrieval")
OBJECT = re.compile(r"\b(small|large) (\w+) (\w+) at the (top|bottom) (left|right)\b")
"""One object's phrase in a normalised caption: size, colour, shape, vertical, horizontal."""
ATTRIBUTES = ("colour", "shape", "size", "position")


# ---------------------------------------------------------------- configs
def training(args: argparse.Namespace, out: Path, epochs: int) -> dict[str, Any]:
    """The ``training`` section every model shares (one thread, no early stopping)."""
    return {
        "epochs": epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "patience": None,
        "seed": args.seed,
        "num_workers": 0,
        "threads": 1,
        "tensorboard": False,
        "progress": False,
        "output_dir": str(out),
    }


def run_options(args: argparse.Namespace, epochs: int) -> RunOptions:
    """The cognition benchmark's options at this run's size (its image CNN and classifier config)."""
    return RunOptions(
        epochs=epochs, size=args.size, seed=args.seed, batch_size=args.batch_size, lr=args.lr, progress=False
    )


def decoder(dim: int) -> dict[str, Any]:
    return {"type": "transformer", "dim": dim, "num_layers": 2, "num_heads": 4, "dropout": 0.1}


def caption_config(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Image -> caption: the benchmark's image CNN (4 x 4 tokens with coordinates), a transformer."""
    return {
        "data": {
            "label": "caption",
            "columns": {"image": "image"},
            "processors": {"image": {"size": args.size}},
        },
        "model": {
            "encoders": {"image": image_encoder(run_options(args, args.epochs))},
            "task": {
                "type": "generation",
                "decoder": decoder(128),
                "tokenizer": "word",
                "max_length": 96,  # eight objects: 81 words and commas, BOS and EOS
                "primary_metric": "bleu4_score",
                "decoding": {"strategy": "greedy"},
            },
        },
        "training": training(args, out, args.epochs),
    }


def answer_configs(args: argparse.Namespace, out: Path, with_audio: bool) -> dict[str, dict[str, Any]]:
    """The classifier (the cognition benchmark's config for ``--fusion``) and the generator: the same
    encoders and processors, a transformer decoder over every input's tokens instead of fusion + head."""
    options = run_options(args, args.answer_epochs)
    classifier = model_config(args.fusion, options, out / "classifier", with_audio)
    classifier["training"] = training(args, out / "classifier", args.answer_epochs)
    data = {k: v for k, v in classifier["data"].items() if k != "task"}
    task = {
        "type": "generation",
        "decoder": decoder(64),
        "tokenizer": "word",
        "max_length": 8,
        "primary_metric": "exact_match_score",
        "decoding": {"strategy": "greedy"},
    }
    generator = {
        "data": data,
        "model": {"encoders": classifier["model"]["encoders"], "task": task},
        "training": training(args, out / "generator", args.answer_epochs),
    }
    return {"generator": generator, "classifier": classifier}


def retrieval_config(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Caption -> image: from-scratch towers (BiGRU over the caption's words, the image CNN)."""
    return {
        "data": {
            "columns": {"caption": "text", "image": "image"},
            "processors": {"image": {"size": args.size}, "text": {"vocab_size": 200, "max_length": 96}},
        },
        "model": {
            "task": {"type": "retrieval", "query": ["caption"], "candidates": ["image"], "embed_dim": 64},
            "encoders": {
                "text": {"type": "bigru", "embed_dim": 32, "hidden_dim": 64},
                "image": image_encoder(run_options(args, args.epochs)),
            },
        },
        "training": training(args, out, args.epochs),
    }


# ---------------------------------------------------------------- caption scores
def objects(text: str) -> dict[str, tuple[str, str, str]]:
    """colour -> (shape, size, position) of the object phrases in a caption; a colour named twice
    (never in a reference: colours are unique in a scene) keeps its first phrase."""
    named: dict[str, tuple[str, str, str]] = {}
    for size, colour, shape, vertical, horizontal in OBJECT.findall(normalise(text)):
        named.setdefault(colour, (shape, size, f"{vertical} {horizontal}"))
    return named


def caption_scores(hyps: list[str], refs: list[str]) -> dict[str, float]:
    """Exact match and BLEU-4 (0-100), then fractions of the references' objects: ``object`` (the
    whole phrase is in the caption), ``colour`` (an object of its colour is named) and ``shape`` /
    ``size`` / ``position`` (the object named with its colour has it right); ``count`` is the share
    of captions naming as many objects as the scene has."""
    metrics = generation_metrics(hyps, [[r] for r in refs])
    right = dict.fromkeys(("object", *ATTRIBUTES), 0)
    total = counts = 0
    for hyp, ref in zip(hyps, refs, strict=True):
        said, truth = objects(hyp), objects(ref)
        counts += len(said) == len(truth)
        total += len(truth)
        for colour, attributes in truth.items():
            named = said.get(colour)
            right["object"] += named == attributes
            right["colour"] += named is not None
            for i, attribute in enumerate(ATTRIBUTES[1:]):
                right[attribute] += named is not None and named[i] == attributes[i]
    return {
        "scenes": len(hyps),
        "exact_match_score": metrics["exact_match_score"],
        "bleu4_score": metrics["bleu4_score"],
        "count_score": 100.0 * counts / max(len(hyps), 1),
        **{f"{k}_score": 100.0 * v / max(total, 1) for k, v in right.items()},
    }


# ---------------------------------------------------------------- parts
def fit(config: dict[str, Any], train: Any, valid: Any, data: Path) -> tuple[Predictor, float]:
    """Train a predictor on ``train`` (media relative to ``data``); (predictor, seconds)."""
    started = time.perf_counter()
    predictor = Predictor(config=config).fit(train, valid, base_dir=data)
    return predictor, time.perf_counter() - started


def run_captions(args: argparse.Namespace, table: pd.DataFrame, data: Path) -> dict[str, Any]:
    scenes = table.drop_duplicates("scene_id")[["image", "caption", "split"]]
    split = {s: scenes[scenes["split"] == s][["image", "caption"]] for s in scenes["split"].unique()}
    predictor, seconds = fit(
        caption_config(args, args.out / "captions"), split["train"], split["valid"], data
    )
    result: dict[str, Any] = {"train_seconds": round(seconds, 1), "train_scenes": len(split["train"])}
    for name in TEST_SPLITS:
        frame = split[name].reset_index(drop=True)
        hyps = predictor.predict(frame[["image"]], base_dir=data)["prediction"].fillna("").tolist()
        result[name] = caption_scores(hyps, frame["caption"].tolist())
        samples = frame.assign(generated=hyps).head(5)
        samples.to_csv(args.out / f"caption-samples-{name}.csv", index=False)
    return result


def run_answers(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    train = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    with_audio = bool((train["audio"] != "").any())
    result: dict[str, Any] = {}
    for name, config in answer_configs(args, args.out / "answers", with_audio).items():
        predictor, seconds = fit(config, data / "train.csv", data / "valid.csv", data)
        scores: CognitionScores = score_predictions(predict_rows(predictor, data))
        splits = {s: split_summary(scores, s) for s in TEST_SPLITS}
        result[name] = {"train_seconds": round(seconds, 1), **splits}
    result["train_questions"] = len(train)
    return result


def split_summary(scores: CognitionScores, split: str) -> dict[str, Any]:
    part = scores.splits[split]
    abilities = {a: [s.accuracy_score, s.questions] for a, s in part.abilities.items()}
    return {"accuracy_score": part.accuracy_score, "questions": part.questions, "abilities": abilities}


def run_retrieval(args: argparse.Namespace, table: pd.DataFrame, data: Path) -> dict[str, Any]:
    scenes = table.drop_duplicates("scene_id")
    split = {s: scenes[scenes["split"] == s][["caption", "image"]] for s in ("train", "valid", "test_iid")}
    config = retrieval_config(args, args.out / "retrieval")
    predictor, seconds = fit(config, split["train"], split["valid"], data)
    metrics = predictor.evaluate(split["test_iid"].reset_index(drop=True), base_dir=data)
    keep = [f"q2c_recall_at_{k}_score" for k in (1, 5, 10)] + ["q2c_median_rank_error"]
    return {
        "train_seconds": round(seconds, 1),
        "train_scenes": len(split["train"]),
        "gallery": len(split["test_iid"]),
        **{k: metrics[k] for k in keep},
    }


# ---------------------------------------------------------------- tables
def caption_table(result: dict[str, Any]) -> str:
    keys = ["exact_match_score", "bleu4_score", "object_score", *[f"{a}_score" for a in ATTRIBUTES]]
    head = "| split | scenes | exact match | BLEU-4 | object | colour | shape | size | position | count |"
    lines = [head, "|---" * 10 + "|"]
    for split in TEST_SPLITS:
        r = result[split]
        cells = [f"{r[k]:.1f}" for k in [*keys, "count_score"]]
        lines.append(f"| {split} | {r['scenes']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def answer_table(result: dict[str, Any]) -> str:
    gen, cls = result["generator"], result["classifier"]
    columns = [f"{m} ({s})" for s in ("iid", "comp") for m in ("generation", "classifier")]
    lines = ["| ability | " + " | ".join(columns) + " | questions (iid / comp) |", "|---" * 6 + "|"]
    seen = {a for split in TEST_SPLITS for a in gen[split]["abilities"]}
    for ability in [a for a in list_abilities() if a in seen]:
        cells, sizes = [], []
        for split in TEST_SPLITS:
            for model in (gen, cls):
                value = model[split]["abilities"].get(ability)
                cells.append("n/a" if value is None else f"{value[0]:.3f}")
            value = gen[split]["abilities"].get(ability)
            sizes.append(str(value[1]) if value else "0")
        lines.append(f"| {ability} | " + " | ".join(cells) + " | " + " / ".join(sizes) + " |")
    overall = [f"{m[s]['accuracy_score']:.3f}" for s in TEST_SPLITS for m in (gen, cls)]
    total = " / ".join(str(gen[s]["questions"]) for s in TEST_SPLITS)
    lines.append("| **overall** | " + " | ".join(overall) + f" | {total} |")
    return "\n".join(lines)


def retrieval_table(result: dict[str, Any]) -> str:
    cells = [f"{100 * result[f'q2c_recall_at_{k}_score']:.1f}" for k in (1, 5, 10)]
    return (
        "| gallery (test_iid scenes) | R@1 | R@5 | R@10 | median rank |\n|---|---|---|---|---|\n"
        f"| {result['gallery']} | " + " | ".join(cells) + f" | {result['q2c_median_rank_error']:.0f} |"
    )


# ---------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=800, help="scenes generated (70%% train)")
    parser.add_argument("--questions-per-scene", type=int, default=2)
    parser.add_argument("--size", type=int, default=32, help="image side, generated and read")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the caption and retrieval models")
    parser.add_argument("--answer-epochs", type=int, default=6, help="epochs of both answer models")
    parser.add_argument("--fusion", default="film", help="the classifier's fusion (polyfuse bench cognition)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/output/cognition_generation"))
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; parts: {', '.join(PARTS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    data = args.out / "data"
    options = GenerateOptions(
        n=args.scenes * args.questions_per_scene,
        seed=args.seed,
        size=args.size,
        questions_per_scene=args.questions_per_scene,
    )
    generate(data, options)
    table = load_table(data)
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    runners = {
        "captions": (lambda: run_captions(args, table, data), caption_table),
        "answers": (lambda: run_answers(args, data), answer_table),
        "retrieval": (lambda: run_retrieval(args, table, data), retrieval_table),
    }
    for part in args.parts:
        run, table_of = runners[part]
        results[part] = run()
        print(f"\n### {part}\n\n{table_of(results[part])}\n", flush=True)
        print(json.dumps({"part": part, **results[part]}), flush=True)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps({"total_seconds": results["total_seconds"]}))
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
