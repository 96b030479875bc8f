"""Prediction frame -> JSON rows, whatever the task.

The task decides the columns of the prediction frame; this module only formats them, so a new task
needs nothing here: ``prediction`` and any other column pass through as JSON (numbers, text,
ranked lists of dicts), the ``proba_*`` columns become one ``probabilities`` object, images
(Pillow images, PNG bytes, ``(H, W[, C])`` uint8 arrays) become ``{"media_type": "image/png",
"base64": ...}``, other bytes become ``{"media_type": "application/octet-stream", "base64": ...}``,
and a non-finite float becomes ``null``.
"""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np
import pandas as pd

PROBA_PREFIX = "proba_"
RESERVED = ("row", "error")
_PNG = b"\x89PNG\r\n\x1a\n"


def _png(data: bytes) -> dict[str, str]:
    return {"media_type": "image/png", "base64": base64.b64encode(data).decode("ascii")}


def _image_png(value: Any) -> bytes:
    buffer = io.BytesIO()
    value.save(buffer, format="PNG")
    return buffer.getvalue()


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (see the module docstring for media and non-finite floats)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        if data.startswith(_PNG):
            return _png(data)
        return {"media_type": "application/octet-stream", "base64": base64.b64encode(data).decode("ascii")}
    if hasattr(value, "save") and hasattr(value, "mode") and hasattr(value, "size"):  # a Pillow image
        return _png(_image_png(value))
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype == np.uint8 and (value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (1, 3, 4))):
            from PIL import Image

            return _png(
                _image_png(
                    Image.fromarray(value[..., 0] if value.ndim == 3 and value.shape[2] == 1 else value)
                )
            )
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if pd.isna(value):
        return None
    return str(value)


def format_row(record: dict[str, Any]) -> dict[str, Any]:
    """One prediction-frame record -> ``{"prediction", "probabilities"?, other outputs..., "error"}``."""
    error = record.get("error")
    if isinstance(error, str) and error:
        return {"error": error}
    out: dict[str, Any] = {}
    probabilities = {}
    for key, value in record.items():
        if key in RESERVED:
            continue
        if key.startswith(PROBA_PREFIX):
            probabilities[key[len(PROBA_PREFIX) :]] = jsonable(value)
        else:
            out[key] = jsonable(value)
    if probabilities:
        out["probabilities"] = probabilities
    out["error"] = None
    return out


def format_frame(frame: pd.DataFrame, n_rows: int) -> list[dict[str, Any]]:
    """``n_rows`` results in input order from a prediction frame keyed by ``row`` (0..n_rows-1).

    A row missing from the frame (which the predictor should never do) gets an error, not a gap.
    """
    results: list[dict[str, Any]] = [{"error": "the model returned no output for this row"}] * n_rows
    for record in frame.to_dict("records"):
        row = int(record["row"])
        if 0 <= row < n_rows:
            results[row] = format_row({str(k): v for k, v in record.items()})
    return results
