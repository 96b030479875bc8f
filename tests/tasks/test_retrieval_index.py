"""Retrieval indexes: build, resume, append, exact vs approximate search, the CLI, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polyfuse import Predictor
from polyfuse.cli.main import main
from polyfuse.retrieval import index as index_module
from polyfuse.retrieval import store
from polyfuse.retrieval.index import RetrievalIndex
from polyfuse.retrieval.store import IndexFileError, VectorStore, exact_search


def gallery(root: Path) -> pd.DataFrame:
    """The table's photos (36 rows naming 12 photos) with absolute paths."""
    table = pd.read_csv(root / "table.csv")
    return pd.DataFrame({"photo": [str(root / p) for p in table.photo]})


def test_index_dedupes_and_finds_the_captioned_photo(
    retrieval_bundle: tuple[Path, Path], tmp_path: Path
) -> None:
    root, bundle = retrieval_bundle
    predictor = Predictor.load(bundle)
    index = predictor.index(gallery(root), tmp_path / "idx", chunk_rows=10)
    assert index.size == 12  # three captions per photo: each photo indexed once
    assert len(index.store.meta["shards"]) == 4  # one shard per chunk of 10 rows
    assert not index.store.meta["approximate"]
    results = index.search(
        pd.DataFrame({"caption": ["a red square", "the picture shows a blue stripe"]}), k=3
    )
    assert list(results.columns) == ["query_row", "rank", "candidate_row", "photo", "score", "error"]
    top = results[results["rank"] == 1].set_index("query_row")["photo"]
    assert top[0].endswith("photos/00.png") and top[1].endswith("photos/05.png")
    assert results.groupby("query_row")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    # the vectors are plain .npy, loadable without pickle
    assert np.load(tmp_path / "idx" / "shard-00000.npy", allow_pickle=False).shape == (4, 16)


def test_build_resumes_after_an_interruption(
    retrieval_bundle: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, bundle = retrieval_bundle
    fitted = Predictor.load(bundle).fitted
    real, calls = index_module.embed_side, []

    def failing(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(index_module, "embed_side", failing)
    with pytest.raises(KeyboardInterrupt):
        RetrievalIndex.build(fitted, gallery(root), tmp_path / "idx", chunk_rows=10, approximate_threshold=4)
    stopped = VectorStore.open(tmp_path / "idx")
    assert stopped.size == 7 and stopped.meta["approximate"] is None  # two chunks: photos 0-6
    monkeypatch.setattr(index_module, "embed_side", real)
    index, report = RetrievalIndex.build(
        fitted, gallery(root), tmp_path / "idx", chunk_rows=10, approximate_threshold=4
    )
    assert report.chunks_skipped == 2 and index.size == 12
    assert index.store.meta["approximate"]["vectors"] == 12
    _, again = RetrievalIndex.build(fitted, gallery(root), tmp_path / "idx", chunk_rows=10)
    assert again.added == 0 and index.size == 12  # a finished gallery is not indexed twice


def test_append_and_approximate_search_agree_with_exact(
    retrieval_bundle: tuple[Path, Path], tmp_path: Path
) -> None:
    root, bundle = retrieval_bundle
    fitted = Predictor.load(bundle).fitted
    photos = gallery(root)
    RetrievalIndex.build(fitted, photos.iloc[:18], tmp_path / "idx", approximate_threshold=4)
    index, report = RetrievalIndex.build(fitted, photos.iloc[18:], tmp_path / "idx", approximate_threshold=4)
    assert report.added == 6 and index.size == 12
    assert index.store.meta["approximate"]["vectors"] == 12  # grown by the append, not rebuilt
    queries = pd.DataFrame({"caption": ["a green square", "yellow stripe on black", "a white square"]})
    approximate = index.search(queries, k=5)
    exact = index.search(queries, k=5, exact=True)
    assert approximate["photo"].tolist() == exact["photo"].tolist()
    assert approximate["score"].to_numpy() == pytest.approx(exact["score"].to_numpy(), abs=1e-5)
    assert "gallery" in approximate.columns  # two galleries in one index


def test_exact_search_matches_a_full_sort() -> None:
    rng = np.random.default_rng(0)
    vectors, queries = (
        rng.normal(size=(300, 8)).astype(np.float32),
        rng.normal(size=(4, 8)).astype(np.float32),
    )
    index_module_chunk = 64

    before, store.CHUNK = store.CHUNK, index_module_chunk
    try:
        scores, ids = exact_search(vectors, queries, 7)
    finally:
        store.CHUNK = before
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :7]
    assert (ids == expected).all()
    assert scores[:, 0] == pytest.approx((queries @ vectors.T).max(1), rel=1e-5)


# ---------------------------------------------------------------------- bad input
def test_bad_galleries_and_indexes_are_refused(retrieval_bundle: tuple[Path, Path], tmp_path: Path) -> None:
    root, bundle = retrieval_bundle
    fitted = Predictor.load(bundle).fitted
    with pytest.raises(ValueError, match="empty"):
        RetrievalIndex.build(fitted, pd.DataFrame({"photo": []}), tmp_path / "empty")
    with pytest.raises(ValueError, match=r"lacks the bundle's candidate column\(s\) \['photo'\]"):
        RetrievalIndex.build(fitted, pd.DataFrame({"picture": ["x.png"]}), tmp_path / "cols")
    RetrievalIndex.build(fitted, gallery(root), tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    meta["bundle"] = {"fingerprint": "0123456789abcdef", "path": "/models/other"}
    (tmp_path / "idx" / "index.json").write_text(json.dumps(meta))
    with pytest.raises(IndexFileError, match=r"built by bundle /models/other .*not by bundle /b/mine"):
        RetrievalIndex.open(tmp_path / "idx", fitted, "/b/mine")


def test_corrupt_or_truncated_index_files_are_refused(
    retrieval_bundle: tuple[Path, Path], tmp_path: Path
) -> None:
    root, bundle = retrieval_bundle
    fitted = Predictor.load(bundle).fitted
    RetrievalIndex.build(fitted, gallery(root), tmp_path / "idx")
    shard = tmp_path / "idx" / "shard-00000.npy"
    shard.write_bytes(shard.read_bytes()[:100])  # truncated
    queries = pd.DataFrame({"caption": ["a red square"]})
    with pytest.raises(IndexFileError, match="checksum"):
        RetrievalIndex.open(tmp_path / "idx", fitted).search(queries)
    shard.unlink()
    with pytest.raises(IndexFileError, match=r"truncated: shard-00000\.npy is missing"):
        RetrievalIndex.open(tmp_path / "idx", fitted).search(queries)
    (tmp_path / "idx" / "index.json").write_text("{not json")
    with pytest.raises(IndexFileError, match="corrupt"):
        RetrievalIndex.open(tmp_path / "idx", fitted)
    with pytest.raises(IndexFileError, match="not a polyfuse index"):
        RetrievalIndex.open(tmp_path / "nothing", fitted)


def test_unreadable_query_image_gets_its_own_error_row(
    retrieval_bundle: tuple[Path, Path], tmp_path: Path
) -> None:
    root, bundle = retrieval_bundle
    fitted = Predictor.load(bundle).fitted
    captions = pd.read_csv(root / "table.csv")[["caption"]]
    index, _ = RetrievalIndex.build(fitted, captions, tmp_path / "captions", side="query")
    assert index.size == 36
    (tmp_path / "broken.png").write_bytes(b"not a png")
    queries = pd.DataFrame({"photo": [str(root / "photos/04.png"), str(tmp_path / "broken.png")]})
    results = index.search(queries, k=3)
    good, bad = results[results.query_row == 0], results[results.query_row == 1]
    assert len(good) == 3 and good.error.isna().all() and "blue square" in good.caption.iloc[0]
    assert (len(bad) == 1 and "broken.png" in bad.error.iloc[0]) or "image" in bad.error.iloc[0]


# ---------------------------------------------------------------------- CLI
def test_cli_index_then_search(
    retrieval_bundle: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, bundle = retrieval_bundle
    gallery(root).to_csv(tmp_path / "gallery.csv", index=False)
    assert main(["index", str(bundle), str(tmp_path / "gallery.csv"), "-o", str(tmp_path / "idx")]) == 0
    assert "12 vectors (exact search); added 12, skipped 24 duplicates" in capsys.readouterr().out
    assert main(["search", str(tmp_path / "idx"), "--text", "a purple stripe", "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["query_row", "rank", "candidate_row", "photo", "score"]
    assert lines[2].split()[3].endswith("photos/09.png")
    assert main(["search", str(tmp_path / "idx"), "--audio", "x.wav"]) == 2
    assert "--audio does not fit" in capsys.readouterr().err
