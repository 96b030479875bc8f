"""The embedding cache: hits, key changes, corrupt shards, concurrent writers, size budget, CLI."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from polyfuse.cli.main import main
from polyfuse.data.cache import EmbeddingCache, cached_embeddings, content_hash, namespace_key

NS = namespace_key("text/x", "weights-1", "processor-1")


def counting(dim: int = 4) -> tuple[list[list[int]], object]:
    """A compute function that records the positions it was asked for."""
    calls: list[list[int]] = []

    def compute(positions: list[int]) -> np.ndarray:
        calls.append(list(positions))
        return np.array([[float(p)] * dim for p in positions], dtype=np.float32).reshape(len(positions), dim)

    return calls, compute


def test_second_run_reads_everything_from_the_cache(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    calls, compute = counting()
    first = cached_embeddings(cache, NS, ["a", "b", "c"], compute, {})  # type: ignore[arg-type]
    second = cached_embeddings(cache, NS, ["c", "a", "new"], compute, {})  # type: ignore[arg-type]
    assert calls == [[0, 1, 2], [2]]
    assert np.array_equal(second[:2], first[[2, 0]])
    assert cache.info()[0]["rows"] == 4 and cache.info()[0]["shards"] == 2


def test_any_part_of_the_key_changes_the_namespace() -> None:
    keys = {
        namespace_key("text/x", "w1", "p1"),
        namespace_key("text/y", "w1", "p1"),
        namespace_key("text/x", "w2", "p1"),
        namespace_key("text/x", "w1", "p2"),
    }
    assert len(keys) == 4


def test_content_hash_follows_file_bytes_not_names(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"same")
    (tmp_path / "b.bin").write_bytes(b"same")
    assert content_hash(str(tmp_path / "a.bin")) == content_hash(str(tmp_path / "b.bin"))
    (tmp_path / "b.bin").write_bytes(b"changed")
    assert content_hash(str(tmp_path / "a.bin")) != content_hash(str(tmp_path / "b.bin"))
    assert content_hash("text") != content_hash(b"text")


@pytest.mark.parametrize("damage", ["truncate", "flip", "index"])
def test_a_damaged_shard_is_dropped_and_recomputed(tmp_path: Path, damage: str) -> None:
    calls, compute = counting()
    cached_embeddings(EmbeddingCache(tmp_path), NS, ["a", "b"], compute, {})  # type: ignore[arg-type]
    array = next((tmp_path / NS).glob("shard-*.npy"))
    if damage == "truncate":
        array.write_bytes(array.read_bytes()[:-8])
    elif damage == "flip":
        data = bytearray(array.read_bytes())
        data[-1] ^= 0xFF
        array.write_bytes(bytes(data))
    else:
        array.with_suffix(".json").write_text("{not json")
    out = cached_embeddings(EmbeddingCache(tmp_path), NS, ["a", "b"], compute, {})  # type: ignore[arg-type]
    assert calls == [[0, 1], [0, 1]] and np.array_equal(out[:, 0], [0.0, 1.0])
    assert len(list((tmp_path / NS).glob("shard-*.json"))) == 1  # the bad one is gone


def _writer(root: str, seed: int) -> None:
    cache = EmbeddingCache(root)
    for round_ in range(20):
        keys = [f"{seed}-{round_}-{i}" for i in range(50)]
        cache.put(NS, keys, np.full((50, 8), seed, dtype=np.float32), {"writer": seed})


def test_concurrent_writers_do_not_corrupt_the_cache(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(str(tmp_path), seed)) for seed in (1, 2, 3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    cache = EmbeddingCache(tmp_path)
    keys = [f"{seed}-{r}-{i}" for seed in (1, 2, 3) for r in range(20) for i in range(50)]
    found, missing = cache.get(NS, keys)
    assert not missing and all(found[p][0] == int(keys[p].split("-")[0]) for p in (0, 1500, 2999))
    assert not list((tmp_path / NS).glob(".*tmp"))


def test_size_budget_evicts_oldest_shards(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, max_bytes=30_000)
    for i in range(10):
        cache.put(NS, [f"{i}-{j}" for j in range(100)], np.zeros((100, 16), np.float32), {})
    assert cache.size_bytes() <= 30_000
    found, missing = cache.get(NS, ["9-0", "0-0"])
    assert list(found) == [0] and missing == [1]  # the newest survives, the oldest is gone


def test_cli_cache_info_and_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    EmbeddingCache(tmp_path).put(NS, ["a"], np.zeros((1, 4), np.float32), {"encoder": {"type": "text/x"}})
    assert main(["cache", "info", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert NS in out and "text/x" in out
    assert main(["cache", "clear", "--dir", str(tmp_path)]) == 0
    assert EmbeddingCache(tmp_path).info() == []


def test_a_limit_that_only_refuses_values_keeps_the_cache_key() -> None:
    """Raising max_pixels cannot change an accepted image's tensors, so cached embeddings stay
    valid; the output size does change them."""
    from polyfuse.data.processors.pretrained_image import PretrainedImageProcessor

    norm = {"mean": [0.5] * 3, "std": [0.5] * 3}
    base = PretrainedImageProcessor(size=224, **norm)
    assert PretrainedImageProcessor(size=224, max_pixels=10**9, **norm).cache_key() == base.cache_key()
    assert "max_pixels" not in base.cache_key()
    assert PretrainedImageProcessor(size=192, **norm).cache_key() != base.cache_key()
