"""Load test of ``polyfuse serve`` on loopback: throughput, latency, memory, malformed requests.

Trains a small text + image + number classifier, starts ``polyfuse serve`` on 127.0.0.1 (never
another address), then sends single-row requests from closed-loop asyncio clients at each
concurrency, each level bounded in requests and in seconds. Prints requests/s, p50/p99 latency,
errors and the server's CPU time per request (user + system: what a request costs, whatever else
shares the cores); the server's RSS before and after ``--memory-requests`` more requests; and, with
``--malformed N``, N malformed requests (every answer must be a 4xx, the server healthy after).

Two clients: ``httpx`` (one AsyncClient per concurrent connection) and ``raw`` (a minimal HTTP/1.1
keep-alive client on asyncio streams, so the figures measure the server more than the client,
which shares the same cores).

    python benchmarks/serve_load.py --requests 20000 --seconds 30 --memory-requests 100000 --malformed 10000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]


def train_bundle(out: Path, drop: tuple[str, ...] = ("sound", "region")) -> Path:
    """A classifier trained in seconds on the demo table; by default text + image + number (the
    audio and category columns dropped)."""
    from polyfuse import Predictor
    from polyfuse.bench.synthetic import make_demo_table

    frame = make_demo_table(out / "data", n_rows=300, image_size=32, empty=0.0)
    frame.drop(columns=list(drop)).to_csv(out / "data" / "train.csv", index=False)
    config = {
        "data": {
            "label": "label",
            "processors": {
                "image": {"size": 32},
                "text": {"vocab_size": 200},
                "audio": {"sample_rate": 8000},
            },
        },
        "model": {
            "encoders": {
                "text": {"type": "bag", "embed_dim": 32},
                "image": {"type": "cnn", "widths": [8, 16]},
                "tabular": {"hidden_dims": [16]},
                "audio": {"type": "cnn", "widths": [8, 16]},
            }
        },
        "training": {
            "epochs": 3,
            "batch_size": 32,
            "progress": False,
            "tensorboard": False,
            "output_dir": str(out / "run"),
        },
    }
    predictor = Predictor(config=config).fit(out / "data" / "train.csv")
    return predictor.save(out / "bundle")


def request_body(data_dir: Path) -> bytes:
    """One single-row JSON request: a sentence, a 32 px PNG (base64) and a number."""
    image = base64.b64encode((data_dir / "images" / "00000.png").read_bytes()).decode()
    row = {"description": "a calm item that looks rather bright", "photo": image, "weight": 1.25}
    return json.dumps({"rows": [row]}).encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def start_server(bundle: Path, port: int, options: list[str]) -> subprocess.Popen[bytes]:
    """``polyfuse serve`` on loopback; returns once ``/ready`` answers 200."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [
        sys.executable,
        "-m",
        "polyfuse.cli.main",
        "serve",
        str(bundle),
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    process = subprocess.Popen([*command, "--no-access-log", *options], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/ready", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not become ready")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (workers), MB."""
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (workers), seconds."""
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    ticks = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ clients
Sender = Callable[[], Awaitable[int]]


async def raw_connection(port: int, body: bytes) -> tuple[Sender, Callable[[], None]]:
    """A keep-alive HTTP/1.1 connection posting ``body`` to /predict; returns (send, close)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    head = f"POST /predict HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
    request = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def send() -> int:
        writer.write(request)
        header = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(x.split(b":")[1]) for x in header.split(b"\r\n") if x.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        return int(header[9:12])

    return send, writer.close


async def httpx_connection(port: int, body: bytes) -> tuple[Sender, Callable[[], None]]:
    client = httpx.AsyncClient(base_url=f"http://{HOST}:{port}", limits=httpx.Limits(max_connections=1))
    headers = {"content-type": "application/json"}

    async def send() -> int:
        return (await client.post("/predict", content=body, headers=headers)).status_code

    return send, lambda: None


async def load(
    port: int, body: bytes, client: str, concurrency: int, requests: int, seconds: float
) -> dict[str, Any]:
    """Closed-loop load: ``concurrency`` connections, up to ``requests`` in all or ``seconds``."""
    connect = raw_connection if client == "raw" else httpx_connection
    senders = [await connect(port, body) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    remaining = requests
    deadline = time.perf_counter() + seconds

    async def worker(send: Sender) -> None:
        nonlocal remaining, errors
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            started = time.perf_counter()
            status = await send()
            latencies.append(time.perf_counter() - started)
            errors += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(worker(send) for send, _ in senders))
    elapsed = time.perf_counter() - started
    for _, close in senders:
        close()
    ms = np.array(latencies) * 1000
    return {
        "client": client,
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "seconds": elapsed,
    }


# ------------------------------------------------------------------ malformed
def _silence_wav() -> bytes:
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(800, dtype=np.float32), 8000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


HUGE = b'{"rows": [{"description": "' + b"x" * (32 * 2**20) + b'"}]}'
"""Just over the default 32 MB body limit."""


def malformed_request(rng: random.Random, png: bytes, wav: bytes) -> tuple[str, dict[str, Any]]:
    """One malformed request: its kind and its httpx keyword arguments."""
    crafted = bytearray(wav)
    crafted[24:28] = rng.choice([1, 7, 999, 10**9]).to_bytes(4, "little")  # the header's sample rate
    bomb = bytearray(png)
    bomb[16:24] = (60_000).to_bytes(4, "big") * 2  # IHDR claims 60,000 x 60,000 (its CRC is then wrong too)

    def b64(data: bytes | bytearray) -> str:
        return base64.b64encode(bytes(data)).decode()

    json_type = {"content-type": "application/json"}
    part = (
        b'--b\r\nContent-Disposition: form-data; name="photo"; filename="p.png"\r\n\r\n'
        + png[: rng.randint(0, 60)]
    )
    kinds: dict[str, dict[str, Any]] = {
        "bad base64": {"json": {"rows": [{"photo": "%%%" + "A" * rng.randint(0, 50)}]}},
        "wrong type": {
            "json": {"rows": [{rng.choice(["weight", "description", "photo"]): [1, {"a": None}]}]}
        },
        "not json": {
            "content": bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))),
            "headers": json_type,
        },
        "huge body": {"content": HUGE, "headers": json_type},
        "truncated multipart": {
            "content": part,
            "headers": {"content-type": "multipart/form-data; boundary=b"},
        },
        "bomb image": {"json": {"rows": [{"photo": b64(bomb)}]}},
        # cut inside the pixel data (a cut in the last ~21 bytes, CRC and IEND, leaves a decodable image)
        "truncated image": {"json": {"rows": [{"photo": b64(png[: rng.randint(0, len(png) - 32)])}]}},
        "crafted wav": {"json": {"rows": [{"sound": b64(crafted)}]}},
        "too many rows": {"json": {"rows": [{}] * 300}},
        "unknown column": {"json": {"rows": [{"colour": "red"}]}},
        "wrong content type": {"content": b"rows", "headers": {"content-type": "application/xml"}},
    }
    kind = rng.choice(sorted(kinds))
    return kind, kinds[kind]


def run_malformed(port: int, count: int, png: bytes) -> dict[str, Any]:
    """``count`` malformed requests; their status codes by kind, and whether /health answers after."""
    rng = random.Random(0)
    wav = _silence_wav()
    statuses: dict[str, dict[int, int]] = {}
    started = time.perf_counter()
    with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=60) as http:
        for _ in range(count):
            kind, request = malformed_request(rng, png, wav)
            status = http.post("/predict", **request).status_code
            statuses.setdefault(kind, {})
            statuses[kind][status] = statuses[kind].get(status, 0) + 1
        healthy = http.get("/health").status_code == 200
    return {"statuses": statuses, "healthy": healthy, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000, help="most requests per level")
    parser.add_argument("--seconds", type=float, default=30.0, help="most seconds per level")
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--clients", default="raw,httpx")
    parser.add_argument(
        "--memory-requests", type=int, default=100_000, help="requests between the RSS readings"
    )
    parser.add_argument("--malformed", type=int, default=0, help="malformed requests to send (0: none)")
    parser.add_argument("--serve-options", default="--threads 1", help="extra `polyfuse serve` options")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        bundle = train_bundle(Path(tmp))
        body = request_body(Path(tmp) / "data")
        port = free_port()
        server = start_server(bundle, port, args.serve_options.split())
        try:
            load_average = os.getloadavg()
            print(f"load average before: {load_average}, {os.cpu_count()} CPUs, {args.serve_options}")
            rows = []
            for client in args.clients.split(","):
                for concurrency in map(int, args.concurrency.split(",")):
                    asyncio.run(load(port, body, client, concurrency, min(200, args.requests), 5))  # warm
                    cpu = cpu_seconds(server.pid)
                    result = asyncio.run(load(port, body, client, concurrency, args.requests, args.seconds))
                    result["server_cpu_ms"] = (
                        1000 * (cpu_seconds(server.pid) - cpu) / max(1, result["requests"])
                    )
                    rows.append(result)
                    print(json.dumps(result), flush=True)
            print(
                "\n| client | concurrency | requests | req/s | p50 ms | p99 ms | errors | server CPU ms/req |"
            )
            print("|---|---|---|---|---|---|---|---|")
            for r in rows:
                print(
                    f"| {r['client']} | {r['concurrency']} | {r['requests']} | {r['rps']:.0f} | "
                    f"{r['p50']:.1f} | {r['p99']:.1f} | {r['errors']} | {r['server_cpu_ms']:.2f} |"
                )
            if args.memory_requests:
                before = rss_mb(server.pid)
                result = asyncio.run(load(port, body, "raw", 64, args.memory_requests, 3600))
                after = rss_mb(server.pid)
                print(
                    f"\nRSS {before:.1f} MB -> {after:.1f} MB after {result['requests']} more requests "
                    f"({result['rps']:.0f} req/s, p99 {result['p99']:.1f} ms, {result['errors']} errors)"
                )
            print(f"load average after: {os.getloadavg()}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        if args.malformed:  # against a model reading every modality (so crafted WAVs reach a check)
            full = train_bundle(Path(tmp) / "full", drop=())
            port = free_port()
            server = start_server(full, port, args.serve_options.split())
            try:
                before = rss_mb(server.pid)
                png = (Path(tmp) / "data" / "images" / "00001.png").read_bytes()
                print(f"\nmalformed: {json.dumps(run_malformed(port, args.malformed, png))}")
                print(f"RSS {before:.1f} MB -> {rss_mb(server.pid):.1f} MB over the malformed requests")
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)


if __name__ == "__main__":
    main()
