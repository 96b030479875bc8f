"""Micro-batching, output formatting (any task's frame) and the media safety checks, one by one."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from serving_helpers import png_bytes, png_claiming, wav_bytes, wav_claiming

from polyfuse.serving.batching import MicroBatcher, QueueFullError
from polyfuse.serving.limits import (
    RowValueError,
    check_audio,
    check_image,
    decode_base64,
    media_bytes,
    read_media_path,
)
from polyfuse.serving.outputs import format_frame, jsonable

# ------------------------------------------------------------------ batching


def test_concurrent_requests_share_batches_and_keep_their_order() -> None:
    calls: list[list[int]] = []
    release = threading.Event()

    def predict(rows: list[int]) -> list[int]:
        calls.append(list(rows))
        release.wait(2)  # the first call blocks while the others queue up
        return [10 * r for r in rows]

    async def main() -> list[list[int]]:
        batcher: MicroBatcher[int, int] = MicroBatcher(predict, max_batch=8, max_wait_s=0.01, max_queue=100)
        await batcher.start()
        first = asyncio.create_task(batcher.submit([0]))
        while not calls:  # the first batch is running (and blocked)
            await asyncio.sleep(0.005)
        others = [asyncio.create_task(batcher.submit([i, i + 100])) for i in range(1, 7)]
        await asyncio.sleep(0.05)
        release.set()
        results = await asyncio.gather(first, *others)
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert results == [[0]] + [[10 * i, 10 * (i + 100)] for i in range(1, 7)]
    assert [len(c) for c in calls] == [1, 8, 4]  # 12 queued rows: 8 (four requests), then 4


def test_full_queue_refuses_at_once_and_a_failing_batch_fails_only_its_requests() -> None:
    gate, entered = threading.Event(), threading.Event()

    def predict(rows: list[int]) -> list[int]:
        entered.set()
        gate.wait(2)
        if -1 in rows:
            raise ValueError("boom")
        return rows

    async def main() -> None:
        batcher: MicroBatcher[int, int] = MicroBatcher(predict, max_batch=2, max_wait_s=0.0, max_queue=3)
        await batcher.start()
        running = asyncio.create_task(batcher.submit([-1]))
        while not entered.is_set():  # wait until it runs
            await asyncio.sleep(0.005)
        queued = asyncio.create_task(batcher.submit([1, 2, 3]))
        while batcher.queued_rows < 3:
            await asyncio.sleep(0.005)
        with pytest.raises(QueueFullError):
            await batcher.submit([4])
        gate.set()
        with pytest.raises(ValueError, match="boom"):
            await running
        assert await queued == [1, 2, 3]  # bigger than max_batch: it runs alone
        assert batcher.queued_rows == 0
        await batcher.stop()

    asyncio.run(main())


def test_lone_request_waits_at_most_max_wait() -> None:
    async def main() -> float:
        batcher: MicroBatcher[int, int] = MicroBatcher(
            lambda r: r, max_batch=64, max_wait_s=0.05, max_queue=64
        )
        await batcher.start()
        started = time.perf_counter()
        await batcher.submit([1])
        elapsed = time.perf_counter() - started
        await batcher.stop()
        return elapsed

    assert 0.04 <= asyncio.run(main()) < 0.5


# ------------------------------------------------------------------ outputs


def test_any_tasks_frame_becomes_json() -> None:
    image = Image.new("RGB", (3, 2), (255, 0, 0))
    frame = pd.DataFrame(
        {
            "row": [1, 0, 2],
            "prediction": ["a generated sentence", "label", None],
            "ranked": [[{"id": 7, "score": np.float32(0.5)}], [], None],
            "image": [image, np.zeros((2, 2, 3), dtype=np.uint8), None],
            "proba_x": [0.25, float("nan"), None],
            "error": [None, None, "column 'photo': bad"],
        }
    )
    rows = format_frame(frame, 4)
    assert rows[1]["prediction"] == "a generated sentence"
    assert rows[1]["ranked"] == [{"id": 7, "score": 0.5}]
    assert rows[1]["probabilities"] == {"x": 0.25}
    png = base64.b64decode(rows[1]["image"]["base64"])
    assert rows[1]["image"]["media_type"] == "image/png"
    assert Image.open(io.BytesIO(png)).getpixel((0, 0)) == (255, 0, 0)
    assert rows[0]["probabilities"] == {"x": None}  # NaN is not JSON
    assert rows[2] == {"error": "column 'photo': bad"}
    assert rows[3] == {"error": "the model returned no output for this row"}


def test_jsonable_values() -> None:
    assert jsonable(np.int64(3)) == 3 and isinstance(jsonable(np.int64(3)), int)
    assert jsonable(np.bool_(True)) is True
    assert jsonable(float("inf")) is None
    assert jsonable(np.array([1.5, 2.5], dtype=np.float32)) == [1.5, 2.5]
    assert jsonable(b"\x00\x01") == {"media_type": "application/octet-stream", "base64": "AAE="}
    assert jsonable(png_bytes())["media_type"] == "image/png"


# ------------------------------------------------------------------ limits


def test_base64_and_data_urls() -> None:
    data = b"\x89PNG..."
    text = base64.b64encode(data).decode()
    assert decode_base64(text, 100) == data
    assert decode_base64(f"data:image/png;base64,{text}", 100) == data
    assert decode_base64(text[:4] + "\n" + text[4:], 100) == data
    with pytest.raises(RowValueError, match="not valid base64"):
        decode_base64("abc$", 100)
    with pytest.raises(RowValueError, match="limit of 4 bytes"):
        decode_base64(base64.b64encode(bytes(400)).decode(), 4)  # refused before decoding


def test_image_header_checks() -> None:
    check_image(png_bytes((64, 64)), 64 * 64)
    with pytest.raises(RowValueError, match="64 x 65 pixels"):
        check_image(png_bytes((64, 65)), 64 * 64)
    with pytest.raises(RowValueError, match="more than the limit of 1000000 pixels"):
        check_image(png_claiming(30_000, 30_000), 10**6)  # 900 M pixels claimed by 70 bytes
    with pytest.raises(RowValueError, match="not a readable image"):
        check_image(b"GIF89a-truncated", 10**6)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    with pytest.raises(RowValueError):
        check_image(eps, 10**6)  # never handed to Ghostscript


def test_audio_header_checks() -> None:
    check_audio(wav_bytes(0.25), 1.0)
    with pytest.raises(RowValueError, match=r"lasts 0\.8 s"):
        check_audio(wav_claiming(1000), 0.5)
    with pytest.raises(RowValueError, match="sample rate 1 Hz"):
        check_audio(wav_claiming(1), 1e9)
    crafted = bytearray(wav_bytes())
    crafted[22:24] = (60000).to_bytes(2, "little")  # 60,000 channels
    with pytest.raises(RowValueError, match="not readable audio"):
        check_audio(bytes(crafted), 10)


def test_media_paths(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(b"abc")
    (tmp_path / "outside").write_bytes(b"secret")
    (root / "out").symlink_to(tmp_path / "outside")
    (root / "in").symlink_to(root / "sub" / "a.png")
    os.mkfifo(root / "pipe")
    assert read_media_path("sub/a.png", root, 10) == b"abc"
    assert read_media_path("in", root, 10) == b"abc"  # a link that stays inside is fine
    for name, message in [
        ("../outside", "without '..'"),
        ("out", "outside the media root"),
        ("/etc/hostname", "without '..'"),
        ("pipe", "not a plain file"),
        ("sub", "not a plain file"),
        ("missing", "no readable file"),
    ]:
        with pytest.raises(RowValueError, match=message):
            read_media_path(name, root, 10)
    with pytest.raises(RowValueError, match="limit of 2 bytes"):
        read_media_path("sub/a.png", root, 2)
    with pytest.raises(RowValueError, match="reads no paths"):
        read_media_path("sub/a.png", None, 10)
    assert media_bytes({"path": "sub/a.png"}, root, 10) == b"abc"
    assert media_bytes({"base64": "YWJj"}, None, 10) == b"abc"
    assert media_bytes("  ", None, 10) is None
    with pytest.raises(RowValueError, match="expected base64"):
        media_bytes({"url": "http://x"}, None, 10)
