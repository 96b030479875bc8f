"""The fit pipeline and the batched inference loop behind :class:`polyfuse.Predictor`."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from polyfuse.builder import build_inputs, build_model, encoder_config
from polyfuse.bundle import Fitted
from polyfuse.config.schema import Config
from polyfuse.data.dataset import (
    DataError,
    EncodedRows,
    InputSpec,
    LazyRowsDataset,
    RowsDataset,
    encode_rows,
    estimate_bytes,
    make_collate,
)
from polyfuse.data.schema import TABULAR, Schema
from polyfuse.data.tables import Table, resolve_media
from polyfuse.evaluation.calibration import fit_temperature
from polyfuse.frozen_inputs import precompute_frozen_inputs
from polyfuse.model import Batch
from polyfuse.tasks import create_label_processor
from polyfuse.training.trainer import Trainer

log = logging.getLogger("polyfuse")


def stratified_split(table: Table, schema: Schema, fraction: float, seed: int) -> tuple[Table, Table]:
    """Carve a validation table from ``table``, stratified by label for classification tasks."""
    rng = np.random.default_rng(seed)
    frame = table.frame
    groups: list[np.ndarray] = [np.arange(len(frame))]
    if schema.task in ("binary", "multiclass"):
        indices = frame.groupby(frame[schema.label].astype(str), sort=True).indices
        groups = [np.asarray(rows) for rows in indices.values()]
    valid_rows: list[int] = []
    for rows in groups:
        rows = rng.permutation(rows)
        take = round(len(rows) * fraction) if len(rows) > 1 else 0
        valid_rows += rows[:take].tolist()
    mask = np.zeros(len(frame), dtype=bool)
    mask[valid_rows] = True
    # both parts keep the table's row index, so errors name the rows as numbered in the file
    return (
        Table(frame[~mask], table.base_dir, table.source),
        Table(frame[mask], table.base_dir, f"{table.source} (validation split)"),
    )


def _fit_processors(inputs: list[InputSpec], table: Table) -> None:
    records = table.frame.to_dict("records")
    for spec in inputs:
        if spec.name == TABULAR:
            values: list[Any] = [{c: r.get(c) for c in spec.columns} for r in records]
        else:
            values = [r.get(spec.columns[0]) for r in records]
            if spec.modality in ("image", "audio"):
                values = [resolve_media(v, table.base_dir) for v in values]
        spec.processor.fit(values)


def _check_rows(encoded: EncodedRows, table: Table, config: Config, report: dict[str, int]) -> None:
    if not encoded.errors:
        return
    if config.data.on_bad_rows == "error":
        raise DataError(encoded.errors, table.source, len(table.frame))
    bad = len({e.row for e in encoded.errors})
    report[table.source] = bad
    log.warning(
        "skipping %d bad rows of %s (first: row %d, column %r: %s)",
        bad,
        table.source,
        encoded.errors[0].row,
        encoded.errors[0].column,
        encoded.errors[0].message,
    )


def batches(fitted: Fitted, encoded: EncodedRows, batch_size: int) -> Iterator[Batch]:
    """Model-ready batches of already-encoded rows, on the model's device."""
    device = next(fitted.model.parameters()).device
    loader = DataLoader(
        RowsDataset(encoded, fitted.inputs), batch_size=batch_size, collate_fn=make_collate(fitted.inputs)
    )
    for batch in loader:
        yield batch.to(device)


def run_outputs(
    fitted: Fitted, encoded: EncodedRows, batch_size: int, progress: bool = False
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Raw outputs (N, K), row index (N,) and targets (or None) of encoded rows."""
    model = fitted.model
    model.eval()
    outputs, index, targets = [], [], []
    with torch.no_grad():
        for batch in tqdm(
            batches(fitted, encoded, batch_size),
            disable=not progress,
            unit="batch",
            total=(len(encoded.index) + batch_size - 1) // batch_size,
            leave=False,
        ):
            outputs.append(model(batch).float().cpu())
            index.append(batch.index)
            if batch.target is not None:
                targets.append(batch.target.cpu())
    k = model.task.labels.num_outputs
    out = torch.cat(outputs) if outputs else torch.zeros(0, k)
    idx = torch.cat(index) if index else torch.zeros(0, dtype=torch.long)
    return out, idx, torch.cat(targets) if targets else None


def _train_dataset(
    encoded: EncodedRows | None,
    table: Table,
    inputs: list[InputSpec],
    labels: Any,
    config: Config,
    keep: list[int],
) -> tuple[Any, int]:
    seed = config.training.seed
    if encoded is not None:
        return RowsDataset(encoded, inputs, augment=True, seed=seed), 0
    workers = config.training.num_workers
    count = min(4, os.cpu_count() or 1) if workers == "auto" else workers
    return LazyRowsDataset(table, keep, inputs, labels, augment=True, seed=seed), count


def build_fitted(
    config: Config,
    schema: Schema,
    train: Table,
    valid: Table,
    resume: bool = False,
    stop_after_epochs: int | None = None,
) -> Fitted:
    """Fit processors and labels, check every row, train, and return the fitted state.

    Inputs of frozen pretrained encoders are embedded once, through the embedding cache, and
    training reads those embeddings (see :mod:`polyfuse.frozen_inputs`); the returned state keeps
    the inputs' own processors, so it predicts from raw values.
    """
    tc = config.training
    started = time.perf_counter()
    inputs = build_inputs(schema, config)
    _fit_processors(inputs, train)
    labels = create_label_processor(schema.task, schema.label_delimiter)
    labels.fit(train.frame[schema.label].tolist())
    label_pair = (schema.label, labels)
    strict = config.data.missing == "error"
    configs = {s.name: encoder_config(config, s.name, s.modality) for s in inputs}
    model = build_model(inputs, config, schema.task, labels, configs)
    # issue 5: frozen encoders' outputs come from the embedding cache; `feed` is what training reads
    frozen = precompute_frozen_inputs(tc, inputs, model, [train, valid])
    feed = frozen.inputs
    sample = encode_rows(Table(train.frame.head(32), train.base_dir, train.source), feed, label_pair)
    in_memory = estimate_bytes(sample.features, len(train.frame)) <= tc.cache_memory_mb * 2**20
    encoded = encode_rows(
        train, feed, label_pair, strict, tc.progress, "reading train", keep_features=in_memory
    )
    skipped: dict[str, int] = {}
    _check_rows(encoded, train, config, skipped)
    valid_rows = encode_rows(valid, feed, label_pair, strict, tc.progress, "reading valid")
    _check_rows(valid_rows, valid, config, skipped)
    if not encoded.index or not valid_rows.index:
        raise ValueError("no usable rows left for training or validation")
    fitted = Fitted(config, schema, feed, configs, labels, model)
    dataset, workers = _train_dataset(
        encoded if in_memory else None, train, feed, label_pair, config, encoded.index
    )
    collate = make_collate(feed)
    drop_last = len(dataset) > tc.batch_size and len(dataset) % tc.batch_size == 1

    def loader(epoch: int) -> DataLoader[Any]:
        dataset.set_epoch(epoch)
        return DataLoader(
            dataset,
            batch_size=tc.batch_size,
            shuffle=True,
            collate_fn=collate,
            generator=torch.Generator().manual_seed(tc.seed * 1000 + epoch),
            num_workers=workers,
            drop_last=drop_last,
        )

    task = model.task
    monitor = task.primary_metric if tc.monitor == "auto" else tc.monitor

    def validate(_: Any) -> dict[str, Any]:
        outputs, _, target = run_outputs(fitted, valid_rows, tc.batch_size)
        assert target is not None
        metrics = task.metrics(outputs, target)
        metrics["task_loss"] = float(task.loss(outputs, target))
        return metrics

    trainer = Trainer(tc, tc.output_dir, validate, monitor)
    steps = len(loader(0))
    state = trainer.fit(model, loader, steps, resume=resume, stop_after_epochs=stop_after_epochs)
    model.eval()
    # evaluation (issue 3): temperature scaling fitted on the validation split, kept in the bundle
    calibration = fit_temperature(fitted, valid_rows)
    fitted.metrics = {
        "valid": validate(model),
        "monitor": monitor,
        "calibration": calibration,
        "training": {
            "epochs_run": state.epoch,
            "best_epoch": state.best_epoch + 1,
            "seconds": round(time.perf_counter() - started, 2),
            "train_rows": len(encoded.index),
            "valid_rows": len(valid_rows.index),
            "skipped_rows": skipped,
            "in_memory_cache": in_memory,
            "embedding_cache": frozen.report,
            "device": str(trainer.device),
        },
        "history": state.history,
    }
    fitted.inputs = inputs  # the bundle reads raw values: the model still holds every encoder
    return fitted
