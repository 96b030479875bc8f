"""Question-led attention hops: find the object the question names, then relate every object to it."""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from polyfuse.encoders._layers import coordinate_map
from polyfuse.fusion._layers import TokenProjection
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig
from polyfuse.layers import masked_mean, masked_softmax, zero_absent


class HopsFusionConfig(FusionConfig):
    """Options of :class:`HopsFusion`."""

    regions: str | None = Field(
        None,
        description="input (its column name) whose tokens are the objects (e.g. image regions), asked"
        " about by the other inputs; none: the tokens of every input are objects, asked by a learned query",
    )
    hidden_dim: int = Field(64, ge=1, description="width of queries, keys and values (and of the output)")
    heads: int = Field(
        4, ge=1, le=16, description="second-hop heads of each kind (softmax reads, count gates)"
    )
    distance: float = Field(
        10.0,
        ge=0.0,
        description="scale of the second hop's distance bias: a learned multiple (per head and row) of"
        " each object's squared distance to the first hop's object, when the objects have positions (a"
        " square row-major grid of CNN cells or ViT patches, or positions: tokens); 0 = none",
    )
    max_count: int = Field(16, ge=1, le=256, description="counts are read as classes 0 to max_count")
    count_sharpness: float = Field(5.0, gt=0.0, description="count gates' logits are scaled by this")
    positions: Literal["grid", "tokens"] = Field(
        "grid",
        description="where the objects are: grid (the centres of a square row-major grid of tokens) or"
        " tokens (the positions the regions encoder declares for its tokens, as image/cells does)",
    )
    mark_subject: bool = Field(
        True,
        description="hop 2's keys also carry each object's hop-1 weight, so that 'an object other than"
        " the named one' is one feature (the named object is its own closest)",
    )
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout after the output layer")

    @model_validator(mode="after")
    def _token_positions_need_regions(self) -> HopsFusionConfig:
        if self.positions == "tokens" and self.regions is None:
            raise ValueError("hops positions 'tokens' needs regions: the objects' tokens carry their x and y")
        return self


@register_fusion("hops", HopsFusionConfig)
class HopsFusion(Fusion):
    """Two attention hops led by the question: what is asked about, then how every object relates to it.

    The objects ``o_j`` are the ``regions`` input's tokens as the encoder gives them, each with
    its position ``p_j`` appended: its cell centre when the tokens are a square row-major grid
    (zeros otherwise), or with ``positions: tokens`` the positions the ``regions`` encoder declares
    for its tokens (``EncoderOutput.positions``: an encoder that places objects more finely than a
    grid, as ``image/cells``);
    ``q`` is the other inputs (the question, audio), each mean-pooled over its tokens and joined
    (zeros for an absent one). Every query, key and value is one linear map of these. Hop 1:
    ``s = sum_j softmax_j(q' k_j) [o_j; p_j]``, the object the question names ("the red object")
    and where it is. Hop 2, asked by ``[q; s]`` with keys ``[o_j; p_j; |p_j|^2; a_j]`` (``a_j``
    hop 1's weight on object j, with ``mark_subject``: the named object is its own closest, and
    one key feature sets it apart): ``heads`` softmax heads read one object each
    (the closest to ``s``, the furthest, ...), their logits biased by
    ``distance * r_h([q; s]) * |p_j - p_s|^2`` (geometric attention, as in Hu et al. 2018's
    relation module, https://arxiv.org/abs/1711.11575); and ``heads`` sigmoid gates whose sums
    over the objects are counts ("how many share its shape"), expanded on a triangular basis at
    0, 1, ..., max_count so that the output reads a count like a class (the piecewise-linear
    count features of Zhang et al. 2018, https://arxiv.org/abs/1802.05766). Dot-product logits
    make "the object whose colour the question names" a product of question and object features,
    which an MLP over their sum (a relation network's g) learns far more slowly; stacked
    question-led attention is Yang et al. 2016's (https://arxiv.org/abs/1511.02274). Output:
    ``dropout(ReLU(W [q; s; reads; counts]))``.

    Shapes: embeddings ``{m: (B, T_m, D_m)}``, masks ``{m: (B, T_m)}`` -> ``(B, hidden_dim)``.
    Legend: B batch, T objects, D width, H heads.
    """

    input_kind = "tokens"
    reads_positions = True

    def __init__(self, modality_dims: dict[str, int], config: HopsFusionConfig) -> None:
        super().__init__(modality_dims, config)
        if config.regions is not None and config.regions not in self.modality_dims:
            raise ValueError(f"hops regions {config.regions!r} is not an input; inputs: {self.names}")
        self.regions = config.regions
        dim, heads = config.hidden_dim, config.heads
        # every query, key and value is one linear map of the inputs as the encoders give them: with
        # a projection in front of each (a product of two small maps at initialisation), the probe's
        # relational accuracy after 2,190 steps was 0.35 instead of 0.87 (docs/cognition.md)
        self.objects = None if config.regions else TokenProjection(self.modality_dims, dim)
        width = modality_dims[config.regions] if config.regions else dim  # an object's width
        self.context = [n for n in self.names if config.regions and n != config.regions]
        asks = sum(self.modality_dims[n] for n in self.context) or dim  # the question's width
        self.learned_question = None if self.context else nn.Parameter(torch.zeros(dim))
        self.query1, self.key1 = nn.Linear(asks, dim), nn.Linear(width + 2, dim)
        asked = asks + width + 2  # [q; s; p_s]
        keyed = width + 3 + int(config.mark_subject)  # [o_j; p_j; |p_j|^2 (; hop-1 weight)]
        self.query2, self.key2 = nn.Linear(asked, dim * heads), nn.Linear(keyed, dim * heads)
        self.count_query, self.count_key = nn.Linear(asked, dim * heads), nn.Linear(keyed, dim * heads)
        self.value = nn.Linear(width, dim)
        self.reach = nn.Linear(asked, heads) if config.distance else None
        mixed = asks + width + heads * (dim + config.max_count + 1)
        self.out = nn.Sequential(nn.Linear(mixed, dim), nn.ReLU(), nn.Dropout(config.dropout))
        self.levels = config.max_count + 1  # counts are read at 0, 1, ..., max_count
        self.output_dim = dim

    def _question(self, embeddings: dict[str, Tensor], present: dict[str, Tensor], batch: int) -> Tensor:
        """The asking vector ``q``: the other inputs mean-pooled and joined (zeros for an absent one),
        or a learned vector without them: (B, sum D_m)."""
        if self.learned_question is not None:
            return self.learned_question.expand(batch, -1)
        return torch.cat([masked_mean(embeddings[n], present[n]) for n in self.context], 1)

    def attend(
        self,
        embeddings: dict[str, Tensor],
        present: dict[str, Tensor],
        positions: dict[str, Tensor] | None = None,
    ) -> HopWeights:
        """Both hops' attention for a batch (also what to look at to see where a model looks).

        ``positions``: ``{input: (B, T, 2)}`` the tokens' (x, y) that encoders declare (needed with
        ``positions: tokens``, read for the ``regions`` input)."""
        config = self.config
        assert isinstance(config, HopsFusionConfig)
        if self.objects is None:
            assert self.regions is not None
            mask = present[self.regions]
            objects = zero_absent(embeddings[self.regions], mask)  # (B, T, D)
        else:
            objects, mask = self.objects(embeddings, present)
        batch, count, _ = objects.shape
        dim, heads = config.hidden_dim, config.heads
        if config.positions == "tokens":
            assert self.regions is not None  # the config validator requires regions
            if positions is None or self.regions not in positions:
                raise ValueError(
                    f"hops positions 'tokens' needs the {self.regions!r} encoder to declare its tokens'"
                    " positions (EncoderOutput.positions), as image/cells does"
                )
            where = positions[self.regions].to(objects.dtype)  # (B, T, 2)
        else:  # zeros unless a square grid
            where = grid_centres(count, objects).expand(batch, -1, -1)  # (B, T, 2)
        q = self._question(embeddings, present, batch)  # (B, Q)
        placed = torch.cat([objects, where], 2)  # (B, T, D + 2)
        keyed = torch.cat([placed, where.pow(2).sum(2, keepdim=True)], 2)  # (B, T, D + 3)
        first = masked_softmax(
            torch.einsum("bd,btd->bt", self.query1(q), self.key1(placed)) / math.sqrt(dim), mask
        )  # (B, T)
        subject = torch.einsum("bt,btd->bd", first, placed)  # (B, D + 2): features, then (x, y)
        if config.mark_subject:
            keyed = torch.cat([keyed, first.unsqueeze(2)], 2)  # (B, T, D + 4)
        asked = torch.cat([q, subject], 1)
        logits = _per_head(self.query2(asked), self.key2(keyed), heads) / math.sqrt(dim)  # (B, T, H)
        if self.reach is not None:  # gap is zero where the objects have no grid layout
            gap = (where - subject[:, None, -2:]).pow(2).sum(2, keepdim=True)  # (B, T, 1)
            logits = logits + config.distance * self.reach(asked)[:, None] * gap
        gates = _per_head(self.count_query(asked), self.count_key(keyed), heads)
        gates = torch.sigmoid(config.count_sharpness * gates / math.sqrt(dim)) * mask.unsqueeze(2)
        second = masked_softmax(logits, mask.unsqueeze(2), dim=1)  # (B, T, H)
        return HopWeights(objects, q, first, subject, second, gates)

    def forward(
        self,
        embeddings: dict[str, Tensor],
        present: dict[str, Tensor],
        positions: dict[str, Tensor] | None = None,
    ) -> Tensor:
        hops = self.attend(embeddings, present, positions)
        reads = torch.einsum("bth,btd->bhd", hops.second, self.value(hops.objects)).flatten(1)  # (B, H * D)
        counts = hops.gates.sum(1)  # (B, H)
        levels = torch.arange(self.levels, device=counts.device, dtype=counts.dtype)
        counts = (1 - (counts.unsqueeze(2) - levels).abs()).clamp(min=0).flatten(1)  # (B, H * levels)
        mixed = torch.cat([hops.question, hops.subject[:, :-2], reads, counts], 1)
        return self.out(mixed)  # type: ignore[no-any-return]


class HopWeights(NamedTuple):
    """What :meth:`HopsFusion.attend` computed for a batch."""

    objects: Tensor
    """(B, T, D): the objects (padding zeroed)."""
    question: Tensor
    """(B, Q): the asking vector."""
    first: Tensor
    """(B, T): hop 1's weights, on the object the question names."""
    subject: Tensor
    """(B, D + 2): hop 1's read, the named object's features then its (x, y)."""
    second: Tensor
    """(B, T, H): hop 2's softmax weights, per head."""
    gates: Tensor
    """(B, T, H): hop 2's count gates, zero on padding; their sums over T are the counts."""


def _per_head(queries: Tensor, keys: Tensor, heads: int) -> Tensor:
    """Dot products per head (unscaled): queries (B, H * D), keys (B, T, H * D) -> (B, T, H)."""
    batch, count, width = keys.shape
    return torch.einsum(
        "bhd,bthd->bth",
        queries.view(batch, heads, width // heads),
        keys.view(batch, count, heads, width // heads),
    )


def grid_centres(count: int, like: Tensor) -> Tensor:
    """Centres (x, y), -1 to 1, of ``count`` tokens laid out row-major on a square grid: (T, 2);
    zeros when ``count`` is not a square (the tokens carry no known layout)."""
    side = math.isqrt(count)
    if side * side != count or side < 2:
        return like.new_zeros(count, 2)
    return coordinate_map(side, side, like).flatten(1).T.contiguous()  # the CNN encoder's token centres
