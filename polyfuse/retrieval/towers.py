"""One side of a trained retrieval bundle as an embedding function: table rows -> (N, D) vectors.

Only the side's own inputs are read and encoded (a gallery of photos needs no caption column), so
a query table and a gallery table each hold one side's columns.

Legend: N rows, D width (the task's ``embed_dim``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from polyfuse.data.dataset import InputSpec, RowError, RowsDataset, encode_rows, make_collate
from polyfuse.data.tables import Table

if TYPE_CHECKING:
    from polyfuse.bundle import Fitted
    from polyfuse.tasks.retrieval import RetrievalTask, Side

OTHER: dict[str, Side] = {"query": "candidate", "candidate": "query"}


def retrieval_task(fitted: Fitted) -> RetrievalTask:
    """The bundle's retrieval task; raises ``ValueError`` for a bundle of another task."""
    from polyfuse.tasks.retrieval import RetrievalTask

    task = fitted.model.task
    if not isinstance(task, RetrievalTask):
        raise ValueError(f"the bundle's task is {fitted.task_config.type!r}, not retrieval")
    return task


def side_columns(fitted: Fitted, side: Side) -> list[str]:
    """The table columns of one side (``query`` or ``candidate``)."""
    config = retrieval_task(fitted).config
    return list(config.query if side == "query" else config.candidates)


def side_specs(fitted: Fitted, side: Side) -> list[InputSpec]:
    """The input specs (processors) of one side's inputs."""
    names = retrieval_task(fitted).side_inputs[side]
    return [s for s in fitted.inputs if s.name in names]


def fingerprint(fitted: Fitted) -> str:
    """A short SHA-256 of the bundle's config and weights: an index records the bundle that built it."""
    digest = hashlib.sha256(json.dumps(fitted.config.model_dump(mode="json"), sort_keys=True).encode())
    for name, tensor in sorted(fitted.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class SideEmbeddings:
    """Vectors of the readable rows, their table row numbers, and the errors of the others."""

    vectors: np.ndarray
    """(N, D) float32, L2-normalised."""
    rows: np.ndarray
    """(N,) int64 table row numbers."""
    errors: list[RowError]


def check_columns(fitted: Fitted, side: Side, columns: list[str], source: str) -> None:
    """Raise ``ValueError`` naming the side's columns that ``columns`` lacks (all of them: refused)."""
    wanted = side_columns(fitted, side)
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise ValueError(
            f"{source} lacks the bundle's {side} column(s) {missing} (it has {columns}; the bundle's"
            f" {side} side reads {wanted})"
        )


def embed_side(
    fitted: Fitted, table: Table, side: Side, batch_size: int, progress: bool = False
) -> SideEmbeddings:
    """Embed one side of every row of ``table``; rows whose side is unreadable or empty are errors."""
    check_columns(fitted, side, [str(c) for c in table.frame.columns], table.source)
    task = retrieval_task(fitted)
    specs = side_specs(fitted, side)
    encoded = encode_rows(table, specs, progress=progress, desc=f"reading {side}s")
    model = fitted.model.eval()
    device = next(model.parameters()).device
    loader: DataLoader[Any] = DataLoader(
        RowsDataset(encoded, specs), batch_size=batch_size, collate_fn=make_collate(specs)
    )
    parts, rows, errors = [], [], list(encoded.errors)
    with torch.inference_mode():
        for batch in loader:
            batch = batch.to(device)
            pooled = {s.name: _pooled(model, s.name, batch.inputs[s.name]) for s in specs}
            present = task.side_present(side, batch.present)
            vectors = task.embed_side(side, pooled, batch.present).float().cpu()
            parts.append(vectors[present.cpu()])
            rows.append(batch.index[present.cpu()])
            errors += [
                RowError(int(r), ", ".join(side_columns(fitted, side)), f"the {side} is empty")
                for r in batch.index[~present.cpu()].tolist()
            ]
    dim = task.config.embed_dim
    if not parts:
        return SideEmbeddings(np.zeros((0, dim), np.float32), np.zeros(0, np.int64), errors)
    return SideEmbeddings(torch.cat(parts).numpy(), torch.cat(rows).numpy().astype(np.int64), errors)


def _pooled(model: Any, name: str, features: Any) -> torch.Tensor:
    """One encoder's pooled output (B, D_m)."""
    from polyfuse.model import _encode

    return _encode(model.encoders[name], features).pooled
