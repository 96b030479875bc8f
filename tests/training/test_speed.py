"""Speed features: thread counts, data-sized defaults, the one-row fast path, checkpoint cleanup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from PIL import Image

from polyfuse import Predictor
from polyfuse._threads import apply_threads, resolve_threads
from polyfuse.cli._common import parse_threads
from polyfuse.config.schema import TrainingConfig, parse_config
from polyfuse.data.dataset import InputSpec
from polyfuse.data.processors.image import ImageProcessor, auto_side
from polyfuse.data.processors.text import TextProcessor
from polyfuse.data.schema import MissingColumnError
from polyfuse.data.tables import Table
from polyfuse.training.sizing import choose_defaults
from polyfuse.training.trainer import Trainer


def test_threads_resolve_from_value_torch_and_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("polyfuse._threads.available_cores", lambda: 8)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(6)
        assert resolve_threads(3) == 3
        assert resolve_threads("auto") == 6  # a script's own setting is kept
        assert resolve_threads("auto", jobs=3) == 2  # but shared among compare's workers
        assert resolve_threads(None, jobs=16) == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads"):
        resolve_threads(0)
    with pytest.raises(ValueError, match="threads"):
        TrainingConfig(threads=0)
    assert parse_threads("auto") == "auto" and parse_threads("2") == 2
    try:
        assert apply_threads(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_fit_uses_training_threads(fast_config: Any, demo_dir: Path) -> None:
    config = fast_config(train=str(demo_dir / "table.csv"))
    config["training"]["threads"] = 2
    try:
        predictor = Predictor(config=config).fit()
        assert torch.get_num_threads() == 2
        assert predictor.fitted.metrics["training"]["threads"] == 2
    finally:
        torch.set_num_threads(1)


def _pngs(folder: Path, sides: list[int]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, side in enumerate(sides):
        path = folder / f"{i}.png"
        Image.new("RGB", (side, side // 2 + 1), (i * 20 % 255, 80, 160)).save(path)
        paths.append(str(path))
    return paths


def test_image_size_auto_is_the_median_side_capped(tmp_path: Path) -> None:
    small = _pngs(tmp_path / "small", [24, 24, 40])
    assert auto_side(small) == 24
    assert auto_side(_pngs(tmp_path / "big", [300, 500, 640])) == 64
    assert auto_side(["/no/such/file.png"]) == 64
    processor = ImageProcessor().fit(small)
    assert processor.output_spec()["height"] == 24 and processor.transform(small[2])["pixels"].shape[-1] == 24  # type: ignore[index]
    state, tensors = processor.get_state()
    restored = ImageProcessor(**processor.get_params())
    restored.set_state(state, tensors)
    assert restored.output_spec() == processor.output_spec()
    assert ImageProcessor(size=16).fit(small).output_spec()["width"] == 16  # explicit size wins


def _text_spec(texts: list[str]) -> tuple[InputSpec, Table]:
    frame = pd.DataFrame({"note": texts, "label": ["a", "b"] * (len(texts) // 2)})
    return InputSpec("note", "text", ["note"], TextProcessor()), Table(frame, Path.cwd(), "t")


def test_short_texts_get_the_bag_encoder_and_explicit_choices_win() -> None:
    spec, table = _text_spec(["a short note"] * 10)
    config = parse_config({"data": {"label": "label"}})
    sized, chosen = choose_defaults(config, [spec], table)
    assert sized.model.encoders["note"]["type"] == "bag" and chosen["note.encoder"].startswith("bag")
    spec, long_table = _text_spec([" ".join(["word"] * 80)] * 10)
    sized, chosen = choose_defaults(config, [spec], long_table)
    assert sized.model.encoders["note"]["type"] == "bigru"
    explicit = parse_config({"data": {"label": "label"}, "model": {"encoders": {"text": {"type": "cnn"}}}})
    sized, chosen = choose_defaults(explicit, [spec], table)
    assert sized is explicit and chosen == {}


def test_predict_one_matches_predict(trained: Any) -> None:
    predictor = Predictor.load(trained.bundle)
    frame = pd.read_csv(trained.data_dir / "table.csv", keep_default_na=False).head(8)
    frame = frame.assign(
        photo=[str(trained.data_dir / p) if p else p for p in frame["photo"]],
        sound=[str(trained.data_dir / s) if s else s for s in frame["sound"]],
    )
    batch = predictor.predict(frame, proba=True)
    for i, row in enumerate(frame.to_dict("records")):
        one = predictor.predict_one(row, proba=True)
        assert list(one) == list(batch.columns)
        assert one["prediction"] == batch["prediction"][i] and one["error"] is None
        for column in batch.columns:
            if column.startswith("proba_"):
                assert one[column] == pytest.approx(batch[column][i], abs=1e-5)
    bad = predictor.predict_one({**frame.iloc[0].to_dict(), "photo": "/no/such.png"})
    assert bad["prediction"] is None and "no/such.png" in bad["error"]
    with pytest.raises(MissingColumnError, match="photo"):
        predictor.predict_one({k: v for k, v in frame.iloc[0].to_dict().items() if k != "photo"})


def test_checkpoints_removed_after_save_unless_kept(fast_config: Any, demo_dir: Path, tmp_path: Path) -> None:
    for keep in (False, True):
        config = fast_config(tmp_path / f"run{keep}", train=str(demo_dir / "table.csv"))
        config["training"]["keep_checkpoints"] = keep
        predictor = Predictor(config=config).fit()
        checkpoints = tmp_path / f"run{keep}" / "checkpoints"
        assert (checkpoints / "last.pt").is_file()  # until the bundle is saved, --resume works
        predictor.save(tmp_path / f"bundle{keep}")
        assert (checkpoints / "last.pt").is_file() is keep


def test_training_stops_once_the_score_is_perfect(tmp_path: Path) -> None:
    config = TrainingConfig(output_dir=str(tmp_path), progress=False, tensorboard=False)
    trainer = Trainer(config, tmp_path, lambda _: {}, "accuracy_score")
    assert not trainer._converged()
    trainer.state.best_value = 0.99
    assert not trainer._converged()
    trainer.state.best_value = 1.0
    assert trainer._converged()
    assert not Trainer(config, tmp_path, lambda _: {}, "mse_error")._converged()


def test_small_tables_of_small_images_get_the_small_cnn(tmp_path: Path) -> None:
    images = _pngs(tmp_path / "img", [24, 24, 24])
    spec = InputSpec("photo", "image", ["photo"], ImageProcessor().fit(images))
    config = parse_config({"data": {"label": "label"}})
    small = Table(pd.DataFrame({"photo": images * 10}), tmp_path, "t")
    sized, chosen = choose_defaults(config, [spec], small)
    assert sized.model.encoders["photo"]["widths"] == [16, 32, 64]
    assert chosen["photo.image_size"].startswith("24") and "30 rows" in chosen["photo.encoder"]
    large = Table(pd.DataFrame({"photo": images * 700}), tmp_path, "t")
    sized, chosen = choose_defaults(config, [spec], large)
    assert "photo" not in sized.model.encoders and "photo.encoder" not in chosen


def _calls(seconds: float, count: int, threads: int | None) -> tuple[list[int], set[str]]:
    import threading
    import time

    from polyfuse.data._chunks import _run_chunks

    names: set[str] = set()

    def work(i: int) -> int:
        names.add(threading.current_thread().name)
        if seconds:
            time.sleep(seconds)
        return i

    rows = _run_chunks(lambda start, stop: [work(i) for i in range(start, stop)], count, threads)
    return list(rows), names


def test_rows_are_decoded_in_threads_only_when_they_are_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fast rows (small images, short texts) stay in one thread: threads would only contend for
    the GIL. Slow rows (sleeping stands for a decoder that releases the GIL) go to a pool. Order is
    kept either way, and ``threads=1`` forces one thread."""
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    main = {"MainThread"}
    order, names = _calls(0.0, 200, None)
    assert order == list(range(200)) and names == main
    order, names = _calls(0.003, 120, None)
    assert order == list(range(120)) and len(names - main) >= 2
    order, names = _calls(0.003, 120, 1)
    assert order == list(range(120)) and names == main


def test_small_tables_with_audio_get_the_small_audio_cnn(tmp_path: Path) -> None:
    from polyfuse.data.processors.audio import AudioProcessor

    spec = InputSpec("sound", "audio", ["sound"], AudioProcessor())
    config = parse_config({"data": {"label": "label"}})
    small = Table(pd.DataFrame({"sound": ["a.wav"] * 30}), tmp_path, "t")
    sized, chosen = choose_defaults(config, [spec], small)
    assert sized.model.encoders["sound"]["widths"] == [16, 32, 64]
    assert "30 rows < 2000" in chosen["sound.encoder"]
    large = Table(pd.DataFrame({"sound": ["a.wav"] * 2000}), tmp_path, "t")
    assert "sound" not in choose_defaults(config, [spec], large)[0].model.encoders
    configured = parse_config({"data": {"label": "label"}, "model": {"encoders": {"audio": {"type": "cnn"}}}})
    assert "sound.encoder" not in choose_defaults(configured, [spec], small)[1]


@pytest.mark.parametrize("row_seconds", [10.0, 0.0])
def test_pipelined_prediction_equals_decoding_the_whole_table_first(
    trained: Any, monkeypatch: pytest.MonkeyPatch, row_seconds: float
) -> None:
    """Fast rows (10 s a row allowed) are decoded first and then predicted; slow ones (0 s) decode
    slice k+1 while the model runs slice k. Either way the frame (rows, order, errors,
    probabilities) is the one of decoding every row first and then running the model."""
    from polyfuse import inference
    from polyfuse.data import _chunks
    from polyfuse.data.dataset import encode_rows
    from polyfuse.data.tables import Table

    monkeypatch.setattr(_chunks, "THREADED_ROW_SECONDS", row_seconds)
    predictor = Predictor.load(trained.bundle)
    predictor.config.inference.batch_size = 7
    frame = pd.read_csv(trained.data_dir / "table.csv", keep_default_na=False)
    frame.loc[3, "photo"] = "no/such.png"
    frame.loc[10, "photo"] = "no/other.png"
    table = Table(frame, trained.data_dir, "t.csv")
    fitted = predictor.fitted
    piped = inference.pipelined_prediction_frame(
        fitted, table, lambda part, threads: encode_rows(part, fitted.inputs, threads=threads), 7, proba=True
    )
    whole = inference.prediction_frame(fitted, encode_rows(table, fitted.inputs), 7, proba=True)
    assert len(frame) > 3 * 7 and list(piped["row"]) == list(range(len(frame)))
    pd.testing.assert_frame_equal(piped, whole)
    assert "no/such.png" in piped["error"][3] and piped["prediction"].notna().sum() == len(frame) - 2
    clean = Table(pd.read_csv(trained.data_dir / "table.csv", keep_default_na=False), trained.data_dir, "t")
    expected = inference.prediction_frame(fitted, encode_rows(clean, fitted.inputs), 7)
    pd.testing.assert_frame_equal(predictor.predict(trained.data_dir / "table.csv"), expected)


@pytest.mark.parametrize(("row_seconds", "model_threads"), [(10.0, 0), (0.0, 1)])
def test_the_first_slice_decides_between_decoding_first_and_overlapping(
    trained: Any, monkeypatch: pytest.MonkeyPatch, row_seconds: float, model_threads: int
) -> None:
    """Fast first rows: the rest decode in this thread, slice by slice, then the model runs here;
    slow ones: each slice is decoded (its own probe deciding on threads) while a model thread
    runs the slice before."""
    import threading

    from polyfuse import inference
    from polyfuse.data import _chunks
    from polyfuse.data.dataset import encode_rows
    from polyfuse.data.tables import Table

    monkeypatch.setattr(_chunks, "THREADED_ROW_SECONDS", row_seconds)
    fitted = Predictor.load(trained.bundle).fitted
    frame = pd.read_csv(trained.data_dir / "table.csv", keep_default_na=False)
    asked: list[tuple[int | None, int]] = []
    ran_in: set[str] = set()
    run_steps = inference.run_steps

    def encode(part: Table, threads: int | None) -> Any:
        asked.append((threads, len(part.frame)))
        return encode_rows(part, fitted.inputs, threads=threads)

    def spy(*args: Any, **kwargs: Any) -> Any:
        ran_in.add(threading.current_thread().name)
        return run_steps(*args, **kwargs)

    monkeypatch.setattr(inference, "run_steps", spy)
    inference.pipelined_prediction_frame(fitted, Table(frame, trained.data_dir, "t"), encode, 7)
    slices = -(-len(frame) // 7)
    assert slices >= 3 and [n for _, n in asked] == [7] * (slices - 1) + [len(frame) - 7 * (slices - 1)]
    if model_threads:
        assert [t for t, _ in asked] == [None] * slices and ran_in == {"polyfuse-predict_0"}
    else:
        assert [t for t, _ in asked] == [None] + [1] * (slices - 1)
        assert ran_in == {threading.current_thread().name}
