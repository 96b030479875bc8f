"""Serving test helpers: request rows, small media (and crafted headers), in-process and live
servers. (Not in conftest.py: a test module importing from ``conftest`` would get another test
package's conftest when the whole suite runs.)"""

from __future__ import annotations

import base64
import io
import socket
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from polyfuse import Predictor
from polyfuse.serving import ServeSettings, create_app

MEDIA_COLUMNS = ("photo", "sound")
CLASSES = ["alpha", "beta", "gamma"]


def b64(data: bytes) -> str:
    """Base64 text of ``data``."""
    return base64.b64encode(data).decode("ascii")


def json_row(record: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    """A demo-table record as a request row: media files as base64, absent media as None."""
    row = {k: v for k, v in record.items() if k != "label"}
    for column in MEDIA_COLUMNS:
        row[column] = b64((data_dir / row[column]).read_bytes()) if row[column] else None
    return row


def png_bytes(size: tuple[int, int] = (16, 16), colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small RGB PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` pixels (a decompression bomb's header)."""
    data = bytearray(png_bytes((1, 1)))
    struct.pack_into(">II", data, 16, width, height)  # IHDR data starts at byte 16
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))  # the IHDR chunk's CRC
    return bytes(data)


def wav_bytes(seconds: float = 0.25, rate: int = 8000) -> bytes:
    """A short 440 Hz WAV."""
    buffer = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(buffer, wave, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def wav_claiming(rate: int) -> bytes:
    """A valid 800-frame WAV whose header states ``rate`` Hz (so its frames last longer, or shorter)."""
    data = bytearray(wav_bytes(0.1))
    struct.pack_into("<I", data, 24, rate)  # fmt chunk: sample rate
    return bytes(data)


def make_client(predictor: Predictor, **settings: Any) -> TestClient:
    """A client of an app with these settings (use it as a context manager)."""
    return TestClient(create_app(predictor, ServeSettings(**settings)))


class LiveServer:
    """The app on a real loopback port, in a thread (for the browser and load tests)."""

    def __init__(self, app: FastAPI) -> None:
        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
