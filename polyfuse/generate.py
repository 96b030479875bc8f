"""Generation with a trained bundle: images from conditions (image_generation), inputs from
latents (autoencoder). The library side of ``polyfuse generate``.

Conditions are a table whose columns are the bundle's input columns (any may be left out or
empty: that input is absent; a row with every input absent gets an unconditional sample).

Legend: N images, C channels, H/W height/width, L latent width.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from polyfuse import inference
from polyfuse._progress import progress_bar
from polyfuse.data.dataset import DataError, encode_rows
from polyfuse.data.tables import Table

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor

MAX_GRID = 1024
"""Most images one grid PNG may hold; larger requests are written to a folder, chunk by chunk."""


def input_columns(predictor: Predictor) -> dict[str, str]:
    """``{column: modality}`` of the bundle's inputs (tabular inputs list each of their columns)."""
    columns: dict[str, str] = {}
    for spec in predictor.fitted.inputs:
        for column in spec.columns:
            columns[column] = spec.modality
    return columns


def condition_frame(
    predictor: Predictor, n: int, text: str | None = None, values: dict[str, Any] | None = None
) -> pd.DataFrame:
    """``n`` identical condition rows: ``text`` in every text input, ``values`` by column.

    Raises:
        ValueError: ``n`` below 1, or a column that is not one of the bundle's inputs.
    """
    if n < 1:
        raise ValueError(f"asked for {n} images: ask for at least 1")
    columns = input_columns(predictor)
    unknown = sorted(set(values or {}) - set(columns))
    if unknown:
        raise ValueError(f"{unknown} are not inputs of this bundle; its inputs are {', '.join(columns)}")
    row: dict[str, Any] = {c: None for c in columns}
    if text is not None:
        texts = [c for c, m in columns.items() if m == "text"]
        if not texts:
            raise ValueError(f"--text needs a text input; this bundle's inputs are {', '.join(columns)}")
        row.update({c: text for c in texts})
    row.update(values or {})
    return pd.DataFrame([row] * n)


def iter_generate(
    predictor: Predictor,
    conditions: pd.DataFrame,
    chunk_rows: int = 256,
    base_dir: str | Path | None = None,
    progress: bool = False,
) -> Iterator[tuple[np.ndarray, Tensor]]:
    """Generate one image per condition row, chunk by chunk: ``(row numbers (N,), images (N, C, H, W)
    in [0, 1])``. Rows whose conditions cannot be read raise :class:`DataError`."""
    fitted = predictor.fitted
    if fitted.model.task.name != "image_generation":
        raise ValueError(
            f"this bundle's task is {fitted.model.task.name!r}; generating needs image_generation"
        )
    frame = conditions.reset_index(drop=True)
    for column in input_columns(predictor):
        if column not in frame.columns:
            frame[column] = None
    chunks = range(0, len(frame), chunk_rows)
    total = math.ceil(len(frame) / chunk_rows)
    for start in progress_bar(chunks, total=total, unit="chunk", desc="generating", enabled=progress):
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
        table = Table(frame.iloc[start : start + chunk_rows], folder, "the conditions")
        encoded = encode_rows(table, fitted.inputs)
        if encoded.errors:
            raise DataError(encoded.errors, "the conditions", len(table.frame))
        outputs = inference.run_steps(fitted, encoded, predictor.config.inference.batch_size)
        yield outputs[inference.ROW].numpy(), outputs["image"]


def set_sampling(predictor: Predictor, **options: Any) -> None:
    """Change an image-generation bundle's sampling options (``steps``, ``guidance_scale``, ``seed``);
    ``None`` values keep the trained defaults."""
    task: Any = predictor.fitted.model.task
    for key, value in options.items():
        if value is not None:
            if key not in task.sampling:
                raise ValueError(f"unknown sampling option {key!r}; options: {', '.join(task.sampling)}")
            if key == "timestep_spacing" and value not in ("leading", "trailing"):
                raise ValueError(f"timestep_spacing must be 'leading' or 'trailing', got {value!r}")
            task.sampling[key] = value


def decode_latents(predictor: Predictor, latents: np.ndarray) -> dict[str, Tensor]:
    """An autoencoder bundle's reconstructions of latents ``(N, L)``: ``{input: (N, ...)}``.

    Raises:
        ValueError: not an autoencoder bundle, a wrong width, or a non-finite (NaN, inf) value.
    """
    task: Any = predictor.fitted.model.task
    if task.name != "autoencoder":
        raise ValueError(f"this bundle's task is {task.name!r}; decoding latents needs an autoencoder")
    array = np.asarray(latents, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != task.config.latent_dim:
        raise ValueError(f"latents must be (N, {task.config.latent_dim}); got shape {array.shape}")
    bad = ~np.isfinite(array).all(1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"{int(bad.sum())} latents hold NaN or infinite values (rows {rows}): refused")
    with torch.inference_mode():
        return task.decode(torch.from_numpy(array))  # type: ignore[no-any-return]
