"""Flickr8k captioning: a frozen EfficientNet-Lite0 7x7 grid + a transformer (or LSTM) decoder.

Trains on the official train split (a few hundred of its images held out for model selection, by
image), reports the dev split (never the test split, which is not shipped), with a nearest-neighbour
baseline under the same frozen features. Prints one JSON line per result.

    python benchmarks/flickr8k_captioning.py --data /work/shared/data/flickr8k --decoder transformer \\
        --epochs 6 --out runs/flickr8k

Legend: N images.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from polyfuse import Predictor
from polyfuse.text_metrics import generation_metrics

DECODERS = {
    "transformer": {"type": "transformer", "dim": 256, "num_layers": 2, "num_heads": 8, "dropout": 0.2},
    "lstm": {"type": "lstm", "dim": 384, "embed_dim": 256, "attention_dim": 256, "dropout": 0.3},
}


def load(data: Path, valid_images: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """train, valid (held-out train images) and dev frames of ``image`` (absolute path) + ``caption``."""
    table = pd.read_csv(data / "captions.csv")
    table["image"] = [str(data / p) for p in table["image"]]
    train, dev = table[table["split"] == "train"], table[table["split"] == "dev"]
    images = np.random.default_rng(seed).permutation(train["image"].unique())
    held = set(images[:valid_images])
    valid, train = train[train["image"].isin(held)], train[~train["image"].isin(held)]
    return tuple(f[["image", "caption"]].reset_index(drop=True) for f in (train, valid, dev))  # type: ignore[return-value]


def config(
    decoder: str, epochs: int, out: Path, primary_metric: str = "bleu4_score", dropout: float | None = None
) -> dict[str, Any]:
    options = {**DECODERS[decoder], **({} if dropout is None else {"dropout": dropout})}
    return {
        "data": {"label": "caption", "columns": {"image": "image"}},
        "model": {
            "encoders": {"image": {"type": "efficientnet_lite0"}},
            "task": {
                "type": "generation",
                "decoder": options,
                "tokenizer": "word",
                "min_frequency": 5,
                "max_length": 24,
                "label_smoothing": 0.1,
                "primary_metric": primary_metric,
                "decoding": {"strategy": "beam", "beam_size": 3, "length_penalty": 0.6},
            },
        },
        "training": {
            "epochs": epochs,
            "batch_size": 64,
            "lr": 1e-3 if decoder == "transformer" else 2e-3,
            "weight_decay": 0.01,
            "patience": 3,
            "progress": False,
            "tensorboard": False,
            "num_workers": 0,
            "cache_memory_mb": 16000,
            "output_dir": str(out / decoder),
        },
        "inference": {"batch_size": 100},
    }


def decode_dev(
    predictor: Predictor, images: pd.DataFrame, strategy: str, beam: int, no_repeat: int = 0
) -> tuple[float, pd.DataFrame]:
    """Captions of one row per image and the images per second of ``predict``, decoding from the
    cached EfficientNet grids (what training read) or, with raw inputs, from the image files."""
    predictor.fitted.model.task.set_decoding(  # type: ignore[operator]
        strategy=strategy, beam_size=beam, no_repeat_ngram=no_repeat
    )
    start = time.perf_counter()
    frame = predictor.predict(images)
    return len(images) / (time.perf_counter() - start), frame


def cached_inputs(predictor: Predictor, images: pd.DataFrame) -> list[Any]:
    """The bundle's inputs with the image read from the embedding cache (all hits)."""
    from polyfuse.data.tables import Table
    from polyfuse.training.frozen_inputs import precompute_frozen_inputs

    fitted = predictor.fitted
    frozen = precompute_frozen_inputs(
        fitted.config.training, fitted.inputs, fitted.model, [Table(images, Path("/"), "dev")]
    )
    print(json.dumps({"dev_cache": frozen.report}))
    return frozen.inputs


def scores(frame: pd.DataFrame, dev: pd.DataFrame) -> dict[str, Any]:
    refs = dev.groupby("image")["caption"].apply(list)
    hyps = dict(zip(frame["image"], frame["prediction"], strict=True))
    names = list(refs.index)
    return generation_metrics([hyps[n] for n in names], [refs[n] for n in names])


def nearest_neighbour(predictor: Predictor, train: pd.DataFrame, dev: pd.DataFrame) -> dict[str, Any]:
    """Caption of the most similar training image (cosine of pooled EfficientNet features; of its
    captions, the one sharing most words with the other four)."""
    from polyfuse.data.cache import EmbeddingCache
    from polyfuse.encoders.pretrained._embedding import embed_token_values, split_token_rows

    spec = next(s for s in predictor.fitted.inputs if s.name == "image")
    encoder = predictor.fitted.model.encoders["image"]

    def pooled(paths: list[str]) -> np.ndarray:
        rows = embed_token_values(encoder.config, spec.processor, encoder, paths, 49, 64, EmbeddingCache())
        vectors = split_token_rows(rows, encoder.output_dim, 49)[0].astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    train_images, dev_images = list(train["image"].unique()), list(dev["image"].unique())
    nearest = (pooled(dev_images) @ pooled(train_images).T).argmax(1)
    captions = train.groupby("image")["caption"].apply(list)

    def consensus(options: list[str]) -> str:
        words = [set(c.lower().split()) for c in options]
        overlap = [sum(len(w & o) / max(len(w | o), 1) for o in words if o is not w) for w in words]
        return options[int(np.argmax(overlap))]

    frame = pd.DataFrame(
        {"image": dev_images, "prediction": [consensus(captions[train_images[i]]) for i in nearest]}
    )
    return scores(frame, dev)


def precompute(images: list[str], chunk: int = 100) -> None:
    """Embed images' EfficientNet grids into the embedding cache, a shard per chunk (resumable)."""
    from polyfuse.data.cache import EmbeddingCache
    from polyfuse.encoders.pretrained._embedding import build_frozen_encoder, embed_token_values

    config_, processor, encoder = build_frozen_encoder("image", {"type": "efficientnet_lite0"})
    cache = EmbeddingCache()
    for start in range(0, len(images), chunk):
        began = time.perf_counter()
        part = images[start : start + chunk]
        embed_token_values(config_, processor, encoder, part, 49, 32, cache)
        rate = len(part) / (time.perf_counter() - began)
        print(
            json.dumps(
                {"embedded": start + len(part), "of": len(images), "images_per_second": round(rate, 1)}
            )
        )


def parse_decoding(name: str) -> tuple[str, int, int]:
    """``greedy`` / ``beam5`` / ``beam5nr3`` -> (strategy, beam width, no-repeat n-gram size)."""
    match = re.fullmatch(r"(greedy|beam)(\d*)(?:nr(\d+))?", name)
    if match is None:
        raise SystemExit(f"--decodings: {name!r} is not greedy, beamN or beamNnrM")
    strategy, beam, no_repeat = match.groups()
    return strategy, int(beam or 1), int(no_repeat or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/flickr8k"))
    parser.add_argument("--decoder", choices=sorted(DECODERS), default="transformer")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--valid-images", type=int, default=200)
    parser.add_argument("--train-images", type=int, default=0, help="use only this many (0 = all)")
    parser.add_argument(
        "--captions-per-image", type=int, default=5, help="training captions kept per image (CPU budget)"
    )
    parser.add_argument("--dev-images", type=int, default=0, help="score only this many (0 = all)")
    parser.add_argument("--speed-images", type=int, default=50, help="raw images timed end to end")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--primary-metric", default="bleu4_score", help="validation metric for selection")
    parser.add_argument(
        "--decodings", default="greedy,beam3", help="dev decodings, e.g. greedy,beam3,beam5,beam5nr3"
    )
    parser.add_argument("--dropout", type=float, default=None, help="decoder dropout (default: preset)")
    parser.add_argument("--nn", action="store_true", help="also score the nearest-neighbour baseline")
    parser.add_argument("--precompute", action="store_true", help="only embed the images (cache)")
    parser.add_argument("--out", type=Path, default=Path("runs/flickr8k"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, valid, dev = load(args.data, args.valid_images, 0)
    if args.train_images:
        keep = set(train["image"].unique()[: args.train_images])
        train = train[train["image"].isin(keep)].reset_index(drop=True)
    if args.captions_per_image < 5:
        train = train.sample(frac=1.0, random_state=0).groupby("image").head(args.captions_per_image)
        train = train.sort_index().reset_index(drop=True)
    if args.dev_images:
        keep = set(dev["image"].unique()[: args.dev_images])
        dev = dev[dev["image"].isin(keep)].reset_index(drop=True)
    if args.precompute:
        order = [*dev["image"].unique(), *valid["image"].unique(), *train["image"].unique()]
        precompute(order)
        return
    start = time.perf_counter()
    predictor = Predictor(
        config=config(args.decoder, args.epochs, args.out, args.primary_metric, args.dropout)
    )
    predictor.fit(train, valid)
    seconds = time.perf_counter() - start
    metrics = predictor.fitted.metrics
    print(
        json.dumps(
            {"decoder": args.decoder, "train_seconds": round(seconds, 1), "training": metrics["training"]}
        )
    )
    print(json.dumps({"history": metrics["history"]}))
    predictor.save(args.out / f"{args.decoder}-bundle")
    dev_images = dev.drop_duplicates("image")[["image"]].reset_index(drop=True)
    raw_inputs = predictor.fitted.inputs
    predictor.fitted.inputs = cached_inputs(predictor, dev_images)
    for name in args.decodings.split(","):
        strategy, beam, no_repeat = parse_decoding(name)
        rate, frame = decode_dev(predictor, dev_images, strategy, beam, no_repeat)
        frame["image"] = dev_images["image"]
        result = {"decoder": args.decoder, "decoding": name}
        result.update({"decoder_images_per_second": round(rate, 1), **scores(frame, dev)})
        print(json.dumps(result))
        frame.head(30).to_csv(args.out / f"{args.decoder}-{name}-samples.csv", index=False)
    predictor.fitted.inputs = raw_inputs
    sample = dev_images.head(args.speed_images)
    for strategy, beam in (("greedy", 1), ("beam", 3)):
        rate, _ = decode_dev(predictor, sample, strategy, beam)
        print(
            json.dumps({"decoder": args.decoder, "decoding": strategy, "end_to_end_images_per_second": rate})
        )
    if args.nn:
        print(json.dumps({"decoder": "nearest-neighbour", **nearest_neighbour(predictor, train, dev)}))


if __name__ == "__main__":
    main()
