"""The image-generation report: the metrics, and a gallery of samples drawn for a few of the table's
distinct conditions, each beside the table's own image for that row.

Samples come from the task's own sampling (:func:`polyfuse.generate.iter_generate`: DDIM with the
bundle's steps, guidance and seed; copies of one condition get different noise).

Legend: G conditions shown, S samples per condition, C/H/W image channels/height/width.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from polyfuse.data.tables import read_table
from polyfuse.evaluation.report.html import Plot, Section, Table, render_plot, write_report
from polyfuse.evaluation.report.plots import image_panel, new_figure
from polyfuse.evaluation.report.sections import training_section
from polyfuse.generate import input_columns, iter_generate

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import Tensor

    from polyfuse.evaluation._data import DataLike
    from polyfuse.predictor import Predictor


def image_generation_results(
    predictor: Predictor,
    data: DataLike,
    metrics: dict[str, Any] | None = None,
    conditions: int = 8,
    per_condition: int = 4,
    base_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Samples for the first ``conditions`` distinct conditions (input values) of ``data``.

    Returns:
        ``{"metrics", "history", "examples": [{"row", "condition": {column: text}, "samples": (S, C, H, W),
        "real": (C, H, W) or None}]}``, images in [0, 1].
    """
    fitted = predictor.fitted
    if fitted.model.task.name != "image_generation":
        raise ValueError(
            f"this bundle's task is {fitted.model.task.name!r}; this report needs image_generation"
        )
    table = read_table(data, base_dir)
    if metrics is None:
        metrics = predictor.evaluate(table.frame, base_dir=table.base_dir)
    frame = table.frame
    columns = [c for c in input_columns(predictor) if c in frame.columns]
    distinct = frame[columns].astype(str).drop_duplicates().index if columns else frame.index[:1]
    chosen = list(distinct[:conditions])
    repeated = frame.loc[np.repeat(chosen, per_condition), columns]  # (G * S) condition rows
    images = torch.cat([batch for _, batch in iter_generate(predictor, repeated, base_dir=table.base_dir)])
    samples = images.float().cpu().reshape(len(chosen), per_condition, *images.shape[1:])  # (G, S, C, H, W)
    return {
        "metrics": metrics,
        "history": fitted.metrics.get("history", []),
        "examples": [
            {
                "row": int(row),
                "condition": {c: _text(frame.at[row, c]) for c in columns},
                "samples": samples[i],
                "real": _real_image(predictor, frame.loc[row].to_dict(), table.base_dir),
            }
            for i, row in enumerate(chosen)
        ],
    }


def _text(value: Any) -> str:
    return "(absent)" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)[:200]


def _real_image(predictor: Predictor, record: dict[str, Any], base_dir: Path) -> Tensor | None:
    """The row's target image ``(C, H, W)`` in [0, 1] as the model sees it (``None`` if unreadable)."""
    target: Any = predictor.fitted.target
    try:
        return (target.encode(target.resolve(target.value(record), base_dir)).float() + 1.0) / 2.0
    except (OSError, ValueError, TypeError, KeyError):
        return None


def sample_row(samples: Tensor, real: Tensor | None) -> Figure:
    """The table's image (when readable), then the samples ``(S, C, H, W)``, side by side."""
    panels = ([("table image", real)] if real is not None else []) + [
        (f"sample {i + 1}", image) for i, image in enumerate(samples)
    ]
    fig = new_figure(1.6 * len(panels) + 0.4, 1.9)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, image) in zip(axes, panels, strict=True):
        image_panel(ax, image, title)
    return fig


def image_generation_sections(results: dict[str, Any]) -> list[Section]:
    """Metrics, learning curves, then one figure per condition captioned with its input values."""
    metrics = results["metrics"]
    scalars = [[k, v] for k, v in metrics.items() if isinstance(v, int | float | str | None)]
    gallery: list[str | Plot | Table] = [
        "Samples use the bundle's own sampling (its DDIM steps, guidance scale and seed); the first"
        " image of each row is the table's image for that condition, when it can be read."
    ]
    for i, example in enumerate(results["examples"]):
        condition = " | ".join(f"{c}: {v}" for c, v in example["condition"].items()) or "(no input)"
        figure = sample_row(example["samples"], example["real"])
        gallery.append(render_plot(f"samples_{i}", figure, f"row {example['row']}: {condition}"))
    sections = [Section("Image generation metrics", [Table(["metric", "value"], scalars)])]
    if results.get("history"):
        sections.append(training_section(results["history"]))
    return [*sections, Section("Generated samples", gallery)]


def write_image_generation_report(
    path: str | Path,
    predictor: Predictor,
    data: DataLike,
    metrics: dict[str, Any] | None = None,
    base_dir: str | Path | None = None,
) -> Path:
    """Sample and write the image-generation report of ``data`` to ``path`` (atomically)."""
    results = image_generation_results(predictor, data, metrics, base_dir=base_dir)
    return write_report(path, image_generation_sections(results), "polyfuse image generation report")
