"""Microbenchmarks behind docs/benchmarks.md "Speed (issue 20)": the image CNN on 32 px images in
NCHW vs channels-last vs bf16 autocast (wall s, best of 5), and ``torch.compile`` (CPU s per batch
and the compile cost). One torch thread.

    python benchmarks/speed_micro.py
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any

import torch

from polyfuse.encoders import create_encoder, parse_encoder_config


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _best(fn: Callable[[], Any], n: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(n):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def _encoder(widths: list[int]) -> Any:
    config = parse_encoder_config("image", {"type": "cnn", "widths": widths})
    return create_encoder("image", config, {"channels": 3, "height": 32, "width": 32}).eval()


def _layouts(encoder: Any, x: torch.Tensor) -> tuple[float, float]:
    """Best wall seconds of fp32 (channels-last: the encoder converts on CPU) and bf16 autocast."""

    def bf16() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            encoder({"pixels": x})

    with torch.inference_mode():
        return _best(lambda: encoder({"pixels": x})), _best(bf16)


def main() -> None:
    torch.set_num_threads(1)
    x = torch.randn(400, 3, 32, 32)  # (B, C, H, W)
    for widths in ([32, 64, 128], [16, 32, 64]):
        wall, bf16 = _layouts(_encoder(widths), x)
        print(f"widths {widths}: channels-last fp32 {wall:.3f} s, bf16 autocast {bf16:.3f} s")
    encoder = _encoder([16, 32, 64])
    batch = {"pixels": torch.randn(256, 3, 32, 32)}
    with torch.inference_mode():
        encoder(batch)
        started = _cpu()
        for _ in range(10):
            encoder(batch)
        eager = (_cpu() - started) / 10
        started = _cpu()
        compiled = torch.compile(encoder)
        compiled(batch)
        cost = _cpu() - started
        started = _cpu()
        for _ in range(10):
            compiled(batch)
        fast = (_cpu() - started) / 10
    print(
        f"torch.compile: eager {eager:.4f} -> compiled {fast:.4f} CPU s per batch, compile {cost:.1f} CPU s"
    )


if __name__ == "__main__":
    main()
