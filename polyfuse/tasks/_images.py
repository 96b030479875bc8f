"""Images out of tasks: PNG bytes of a ``(C, H, W)`` tensor in [0, 1], and grids of them.

Legend: N images, C channels (1 or 3), H/W height/width.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor


def to_pil(image: Tensor) -> Image.Image:
    """``(C, H, W)`` in [0, 1] -> an ``"L"`` (C = 1) or ``"RGB"`` (C = 3) Pillow image."""
    array = (image.detach().float().cpu().clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
    if array.shape[0] == 1:
        return Image.fromarray(array[0], mode="L")
    return Image.fromarray(array.transpose(1, 2, 0), mode="RGB")


def png_bytes(image: Tensor) -> bytes:
    """``(C, H, W)`` in [0, 1] -> the bytes of a PNG file."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def save_grid(images: Tensor, path: str | Path, columns: int | None = None, pad: int = 2) -> Path:
    """Write ``(N, C, H, W)`` images in [0, 1] as one PNG grid (``columns`` default: about sqrt(N))."""
    count, channels, height, width = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    mode = "L" if channels == 1 else "RGB"
    grid = Image.new(mode, (columns * (width + pad) + pad, rows * (height + pad) + pad), color=0)
    for i in range(count):
        r, c = divmod(i, columns)
        grid.paste(to_pil(images[i]), (pad + c * (width + pad), pad + r * (height + pad)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path
