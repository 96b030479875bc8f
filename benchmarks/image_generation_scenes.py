"""Scenes from captions: polyfuse's image generation drawing cognition scenes (coloured shapes on a
dark ground, polyfuse/bench/cognition/scene.py) from their English captions, judged by a
multi-label classifier trained on the real scenes.

    python benchmarks/image_generation_scenes.py --train-scenes 300 --test-scenes 60 --epochs 1 \\
        --judge-epochs 1 --out benchmarks/output/scenes_smoke     # smoke run, ~1 min
    python benchmarks/image_generation_scenes.py                   # the docs' run, ~32 min, one thread
    python benchmarks/image_generation_scenes.py --threads 2 --cross-attention   # ~37 min

Steps: (1) train and test scenes of 1 to ``--max-objects`` objects, drawn at 32 px without clutter
or noise, each with its caption ("A small red circle at the top left, a large blue square at the
bottom right."); (2) the judge, a CNN multi-label classifier of the real train scenes. Its labels
are each object's attributes keyed by its colour (unique in a scene): "red circle", "red small",
"red top", "red left", so a scene's label set names its objects exactly. (One label per whole
object, "small red circle top left", gives 192 rare labels: such a judge had learnt none of them
after 4 epochs.) Its exact-scene accuracy on the real test scenes is the ceiling. (3) The
generator, ``model.task: {type: image_generation}`` drawing the image column from the caption
alone (a from-scratch BiGRU text encoder: word order binds "red" to "circle" and "top left").
(4) One image per test caption (seeded): the share whose judged label set equals the caption's,
by object count, and per attribute of each caption object (found by its colour), beside the same
scores of the real test scenes; FID / KID on the judge's features against the real test scenes;
the median nearest-training-image distance of generated and of real test scenes (memorisation);
sampling speed. A grid (per caption: the real scene, then two samples) goes to
docs/figures/image_generation_scenes.png. ``--cross-attention`` gives the generator
``cross_attention: true`` (its UNet also attends to the caption's tokens); its bundle, figure and
results carry a ``-cross`` / ``_cross`` suffix.

The scenes and the judge are kept under ``--out`` and reused while the scene options stay the same
(delete ``judge/`` to retrain it); the generator is trained on every run. Prints a markdown table
and one JSON line per result, and writes ``results.json`` (``results-cross.json``) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from polyfuse import Predictor  # noqa: E402
from polyfuse.bench.cognition.scene import (  # noqa: E402
    SHAPES,
    SIZES,
    SceneObject,
    caption,
    draw_scene,
    sample_scene,
)
from polyfuse.data.processors.image import decode_image  # noqa: E402
from polyfuse.evaluation.generation import (  # noqa: E402
    JudgeFeatures,
    fid_kid,
    nearest_training_distance,
)
from polyfuse.generate import iter_generate, set_sampling  # noqa: E402
from polyfuse.tasks._images import save_grid  # noqa: E402

FIGURE = ROOT.parent / "docs" / "figures" / "image_generation_scenes.png"
SIZE = 32
ATTRIBUTES = ("colour", "shape", "size", "position")
QUIET = {"progress": False, "tensorboard": False, "num_workers": 0}


def object_label(obj: SceneObject) -> str:
    """One object as a phrase: ``"small red circle top left"``."""
    return f"{obj.size} {obj.colour} {obj.shape} {obj.vertical} {obj.horizontal}"


def attribute_labels(obj: SceneObject) -> list[str]:
    """The judge's labels of one object, each keyed by its colour (unique in a scene):
    ``["red circle", "red small", "red top", "red left"]``."""
    return [f"{obj.colour} {value}" for value in (obj.shape, obj.size, obj.vertical, obj.horizontal)]


def build(out: Path, train: int, test: int, max_objects: int, seed: int = 0) -> bool:
    """Write ``images/`` and ``train.csv`` / ``test.csv`` unless ``scenes.json`` says they exist as
    asked; True when (re)written. Columns: image, caption, objects (``|``-joined object phrases),
    attributes (the judge's ``|``-joined labels, sorted), num_objects."""
    meta = {"train": train, "test": test, "max_objects": max_objects, "seed": seed, "size": SIZE}
    if (out / "scenes.json").is_file() and json.loads((out / "scenes.json").read_text()) == meta:
        return False
    (out / "images").mkdir(parents=True, exist_ok=True)
    for offset, (split, count) in enumerate((("train", train), ("test", test))):
        rng = np.random.default_rng([seed, offset])
        rows = []
        for i in range(count):
            num_objects = int(rng.integers(1, max_objects + 1))
            scene = sample_scene(rng, num_objects)
            name = f"images/{split}_{i:05d}.png"
            draw_scene(scene, SIZE, rng).save(out / name)
            rows.append(
                {
                    "image": name,
                    "caption": caption(scene),
                    "objects": "|".join(object_label(o) for o in scene.objects),
                    "attributes": "|".join(sorted(a for o in scene.objects for a in attribute_labels(o))),
                    "num_objects": num_objects,
                }
            )
        pd.DataFrame(rows).to_csv(out / f"{split}.csv", index=False)
    (out / "scenes.json").write_text(json.dumps(meta))
    return True


def judge_config(out: Path, epochs: int, threads: int) -> dict[str, Any]:
    """The judge: a 3-stage CNN at 32 px, multi-label over the ``attributes`` column."""
    return {
        "data": {
            "train": str(out / "train.csv"),
            "label": "attributes",
            "task": "multilabel",
            "columns": {"image": "image", "caption": "ignore", "objects": "ignore", "num_objects": "ignore"},
            "processors": {"image": {"size": SIZE, "mode": "RGB", "augment": False}},
        },
        # a 4 x 4 pooled grid (the scenes' grid) keeps where each object is
        "model": {"encoders": {"image": {"type": "cnn", "widths": [32, 64, 128], "pool_grid": 4}}},
        "training": {
            "epochs": epochs,
            "batch_size": 64,
            "lr": 3e-3,
            "threads": threads,
            **QUIET,
            "output_dir": str(out / "judge_run"),
        },
    }


def generator_config(
    out: Path, epochs: int, max_objects: int, threads: int, cross_attention: bool = False
) -> dict[str, Any]:
    """The generator: caption -> BiGRU -> concat fusion -> a 3-level UNet (32 px RGB), v-prediction,
    EMA, guidance 1.5 (the task's defaults where it has them); with ``cross_attention`` the UNet's
    lower levels also attend to the caption's BiGRU tokens."""
    suffix = "-cross" if cross_attention else ""
    return {
        "data": {
            "train": str(out / "train.csv"),
            "label": "image",
            "valid_fraction": 0.02,
            "columns": {
                "caption": "text",
                "objects": "ignore",
                "attributes": "ignore",
                "num_objects": "ignore",
            },
            # 9 words and a comma or full stop per object, nothing truncated
            "processors": {"text": {"vocab_size": 100, "max_length": 10 * max_objects + 2}},
        },
        "model": {
            "encoders": {"text": {"type": "bigru", "embed_dim": 32, "hidden_dim": 64, "dropout": 0.0}},
            "fusion": {"type": "concat", "hidden_dim": 128, "dropout": 0.0},
            "task": {
                "type": "image_generation",
                "size": SIZE,
                "mode": "RGB",
                "widths": [32, 64, 64],
                "condition_dropout": 0.1,
                "ema_decay": 0.995,
                "prediction": "v_prediction",
                "guidance_scale": 1.5,
                "cross_attention": cross_attention,
            },
        },
        "training": {
            "epochs": epochs,
            "batch_size": 64,
            "lr": 2e-3,
            "patience": None,
            "threads": threads,
            **QUIET,
            "output_dir": str(out / f"generator_run{suffix}"),
        },
    }


def fit(config: dict[str, Any], bundle: Path) -> tuple[Predictor, float]:
    """Train, save to ``bundle``; returns the predictor and the training seconds."""
    started = time.perf_counter()
    predictor = Predictor(config=config).fit()
    seconds = time.perf_counter() - started
    predictor.save(bundle)
    return predictor, seconds


def load_images(paths: list[str], base: Path) -> torch.Tensor:
    """The scenes at ``paths`` (relative to ``base``) as ``(N, 3, 32, 32)`` in [0, 1]."""
    arrays = [np.asarray(decode_image(str(base / p)).convert("RGB"), dtype=np.float32) / 255 for p in paths]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)


GROUPS = {
    **{shape: "shape" for shape in SHAPES},
    **{size: "size" for size in SIZES},
    "top": "vertical",
    "bottom": "vertical",
    "left": "horizontal",
    "right": "horizontal",
}
"""An attribute label's value -> its group."""


def judged_objects(judge: JudgeFeatures, images: torch.Tensor) -> list[dict[str, dict[str, str]]]:
    """Per image: ``{colour: {group: value}}`` for each colour with a label of probability 0.5 or
    more, each group's value the most probable of that colour's labels in the group."""
    probs = torch.sigmoid(judge.logits(images))  # (N, K)
    parsed = [label.split() for label in judge.classes]  # colour value
    scenes = []
    for row in probs.tolist():
        present = {colour for (colour, _), p in zip(parsed, row, strict=True) if p >= 0.5}
        best: dict[str, dict[str, tuple[float, str]]] = {colour: {} for colour in present}
        for (colour, value), p in zip(parsed, row, strict=True):
            group = GROUPS[value]
            if colour in present and p > best[colour].get(group, (-1.0, ""))[0]:
                best[colour][group] = (p, value)
        scenes.append({c: {g: v for g, (_, v) in groups.items()} for c, groups in best.items()})
    return scenes


def scene_scores(judge: JudgeFeatures, images: torch.Tensor, test: pd.DataFrame) -> dict[str, Any]:
    """Exact scene match (the judge's label set equals the caption's), per attribute of each
    caption object (matched by colour) and extra objects, overall and by object count."""
    exact = np.array([p == t for p, t in zip(judge.classify(images), test["attributes"], strict=True)])
    hits: dict[str, list[float]] = {a: [] for a in ATTRIBUTES}
    extra = []
    for scene, objects in zip(judged_objects(judge, images), test["objects"], strict=True):
        truth = {
            colour: (size, shape, (v, h)) for size, colour, shape, v, h in map(str.split, objects.split("|"))
        }
        for colour, (size, shape, position) in truth.items():
            seen = scene.get(colour, {})
            hits["colour"].append(float(bool(seen)))
            hits["shape"].append(float(seen.get("shape") == shape))
            hits["size"].append(float(seen.get("size") == size))
            hits["position"].append(float((seen.get("vertical"), seen.get("horizontal")) == position))
        extra.append(len(set(scene) - set(truth)))
    counts = test["num_objects"].to_numpy()
    return {
        "exact_scene_score": float(exact.mean()),
        "exact_scene_score_by_objects": {
            str(k): float(exact[counts == k].mean()) for k in sorted(set(counts))
        },
        **{f"{a}_score": float(np.mean(v)) for a, v in hits.items()},
        "extra_objects_per_scene": float(np.mean(extra)),
    }


def save_figure(generator: Predictor, test: pd.DataFrame, real: torch.Tensor, path: Path) -> list[str]:
    """Eight test captions (four of each object count when there are two), each as the real scene
    and two samples, drawn 3x larger (nearest neighbour); returns the captions in grid order."""
    per_count = 8 // test["num_objects"].nunique()
    picks = test.sort_values(["num_objects"], kind="stable").groupby("num_objects").head(per_count).index[:8]
    rows = test.loc[picks].reset_index(drop=True)
    conditions = rows[["caption"]].loc[rows.index.repeat(2)].reset_index(drop=True)
    samples = torch.cat([images for _, images in iter_generate(generator, conditions, 256)])
    tiles = [torch.stack([real[i], samples[2 * k], samples[2 * k + 1]]) for k, i in enumerate(picks)]
    save_grid(F.interpolate(torch.cat(tiles), scale_factor=3, mode="nearest"), path, columns=6)
    return rows["caption"].tolist()


def score(generator: Predictor, judge: JudgeFeatures, out: Path, figure: Path = FIGURE) -> dict[str, Any]:
    """Generate one image per test caption and score them, and the real test scenes, as the docstring
    at the top says; also writes the figure."""
    train = pd.read_csv(out / "train.csv")
    test = pd.read_csv(out / "test.csv")
    started = time.perf_counter()
    fake = torch.cat([images for _, images in iter_generate(generator, test[["caption"]], 250)])
    sampling_seconds = time.perf_counter() - started
    real_test = load_images(test["image"].tolist(), out)
    real_train = load_images(train["image"].tolist(), out)
    half = len(real_test) // 2
    results: dict[str, Any] = {
        "real": scene_scores(judge, real_test, test),
        "generated": scene_scores(judge, fake, test),
        # KID subsets of half the images (subsets of all of them are all the same set: a std of 0)
        **fid_kid(judge, real_test, fake, subset_size=max(2, len(fake) // 2)),
        # the floor: half the real test scenes against the other half (fewer images, so a bit higher)
        "fid_judge_real_halves": fid_kid(judge, real_test[:half], real_test[half:])["fid_judge_error"],
        "nearest_train_rms_median": {
            "generated": float(nearest_training_distance(fake, real_train).median()),
            "real_test": float(nearest_training_distance(real_test, real_train).median()),
        },
        "test_captions_seen_in_training": float(test["caption"].isin(set(train["caption"])).mean()),
        "images": len(test),
        "sampling_seconds": sampling_seconds,
        "images_per_second": len(test) / sampling_seconds,
    }
    results["figure_captions"] = save_figure(generator, test, real_test, figure)
    return results


def markdown(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(measure, real test scenes, generated) rows."""
    real, fake = results["real"], results["generated"]
    rows = [("exact scene match", f"{real['exact_scene_score']:.1%}", f"{fake['exact_scene_score']:.1%}")]
    for count in real["exact_scene_score_by_objects"]:
        rows.append(
            (
                f"exact match, {count} object{'s' if count != '1' else ''}",
                f"{real['exact_scene_score_by_objects'][count]:.1%}",
                f"{fake['exact_scene_score_by_objects'][count]:.1%}",
            )
        )
    for attribute in ATTRIBUTES:
        name = "colour present" if attribute == "colour" else f"{attribute} right"
        rows.append((name, f"{real[f'{attribute}_score']:.1%}", f"{fake[f'{attribute}_score']:.1%}"))
    rows.append(
        (
            "extra objects / scene",
            f"{real['extra_objects_per_scene']:.3f}",
            f"{fake['extra_objects_per_scene']:.3f}",
        )
    )
    rows.append(
        (
            "FID (judge features)",
            f"{results['fid_judge_real_halves']:.2f} (halves)",
            f"{results['fid_judge_error']:.2f}",
        )
    )
    rows.append(
        ("KID (judge features)", "", f"{results['kid_judge_error']:.4f} ± {results['kid_judge_std']:.4f}")
    )
    distances = results["nearest_train_rms_median"]
    rows.append(
        ("nearest train image, median RMS", f"{distances['real_test']:.4f}", f"{distances['generated']:.4f}")
    )
    rows.append(
        (
            "training minutes",
            f"{results['judge_train_seconds'] / 60:.1f} (judge)",
            f"{results['generator_train_seconds'] / 60:.1f}",
        )
    )
    rows.append(("sampling images/s", "", f"{results['images_per_second']:.1f}"))
    rows.append(("test captions also in train", f"{results['test_captions_seen_in_training']:.1%}", ""))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-scenes", type=int, default=6000)
    parser.add_argument("--test-scenes", type=int, default=500)
    parser.add_argument("--max-objects", type=int, default=2, help="scenes hold 1 to this many objects")
    parser.add_argument("--epochs", type=int, default=10, help="generator epochs")
    parser.add_argument("--judge-epochs", type=int, default=40)
    parser.add_argument("--guidance", type=float, help="classifier-free guidance when scoring (default 1.5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--cross-attention", action="store_true", help="the UNet attends to the caption's tokens too"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "output" / "scenes")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out: Path = args.out
    if build(out, args.train_scenes, args.test_scenes, args.max_objects):
        shutil.rmtree(out / "judge", ignore_errors=True)  # trained on other scenes
    results: dict[str, Any] = {"config": {k: str(v) for k, v in vars(args).items()}}
    if (out / "judge").is_dir():
        predictor = Predictor.load(out / "judge")
        results["judge_train_seconds"] = json.loads((out / "judge_seconds.json").read_text())
    else:
        predictor, results["judge_train_seconds"] = fit(
            judge_config(out, args.judge_epochs, args.threads), out / "judge"
        )
        (out / "judge_seconds.json").write_text(json.dumps(results["judge_train_seconds"]))
    judge = JudgeFeatures(predictor)
    suffix = "-cross" if args.cross_attention else ""
    generator, results["generator_train_seconds"] = fit(
        generator_config(out, args.epochs, args.max_objects, args.threads, args.cross_attention),
        out / f"generator{suffix}",
    )
    results["generator_valid"] = generator.fitted.metrics["valid"]
    set_sampling(generator, guidance_scale=args.guidance)
    results["guidance_scale"] = generator.fitted.model.task.sampling["guidance_scale"]  # type: ignore[index]
    figure = FIGURE.with_name(FIGURE.stem + suffix.replace("-", "_") + FIGURE.suffix)
    results.update(score(generator, judge, out, figure))
    rows = markdown(results)
    print("| measure | real test scenes | generated |\n|---|---|---|")
    print("\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows))
    for name in ("real", "generated"):
        print(json.dumps({"result": f"scenes_{name}", **results[name]}))
    keys = ("fid_judge_error", "kid_judge_error", "kid_judge_std", "fid_judge_real_halves")
    print(json.dumps({"result": "fid_kid", **{k: results[k] for k in keys}}))
    print(json.dumps({"result": "memorisation", **results["nearest_train_rms_median"]}))
    keys = ("judge_train_seconds", "generator_train_seconds", "images_per_second", "guidance_scale")
    print(json.dumps({"result": "cost", **{k: results[k] for k in keys}}))
    (out / f"results{suffix}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
