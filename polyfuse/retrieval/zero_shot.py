"""Zero-shot classification through retrieval (as CLIP does): class names as text queries.

Each distinct value of a label column becomes a sentence (``template``, e.g. ``"a photo of a {}"``)
embedded by the bundle's text tower; each row's other side (its photo, its sound) is embedded by the
other tower, and the class whose sentence scores highest is the prediction. The class
probabilities are ``softmax(scale * cosine)`` with the task's learned logit scale, scored by the
same classification metrics a classifier gets.

Legend: N rows, K classes, D width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from polyfuse.data.processors.base import is_missing
from polyfuse.data.tables import Table, read_table
from polyfuse.metrics import classification_metrics
from polyfuse.retrieval.towers import OTHER, embed_side, retrieval_task, side_specs

if TYPE_CHECKING:
    from pathlib import Path

    from polyfuse.bundle import Fitted
    from polyfuse.tasks.retrieval import Side


def text_side(fitted: Fitted) -> tuple[Side, str]:
    """The side whose one input is a text column, and that column (class names go through it)."""
    for side in ("query", "candidate"):
        specs = side_specs(fitted, side)  # type: ignore[arg-type]
        if len(specs) == 1 and specs[0].modality == "text":
            return side, specs[0].columns[0]  # type: ignore[return-value]
    raise ValueError("zero-shot classification needs a retrieval bundle with a side of one text column")


def zero_shot_classify(
    fitted: Fitted,
    data: str | Path | pd.DataFrame,
    label: str,
    template: str = "{}",
    batch_size: int = 256,
) -> dict[str, Any]:
    """Classify every row of ``data`` by its nearest class sentence; metrics against ``label``.

    Returns:
        ``accuracy_score``, ``macro_f1_score``, ... (see :func:`polyfuse.metrics.classification_metrics`),
        ``classes`` (the sentences' class names), ``rows`` and ``bad_rows``.
    """
    table = read_table(data)
    if label not in table.frame.columns:
        raise KeyError(f"label column {label!r} is not in {table.source}")
    side, column = text_side(fitted)
    labelled = table.frame[[not is_missing(v) for v in table.frame[label]]]
    classes = sorted({str(v) for v in labelled[label]})
    if len(classes) < 2:
        raise ValueError(f"zero-shot classification needs at least two classes in {label!r}, got {classes}")
    sentences = pd.DataFrame({column: [template.format(c) for c in classes]})
    names = embed_side(fitted, Table(sentences, table.base_dir, "(class names)"), side, batch_size)
    rows = embed_side(fitted, Table(labelled, table.base_dir, table.source), OTHER[side], batch_size)
    sims = torch.from_numpy(rows.vectors) @ torch.from_numpy(names.vectors).T  # (N, K)
    probs = torch.softmax(retrieval_task(fitted).scale.detach().cpu() * sims, dim=1)
    index = {c: i for i, c in enumerate(classes)}
    target = torch.tensor([index[str(v)] for v in labelled.loc[rows.rows, label]], dtype=torch.long)
    metrics = classification_metrics(probs, target, classes)
    metrics.update({"classes": classes, "rows": len(table.frame), "bad_rows": len(rows.errors)})
    return metrics
