"""The HTTP app in process: answers equal the library's, errors are per row or 4xx, never 5xx."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from serving_helpers import (
    CLASSES,
    b64,
    json_row,
    make_client,
    png_bytes,
    png_claiming,
    wav_bytes,
    wav_claiming,
)

from polyfuse import Predictor


def _expected(predictor: Predictor, frame: pd.DataFrame, base_dir: Path) -> pd.DataFrame:
    return predictor.predict(frame.drop(columns="label"), proba=True, base_dir=base_dir)


def test_predict_equals_the_library(
    client: TestClient, loaded: Predictor, demo_rows: pd.DataFrame, trained: Any
) -> None:
    frame = demo_rows.head(8)
    rows = [json_row(r, trained.data_dir) for r in frame.to_dict("records")]
    response = client.post("/predict", json={"rows": rows})
    assert response.status_code == 200
    answers = response.json()["rows"]
    expected = _expected(loaded, frame, trained.data_dir)
    assert [a["prediction"] for a in answers] == expected["prediction"].tolist()
    got = np.array([[a["probabilities"][c] for c in CLASSES] for a in answers])
    want = expected[[f"proba_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert all(a["error"] is None for a in answers)


def test_bad_row_gets_its_error_and_the_others_are_answered(
    client: TestClient, demo_rows: pd.DataFrame, trained: Any
) -> None:
    rows = [json_row(r, trained.data_dir) for r in demo_rows.head(3).to_dict("records")]
    rows[1]["photo"] = "not base64 at all!"
    rows.append({**rows[0], "sound": b64(b"RIFF....WAVEjunk")})
    answers = client.post("/predict", json={"rows": rows}).json()["rows"]
    assert answers[1] == {"error": "column 'photo': not valid base64 (send the file's bytes base64-encoded)"}
    assert answers[3]["error"].startswith("column 'sound': not readable audio")
    assert [a["error"] for a in (answers[0], answers[2])] == [None, None]
    assert answers[0]["prediction"] in CLASSES


def test_absent_columns_are_masked_not_refused(client: TestClient, loaded: Predictor) -> None:
    answer = client.post("/predict", json={"rows": [{"description": "a calm item"}]}).json()["rows"][0]
    frame = pd.DataFrame(
        [{"description": "a calm item", "photo": None, "sound": None, "weight": None, "region": None}]
    )
    expected = loaded.predict(frame, proba=True)
    assert answer["prediction"] == expected["prediction"][0]
    assert answer["probabilities"]["beta"] == pytest.approx(float(expected["proba_beta"][0]), abs=1e-6)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"rows": []}', 422, "at least 1 item"),
        (b'{"rows": [{"weight": "heavy"}]}', 422, "valid number"),
        (b'{"rows": [{"weight": 1e999}]}', 422, "finite number"),
        (b'{"rows": [{"colour": "red"}]}', 422, "Extra inputs"),
        (b'{"rows": [{"description": 5}]}', 422, "valid string"),
        (b'{"rows": [{"photo": 7}]}', 422, "photo"),
        (b'{"data": []}', 422, "rows"),
    ],
)
def test_malformed_bodies_are_4xx_with_a_message(
    client: TestClient, body: bytes, status: int, message: str
) -> None:
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert message in response.text


def test_every_row_failing_is_a_422_with_each_error(client: TestClient) -> None:
    response = client.post("/predict", json={"rows": [{"photo": "@@"}, {"sound": b64(b"nope")}]})
    assert response.status_code == 422
    errors = [row["error"] for row in response.json()["rows"]]
    assert errors[0].startswith("column 'photo': not valid base64")
    assert errors[1].startswith("column 'sound': not readable audio")


def test_content_type_and_size_limits(loaded: Predictor) -> None:
    with make_client(loaded, max_request_bytes=4096, max_rows=2, max_queue=8, warmup=False) as small:
        assert (
            small.post("/predict", content=b"rows", headers={"content-type": "text/plain"}).status_code == 415
        )
        big = small.post("/predict", json={"rows": [{"description": "x" * 5000}]})
        assert big.status_code == 413 and "4096 bytes" in big.json()["detail"]
        three = small.post("/predict", json={"rows": [{"weight": 1}] * 3})
        assert three.status_code == 422 and "at most 2 items" in three.text


def test_media_limits_refuse_bombs_and_long_audio(loaded: Predictor) -> None:
    with make_client(
        loaded, max_pixels=64 * 64, max_audio_seconds=2.0, max_media_bytes=2000, warmup=False
    ) as c:
        rows = [
            {"photo": b64(png_claiming(50_000, 50_000))},
            {"photo": b64(png_bytes((65, 64)))},
            {"sound": b64(wav_claiming(1000))},  # 800 frames at 1 kHz: 0.8 s is fine
            {"sound": b64(wav_claiming(990))},  # 990 Hz: outside the accepted rates
            {"photo": b64(bytes(3000))},
            {"photo": b64(png_bytes())},
        ]
        answers = c.post("/predict", json={"rows": rows}).json()["rows"]
    assert "more than the limit of 4096 pixels" in answers[0]["error"]
    assert "65 x 64 pixels" in answers[1]["error"]
    assert answers[2]["error"] is None
    assert "sample rate 990 Hz" in answers[3]["error"]
    assert "larger than the limit of 2000 bytes" in answers[4]["error"]
    assert answers[5]["error"] is None


def test_long_audio_is_refused(loaded: Predictor) -> None:
    with make_client(loaded, max_audio_seconds=0.2, warmup=False) as c:
        answer = c.post("/predict", json={"rows": [{"sound": b64(wav_bytes(0.25))}, {}]}).json()["rows"][0]
    assert answer["error"] == "column 'sound': the clip lasts 0.2 s, more than the limit of 0.2 s"


def test_multipart_upload_equals_json(client: TestClient, demo_rows: pd.DataFrame, trained: Any) -> None:
    record = demo_rows.iloc[5].to_dict()
    files = {c: (record[c], (trained.data_dir / record[c]).read_bytes()) for c in ("photo", "sound")}
    data = {"description": record["description"], "weight": str(record["weight"]), "region": record["region"]}
    upload = client.post("/predict", files=files, data=data).json()["rows"][0]
    answer = client.post("/predict", json={"rows": [json_row(record, trained.data_dir)]}).json()["rows"][0]
    assert upload["prediction"] == answer["prediction"]
    assert upload["probabilities"] == pytest.approx(answer["probabilities"], abs=1e-6)
    wrong = client.post("/predict", files={"description": ("a.txt", b"text")})
    assert wrong.status_code == 422 and "expects a value, not a file" in wrong.text
    unknown = client.post("/predict", data={"colour": "red"}, files={"photo": ("p.png", png_bytes())})
    assert unknown.status_code == 422


def test_metadata_describes_the_bundle(client: TestClient, trained: Any) -> None:
    meta = client.get("/metadata").json()
    kinds = {c["name"]: c["kind"] for c in meta["columns"]}
    assert kinds == {
        "description": "text",
        "photo": "image",
        "sound": "audio",
        "weight": "numeric",
        "region": "categorical",
    }
    region = next(c for c in meta["columns"] if c["name"] == "region")
    assert region["choices"] == ["east", "north", "south", "west"]
    assert meta["task"] == "multiclass" and meta["labels"] == CLASSES
    assert meta["model_card"] == (trained.bundle / "README.md").read_text()
    assert set(meta["versions"]) == {"polyfuse", "torch", "python"}
    assert meta["limits"]["media_paths"] is False


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    before = _metric(client, 'polyfuse_requests_total{endpoint="/predict",status="200"}')
    batches = _metric(client, "polyfuse_batch_size_rows_count")
    rows = _metric(client, "polyfuse_batch_size_rows_sum")
    client.post("/predict", json={"rows": [{"weight": 1.0}, {"weight": 2.0}, {"weight": 3.0}]})
    assert _metric(client, 'polyfuse_requests_total{endpoint="/predict",status="200"}') == before + 1
    assert _metric(client, "polyfuse_batch_size_rows_count") == batches + 1
    assert _metric(client, "polyfuse_batch_size_rows_sum") == rows + 3
    assert _metric(client, 'polyfuse_request_latency_seconds_count{endpoint="/predict"}') >= 1


def _metric(client: TestClient, name: str) -> float:
    text = client.get("/metrics").text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_openapi_request_schema_is_the_bundles(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    row = spec["components"]["schemas"]["Row"]
    assert set(row["properties"]) == {"description", "photo", "sound", "weight", "region"}
    assert row["additionalProperties"] is False
    weight = row["properties"]["weight"]["anyOf"]
    assert {"type": "number"} in weight and {"type": "null"} in weight
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["properties"]["photo"]["format"] == "binary"
    example = client.post("/predict", json=body["application/json"]["example"])  # "Try it out" works
    assert example.status_code == 200 and example.json()["rows"][0]["prediction"] in CLASSES
    docs = client.get("/docs").text
    assert "swagger-ui-bundle.js" in docs and "cdn." not in docs  # Swagger UI served locally


def test_page_is_served_without_external_urls(client: TestClient) -> None:
    page = client.get("/").text
    assert 'src="page/app.js"' in page
    for name in ("index.html", "app.js", "style.css"):
        text = client.get(f"/page/{name}").text
        assert not re.search(r"https?://", text), name


def test_api_key_and_cors(loaded: Predictor) -> None:
    with make_client(loaded, api_key="s3cret", warmup=False) as c:
        assert c.post("/predict", json={"rows": [{}]}).status_code == 401
        assert c.get("/metadata").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/predict", json={"rows": [{}]}, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert c.get("/metadata", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/health").status_code == 200  # probes need no key
        assert (
            "access-control-allow-origin"
            not in c.get("/health", headers={"Origin": "https://a.example"}).headers
        )
    with make_client(loaded, cors_origins=("https://a.example",), warmup=False) as c:
        allowed = c.get("/health", headers={"Origin": "https://a.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://a.example"
        assert (
            "access-control-allow-origin"
            not in c.get("/health", headers={"Origin": "https://b.example"}).headers
        )


def test_paths_are_read_only_under_the_media_root(loaded: Predictor, trained: Any, tmp_path: Path) -> None:
    root = tmp_path / "media"
    root.mkdir()
    (root / "p.png").write_bytes((trained.data_dir / "images/00001.png").read_bytes())
    (tmp_path / "secret.png").write_bytes(png_bytes())
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    (root / "folder.png").mkdir()
    rows = [
        {"photo": {"path": p}}
        for p in ("p.png", "../secret.png", "link.png", "/etc/passwd", "folder.png", "none.png")
    ]
    with make_client(loaded, warmup=False) as c:
        refused = c.post("/predict", json={"rows": [{"photo": {"path": "p.png"}}]})
        assert refused.status_code == 422  # without --media-root, {'path': ...} is not in the schema
    with make_client(loaded, media_root=root, warmup=False) as c:
        answers = c.post("/predict", json={"rows": rows}).json()["rows"]
        by_bytes = c.post("/predict", json={"rows": [{"photo": b64((root / "p.png").read_bytes())}]}).json()
    assert answers[0]["probabilities"] == pytest.approx(by_bytes["rows"][0]["probabilities"], abs=1e-6)
    assert "without '..'" in answers[1]["error"]
    assert "outside the media root" in answers[2]["error"]
    assert "without '..'" in answers[3]["error"]
    assert "not a plain file" in answers[4]["error"]
    assert "no readable file" in answers[5]["error"]


def test_queue_full_is_503_and_timeout_is_504(loaded: Predictor) -> None:
    import threading
    import time

    gate = threading.Event()
    with make_client(loaded, max_queue=2, max_rows=2, timeout_s=0.5, warmup=False) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        slow = service.predict_batch

        def blocked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            gate.wait(5)
            return slow(rows)

        service.batcher.predict_batch = blocked
        first = threading.Thread(target=lambda: c.post("/predict", json={"rows": [{}]}))
        first.start()  # runs, blocked
        time.sleep(0.3)
        timed_out = c.post("/predict", json={"rows": [{}, {}]})  # queued behind it, times out
        assert timed_out.status_code == 504 and "0.5 s" in timed_out.json()["detail"]
        assert service.batcher.queued_rows == 0  # given up: its rows no longer hold the queue
        second = threading.Thread(target=lambda: c.post("/predict", json={"rows": [{}, {}]}))
        second.start()
        time.sleep(0.1)
        busy = c.post("/predict", json={"rows": [{}]})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        gate.set()
        first.join()
        second.join()
        assert c.get("/health").status_code == 200


def test_a_row_the_model_raises_on_fails_alone(loaded: Predictor) -> None:
    class Fragile:
        """The predictor, except that it raises on any frame with the text 'boom'."""

        def __init__(self, inner: Predictor) -> None:
            self.inner = inner
            self.fitted = inner.fitted

        def predict(self, frame: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
            if (frame["description"] == "boom").any():
                raise RuntimeError("boom")
            return self.inner.predict(frame, **kwargs)

    with make_client(loaded, warmup=False) as c:
        c.app.state.service.predictor = Fragile(loaded)  # type: ignore[attr-defined]
        mixed = c.post("/predict", json={"rows": [{"description": "calm"}, {"description": "boom"}]})
        assert mixed.status_code == 200
        answers = mixed.json()["rows"]
        assert answers[0]["prediction"] in CLASSES
        assert answers[1] == {"error": "internal error: the model raised RuntimeError"}
        alone = c.post("/predict", json={"rows": [{"description": "boom"}]})
        assert alone.status_code == 500 and alone.json()["detail"] == "the model failed on every row"
        assert c.get("/health").status_code == 200
