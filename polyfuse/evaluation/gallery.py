"""A gallery of generated texts for the evaluation report: inputs (images as thumbnails), the
references and the generation, for the best and the worst scored groups of rows.

A group is the rows with identical inputs (one image with its five captions); each is scored by
sentence-level chrF against all its references (sacrebleu), which is defined on single sentences
where sentence BLEU-4 is mostly zero.

Legend: N rows, G groups.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyfuse.data.tables import read_table, resolve_media
from polyfuse.inference import ROW
from polyfuse.tasks import StepOutputs

if TYPE_CHECKING:
    from polyfuse.evaluation._data import DataLike
    from polyfuse.predictor import Predictor

THUMBNAIL = 160
"""Longest side of the images shown, in pixels."""


def thumbnail(path: Any) -> str | None:
    """A JPEG ``data:`` URI of an image file (``None`` when it cannot be read)."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        image.thumbnail((THUMBNAIL, THUMBNAIL))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=80)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def generation_gallery(
    predictor: Predictor,
    data: DataLike,
    outputs: StepOutputs,
    count: int = 6,
    base_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The ``count`` best and worst groups: ``{"metric", "best": [...], "worst": [...]}``, each
    ``{"score", "generation", "references", "inputs": {column: text}, "images": [data URI]}``."""
    from sacrebleu.metrics import CHRF

    task = predictor.fitted.model.task
    hyps, refs, first = task.grouped(outputs)  # type: ignore[operator]
    chrf = CHRF()
    scores = [chrf.sentence_score(h, r).score for h, r in zip(hyps, refs, strict=True)]
    order = sorted(range(len(hyps)), key=lambda i: scores[i], reverse=True)
    table = read_table(data, base_dir)
    frame = table.frame
    modalities = {spec.name: spec.modality for spec in predictor.fitted.inputs}
    columns = {c: modalities.get(c, "tabular") for spec in predictor.fitted.inputs for c in spec.columns}

    def example(i: int) -> dict[str, Any]:
        row = frame.loc[int(outputs[ROW][first[i]])]
        inputs, images = {}, []
        for column, modality in columns.items():
            value = row.get(column)
            if modality == "image" and isinstance(value, str):
                uri = thumbnail(resolve_media(value, table.base_dir))
                if uri is not None:
                    images.append(uri)
                    continue
            inputs[column] = "" if value is None else str(value)[:300]
        return {
            "score": round(scores[i], 2),
            "generation": hyps[i],
            "references": refs[i],
            "inputs": inputs,
            "images": images,
        }

    best = order[:count]
    worst = [i for i in reversed(order[-count:]) if i not in best]
    return {
        "metric": "sentence chrF",
        "best": [example(i) for i in best],
        "worst": [example(i) for i in worst],
    }
