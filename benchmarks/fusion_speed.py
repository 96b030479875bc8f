"""Training throughput of tensor fusion vs low-rank multimodal fusion (Liu et al. 2018, Table 5:
1134 (LMF) vs 341 (TFN) training samples per second on their setup).

Three modalities with encoder widths like CMU-MOSI's (text 300, audio 74, video 35 -> hidden 32 each),
fused to 64, a linear head; fusion + head only (encoders excluded, as their comparison isolates the
fusion). Prints samples per second for each and the LMF/TFN ratio.

    python benchmarks/fusion_speed.py [--batch 64] [--seconds 10]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from polyfuse.fusion import create_fusion

DIMS = {"audio": 74, "text": 300, "video": 35}


def throughput(name: str, batch: int, seconds: float, **options: object) -> float:
    """Training samples per second of one fusion + linear head on random inputs."""
    torch.manual_seed(0)
    fusion = create_fusion(name, DIMS, **options)
    head = nn.Linear(fusion.output_dim, 1)
    params = list(fusion.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(params, lr=1e-3)
    x = {k: torch.randn(batch, d) for k, d in DIMS.items()}
    present = {k: torch.ones(batch, dtype=torch.bool) for k in DIMS}
    y = torch.randn(batch, 1)
    for _ in range(5):  # warm-up
        loss = nn.functional.mse_loss(head(fusion(x, present)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        loss = nn.functional.mse_loss(head(fusion(x, present)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--rank", type=int, default=4)
    args = parser.parse_args()
    tfn = throughput("tensor", args.batch, args.seconds, hidden_dim=args.hidden, fused_dim=64)
    lmf = throughput(
        "lowrank", args.batch, args.seconds, hidden_dim=args.hidden, rank=args.rank, fused_dim=64
    )
    print(f"| fusion | training samples/s (batch {args.batch}, hidden {args.hidden}) |")
    print("|---|---|")
    print(f"| tensor (TFN) | {tfn:.0f} |")
    print(f"| lowrank (LMF, rank {args.rank}) | {lmf:.0f} |")
    print(f"\nLMF / TFN speed ratio: {lmf / tfn:.2f}x (Liu et al. 2018 report 1134 / 341 = 3.33x)")


if __name__ == "__main__":
    main()
