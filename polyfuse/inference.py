"""Inference: encoded rows -> batches -> the task's outputs, prediction frames and embeddings.

One module that the predictor, the evaluation suite, ``polyfuse embed``, calibration and the server
share, so every consumer runs the model the same way: eval mode, ``torch.inference_mode``, batches
of ``inference.batch_size`` rows, outputs concatenated with the table row each came from.

Legend: N rows, D width.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from polyfuse._progress import progress_bar
from polyfuse.data.batch import Batch
from polyfuse.data.dataset import EncodedRows, RowError, RowsDataset, make_collate
from polyfuse.data.tables import Table
from polyfuse.tasks import StepOutputs, concat_outputs

if TYPE_CHECKING:
    from polyfuse.bundle import Fitted

ROW = "row"
"""Key of the table row numbers in step outputs (``(N,)`` long) and column of prediction frames."""


def batches(fitted: Fitted, encoded: EncodedRows, batch_size: int) -> Iterator[Batch]:
    """Model-ready batches of already-encoded rows, on the model's device."""
    device = next(fitted.model.parameters()).device
    loader = DataLoader(
        RowsDataset(encoded, fitted.inputs),
        batch_size=batch_size,
        collate_fn=make_collate(fitted.inputs, fitted.target),
    )
    for batch in loader:
        yield batch.to(device)


def run_steps(
    fitted: Fitted,
    source: EncodedRows | list[Batch],
    batch_size: int,
    *,
    validate: bool = False,
    transform: Callable[[Batch], Batch] | None = None,
    progress: bool = False,
) -> StepOutputs:
    """The task's outputs of every row, concatenated, with ``"row"`` (the table row numbers).

    Args:
        fitted: the trained state.
        source: encoded rows, or batches already built from them (reused by evaluation).
        batch_size: rows per batch when ``source`` is encoded rows.
        validate: run ``validation_step`` (outputs + targets) instead of ``predict_step``.
        transform: applied to each batch first (noise, removed inputs).
        progress: show a progress bar.
    """
    model = fitted.model
    model.eval()
    if isinstance(source, EncodedRows):
        total = (len(source.index) + batch_size - 1) // batch_size
        iterator: Any = batches(fitted, source, batch_size)
    else:
        total, iterator = len(source), source
    steps = []
    with torch.inference_mode():
        for batch in progress_bar(iterator, total=total, unit="batch", desc="model", enabled=progress):
            batch = transform(batch) if transform is not None else batch
            step = model.validation_step(batch) if validate else model.predict_step(batch)
            steps.append({**step, ROW: batch.index})
    if not steps:
        return {ROW: torch.zeros(0, dtype=torch.long)}
    return concat_outputs(steps)


def error_frame(errors: list[RowError]) -> pd.DataFrame:
    """One row per bad table row: ``row`` and ``error`` (its first problem per column)."""
    messages: dict[int, list[str]] = {}
    for e in errors:
        messages.setdefault(e.row, []).append(f"column {e.column!r}: {e.message}")
    return pd.DataFrame(
        {ROW: pd.Series(list(messages), dtype="int64"), "error": ["; ".join(m) for m in messages.values()]}
    )


def prediction_frame(
    fitted: Fitted, encoded: EncodedRows, batch_size: int, proba: bool = False, progress: bool = False
) -> pd.DataFrame:
    """``row``, the task's prediction columns and ``error``, one row per table row, in row order."""
    outputs = run_steps(fitted, encoded, batch_size, progress=progress)
    return _frame(fitted, outputs, encoded.errors, proba)


def pipelined_prediction_frame(
    fitted: Fitted,
    table: Table,
    encode: Callable[[Table, int | None], EncodedRows],
    batch_size: int,
    proba: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """:func:`prediction_frame` of ``table``; when its rows are slow to decode (large JPEGs, audio:
    decoders that release the GIL), the model runs one slice of ``batch_size`` rows in a worker
    thread while this thread decodes the next. The same rows, batches of at most ``batch_size``,
    the same frame as decoding the whole table first.

    ``encode(table, threads)`` decodes a slice (``threads`` as :func:`encode_rows` takes it). The
    first slice, decoded alone, decides. Fast rows (a small PNG, a short text, numbers) are Python
    work under the GIL: beside the model, each slowed the other about as much as the overlap gained
    (a 64-row slice of the speed table: the model 6.4 -> 17 ms, decoding 5.4 -> 7-17 ms), and
    the whole prediction was 8 % slower than decoding every row first and then running the model
    with all its threads, which is what they get (decoding in this thread: in threads, they would
    only fight over the GIL)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from polyfuse.data._chunks import THREADED_ROW_SECONDS

    frame = table.frame
    if len(frame) <= batch_size:
        return prediction_frame(fitted, encode(table, None), batch_size, proba, progress)
    began = time.perf_counter()
    first = encode(Table(frame.iloc[:batch_size], table.base_dir, table.source), None)
    fast = (time.perf_counter() - began) / batch_size <= THREADED_ROW_SECONDS
    starts = range(batch_size, len(frame), batch_size)
    desc = "decoding" if fast else "predicting"  # fast rows: the model's own bar follows
    slices = progress_bar(starts, progress, total=len(starts), unit="batch", desc=desc)

    def part(start: int, threads: int | None) -> EncodedRows:
        return encode(Table(frame.iloc[start : start + batch_size], table.base_dir, table.source), threads)

    if fast:
        encoded = _joined([first, *(part(start, 1) for start in slices)])
        return prediction_frame(fitted, encoded, batch_size, proba, progress)
    errors = list(first.errors)
    with ThreadPoolExecutor(1, thread_name_prefix="polyfuse-predict") as model_thread:
        pending = [model_thread.submit(run_steps, fitted, first, batch_size)] if first.index else []
        for start in slices:
            rows = part(start, None)
            errors += rows.errors
            if rows.index:
                pending.append(model_thread.submit(run_steps, fitted, rows, batch_size))
        outputs = concat_outputs([future.result() for future in pending]) if pending else None
    return _frame(fitted, outputs, errors, proba)


def _joined(parts: list[EncodedRows]) -> EncodedRows:
    """The rows of ``parts``, in order."""
    joined = EncodedRows([], [], [] if all(p.targets is not None for p in parts) else None, [])
    for part in parts:
        joined.index += part.index
        joined.features += part.features
        joined.errors += part.errors
        if joined.targets is not None and part.targets is not None:
            joined.targets += part.targets
    return joined


def _frame(fitted: Fitted, outputs: StepOutputs | None, errors: list[RowError], proba: bool) -> pd.DataFrame:
    """The prediction frame of ``outputs`` (``None``: no good row) and the bad rows' errors."""
    has_rows = outputs is not None and len(outputs[ROW])
    frame = fitted.model.task.to_frame(outputs, proba) if has_rows else pd.DataFrame()  # type: ignore[arg-type]
    frame.insert(0, ROW, outputs[ROW].numpy() if has_rows else np.zeros(0, dtype=np.int64))  # type: ignore[index]
    frame["error"] = None
    bad = error_frame(errors)
    parts = [frame, bad] if len(bad) else [frame]  # an empty part would make `row` float
    return pd.concat(parts, ignore_index=True).sort_values(ROW, ignore_index=True)


def embeddings(fitted: Fitted, encoded: EncodedRows, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Fused embeddings ``(N, D)`` of the encoded rows and their table row numbers ``(N,)``.

    A task with its own embedding (an autoencoder's latent, :meth:`Task.embed`) gives that.

    Models without a fusion (late heads, retrieval towers) give each input's pooled vector,
    concatenated in sorted input order.
    """
    model = fitted.model
    model.eval()
    parts, rows = [], []
    with torch.inference_mode():
        for batch in batches(fitted, encoded, batch_size):
            out = model.fuse(batch)
            vector = model.task.embed(out)
            if vector is None:
                vector = (
                    out.fused
                    if out.fused is not None
                    else torch.cat([out.pooled[n] for n in sorted(out.pooled)], 1)
                )
            parts.append(vector.float().cpu())
            rows.append(batch.index)
    if not parts:
        return np.zeros((0, embedding_dim(fitted)), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return torch.cat(parts).numpy(), torch.cat(rows).numpy()


def embedding_dim(fitted: Fitted) -> int:
    """D of :func:`embeddings`."""
    dims = fitted.model.task.dims
    if fitted.model.task.embed_dim is not None:
        return fitted.model.task.embed_dim
    return dims.fused_dim if dims.fused_dim is not None else sum(dims.input_dims.values())
