"""The whole benchmark in one call: generate a set, train one polyfuse model per fusion, score each,
and write one report comparing them.

Every fusion gets the same encoders: an image encoder with a 4 x 4 grid of tokens, one per cell of
the scene grid whatever the image size (a CNN, or ``image/cells``, which reads each cell's
foreground: the ``anchors`` preset's), a BiGRU over the question's WordPiece tokens
(Chinese is split per character by the tokenizer) and a CNN over the clip's log-mel spectrogram
(absent clips are masked). The fusions that should do well on relational questions read the image
tokens: ``relation`` takes them as its objects (``regions: image``) conditioned on the question and
audio, as in Santoro et al. 2017; ``hops`` attends over them led by the question (the object it
names, then every object's relation to it); ``film`` modulates them by the question (``target: image``);
``concat`` sees only pooled vectors (the paper's CNN + MLP baseline).

``transformer`` in a fusion list means the cross-modal transformer, registered as ``mult`` (MulT);
``early`` is the single-stream one. Any other registered fusion name is accepted as is.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from polyfuse.bench.cognition.adapter import score_predictor
from polyfuse.bench.cognition.audio import MAX_SECONDS, SAMPLE_RATE
from polyfuse.bench.cognition.generate import GenerateOptions, generate
from polyfuse.bench.cognition.report import write_cognition_report
from polyfuse.bench.cognition.score import CognitionScores

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor

log = logging.getLogger("polyfuse")

FUSION_ALIASES = {"transformer": "mult"}
"""Names the issue uses -> registered fusion names."""
DEFAULT_FUSIONS = ("concat", "film", "relation", "transformer")
IMAGE_GRID = 4
"""The image encoder gives IMAGE_GRID x IMAGE_GRID tokens, one per cell of the scene grid."""

IMAGE_ENCODERS = ("cnn", "cells")
"""The image encoders a run can give every fusion."""

FUSION_OPTIONS: dict[str, dict[str, Any]] = {
    "concat": {},
    "film": {"target": "image", "hidden_dim": 64, "num_blocks": 2},
    "relation": {"regions": "image", "hidden_dim": 32, "relation_dim": 64, "g_layers": 3},
    "hops": {"regions": "image"},
    "mult": {"hidden_dim": 32, "num_heads": 4},
    "early": {"hidden_dim": 64, "num_layers": 2},
}
"""Per-fusion options; a fusion not listed runs with its defaults."""


@dataclass(frozen=True)
class RunOptions:
    """The benchmark run: the data to generate, the models to train and how.

    The defaults are the ``small`` preset (a first look, minutes on 2 CPU cores);
    :data:`PRESETS` holds larger ones (``anchors``: the setting of docs/cognition.md's anchors).
    Start from a preset with :meth:`preset` and override single fields.
    """

    fusions: tuple[str, ...] = DEFAULT_FUSIONS
    n: int = 3000
    """questions generated (every split)."""
    epochs: int = 8
    size: int = 32
    """image side in pixels: IMAGE_GRID times a power of two, so each image token covers one scene cell."""
    seed: int = 0
    lang: str = "en"
    batch_size: int = 64
    lr: float = 3e-3
    clutter: bool = False
    noise: float = 0.0
    abilities: tuple[str, ...] | None = None
    """abilities to generate (None: every registered one)."""
    questions_per_scene: int = 2
    stem: int = 1
    """side of the image CNN's patchify stem (1: none); the conv-and-max-pool stages take the rest
    of the way down to IMAGE_GRID x IMAGE_GRID."""
    image_width: int = 32
    """channels of every image CNN stage (and the image token width)."""
    image_encoder: str = "cnn"
    """``cnn`` (conv stages down to IMAGE_GRID x IMAGE_GRID tokens) or ``cells`` (``image/cells``:
    each cell's token read from its foreground pixels)."""
    progress: bool = True
    """progress bars: generation, and each fusion's epochs (with rate, ETA and a per-epoch summary)."""
    threads: int | None = 1
    """torch intra-op threads (None: torch's default). The models are small: on a shared 2-core
    machine one thread trained 5x faster than two; raise it on a large idle machine."""

    @property
    def cnn_stages(self) -> float:
        """Conv-and-max-pool stages of the image CNN after its stem (whole for a valid size)."""
        return math.log2(self.size / IMAGE_GRID / self.stem)

    def __post_init__(self) -> None:
        if self.image_encoder not in IMAGE_ENCODERS:
            raise ValueError(
                f"image_encoder must be one of {', '.join(IMAGE_ENCODERS)}, got {self.image_encoder!r}"
            )
        stages = self.cnn_stages
        if stages < 1 or stages != int(stages):
            raise ValueError(
                f"size must be {IMAGE_GRID} x stem ({self.stem}) x a power of two, got {self.size}"
            )

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> RunOptions:
        """Preset ``name`` (a key of :data:`PRESETS`) with ``overrides`` (fields set to None are kept)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})


SORT_OF_CLEVR_ABILITIES = ("relation", "relation", "shape", "position")
"""Sort-of-CLEVR's question families: relational (closest, furthest, count) on half the images,
shape and position on a quarter each (Santoro et al. ask 10 relational and 10 non-relational
questions about every image)."""

PRESETS: dict[str, RunOptions] = {
    "small": RunOptions(),
    "full": RunOptions(n=30000, epochs=12, size=64, stem=4, batch_size=64, lr=2e-3),
    "anchors": RunOptions(
        fusions=(*DEFAULT_FUSIONS, "hops"),
        n=100000,
        epochs=12,
        size=64,
        stem=4,
        batch_size=64,
        lr=2e-3,
        abilities=SORT_OF_CLEVR_ABILITIES,
        questions_per_scene=10,
        threads=2,
        image_encoder="cells",
    ),
}
"""``small``: a first look that checks the pipeline end to end (under 10 minutes for four fusions
on 2 CPU cores; every fusion stays near the answer prior). ``full``: every ability at 10x the
questions. ``anchors``: Santoro et al.'s setting, Sort-of-CLEVR's question families in its
proportions (half relational) at its density (10 questions per image, 10,000 images) with
``image/cells`` tokens (empty cells masked) and the four fusions plus
``hops``, in about 40 minutes on 2 idle CPU cores. docs/cognition.md has what each reaches."""


def resolve_fusion(name: str) -> str:
    """The registered fusion a benchmark name means (``transformer`` -> ``mult``)."""
    from polyfuse.config.schema import fusion_choices

    resolved = FUSION_ALIASES.get(name, name)
    if resolved not in fusion_choices():
        known = ", ".join([*FUSION_ALIASES, *fusion_choices()])
        raise ValueError(f"unknown fusion {name!r}; fusions: {known}")
    return resolved


def model_config(
    fusion: str, options: RunOptions, output_dir: str | Path, with_audio: bool = True
) -> dict[str, Any]:
    """The polyfuse config (YAML layout) the benchmark trains ``fusion`` with (``with_audio``
    False: the set has no audio, the audio column is ignored)."""
    resolved = resolve_fusion(fusion)
    return {
        "data": {
            "label": "answer",
            "task": "multiclass",
            "columns": {"image": "image", "question": "text", "audio": "audio" if with_audio else "ignore"},
            "processors": {
                "image": {"size": options.size, "mode": "RGB"},
                "audio": {
                    "sample_rate": SAMPLE_RATE,
                    "max_seconds": MAX_SECONDS,
                    "n_mels": 24,
                    "n_fft": 256,
                    "hop_length": 160,
                },
                "text": {"vocab_size": 2000, "max_length": 40},
            },
            # a validation answer the small training split never shows would stop training
            "on_bad_rows": "skip",
        },
        "model": {
            "encoders": {
                # one token per scene cell, tagged with its coordinates; pooled keeps the 4 x 4 layout
                "image": image_encoder(options),
                "text": {"type": "bigru", "embed_dim": 32, "hidden_dim": 32},
                "audio": {"type": "cnn", "widths": [16, 32, 32]},
            },
            "fusion": {"type": resolved, **fusion_options(resolved, options)},
            "head": {"hidden_dim": 128, "dropout": 0.1},
        },
        "training": {
            "epochs": options.epochs,
            "batch_size": options.batch_size,
            "lr": options.lr,
            "patience": None,
            "seed": options.seed,
            "num_workers": 0,
            "tensorboard": False,
            "progress": options.progress,
            "output_dir": str(output_dir),
        },
    }


def fusion_options(fusion: str, options: RunOptions) -> dict[str, Any]:
    """A registered fusion's options in a run: :data:`FUSION_OPTIONS`, and with ``image/cells``
    tokens, ``hops`` places each object at its foreground's centroid (``positions: tokens``)."""
    extra = {"positions": "tokens"} if fusion == "hops" and options.image_encoder == "cells" else {}
    return {**FUSION_OPTIONS.get(fusion, {}), **extra}


def image_encoder(options: RunOptions) -> dict[str, Any]:
    """The image encoder's config: one token per scene cell, tagged with its coordinates."""
    if options.image_encoder == "cells":  # empty cells masked: the fusions attend over objects only
        return {"type": "cells", "grid": IMAGE_GRID, "width": options.image_width, "mask_empty": True}
    return {  # pooled keeps the 4 x 4 layout
        "type": "cnn",
        "widths": [options.image_width] * round(options.cnn_stages),
        "stem": options.stem,
        "coords": True,
        "pool_grid": IMAGE_GRID,
    }


def fit_fusion(fusion: str, data_dir: Path, out: Path, options: RunOptions) -> tuple[Predictor, float]:
    """Train ``fusion`` on ``data_dir``'s train split and save its bundle in ``out/bundles``;
    (the trained predictor, training seconds)."""
    from polyfuse.predictor import Predictor

    train = pd.read_csv(data_dir / "train.csv", dtype=str, keep_default_na=False)
    with_audio = bool((train["audio"] != "").any())
    predictor = Predictor(config=model_config(fusion, options, out / "runs" / fusion, with_audio))
    started = time.perf_counter()
    predictor.fit(data_dir / "train.csv", data_dir / "valid.csv")
    seconds = time.perf_counter() - started
    predictor.save(out / "bundles" / fusion)
    return predictor, seconds


def train_fusion(
    fusion: str, data_dir: Path, out: Path, options: RunOptions
) -> tuple[CognitionScores, float]:
    """Train ``fusion`` on ``data_dir``'s train split, save its bundle, score it; (scores, seconds)."""
    predictor, seconds = fit_fusion(fusion, data_dir, out, options)
    return score_predictor(predictor, data_dir), seconds


def run_benchmark(
    out_dir: str | Path, options: RunOptions | None = None, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Generate, train every fusion, score, and write ``results.json`` and ``report.html``.

    Returns the results (as written to ``results.json``).
    """
    options = options or RunOptions()
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    for fusion in options.fusions:
        resolve_fusion(fusion)  # fail before generating anything
    out = Path(out_dir)
    data_dir = out / "data"
    started = time.perf_counter()
    generate(
        data_dir,
        GenerateOptions(
            n=options.n,
            seed=options.seed,
            lang=options.lang,
            size=options.size,
            clutter=options.clutter,
            noise=options.noise,
            questions_per_scene=options.questions_per_scene,
            abilities=options.abilities,
        ),
        progress=options.progress,
    )
    echo(f"generated {options.n} questions in {data_dir}/ ({time.perf_counter() - started:.0f}s)")
    scores: dict[str, CognitionScores] = {}
    extra: dict[str, dict[str, Any]] = {}
    for number, fusion in enumerate(options.fusions, start=1):
        echo(f"training {fusion} ({number}/{len(options.fusions)})")
        scores[fusion], seconds = train_fusion(fusion, data_dir, out, options)
        iid = scores[fusion].splits["test_iid"]
        extra[fusion] = {"train seconds": round(seconds, 1)}
        echo(
            f"{fusion}: iid accuracy {iid.accuracy_score:.3f}, relation "
            f"{_ability_accuracy(scores[fusion], 'relation')}, trained in {seconds:.0f}s"
        )
    results = {
        "options": asdict(options),
        "total_seconds": round(time.perf_counter() - started, 1),
        "fusions": {
            name: {
                "fusion": resolve_fusion(name),
                "train_seconds": extra[name]["train seconds"],
                "scores": s.to_dict(),
            }
            for name, s in scores.items()
        },
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    write_cognition_report(out / "report.html", scores, extra)
    return results


def _ability_accuracy(scores: CognitionScores, ability: str) -> str:
    part = scores.splits["test_iid"].abilities.get(ability)
    return "-" if part is None else f"{part.accuracy_score:.3f}"


def parse_fusions(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"concat,film"`` -> ``("concat", "film")``, each checked against the registry."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise ValueError("no fusion given")
    for name in names:
        resolve_fusion(name)
    return tuple(names)


__all__ = [
    "DEFAULT_FUSIONS",
    "FUSION_ALIASES",
    "PRESETS",
    "RunOptions",
    "fit_fusion",
    "model_config",
    "parse_fusions",
    "resolve_fusion",
    "run_benchmark",
    "train_fusion",
]
