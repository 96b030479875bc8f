"""Predictor: the public, scikit-learn-like face of polyfuse (fit / predict / evaluate / save / load)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from polyfuse import _prefetch as prefetch
from polyfuse import inference
from polyfuse._gc import gc_paused
from polyfuse._threads import apply_threads
from polyfuse.bundle import Fitted, load_bundle, save_bundle
from polyfuse.config.schema import Config, TrainingConfig, parse_config
from polyfuse.data.checks import check_prediction_columns, check_split_sizes
from polyfuse.data.dataset import DataError, EncodedRows, MediaMemo, encode_rows
from polyfuse.data.schema import Schema, infer_schema
from polyfuse.data.tables import Table, iter_table, read_table
from polyfuse.data.targets import check_target_columns
from polyfuse.fast_predict import FastPath
from polyfuse.model_card import render_model_card
from polyfuse.tasks import concat_outputs
from polyfuse.training.pipeline import fit as fit_pipeline
from polyfuse.training.pipeline import stratified_split
from polyfuse.training.resume import remove_checkpoints

log = logging.getLogger("polyfuse")
DataLike = str | Path | pd.DataFrame


class Predictor:
    """Train a multimodal model on a table and use it.

    Example:
        >>> predictor = Predictor(label="sentiment", epochs=5).fit("train.csv")
        >>> predictor.evaluate("test.csv")["accuracy_score"]
        >>> predictor.save("model/")

    Args:
        label: the label column (or give it inside ``config``).
        config: a :class:`Config`, a dict in the YAML layout, or ``None``.
        task: a task name (``auto``, ``binary``, ``multiclass``, ``regression``, ``multilabel``,
            ... see ``polyfuse list tasks``) or a full ``model.task`` mapping with its options.
        columns: explicit modality per column, e.g. ``{"photo": "image"}``.
        encoders / fusion / processors: sections of the config, e.g. ``fusion={"type": "concat"}``.
        **training: fields of :class:`TrainingConfig` (``epochs``, ``batch_size``, ``lr``, ...).
    """

    def __init__(
        self,
        label: str | None = None,
        config: Config | dict[str, Any] | None = None,
        *,
        task: str | dict[str, Any] | None = None,
        columns: dict[str, str] | None = None,
        encoders: dict[str, dict[str, Any]] | None = None,
        fusion: dict[str, Any] | None = None,
        processors: dict[str, dict[str, Any]] | None = None,
        on_bad_rows: str | None = None,
        **training: Any,
    ) -> None:
        values = config.model_dump() if isinstance(config, Config) else dict(config or {})
        data, model = dict(values.get("data", {})), dict(values.get("model", {}))
        train = dict(values.get("training", {}))
        unknown = set(training) - set(TrainingConfig.model_fields)
        if unknown:
            raise TypeError(
                f"unknown option(s) {sorted(unknown)};"
                f" training options are {sorted(TrainingConfig.model_fields)}"
            )
        if isinstance(task, dict):
            model["task"] = task
        elif task is not None:
            data["task"] = task
        for key, value in (
            ("label", label),
            ("columns", columns),
            ("processors", processors),
            ("on_bad_rows", on_bad_rows),
        ):
            if value is not None:
                data[key] = value
        for key, value in (("encoders", encoders), ("fusion", fusion)):
            if value is not None:
                model[key] = value
        train.update(training)
        self.config = parse_config({"data": data, "model": model, "training": train})
        self.fitted_: Fitted | None = None
        self._fast: FastPath | None = None
        self._checkpoints: Path | None = None  # this run's checkpoints, removed once its bundle is saved

    # ------------------------------------------------------------------ training
    def fit(
        self,
        train: DataLike | None = None,
        valid: DataLike | None = None,
        *,
        resume: bool = False,
        stop_after_epochs: int | None = None,
        base_dir: str | Path | None = None,
    ) -> Predictor:
        """Train on ``train`` (path or DataFrame); ``valid`` defaults to a stratified split of it.

        ``base_dir``: folder that relative media paths resolve against (default: the table's folder,
        or the working directory for a DataFrame); ``resume`` continues an interrupted run from
        ``training.output_dir`` with the processors it fitted (the config must be unchanged).
        """
        cfg = self.config
        train_src = train if train is not None else cfg.data.train
        if train_src is None:
            raise ValueError("no training data: pass it to fit() or set data.train")
        valid_src = valid if valid is not None else cfg.data.valid
        apply_threads(cfg.training.threads)
        prefetch.start()  # torch._dynamo and torchmetrics load while the data is read
        torch.manual_seed(cfg.training.seed)
        table = read_table(train_src, base_dir)
        schema = infer_schema(
            table.frame,
            cfg.data.label,
            dict(cfg.data.columns),
            cfg.model.task.type,
            cfg.data.label_delimiter,
            table.source,
            [*cfg.data.processors, *cfg.model.encoders],
        )
        if valid_src is None:
            train_table, valid_table = stratified_split(
                table, schema, cfg.data.valid_fraction, cfg.training.seed
            )
        else:
            train_table, valid_table = table, read_table(valid_src, base_dir)
        check_split_sizes(
            len(train_table.frame),
            len(valid_table.frame),
            table.source,
            carved=valid_src is None,
            valid_fraction=cfg.data.valid_fraction,
            smallest_label=_rarest(table.frame, schema),
        )
        self.fitted_ = fit_pipeline(cfg, schema, train_table, valid_table, resume, stop_after_epochs)
        self._fast = None
        self._checkpoints = Path(cfg.training.output_dir) / "checkpoints"
        if cfg.data.test:
            self.fitted_.metrics["test"] = self.evaluate(cfg.data.test)
        return self

    @property
    def fitted(self) -> Fitted:
        """The trained state; raises if :meth:`fit` or :meth:`load` has not run."""
        if self.fitted_ is None:
            raise RuntimeError("this Predictor is not trained: call fit() or Predictor.load()")
        return self.fitted_

    # ------------------------------------------------------------------ inference
    def predict(
        self,
        data: DataLike,
        proba: bool = False,
        chunk_rows: int = 4096,
        progress: bool = False,
        base_dir: str | Path | None = None,
    ) -> pd.DataFrame:
        """One output row per input row: ``row``, ``prediction`` (+ ``proba_*``), ``error``.

        A row that cannot be read gets its error message and no prediction; the rest are predicted.
        An empty media cell is predicted with that modality masked.
        """
        chunks = self.iter_predict(data, proba, chunk_rows, progress, base_dir)
        return pd.concat(list(chunks), ignore_index=True)

    def iter_predict(
        self,
        data: DataLike,
        proba: bool = False,
        chunk_rows: int = 4096,
        progress: bool = False,
        base_dir: str | Path | None = None,
    ) -> Any:
        """Like :meth:`predict`, chunk by chunk (for tables larger than memory).

        ``base_dir``: folder relative media paths resolve against (default: the table's folder,
        or the working directory for a DataFrame).
        """
        fitted = self.fitted
        size = self.config.inference.batch_size
        apply_threads(self.config.training.threads)
        for number, table in enumerate(iter_table(data, chunk_rows, base_dir, keep_undecodable=True)):
            if number == 0:  # a missing or misspelt input column would mask that input in every row
                check_prediction_columns(list(table.frame.columns), fitted.input_columns, table.source)
            memo: MediaMemo = {}  # a file named by rows of several slices of the chunk is decoded once

            def encode(part: Table, threads: int | None, memo: MediaMemo = memo) -> EncodedRows:
                return encode_rows(part, fitted.inputs, threads=threads, memo=memo)

            with gc_paused():  # the chunk's temporaries die before the collector sees them
                frame = inference.pipelined_prediction_frame(fitted, table, encode, size, proba, progress)
            yield frame

    def predict_one(self, row: dict[str, Any], proba: bool = False) -> dict[str, Any]:
        """One row (a dict of column -> value) -> a dict of :meth:`predict`'s columns for it.

        The fast path for one request at a time: no DataFrame is built, the schema is checked once
        (the first call), and a value that cannot be read gives ``{"error": message}`` with the
        prediction columns left ``None``, as in :meth:`predict`. Media paths resolve against the
        working directory. The ``row`` key is 0.
        """
        if self._fast is None:
            self._fast = FastPath(self.fitted)
            apply_threads(self.config.training.threads)
        return self._fast.predict_one(row, proba)

    def predict_proba(
        self, data: DataLike, chunk_rows: int = 4096, base_dir: str | Path | None = None
    ) -> pd.DataFrame:
        """Class probabilities (classification and multi-label) with ``row`` and ``error``."""
        return self.predict(data, proba=True, chunk_rows=chunk_rows, base_dir=base_dir)

    def evaluate(
        self,
        data: DataLike,
        chunk_rows: int = 4096,
        progress: bool = False,
        base_dir: str | Path | None = None,
    ) -> dict[str, Any]:
        """Task metrics on a labelled table, streamed; bad rows are counted, not fatal."""
        fitted = self.fitted
        apply_threads(self.config.training.threads)
        steps, errors, total, source = [], [], 0, str(data)
        for number, table in enumerate(iter_table(data, chunk_rows, base_dir, keep_undecodable=True)):
            source = table.source
            check_target_columns(fitted.target, list(table.frame.columns), table.source)
            if number == 0:
                check_prediction_columns(list(table.frame.columns), fitted.input_columns, table.source)
            with gc_paused():  # as in predict: the chunk's temporaries die before the collector sees them
                encoded = encode_rows(table, fitted.inputs, fitted.target, progress=progress, desc="reading")
                if encoded.index:
                    size = self.config.inference.batch_size
                    steps.append(inference.run_steps(fitted, encoded, size, validate=True, progress=progress))
                encoded.features = []  # the outputs are kept, not the decoded rows
            errors += encoded.errors
            total += len(table.frame)
        if not steps:
            raise DataError(errors, source, total, "no row could be scored: fix the rows above")
        metrics = fitted.model.task.metrics(concat_outputs(steps))
        bad = sorted({e.row for e in errors})
        metrics.update({"rows": total, "bad_rows": len(bad)})
        if errors:
            metrics["bad_row_examples"] = [
                {"row": e.row, "column": e.column, "error": e.message} for e in errors[:20]
            ]
            first = errors[0]
            log.warning(
                "%d of %d rows of %s were not scored (first: row %d, column %r: %s)",
                len(bad),
                total,
                source,
                first.row,
                first.column,
                first.message,
            )
        return metrics

    def embed(self, data: DataLike, chunk_rows: int = 4096, base_dir: str | Path | None = None) -> np.ndarray:
        """Fused embeddings ``(N_good_rows, D)`` of the readable rows, in row order."""
        fitted = self.fitted
        parts = []
        for table in iter_table(data, chunk_rows, base_dir):
            encoded = encode_rows(table, fitted.inputs)
            parts.append(inference.embeddings(fitted, encoded, self.config.inference.batch_size)[0])
        return np.concatenate(parts) if parts else np.zeros((0, inference.embedding_dim(fitted)), np.float32)

    def index(self, gallery: DataLike, path: str | Path | None = None, **options: Any) -> Any:
        """Embed a gallery into a searchable :class:`~polyfuse.retrieval.index.RetrievalIndex`
        (retrieval bundles); ``path`` defaults to a new temporary directory. ``index.search(queries,
        k)`` then returns the top ``k`` gallery rows per query."""
        import tempfile

        from polyfuse.retrieval.index import RetrievalIndex

        where = path if path is not None else tempfile.mkdtemp(prefix="polyfuse-index-")
        options.setdefault("batch_size", self.config.inference.batch_size)
        return RetrievalIndex.build(self.fitted, gallery, where, **options)[0]

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> Path:
        """Write the bundle (see :mod:`polyfuse.bundle`); then, unless ``training.keep_checkpoints``,
        remove the checkpoints of the run this predictor trained (an interrupted run keeps them for
        ``--resume``)."""
        path = save_bundle(self.fitted, directory, render_model_card(self.fitted))
        if self._checkpoints is not None and not self.config.training.keep_checkpoints:
            remove_checkpoints(self._checkpoints)
            self._checkpoints = None
        return path

    @classmethod
    def load(cls, directory: str | Path, key: str | Path | None = None) -> Predictor:
        """Load a bundle; needs no training data, no network, and never unpickles.

        ``key``: verify the bundle's signature with this key file first (``polyfuse sign``).
        """
        fitted = load_bundle(directory, key)
        predictor = cls(config=fitted.config)
        predictor.fitted_ = fitted
        return predictor


def _rarest(frame: pd.DataFrame, schema: Schema) -> tuple[str, int] | None:
    """``(label value, rows)`` of the rarest class, for classification (the split's stratum)."""
    if schema.task not in ("binary", "multiclass") or schema.label is None:
        return None
    counts = frame[schema.label].dropna().astype(str).value_counts()
    return (str(counts.index[-1]), int(counts.iloc[-1])) if len(counts) else None
