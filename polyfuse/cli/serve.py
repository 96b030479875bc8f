"""``polyfuse serve BUNDLE``: the HTTP server (FastAPI on uvicorn) and its page."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from polyfuse.cli._common import CliError, user_errors


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    p = sub.add_parser("serve", help="serve a bundle over HTTP (predict API, page, metrics)")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="processes, each with its own model copy")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: torch's)")
    p.add_argument("--max-batch", type=int, default=64, help="most rows per model call")
    p.add_argument("--max-wait-ms", type=float, default=2.0, help="longest wait to fill a batch")
    p.add_argument("--max-queue", type=int, default=1024, help="rows waiting before 503 answers")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a prediction (504)")
    p.add_argument("--read-timeout", type=float, default=10.0, help="seconds to receive a body (408)")
    p.add_argument("--max-request-mb", type=float, default=32.0, help="largest request body (413)")
    p.add_argument("--max-rows", type=int, default=256, help="most rows per request")
    p.add_argument("--max-media-mb", type=float, default=8.0, help="largest image or audio file")
    p.add_argument("--max-pixels", type=int, default=4096 * 4096, help="largest image, width x height")
    p.add_argument("--max-audio-seconds", type=float, default=60.0, help="longest audio clip")
    p.add_argument("--max-connections", type=int, default=None, help="open connections before 503")
    p.add_argument("--media-root", default=None, help="allow {'path': ...} media under this folder only")
    p.add_argument("--api-key-file", default=None, help="require the key in this file (X-API-Key)")
    p.add_argument("--cors-origin", action="append", default=[], help="allow this origin (repeatable)")
    p.add_argument("--no-warmup", action="store_true", help="ready at once, without a warm-up prediction")
    p.add_argument("--no-access-log", action="store_true", help="do not log every request")
    p.set_defaults(run=run)


def settings_values(args: argparse.Namespace) -> dict[str, Any]:
    """:class:`ServeSettings` fields from the command line (JSON-safe; the API key stays out)."""
    media_root = None
    if args.media_root is not None:
        root = Path(args.media_root)
        if not root.is_dir():
            raise CliError(f"--media-root {root} is not a directory")
        media_root = str(root.resolve())
    return {
        "max_batch": args.max_batch,
        "max_wait_ms": args.max_wait_ms,
        "max_queue": args.max_queue,
        "timeout_s": args.timeout,
        "read_timeout_s": args.read_timeout,
        "max_request_bytes": int(args.max_request_mb * 2**20),
        "max_rows": args.max_rows,
        "max_media_bytes": int(args.max_media_mb * 2**20),
        "max_pixels": args.max_pixels,
        "max_audio_seconds": args.max_audio_seconds,
        "media_root": media_root,
        "cors_origins": list(args.cors_origin),
        "warmup": not args.no_warmup,
        "torch_threads": args.threads,
        "bundle_dir": str(Path(args.bundle).resolve()),
    }


def run(args: argparse.Namespace) -> int:
    """Load the bundle (so a bad one fails here, with its message), then serve until stopped."""
    import uvicorn
    from pydantic import ValidationError

    from polyfuse.predictor import Predictor
    from polyfuse.serving.app import create_app
    from polyfuse.serving.settings import ServeSettings, read_api_key

    if args.workers < 1:
        raise CliError("--workers must be at least 1")
    values = settings_values(args)
    with user_errors():
        key = read_api_key(args.api_key_file) if args.api_key_file else None
        try:
            settings = ServeSettings(**values, api_key=key)
        except ValidationError as error:
            raise CliError(str(error)) from None
        predictor = Predictor.load(args.bundle)
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "access_log": not args.no_access_log,
        "limit_concurrency": args.max_connections,
        "log_level": "info",
    }
    if args.workers == 1:
        uvicorn.run(create_app(predictor, settings), **common)
        return 0
    del predictor  # each worker loads its own copy
    os.environ["POLYFUSE_SERVE_BUNDLE"] = str(Path(args.bundle).resolve())
    os.environ["POLYFUSE_SERVE_SETTINGS"] = json.dumps(values)
    if args.api_key_file:
        os.environ["POLYFUSE_SERVE_API_KEY_FILE"] = str(Path(args.api_key_file).resolve())
    with tempfile.TemporaryDirectory(prefix="polyfuse-metrics-") as metrics_dir:
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)  # /metrics sums the workers
        uvicorn.run("polyfuse.serving.app:create_app_from_env", factory=True, workers=args.workers, **common)
    return 0
