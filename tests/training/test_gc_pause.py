"""The cyclic garbage collector is paused while a chunk is predicted, and left as it was found."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from polyfuse._gc import gc_paused


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def test_paused_inside_and_restored_after_nested_blocks() -> None:
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still runs
    assert gc.isenabled()
    gc.disable()  # a program that runs without the collector keeps it off
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_enabled_again_only_when_the_last_thread_leaves() -> None:
    gc.enable()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with gc_paused():
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=other)
    with gc_paused():
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the other thread is still predicting
    leave.set()
    thread.join(10)
    assert gc.isenabled()


def test_an_error_inside_restores_the_collector() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_predict_runs_its_chunks_with_the_collector_paused(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from polyfuse import inference
    from polyfuse.predictor import Predictor

    gc.enable()
    frame = pd.DataFrame({"x": [float(i % 7) for i in range(60)], "label": ["a", "b"] * 30})
    predictor = Predictor(label="label", epochs=1, progress=False, output_dir=str(tmp_path / "run"))
    predictor.fit(frame)
    seen: list[bool] = []
    real = inference.pipelined_prediction_frame

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "pipelined_prediction_frame", spy)
    out = predictor.predict(frame.drop(columns="label"), chunk_rows=25)
    assert len(out) == 60 and seen == [False, False, False] and gc.isenabled()
