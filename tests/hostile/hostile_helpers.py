"""Helpers of the hostile-input suite: crafted media headers and re-checksummed bundle edits."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

Trained = Any  # tests/conftest.Trained: predictor, bundle, data_dir, train_table
N_ROWS = 60  # rows of the demo table built by tests/conftest.py


def wav_bytes(rate: int, frames: int, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV whose header claims ``rate`` Hz (any value, hostile ones included)."""
    data = (np.sin(np.arange(frames * channels) / 7.0) * 8000).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * channels * 2) & 0xFFFFFFFF, channels * 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` RGB pixels but holds no pixel data at all."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def rehash(bundle: Path, name: str) -> None:
    """Update manifest.json after editing ``name``, as a deliberate editor would."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


def edit_json(bundle: Path, name: str, change: Any) -> None:
    """Apply ``change(value)`` to the JSON file ``name`` and re-checksum it."""
    path = bundle / name
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))
    rehash(bundle, name)
