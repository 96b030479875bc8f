"""Server settings: speed (micro-batching, queue) and safety limits, with defaults safe to expose."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ServeSettings(BaseModel):
    """How ``polyfuse serve`` batches, limits and protects requests.

    Every limit answers a 4xx naming the limit when exceeded; none of them is off by default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch: int = Field(64, ge=1, description="most rows one model call predicts")
    max_wait_ms: float = Field(2.0, ge=0, description="longest wait for more rows after the first")
    max_queue: int = Field(1024, ge=1, description="rows waiting for the model before 503 answers")
    timeout_s: float = Field(30.0, gt=0, description="longest wait for a prediction (then 504)")
    read_timeout_s: float = Field(10.0, gt=0, description="longest wait for a request body (then 408)")
    max_request_bytes: int = Field(32 * 2**20, ge=1024, description="largest request body (then 413)")
    max_rows: int = Field(256, ge=1, description="most rows in one request")
    max_media_bytes: int = Field(8 * 2**20, ge=1, description="largest decoded image or audio file")
    max_pixels: int = Field(4096 * 4096, ge=1, description="largest image (width x height)")
    max_audio_seconds: float = Field(60.0, gt=0, description="longest audio clip")
    max_text_chars: int = Field(100_000, ge=1, description="longest text cell")
    media_root: Path | None = Field(None, description="folder media paths may name (off: bytes only)")
    api_key: str | None = Field(None, description="key /predict, /metadata and /metrics require")
    cors_origins: tuple[str, ...] = Field((), description="origins allowed by CORS (none: CORS off)")
    warmup: bool = Field(True, description="predict a synthetic row before /ready answers 200")
    join_requests: bool | None = Field(
        None, description="let requests share model calls (None: when a probe shows rows are independent)"
    )
    torch_threads: int | None = Field(None, ge=1, description="torch intra-op threads (default: torch's)")
    bundle_dir: Path | None = Field(None, description="the bundle folder (its README.md is the model card)")

    @model_validator(mode="after")
    def _check(self) -> ServeSettings:
        if self.max_queue < self.max_rows:
            raise ValueError(f"max_queue ({self.max_queue}) must be >= max_rows ({self.max_rows})")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key is empty")
        return self


def read_api_key(path: str | Path) -> str:
    """The API key stored in ``path`` (surrounding whitespace removed).

    Raises:
        ValueError: The file is empty.
    """
    key = Path(path).read_text().strip()
    if not key:
        raise ValueError(f"the API key file {path} is empty")
    return key
