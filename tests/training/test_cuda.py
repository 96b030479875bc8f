"""Training on a CUDA device: every precision learns, and a GPU-trained bundle predicts the same on CPU.

Skipped (with the reason shown) where torch sees no CUDA device, as on CI; run on a GPU machine.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from polyfuse import Predictor

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: GPU training is checked on a machine with one"
)


def _fit(demo_dir: Path, fast_config: Callable[..., dict[str, Any]], out: Path, precision: str) -> Predictor:
    config = fast_config(out)
    config["training"].update(device="cuda", precision=precision, epochs=6)
    return Predictor(config=config).fit(demo_dir / "table.csv")


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_every_precision_learns_on_cuda(
    precision: str, demo_dir: Path, fast_config: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    predictor = _fit(demo_dir, fast_config, tmp_path / "run", precision)
    assert next(predictor.fitted.model.parameters()).device.type == "cuda"
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [record["train_loss"] for record in history]
    assert len(losses) == 6 and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < 0.9 * losses[0]  # it learns (fp16 skips its first steps while the loss scale settles)


def test_a_cuda_bundle_predicts_the_same_on_cpu(
    demo_dir: Path, demo_frame: pd.DataFrame, fast_config: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    trained = _fit(demo_dir, fast_config, tmp_path / "run", "fp32")
    on_gpu = trained.predict_proba(demo_frame, base_dir=demo_dir)
    loaded = Predictor.load(trained.save(tmp_path / "bundle"))
    assert next(loaded.fitted.model.parameters()).device.type == "cpu"
    on_cpu = loaded.predict_proba(demo_frame, base_dir=demo_dir)
    assert on_gpu["error"].isna().all() and len(on_gpu) == len(demo_frame)
    assert (on_gpu["prediction"] == on_cpu["prediction"]).all()
    columns = [c for c in on_gpu.columns if c.startswith("proba_")]
    assert columns
    np.testing.assert_allclose(on_gpu[columns].to_numpy(float), on_cpu[columns].to_numpy(float), atol=1e-4)
