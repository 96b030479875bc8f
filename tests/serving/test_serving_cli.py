"""``polyfuse serve`` as a user runs it: a real process on a loopback port, then stopped cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving_helpers import b64, png_bytes

from polyfuse.cli.main import main

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(bundle: Path, *options: str, timeout: float = 120) -> Iterator[str]:
    """``polyfuse serve BUNDLE OPTIONS`` until ``/ready``; yields its URL; SIGTERM at the end, after
    which the server must shut down gracefully."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "polyfuse.cli.main", "serve", str(bundle), "--port", str(port), *options]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"polyfuse serve exited with {process.returncode}:\n{process.stdout.read()}"
                )  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("polyfuse serve did not become ready")
            time.sleep(0.3)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        output = process.stdout.read()  # type: ignore[union-attr]
        # uvicorn shuts down gracefully, then re-raises the signal (exit code -15) or returns 0
        assert code in (0, -signal.SIGTERM) and "Application shutdown complete" in output, output


def test_serve_answers_with_a_key_and_media_root(trained: Any, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("  k3y\n")
    media = tmp_path / "media"
    media.mkdir()
    (media / "p.png").write_bytes(png_bytes())
    with serving(
        trained.bundle, "--api-key-file", str(key_file), "--media-root", str(media), "--threads", "1"
    ) as url:
        body = {"rows": [{"photo": {"path": "p.png"}, "weight": 1.5}, {"photo": b64(png_bytes())}]}
        assert httpx.post(f"{url}/predict", json=body).status_code == 401
        answers = httpx.post(f"{url}/predict", json=body, headers={"X-API-Key": "k3y"}).json()["rows"]
        assert answers[0]["prediction"] in {"alpha", "beta", "gamma"} and answers[0]["error"] is None
        meta = httpx.get(f"{url}/metadata", headers={"X-API-Key": "k3y"}).json()
        assert meta["limits"]["media_paths"] is True
        assert meta["model_card"] == (trained.bundle / "README.md").read_text()


@pytest.mark.slow
def test_two_workers_share_the_port_and_sum_their_metrics(trained: Any) -> None:
    with serving(trained.bundle, "--workers", "2", "--threads", "1", "--no-access-log", timeout=240) as url:
        with httpx.Client(base_url=url) as http:
            for _ in range(40):
                assert http.post("/predict", json={"rows": [{"weight": 1.0}]}).status_code == 200
            http.close()
        metrics = httpx.get(f"{url}/metrics").text
    line = next(
        x for x in metrics.splitlines() if x.startswith('polyfuse_requests_total{endpoint="/predict"')
    )
    assert float(line.rsplit(" ", 1)[1]) == 40.0  # the workers' counters, summed


def test_serve_refuses_a_bad_bundle_and_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "bundle not found" in capsys.readouterr().err
    assert main(["serve", str(tmp_path), "--media-root", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "empty-key").write_text("\n")
    assert main(["serve", str(tmp_path), "--api-key-file", str(tmp_path / "empty-key")]) == 2
    assert "is empty" in capsys.readouterr().err
