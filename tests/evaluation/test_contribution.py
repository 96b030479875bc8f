"""Exact Shapley values over modalities: the axioms on hand-made games, and a trained model."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
import torch
from torch import nn

from polyfuse import Predictor
from polyfuse.encoders.base import EncoderOutput
from polyfuse.evaluation import modality_contribution, shapley_values

NAMES = ["audio", "image", "tabular", "text"]


def test_additive_game_gives_each_player_its_weight() -> None:
    weights = {"audio": 0.1, "image": 0.3, "tabular": -0.05, "text": 0.2}
    values = shapley_values(NAMES, lambda s: 0.25 + sum(weights[n] for n in s))
    assert values == pytest.approx(weights)


def test_efficiency_symmetry_and_null_player_on_a_random_game() -> None:
    rng = random.Random(0)
    table = {frozenset(s): rng.random() for k in range(4) for s in itertools.combinations(NAMES[:3], k)}

    def value(coalition: frozenset[str]) -> float:
        return table[coalition - {"text"}]  # "text" never changes the value

    values = shapley_values(NAMES, value)
    assert sum(values.values()) == pytest.approx(value(frozenset(NAMES)) - value(frozenset()))
    assert values["text"] == pytest.approx(0.0)
    # symmetric players (interchangeable in every coalition) get equal values
    sym = shapley_values(["a", "b", "c"], lambda s: float(len(s & {"a", "b"}) == 2) + 0.1 * ("c" in s))
    assert sym["a"] == pytest.approx(sym["b"]) == pytest.approx(0.5)
    assert sym["c"] == pytest.approx(0.1)


def test_too_many_players_are_refused() -> None:
    with pytest.raises(ValueError, match="2\\^13"):
        shapley_values([str(i) for i in range(13)], lambda s: 0.0)


class ZeroEncoder(nn.Module):
    """An encoder that ignores its input: zeros of the width the fusion expects."""

    def __init__(self, output_dim: int) -> None:
        super().__init__()
        self.output_dim = output_dim

    def forward(self, x: dict[str, torch.Tensor]) -> EncoderOutput:
        rows = next(iter(x.values())).shape[0]
        return EncoderOutput(torch.zeros(rows, self.output_dim))


def test_trained_model_contributions(trained: Any) -> None:
    predictor = Predictor.load(trained.bundle)
    table = trained.data_dir / "table.csv"
    result = modality_contribution(predictor, table)
    names = ["description", "photo", "sound", "tabular"]
    assert list(result["shapley"]) == names
    assert sum(result["shapley"].values()) == pytest.approx(result["full_score"] - result["empty_score"])
    assert result["full_score"] == pytest.approx(predictor.evaluate(table)["accuracy_score"])

    # by hand: the photo encoder outputs zeros and concat's "missing" vector for photo is zeros too,
    # so a present and an absent photo look alike to the rest of the model: it ignores the photo
    model = predictor.fitted.model
    assert model.fusion.config.type == "concat"
    model.encoders["photo"] = ZeroEncoder(model.encoders["photo"].output_dim)
    with torch.no_grad():
        model.fusion.missing["photo"].zero_()
    blind = modality_contribution(predictor, table)
    assert blind["shapley"]["photo"] == pytest.approx(0.0, abs=1e-9)
    assert blind["ablation"]["photo"] == pytest.approx(0.0, abs=1e-9)
    assert blind["alone"]["photo"] == pytest.approx(0.0, abs=1e-9)
    assert sum(blind["shapley"].values()) == pytest.approx(blind["full_score"] - blind["empty_score"])
