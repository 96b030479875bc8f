"""Plots of a fusion comparison (one function per plot), from ``compare_fusions`` results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from polyfuse.evaluation.report.plots import legend_outside, new_figure, series_styles, subset_label


def compare_scores(
    summary: dict[str, Any], metrics: Sequence[str] = ("accuracy_score", "macro_f1_score")
) -> Figure:
    """Mean score per fusion with a standard-deviation error bar, grouped by metric."""
    fusions = [f for f in summary if summary[f].get("runs")]
    shown = [m for m in metrics if any(summary[f].get(m) for f in fusions)]
    fig = new_figure(max(6.0, 0.35 * len(fusions) * max(len(shown), 1) + 2), 3.8)
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
    fig = new_figure(11.0, 3.8)
    losses, scores = fig.subplots(1, 2)
    fusions = list(dict.fromkeys(r["fusion"] for r in runs if not r.get("error")))
    for fusion, style in zip(fusions, series_styles(len(fusions)), strict=True):
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
    legend_outside(fig, losses)
    return fig


def compare_robustness_curves(levels: Sequence[float], summary: dict[str, Any], metric: str) -> Figure:
    """Per fusion, the score averaged over every input and injector against the noise level."""
    fig = new_figure(7.5, 4.0)
    ax = fig.subplots()
    shown = [f for f, e in summary.items() if e.get("mean_scores")]
    for fusion, style in zip(shown, series_styles(len(shown)), strict=True):
        ax.plot(levels, summary[fusion]["mean_scores"], marker="o", markersize=3, label=fusion, **style)
    ax.set(xlabel="noise level", ylabel=f"mean {metric}", title="robustness to noise (all inputs)")
    if metric.endswith("_score"):
        ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    legend_outside(fig, ax)
    return fig


def compare_absence_matrix(summary: dict[str, Any], metric: str) -> Figure:
    """Fusions (rows) by removed subsets (columns): the mean score that remains."""
    fusions = [f for f in summary if summary[f].get("absence")]
    subsets = summary[fusions[0]]["absence"] if fusions else []
    values = np.array([[s["score"] for s in summary[f]["absence"]] for f in fusions]).reshape(
        len(fusions), -1
    )
    fig = new_figure(max(6.0, 0.55 * len(subsets) + 3), 1.8 + 0.4 * len(fusions))
    ax = fig.subplots()
    image = ax.imshow(values, cmap="viridis", aspect="auto", vmin=0, vmax=max(1.0, values.max(initial=0)))
    ax.set_xticks(
        range(len(subsets)),
        [subset_label(s["removed"]) for s in subsets],
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
    fig = new_figure(5.5, 4.2)
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
