"""The retrieval task: ranking metrics (cross-checked against torchmetrics), the grouped InfoNCE,
training end to end on a tiny picture/caption table, the bundle round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.retrieval import RetrievalHitRate, RetrievalMRR

from polyfuse import Predictor
from polyfuse.config.schema import ConfigError
from polyfuse.data.batch import Batch
from polyfuse.model import Fused
from polyfuse.retrieval.loss import group_candidates, hardest_negative_hinge, info_nce
from polyfuse.retrieval.ranking import candidate_ranks, query_ranks, retrieval_metrics
from polyfuse.tasks import ModelDims, concat_outputs, create_task, parse_task_config


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


# ---------------------------------------------------------------------- the task contract
def test_contract_steps_metrics_and_frame_on_a_hand_made_fused_record() -> None:
    """What tests/contracts/test_tasks.py (on main) checks, with its fixture for retrieval:
    ``TaskFixture(lambda n: [{"image": f"img{i % 3}.png"} for i in range(n)],
    {"query": ["text"], "candidates": ["image"]}, label=None)``."""
    config = parse_task_config({"type": "retrieval", "query": ["text"], "candidates": ["image"]})
    from polyfuse.tasks import task_class

    cls = task_class("retrieval")
    assert cls.target_columns(config, None) == [] and not cls.needs_fusion(config)
    target = cls.create_target(config, [], "|")
    rows = [{"image": f"img{i % 3}.png", "text": f"t{i}"} for i in range(6)]
    target.fit([target.value(r) for r in rows])
    task = create_task(config, ModelDims(None, {"image": 6, "text": 5}), target)

    def step(start: int, size: int) -> tuple[Fused, Batch]:
        gen = torch.Generator().manual_seed(start)
        pooled = {"image": torch.randn(size, 6, generator=gen), "text": torch.randn(size, 5, generator=gen)}
        present = {n: torch.ones(size, dtype=torch.bool) for n in pooled}
        fused = Fused(None, pooled, {}, {}, {}, present)
        groups = target.collate([target.encode(target.value(r)) for r in rows[start : start + size]])
        return fused, Batch({}, present, groups, torch.arange(start, start + size))

    terms = task.train().training_step(*step(0, 6))
    sum(terms.values()).backward()  # type: ignore[union-attr]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in task.parameters())
    task.eval()
    with torch.no_grad():
        outputs = concat_outputs([task.validation_step(*step(s, 3)) for s in (0, 3)])
        metrics = task.metrics(outputs)
        frame = task.to_frame(concat_outputs([task.predict_step(*step(s, 3)) for s in (0, 3)]))
    assert metrics["candidates"] == 3 and 0 <= metrics["mean_recall_score"] <= 1
    assert len(frame) == 6 and frame.columns[0] == "prediction"
    fresh = cls.create_target(config, target.columns, "|")
    fresh.set_state(json.loads(json.dumps(target.get_state())))
    assert torch.equal(fresh.encode(fresh.value(rows[1])), target.encode(target.value(rows[4])))
