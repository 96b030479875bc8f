"""One function per plot; each takes plain result data (the dicts the evaluation functions return)
and returns a matplotlib :class:`~matplotlib.figure.Figure` (no pyplot state, Agg rendering)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def new_figure(width: float = 7.0, height: float = 4.0) -> Figure:
    return Figure(figsize=(min(width, 12.0), height), dpi=100, layout="constrained")


def series_styles(count: int) -> list[dict[str, Any]]:
    """Distinct colours for up to 20 series (tab10, then tab20), line styles beyond that."""
    cmap = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    dashes = ["-", "--", ":", "-."]
    return [{"color": cmap(i % cmap.N), "linestyle": dashes[(i // cmap.N) % 4]} for i in range(count)]


def legend_outside(fig: Figure, ax: Any) -> None:
    """One legend for the figure, right of the plots (many series would hide the lines)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=7)


def learning_curves(history: Sequence[dict[str, Any]]) -> Figure:
    """Training and validation loss, and validation scores, per epoch."""
    fig = new_figure(9.0, 3.6)
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
    fig = new_figure(size + 1.0, size)
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
    fig = new_figure(max(5.0, 1.2 * len(classes) + 2), 3.6)
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
    fig = new_figure(4.0 * columns, 3.2 * rows)
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


def subset_label(removed: Sequence[str]) -> str:
    return "none removed" if not removed else "without " + " + ".join(removed)


def absence_matrix(absence: dict[str, Any]) -> Figure:
    """Which inputs are removed (dark cells) and the score that remains, for every subset."""
    names, subsets = absence["inputs"], absence["subsets"]
    marks = np.array([[name in s["removed"] for name in names] for s in subsets], dtype=float)
    fig = new_figure(4.0 + 0.6 * len(names), 1.0 + 0.28 * len(subsets))
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
    fig = new_figure(7.0, 1.2 + 0.6 * len(names))
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
    fig = new_figure(5.0, 4.5)
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


def image_panel(ax: Any, image: Any, title: str = "") -> None:
    """Show one ``(C, H, W)`` image in [0, 1] (a tensor) on ``ax``, pixels unsmoothed, no ticks."""
    from polyfuse.tasks._images import to_pil

    picture = to_pil(image)
    ax.imshow(
        picture, cmap="gray" if picture.mode == "L" else None, vmin=0, vmax=255, interpolation="nearest"
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
