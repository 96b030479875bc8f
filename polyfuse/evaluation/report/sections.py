"""Report sections built from evaluation results (``run_evaluation``) or a fusion comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polyfuse.evaluation.report import compare_plots, plots
from polyfuse.evaluation.report.html import Card, Section, Table, render_plot, write_report

EVALUATION_PLOTS = (
    "learning_curves",
    "confusion_matrix",
    "per_class_scores",
    "robustness_curves",
    "absence_matrix",
    "contribution_bars",
    "reliability_diagram",
)
"""Every plot an evaluation report can hold (each appears when its data was computed)."""


def _scalars(metrics: dict[str, Any]) -> Table:
    rows = [[k, v] for k, v in metrics.items() if isinstance(v, (int, float, str)) or v is None]
    return Table(["metric", "value"], rows)


def training_section(history: list[dict[str, Any]]) -> Section:
    """The learning curves of a bundle's training history (one dict per epoch)."""
    figure = plots.learning_curves(history)
    return Section(
        "Training", [render_plot("learning_curves", figure, "loss and validation scores per epoch")]
    )


def evaluation_sections(results: dict[str, Any]) -> list[Section]:
    """Sections for the results of :func:`polyfuse.evaluation.run_evaluation`."""
    metrics = results["metrics"]
    model = results.get("model", {})
    summary = Section(
        "Summary",
        [
            f"Data: {results.get('data', '?')} ({metrics.get('rows')} rows,"
            f" {metrics.get('bad_rows')} unreadable)."
            f" Fusion: {model.get('fusion', '?')}; inputs: {', '.join(model.get('inputs', []))}.",
            _scalars(metrics),
        ],
    )
    sections = [summary]
    if results.get("history"):
        sections.append(training_section(results["history"]))
    if "confusion_matrix" in metrics and "per_class" in metrics:
        classes = list(metrics["per_class"])
        sections.append(
            Section(
                "Classes",
                [
                    render_plot(
                        "confusion_matrix", plots.confusion_matrix(metrics["confusion_matrix"], classes)
                    ),
                    render_plot("per_class_scores", plots.per_class_scores(metrics["per_class"])),
                ],
            )
        )
    elif "per_class" in metrics:
        sections.append(
            Section(
                "Classes", [render_plot("per_class_scores", plots.per_class_scores(metrics["per_class"]))]
            )
        )
    if results.get("gallery"):
        sections.append(_gallery_section(results["gallery"]))
    if results.get("robustness"):
        sections.append(_robustness_section(results["robustness"]))
    if results.get("absence"):
        absence = results["absence"]
        rows = [[" + ".join(s["removed"]) or "(none)", s["score"]] for s in absence["subsets"]]
        sections.append(
            Section(
                "Absent modalities",
                [
                    render_plot(
                        "absence_matrix",
                        plots.absence_matrix(absence),
                        "subsets are numbered as in the table below",
                    ),
                    Table(["removed", absence["metric"]], rows),
                ],
            )
        )
    if results.get("contribution"):
        c = results["contribution"]
        rows = [[n, c["shapley"][n], c["ablation"][n], c["alone"][n]] for n in c["shapley"]]
        sections.append(
            Section(
                "Modality contribution",
                [
                    f"Value of a subset: {c['metric']} with only those inputs present. Shapley values sum to"
                    f" v(all) - v(none) = {c['full_score']:.4f} - {c['empty_score']:.4f}.",
                    render_plot("contribution_bars", plots.contribution_bars(c)),
                    Table(["input", "Shapley", "drop-one delta", "alone - none"], rows),
                ],
            )
        )
    if results.get("calibration"):
        cal = results["calibration"]
        sections.append(
            Section(
                "Calibration",
                [
                    render_plot(
                        "reliability_diagram",
                        plots.reliability_diagram(cal),
                        f"{cal['num_bins']} equal-width confidence bins",
                    ),
                    Table(
                        ["", "ECE", "NLL"],
                        [
                            [f"T = {cal['temperature']:.3f}", cal["ece"], cal["nll"]],
                            ["T = 1", cal["ece_uncalibrated"], cal["nll_uncalibrated"]],
                        ],
                    ),
                ],
            )
        )
    if results.get("efficiency"):
        sections.append(Section("Efficiency", [_scalars(results["efficiency"])]))
    return sections


def _gallery_section(gallery: dict[str, Any]) -> Section:
    """Best and worst generations with their inputs and references."""
    items: list[str | Card] = [f"Groups of rows with identical inputs, ranked by {gallery['metric']}."]
    for label in ("best", "worst"):
        items.append(f"{label.capitalize()}:")
        for ex in gallery[label]:
            lines = [f"generated: {ex['generation'] or '(empty)'}"]
            lines += [f"reference: {r}" for r in ex["references"]]
            lines += [f"{k}: {v}" for k, v in ex["inputs"].items()]
            items.append(Card(f"{gallery['metric']} {ex['score']}", lines, ex["images"]))
    return Section("Generations", items)


def _robustness_section(robustness: dict[str, Any]) -> Section:
    rows = [[c["input"], c["injector"], c["relative_robustness"], *c["scores"]] for c in robustness["curves"]]
    effective = robustness.get("effective_robustness")
    return Section(
        "Robustness to noise",
        [
            f"Relative robustness (mean over curves): {robustness['relative_robustness']:.4f};"
            f" effective robustness: {'n/a (no baseline)' if effective is None else f'{effective:.4f}'}.",
            render_plot("robustness_curves", plots.robustness_curves(robustness)),
            Table(["input", "injector", "relative", *[f"l={lv:g}" for lv in robustness["levels"]]], rows),
        ],
    )


def compare_sections(
    result: dict[str, Any], table: tuple[list[str], list[list[Any]]], metric: str
) -> list[Section]:
    """Sections for :func:`polyfuse.evaluation.compare.compare_fusions` results."""
    summary = result["summary"]
    errors = [f"{r['fusion']} (seed {r['seed']}): {r['error']}" for r in result["runs"] if r.get("error")]
    overview: list[Any] = [
        f"Fusions {', '.join(result['fusions'])}, seeds {result['seeds']},"
        f" scored on {result['evaluated_on']}.",
        Table(*table),
        render_plot("compare_scores", compare_plots.compare_scores(summary)),
    ]
    overview += [f"Failed run: {e}" for e in errors]
    sections = [Section("Fusions side by side", overview)]
    good = [r for r in result["runs"] if not r.get("error")]
    if good:
        sections.append(
            Section(
                "Learning curves",
                [render_plot("compare_learning_curves", compare_plots.compare_learning_curves(good, metric))],
            )
        )
    if result.get("levels"):
        sections.append(
            Section(
                "Robustness",
                [
                    f"Effective robustness (MultiBench) against the {result['baseline']} fusion"
                    " of the same seed.",
                    render_plot(
                        "compare_robustness_curves",
                        compare_plots.compare_robustness_curves(result["levels"], summary, metric),
                    ),
                    render_plot(
                        "compare_robustness_scatter",
                        compare_plots.compare_robustness_scatter(summary, metric),
                    ),
                ],
            )
        )
    if any(e.get("absence") for e in summary.values()):
        sections.append(
            Section(
                "Absent modalities",
                [
                    render_plot(
                        "compare_absence_matrix", compare_plots.compare_absence_matrix(summary, metric)
                    )
                ],
            )
        )
    return sections


def write_evaluation_report(path: str | Path, results: dict[str, Any]) -> Path:
    """The HTML report of one evaluated bundle."""
    return write_report(path, evaluation_sections(results), "polyfuse evaluation report")


def write_compare_report(
    path: str | Path, result: dict[str, Any], table: tuple[list[str], list[list[Any]]], metric: str
) -> Path:
    """The HTML report of a fusion comparison."""
    return write_report(path, compare_sections(result, table, metric), "polyfuse fusion comparison")
