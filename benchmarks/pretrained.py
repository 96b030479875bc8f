"""Pretrained encoders: throughput against the matmul peak, the embedding cache, frozen vs scratch.

Three parts, each printing a markdown table (figures go to docs/benchmarks.md with the command):

    python benchmarks/pretrained.py throughput [--encoders minilm,use,efficientnet,whisper]
        [--batches 1,8,64] [--seconds 3] [--threads 2]
    python benchmarks/pretrained.py cache [--rows 300] [--epochs 5]
        [--fusions concat,sum,gated,attention,lowrank]
    python benchmarks/pretrained.py frozen-vs-scratch [--variants clean,hard] [--rows 1000]
        [--test-rows 300] [--epochs 5]

``throughput``: rows per second of each packaged encoder's forward pass on already-processed
batches, the FLOPs of one row, and the FLOP/s achieved against the measured float32 matmul peak.
FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add is 2 FLOPs, as
in the peak); Whisper tiny runs in CTranslate2, so its count is taken on the same architecture in
transformers' ``WhisperEncoder`` (one 30 s window, which every clip is padded to); USE runs in
numpy and is not counted.

``cache``: five fusion runs on the same rows of the audio-visual digits (``photo`` column, frozen
EfficientNet-Lite0), with ``training.embedding_cache: off`` and with ``auto`` starting from an
empty cache (the first run fills it, the other four read it). ``frozen-vs-scratch``: image-only
models on the clean and hard AV-digit variants, frozen EfficientNet-Lite0 (cached) vs the
from-scratch ``image/cnn``. Both read benchmarks/output/avdigits/<variant>/ (``python
benchmarks/avdigits.py --variant hard --seeds 0`` builds a missing variant).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent
AVDIGITS = ROOT / "output" / "avdigits"
PACKAGED = {
    "minilm": ("text", "minilm"),
    "use": ("text", "use"),
    "efficientnet": ("image", "efficientnet_lite0"),
    "whisper": ("audio", "whisper_tiny"),
}
WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "on",
    "mat",
    "bright",
    "calm",
    "loud",
    "red",
    "blue",
    "river",
    "city",
]


# ---------------------------------------------------------------- throughput
def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """Best float32 FLOP/s of ``(n, n) @ (n, n)`` over ``repeats`` (2 n^3 FLOPs each)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


def sample_values(modality: str, folder: Path, count: int) -> list[Any]:
    """``count`` raw inputs: 12-word sentences, 256x256 RGB PNGs, 2 s 16 kHz clips."""
    from PIL import Image

    rng = np.random.default_rng(0)
    if modality == "text":
        return [" ".join(rng.choice(WORDS, 12)) for _ in range(count)]
    if modality == "image":
        path = folder / "image.png"
        Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(path)
        return [str(path)] * count
    import soundfile as sf

    t = np.arange(32000) / 16000
    path = folder / "clip.wav"
    sf.write(
        path, (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.normal(size=t.size)).astype(np.float32), 16000
    )
    return [str(path)] * count


def flops_per_row(name: str, encoder: Any, batch: dict[str, torch.Tensor]) -> float | None:
    """FLOPs of one row (``batch`` holds one row); ``None`` where not countable (USE, numpy)."""
    from torch.utils.flop_counter import FlopCounterMode

    if name == "use":
        return None
    if name == "whisper":
        import transformers
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        config = transformers.WhisperConfig(  # tiny.en's encoder
            d_model=384,
            encoder_layers=4,
            encoder_attention_heads=6,
            encoder_ffn_dim=1536,
            num_mel_bins=80,
            max_source_positions=1500,
            vocab_size=64,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=1,
        )
        encoder, batch = WhisperEncoder(config).eval(), {"input_features": torch.zeros(1, 80, 3000)}
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            encoder(**batch)
        return float(counter.get_total_flops())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        encoder(batch)
    return float(counter.get_total_flops())


def rows_per_second(encoder: Any, batch: dict[str, torch.Tensor], rows: int, seconds: float) -> float:
    """Forward passes over ``batch`` for at least ``seconds`` (at least one); rows per second."""
    done, started = 0, time.perf_counter()
    with torch.no_grad():
        while done == 0 or time.perf_counter() - started < seconds:
            encoder(batch)
            done += rows
    return done / (time.perf_counter() - started)


def throughput(args: argparse.Namespace) -> None:
    from polyfuse.encoders.pretrained._embedding import build_frozen_encoder

    peak = matmul_peak()
    sizes = [int(b) for b in args.batches.split(",")]
    threads = torch.get_num_threads()
    print(f"float32 matmul peak (2048^3, best of 10, {threads} threads): {peak / 1e9:.1f} GFLOP/s\n")
    print("| encoder | batch | rows/s | GFLOP/row | GFLOP/s achieved | of peak |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.encoders.split(","):
            modality, encoder_type = PACKAGED[name]
            options: dict[str, Any] = {"type": encoder_type}
            if name in ("use", "whisper"):  # numpy / CTranslate2 take their thread count as an option
                options["threads"] = torch.get_num_threads()
            _, processor, encoder = build_frozen_encoder(modality, options)
            values = sample_values(modality, Path(tmp), max(sizes))
            one = processor.collate([processor.transform(values[0])])
            encoder(one)  # warm-up (lazy initialisation, caches)
            flops = flops_per_row(name, encoder, one)
            for size in sizes:
                batch = processor.collate([processor.transform(v) for v in values[:size]])
                rate = rows_per_second(encoder, batch, size, args.seconds)
                achieved = "n/a" if flops is None else f"{rate * flops / 1e9:.1f}"
                share = "n/a" if flops is None else f"{rate * flops / peak:.0%}"
                per_row = "n/a" if flops is None else f"{flops / 1e9:.3f}"
                shown = f"{rate:.1f}" if rate >= 10 else f"{rate:.3f}"
                print(f"| {name} | {size} | {shown} | {per_row} | {achieved} | {share} |", flush=True)


# ---------------------------------------------------------------- shared: AV digits runs
def avdigits_rows(variant: str, split: str, rows: int) -> pd.DataFrame:
    """``rows`` rows drawn at random (seed 0) from a variant's split; image paths absolute, no sound."""
    folder = AVDIGITS / variant
    if not (folder / f"{split}.csv").is_file():
        raise SystemExit(
            f"{folder / split}.csv is missing: run python benchmarks/avdigits.py --variant {variant}"
        )
    frame = pd.read_csv(folder / f"{split}.csv")
    frame = frame.sample(frac=1.0, random_state=0).head(rows).reset_index(drop=True)
    frame["photo"] = [str(folder / p) for p in frame["photo"]]
    return frame.drop(columns=["sound"])


def image_config(
    encoder: dict[str, Any], processors: dict[str, Any], fusion: str, epochs: int, out: Path
) -> dict[str, Any]:
    """A polyfuse config for an image-only AV-digits model."""
    return {
        "data": {
            "label": "label",
            "task": "multiclass",
            "columns": {"photo": "image"},
            "processors": {"image": processors},
        },
        "model": {"encoders": {"image": encoder}, "fusion": {"type": fusion}, "head": {"hidden_dim": 64}},
        "training": {
            "epochs": epochs,
            "batch_size": 64,
            "lr": 3e-3,
            "patience": None,
            "progress": False,
            "tensorboard": False,
            "num_workers": 0,
            "output_dir": str(out),
        },
    }


def timed_fit(config: dict[str, Any], train: pd.DataFrame | str) -> tuple[float, Any]:
    """``(seconds, predictor)`` of one fit (processor fitting, caching and training included)."""
    from polyfuse import Predictor

    started = time.perf_counter()
    predictor = Predictor(config=config).fit(train)
    return time.perf_counter() - started, predictor


# ---------------------------------------------------------------- cache
def cache(args: argparse.Namespace) -> None:
    from polyfuse.data.cache import EmbeddingCache

    train = avdigits_rows("clean", "train", args.rows)
    encoder = {"type": "efficientnet_lite0"}
    fusions = args.fusions.split(",")
    seconds: dict[str, list[float]] = {"off": [], "auto": []}
    accuracy: dict[str, list[float]] = {"off": [], "auto": []}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("off", "auto"):
            for fusion in fusions:
                config = image_config(encoder, {}, fusion, args.epochs, Path(tmp) / f"{mode}-{fusion}")
                config["training"].update({"embedding_cache": mode, "cache_dir": str(Path(tmp) / "cache")})
                spent, predictor = timed_fit(config, train)
                seconds[mode].append(spent)
                accuracy[mode].append(predictor.fitted.metrics["valid"]["accuracy_score"])
                print(f"  {mode:4s} {fusion:10s} {spent:7.1f} s", flush=True)
        size = EmbeddingCache(Path(tmp) / "cache").size_bytes()
    print(f"\n{args.rows} AV-digit images (clean), frozen EfficientNet-Lite0, {args.epochs} epochs per run\n")
    print("| fusion | off (s) | auto (s) | valid accuracy off / auto |")
    print("|---|---|---|---|")
    for i, fusion in enumerate(fusions):
        note = " (cold cache)" if i == 0 else ""
        print(
            f"| {fusion} | {seconds['off'][i]:.1f} | {seconds['auto'][i]:.1f}{note} |"
            f" {accuracy['off'][i]:.3f} / {accuracy['auto'][i]:.3f} |"
        )
    total_off, total_auto = sum(seconds["off"]), sum(seconds["auto"])
    print(f"| **total** | {total_off:.1f} | {total_auto:.1f} | |")
    print(f"\ntime ratio off / auto: {total_off / total_auto:.1f}x over {len(fusions)} runs")
    if len(fusions) > 1:
        warm = sum(seconds["auto"][1:]) / (len(fusions) - 1)
        print(f"warm runs only: {sum(seconds['off'][1:]) / (len(fusions) - 1) / warm:.1f}x")
    print(f"cache on disk: {size / 2**20:.2f} MB, {size / len(train) * 1000 / 2**20:.2f} MB per 1000 rows")


# ---------------------------------------------------------------- frozen vs scratch
SCRATCH_IMAGE = {
    "size": 28,
    "mode": "L",
    "augment": True,
    "max_shift": 0.1,
    "brightness": 0.0,
    "contrast": 0.0,
}
"""The from-scratch image processor of benchmarks/avdigits.py."""


def frozen_vs_scratch(args: argparse.Namespace) -> None:
    setups: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "efficientnet_lite0 (frozen)": ({"type": "efficientnet_lite0"}, {}),
        "image/cnn (scratch)": ({"type": "cnn"}, SCRATCH_IMAGE),
    }
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants.split(","):
            if variant == "table":
                results.extend(_table_runs(args, Path(tmp)))
                continue
            train = avdigits_rows(variant, "train", args.rows)
            test = avdigits_rows(variant, "test", args.test_rows)
            for name, (encoder, processors) in setups.items():
                out = Path(tmp) / f"{variant}-{name.split()[0].replace('/', '-')}"
                config = image_config(encoder, processors, "concat", args.epochs, out)
                config["training"]["cache_dir"] = str(Path(tmp) / "cache")  # cold: the encoder runs once
                spent, predictor = timed_fit(config, train)
                accuracy = predictor.evaluate(test)["accuracy_score"]
                results.append((variant, name, accuracy, spent))
                print(f"  {variant:6s} {name:28s} {accuracy:.3f} {spent:7.1f} s", flush=True)
    print(f"\n{args.rows} train rows, {args.test_rows} test rows, {args.epochs} epochs\n")
    print("| data | encoders | test accuracy | training time (s) |")
    print("|---|---|---|---|")
    for variant, name, accuracy, spent in results:
        print(f"| {variant} | {name} | {accuracy:.3f} | {spent:.1f} |")


TABLE_SETUPS = {
    "minilm + efficientnet_lite0 (frozen)": {
        "description": {"type": "minilm"},
        "photo": {"type": "efficientnet_lite0"},
    },
    "text/bag + image/cnn (scratch)": {"description": {"type": "bag"}, "photo": {"type": "cnn"}},
}
"""Encoders of the text + image + numeric table, keyed by column (numbers: the tabular MLP)."""


def _table_runs(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str, float, float]]:
    """Frozen pretrained vs scratch encoders on polyfuse's synthetic text + image + numeric table
    (the demo's table without its audio column; each input shows the class 60 % of the time)."""
    from polyfuse.bench.synthetic import make_demo_split

    train_csv, test_csv = make_demo_split(tmp / "table", n_train=args.rows, n_test=args.test_rows)
    results = []
    for name, encoders in TABLE_SETUPS.items():
        config = image_config({}, {}, "concat", args.epochs, tmp / f"table-{len(results)}")
        config["data"]["columns"] = {"sound": "ignore"}
        config["data"]["processors"] = {}
        config["model"]["encoders"] = encoders
        config["training"]["cache_dir"] = str(tmp / "cache")
        spent, predictor = timed_fit(config, str(train_csv))  # a path: media resolve against it
        accuracy = predictor.evaluate(str(test_csv))["accuracy_score"]
        results.append(("text+image+numeric", name, accuracy, spent))
        print(f"  table  {name:38s} {accuracy:.3f} {spent:7.1f} s", flush=True)
    return results


# ---------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    sub = parser.add_subparsers(dest="part", required=True)
    p = sub.add_parser("throughput", help="rows/s of each packaged encoder vs the matmul peak")
    p.add_argument("--encoders", default="minilm,use,efficientnet,whisper")
    p.add_argument("--batches", default="1,8,64")
    p.add_argument("--seconds", type=float, default=3.0, help="minimum time per measurement")
    p = sub.add_parser("cache", help="five fusion runs with and without the embedding cache")
    p.add_argument("--rows", type=int, default=300)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--fusions", default="concat,sum,gated,attention,lowrank")
    p = sub.add_parser("frozen-vs-scratch", help="frozen EfficientNet-Lite0 vs image/cnn on AV digits")
    p.add_argument("--variants", default="clean,hard,table", help="AV-digit variants and/or 'table'")
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--test-rows", type=int, default=300)
    p.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parts: dict[str, Callable[[argparse.Namespace], None]] = {
        "throughput": throughput,
        "cache": cache,
        "frozen-vs-scratch": frozen_vs_scratch,
    }
    parts[args.part](args)


if __name__ == "__main__":
    main()
