"""On-disk cache of frozen-encoder embeddings: memory-mapped shards, safe under concurrent writers.

Layout under the cache root (``POLYFUSE_CACHE_DIR``, default ``~/.cache/polyfuse/embeddings``)::

    <namespace>/                     one per (encoder id, weights tag, preprocessing params)
        namespace.json               what the namespace key was made of (for ``polyfuse cache info``)
        shard-<uuid>.npy             float32 (N, D) embeddings (float16 for token rows), opened with mmap
        shard-<uuid>.json            {"keys": [content hash per row], "rows", "dim", "sha256"}
    .lock                            flock'ed by clear / eviction

A row's key is the SHA-256 of its input's content (the file bytes of an image or audio path, the
UTF-8 of a text), so renaming files keeps hits and editing one misses. Writers never modify a
shard: each writes a new one to a temporary name and renames it into place (atomic on POSIX), the
index last, so a reader sees a whole shard or none, and two processes writing at once both add
shards. A shard whose array is truncated, whose checksum or shape disagrees with its index, or
that cannot be parsed is deleted on first read and its rows are recomputed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from polyfuse._hashing import sha256_file

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ENV_DIR = "POLYFUSE_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$POLYFUSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/polyfuse/embeddings`` (``~/.cache`` by default)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "polyfuse" / "embeddings"


def namespace_key(encoder_id: str, weights_tag: str, preprocessing: str) -> str:
    """The namespace of one (encoder config, weights, processor params) triple: 24 hex digits."""
    text = json.dumps([FORMAT_VERSION, encoder_id, weights_tag, preprocessing])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def content_hash(value: Any) -> str:
    """SHA-256 of an input's content: a file path's bytes, raw bytes, or the text (UTF-8).

    A ``str`` names a file only when ``is_file`` holds (media columns hold resolved paths);
    any other value is hashed as its text.
    """
    digest = hashlib.sha256()
    if isinstance(value, (bytes, bytearray, memoryview)):
        digest.update(b"b:" + bytes(value))
    elif isinstance(value, (str, os.PathLike)) and os.path.isfile(value):
        digest.update(b"f:")
        with open(value, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    else:
        digest.update(b"t:" + str(value).encode("utf-8"))
    return digest.hexdigest()


@dataclass
class CacheStats:
    """Rows read from the cache (``hits``) and computed (``misses``), summed over calls."""

    hits: int = 0
    misses: int = 0


@dataclass
class _Shard:
    index_path: Path
    keys: list[str]
    array: np.ndarray  # (N, D) float32, memory-mapped


class EmbeddingCache:
    """Embeddings keyed by ``(namespace, content hash)``.

    Args:
        root: Cache directory (default :func:`default_cache_dir`).
        max_bytes: Size budget; after a write the oldest shards are deleted until the cache fits.
            ``None`` = unbounded.
    """

    def __init__(self, root: str | Path | None = None, max_bytes: int | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.max_bytes = max_bytes
        self._verified: set[Path] = set()

    # ------------------------------------------------------------------ reading
    def get(self, namespace: str, keys: Sequence[str]) -> tuple[dict[int, np.ndarray], list[int]]:
        """Cached rows ``{position: (D,) array}`` for ``keys`` and the positions that missed."""
        wanted: dict[str, list[int]] = {}
        for position, key in enumerate(keys):
            wanted.setdefault(key, []).append(position)
        found: dict[int, np.ndarray] = {}
        for shard in self._shards(namespace):
            for row, key in enumerate(shard.keys):
                for position in wanted.pop(key, []):
                    found[position] = np.array(shard.array[row])
            if not wanted:
                break
        return found, sorted(p for positions in wanted.values() for p in positions)

    def _shards(self, namespace: str) -> Iterator[_Shard]:
        directory = self.root / namespace
        if not directory.is_dir():
            return
        for index_path in sorted(directory.glob("shard-*.json")):
            shard = self._open(index_path)
            if shard is not None:
                yield shard

    def _open(self, index_path: Path) -> _Shard | None:
        """A shard, or ``None`` after deleting it when it is corrupt or truncated."""
        array_path = index_path.with_suffix(".npy")
        try:
            index = json.loads(index_path.read_text())
            if index_path not in self._verified and sha256_file(array_path) != index["sha256"]:
                raise ValueError("checksum mismatch")
            array = np.load(array_path, mmap_mode="r")
            if array.shape != (index["rows"], index["dim"]) or len(index["keys"]) != index["rows"]:
                raise ValueError(f"shape {array.shape} does not match its index")
        except FileNotFoundError:
            return None  # removed by a concurrent clear
        except (ValueError, KeyError, OSError, json.JSONDecodeError) as error:
            log.warning("embedding cache: dropping corrupt shard %s (%s)", index_path, error)
            for path in (index_path, array_path):
                path.unlink(missing_ok=True)
            return None
        self._verified.add(index_path)
        return _Shard(index_path, list(index["keys"]), array)

    # ------------------------------------------------------------------ writing
    def put(
        self,
        namespace: str,
        keys: Sequence[str],
        embeddings: np.ndarray,
        about: dict[str, Any],
        dtype: Any = np.float32,
    ) -> None:
        """Add rows ``embeddings`` (N, D) under ``keys`` as one new shard (atomic, lock-free).

        ``dtype``: how the rows are stored (float16 halves token caches)."""
        if len(keys) == 0:
            return
        array = np.ascontiguousarray(embeddings, dtype=dtype)
        if array.ndim != 2 or array.shape[0] != len(keys):
            raise ValueError(f"need ({len(keys)}, D) embeddings, got {array.shape}")
        directory = self.root / namespace
        directory.mkdir(parents=True, exist_ok=True)
        meta = directory / "namespace.json"
        if not meta.exists():
            _atomic_write(meta, json.dumps(about, indent=2, default=str).encode())
        name = f"shard-{uuid.uuid4().hex}"
        _atomic_write(directory / f"{name}.npy", _npy_bytes(array))
        index = {"keys": list(keys), "rows": array.shape[0], "dim": array.shape[1]}
        index["sha256"] = sha256_file(directory / f"{name}.npy")
        _atomic_write(directory / f"{name}.json", json.dumps(index).encode())  # commit point
        if self.max_bytes is not None:
            self._evict(self.max_bytes)

    def _evict(self, max_bytes: int) -> None:
        """Delete the oldest shards until the cache is within ``max_bytes``."""
        with self._lock():
            shards = sorted(self.root.glob("*/shard-*.json"), key=lambda p: p.stat().st_mtime)
            total = self.size_bytes()
            for index_path in shards:
                if total <= max_bytes:
                    break
                array_path = index_path.with_suffix(".npy")
                total -= _size(index_path) + _size(array_path)
                index_path.unlink(missing_ok=True)
                array_path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ managing
    def info(self) -> list[dict[str, Any]]:
        """One entry per namespace: ``namespace``, ``about``, ``shards``, ``rows``, ``bytes``."""
        entries = []
        for directory in sorted(p for p in self.root.glob("*") if p.is_dir()):
            indexes = list(directory.glob("shard-*.json"))
            rows = 0
            for index_path in indexes:
                with contextlib.suppress(ValueError, OSError, KeyError):
                    rows += int(json.loads(index_path.read_text())["rows"])
            about_path = directory / "namespace.json"
            about = json.loads(about_path.read_text()) if about_path.is_file() else {}
            size = sum(_size(p) for p in directory.iterdir())
            entries.append(
                {
                    "namespace": directory.name,
                    "about": about,
                    "shards": len(indexes),
                    "rows": rows,
                    "bytes": size,
                }
            )
        return entries

    def size_bytes(self) -> int:
        """Bytes used by every file under the root."""
        return sum(_size(p) for p in self.root.rglob("*") if p.is_file()) if self.root.is_dir() else 0

    def clear(self, namespace: str | None = None) -> int:
        """Delete one namespace (or everything); returns the bytes freed."""
        with self._lock():
            targets = [self.root / namespace] if namespace else [p for p in self.root.glob("*") if p.is_dir()]
            freed = 0
            for directory in targets:
                for path in list(directory.glob("*")):
                    freed += _size(path)
                    path.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    directory.rmdir()
        return freed

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def cached_embeddings(
    cache: EmbeddingCache | None,
    namespace: str,
    values: Sequence[Any],
    compute: Callable[[list[int]], np.ndarray],
    about: dict[str, Any],
    stats: CacheStats | None = None,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Embeddings ``(N, D)`` of ``values``: cached rows read, the others ``compute``d and stored.

    A computed row that is not finite (``compute`` marks rows it could not embed with NaN) is
    returned but never stored.

    Args:
        cache: The cache, or ``None`` to compute everything.
        namespace: From :func:`namespace_key`.
        values: One input per row (what :func:`content_hash` hashes).
        compute: ``positions -> (len(positions), D)`` embeddings of those rows.
        about: Stored once per namespace for ``polyfuse cache info``.
        stats: Incremented with this call's hits and misses.
        dtype: Of the rows stored and returned (``np.float16`` for token caches).
    """
    if stats is None:
        stats = CacheStats()
    if cache is None or not values:
        stats.misses += len(values)
        return compute(list(range(len(values))))
    keys = [content_hash(v) for v in values]
    found, missing = cache.get(namespace, keys)
    stats.hits += len(found)
    stats.misses += len(missing)
    fresh = compute(missing) if missing else None
    if fresh is not None:
        finite = np.isfinite(fresh).all(axis=1)
        cache.put(
            namespace,
            [keys[i] for i, ok in zip(missing, finite, strict=True) if ok],
            fresh[finite],
            about,
            dtype,
        )
    dim = fresh.shape[1] if fresh is not None else next(iter(found.values())).shape[0]
    out = np.zeros((len(values), dim), dtype=dtype)
    for position, row in found.items():
        out[position] = row
    if fresh is not None:
        out[missing] = fresh
    return out


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a unique temporary file beside ``path``, fsync, then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
