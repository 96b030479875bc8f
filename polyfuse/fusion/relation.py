"""Relation network (Santoro et al. 2017): an MLP over every pair of objects, conditioned on the rest."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import ModalityProjection, TokenProjection, masked_mean
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class RelationFusionConfig(FusionConfig):
    """Options of :class:`RelationFusion`."""

    regions: str | None = Field(
        None,
        description="input (its column name) whose tokens are the objects (e.g. image regions),"
        " conditioned on the other inputs; none: the tokens of every input are objects, no condition",
    )
    hidden_dim: int = Field(32, ge=1, description="width objects and conditioning vectors are projected to")
    relation_dim: int = Field(64, ge=1, description="width of the relation MLP g and of the output")
    g_layers: int = Field(
        2, ge=1, le=8, description="linear layers of g, the first split per argument (the paper has 4)"
    )
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout in the readout MLP f")


@register_fusion("relation", RelationFusionConfig)
class RelationFusion(Fusion):
    """Relation network: ``f(mean_{i,j} g(o_i, o_j, q))`` over every pair of real objects.

    With ``regions`` set, the objects are that input's tokens (image regions: CNN cells, patches)
    and ``q`` is the concatenation of the other inputs, each mean-pooled over its tokens and
    projected (absent: a learned "missing" vector), as the paper conditions on the question. Without
    it, the objects are the tokens of every input, tagged with a learned modality embedding, so
    pairs across inputs carry the cross-modal relations, and there is no ``q``. ``g``'s first layer
    is split into one projection per argument, computed once per object and broadcast over the
    pairs: ``W [o_i; o_j; q] = W_l o_i + W_r o_j + W_q q``, the paper's MLP over the concatenation
    at ``T`` instead of ``T^2`` first-layer products; ``g_layers - 1`` more layers follow. The paper
    sums over pairs; the mean keeps the scale independent of the token count. A row with no real
    object gets ``g(e, q)`` for a learned "empty" pair ``e``, so ``q`` still counts.
    Paper: https://arxiv.org/abs/1706.01427

    Shapes: embeddings ``{m: (B, T_m, D_m)}``, masks ``{m: (B, T_m)}`` -> ``(B, relation_dim)``.
    Legend: B batch, T tokens (objects), D width, M modalities.
    """

    input_kind = "tokens"

    def __init__(self, modality_dims: dict[str, int], config: RelationFusionConfig) -> None:
        super().__init__(modality_dims, config)
        if config.regions is not None and config.regions not in self.modality_dims:
            raise ValueError(f"relation regions {config.regions!r} is not an input; inputs: {self.names}")
        self.regions = config.regions
        hidden, relation = config.hidden_dim, config.relation_dim
        objects = {config.regions: modality_dims[config.regions]} if config.regions else self.modality_dims
        self.objects = TokenProjection(objects, hidden)
        self.context = [n for n in self.names if config.regions and n != config.regions]
        self.condition = (
            ModalityProjection({n: self.modality_dims[n] for n in self.context}, hidden)
            if self.context
            else None
        )
        self.left, self.right = nn.Linear(hidden, relation), nn.Linear(hidden, relation, bias=False)
        self.question = nn.Linear(hidden * len(self.context), relation, bias=False) if self.context else None
        layers: list[nn.Module] = [nn.ReLU()]
        for _ in range(config.g_layers - 1):
            layers += [nn.Linear(relation, relation), nn.ReLU()]
        self.g = nn.Sequential(*layers)  # g's layers after the split first one
        self.empty = nn.Parameter(torch.zeros(relation))
        self.f = nn.Sequential(nn.Linear(relation, relation), nn.ReLU(), nn.Dropout(config.dropout))
        self.output_dim = relation

    def _question(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor | None:
        """The condition's share of g's first layer: (B, R), or None without a condition."""
        if self.condition is None or self.question is None:
            return None
        pooled = {n: masked_mean(embeddings[n], present[n]) for n in self.context}
        rows = {n: present[n].any(dim=1) for n in self.context}
        return self.question(self.condition(pooled, rows).flatten(1))  # type: ignore[no-any-return]

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        names = [self.regions] if self.regions else self.names
        objects, mask = self.objects({n: embeddings[n] for n in names}, {n: present[n] for n in names})
        pairs = self.left(objects).unsqueeze(2) + self.right(objects).unsqueeze(1)  # (B, T, T, R)
        empty = self.empty.expand(objects.shape[0], -1)  # (B, R)
        question = self._question(embeddings, present)
        if question is not None:
            pairs, empty = pairs + question[:, None, None, :], empty + question
        pair_mask = (mask.unsqueeze(2) & mask.unsqueeze(1)).flatten(1)  # (B, T * T)
        relations = self.g(pairs).flatten(1, 2)  # (B, T * T, R)
        pooled = masked_mean(relations, pair_mask)  # (B, R)
        pooled = torch.where(pair_mask.any(dim=1, keepdim=True), pooled, self.g(empty))
        return self.f(pooled)  # (B, R)
