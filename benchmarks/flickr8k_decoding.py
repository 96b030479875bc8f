"""Flickr8k captioning: choose the decoding (beam width, length penalty, no-repeat n-grams) of a
trained bundle on the held-out *validation* images, then score that one choice on the dev split.

The dev split is scored once, with the setting the validation images chose (by ``--select``: BLEU-4,
the issue's target, by default),
so the reported figure is not tuned on the split it reports. Prints one JSON line per setting.

    python benchmarks/flickr8k_decoding.py --bundle runs/flickr8k-lstm5/lstm-bundle --valid-images 300

Legend: N images.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from flickr8k_captioning import cached_inputs, load, scores

from polyfuse import Predictor


def decode(
    predictor: Predictor, images: object, beam: int, penalty: float, no_repeat: int
) -> tuple[float, object]:
    """Captions of ``images`` (one row per image) under one beam setting, and images per second."""
    predictor.fitted.model.task.set_decoding(  # type: ignore[operator]
        strategy="beam", beam_size=beam, length_penalty=penalty, no_repeat_ngram=no_repeat
    )
    started = time.perf_counter()
    frame = predictor.predict(images)  # type: ignore[arg-type]
    return len(images) / (time.perf_counter() - started), frame  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/flickr8k"))
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--valid-images", type=int, default=300, help="as the bundle was trained with")
    parser.add_argument("--beams", default="3,5,8")
    parser.add_argument("--penalties", default="0.6,1.0,1.4")
    parser.add_argument("--no-repeat", default="0,3")
    parser.add_argument("--select", default="bleu4_score", help="validation metric that picks the setting")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _, valid, dev = load(args.data, args.valid_images, 0)
    predictor = Predictor.load(args.bundle)
    valid_images = valid.drop_duplicates("image")[["image"]].reset_index(drop=True)
    dev_images = dev.drop_duplicates("image")[["image"]].reset_index(drop=True)
    raw_inputs = predictor.fitted.inputs
    predictor.fitted.inputs = cached_inputs(predictor, valid_images)
    results = []
    grid = itertools.product(
        [int(b) for b in args.beams.split(",")],
        [float(p) for p in args.penalties.split(",")],
        [int(n) for n in args.no_repeat.split(",")],
    )
    for beam, penalty, no_repeat in grid:
        rate, frame = decode(predictor, valid_images, beam, penalty, no_repeat)
        frame["image"] = valid_images["image"]  # type: ignore[index]
        result = {"split": "valid", "beam": beam, "length_penalty": penalty, "no_repeat_ngram": no_repeat}
        result.update({"images_per_second": round(rate, 1), **scores(frame, valid)})  # type: ignore[arg-type]
        print(json.dumps(result), flush=True)
        results.append(result)
    best = max(results, key=lambda r: r[args.select])
    predictor.fitted.inputs = raw_inputs
    predictor.fitted.inputs = cached_inputs(predictor, dev_images)
    rate, frame = decode(predictor, dev_images, best["beam"], best["length_penalty"], best["no_repeat_ngram"])
    frame["image"] = dev_images["image"]  # type: ignore[index]
    chosen = {k: best[k] for k in ("beam", "length_penalty", "no_repeat_ngram")}
    print(
        json.dumps(
            {
                "split": "dev",
                "chosen_on_valid": chosen,
                "images_per_second": round(rate, 1),
                **scores(frame, dev),
            }
        )
    )  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
