"""Ranking metrics of cross-modal retrieval: recall at K, median rank and MRR, in both directions.

The protocol of Karpathy and Fei-Fei 2015 (https://arxiv.org/abs/1412.2306) when a candidate has
several queries (the five captions of one photo): query to candidate ranks each query's one
candidate among every distinct candidate; candidate to query ranks, for each candidate, the first
of its queries among every query. Ranks start at 1; a tie counts in the query's favour.

A leaf module (torch only): the retrieval task, the evaluation report and the benchmarks use it.

Legend: Q queries, C distinct candidates, D width.
"""

from __future__ import annotations

import torch
from torch import Tensor

KS = (1, 5, 10)
"""The K of the recall at K the metrics report."""
CHUNK = 1024
"""Rows of the similarity matrix computed at a time (bounds memory on large splits)."""


def query_ranks(query: Tensor, candidates: Tensor, positive: Tensor) -> Tensor:
    """Rank of each query's one positive candidate.

    Args:
        query: (Q, D) query embeddings.
        candidates: (C, D) candidate embeddings (distinct candidates).
        positive: (Q,) long, the index in ``candidates`` of each query's candidate.

    Returns:
        (Q,) long ranks, 1 = the candidate scored highest.
    """
    ranks = []
    for start in range(0, len(query), CHUNK):
        sims = query[start : start + CHUNK].float() @ candidates.float().T  # (q, C)
        pos = positive[start : start + CHUNK]
        own = sims.gather(1, pos[:, None])  # (q, 1)
        ranks.append((sims > own).sum(1) + 1)
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def candidate_ranks(query: Tensor, candidates: Tensor, positive: Tensor) -> Tensor:
    """Rank of the first correct query of each candidate among every query.

    Args:
        query: (Q, D) query embeddings.
        candidates: (C, D) candidate embeddings.
        positive: (Q,) long, the candidate of each query.

    Returns:
        (C,) long ranks; a candidate without any query gets rank Q + 1.
    """
    ranks = []
    for start in range(0, len(candidates), CHUNK):
        block = candidates[start : start + CHUNK].float()
        sims = block @ query.float().T  # (c, Q)
        ids = torch.arange(start, start + len(block), device=sims.device)
        mine = positive[None, :] == ids[:, None]  # (c, Q) True for the candidate's own queries
        best = sims.masked_fill(~mine, float("-inf")).max(1, keepdim=True).values  # (c, 1)
        above = ((sims > best) & ~mine).sum(1)
        ranks.append(torch.where(mine.any(1), above + 1, torch.full_like(above, len(query) + 1)))
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def rank_metrics(ranks: Tensor, prefix: str) -> dict[str, float]:
    """``{prefix}_recall_at_{K}_score``, ``{prefix}_mrr_score`` and ``{prefix}_median_rank_error``."""
    if len(ranks) == 0:
        return {}
    r = ranks.double()
    metrics = {f"{prefix}_recall_at_{k}_score": float((r <= k).double().mean()) for k in KS}
    metrics[f"{prefix}_mrr_score"] = float((1.0 / r).mean())
    metrics[f"{prefix}_median_rank_error"] = float(r.median())
    return metrics


def retrieval_metrics(query: Tensor, candidates: Tensor, positive: Tensor) -> dict[str, float]:
    """Both directions' metrics and ``mean_recall_score`` (the mean of the six recalls).

    Args:
        query: (Q, D) query embeddings (L2-normalised for cosine similarity).
        candidates: (C, D) distinct candidate embeddings.
        positive: (Q,) long, the candidate of each query.

    Returns:
        ``q2c_*`` (query to candidate) and ``c2q_*`` (candidate to query) metrics, fractions in [0, 1].
    """
    metrics = rank_metrics(query_ranks(query, candidates, positive), "q2c")
    metrics.update(rank_metrics(candidate_ranks(query, candidates, positive), "c2q"))
    recalls = [v for k, v in metrics.items() if "_recall_at_" in k]
    metrics["mean_recall_score"] = sum(recalls) / len(recalls) if recalls else 0.0
    return metrics


def recall_curve(ranks: Tensor, max_k: int = 50) -> list[float]:
    """Recall at K for K = 1..``max_k`` (for the report's curves)."""
    r = ranks.double()
    return [float((r <= k).double().mean()) if len(r) else 0.0 for k in range(1, max_k + 1)]
