"""The prediction service behind the HTTP app: checks rows, batches them, formats the answers.

A row whose media break a limit or cannot be read gets its own error here, before the model; the
rest of its request is still predicted. Everything else goes through :meth:`Predictor.predict`
(one call per micro-batch), so serving predicts exactly what the library predicts.
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
from PIL import Image

from polyfuse import Predictor
from polyfuse.serving.batching import MicroBatcher
from polyfuse.serving.inputs import MEDIA, Column, build_request_models, describe_columns
from polyfuse.serving.limits import RowValueError, check_audio, check_image, media_bytes
from polyfuse.serving.metrics import ServerMetrics
from polyfuse.serving.outputs import format_frame, format_row
from polyfuse.serving.settings import ServeSettings

log = logging.getLogger("polyfuse.serving")

Prepared = dict[str, Any]
"""A checked row ready for the model: ``{column: value}``, media as bytes."""

INTERNAL_ERROR = "internal error"
"""How a row's error begins when the model raised on it (not the row's fault)."""

Answer = dict[str, Any]
"""One row's answer: ``{"prediction": ..., "probabilities": ..., "error": None}`` or ``{"error": ...}``."""


class PredictionService:
    """Checks, batches and predicts rows for one loaded predictor.

    Args:
        predictor: a trained or loaded predictor; used from one inference thread only.
        settings: limits and batching.
        metrics: where batch sizes, row outcomes and queue depth are counted.
    """

    def __init__(self, predictor: Predictor, settings: ServeSettings, metrics: ServerMetrics) -> None:
        self.predictor = predictor
        self.settings = settings
        self.metrics = metrics
        self.columns = describe_columns(predictor)
        self.kinds = {c.name: c.kind for c in self.columns}
        self.row_model, self.request_model = build_request_models(self.columns, settings)
        self.batcher: MicroBatcher[Prepared, Answer] = MicroBatcher(
            self.predict_batch,
            settings.max_batch,
            settings.max_wait_ms / 1000.0,
            settings.max_queue,
            on_batch=metrics.batch_size.observe,
        )
        self.ready = False
        self._empty_dir = tempfile.TemporaryDirectory(prefix="polyfuse-serve-")
        """Where the predictor would resolve a media path: empty, and never given one."""

    # ---------------------------------------------------------------- checks (event loop)
    def prepare(self, row: dict[str, Any]) -> Prepared:
        """Media cells -> checked bytes; other cells pass through.

        Raises:
            RowValueError: A cell breaks a limit or is unreadable; the message names the column.
        """
        s = self.settings
        prepared: Prepared = {}
        for name, value in row.items():
            kind = self.kinds[name]
            if kind not in MEDIA:
                prepared[name] = value
                continue
            try:
                data = media_bytes(value, s.media_root, s.max_media_bytes)
                if data is not None and kind == "image":
                    check_image(data, s.max_pixels)
                elif data is not None and kind == "audio":
                    check_audio(data, s.max_audio_seconds)
            except RowValueError as error:
                raise RowValueError(f"column {name!r}: {error}") from None
            prepared[name] = data
        return prepared

    def prepare_all(self, rows: list[dict[str, Any]]) -> list[Prepared | RowValueError]:
        """:meth:`prepare` for each row, the error in place of a row that fails."""
        prepared: list[Prepared | RowValueError] = []
        for row in rows:
            try:
                prepared.append(self.prepare(row))
            except RowValueError as error:
                prepared.append(error)
        return prepared

    async def predict(self, rows: list[dict[str, Any]], offload: bool = False) -> list[Answer]:
        """Answers for validated rows, in order; a row that fails its checks gets its error.

        ``offload``: check the rows in a worker thread (large bodies: base64 of big files).
        """
        if offload:
            prepared = await asyncio.get_running_loop().run_in_executor(None, self.prepare_all, rows)
        else:
            prepared = self.prepare_all(rows)
        good = [row for row in prepared if not isinstance(row, RowValueError)]
        predicted = iter(await self.batcher.submit(good) if good else [])
        answers = [
            {"error": str(row)} if isinstance(row, RowValueError) else next(predicted) for row in prepared
        ]
        errors = sum(1 for answer in answers if answer.get("error"))
        self.metrics.rows.labels("error").inc(errors)
        self.metrics.rows.labels("ok").inc(len(answers) - errors)
        return answers

    # ---------------------------------------------------------------- model (inference thread)
    def predict_batch(self, rows: list[Prepared]) -> list[Answer]:
        """One :meth:`Predictor.predict` call for the batch; if it raises, row by row."""
        try:
            return self._predict_frame(rows)
        except Exception:
            log.exception("a batch of %d rows raised; predicting its rows one by one", len(rows))
        answers = []
        for row in rows:
            try:
                answers += self._predict_frame([row])
            except Exception as error:
                log.exception("a row raised in the model")
                answers.append({"error": f"{INTERNAL_ERROR}: the model raised {type(error).__name__}"})
        return answers

    def _predict_frame(self, rows: list[Prepared]) -> list[Answer]:
        if len(rows) == 1 and hasattr(self.predictor, "predict_one"):  # the library's one-row fast path
            return [format_row(self.predictor.predict_one(rows[0], proba=True))]
        frame = pd.DataFrame.from_records(rows, columns=[c.name for c in self.columns])
        out = self.predictor.predict(frame, proba=True, base_dir=self._empty_dir.name)
        return format_frame(out, len(rows))

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start batching; warm up (when enabled) and decide whether requests may share a model
        call (:meth:`rows_independent`) before reporting ready."""
        await self.batcher.start()
        try:
            row = self.prepare(warmup_row(self.columns))
            other = self.prepare(warmup_row(self.columns, length=1))
        except RowValueError as error:  # limits tighter than the synthetic rows
            log.warning("no warm-up: the synthetic row breaks this server's limits (%s)", error)
            self.batcher.join_requests = bool(self.settings.join_requests)
            self.ready = True
            return
        if self.settings.warmup:
            for _ in range(2):
                answer = await self.batcher.run_in_thread(lambda: self.predict_batch([row]))
            if answer[0].get("error"):
                log.warning("the warm-up row failed: %s", answer[0]["error"])
        join = self.settings.join_requests
        if join is None:
            join = await self.batcher.run_in_thread(lambda: self.rows_independent(row, other))
            log.info("rows of different requests %s share model calls", "may" if join else "never")
        self.batcher.join_requests = join
        self.ready = True

    def rows_independent(self, row: Prepared, other: Prepared) -> bool:
        """Whether ``row``'s answer is the same alone and after ``other`` in one call. It is not for
        tasks that compare rows (retrieval answers with another row of the call) or seed by position
        (sampling); their requests are then predicted one call each, so answers never depend on
        what other clients sent at the same time."""
        alone = self.predict_batch([row])[0]
        first, second = self.predict_batch([row, other])[0], self.predict_batch([other, row])[1]
        return _same(alone, first) and _same(alone, second)

    async def stop(self) -> None:
        """Stop batching and remove the scratch folder."""
        self.ready = False
        await self.batcher.stop()
        self._empty_dir.cleanup()


def _same(a: Any, b: Any, tolerance: float = 1e-4) -> bool:
    """Equal answers: floats within ``tolerance`` (a batch of another size may round differently)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y, tolerance) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tolerance
    return bool(a == b)


def warmup_row(columns: list[Column], length: int = 2) -> dict[str, Any]:
    """A synthetic row with every column filled: ``length`` words of text, a ``length / 8`` s tone,
    a colour gradient PNG, a number, a category; rows of two lengths differ in every column but
    categories (export traces the model on them; the server probes whether answers depend on the
    rows beside them)."""
    row: dict[str, Any] = {}
    for column in columns:
        if column.kind == "image":
            buffer = io.BytesIO()
            ramp = np.linspace(0, 255, 32, dtype=np.uint8)
            shade = np.full((32, 32), 40 * length % 256)
            pixels = np.stack([np.tile(ramp, (32, 1)), np.tile(ramp[:, None], (1, 32)), shade], -1)
            Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
            row[column.name] = buffer.getvalue()
        elif column.kind == "audio":
            buffer = io.BytesIO()
            t = np.arange(int(16000 * length / 8)) / 16000
            tone = 0.2 * np.sin(2 * np.pi * 220 * (1 + length) * t)
            sf.write(buffer, tone.astype(np.float32), 16000, format="WAV")
            row[column.name] = buffer.getvalue()
        elif column.kind == "numeric":
            row[column.name] = 0.5 * length
        elif column.kind == "categorical":
            row[column.name] = column.choices[0] if column.choices else None
        else:
            row[column.name] = " ".join(["calm", "bright", "loud", "item"] * length)[: 40 * length]
    return row
