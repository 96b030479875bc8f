"""Audio-visual digits: FSDD spoken digits paired with MNIST images of the same digit and split.

Builds the paired tables from ../shared/data (official FSDD split: 2700 train / 300 test pairs),
then trains image-only, audio-only and fused (concat) models over several seeds and prints a
markdown table: test accuracy (mean ± std), training time and peak memory per run.

    python benchmarks/avdigits.py                       # clean pairing, 3 seeds
    python benchmarks/avdigits.py --variant hard        # occluded noisy images, low-SNR audio
    python benchmarks/avdigits.py --setups fused --seeds 0

Each run is a separate process so its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
from PIL import Image

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parent.parent / "shared" / "data"
OUT = ROOT / "output" / "avdigits"
HARD_CONFIG = ROOT / "configs" / "avdigits_hard.yaml"
SETUPS = {"image": {"sound": "ignore"}, "audio": {"photo": "ignore"}, "fused": {}}

# The hard variant: each modality alone lands in the 60-80 % band (see docs/benchmarks.md).
DEFAULT_HARD = {"occlusion": 0.33, "pixel_noise": 65.0, "snr_db": -6.5}
HARD = dict(DEFAULT_HARD)


def _occlude_and_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape
    side = round(np.sqrt(HARD["occlusion"]) * h)
    top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    out = image.astype(np.float32)
    out[top : top + side, left : left + side] = rng.uniform(0, 255)
    out += rng.normal(0, HARD["pixel_noise"], out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _low_snr(wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    power = float(np.mean(wave**2)) or 1e-8
    noise = rng.normal(0, np.sqrt(power / 10 ** (HARD["snr_db"] / 10)), wave.shape)
    return (wave + noise).astype(np.float32)


def variant_folder(variant: str) -> Path:
    """``OUT/clean``, ``OUT/hard`` with the default degradation, else a folder named by its values."""
    if variant == "clean" or HARD == DEFAULT_HARD:
        return OUT / variant
    return OUT / f"hard-occ{HARD['occlusion']:g}-noise{HARD['pixel_noise']:g}-snr{HARD['snr_db']:g}"


def build_tables(variant: str, seed: int = 0) -> Path:
    """Write ``train.csv`` / ``test.csv`` (+ images, and noisy audio for ``hard``); return the folder."""
    folder = variant_folder(variant)
    if (folder / "test.csv").is_file():
        return folder
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    mnist = np.load(SHARED / "mnist" / "mnist.npz")
    meta = pd.read_csv(SHARED / "fsdd" / "metadata.csv")
    for split in ("train", "test"):
        images, labels = mnist[f"x_{split}"], mnist[f"y_{split}"]
        pools = {d: list(rng.permutation(np.flatnonzero(labels == d))) for d in range(10)}
        rows = []
        for rec in meta[meta["split"] == split].itertuples():
            index = int(pools[rec.label].pop())
            image = images[index]
            audio_path = (SHARED / "fsdd" / rec.file).resolve()
            if variant == "hard":
                image = _occlude_and_noise(image, rng)
                wave, rate = sf.read(audio_path, dtype="float32")
                audio_path = folder / "audio" / Path(rec.file).name
                audio_path.parent.mkdir(exist_ok=True)
                sf.write(audio_path, _low_snr(wave, rng), rate)
            name = f"images/{split}_{index}.png"
            Image.fromarray(image).save(folder / name)
            rows.append({"photo": name, "sound": str(audio_path), "label": int(rec.label)})
        pd.DataFrame(rows).to_csv(folder / f"{split}.csv", index=False)
    return folder


LOG_MEL = {"sample_rate": 8000, "max_seconds": 1.0, "n_mels": 40, "n_fft": 256, "hop_length": 80}
"""The audio processor's log-mel settings of the AV digits benchmarks (FSDD at 8 kHz, 1 s clips)."""


def config(folder: Path, setup: str, seed: int, epochs: int) -> dict[str, Any]:
    """The benchmark's polyfuse config for one run.

    The clean variant uses the encoders' defaults; the hard variant the model and training of
    ``configs/avdigits_hard.yaml``, the config the fusion comparison (``polyfuse compare``) uses,
    so its single-input runs are the baselines the fusions are measured against.
    """
    if folder.name != "clean":
        from polyfuse.config import load_config

        values = load_config(HARD_CONFIG).model_dump()
        values["data"].update(train=str(folder / "train.csv"), test=str(folder / "test.csv"))
        values["data"]["columns"] = {"photo": "image", "sound": "audio", **SETUPS[setup]}
        if setup != "fused":
            values["model"]["modality_dropout"] = 0.0
        values["training"].update(
            seed=seed, output_dir=str(OUT / "runs" / f"{folder.name}-{setup}-{seed}"), epochs=epochs
        )
        return values
    return {
        "data": {
            "train": str(folder / "train.csv"),
            "test": str(folder / "test.csv"),
            "label": "label",
            "task": "multiclass",
            "columns": {"photo": "image", "sound": "audio", **SETUPS[setup]},
            "processors": {
                "image": {
                    "size": 28,
                    "mode": "L",
                    "augment": True,
                    "max_shift": 0.1,
                    "brightness": 0.0,
                    "contrast": 0.0,
                },
                "audio": {
                    **LOG_MEL,
                    "augment": True,
                    "freq_mask": 6,
                    "time_mask": 10,
                },
            },
        },
        "model": {"fusion": {"type": "concat"}, "modality_dropout": 0.2 if setup == "fused" else 0.0},
        "training": {
            "epochs": epochs,
            "batch_size": 64,
            "lr": 3e-3,
            "patience": None,
            "seed": seed,
            "progress": False,
            "tensorboard": False,
            "output_dir": str(OUT / "runs" / f"{folder.name}-{setup}-{seed}"),
        },
    }


def _hard_epochs() -> int:
    from polyfuse.config import load_config

    return load_config(HARD_CONFIG).training.epochs


def single_run(folder: Path, setup: str, seed: int, epochs: int, threads: int = 2) -> dict[str, Any]:
    """Train and test one model in this process; returns its figures."""
    import torch

    from polyfuse import Predictor

    torch.set_num_threads(threads)
    started = time.perf_counter()
    values = config(folder, setup, seed, epochs)
    values["training"]["threads"] = threads  # training.threads: auto would set the machine's cores
    predictor = Predictor(config=values).fit()
    seconds = time.perf_counter() - started
    test = predictor.fitted.metrics["test"]
    return {
        "setup": setup,
        "seed": seed,
        "accuracy": test["accuracy_score"],
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=["clean", "hard"], default="clean")
    parser.add_argument("--setups", default="image,audio,fused")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, help="default: 8 (clean), the hard config's (hard)")
    hard = parser.add_argument_group("hard variant degradation")
    hard.add_argument("--occlusion", type=float, default=DEFAULT_HARD["occlusion"], help="occluded share")
    hard.add_argument("--pixel-noise", type=float, default=DEFAULT_HARD["pixel_noise"], help="pixel σ")
    hard.add_argument("--snr-db", type=float, default=DEFAULT_HARD["snr_db"], help="audio SNR in dB")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per run")
    parser.add_argument("--single", help=argparse.SUPPRESS)  # "setup:seed", run in a child process
    args = parser.parse_args()
    HARD.update(occlusion=args.occlusion, pixel_noise=args.pixel_noise, snr_db=args.snr_db)
    folder = build_tables(args.variant)
    if args.epochs is None:
        args.epochs = 8 if args.variant == "clean" else _hard_epochs()
    if args.single:
        setup, seed = args.single.split(":")
        print(json.dumps(single_run(folder, setup, int(seed), args.epochs, args.threads)))
        return
    started, results = time.perf_counter(), []
    for setup in args.setups.split(","):
        for seed in map(int, args.seeds.split(",")):
            command = [
                sys.executable,
                __file__,
                "--variant",
                args.variant,
                "--epochs",
                str(args.epochs),
                "--occlusion",
                str(args.occlusion),
                "--pixel-noise",
                str(args.pixel_noise),
                "--snr-db",
                str(args.snr_db),
                "--threads",
                str(args.threads),
                "--single",
                f"{setup}:{seed}",
            ]
            line = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1]
            results.append(json.loads(line))
            print(f"  {args.variant} {setup} seed {seed}: {results[-1]}", file=sys.stderr)
    print(f"\n{args.variant} variant, {args.epochs} epochs, seeds {args.seeds}\n")
    print("| setup | test accuracy (mean ± std) | train time per run (s) | peak memory (MB) |")
    print("|---|---|---|---|")
    for setup in args.setups.split(","):
        runs = [r for r in results if r["setup"] == setup]
        acc = [100 * r["accuracy"] for r in runs]
        std = statistics.stdev(acc) if len(acc) > 1 else 0.0
        print(
            f"| {setup} | {statistics.mean(acc):.2f} ± {std:.2f} % | "
            f"{statistics.mean(r['seconds'] for r in runs):.0f} | {max(r['peak_mb'] for r in runs):.0f} |"
        )
    print(f"\nwhole benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
