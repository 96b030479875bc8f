"""The training pipeline behind :meth:`polyfuse.Predictor.fit`: prepare, build, train, calibrate.

Each step is short and takes the config section it needs:

1. :func:`prepare` fits the input processors and the task's target processor on the training
   table and reads every row of both splits (bad rows stop training or are skipped);
2. :func:`build` makes the model and swaps frozen pretrained encoders for the embedding cache;
3. :func:`train` runs the :class:`~polyfuse.training.trainer.Trainer`;
4. :func:`calibrate` lets the task fit post-hoc calibration on the validation split.
"""

from __future__ import annotations

import difflib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from polyfuse import _prefetch as prefetch
from polyfuse._io import folder_lock, preflight_output
from polyfuse.builder import build_inputs, build_model, build_target, encoder_config, resolve_task
from polyfuse.bundle import Fitted
from polyfuse.config.schema import Config, DataConfig, TrainingConfig
from polyfuse.data.dataset import (
    DataError,
    EncodedRows,
    InputSpec,
    LazyRowsDataset,
    RowsDataset,
    encode_rows,
    estimate_bytes,
    input_values,
    make_collate,
)
from polyfuse.data.schema import Schema
from polyfuse.data.tables import Table
from polyfuse.data.targets import TargetProcessor
from polyfuse.inference import run_steps
from polyfuse.tasks import Task, TaskConfig, task_class
from polyfuse.training.frozen_inputs import FrozenInputs, precompute_frozen_inputs
from polyfuse.training.resume import remove_checkpoints, restore_fitted, save_fitted
from polyfuse.training.sizing import choose_defaults
from polyfuse.training.trainer import Trainer, TrainState

log = logging.getLogger("polyfuse")


def stratified_split(table: Table, schema: Schema, fraction: float, seed: int) -> tuple[Table, Table]:
    """Carve a validation table from ``table``, stratified by label for classification tasks."""
    rng = np.random.default_rng(seed)
    frame = table.frame
    groups: list[np.ndarray] = [np.arange(len(frame))]
    if schema.task in ("binary", "multiclass") and schema.label is not None:
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


@dataclass
class Prepared:
    """Fitted processors and the rows of both splits, read and checked."""

    task: TaskConfig
    inputs: list[InputSpec]
    target: TargetProcessor | None
    train: Table
    valid: Table
    skipped: dict[str, int] = field(default_factory=dict)


def prepare(config: Config, schema: Schema, train: Table, valid: Table, resume: bool = False) -> Prepared:
    """Fit the input processors and the target processor on ``train``, or with ``resume`` read back
    the ones the interrupted run fitted (:func:`train` saves them before the first epoch)."""
    task = resolve_task(config, schema)
    inputs = build_inputs(schema, config)
    wanted = task_class(task.type).input_columns(task)  # e.g. retrieval's two sides only
    if wanted is not None:
        inputs = [s for s in inputs if set(s.columns) & set(wanted)]
    target = build_target(schema, task)
    checkpoints = Path(config.training.output_dir) / "checkpoints"
    if resume:
        restore_fitted(checkpoints, config, inputs, target)
        return Prepared(task, inputs, target, train, valid)
    for spec in inputs:
        spec.processor.fit(input_values(train, spec))
    if target is not None:
        target.configure(
            [c for cols in schema.inputs().values() for c in cols], config.data.missing == "error"
        )
        records: list[dict[str, Any]] = train.frame.to_dict("records")  # type: ignore[assignment]
        target.fit([target.resolve(target.value(row), train.base_dir) for row in records])
    return Prepared(task, inputs, target, train, valid)


def read_rows(
    data: DataConfig,
    training: TrainingConfig,
    prepared: Prepared,
    feed: list[InputSpec],
    table: Table,
    desc: str,
    keep_features: bool = True,
) -> EncodedRows:
    """Transform every row of ``table``; bad rows raise :class:`DataError` or are skipped (counted)."""
    encoded = encode_rows(
        table,
        feed,
        prepared.target,
        data.missing == "error",
        training.progress,
        desc,
        keep_features=keep_features,
    )
    if encoded.errors:
        if data.on_bad_rows == "error":
            raise DataError(encoded.errors, table.source, len(table.frame))
        bad = len({e.row for e in encoded.errors})
        prepared.skipped[table.source] = bad
        first = encoded.errors[0]
        log.warning(
            "skipping %d bad rows of %s (first: row %d, column %r: %s)",
            bad,
            table.source,
            first.row,
            first.column,
            first.message,
        )
    return encoded


@dataclass
class Built:
    """The model, what training feeds it, and the rows it trains and validates on."""

    fitted: Fitted
    frozen: FrozenInputs
    train_rows: EncodedRows
    valid_rows: EncodedRows
    in_memory: bool


def build(config: Config, schema: Schema, prepared: Prepared) -> Built:
    """Build the model; embed frozen encoders' inputs once (embedding cache); read both splits."""
    tc = config.training
    configs = {s.name: encoder_config(config, s.name, s.modality) for s in prepared.inputs}
    model = build_model(prepared.inputs, config, prepared.task, prepared.target, configs)
    frozen = precompute_frozen_inputs(tc, prepared.inputs, model, [prepared.train, prepared.valid])
    feed = frozen.inputs
    head = Table(prepared.train.frame.head(32), prepared.train.base_dir, prepared.train.source)
    sample = encode_rows(head, feed, prepared.target)
    in_memory = estimate_bytes(sample.features, len(prepared.train.frame)) <= tc.cache_memory_mb * 2**20
    train_rows = read_rows(config.data, tc, prepared, feed, prepared.train, "reading train", in_memory)
    valid_rows = read_rows(config.data, tc, prepared, feed, prepared.valid, "reading valid")
    if not train_rows.index or not valid_rows.index:
        which = "training" if not train_rows.index else "validation"
        raise ValueError(
            f"no usable rows left for {which} ({len(train_rows.index)} training, {len(valid_rows.index)}"
            f" validation rows of {len(prepared.train.frame)} + {len(prepared.valid.frame)})"
        )
    resolved = config.model_copy(update={"model": config.model.model_copy(update={"task": prepared.task})})
    fitted = Fitted(resolved, schema, feed, configs, prepared.target, model)
    return Built(fitted, frozen, train_rows, valid_rows, in_memory)


def _loaders(config: Config, built: Built, prepared: Prepared) -> Any:
    tc = config.training
    feed = built.frozen.inputs
    if built.in_memory:
        dataset: Any = RowsDataset(built.train_rows, feed, augment=True, seed=tc.seed)
        workers = 0
    else:
        dataset = LazyRowsDataset(
            prepared.train, built.train_rows.index, feed, prepared.target, True, tc.seed
        )
        workers = min(4, os.cpu_count() or 1) if tc.num_workers == "auto" else tc.num_workers
    collate = make_collate(feed, prepared.target)
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

    return loader


def validate(fitted: Fitted, rows: EncodedRows, batch_size: int) -> dict[str, Any]:
    """The task's metrics on encoded rows."""
    return fitted.model.task.metrics(run_steps(fitted, rows, batch_size, validate=True))


@dataclass
class Trained:
    """What a training run reports besides the weights."""

    state: TrainState
    monitor: str
    device: str


def train(
    config: Config,
    built: Built,
    prepared: Prepared,
    resume: bool = False,
    stop_after_epochs: int | None = None,
) -> Trained:
    """Run the trainer; the model ends with its best epoch's weights."""
    tc = config.training
    prefetch.wait()  # the background imports of Predictor.fit end before the main thread needs them
    task = built.fitted.model.task
    monitor = task.primary_metric if tc.monitor == "auto" else tc.monitor
    batch_size = config.inference.batch_size
    if tc.monitor != "auto" and not resume:  # a misspelt name would never pick a best epoch
        check_monitor(monitor, validate(built.fitted, built.valid_rows, batch_size))
    trainer = Trainer(
        tc, tc.output_dir, lambda _: validate(built.fitted, built.valid_rows, batch_size), monitor
    )
    if not resume:  # every row read and checked: the run starts, resumable from here
        save_fitted(Path(tc.output_dir) / "checkpoints", config, prepared.inputs, prepared.target)
    loader = _loaders(config, built, prepared)
    state = trainer.fit(
        built.fitted.model, loader, len(loader(0)), resume=resume, stop_after_epochs=stop_after_epochs
    )
    built.fitted.model.eval()
    return Trained(state, monitor, str(trainer.device))


def check_monitor(monitor: str, metrics: dict[str, Any]) -> None:
    """Raise when ``training.monitor`` names no metric the task reports (checked before epoch 1)."""
    names = sorted(k for k, v in metrics.items() if isinstance(v, int | float) or v is None)
    if monitor not in names:
        near = difflib.get_close_matches(monitor, names, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(
            f"training.monitor {monitor!r} is not a metric of this task{hint};"
            f" its metrics: {', '.join(names)}"
        )


def calibrate(config: Config, built: Built) -> dict[str, Any] | None:
    """The task's post-hoc calibration on the validation split (temperature scaling for classes);
    tasks that calibrate nothing skip the validation pass it would need."""
    task = built.fitted.model.task
    if type(task).calibrate is Task.calibrate:
        return None
    outputs = run_steps(built.fitted, built.valid_rows, config.inference.batch_size, validate=True)
    return task.calibrate(outputs)


def fit(
    config: Config,
    schema: Schema,
    train_table: Table,
    valid_table: Table,
    resume: bool = False,
    stop_after_epochs: int | None = None,
) -> Fitted:
    """The whole pipeline; returns the fitted state with its metrics (what the bundle saves).

    The output folder is checked (writable) and locked first: a second run into it fails at once,
    naming the first one's pid, instead of both reporting success with one lost."""
    output_dir = preflight_output(config.training.output_dir, kind="folder")
    with folder_lock(output_dir):
        return _fit(config, schema, train_table, valid_table, resume, stop_after_epochs)


def _fit(
    config: Config,
    schema: Schema,
    train_table: Table,
    valid_table: Table,
    resume: bool,
    stop_after_epochs: int | None,
) -> Fitted:
    started = time.perf_counter()
    prepared = prepare(config, schema, train_table, valid_table, resume)
    try:
        config, defaults = choose_defaults(config, prepared.inputs, prepared.train)
        built = build(config, schema, prepared)
    except Exception:  # stopped before the first epoch (bad rows): nothing to resume, leave nothing
        if not resume:
            remove_checkpoints(Path(config.training.output_dir) / "checkpoints")
        raise
    trained = train(config, built, prepared, resume, stop_after_epochs)
    state = trained.state
    calibration = calibrate(config, built)
    fitted = built.fitted
    fitted.metrics = {
        "valid": validate(fitted, built.valid_rows, config.inference.batch_size),
        "monitor": trained.monitor,
        "calibration": calibration,
        "training": {
            "epochs_run": state.epoch,
            "best_epoch": state.best_epoch + 1,
            "seconds": round(time.perf_counter() - started, 2),
            "train_rows": len(built.train_rows.index),
            "valid_rows": len(built.valid_rows.index),
            "skipped_rows": prepared.skipped,
            "in_memory_cache": built.in_memory,
            "embedding_cache": built.frozen.report,
            "device": trained.device,
            "threads": torch.get_num_threads(),
            "defaults": defaults,
        },
        "history": state.history,
    }
    fitted.inputs = prepared.inputs  # the bundle reads raw values: the model still holds every encoder
    return fitted
