"""Contrastive losses of two towers: symmetric InfoNCE with several positives, and VSE++ hard negatives.

Rows of a batch that share a candidate (the five captions of one photo) carry the same group id.
The candidates are deduplicated by group first, so each query has exactly one positive candidate
and each candidate has as many positive queries as its group has rows; queries of one group are
never each other's negatives.

Legend: B batch, U distinct candidates (groups) in the batch, D width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def group_candidates(groups: Tensor) -> tuple[Tensor, Tensor]:
    """The first row of each distinct group and each row's group index.

    Args:
        groups: (B,) long group ids.

    Returns:
        ``first`` (U,) row index of each group's first row; ``inverse`` (B,) each row's group in 0..U-1.
    """
    unique, inverse = torch.unique(groups, return_inverse=True)
    rows = torch.arange(len(groups), device=groups.device)
    first = torch.full((len(unique),), len(groups), dtype=torch.long, device=groups.device)
    first = first.scatter_reduce(0, inverse, rows, reduce="amin")
    return first, inverse


def info_nce(query: Tensor, candidates: Tensor, positive: Tensor, scale: Tensor) -> Tensor:
    """Symmetric InfoNCE (CLIP, https://arxiv.org/abs/2103.00020) with several queries per candidate.

    Query to candidate is a cross-entropy over the U candidates; candidate to query is the
    negative log of the softmax mass on the candidate's own queries (all of them positives).

    Args:
        query: (B, D) L2-normalised query embeddings.
        candidates: (U, D) L2-normalised distinct candidate embeddings.
        positive: (B,) long, each query's candidate in 0..U-1.
        scale: scalar logit scale (1 / temperature).

    Returns:
        Scalar: the mean of the two directions.
    """
    logits = scale * query @ candidates.T  # (B, U)
    q2c = F.cross_entropy(logits, positive)
    mine = positive[None, :] == torch.arange(len(candidates), device=query.device)[:, None]  # (U, B)
    by_candidate = logits.T  # (U, B)
    log_all = torch.logsumexp(by_candidate, dim=1)
    log_pos = torch.logsumexp(by_candidate.masked_fill(~mine, float("-inf")), dim=1)
    c2q = (log_all - log_pos).mean()
    return (q2c + c2q) / 2


def hardest_negative_hinge(query: Tensor, candidates: Tensor, positive: Tensor, margin: float) -> Tensor:
    """VSE++ max-violation hinge (Faghri et al. 2018, https://arxiv.org/abs/1707.05612), both ways.

    Args:
        query: (B, D) L2-normalised query embeddings.
        candidates: (U, D) L2-normalised distinct candidate embeddings.
        positive: (B,) long, each query's candidate.
        margin: the hinge margin on cosine similarities.

    Returns:
        Scalar: the mean over queries of the hardest negative candidate's violation plus the mean
        over candidates of the hardest negative query's violation (against its weakest positive).
    """
    sims = query @ candidates.T  # (B, U)
    mine = positive[:, None] == torch.arange(len(candidates), device=query.device)[None, :]  # (B, U)
    own = sims.gather(1, positive[:, None])  # (B, 1)
    hard_c = sims.masked_fill(mine, float("-inf")).max(1, keepdim=True).values  # (B, 1)
    q2c = F.relu(margin + hard_c - own).nan_to_num(0.0, 0.0, 0.0)
    weakest = sims.masked_fill(~mine, float("inf")).min(0).values  # (U,)
    hard_q = sims.masked_fill(mine, float("-inf")).max(0).values  # (U,)
    c2q = F.relu(margin + hard_q - weakest).nan_to_num(0.0, 0.0, 0.0)
    return q2c.mean() + c2q.mean()
