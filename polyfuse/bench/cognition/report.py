"""The cognition report: a radar chart of per-ability accuracy, the iid vs compositional gap, tables,
as one self-contained HTML file (the page helpers of :mod:`polyfuse.evaluation.report`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from polyfuse.bench.cognition.score import CognitionScores, SplitScores
from polyfuse.evaluation.report.html import Plot, Section, Table, render_plot, write_report

DEFINITIONS = (
    "accuracy: share of questions answered right, with its 95% Wilson interval; accuracy+: share of "
    "images whose questions (of that ability) are all answered right; MME score = 100 x (accuracy + "
    "accuracy+), 0 to 200 per ability; perception / cognition: mean accuracy over the abilities of "
    "the category; MME perception / cognition: sums of the MME scores; gap: iid minus compositional "
    "accuracy (the compositional test shows colour-shape pairs never seen in training)."
)


def radar_figure(results: Mapping[str, CognitionScores], split: str = "test_iid") -> Figure:
    """Accuracy per ability on ``split``, one closed line per model, abilities around the circle."""
    fig = Figure(figsize=(6.5, 6.5), dpi=100, layout="constrained")
    ax = fig.add_subplot(projection="polar")
    abilities: list[str] = []
    for scores in results.values():
        if split in scores.splits:
            abilities += [a for a in scores.splits[split].abilities if a not in abilities]
    if not abilities:
        ax.set_title(f"no {split} rows")
        return fig
    angles = np.linspace(0.0, 2 * np.pi, len(abilities), endpoint=False)
    closed = np.append(angles, angles[0])
    for name, scores in results.items():
        part = scores.splits.get(split)
        if part is None:
            continue
        values = [part.abilities[a].accuracy_score if a in part.abilities else np.nan for a in abilities]
        ax.plot(closed, [*values, values[0]], marker="o", label=name)
        ax.fill(closed, [*values, values[0]], alpha=0.08)
    ax.set_xticks(angles, abilities)
    ax.set_ylim(0.0, 1.0)
    ax.set_yticks([0.25, 0.5, 0.75, 1.0])
    ax.set_title(f"accuracy per ability ({split})")
    ax.legend(loc="lower left", bbox_to_anchor=(-0.1, -0.12), fontsize=8, ncols=min(4, len(results)))
    return fig


def gap_figure(results: Mapping[str, CognitionScores]) -> Figure:
    """Overall accuracy on the iid and the compositional test, side by side per model."""
    fig = Figure(figsize=(7.0, 3.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    names = list(results)
    x = np.arange(len(names))
    for offset, split in ((-0.2, "test_iid"), (0.2, "test_comp")):
        values = [r.splits[split].accuracy_score if split in r.splits else np.nan for r in results.values()]
        ax.bar(x + offset, values, width=0.4, label=split)
    ax.set_xticks(x, names)
    ax.set(ylim=(0.0, 1.0), ylabel="accuracy", title="iid vs compositional test")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _value(part: SplitScores | None, key: str) -> Any:
    return None if part is None else getattr(part, key)


def summary_table(results: Mapping[str, CognitionScores], extra: Mapping[str, Mapping[str, Any]]) -> Table:
    """One row per model: overall, perception, cognition, MME totals, gap, and ``extra`` columns."""
    extra_keys = list(dict.fromkeys(k for row in extra.values() for k in row))
    header = [
        "model",
        "iid accuracy",
        "comp accuracy",
        "gap",
        "perception",
        "cognition",
        "MME perception",
        "MME cognition",
        *extra_keys,
    ]
    rows = []
    for name, scores in results.items():
        iid, comp = scores.splits.get("test_iid"), scores.splits.get("test_comp")
        rows.append(
            [
                name,
                _value(iid, "accuracy_score"),
                _value(comp, "accuracy_score"),
                scores.compositional_gap,
                _value(iid, "perception_score"),
                _value(iid, "cognition_score"),
                _value(iid, "mme_perception_score"),
                _value(iid, "mme_cognition_score"),
                *[extra.get(name, {}).get(k) for k in extra_keys],
            ]
        )
    return Table(header, rows)


def ability_table(scores: CognitionScores) -> Table:
    """Per ability: iid accuracy with its interval, accuracy+, MME score, comp accuracy, gap."""
    header = [
        "ability",
        "category",
        "questions",
        "accuracy",
        "95% CI",
        "accuracy+",
        "MME score",
        "comp accuracy",
        "gap",
    ]
    iid, comp = scores.splits.get("test_iid"), scores.splits.get("test_comp")
    rows: list[list[Any]] = []
    for name, s in (iid.abilities if iid else {}).items():
        comp_score = comp.abilities.get(name) if comp else None
        rows.append(
            [
                name,
                s.category,
                s.questions,
                s.accuracy_score,
                f"{s.ci_low:.3f}-{s.ci_high:.3f}",
                s.accuracy_plus_score,
                s.mme_score,
                comp_score.accuracy_score if comp_score else None,
                scores.ability_gaps.get(name),
            ]
        )
    return Table(header, rows)


def cognition_sections(
    results: Mapping[str, CognitionScores], extra: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Section]:
    """The report's sections for one or more scored models (name -> scores)."""
    extra = extra or {}
    plots: list[str | Plot | Table] = [
        render_plot("radar", radar_figure(results), "accuracy per ability on the iid test"),
        render_plot("gap", gap_figure(results), "overall accuracy, iid vs compositional test"),
    ]
    sections = [
        Section("Summary", [summary_table(results, extra), DEFINITIONS]),
        Section("Abilities", plots),
    ]
    for name, scores in results.items():
        sections.append(Section(f"{name}: per ability", [ability_table(scores)]))
    return sections


def write_cognition_report(
    path: str | Path,
    results: Mapping[str, CognitionScores],
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    title: str = "polyfuse cognition benchmark",
) -> Path:
    """Write the self-contained HTML report comparing ``results`` (model name -> scores)."""
    return write_report(path, cognition_sections(results, extra), title)
