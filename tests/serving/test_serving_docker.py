"""The CPU Dockerfile: what it installs is enough to serve (checked here without Docker), and the image
builds and serves a bundle (where a Docker daemon is reachable; skipped with the reason otherwise)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml")
REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
MODULES = {
    "pyyaml": "yaml",
    "pillow": "PIL",
    "python-multipart": "multipart",
    "prometheus-client": "prometheus_client",
}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!\[; ]", requirement.strip().strip('"'), maxsplit=1)[0].lower()


def _installed_by_dockerfile() -> set[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    names = set()
    for line in text.splitlines():
        if line.startswith("RUN pip install") and "--no-deps" not in line:
            names |= {_name(r) for r in re.findall(r'"([^"]+)"', line)}
    return names


def test_dockerfile_installs_what_serving_imports(trained: Any) -> None:
    core = {_name(r) for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    installed = _installed_by_dockerfile()
    left_out = sorted(core - installed)
    assert "torch" in installed and {"fastapi", "uvicorn", "prometheus-client"} <= installed
    assert {"tensorboard", "matplotlib"} <= set(left_out)  # training and report tools stay out
    blocked = [MODULES.get(n, n.replace("-", "_")) for n in left_out]
    script = textwrap.dedent(f"""
        import sys
        BLOCKED = {blocked!r}
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is not installed in the serving image")
        sys.meta_path.insert(0, Block())
        from fastapi.testclient import TestClient
        from polyfuse import Predictor
        from polyfuse.serving import ServeSettings, create_app
        app = create_app(Predictor.load({str(trained.bundle)!r}), ServeSettings())
        with TestClient(app) as client:
            answer = client.post("/predict", json={{"rows": [{{"description": "calm", "weight": 1.0}}]}})
            assert answer.status_code == 200 and answer.json()["rows"][0]["error"] is None, answer.text
            for path in ("/metadata", "/metrics", "/docs", "/"):
                assert client.get(path).status_code == 200, path
        print("served without", BLOCKED)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "served without" in done.stdout


def _docker_reason() -> str | None:
    if shutil.which("docker") is None:
        return "docker is not installed"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return f"no Docker daemon is reachable ({info.stderr.strip().splitlines()[-1][:200]})"
    return None


@pytest.mark.slow
def test_image_builds_and_serves(trained: Any) -> None:
    reason = _docker_reason()
    if reason:
        pytest.skip(f"{reason}: the image is not built here")
    tag = "polyfuse-serve:test"
    subprocess.run(["docker", "build", "-t", tag, str(REPO)], check=True, timeout=3600)
    run = ["docker", "run", "-d", "--rm", "-p", "127.0.0.1::8000", "-v", f"{trained.bundle}:/model:ro", tag]
    container = subprocess.run(run, capture_output=True, text=True, check=True).stdout.strip()
    try:
        port = subprocess.run(
            ["docker", "port", container, "8000"], capture_output=True, text=True, check=True
        )
        url = "http://" + port.stdout.strip().splitlines()[0]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        answer = httpx.post(f"{url}/predict", json={"rows": [{"description": "calm"}]}).json()
        assert answer["rows"][0]["prediction"] in {"alpha", "beta", "gamma"}
    finally:
        subprocess.run(["docker", "stop", container], capture_output=True, timeout=60)
