"""Efficiency: parameters, training time, latency per row, throughput, peak memory.

Latency and throughput time the model alone on already-decoded rows (reading and decoding media
is the same for every model, and is not what a fusion changes): latency is the median wall time of
a batch of one row, throughput the rows per second of batches of ``batch_size`` rows, both after
warm-up passes, with ``time.perf_counter`` (and ``torch.cuda.synchronize`` on CUDA).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from typing import TYPE_CHECKING, Any

import torch

from polyfuse.evaluation._data import DataLike, EvalData, load_eval_data

if TYPE_CHECKING:
    from polyfuse.data.batch import Batch
    from polyfuse.predictor import Predictor


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(model: torch.nn.Module, batches: list[Batch], device: torch.device) -> list[float]:
    seconds = []
    with torch.no_grad():
        for batch in batches:
            _sync(device)
            started = time.perf_counter()
            model(batch)
            _sync(device)
            seconds.append(time.perf_counter() - started)
    return seconds


def peak_memory_mb() -> float:
    """Peak resident memory of this process in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def efficiency_report(
    predictor: Predictor,
    data: DataLike | EvalData,
    batch_size: int = 64,
    repeats: int = 20,
    warmup: int = 2,
) -> dict[str, Any]:
    """Size and speed of a trained model.

    Returns ``{"parameters", "trainable_parameters", "training_seconds", "latency_ms_per_row",
    "throughput_rows_per_second", "batch_size", "peak_memory_mb", "peak_cuda_memory_mb",
    "device"}`` (training time from the bundle's metrics; ``None`` when unknown).
    """
    from polyfuse.inference import batches

    evaluation = load_eval_data(predictor, data)
    fitted = evaluation.fitted
    model = fitted.model
    model.eval()
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    singles = []
    for batch in batches(fitted, evaluation.encoded, 1):
        singles.append(batch)
        if len(singles) >= repeats + warmup:
            break
    _timed(model, singles[:warmup], device)
    latency = statistics.median(_timed(model, singles[warmup:] or singles, device))
    large = list(batches(fitted, evaluation.encoded, batch_size))
    _timed(model, large[:1], device)
    total_rows, total_seconds = 0, 0.0
    while total_seconds < 0.2 and total_rows < 100 * batch_size:  # at least a few batches' worth
        total_seconds += sum(_timed(model, large, device))
        total_rows += sum(len(b) for b in large)
    training = fitted.metrics.get("training", {})
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "training_seconds": training.get("seconds"),
        "latency_ms_per_row": latency * 1000.0,
        "throughput_rows_per_second": total_rows / max(total_seconds, 1e-12),
        "batch_size": batch_size,
        "peak_memory_mb": peak_memory_mb(),
        "peak_cuda_memory_mb": (
            torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        ),
        "device": str(device),
    }
