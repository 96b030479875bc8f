"""Reading a ``/predict`` request: the body under a size and time limit, then JSON or multipart.

A body that is not JSON is a 400; JSON that does not match the bundle's request model (a wrong
type, an unknown column, too many rows) is a 422 listing where; an unsupported content type is a
415; a body over the limit a 413; a body that does not arrive in time a 408.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.types import Message

from polyfuse.serving.inputs import MEDIA


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The whole body, refused past ``limit`` bytes (413) or ``timeout_s`` seconds (408)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"the request body is larger than the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0

    async def consume() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"the request body is larger than the limit of {limit} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(consume(), timeout_s)
    except asyncio.TimeoutError:  # the builtin TimeoutError from Python 3.11 on
        raise HTTPException(408, f"the request body did not arrive within {timeout_s:g} s") from None
    return b"".join(chunks)


def _validation_detail(error: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors without the offending input (which may be megabytes of base64)."""
    return [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
        for e in error.errors(include_url=False, include_input=False, include_context=False)[:50]
    ]


def parse_json(body: bytes, request_model: type[BaseModel]) -> list[dict[str, Any]]:
    """Rows of a JSON body ``{"rows": [...]}``, each ``{column: value}`` (absent columns None)."""
    try:
        parsed = request_model.model_validate_json(body)
    except ValidationError as error:
        detail = _validation_detail(error)
        if any(d["type"] == "json_invalid" for d in detail):
            raise HTTPException(400, f"the body is not valid JSON: {detail[0]['msg']}") from None
        raise HTTPException(422, detail) from None
    rows: list[dict[str, Any]] = parsed.model_dump(by_alias=True)["rows"]
    return rows


async def parse_multipart(
    request: Request, body: bytes, kinds: dict[str, str], row_model: type[BaseModel], max_media_bytes: int
) -> list[dict[str, Any]]:
    """The one row of a multipart body: media columns as file parts (or base64 fields), others as fields."""
    _check_complete(request.headers.get("content-type", ""), body)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(
        max_files=len(kinds) + 1, max_fields=len(kinds) + 1, max_part_size=len(body) + 1
    )
    values: dict[str, Any] = {}
    media: dict[str, Any] = {}
    try:
        for key, value in form.multi_items():
            if key in values or key in media:
                raise HTTPException(422, [{"loc": ["body", key], "msg": "given twice", "type": "duplicate"}])
            if kinds.get(key) in MEDIA:
                if isinstance(value, UploadFile):
                    media[key] = await value.read(max_media_bytes + 1)  # over the limit: its row's error
                else:
                    media[key] = value
            elif isinstance(value, UploadFile):
                msg = "expects a value, not a file"
                raise HTTPException(422, [{"loc": ["body", key], "msg": msg, "type": "file_not_expected"}])
            else:
                values[key] = value if value != "" else None
    finally:
        await form.close()
    try:
        row: dict[str, Any] = row_model.model_validate(values).model_dump(by_alias=True)
    except ValidationError as error:
        raise HTTPException(422, _validation_detail(error)) from None
    row.update(media)
    return [row]


def _check_complete(content_type: str, body: bytes) -> None:
    """A 400 unless the body ends its parts with the closing boundary (a cut-off upload would
    otherwise parse as a shorter, valid form)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise HTTPException(400, "the multipart content type names no boundary")
    if b"--" + match.group(1).encode("latin-1") + b"--" not in body:
        raise HTTPException(400, "the multipart body is truncated (its closing boundary is missing)")


def content_kind(request: Request) -> str:
    """``json`` or ``multipart``; anything else is a 415."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return "json"
    if content_type == "multipart/form-data":
        return "multipart"
    raise HTTPException(415, "send application/json ({'rows': [...]}) or multipart/form-data (one row)")
