"""The autoencoder report: the reconstruction metrics, originals above their reconstructions, and
the latent space, coloured by a label column when one is named.

:func:`autoencoder_results` runs the bundle on a table: the latents of up to ``max_points`` rows (a
fixed-seed sample of a larger table, kept in table order) and the reconstructions of the first
``shown`` of them;
:func:`autoencoder_sections` turns that into report sections.

Legend: N rows in the scatter, R rows of the reconstructions, C/H/W image channels/height/width,
L latent width.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyfuse import inference
from polyfuse.data.dataset import DataError, encode_rows
from polyfuse.data.tables import Table, read_table
from polyfuse.evaluation.report.html import Plot, Section, render_plot, write_report
from polyfuse.evaluation.report.html import Table as HtmlTable
from polyfuse.evaluation.report.latent import latent_scatter
from polyfuse.evaluation.report.plots import image_panel, new_figure
from polyfuse.evaluation.report.sections import training_section
from polyfuse.tasks.input_decoders._image import ImageDecoder
from polyfuse.tasks.input_decoders.text_rnn import TextRnnDecoder

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import Tensor

    from polyfuse.evaluation._data import DataLike
    from polyfuse.predictor import Predictor

MAX_POINTS = 2000
"""Most rows drawn in the latent scatter (a larger table is sampled with a fixed seed)."""


def check_color_by(columns: list[str], color_by: str | None, source: str) -> None:
    """Raise a ``ValueError`` naming ``color_by`` when it is not one of the table's ``columns``."""
    if color_by is not None and color_by not in columns:
        raise ValueError(
            f"--color-by column {color_by!r} is not a column of {source}; its columns: {', '.join(columns)}"
        )


def autoencoder_results(
    predictor: Predictor,
    data: DataLike,
    metrics: dict[str, Any] | None = None,
    color_by: str | None = None,
    shown: int = 8,
    max_points: int = MAX_POINTS,
    base_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Everything the report draws.

    Args:
        predictor: a trained autoencoder.
        data: the table (its rebuilt inputs, and ``color_by`` when given).
        metrics: the table's metrics if already computed (else :meth:`Predictor.evaluate` runs).
        color_by: a column of ``data`` whose values colour the latent scatter.
        shown: rows whose reconstructions are shown (the first of the scatter's rows).
        max_points: most rows in the scatter.
        base_dir: folder relative media paths resolve against (default: the table's).

    Returns:
        ``{"metrics", "reconstructions": {input: {"original": (R, C, H, W), "rebuilt": (R, C, H, W),
        "present": (R,)}}, "texts": {input: [[row, original, rebuilt] x R]}, "rows": [R row
        numbers], "latent": (N, L), "latent_rows": [N row numbers], "labels": N values or None,
        "color_by", "total_rows", "history"}``; images in [0, 1].

    Raises:
        ValueError: not an autoencoder bundle, or ``color_by`` is not a column of ``data``.
    """
    fitted = predictor.fitted
    task: Any = fitted.model.task
    if task.name != "autoencoder":
        raise ValueError(f"this bundle's task is {task.name!r}; this report needs an autoencoder")
    table = read_table(data, base_dir)
    check_color_by([str(c) for c in table.frame.columns], color_by, table.source)
    if metrics is None:
        metrics = predictor.evaluate(table.frame, base_dir=table.base_dir)
    frame = table.frame
    if len(frame) > max_points:
        frame = frame.sample(max_points, random_state=0).sort_index()
    encoded = encode_rows(Table(frame, table.base_dir, table.source), fitted.inputs)
    if not encoded.index:
        raise DataError(encoded.errors, table.source, len(frame), "no row could be read")
    size = predictor.config.inference.batch_size
    latent, rows = inference.embeddings(fitted, encoded, size)  # (N, L), (N,)
    first = next(inference.batches(fitted, encoded, shown))
    outputs = inference.run_steps(fitted, [first], shown, validate=True)
    reconstructions, texts = {}, {}
    for name in sorted(task.decoders):
        decoder = task.decoders[name]
        present = outputs[f"present/{name}"].bool().cpu()
        if isinstance(decoder, TextRnnDecoder):
            written = decoder.to_values(outputs[f"reconstruction/{name}"])
            truth = decoder.text(outputs[f"truth/{name}"])
            texts[name] = [
                [row, text if bool(seen) else "(absent)", out]
                for row, text, seen, out in zip(
                    outputs[inference.ROW].tolist(), truth, present, written, strict=True
                )
            ]
        elif isinstance(decoder, ImageDecoder):
            reconstructions[name] = {
                "original": outputs[f"truth/{name}"].cpu(),
                "rebuilt": outputs[f"reconstruction/{name}"].clamp(0, 1).cpu(),
                "present": present,
            }
    return {
        "metrics": metrics,
        "reconstructions": reconstructions,
        "texts": texts,
        "rows": outputs[inference.ROW].tolist(),
        "latent": latent,
        "latent_rows": rows.tolist(),
        "labels": frame.loc[rows, color_by].tolist() if color_by is not None else None,
        "color_by": color_by,
        "total_rows": len(table.frame),
        "history": fitted.metrics.get("history", []),
    }


def reconstruction_grid(original: Tensor, rebuilt: Tensor, rows: list[int], present: Tensor) -> Figure:
    """Originals ``(R, C, H, W)`` in the top row, their reconstructions below, one column per row."""
    count = len(original)
    fig = new_figure(1.3 * count + 0.8, 3.0)
    axes = fig.subplots(2, count, squeeze=False)
    for j in range(count):
        absent = "" if bool(present[j]) else " (absent)"
        image_panel(axes[0][j], original[j], f"row {rows[j]}{absent}")
        image_panel(axes[1][j], rebuilt[j])
    axes[0][0].set_ylabel("original")
    axes[1][0].set_ylabel("rebuilt")
    return fig


def autoencoder_sections(results: dict[str, Any]) -> list[Section]:
    """Metrics, learning curves, the reconstructions (one figure per image input), the latent scatter."""
    metrics = results["metrics"]
    scalars = [[k, v] for k, v in metrics.items() if isinstance(v, int | float | str | None)]
    summary: list[str | Plot | HtmlTable] = [
        HtmlTable(["metric", "value"], scalars),
        "Names with _01 are measured on pixels scaled to [0, 1]: mean squared error (lower is better),"
        " PSNR in dB and SSIM (higher is better); *_reconstruction_loss is each input's training loss.",
    ]
    recon: list[str | Plot | HtmlTable] = []
    for i, (name, images) in enumerate(results["reconstructions"].items()):
        figure = reconstruction_grid(
            images["original"], images["rebuilt"], results["rows"], images["present"]
        )
        recon.append(
            render_plot(f"reconstructions_{i}", figure, f"{name}: originals above their reconstructions")
        )
    for name, rows in results.get("texts", {}).items():
        recon += [
            f"{name}: each row's text and the text written back from its latent",
            HtmlTable(["row", "original", "rebuilt"], rows),
        ]
    if not recon:
        recon.append(
            "No image or text input is rebuilt by this autoencoder: there are no reconstructions to show."
        )
    latent, color_by = results["latent"], results["color_by"]
    scatter = latent_scatter(latent, results["labels"], color_by, "latents")
    how = (
        "the latent itself"
        if latent.shape[1] <= 3
        else f"the first two principal components of {latent.shape[1]}"
    )
    caption = f"{len(latent)} of {results['total_rows']} rows; {how}" + (
        f"; coloured by {color_by}" if color_by else "; uncoloured (name a column with --color-by)"
    )
    sections = [Section("Autoencoder metrics", summary)]
    if results.get("history"):
        sections.append(training_section(results["history"]))
    return [
        *sections,
        Section("Reconstructions", recon),
        Section("Latent space", [render_plot("latent_space", scatter, caption)]),
    ]


def write_autoencoder_report(
    path: str | Path,
    predictor: Predictor,
    data: DataLike,
    metrics: dict[str, Any] | None = None,
    color_by: str | None = None,
    base_dir: str | Path | None = None,
) -> Path:
    """Write the autoencoder report of ``data`` to ``path`` (atomically) and return the path."""
    results = autoencoder_results(predictor, data, metrics, color_by, base_dir=base_dir)
    return write_report(path, autoencoder_sections(results), "polyfuse autoencoder report")
