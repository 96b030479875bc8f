"""A latent space drawn as a scatter: the latents themselves when they have 2 or 3 dimensions, their
first two principal components otherwise, coloured by a label when one is given.

Used by the autoencoder report (``polyfuse evaluate --report --color-by COLUMN``) and by
``benchmarks/autoencoder_mnist.py``.

Legend: N points, L latent width, K label values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from polyfuse.evaluation.report.plots import new_figure

MAX_CATEGORIES = 20
"""A numeric label with more distinct values than this is coloured on a scale, not by category."""

MISSING = "(missing)"
"""Category name of the points whose label is missing."""


def pca(latent: np.ndarray, dims: int = 2) -> np.ndarray:
    """``(N, L)`` -> ``(N, dims)``: the centred latents on their first ``dims`` principal axes (SVD).

    Columns past the latent's rank are zeros, so the shape is always ``(N, dims)``.
    """
    x = np.asarray(latent, dtype=np.float64)
    centred = x - x.mean(0, keepdims=True)  # (N, L)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)  # vt: (min(N, L), L)
    projected = centred @ vt[:dims].T  # (N, <= dims)
    if projected.shape[1] < dims:
        projected = np.pad(projected, ((0, 0), (0, dims - projected.shape[1])))
    return projected.astype(np.float32)


def scatter_coords(latent: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The coordinates to draw and their axis names: ``(N, 2)`` or ``(N, 3)``.

    L = 1: the latent against zeros; L = 2 or 3: the latent as it is; L > 3: its PCA to 2-D.
    """
    x = np.asarray(latent, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"latents must be (N, L) with L >= 1; got shape {x.shape}")
    if x.shape[1] > 3:
        return pca(x, 2), ["PC1", "PC2"]
    if x.shape[1] == 1:
        return np.concatenate([x, np.zeros_like(x)], 1), ["z0", ""]
    return x, [f"z{i}" for i in range(x.shape[1])]


def label_colours(labels: Sequence[Any] | np.ndarray | pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """Colour values of ``N`` labels.

    Returns:
        ``(codes (N,) int, names (K,))`` for categories: code ``k`` is ``names[k]``, the values
        sorted, missing labels last as ``"(missing)"``; or ``(values (N,) float, None)`` for a
        numeric label with more than :data:`MAX_CATEGORIES` distinct values (a colour scale).
    """
    series = pd.Series(labels).reset_index(drop=True)
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and series.nunique() > MAX_CATEGORIES:
        return series.to_numpy(dtype=np.float64), None
    missing = series.isna().to_numpy()
    present = series[~missing]
    codes_present, uniques = pd.factorize(present if numeric else present.astype(str), sort=True)
    names = [_name(u) for u in uniques]
    codes = np.full(len(series), len(names), dtype=np.int64)
    codes[~missing] = codes_present
    if missing.any():
        names.append(MISSING)
    return codes, names


def _name(value: Any) -> str:
    """``3.0`` -> ``"3"`` (an integer label read into a float column), anything else as ``str``."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def latent_scatter(
    latent: np.ndarray,
    labels: Sequence[Any] | np.ndarray | pd.Series | None = None,
    label_name: str | None = None,
    title: str = "latent space",
) -> Figure:
    """A scatter of latents ``(N, L)`` (see :func:`scatter_coords`), coloured by ``labels`` ``(N,)``:
    one colour and legend entry per category, or a colour bar for a many-valued number."""
    coords, axis_names = scatter_coords(latent)
    fig = new_figure(6.5, 5.0)
    ax: Any = fig.add_subplot(projection="3d" if coords.shape[1] == 3 else None)
    points = coords.T  # (2 or 3, N)
    size = 6 if len(coords) <= 2000 else 3
    if labels is None:
        ax.scatter(*points, s=size, alpha=0.7)
    else:
        if len(labels) != len(coords):
            raise ValueError(f"{len(labels)} labels for {len(coords)} latents")
        colours, names = label_colours(labels)
        if names is None:
            drawn = ax.scatter(*points, c=colours, cmap="viridis", s=size)
            fig.colorbar(drawn, ax=ax, label=label_name or "label", shrink=0.8)
        elif len(names) <= MAX_CATEGORIES:
            cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
            ax.scatter(*points, s=size, c=cmap(colours))  # one call: no category drawn over the others
            handles = [
                Line2D([], [], marker="o", linestyle="", markersize=4, color=cmap(code), label=name)
                for code, name in enumerate(names)
            ]
            fig.legend(handles=handles, loc="outside right upper", title=label_name, fontsize=7)
        else:  # many named categories: distinct colours, no legend
            ax.scatter(*points, c=colours, cmap="turbo", s=size)
            title = f"{title} ({len(names)} values of {label_name or 'the label'}, no legend)"
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    if coords.shape[1] == 3:
        ax.set_zlabel(axis_names[2])
    ax.set_title(title, fontsize=10)
    return fig
