"""Seed 004's autoencoder on MNIST, and an audio + image autoencoder on the AV digits.

    python benchmarks/autoencoder_mnist.py                 # both parts
    python benchmarks/autoencoder_mnist.py --part mnist    # examples/autoencoder_mnist.yaml only
    python benchmarks/autoencoder_mnist.py --part av --judge benchmarks/output/mnist/judge

``mnist``: trains examples/autoencoder_mnist.yaml (784-128-64-12-3, mirrored decoder, MSE, Adam),
prints test MSE / PSNR / SSIM (pixels on [0, 1]) and the 3-D latent's linear-probe accuracy, and
draws the latent coloured by digit (docs/figures/autoencoder_mnist_latent.png).
``av``: a product-of-experts VAE (MVAE) on image + sound pairs: linear-probe accuracy of the fused
latent against the latent of each input alone (the other left empty), and images generated from
sound alone, judged by the MNIST classifier of benchmarks/image_generation_digits.py (``--judge``).
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

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))

from mnist_tables import build  # noqa: E402

from polyfuse import Predictor  # noqa: E402
from polyfuse.config import load_config  # noqa: E402
from polyfuse.evaluation.generation import linear_probe_score  # noqa: E402

OUT = ROOT / "output" / "autoencoder"
FIGURES = ROOT.parent / "docs" / "figures"


def mnist_part(results: dict[str, Any], epochs: int | None, batch_size: int | None) -> None:
    folder = build()
    config = load_config(ROOT.parent / "examples" / "autoencoder_mnist.yaml").model_dump()
    config["training"]["output_dir"] = str(OUT / "mnist")
    config["training"]["epochs"] = epochs or config["training"]["epochs"]
    config["training"]["batch_size"] = batch_size or config["training"]["batch_size"]
    started = time.perf_counter()
    predictor = Predictor(config=config).fit()
    seconds = time.perf_counter() - started
    predictor.save(OUT / "mnist" / "model")
    test = folder / "digits" / "test.csv"
    metrics = predictor.evaluate(test)
    train = pd.read_csv(folder / "digits" / "train.csv")
    probe_rows = train.sample(10000, random_state=0)
    train_latent = predictor.embed(probe_rows, base_dir=folder / "digits")
    test_frame = pd.read_csv(test)
    test_latent = predictor.embed(test_frame, base_dir=folder / "digits")
    probe = linear_probe_score(
        train_latent, probe_rows["digit"].to_numpy(), test_latent, test_frame["digit"].to_numpy()
    )
    _scatter(test_latent, test_frame["digit"].to_numpy(), FIGURES / "autoencoder_mnist_latent.png")
    results["mnist"] = {
        "test_mse_01": metrics["image_mse_01_error"],
        "test_psnr_01": metrics["image_psnr_01_score"],
        "test_ssim_01": metrics["image_ssim_01_score"],
        "probe_accuracy_3d_latent": probe,
        "train_seconds": seconds,
        "epochs": predictor.fitted.metrics["training"]["epochs_run"],
    }


def _scatter(latent: np.ndarray, labels: np.ndarray, path: Path) -> None:
    """The first 3,000 test latents coloured by digit (the report's scatter, saved as a file)."""
    from polyfuse.evaluation.report.latent import latent_scatter

    path.parent.mkdir(parents=True, exist_ok=True)
    figure = latent_scatter(
        latent[:3000], labels[:3000], "digit", "MNIST test latents (seed 004's 3-D autoencoder)"
    )
    figure.savefig(path, dpi=90, bbox_inches="tight")


def av_part(
    results: dict[str, Any], judge_dir: Path | None, epochs: int, variational: str = "product"
) -> None:
    from avdigits import LOG_MEL, build_tables

    folder = build_tables("clean")
    config = {
        "data": {
            "train": str(folder / "train.csv"),
            "label": "label",
            "columns": {"photo": "image", "sound": "audio"},
            "processors": {
                "image": {"size": 28, "mode": "L"},
                "audio": LOG_MEL,
            },
        },
        "model": {
            "encoders": {
                "image": {"type": "cnn", "widths": [16, 32]},
                "audio": {"type": "cnn", "widths": [16, 32]},
            },
            "task": {
                "type": "autoencoder",
                "variational": variational,
                "latent_dim": 16,
                "beta": 0.01,
                "decoders": {
                    "image": {"type": "deconv", "widths": [32, 16]},
                    "audio": {"hidden_dims": [128]},
                },
            },
        },
        "training": {
            "epochs": epochs,
            "batch_size": 64,
            "lr": 2e-3,
            "patience": None,
            "progress": False,
            "tensorboard": False,
            "output_dir": str(OUT / f"av-{variational}"),
        },
    }
    started = time.perf_counter()
    predictor = Predictor(config=config).fit()
    seconds = time.perf_counter() - started
    predictor.save(OUT / f"av-{variational}" / "model")
    train, test = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")
    probes = {}
    for name, blank in (("fused", None), ("image_only", "sound"), ("sound_only", "photo")):
        tr, te = train.copy(), test.copy()
        if blank:
            tr[blank], te[blank] = "", ""
        x_tr = predictor.embed(tr, base_dir=folder)
        x_te = predictor.embed(te, base_dir=folder)
        probes[name] = linear_probe_score(x_tr, tr["label"].to_numpy(), x_te, te["label"].to_numpy())
    entry: dict[str, Any] = {"probe_accuracy": probes, "train_seconds": seconds}
    metrics = predictor.evaluate(folder / "test.csv")
    entry["test_image_mse_01"] = metrics["photo_mse_01_error"]
    if judge_dir is not None:
        entry["image_from_sound_judged_accuracy"] = _image_from_sound(predictor, test, folder, judge_dir)
    results["av"] = entry


def _image_from_sound(predictor: Predictor, test: pd.DataFrame, folder: Path, judge_dir: Path) -> float:
    """Blank the image, let the sound's expert infer it, and ask the judge which digit it shows."""
    import torch

    from polyfuse.evaluation.generation import JudgeFeatures, conditional_accuracy
    from polyfuse.tasks._images import save_grid

    frame = test.copy()
    frame["photo"] = ""
    latents = predictor.embed(frame, base_dir=folder)
    task: Any = predictor.fitted.model.task
    with torch.inference_mode():
        images = task.decode(torch.from_numpy(latents))["photo"]
    save_grid(images[:40], FIGURES / "autoencoder_av_image_from_sound.png", columns=10)
    judge = JudgeFeatures(Predictor.load(judge_dir))
    return conditional_accuracy(judge, images, frame["label"].tolist())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["mnist", "av", "both"], default="both")
    parser.add_argument("--judge", type=Path, default=ROOT / "output" / "mnist" / "judge")
    parser.add_argument("--av-epochs", type=int, default=15)
    parser.add_argument("--epochs", type=int, help="mnist: override the example's 20 epochs")
    parser.add_argument("--batch-size", type=int, help="mnist: override the example's batch size")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--av-variational", choices=["product", "mixture"], default="product")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {}
    if args.part in ("mnist", "both"):
        mnist_part(results, args.epochs, args.batch_size)
    if args.part in ("av", "both"):
        judge = args.judge if args.judge.is_dir() else None
        av_part(results, judge, args.av_epochs, args.av_variational)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"results_{args.part}_{args.av_variational}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
