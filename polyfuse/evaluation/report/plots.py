"""One function per plot; each takes plain result data (the dicts the evaluation functions return)
and returns a matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state, Agg rendering)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def _figure(width: float = 7.0, height: float = 4.0) -> Figure:
    return Figure(figsize=(min(width, 12.0), height), dpi=100, layout="constrained")


def _styles(count: int) -> list[dict[str, Any]]:
    """Distinct colours for up to 20 series (tab10, then tab20), line styles beyond that."""
    cmap = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    dashes = ["-", "--", ":", "-."]
    return [{"color": cmap(i % cmap.N), "linestyle": dashes[(i // cmap.N) % 4]} for i in range(count)]


def _legend_outside(fig: Figure, ax: Any) -> None:
    """One legend for the figure, right of the plots (many series would hide the lines)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=7)


def learning_curves(history: Sequence[dict[str, Any]]) -> Figure:
    """Training and validation loss, and validation scores, per epoch."""
    fig = _figure(9.0, 3.6)
    losses, scores = fig.subplots(1, 2)
    epochs = [int(r.get("epoch", i)) + 1 for i, r in enumerate(history)]
    for key, label in (("train_loss", "train loss"), ("valid_task_loss", "valid loss")):
        values = [r.get(key) for r in history]
        if any(v is not None for v in values):
            losses.plot(epochs, [np.nan if v is None else v for v in values], marker="o", label=label)
    keys = sorted({k for r in history for k in r if k.startswith("valid_") and k.endswith("_score")})
    for key in keys:
        values = [r.get(key) for r in history]
        scores.plot(
            epochs,
            [np.nan if v is None else v for v in values],
            marker="o",
            label=key.removeprefix("valid_").removesuffix("_score"),
        )
    losses.set(title="loss", xlabel="epoch")
    scores.set(title="validation scores", xlabel="epoch")
    for ax in (losses, scores):
        if ax.lines:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def confusion_matrix(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> Figure:
    """Counts of true (rows) against predicted (columns) classes."""
    values = np.asarray(matrix, dtype=float)
    size = max(3.5, 0.5 * len(classes) + 2.5)
    fig = _figure(size + 1.0, size)
    ax = fig.subplots()
    image = ax.imshow(values, cmap="Blues")
    ticks = range(len(classes))
    ax.set_xticks(ticks, list(classes), rotation=45, ha="right")
    ax.set_yticks(ticks, list(classes))
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    threshold = values.max() / 2 if values.size else 0
    for (i, j), count in np.ndenumerate(values):
        ax.text(
            j,
            i,
            f"{int(count)}",
            ha="center",
            va="center",
            color="white" if count > threshold else "black",
            fontsize=8,
        )
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def per_class_scores(per_class: dict[str, dict[str, float]]) -> Figure:
    """Grouped bars of each class's precision, recall and F1 (or whatever scores it has)."""
    classes = list(per_class)
    fields = [f for f in next(iter(per_class.values())) if f.endswith("_score")] if classes else []
    fig = _figure(max(5.0, 1.2 * len(classes) + 2), 3.6)
    ax = fig.subplots()
    width = 0.8 / max(len(fields), 1)
    x = np.arange(len(classes))
    for i, field in enumerate(fields):
        ax.bar(
            x + i * width - 0.4 + width / 2,
            [per_class[c][field] for c in classes],
            width,
            label=field.removesuffix("_score"),
        )
    ax.set_xticks(x, classes)
    ax.set(ylim=(0, 1.05), ylabel="score", title="per-class scores")
    if fields:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def robustness_curves(robustness: dict[str, Any]) -> Figure:
    """Score against noise level: one panel per input, one line per injector."""
    inputs = list(robustness["inputs"]) or ["(none)"]
    columns = min(len(inputs), 3)
    rows = -(-len(inputs) // columns)
    fig = _figure(4.0 * columns, 3.2 * rows)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    levels = robustness["levels"]
    for ax, name in zip(axes, inputs, strict=False):
        for curve in (c for c in robustness["curves"] if c["input"] == name):
            ax.plot(
                levels, curve["scores"], marker="o", markersize=3, label=curve["injector"].split("/", 1)[1]
            )
        ax.set(title=name, xlabel="noise level", ylabel=robustness["metric"], xlim=(0, max(levels) or 1))
        if robustness["metric"].endswith("_score"):
            ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    for ax in axes[len(inputs) :]:
        ax.set_visible(False)
    return fig


def _subset_label(removed: Sequence[str]) -> str:
    return "none removed" if not removed else "without " + " + ".join(removed)


def absence_matrix(absence: dict[str, Any]) -> Figure:
    """Which inputs are removed (dark cells) and the score that remains, for every subset."""
    names, subsets = absence["inputs"], absence["subsets"]
    marks = np.array([[name in s["removed"] for name in names] for s in subsets], dtype=float)
    fig = _figure(4.0 + 0.6 * len(names), 1.0 + 0.28 * len(subsets))
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=[max(len(names), 1), 3])
    left.imshow(marks.reshape(len(subsets), len(names)), cmap="Greys", aspect="auto", vmin=0, vmax=1.4)
    left.set_xticks(range(len(names)), names, rotation=45, ha="right")
    left.set_yticks(range(len(subsets)), [str(i) for i in range(len(subsets))])
    left.set(title="removed", ylabel="subset")
    scores = [s["score"] for s in subsets]
    right.barh(range(len(subsets)), scores, color="tab:blue")
    for i, score in enumerate(scores):
        right.text(score, i, f" {score:.3f}", va="center", fontsize=7)
    right.set(title=absence["metric"], xlim=(0, max([1.0, *scores]) * 1.15))
    right.invert_yaxis()
    return fig


def contribution_bars(contribution: dict[str, Any]) -> Figure:
    """Shapley values, drop-one ablation deltas and alone-gains per input."""
    names = list(contribution["shapley"])
    fig = _figure(7.0, 1.2 + 0.6 * len(names))
    ax = fig.subplots()
    y = np.arange(len(names))
    kinds = (("shapley", "Shapley value"), ("ablation", "drop-one delta"), ("alone", "alone - none"))
    for i, (key, label) in enumerate(kinds):
        ax.barh(y + (i - 1) * 0.27, [contribution[key][n] for n in names], 0.27, label=label)
    ax.set_yticks(y, names)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(xlabel=f"{contribution['metric']} contribution", title="modality contribution")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return fig


def reliability_diagram(calibration: dict[str, Any]) -> Figure:
    """Accuracy against confidence per bin, with and without the fitted temperature."""
    fig = _figure(5.0, 4.5)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for key, label in (
        ("reliability_uncalibrated", "T = 1"),
        ("reliability", f"T = {calibration['temperature']:.2f}"),
    ):
        data = calibration[key]
        points = [(c, a) for c, a in zip(data["confidence"], data["accuracy"], strict=True) if c is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="confidence",
        ylabel="accuracy",
        title=f"reliability (ECE {calibration['ece']:.3f}, at T = 1: {calibration['ece_uncalibrated']:.3f})",
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def compare_scores(
    summary: dict[str, Any], metrics: Sequence[str] = ("accuracy_score", "macro_f1_score")
) -> Figure:
    """Mean score per fusion with a standard-deviation error bar, grouped by metric."""
    fusions = [f for f in summary if summary[f].get("runs")]
    shown = [m for m in metrics if any(summary[f].get(m) for f in fusions)]
    fig = _figure(max(6.0, 0.35 * len(fusions) * max(len(shown), 1) + 2), 3.8)
    ax = fig.subplots()
    width = 0.8 / max(len(shown), 1)
    x = np.arange(len(fusions))
    for i, metric in enumerate(shown):
        means = [summary[f][metric]["mean"] if summary[f].get(metric) else np.nan for f in fusions]
        stds = [summary[f][metric]["std"] if summary[f].get(metric) else 0.0 for f in fusions]
        ax.bar(
            x + i * width - 0.4 + width / 2,
            means,
            width,
            yerr=stds,
            capsize=3,
            label=metric.removesuffix("_score"),
        )
    ax.set_xticks(x, fusions, rotation=30, ha="right")
    ax.set(ylim=(0, 1.05), ylabel="score (mean ± std over seeds)", title="fusions compared")
    if shown:
        ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def compare_learning_curves(runs: Sequence[dict[str, Any]], metric: str) -> Figure:
    """Per fusion, training loss and the validation ``metric`` per epoch, averaged over seeds."""
    fig = _figure(11.0, 3.8)
    losses, scores = fig.subplots(1, 2)
    fusions = list(dict.fromkeys(r["fusion"] for r in runs if not r.get("error")))
    for fusion, style in zip(fusions, _styles(len(fusions)), strict=True):
        histories = [r["history"] for r in runs if r["fusion"] == fusion and not r.get("error")]
        for ax, key in ((losses, "train_loss"), (scores, f"valid_{metric}")):
            length = max(len(h) for h in histories)
            mean = [
                np.nanmean(
                    [h[e][key] if e < len(h) and h[e].get(key) is not None else np.nan for h in histories]
                )
                for e in range(length)
            ]
            ax.plot(range(1, length + 1), mean, marker="o", markersize=3, label=fusion, **style)
    losses.set(title="train loss", xlabel="epoch")
    scores.set(title=f"validation {metric}", xlabel="epoch")
    for ax in (losses, scores):
        ax.grid(alpha=0.3)
    _legend_outside(fig, losses)
    return fig


def compare_robustness_curves(levels: Sequence[float], summary: dict[str, Any], metric: str) -> Figure:
    """Per fusion, the score averaged over every input and injector against the noise level."""
    fig = _figure(7.5, 4.0)
    ax = fig.subplots()
    shown = [f for f, e in summary.items() if e.get("mean_scores")]
    for fusion, style in zip(shown, _styles(len(shown)), strict=True):
        ax.plot(levels, summary[fusion]["mean_scores"], marker="o", markersize=3, label=fusion, **style)
    ax.set(xlabel="noise level", ylabel=f"mean {metric}", title="robustness to noise (all inputs)")
    if metric.endswith("_score"):
        ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    _legend_outside(fig, ax)
    return fig


def compare_absence_matrix(summary: dict[str, Any], metric: str) -> Figure:
    """Fusions (rows) by removed subsets (columns): the mean score that remains."""
    fusions = [f for f in summary if summary[f].get("absence")]
    subsets = summary[fusions[0]]["absence"] if fusions else []
    values = np.array([[s["score"] for s in summary[f]["absence"]] for f in fusions]).reshape(
        len(fusions), -1
    )
    fig = _figure(max(6.0, 0.55 * len(subsets) + 3), 1.8 + 0.4 * len(fusions))
    ax = fig.subplots()
    image = ax.imshow(values, cmap="viridis", aspect="auto", vmin=0, vmax=max(1.0, values.max(initial=0)))
    ax.set_xticks(
        range(len(subsets)),
        [_subset_label(s["removed"]) for s in subsets],
        rotation=60,
        ha="right",
        fontsize=7,
    )
    ax.set_yticks(range(len(fusions)), fusions)
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color="white")
    ax.set(title=f"{metric} with inputs removed")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def compare_robustness_scatter(summary: dict[str, Any], metric: str) -> Figure:
    """Clean score against relative robustness per fusion, with the least-squares line."""
    points = [
        (f, e[metric]["mean"], e["relative_robustness"]["mean"])
        for f, e in summary.items()
        if e.get(metric) and e.get("relative_robustness")
    ]
    fig = _figure(5.5, 4.2)
    ax = fig.subplots()
    for name, x, y in points:
        ax.scatter([x], [y])
        ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if len(points) >= 3:
        xs, ys = np.array([p[1] for p in points]), np.array([p[2] for p in points])
        if np.ptp(xs) > 0:
            slope, intercept = np.polyfit(xs, ys, 1)
            grid = np.linspace(xs.min(), xs.max(), 10)
            ax.plot(grid, slope * grid + intercept, linestyle="--", color="grey", label="linear fit")
            ax.legend(fontsize=7)
    ax.set(xlabel=f"clean {metric}", ylabel="relative robustness", title="accuracy vs robustness")
    ax.grid(alpha=0.3)
    return fig
