"""How fast the image-generation denoiser learns to follow its condition: the task's ``Denoiser``
on 16 px MNIST conditioned on the digit label (an ``nn.Embedding``), trained in plain PyTorch, its
samples judged by the MNIST judge of ``image_generation_digits.py`` (upsampled to 28 px) at a few
checkpoints and guidance scales. A diagnostic for comparing ways of conditioning at equal steps.

    python benchmarks/image_generation_conditioning.py --steps 1500 base:2e-3 concat:2e-3 base:5e-4

Variants (``NAME:LR``): ``base`` (the condition added to the time embedding, as the task does),
``concat`` (also as 4 input channels), ``ss`` (AdaGN scale and shift), ``vpred`` (v-prediction).
Needs ``benchmarks/output/mnist/judge`` (``image_generation_digits.py`` trains it).

Legend: B batch, H/W 16.
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
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))

from image_generation_digits import OUT, _real_images  # noqa: E402
from mnist_tables import build  # noqa: E402

from polyfuse import Predictor  # noqa: E402
from polyfuse.evaluation.generation import JudgeFeatures  # noqa: E402
from polyfuse.tasks._diffusion import Denoiser, ddim_sample, make_schedulers  # noqa: E402

WIDTHS = (32, 64, 64)


def upsample(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, 16, 16) in [-1, 1] -> (B, 1, 28, 28) in [0, 1], what the judge reads."""
    return F.interpolate((images + 1) / 2, size=28, mode="bilinear").clamp(0, 1)


def build_denoiser(variant: str) -> Denoiser:
    concat = variant == "concat"
    denoiser = Denoiser(1 + 4 * concat, (16, 16), 16, WIDTHS, 1, False, 8, scale_shift=variant == "ss")
    if concat:  # the condition also enters as 4 constant input channels
        from diffusers import UNet2DModel

        denoiser.unet = UNet2DModel(
            sample_size=(16, 16),
            in_channels=5,
            out_channels=1,
            block_out_channels=WIDTHS,
            layers_per_block=1,
            down_block_types=("DownBlock2D",) * 3,
            up_block_types=("UpBlock2D",) * 3,
            norm_num_groups=8,
            class_embed_type="identity",
        )
        denoiser.channels = torch.nn.Linear(4 * WIDTHS[0], 4)

        def forward(noisy: torch.Tensor, steps: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
            maps = denoiser.channels(condition)[:, :, None, None].expand(-1, -1, *noisy.shape[2:])
            return denoiser.unet(torch.cat([noisy, maps], 1), steps, class_labels=condition).sample  # type: ignore[no-any-return]

        denoiser.forward = forward  # type: ignore[method-assign]
    return denoiser


def run(
    variant: str, lr: float, steps: int, data: tuple[torch.Tensor, torch.Tensor], judge: JudgeFeatures
) -> dict[str, Any]:
    images, labels = data
    torch.manual_seed(0)
    denoiser, embed = build_denoiser(variant), torch.nn.Embedding(10, 16)
    optimizer = torch.optim.AdamW([*denoiser.parameters(), *embed.parameters()], lr=lr, weight_decay=0.01)
    train, sample = make_schedulers(1000, "squaredcos_cap_v2")
    if variant == "vpred":
        from diffusers import DDIMScheduler, DDPMScheduler

        train = DDPMScheduler(1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
        sample = DDIMScheduler.from_config(train.config)
    draw = torch.Generator().manual_seed(0)
    result: dict[str, Any] = {"variant": variant, "lr": lr}
    started = time.perf_counter()
    for step in range(1, steps + 1):
        rows = torch.randint(0, len(images), (64,), generator=draw)
        clean, keep = images[rows], torch.rand(64, generator=draw) >= 0.1
        noise = torch.randn(clean.shape, generator=draw)
        t = torch.randint(0, 1000, (64,), generator=draw)
        target = train.get_velocity(clean, noise, t) if variant == "vpred" else noise
        predicted = denoiser(
            train.add_noise(clean, noise, t), t, denoiser.embed_condition(embed(labels[rows]), keep)
        )
        loss = F.mse_loss(predicted, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % (steps // 3) == 0:
            result[f"accuracy_at_{step}"] = judge_samples(denoiser, embed, sample, judge)
            print(json.dumps({**result, "seconds": round(time.perf_counter() - started)}), flush=True)
    return result


@torch.no_grad()
def judge_samples(
    denoiser: Denoiser, embed: torch.nn.Embedding, sample: Any, judge: JudgeFeatures
) -> dict[str, float]:
    """Conditional accuracy of 200 samples (20 per digit) at guidance 1, 1.5, 2 and 3."""
    denoiser.eval()
    digits = torch.arange(10).repeat(20)
    noise = torch.randn((200, 1, 16, 16), generator=torch.Generator().manual_seed(1))
    condition = denoiser.embed_condition(embed(digits), torch.ones(200, dtype=torch.bool))
    scores = {}
    for scale in (1.0, 1.5, 2.0, 3.0):
        drawn = judge.classify(upsample(ddim_sample(denoiser, sample, condition, noise, 20, scale)))
        scores[f"guidance_{scale:g}"] = float(
            np.mean([p == str(int(d)) for p, d in zip(drawn, digits, strict=True)])
        )
    denoiser.train()
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variants", nargs="+", help="NAME:LR, e.g. base:2e-3")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--train-images", type=int, default=12000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = build(30000)
    judge = JudgeFeatures(Predictor.load(OUT / "judge"))
    table = pd.read_csv(folder / "digits" / "train.csv").head(args.train_images)
    real = _real_images(table["image"].tolist(), folder / "digits")
    images = F.interpolate(real, size=16, mode="bilinear", antialias=True) * 2 - 1  # (N, 1, 16, 16)
    labels = torch.tensor(table["digit"].to_numpy())
    check = judge.classify(upsample(images[:500]))
    accuracy = np.mean([p == str(int(d)) for p, d in zip(check, labels[:500], strict=True)])
    print(json.dumps({"judge_on_real_16px": float(accuracy)}), flush=True)
    for spec in args.variants:
        name, lr = spec.split(":")
        run(name, float(lr), args.steps, (images, labels), judge)


if __name__ == "__main__":
    main()
