"""The HTTP app: ``create_app(predictor, settings)`` -> FastAPI.

Routes: ``POST /predict`` (JSON rows or one multipart row), ``GET /health``, ``/ready``,
``/metadata``, ``/metrics`` (Prometheus), ``/`` (the page to try the model), ``/docs`` (Swagger UI
served from the ``swagger-ui-py`` package when installed, so it works offline too) and
``/openapi.json``, whose request schema is generated from the bundle's inputs.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polyfuse import Predictor, __version__
from polyfuse.serving.batching import QueueFullError
from polyfuse.serving.inputs import example_row, metadata, multipart_schema
from polyfuse.serving.metrics import ServerMetrics
from polyfuse.serving.outputs import jsonable
from polyfuse.serving.parsing import content_kind, parse_json, parse_multipart, read_body
from polyfuse.serving.service import INTERNAL_ERROR, PredictionService
from polyfuse.serving.settings import ServeSettings, read_api_key

PAGE_DIR = Path(__file__).parent / "page"
ENDPOINTS = frozenset(
    {"/", "/predict", "/health", "/ready", "/metadata", "/metrics", "/docs", "/openapi.json"}
)
OFFLOAD_BYTES = 256 * 1024
"""Bodies larger than this are checked (base64, image headers) off the event loop."""


class RowResult(BaseModel):
    """One row's answer; a task may add outputs of its own beside ``prediction``."""

    model_config = ConfigDict(extra="allow")
    prediction: Any = Field(
        None, description="the task's output: a label, a number, text, a ranked list or {media_type, base64}"
    )
    probabilities: dict[str, float | None] | None = Field(None, description="per class (classification)")
    error: str | None = Field(None, description="why this row has no prediction (the others still do)")


class PredictResponse(BaseModel):
    """Answers in the order of the request's rows."""

    rows: list[RowResult]


class MetricsMiddleware:
    """Counts every HTTP request by endpoint and status and times it (pure ASGI: no body copy)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in ENDPOINTS else ("/page" if path.startswith("/page/") else "other")
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(perf_counter() - started)


def _key_of(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    bearer = request.headers.get("authorization", "")
    if key is None and bearer.lower().startswith("bearer "):
        key = bearer[7:].strip()
    return key


def create_app(predictor: Predictor, settings: ServeSettings | None = None) -> FastAPI:
    """A FastAPI app serving ``predictor`` (see the module docstring for the routes).

    Args:
        predictor: a trained or loaded predictor.
        settings: batching, limits and safety; the defaults are safe to expose.
    """
    settings = settings or ServeSettings()
    metrics = ServerMetrics()
    service = PredictionService(predictor, settings, metrics)
    info = jsonable(metadata(predictor, service.columns, settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.torch_threads:  # the predictor applies its config's count on each call
            training = predictor.config.training.model_copy(update={"threads": settings.torch_threads})
            predictor.config = predictor.config.model_copy(update={"training": training})
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    schema = predictor.fitted.schema
    app = FastAPI(
        title=f"polyfuse model: {schema.task}" + (f" on {schema.label}" if schema.label else ""),
        version=__version__,
        description="Predictions of a polyfuse bundle. Try it at `/`; its model card is in `/metadata`.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service

    def authorize(request: Request) -> None:
        if settings.api_key is None:
            return
        given = _key_of(request)
        if given is None or not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            raise HTTPException(
                401,
                "a valid API key is required (header X-API-Key, or Authorization: Bearer KEY)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.get("/health", summary="the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="the model is loaded, warmed up and batching")
    async def ready() -> JSONResponse:
        if service.ready and service.batcher.running:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready"}, status_code=503)

    @app.get("/metadata", summary="inputs, task, labels, versions, limits and the model card")
    async def get_metadata(request: Request) -> JSONResponse:
        authorize(request)
        return JSONResponse(info)

    @app.get("/metrics", summary="Prometheus metrics")
    async def get_metrics(request: Request) -> Response:
        authorize(request)
        metrics.queue_rows.set(service.batcher.queued_rows)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/predict",
        summary="predict rows (JSON) or one row (multipart upload)",
        response_model=PredictResponse,
        responses={
            400: {"description": "the body is not valid JSON or multipart"},
            401: {"description": "API key missing or wrong"},
            408: {"description": "the body did not arrive in time"},
            413: {"description": "the body is over the size limit"},
            415: {"description": "neither JSON nor multipart"},
            422: {"description": "the body does not match the request schema, or no row could be used"},
            503: {"description": "not ready, or the queue is full (retry later)"},
            504: {"description": "no prediction within the timeout"},
        },
    )
    async def predict(request: Request) -> JSONResponse:
        authorize(request)
        kind = content_kind(request)
        if not service.ready:
            raise HTTPException(503, "the model is warming up", headers={"Retry-After": "1"})
        body = await read_body(request, settings.max_request_bytes, settings.read_timeout_s)
        if kind == "json":
            rows = parse_json(body, service.request_model)
        else:
            rows = await parse_multipart(
                request, body, service.kinds, service.row_model, settings.max_media_bytes
            )
        try:
            answers = await asyncio.wait_for(
                service.predict(rows, offload=len(body) > OFFLOAD_BYTES), settings.timeout_s
            )
        except QueueFullError:
            metrics.rejected.labels("queue_full").inc()
            raise HTTPException(
                503, "the server is busy: retry shortly", headers={"Retry-After": "1"}
            ) from None
        except asyncio.TimeoutError:  # the builtin TimeoutError from Python 3.11 on
            metrics.rejected.labels("timeout").inc()
            raise HTTPException(504, f"no prediction within {settings.timeout_s:g} s") from None
        failed = [a["error"] for a in answers if a.get("error")]
        if len(failed) < len(answers):
            return JSONResponse({"rows": answers})
        internal = any(error.startswith(INTERNAL_ERROR) for error in failed)
        detail = "the model failed on every row" if internal else "no row could be predicted"
        return JSONResponse({"detail": detail, "rows": answers}, status_code=500 if internal else 422)

    _add_page(app)
    _add_openapi(app, service)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
        )
    return app


def _add_page(app: FastAPI) -> None:
    """``/`` and its assets, and ``/docs`` from local Swagger UI files when installed."""
    index = (PAGE_DIR / "index.html").read_text()
    app.mount("/page", StaticFiles(directory=PAGE_DIR), name="page")

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(index)

    try:
        import swagger_ui

        assets: Path | None = Path(swagger_ui.__file__).parent / "static"
        app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")
    except ImportError:  # FastAPI's default page then loads Swagger UI from a CDN
        assets = None

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        title = f"{app.title} - docs"
        if assets is None:
            return get_swagger_ui_html(openapi_url="/openapi.json", title=title)
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=title,
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _add_openapi(app: FastAPI, service: PredictionService) -> None:
    """The OpenAPI schema with ``/predict``'s request body generated from the bundle's inputs."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        request = service.request_model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(request.pop("$defs", {}))
        schemas["PredictRequest"] = request
        spec["paths"]["/predict"]["post"]["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/PredictRequest"},
                    "example": {"rows": [example_row(service.columns)]},
                },
                "multipart/form-data": {"schema": multipart_schema(service.columns)},
            },
        }
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def create_app_from_env() -> FastAPI:
    """The app factory ``uvicorn --workers N`` imports in each worker (the CLI sets the variables).

    ``POLYFUSE_SERVE_BUNDLE``: the bundle folder; ``POLYFUSE_SERVE_SETTINGS``: the settings as JSON;
    ``POLYFUSE_SERVE_API_KEY_FILE``: where the API key is (optional).
    """
    bundle = os.environ["POLYFUSE_SERVE_BUNDLE"]
    values = json.loads(os.environ.get("POLYFUSE_SERVE_SETTINGS", "{}"))
    key_file = os.environ.get("POLYFUSE_SERVE_API_KEY_FILE")
    if key_file:
        values["api_key"] = read_api_key(key_file)
    return create_app(Predictor.load(bundle), ServeSettings(**values))
