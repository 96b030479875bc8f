"""Fuzzing the live server: schemathesis against the generated OpenAPI schema (valid and invalid
data), then a bounded run of hand-made malformed requests. No answer may be a 5xx, every 4xx carries a
message, and the server answers /health and predicts afterwards.

Bounded for the suite (seconds): 40 generated cases per mode for /predict, 5 per other operation,
300 malformed requests; ``benchmarks/serve_load.py --malformed 10000`` runs the long version.
"""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from serving_helpers import LiveServer, png_bytes, png_claiming, wav_bytes, wav_claiming

from polyfuse import Predictor
from polyfuse.serving import ServeSettings, create_app

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402

LIMITS = {"max_request_bytes": 256 * 1024, "max_media_bytes": 64 * 1024, "max_pixels": 256 * 256}


@pytest.fixture(scope="module")
def live(loaded: Predictor) -> Iterator[LiveServer]:
    """The app on a loopback port, with small limits so that huge bodies are cheap to send."""
    with LiveServer(create_app(loaded, ServeSettings(**LIMITS))) as server:
        yield server


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_generated_requests_never_get_a_5xx(live: LiveServer, mode: str) -> None:
    """Every operation of the published schema, with data that fits it (positive) or breaks it."""
    spec = httpx.get(f"{live.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    generation = schemathesis.GenerationMode(mode)
    statuses: dict[str, list[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode == "negative" and operation.path != "/predict":
            continue  # nothing to break: the other operations take no input
        examples = 40 if operation.path == "/predict" else 5

        @given(case=operation.as_strategy(generation_mode=generation))
        @settings(
            max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def call(case: Any) -> None:
            label = f"{case.operation.method.upper()} {case.operation.path}"
            response = case.call(base_url=live.url, timeout=30)
            statuses.setdefault(label, []).append(response.status_code)
            if case.media_type == "application/json":
                statuses.setdefault("json", []).append(response.status_code)
            assert response.status_code < 500, (label, response.status_code, response.text[:500])
            if response.status_code >= 400:
                assert response.json()["detail"], response.text[:500]

        call()
    assert "POST /predict" in statuses and len(statuses["POST /predict"]) >= 20
    if mode == "negative":  # JSON that breaks the schema is refused (multipart sends every value as text)
        assert statuses["json"] and all(400 <= code < 500 for code in statuses["json"]), statuses["json"]
    assert httpx.get(f"{live.url}/health").json() == {"status": "ok"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _gif_bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("P", (1, 1)).save(buffer, format="GIF")
    data = bytearray(buffer.getvalue())
    data[6:10] = (65535).to_bytes(2, "little") * 2  # logical screen 65535 x 65535
    data[-8:-4] = (65535).to_bytes(2, "little") * 2  # and the frame
    return bytes(data)


def _malformed(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """One malformed request as ``(kind, httpx.request keyword arguments)``."""
    json_type = {"content-type": "application/json"}
    boundary = "polyfuseboundary"
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="p.png"\r\n\r\n'.encode()
    kinds: dict[str, dict[str, Any]] = {
        "bad base64": {"json": {"rows": [{"photo": "%%%" + "A" * rng.randint(0, 50)}]}},
        "wrong type": {
            "json": {"rows": [{rng.choice(["weight", "description", "photo"]): [1, {"a": None}]}]}
        },
        "not json": {
            "content": bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))),
            "headers": json_type,
        },
        "huge body": {
            "content": b'{"rows": [{"description": "' + b"x" * 300_000 + b'"}]}',
            "headers": json_type,
        },
        "truncated multipart": {
            "content": part + png_bytes()[: rng.randint(0, 60)],
            "headers": {"content-type": f"multipart/form-data; boundary={boundary}"},
        },
        "bomb image": {
            "json": {"rows": [{"photo": _b64(rng.choice([png_claiming(60_000, 60_000), _gif_bomb()]))}]}
        },
        "crafted wav": {"json": {"rows": [{"sound": _b64(wav_claiming(rng.choice([1, 7, 999, 10**9])))}]}},
        "truncated wav": {"json": {"rows": [{"sound": _b64(wav_bytes()[: rng.randint(0, 43)])}]}},
        "big media": {"json": {"rows": [{"photo": _b64(bytes(70_000))}]}},
        "too many rows": {"json": {"rows": [{}] * 300}},
        "unknown column": {"json": {"rows": [{"colour": "red"}]}},
        "wrong content type": {"content": b"rows", "headers": {"content-type": "application/xml"}},
    }
    kind = rng.choice(sorted(kinds))
    return kind, kinds[kind]


def test_malformed_requests_are_4xx_with_a_message_and_the_server_survives(live: LiveServer) -> None:
    rng = random.Random(0)
    seen: dict[str, set[int]] = {}
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for _ in range(300):
            kind, request = _malformed(rng)
            response = http.post("/predict", **request)
            seen.setdefault(kind, set()).add(response.status_code)
            assert 400 <= response.status_code < 500, (kind, response.status_code, response.text[:300])
            assert response.json()["detail"], kind
        assert http.get("/health").json() == {"status": "ok"}
        ok = http.post("/predict", json={"rows": [{"description": "calm", "photo": _b64(png_bytes())}]})
        assert ok.status_code == 200 and ok.json()["rows"][0]["prediction"] in {"alpha", "beta", "gamma"}
    assert len(seen) == 12  # every kind was sent
    assert seen["huge body"] == {413} and seen["too many rows"] == {422} and seen["not json"] <= {400, 422}
    assert seen["wrong content type"] == {415}


def test_a_body_that_stops_arriving_is_a_408(loaded: Predictor) -> None:
    import socket

    with LiveServer(create_app(loaded, ServeSettings(read_timeout_s=0.5, warmup=False))) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            head += b"Content-Length: 100\r\n\r\n"
            sock.sendall(head + b'{"rows": [')  # then nothing more
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert b"did not arrive within 0.5 s" in reply
        assert httpx.get(f"{server.url}/health").status_code == 200
