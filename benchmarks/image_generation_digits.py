"""Digits from words and sounds: MNIST drawn from the digit's English or Chinese word or an FSDD
recording of it, judged by a polyfuse classifier trained on the real images.

    python benchmarks/image_generation_digits.py                      # judge + generator + scores
    python benchmarks/image_generation_digits.py --epochs 3 --eval-images 500

Steps: (1) benchmarks/mnist_tables.py's tables; (2) the judge, a CNN classifier of the real
images (test accuracy printed); (3) the generator, ``model.task: {type: image_generation}`` on
``words/train.csv`` (conditions: ``prompt`` text, ``sound`` audio; target: ``image``); (4) images
for test conditions: conditional accuracy overall and per condition kind, FID / KID on the judge's
features against real test images, the nearest-training-image distance of generated and of real
test images (memorisation check), sampling speed; grids go to docs/figures/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))

from mnist_tables import CHINESE, ENGLISH, build  # noqa: E402

from polyfuse import Predictor  # noqa: E402
from polyfuse.data.processors.image import decode_image  # noqa: E402
from polyfuse.evaluation.generation import (  # noqa: E402
    JudgeFeatures,
    fid_kid,
    nearest_training_distance,
)
from polyfuse.generate import iter_generate, set_sampling  # noqa: E402
from polyfuse.tasks._images import save_grid  # noqa: E402

OUT = ROOT / "output" / "mnist"
FIGURES = ROOT.parent / "docs" / "figures"
QUIET = {"progress": False, "tensorboard": False}


def train_judge(folder: Path, epochs: int) -> tuple[Predictor, float, float]:
    config = {
        "data": {
            "train": str(folder / "digits" / "train.csv"),
            "label": "digit",
            "task": "multiclass",
            "columns": {"image": "image"},
            "processors": {
                "image": {
                    "size": 28,
                    "mode": "L",
                    "augment": True,
                    "max_shift": 0.08,
                    "brightness": 0.0,
                    "contrast": 0.0,
                }
            },
        },
        "model": {"encoders": {"image": {"type": "cnn", "widths": [32, 64]}}},
        "training": {
            "epochs": epochs,
            "batch_size": 128,
            "lr": 3e-3,
            **QUIET,
            "output_dir": str(OUT / "judge_run"),
        },
    }
    started = time.perf_counter()
    judge = Predictor(config=config).fit()
    seconds = time.perf_counter() - started
    judge.save(OUT / "judge")
    accuracy = judge.evaluate(folder / "digits" / "test.csv")["accuracy_score"]
    return judge, accuracy, seconds


LABEL_COLUMNS = {"digit": "categorical", "prompt": "ignore", "sound": "ignore"}
"""``--condition label``: the digit itself as the condition (no text or audio encoder to learn)."""


def generator_config(
    folder: Path,
    epochs: int,
    widths: list[int],
    condition: str = "words",
    scale_shift: bool = False,
    prediction: str = "v_prediction",
    align: float = 0.0,
    audio: str = "small",
) -> dict[str, Any]:
    columns = (
        {"prompt": "text", "sound": "audio", "digit": "ignore"} if condition == "words" else LABEL_COLUMNS
    )
    return {
        "data": {
            "train": str(folder / "words" / "train.csv"),
            "label": "image",
            "valid_fraction": 0.02,
            "columns": columns,
            "processors": {
                "text": {"vocab_size": 100, "max_length": 4},
                "audio": AUDIO[audio]["processor"],
            },
        },
        "model": {
            "encoders": {
                "text": {"type": "bag", "embed_dim": 32},
                "audio": AUDIO[audio]["encoder"],
            },
            "fusion": {"type": "concat", "hidden_dim": 64, "dropout": 0.0},
            # the word and the recording of a row pulled together (InfoNCE): the audio encoder
            # learns which digit is spoken from the words, not only from the denoising loss
            "alignment": [{"type": "contrastive", "weight": align}] if align else [],
            "task": {
                "type": "image_generation",
                "size": 28,
                "mode": "L",
                "widths": widths,
                "condition_dropout": 0.1,
                "ema_decay": 0.995,
                "sampling_steps": 20,
                "guidance_scale": 1.5,
                "scale_shift": scale_shift,
                "prediction": prediction,
            },
        },
        "training": {
            "epochs": epochs,
            "batch_size": 64,
            "lr": 2e-3,
            "patience": None,
            **QUIET,
            "output_dir": str(
                OUT / f"generator_run-{condition}{'-ss' if scale_shift else ''}-{prediction}"
                f"{align_suffix(align)}{audio_suffix(audio)}"
            ),
        },
    }


AUDIO: dict[str, dict[str, dict[str, Any]]] = {
    "small": {
        "processor": {"sample_rate": 8000, "max_seconds": 1.0, "n_mels": 32, "n_fft": 256, "hop_length": 100},
        "encoder": {"type": "cnn", "widths": [16, 32]},
    },
    # the AV-digits classifier's audio side (99 % on FSDD alone): 40 mel bands, the encoder's
    # default widths and SpecAugment masks
    "avdigits": {
        "processor": {
            "sample_rate": 8000,
            "max_seconds": 1.0,
            "n_mels": 40,
            "n_fft": 256,
            "hop_length": 80,
            "augment": True,
            "freq_mask": 6,
            "time_mask": 10,
        },
        "encoder": {"type": "cnn", "widths": [32, 64, 128, 128]},
    },
}
"""``--audio``: the recording's processor and encoder."""


def audio_suffix(audio: str) -> str:
    """Bundle and run-folder suffix of an ``--audio`` choice: none for ``small``."""
    return "" if audio == "small" else f"-audio-{audio}"


def align_suffix(weight: float) -> str:
    """Bundle and run-folder suffix of an alignment weight: none, ``-align`` (0.1, the documented
    run) or ``-align0.5``."""
    if not weight:
        return ""
    return "-align" if weight == 0.1 else f"-align{weight:g}"


def _real_images(paths: list[str], base: Path) -> torch.Tensor:
    arrays = [
        np.asarray(decode_image(str((base / p).resolve())).convert("L"), dtype=np.float32) / 255
        for p in paths
    ]
    return torch.from_numpy(np.stack(arrays))[:, None]  # (N, 1, 28, 28)


def condition_kind(row: pd.Series) -> str:
    if isinstance(row["prompt"], str) and row["prompt"]:
        language = "english" if row["prompt"] in ENGLISH else "chinese"
        return f"{language}+sound" if isinstance(row["sound"], str) and row["sound"] else language
    return "sound"


def score(generator: Predictor, judge: Predictor, folder: Path, n: int, condition: str) -> dict[str, Any]:
    test = pd.read_csv(folder / "words" / "test.csv", keep_default_na=False).sample(n, random_state=0)
    test = test.reset_index(drop=True)
    by_label = condition == "label"
    conditions = test[["digit"]] if by_label else test[["prompt", "sound"]].replace("", None)
    started = time.perf_counter()
    parts = [images for _, images in iter_generate(generator, conditions, chunk_rows=250)]
    sampling_seconds = time.perf_counter() - started
    fake = torch.cat(parts)
    features = JudgeFeatures(judge)
    kinds = pd.Series(["label"] * len(test)) if by_label else test.apply(condition_kind, axis=1)
    predicted = features.classify(fake)
    hits = np.array([p == str(d) for p, d in zip(predicted, test["digit"], strict=True)])
    per_kind = {k: float(hits[(kinds == k).to_numpy()].mean()) for k in sorted(kinds.unique())}
    real_test = _real_images(
        pd.read_csv(folder / "digits" / "test.csv")["image"].tolist()[:2000], folder / "digits"
    )
    train_paths = pd.read_csv(folder / "digits" / "train.csv")["image"].tolist()[:10000]
    real_train = _real_images(train_paths, folder / "digits")
    distances = {
        "generated": float(nearest_training_distance(fake, real_train).median()),
        "real_test": float(nearest_training_distance(real_test[:n], real_train).median()),
    }
    # grids: each digit from its English word, its Chinese word and a recording
    rows = []
    for digit in range(10):
        sound = test[(test["digit"] == digit) & (test["sound"] != "")]["sound"].iloc[0]
        rows += [{"prompt": ENGLISH[digit]}, {"prompt": CHINESE[digit]}, {"sound": sound}]
    grid = pd.DataFrame(rows).reindex(columns=["prompt", "sound"])
    if by_label:
        grid = pd.DataFrame({"digit": [d for d in range(10) for _ in range(3)]})
    grid = grid.loc[grid.index.repeat(2)].reset_index(drop=True)
    grid_images = torch.cat([images for _, images in iter_generate(generator, grid, 256)])
    name = "image_generation_digits_label.png" if by_label else "image_generation_digits.png"
    if generator.fitted.model.task.config.scale_shift:  # type: ignore[union-attr]
        name = name.replace(".png", "_scale_shift.png")
    if generator.fitted.model.task.config.prediction == "v_prediction":  # type: ignore[union-attr]
        name = name.replace(".png", "_v.png")
    alignment = generator.fitted.config.model.alignment
    if alignment:
        name = name.replace(".png", align_suffix(float(alignment[0]["weight"])).replace("-", "_") + ".png")
    audio_widths = generator.fitted.config.model.encoders.get("audio", {}).get("widths")
    if audio_widths == AUDIO["avdigits"]["encoder"]["widths"]:
        name = name.replace(".png", "_audio_avdigits.png")
    save_grid(grid_images, FIGURES / name, columns=6)
    return {
        "conditional_accuracy": float(hits.mean()),
        "conditional_accuracy_by_condition": per_kind,
        **fid_kid(features, real_test[:1000], fake),
        "fid_judge_real_vs_real": fid_kid(features, real_test[:1000], real_test[1000 : 1000 + n])[
            "fid_judge_error"
        ],
        "nearest_train_rms_median": distances,
        "images": n,
        "sampling_seconds": sampling_seconds,
        "images_per_second": n / sampling_seconds,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-rows", type=int, default=30000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--judge-epochs", type=int, default=2)
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--eval-images", type=int, default=500)
    parser.add_argument("--sampling-steps", type=int, help="DDIM steps when scoring (default: the bundle's)")
    parser.add_argument("--score-only", action="store_true", help="score the saved judge and generator")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--scale-shift", action="store_true", help="AdaGN conditioning (scale_shift)")
    parser.add_argument(
        "--prediction",
        choices=["epsilon", "v_prediction"],
        default="v_prediction",
        help="what the denoiser predicts (the task default, v_prediction, saves the bundle generator-v)",
    )
    parser.add_argument(
        "--condition", choices=["words", "label"], default="words", help="words and sounds, or the digit"
    )
    parser.add_argument(
        "--guidance", type=float, help="classifier-free guidance scale (default: the bundle's)"
    )
    parser.add_argument(
        "--align", type=float, default=0.0, help="weight of a contrastive word-recording alignment (0: none)"
    )
    parser.add_argument(
        "--audio", choices=sorted(AUDIO), default="small", help="the recording's processor and encoder"
    )
    parser.add_argument(
        "--clip-sample", choices=["true", "false"], help="DDIM clipping (default: the bundle's)"
    )
    parser.add_argument("--timestep-spacing", choices=["leading", "trailing"], help="(default: the bundle's)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = build(args.train_rows)
    results: dict[str, Any] = {}
    if (OUT / "judge").is_dir():
        judge = Predictor.load(OUT / "judge")
        if not args.score_only:  # (printed by the run that trained it)
            results["judge_test_accuracy"] = judge.evaluate(folder / "digits" / "test.csv")["accuracy_score"]
    else:
        judge, results["judge_test_accuracy"], results["judge_train_seconds"] = train_judge(
            folder, args.judge_epochs
        )
    print(json.dumps(results), flush=True)
    bundle = ("generator" if args.condition == "words" else "generator-label") + (
        "-ss" if args.scale_shift else ""
    )
    bundle += "-v" if args.prediction == "v_prediction" else ""
    bundle += align_suffix(args.align) + audio_suffix(args.audio)
    if args.score_only:
        generator = Predictor.load(OUT / bundle)
        results["generator_valid"] = generator.fitted.metrics["valid"]
        results["generator_train_seconds"] = generator.fitted.metrics["training"]["seconds"]
    else:
        started = time.perf_counter()
        generator = Predictor(
            config=generator_config(
                folder,
                args.epochs,
                args.widths,
                args.condition,
                args.scale_shift,
                args.prediction,
                args.align,
                args.audio,
            )
        ).fit()
        results["generator_train_seconds"] = time.perf_counter() - started
        results["generator_valid"] = generator.fitted.metrics["valid"]
        generator.save(OUT / bundle)
    print(json.dumps(results), flush=True)
    clip = None if args.clip_sample is None else args.clip_sample == "true"
    set_sampling(
        generator,
        steps=args.sampling_steps,
        guidance_scale=args.guidance,
        clip_sample=clip,
        timestep_spacing=args.timestep_spacing,
    )
    sampling = generator.fitted.model.task.sampling  # type: ignore[union-attr]
    results["sampler"] = {k: sampling[k] for k in ("clip_sample", "timestep_spacing")}
    results["guidance_scale"] = generator.fitted.model.task.sampling["guidance_scale"]  # type: ignore[index]
    results["sampling_steps"] = generator.fitted.model.task.sampling["steps"]  # type: ignore[index]
    results.update(score(generator, judge, folder, args.eval_images, args.condition))
    sampler = "" if sampling["clip_sample"] else "_noclip"
    sampler += "_trailing" if sampling["timestep_spacing"] == "trailing" else ""
    name = f"results_{bundle}_g{results['guidance_scale']:g}{sampler}.json"
    (OUT / name).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
