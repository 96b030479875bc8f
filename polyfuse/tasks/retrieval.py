"""Cross-modal retrieval: two towers, projections into one space, symmetric InfoNCE (CLIP).

``model.task: {type: retrieval, query: [caption], candidates: [photo]}``: any two disjoint groups
of columns of any modality. Each side is its inputs' encoders, a fusion of them when the side has
several (built here with :func:`polyfuse.fusion.create_fusion` on the pooled vectors; the model
builds none), and a projection into a shared, L2-normalised space. The loss is a symmetric InfoNCE
with a learned temperature (Radford et al. 2021, https://arxiv.org/abs/2103.00020); rows that share a
candidate are one group, so the five captions of a photo are not each other's negatives; an optional
VSE++ hard-negative term (Faghri et al. 2018) adds weight on the hardest in-batch negatives.

There is no label: the target is a group id that :class:`CandidateGroups` derives from each row's
candidate cells (which are inputs too). Frozen pretrained towers (``text/minilm``,
``image/efficientnet_lite0``, a CLIP pair from a local checkpoint) train only their projections (LiT,
https://arxiv.org/abs/2111.07991), their pooled vectors read from the embedding cache.

Legend: B batch, U distinct candidates, D width (``embed_dim``), D_m an input's width.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from torch import Tensor, nn

from polyfuse.data.batch import Batch
from polyfuse.data.processors.base import BadValueError, is_missing
from polyfuse.data.schema import TABULAR
from polyfuse.data.targets import TargetProcessor
from polyfuse.retrieval.loss import group_candidates, hardest_negative_hinge, info_nce
from polyfuse.retrieval.ranking import retrieval_metrics
from polyfuse.tasks._registry import register_task
from polyfuse.tasks.base import ModelDims, StepOutputs, Task, TaskConfig

if TYPE_CHECKING:
    from polyfuse.model import Fused

Side = Literal["query", "candidate"]
SIDES: tuple[Side, Side] = ("query", "candidate")


class RetrievalConfig(TaskConfig):
    """Options of the retrieval task."""

    query: list[str] = Field(min_length=1, description="the query side's columns (e.g. [caption])")
    candidates: list[str] = Field(min_length=1, description="the candidate side's columns (e.g. [photo])")
    embed_dim: int = Field(256, ge=2, description="width of the shared embedding space")
    hidden_dim: int = Field(0, ge=0, description="hidden width of each projection MLP; 0 = linear")
    fusion: dict[str, Any] = Field(
        default_factory=lambda: {"type": "concat"},
        description="fusion of a side's inputs when it has several (a pooled-vector fusion)",
    )
    temperature: float = Field(0.07, gt=0, description="initial softmax temperature of the InfoNCE")
    learn_temperature: bool = Field(True, description="learn the temperature (clamped at 1/100)")
    hard_negatives: float = Field(
        0.0, ge=0, description="weight of the VSE++ hardest-negative hinge term; 0 = off"
    )
    margin: float = Field(0.2, ge=0, description="margin of the hard-negative hinge")

    @field_validator("fusion")
    @classmethod
    def _check_fusion(cls, value: dict[str, Any]) -> dict[str, Any]:
        from polyfuse.fusion import parse_fusion_config

        return parse_fusion_config(value).model_dump()

    @model_validator(mode="after")
    def _disjoint(self) -> RetrievalConfig:
        shared = sorted(set(self.query) & set(self.candidates))
        if shared:
            raise ValueError(f"columns {shared} are on both sides; query and candidates must differ")
        return self


class CandidateGroups(TargetProcessor):
    """Each row's candidate cells -> a group id (rows naming the same candidate share it).

    The id is a 63-bit hash of the raw cells, so it needs no fitted vocabulary and a validation or
    test split's unseen candidates get ids too.
    """

    def __init__(self, columns: list[str]) -> None:
        self.columns = list(columns)

    def fit(self, values: Sequence[Any]) -> CandidateGroups:
        return self

    def value(self, row: dict[str, Any]) -> Any:
        return [row.get(c) for c in self.columns]

    def encode(self, value: Any) -> Tensor:
        cells = value if isinstance(value, list) else [value]
        if all(is_missing(v) for v in cells):
            raise BadValueError("the candidate is empty (a retrieval row needs its candidate)")
        text = json.dumps([None if is_missing(v) else str(v) for v in cells])
        digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
        return torch.tensor(int.from_bytes(digest, "little") >> 1, dtype=torch.long)

    def get_state(self) -> dict[str, Any]:
        return {"columns": self.columns}

    def set_state(self, state: dict[str, Any]) -> None:
        self.columns = list(state.get("columns", self.columns))


def side_inputs(columns: Sequence[str], input_names: Sequence[str]) -> list[str]:
    """The model inputs that hold ``columns`` (a numeric or categorical column is in ``tabular``)."""
    names = {c if c in input_names else TABULAR for c in columns}
    missing = sorted(n for n in names if n not in input_names)
    if missing:
        raise ValueError(
            f"retrieval columns {sorted(columns)} are not model inputs (inputs: {sorted(input_names)})"
        )
    return sorted(names)


class Tower(nn.Module):
    """One side: a fusion of its inputs' pooled vectors (when several) and a projection.

    Args:
        dims: ``{input: D_m}`` of the side's inputs.
        fusion: the fusion config for a side with several inputs.
        embed_dim: D of the shared space.
        hidden_dim: hidden width of the projection MLP (0 = linear).
    """

    def __init__(self, dims: dict[str, int], fusion: dict[str, Any], embed_dim: int, hidden_dim: int) -> None:
        super().__init__()
        from polyfuse.fusion import create_fusion, parse_fusion_config

        self.names = sorted(dims)
        self.fusion = create_fusion(parse_fusion_config(fusion), dims) if len(dims) > 1 else None
        if self.fusion is not None and self.fusion.input_kind != "pooled":
            raise ValueError(f"retrieval side fusion {fusion['type']!r} must read pooled vectors")
        width = self.fusion.output_dim if self.fusion is not None else dims[self.names[0]]
        self.projection: nn.Module = (
            nn.Linear(width, embed_dim)
            if hidden_dim == 0
            else nn.Sequential(nn.Linear(width, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, embed_dim))
        )

    def forward(self, pooled: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        """Pooled vectors ``{input: (B, D_m)}`` -> L2-normalised embeddings (B, D)."""
        if self.fusion is not None:
            x = self.fusion({n: pooled[n] for n in self.names}, {n: present[n] for n in self.names})
        else:
            x = pooled[self.names[0]]
        return F.normalize(self.projection(x.float()), dim=-1)

    def present(self, present: dict[str, Tensor]) -> Tensor:
        """(B,) True where any of the side's inputs is present."""
        return torch.stack([present[n] for n in self.names], 1).any(1)


@register_task("retrieval", RetrievalConfig, "cross-modal retrieval: two towers, symmetric InfoNCE (CLIP)")
class RetrievalTask(Task):
    """Two towers into one space; outputs each row's query and candidate embeddings (B, D)."""

    name: ClassVar[str] = "retrieval"
    primary_metric: ClassVar[str] = "mean_recall_score"
    config: RetrievalConfig

    def __init__(self, config: RetrievalConfig, dims: ModelDims, target: TargetProcessor | None) -> None:
        super().__init__(config, dims, target)
        inputs = list(dims.input_dims)
        self.side_inputs = {
            "query": side_inputs(config.query, inputs),
            "candidate": side_inputs(config.candidates, inputs),
        }
        shared = set(self.side_inputs["query"]) & set(self.side_inputs["candidate"])
        if shared:
            raise ValueError(f"inputs {sorted(shared)} would be on both retrieval sides")
        self.towers = nn.ModuleDict(
            {
                side: Tower(
                    {n: dims.input_dims[n] for n in names}, config.fusion, config.embed_dim, config.hidden_dim
                )
                for side, names in self.side_inputs.items()
            }
        )
        log_scale = torch.tensor(math.log(1.0 / config.temperature))
        if config.learn_temperature:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    # ------------------------------------------------------------------ before building
    @classmethod
    def target_columns(cls, config: TaskConfig, label: str | None) -> list[str]:
        return []  # the group id comes from the candidate columns, which are inputs

    @classmethod
    def input_columns(cls, config: TaskConfig) -> list[str] | None:
        assert isinstance(config, RetrievalConfig)
        return [*config.query, *config.candidates]

    @classmethod
    def needs_fusion(cls, config: TaskConfig) -> bool:
        return False

    @classmethod
    def create_target(cls, config: TaskConfig, columns: list[str], delimiter: str) -> CandidateGroups:
        assert isinstance(config, RetrievalConfig)
        return CandidateGroups(config.candidates)

    # ------------------------------------------------------------------ towers
    @property
    def scale(self) -> Tensor:
        """The logit scale 1 / temperature, clamped at 100 as CLIP does."""
        return self.log_scale.clamp(max=math.log(100.0)).exp()

    def embed_side(self, side: Side, pooled: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        """One side's embeddings (B, D) from its inputs' pooled vectors ``{input: (B, D_m)}``."""
        return self.towers[side](pooled, present)  # type: ignore[no-any-return]

    def side_present(self, side: Side, present: dict[str, Tensor]) -> Tensor:
        """(B,) True where the side has any input present."""
        tower = self.towers[side]
        assert isinstance(tower, Tower)
        return tower.present(present)

    # ------------------------------------------------------------------ steps
    def training_step(self, out: Fused, batch: Batch) -> dict[str, Tensor]:
        query = self.embed_side("query", out.pooled, out.present)
        candidates = self.embed_side("candidate", out.pooled, out.present)
        first, positive = group_candidates(batch.target)
        unique = candidates[first]  # (U, D)
        terms = {"task_loss": info_nce(query, unique, positive, self.scale)}
        if self.config.hard_negatives > 0:
            hinge = hardest_negative_hinge(query, unique, positive, self.config.margin)
            terms["hard_negative_loss"] = self.config.hard_negatives * hinge
        return terms

    def predict_step(self, out: Fused, batch: Batch) -> StepOutputs:
        result: StepOutputs = {}
        for side in SIDES:
            result[side] = self.embed_side(side, out.pooled, out.present).float()
            result[f"{side}_present"] = self.side_present(side, out.present)
        return result

    # ------------------------------------------------------------------ after a split
    def metrics(self, outputs: StepOutputs) -> dict[str, Any]:
        """Both directions' recall at 1/5/10, MRR and median rank over the split's distinct
        candidates (see :mod:`polyfuse.retrieval.ranking`), and the split's InfoNCE."""
        keep = outputs["query_present"] & outputs["candidate_present"]
        groups = outputs["target"][keep]
        if len(groups) == 0:
            return {"mean_recall_score": 0.0}
        first, positive = group_candidates(groups)
        query, candidates = outputs["query"][keep], outputs["candidate"][keep][first]
        metrics: dict[str, Any] = retrieval_metrics(query, candidates, positive)
        metrics["task_loss"] = float(info_nce(query, candidates, positive, self.scale.detach().cpu()))
        metrics["queries"], metrics["candidates"] = len(query), len(candidates)
        return metrics

    def to_frame(self, outputs: StepOutputs, proba: bool = False) -> pd.DataFrame:
        """For each row with a query, the table row whose candidate scores highest (``prediction``)
        and its cosine ``score``; searching a separate gallery is :mod:`polyfuse.retrieval.index`."""
        query, cand = outputs["query"], outputs["candidate"]
        rows = outputs.get("row", torch.arange(len(query)))
        has_c = outputs["candidate_present"]
        prediction: list[Any] = [None] * len(rows)
        score: list[float | None] = [None] * len(rows)
        if has_c.any():
            sims = query @ cand[has_c].T  # (N, C)
            best, where = sims.max(1)
            cand_rows = rows[has_c]
            for i in torch.nonzero(outputs["query_present"]).flatten().tolist():
                prediction[i], score[i] = int(cand_rows[where[i]]), float(best[i])
        return pd.DataFrame({"prediction": prediction, "score": score})
