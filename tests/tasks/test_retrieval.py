"""The retrieval task: ranking metrics (cross-checked against torchmetrics), the grouped InfoNCE,
training end to end on a tiny picture/caption table, the bundle round trip."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.retrieval import RetrievalHitRate, RetrievalMRR

from polyfuse import Predictor
from polyfuse.config.schema import ConfigError
from polyfuse.retrieval.loss import group_candidates, hardest_negative_hinge, info_nce
from polyfuse.retrieval.ranking import candidate_ranks, query_ranks, retrieval_metrics


# ---------------------------------------------------------------------- metrics
def _torchmetrics(sims: torch.Tensor, relevant: torch.Tensor, k: int | None) -> float:
    indexes = torch.arange(sims.shape[0])[:, None].expand_as(sims)
    sims = sims + 2  # torchmetrics 1.9's MRR scores a relevant item with a negative score as 0
    metric = RetrievalMRR() if k is None else RetrievalHitRate(top_k=k)
    return float(metric(sims.flatten(), relevant.flatten(), indexes=indexes.flatten()))


def test_ranks_match_torchmetrics_both_directions() -> None:
    gen = torch.Generator().manual_seed(0)
    candidates = F.normalize(torch.randn(7, 8, generator=gen), dim=-1)
    positive = torch.arange(21) % 7  # three queries per candidate
    query = F.normalize(candidates[positive] + 0.9 * torch.randn(21, 8, generator=gen), dim=-1)
    metrics = retrieval_metrics(query, candidates, positive)
    sims = query @ candidates.T  # (Q, C)
    relevant = positive[:, None] == torch.arange(7)[None, :]
    for k in (1, 5):
        assert metrics[f"q2c_recall_at_{k}_score"] == pytest.approx(_torchmetrics(sims, relevant, k))
        assert metrics[f"c2q_recall_at_{k}_score"] == pytest.approx(_torchmetrics(sims.T, relevant.T, k))
    assert metrics["q2c_mrr_score"] == pytest.approx(_torchmetrics(sims, relevant, None))
    assert metrics["c2q_mrr_score"] == pytest.approx(_torchmetrics(sims.T, relevant.T, None))
    assert 0 < metrics["q2c_recall_at_1_score"] < 1  # the check is not vacuous


def test_ranks_by_hand() -> None:
    candidates = torch.eye(3)
    query = torch.tensor([[1.0, 0, 0], [0, 0.2, 1], [0, 0.9, 0.1], [0.5, 0.6, 0]])
    positive = torch.tensor([0, 1, 1, 2])
    assert query_ranks(query, candidates, positive).tolist() == [1, 2, 1, 3]
    # candidate 1's queries are rows 1 and 2; row 2 (0.9) is first: no negative above it
    # candidate 2's one query (row 3, score 0) is below rows 1 (1.0) and 2 (0.1): rank 3
    assert candidate_ranks(query, candidates, positive).tolist() == [1, 1, 3]
    metrics = retrieval_metrics(query, candidates, positive)
    assert metrics["q2c_median_rank_error"] == 1.0  # lower median of [1, 1, 2, 3]
    assert metrics["c2q_recall_at_1_score"] == pytest.approx(2 / 3)


# ---------------------------------------------------------------------- loss
def test_info_nce_does_not_treat_a_candidates_queries_as_negatives() -> None:
    groups = torch.tensor([5, 9, 5, 7])
    first, positive = group_candidates(groups)
    assert first.tolist() == [0, 3, 1] and positive.tolist() == [0, 2, 0, 1]
    query = F.normalize(torch.randn(4, 6), dim=-1)
    candidates = F.normalize(torch.randn(3, 6), dim=-1)
    scale = torch.tensor(10.0)
    logits = scale * query @ candidates.T
    q2c = F.cross_entropy(logits, positive)
    # candidate 0's two queries are both positives: -log of their summed softmax mass
    col = torch.log_softmax(logits.T, dim=1)  # (U, B)
    c2q = -(torch.logsumexp(col[0, [0, 2]], 0) + col[1, 3] + col[2, 1]) / 3
    assert float(info_nce(query, candidates, positive, scale)) == pytest.approx(float((q2c + c2q) / 2))


def test_hard_negative_hinge_is_zero_when_separated_by_the_margin() -> None:
    candidates = torch.eye(3)
    positive = torch.tensor([0, 1, 2, 2])
    assert float(hardest_negative_hinge(candidates[positive], candidates, positive, 0.2)) == 0.0
    mixed = F.normalize(candidates[positive] + 0.8 * candidates[[1, 2, 0, 0]], dim=-1)
    assert float(hardest_negative_hinge(mixed, candidates, positive, 0.2)) > 0.0


def test_sides_must_differ() -> None:
    with pytest.raises(ConfigError, match="both sides"):
        Predictor(task={"type": "retrieval", "query": ["a"], "candidates": ["a", "b"]})


# ---------------------------------------------------------------------- training end to end
def test_trains_and_ranks_every_candidate_first(retrieval_bundle: tuple[Path, Path]) -> None:
    root, bundle = retrieval_bundle
    predictor = Predictor.load(bundle)
    fitted = predictor.fitted
    assert [s.name for s in fitted.inputs] == ["caption", "photo"]  # ``split`` is no input
    assert fitted.schema.label is None and fitted.target is not None
    valid = fitted.metrics["valid"]
    assert valid["queries"] == 36 and valid["candidates"] == 12
    # chance is 1/12 for a caption's photo and 3/36 for a photo's first caption
    assert valid["q2c_recall_at_1_score"] >= 0.75
    assert valid["c2q_recall_at_1_score"] >= 0.75
    assert fitted.metrics["monitor"] == "mean_recall_score"
    history = fitted.metrics["history"]
    assert history[-1]["train_task_loss"] < history[0]["train_task_loss"]
    again = predictor.evaluate(root / "table.csv")
    assert again["mean_recall_score"] == pytest.approx(valid["mean_recall_score"])


def test_predict_names_the_best_candidate_row(retrieval_bundle: tuple[Path, Path]) -> None:
    root, bundle = retrieval_bundle
    frame = Predictor.load(bundle).predict(root / "table.csv")
    table = pd.read_csv(root / "table.csv")
    assert list(frame.columns[:3]) == ["row", "prediction", "score"]
    hits = [table.photo[int(p)] == table.photo[r] for r, p in zip(frame.row, frame.prediction, strict=True)]
    assert sum(hits) / len(hits) >= 0.75
