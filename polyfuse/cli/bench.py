"""``polyfuse bench cognition generate|evaluate|run``: the generated cognitive-ability benchmark."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from polyfuse.cli._common import format_table, user_errors, write_output_text

ABILITIES_HELP = (
    "comma-separated abilities to generate, NAME:K for K times the scenes of one listed once"
    " (default: all, evenly)"
)


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    bench = sub.add_parser("bench", help="built-in benchmarks (cognition: generated abilities suite)")
    suites = bench.add_subparsers(dest="suite", required=True, metavar="SUITE")
    cognition = suites.add_parser(
        "cognition", help="procedurally generated perception and cognition questions"
    )
    actions = cognition.add_subparsers(dest="action", required=True, metavar="ACTION")

    gen = actions.add_parser("generate", help="write a generated set (tables + images + audio)")
    gen.add_argument("--n", type=int, default=20000, help="number of questions")
    gen.add_argument("--seed", type=int, default=0, help="seed; the same seed gives the same bytes")
    gen.add_argument("--out", required=True, help="output folder")
    gen.add_argument("--lang", choices=["en", "zh", "both"], default="en", help="question language")
    gen.add_argument("--size", type=int, default=64, help="image side in pixels")
    gen.add_argument("--clutter", action="store_true", help="draw distractor strokes and dots")
    gen.add_argument("--noise", type=float, default=0.0, help="pixel and audio noise (0 = none)")
    gen.add_argument("--abilities", help=ABILITIES_HELP)
    gen.add_argument(
        "--questions-per-scene", type=int, default=2, help="questions asked about each image (default 2)"
    )
    gen.set_defaults(run=run_generate)

    ev = actions.add_parser("evaluate", help="score a bundle on a generated set's test splits")
    ev.add_argument("bundle", help="bundle directory")
    ev.add_argument("data", help="generated set folder (with table.csv)")
    ev.add_argument("--report", help="write a self-contained HTML report here")
    ev.add_argument("--json", dest="json_out", help="write the scores as JSON here")
    ev.set_defaults(run=run_evaluate)

    run = actions.add_parser("run", help="generate, train every fusion, score, one comparison report")
    run.add_argument(
        "--fusions",
        help="comma-separated fusions (transformer = mult, the cross-modal transformer); default: the"
        " preset's (concat,film,relation,transformer; anchors adds hops)",
    )
    run.add_argument(
        "--preset",
        choices=["small", "full", "anchors"],
        default="small",
        help="sizes: small (a first look, minutes), full (every ability, 10x the questions) or anchors"
        " (Sort-of-CLEVR's question families at its density, five fusions in about 40 minutes on 2"
        " CPU cores); the options below override the preset's",
    )
    run.add_argument("--n", type=int, help="number of questions")
    run.add_argument("--epochs", type=int, help="training epochs per fusion")
    run.add_argument("--size", type=int, help="image side in pixels (8, 16, 32, 64, ...)")
    run.add_argument("--abilities", help=ABILITIES_HELP)
    run.add_argument("--lang", choices=["en", "zh", "both"], help="question language (default en)")
    run.add_argument("--seed", type=int, help="seed of the data and the training (default 0)")
    run.add_argument("--questions-per-scene", type=int, help="questions asked about each image")
    run.add_argument("--threads", type=int, help="torch threads (default: the preset's; 0 = torch's default)")
    run.add_argument(
        "--image-encoder",
        choices=["cnn", "cells"],
        help="image encoder of every fusion: cnn (conv stages) or cells (foreground cell tokens);"
        " default: the preset's",
    )
    run.add_argument("--out", default="cognition_output", help="folder for data, bundles, results, report")
    run.set_defaults(run=run_run)


def parse_abilities(text: str | None) -> tuple[str, ...] | None:
    """``"relation:2,shape"`` -> ``("relation", "relation", "shape")``, each checked (``NAME:K``: K
    times the scenes of an ability listed once); None or empty: every ability."""
    from polyfuse.bench.cognition.abilities import get_ability

    names: list[str] = []
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        name, _, weight = item.partition(":")
        if weight and not (weight.isdigit() and int(weight) >= 1):
            raise ValueError(f"ability weight must be a whole number >= 1: {item!r}")
        get_ability(name.strip())
        names += [name.strip()] * int(weight or 1)
    return tuple(names) or None


def run_generate(args: argparse.Namespace) -> int:
    """Generate a set and print how many questions each split and ability got."""
    from polyfuse.bench.cognition.generate import SPLITS, GenerateOptions, generate

    started = time.perf_counter()
    with user_errors():
        options = GenerateOptions(
            n=args.n,
            seed=args.seed,
            lang=args.lang,
            size=args.size,
            clutter=args.clutter,
            noise=args.noise,
            abilities=parse_abilities(args.abilities),
            questions_per_scene=args.questions_per_scene,
        )
        frame = generate(args.out, options, progress=True)
    counts = frame.groupby(["ability", "split"]).size().unstack(fill_value=0)
    rows = [[a, *[int(counts.loc[a].get(s, 0)) for s in SPLITS]] for a in counts.index]
    print(format_table(rows, ["ability", *SPLITS]))
    print(
        f"\n{len(frame)} questions, {frame['scene_id'].nunique()} images written to {args.out}/"
        f" in {time.perf_counter() - started:.0f}s"
    )
    return 0


def _print_scores(scores: Any) -> None:
    for split, part in scores.splits.items():
        rows = [
            [
                a,
                s.category,
                s.questions,
                s.accuracy_score,
                f"{s.ci_low:.3f}-{s.ci_high:.3f}",
                s.accuracy_plus_score,
                s.mme_score,
            ]
            for a, s in part.abilities.items()
        ]
        print(f"\n{split}: accuracy {part.accuracy_score:.4f} over {part.questions} questions")
        print(
            format_table(rows, ["ability", "category", "questions", "accuracy", "95% CI", "accuracy+", "MME"])
        )
        print(
            format_table(
                [
                    ["perception", part.perception_score, part.mme_perception_score],
                    ["cognition", part.cognition_score, part.mme_cognition_score],
                ],
                ["category", "mean accuracy", "MME total"],
            )
        )
    if scores.compositional_gap is not None:
        print(f"\ncompositional gap (iid - comp accuracy): {scores.compositional_gap:.4f}")


def run_evaluate(args: argparse.Namespace) -> int:
    """Score a bundle on the test splits; print, and write JSON and the report when asked."""
    from polyfuse.bench.cognition.adapter import score_predictor
    from polyfuse.predictor import Predictor

    with user_errors():
        predictor = Predictor.load(args.bundle)
        scores = score_predictor(predictor, args.data)
    _print_scores(scores)
    if args.json_out:
        with user_errors():
            write_output_text(args.json_out, json.dumps(scores.to_dict(), indent=2) + "\n")
        print(f"\nscores written to {args.json_out}")
    if args.report:
        from polyfuse.bench.cognition.report import write_cognition_report

        name = Path(args.bundle).name or "model"
        print(f"report written to {write_cognition_report(args.report, {name: scores})}")
    return 0


def run_run(args: argparse.Namespace) -> int:
    """Generate, train each fusion, score, write results.json and report.html; print a summary."""
    from polyfuse.bench.cognition.run import RunOptions, parse_fusions, run_benchmark

    with user_errors():
        options = RunOptions.preset(
            args.preset,
            fusions=parse_fusions(args.fusions) if args.fusions is not None else None,
            n=args.n,
            epochs=args.epochs,
            size=args.size,
            abilities=parse_abilities(args.abilities),
            lang=args.lang,
            seed=args.seed,
            questions_per_scene=args.questions_per_scene,
            image_encoder=args.image_encoder,
        )
        if args.threads is not None:
            options = replace(options, threads=args.threads or None)
    with user_errors():
        results = run_benchmark(args.out, options)
    rows = []
    for name, result in results["fusions"].items():
        iid, comp = result["scores"]["splits"]["test_iid"], result["scores"]["splits"]["test_comp"]
        relation = iid["abilities"].get("relation", {}).get("accuracy_score")
        rows.append(
            [
                name,
                iid["accuracy_score"],
                comp["accuracy_score"],
                iid["perception_score"],
                iid["cognition_score"],
                relation,
                result["train_seconds"],
            ]
        )
    print(
        "\n" + format_table(rows, ["fusion", "iid", "comp", "perception", "cognition", "relation", "train s"])
    )
    print(f"\nreport: {Path(args.out) / 'report.html'}   total time: {results['total_seconds']:.0f}s")
    return 0
