"""The task contract: what a model solves, from what the encoders and the fusion produced.

A task receives the model's :class:`~polyfuse.model.Fused` record (each input's pooled vector, each
input's tokens with their masks and positions, the fused vector) and the batch, whose ``target`` its
own :class:`~polyfuse.data.targets.TargetProcessor` collated. It owns its heads or decoders and says
what to compute; the trainer decides how to run it:

- :meth:`Task.training_step` -> named loss terms ``{"task_loss": ..., ...}`` (the model adds the
  fusion's and the aligners' terms, sums them into ``loss``, and the trainer logs every term);
- :meth:`Task.predict_step` -> a batch's outputs, ``{name: (B, ...) tensor or list of B values}``;
- :meth:`Task.validation_step` -> the same plus what :meth:`Task.metrics` needs (targets);
- :meth:`Task.metrics` -> metrics of a whole split's concatenated step outputs (``*_score`` up,
  ``*_loss`` / ``*_error`` down);
- :meth:`Task.to_frame` -> the prediction frame, one row per input row (``prediction`` first).

A task is registered with ``@register_task(name, ConfigClass)`` and chosen with
``model.task: {type: name, ...}``; its typed options are its config class's fields. Class methods
tell the builder, before anything is built, which columns are targets (:meth:`Task.target_columns`),
the unfitted target processor (:meth:`Task.create_target`) and whether a fused vector is needed.

Legend: B batch, D width, K outputs, T tokens, N rows of a split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from polyfuse._registry import ComponentConfig
from polyfuse.data.batch import Batch
from polyfuse.data.targets import TargetProcessor

if TYPE_CHECKING:
    import pandas as pd

    from polyfuse.model import Fused

StepOutputs = dict[str, Any]
"""One batch's (or, concatenated, one split's) outputs: ``{name: (B, ...) tensor | list}``."""


class TaskConfig(ComponentConfig):
    """Base of task configs; each task adds its own typed options."""


@dataclass(frozen=True)
class ModelDims:
    """The widths a task builds its heads from.

    Attributes:
        fused_dim: D of the fused vector, ``None`` when the model has no fusion.
        input_dims: ``{input: D_m}``, each encoder's pooled and token width.
        input_specs: ``{input: spec}``, each fitted processor's ``output_spec()`` plus its
            ``"modality"`` (and an image's ``"mean"`` / ``"std"``), for decoders that rebuild inputs.
    """

    fused_dim: int | None
    input_dims: dict[str, int]
    input_specs: dict[str, dict[str, Any]] = field(default_factory=dict)


class Task(nn.Module):
    """Base class of every task. Subclasses implement the steps, metrics and frame."""

    name: ClassVar[str]
    primary_metric: ClassVar[str]
    reads_tokens: bool = False
    """True for tasks whose decoders attend over the encoders' tokens (frozen encoders then run on
    every batch instead of being read from the embedding cache)."""
    target: TargetProcessor | None

    def __init__(self, config: TaskConfig, dims: ModelDims, target: TargetProcessor | None) -> None:
        super().__init__()
        self.config = config
        self.dims = dims
        self.target = target

    # ------------------------------------------------------------------ before building
    @classmethod
    def target_columns(cls, config: TaskConfig, label: str | None) -> list[str]:
        """Columns the task reads as targets (not model inputs). Default: the label column."""
        if label is None:
            raise ValueError(f"task {config.type!r} needs a label column (data.label)")
        return [label]

    @classmethod
    def input_columns(cls, config: TaskConfig) -> list[str] | None:
        """Columns the task reads as model inputs (``None``: every input column of the schema)."""
        return None

    @classmethod
    def needs_fusion(cls, config: TaskConfig) -> bool:
        """Whether the model builds a fusion (tasks that fuse their own sides say False)."""
        return True

    @classmethod
    def create_target(cls, config: TaskConfig, columns: list[str], delimiter: str) -> TargetProcessor | None:
        """The unfitted target processor reading ``columns`` (``None``: no targets)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ steps
    def training_step(self, out: Fused, batch: Batch) -> dict[str, Tensor]:
        """Named loss terms of one batch (scalars); the model sums them into ``loss``."""
        raise NotImplementedError

    def predict_step(self, out: Fused, batch: Batch) -> StepOutputs:
        """One batch's outputs: tensors of B rows (on any device) or lists of B values."""
        raise NotImplementedError

    def validation_step(self, out: Fused, batch: Batch) -> StepOutputs:
        """:meth:`predict_step` plus the batch's targets (``"target"``)."""
        return {**self.predict_step(out, batch), "target": batch.target}

    # ------------------------------------------------------------------ after a split
    def metrics(self, outputs: StepOutputs) -> dict[str, Any]:
        """Metrics of a split's concatenated :meth:`validation_step` outputs."""
        raise NotImplementedError

    def to_frame(self, outputs: StepOutputs, proba: bool = False) -> pd.DataFrame:
        """The prediction frame of concatenated :meth:`predict_step` outputs, one row per row."""
        raise NotImplementedError

    def embed(self, out: Fused) -> Tensor | None:
        """The rows' embedding (B, D) when the task has its own (an autoencoder's latent);
        ``None``: the fused vector (what ``polyfuse embed`` exports by default)."""
        return None

    @property
    def embed_dim(self) -> int | None:
        """D of :meth:`embed` (``None`` when it returns ``None``)."""
        return None

    def scores(self, outputs: StepOutputs) -> np.ndarray:
        """(N, K) probabilities or values for evaluation tools (tasks with a fixed width)."""
        raise NotImplementedError(f"task {self.name!r} has no per-row scores")

    def calibrate(self, outputs: StepOutputs) -> dict[str, Any] | None:
        """Fit post-hoc calibration on validation outputs (e.g. a temperature); ``None``: none."""
        return None


def concat_outputs(steps: Sequence[StepOutputs]) -> StepOutputs:
    """Concatenate step outputs: tensors along dim 0 (moved to CPU), lists extended, dicts by key."""
    if not steps:
        return {}
    merged: StepOutputs = {}
    for key in steps[0]:
        values = [step[key] for step in steps]
        merged[key] = _concat(values)
    return merged


def _concat(values: list[Any]) -> Any:
    first = values[0]
    if first is None:
        return None
    if isinstance(first, Tensor):
        return torch.cat([v.detach().cpu() for v in values])
    if isinstance(first, dict):
        return {k: _concat([v[k] for v in values]) for k in first}
    if isinstance(first, list | tuple):
        return [item for v in values for item in v]
    raise TypeError(f"cannot concatenate step outputs of type {type(first).__name__}")
