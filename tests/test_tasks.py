"""Tasks end to end (regression, multi-label) on small generated tables, and the metric functions
on hand-computed examples."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from polyfuse import Predictor
from polyfuse.metrics import (
    classification_metrics,
    higher_is_better,
    multilabel_metrics,
    regression_metrics,
)
from polyfuse.tasks.multilabel import MultiLabels

ConfigFactory = Callable[..., dict[str, Any]]
FILLER = ["the", "a", "this", "that", "some", "very", "item", "looks", "rather", "quite"]


def _train_longer(config: dict[str, Any], epochs: int) -> dict[str, Any]:
    config["training"].update(epochs=epochs, batch_size=32, lr=1e-2, patience=None)
    return config


# ---------------------------------------------------------------------------- end to end
def test_regression_learns_a_numeric_target(tmp_path: Path, fast_config: ConfigFactory) -> None:
    rng = np.random.default_rng(0)
    n = 240
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    up = rng.random(n) < 0.5
    frame = pd.DataFrame(
        {
            "note": [" ".join([*rng.choice(FILLER, 3), "rising" if u else "falling"]) for u in up],
            "x1": x1.round(4),
            "x2": x2.round(4),
            "price": (10 + 3 * x1 - 2 * x2 + 2 * up + rng.normal(0, 0.3, n)).round(4),
        }
    )
    frame.iloc[:200].to_parquet(tmp_path / "train.parquet")
    frame.iloc[200:].to_parquet(tmp_path / "test.parquet")

    config = _train_longer(fast_config(label="price"), epochs=12)
    predictor = Predictor(config=config).fit(tmp_path / "train.parquet")
    assert predictor.fitted.schema.task == "regression"
    metrics = predictor.evaluate(tmp_path / "test.parquet")
    assert set(metrics) >= {"mean_absolute_error", "root_mean_squared_error", "r2_score"}
    assert metrics["r2_score"] > 0.5, metrics
    target = frame["price"].iloc[200:].to_numpy()
    assert metrics["root_mean_squared_error"] < target.std()

    out = predictor.predict(tmp_path / "test.parquet")
    assert out["prediction"].dtype.kind == "f"
    errors = out["prediction"].to_numpy() - target
    assert np.mean(np.abs(errors)) == pytest.approx(metrics["mean_absolute_error"], rel=1e-4)


def _tagged_frame(n: int, seed: int) -> tuple[pd.DataFrame, list[list[str]]]:
    """Each row has each tag with probability 0.4; the text names a cue word per tag present."""
    rng = np.random.default_rng(seed)
    cues = {"red": "crimson", "green": "leafy", "blue": "ocean"}
    texts, tags = [], []
    for _ in range(n):
        present = [t for t in cues if rng.random() < 0.4]
        words = [*rng.choice(FILLER, 4), *(cues[t] for t in present)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        tags.append(present)
    frame = pd.DataFrame({"text": texts, "size": rng.normal(size=n).round(3)})
    return frame, tags


def test_multilabel_beats_the_trivial_baseline(tmp_path: Path, fast_config: ConfigFactory) -> None:
    train, train_tags = _tagged_frame(240, seed=0)
    train["tags"] = ["|".join(t) for t in train_tags]  # delimited strings
    test, test_tags = _tagged_frame(80, seed=1)
    test["tags"] = test_tags  # lists, read back from JSONL
    test.to_json(tmp_path / "test.jsonl", orient="records", lines=True)

    config = _train_longer(fast_config(label="tags"), epochs=20)
    predictor = Predictor(config=config).fit(train)
    assert predictor.fitted.schema.task == "multilabel"
    assert predictor.fitted.target.classes_ == ["blue", "green", "red"]  # type: ignore[attr-defined]
    metrics = predictor.evaluate(tmp_path / "test.jsonl")

    truth = np.array([[tag in tags for tag in ("blue", "green", "red")] for tags in test_tags])
    prevalence = truth.mean()
    all_positive_f1 = 2 * prevalence / (1 + prevalence)  # the best constant prediction
    assert metrics["micro_f1_score"] > all_positive_f1 + 0.25, (metrics, all_positive_f1)
    assert metrics["mean_average_precision_score"] > prevalence + 0.3
    assert metrics["rows"] == 80 and metrics["bad_rows"] == 0

    out = predictor.predict(tmp_path / "test.jsonl", proba=True)
    predicted = np.array(
        [[tag in p.split("|") for tag in ("blue", "green", "red")] for p in out["prediction"].fillna("")]
    )
    proba = out[["proba_blue", "proba_green", "proba_red"]].to_numpy()
    np.testing.assert_array_equal(predicted, proba >= 0.5)


def test_multilabel_split_accepts_lists_delimited_strings_and_empty_cells() -> None:
    labels = MultiLabels("|").fit(["a|b", ["c"], "", None, "b | c"])
    assert labels.classes_ == ["a", "b", "c"]
    assert labels.encode("b|a").tolist() == [1.0, 1.0, 0.0]
    assert labels.encode(["c"]).tolist() == [0.0, 0.0, 1.0]
    assert labels.encode(float("nan")).tolist() == [0.0, 0.0, 0.0]


# ---------------------------------------------------------------------------- metric functions
def test_classification_metrics_by_hand() -> None:
    target = torch.tensor([0, 0, 1, 1, 2, 2])
    probs = torch.tensor(
        [
            [0.7, 0.2, 0.1],  # 0 -> 0
            [0.3, 0.6, 0.1],  # 0 -> 1
            [0.1, 0.8, 0.1],  # 1 -> 1
            [0.2, 0.5, 0.3],  # 1 -> 1
            [0.1, 0.1, 0.8],  # 2 -> 2
            [0.5, 0.1, 0.4],  # 2 -> 0
        ]
    )
    m = classification_metrics(probs, target, ["a", "b", "c"])
    assert m["accuracy_score"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # per class (precision, recall, F1): a (1/2, 1/2, 1/2), b (2/3, 1, 4/5), c (1, 1/2, 2/3)
    assert m["per_class"]["a"]["f1_score"] == pytest.approx(0.5)
    assert m["per_class"]["b"]["precision_score"] == pytest.approx(2 / 3)
    assert m["per_class"]["b"]["f1_score"] == pytest.approx(0.8)
    assert m["per_class"]["c"]["recall_score"] == pytest.approx(0.5)
    assert m["per_class"]["c"]["support"] == 2
    assert m["macro_f1_score"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["macro_precision_score"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert m["macro_recall_score"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    expected_log_loss = -np.mean(np.log([0.7, 0.3, 0.8, 0.5, 0.8, 0.4]))
    assert m["log_loss"] == pytest.approx(expected_log_loss, rel=1e-6)


def test_binary_roc_auc_by_hand() -> None:
    # positive scores 0.35, 0.8 vs negative 0.1, 0.4: 3 of 4 pairs ordered right -> AUC 0.75
    scores = torch.tensor([0.1, 0.4, 0.35, 0.8])
    probs = torch.stack([1 - scores, scores], dim=1)
    m = classification_metrics(probs, torch.tensor([0, 0, 1, 1]), ["no", "yes"])
    assert m["roc_auc_score"] == pytest.approx(0.75)
    assert m["accuracy_score"] == pytest.approx(0.75)  # 0.4 -> no, 0.35 -> no: one error
    one_class = classification_metrics(probs, torch.tensor([1, 1, 1, 1]), ["no", "yes"])
    assert one_class["roc_auc_score"] is None  # undefined, reported as missing rather than NaN


def test_regression_metrics_by_hand() -> None:
    m = regression_metrics(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 3.0, 2.0, 5.0]))
    # errors 0, -1, 1, -1; target mean 2.75, total sum of squares 8.75, residual 3
    assert m["mean_absolute_error"] == pytest.approx(0.75)
    assert m["root_mean_squared_error"] == pytest.approx(math.sqrt(0.75))
    assert m["r2_score"] == pytest.approx(1 - 3 / 8.75)
    perfect = regression_metrics(torch.tensor([2.0, 4.0]), torch.tensor([2.0, 4.0]))
    assert perfect == {"mean_absolute_error": 0.0, "root_mean_squared_error": 0.0, "r2_score": 1.0}


def test_multilabel_metrics_by_hand() -> None:
    probs = torch.tensor([[0.9, 0.2], [0.8, 0.7], [0.3, 0.6], [0.1, 0.4]])
    target = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=torch.float32)
    m = multilabel_metrics(probs, target, ["x", "y"])
    # x: ranked 0.9(+) 0.8(-) 0.3(+) 0.1(-) -> AP (1 + 2/3) / 2; y: 0.7(+) 0.6(+) -> AP 1
    assert m["mean_average_precision_score"] == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    # at 0.5: TP 3 (x row 0, y rows 1 and 2), FP 1 (x row 1), FN 1 (x row 2)
    assert m["micro_f1_score"] == pytest.approx(0.75)
    assert m["per_class"]["x"]["f1_score"] == pytest.approx(0.5)
    assert m["per_class"]["y"]["f1_score"] == pytest.approx(1.0)
    assert m["macro_f1_score"] == pytest.approx(0.75)
    assert m["exact_match_score"] == pytest.approx(0.5)
    assert m["per_class"]["x"]["support"] == 2


@pytest.mark.parametrize(
    ("name", "higher"),
    [("accuracy_score", True), ("r2_score", True), ("log_loss", False), ("mean_absolute_error", False)],
)
def test_metric_names_say_which_way_is_better(name: str, higher: bool) -> None:
    assert higher_is_better(name) is higher


def test_metric_without_direction_is_refused() -> None:
    with pytest.raises(ValueError, match="_score, _loss or _error"):
        higher_is_better("accuracy")
