"""Multi-label classification: independent sigmoid per label, binary cross-entropy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from polyfuse.data.processors.base import BadValueError, is_missing
from polyfuse.data.processors.tabular import category_key
from polyfuse.data.targets import TargetProcessor
from polyfuse.metrics import multilabel_metrics
from polyfuse.tasks._head_task import HeadTask, HeadTaskConfig
from polyfuse.tasks._registry import register_task
from polyfuse.tasks.base import StepOutputs


class MultiLabels(TargetProcessor):
    """Label cells are lists or delimited strings (``"a|b"``); an empty list is allowed."""

    def __init__(self, delimiter: str = "|") -> None:
        self.delimiter = delimiter

    def split(self, value: Any) -> list[str]:
        """One cell -> its label names."""
        if isinstance(value, (list, tuple, np.ndarray)):
            return [category_key(v) for v in value]
        if is_missing(value):
            return []
        return [p.strip() for p in str(value).split(self.delimiter) if p.strip()]

    def fit(self, values: Sequence[Any]) -> MultiLabels:
        self.classes_ = sorted({name for v in values for name in self.split(v)})
        self.index_ = {c: i for i, c in enumerate(self.classes_)}
        return self

    def encode(self, value: Any) -> Tensor:
        target = torch.zeros(len(self.classes_))
        for name in self.split(value):
            if name not in self.index_:
                raise BadValueError(f"label {name!r} is not one of the training labels")
            target[self.index_[name]] = 1.0
        return target

    @property
    def num_outputs(self) -> int:
        return len(self.classes_)

    def get_state(self) -> dict[str, Any]:
        return {"classes_": self.classes_, "delimiter": self.delimiter}

    def set_state(self, state: dict[str, Any]) -> None:
        self.classes_ = list(state["classes_"])
        self.delimiter = state.get("delimiter", self.delimiter)
        self.index_ = {c: i for i, c in enumerate(self.classes_)}


@register_task("multilabel", HeadTaskConfig, "multi-label classification (sigmoid per label, BCE)")
class MultiLabelTask(HeadTask):
    """Outputs are logits (B, L); a label is predicted when its probability is at least 0.5."""

    name: ClassVar[str] = "multilabel"
    primary_metric: ClassVar[str] = "micro_f1_score"
    target: MultiLabels

    @classmethod
    def create_target(cls, config: Any, columns: list[str], delimiter: str) -> MultiLabels:
        labels = MultiLabels(delimiter)
        labels.columns = columns
        return labels

    def loss(self, outputs: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(outputs.float(), target)

    def split_metrics(self, logits: Tensor, target: Tensor) -> dict[str, Any]:
        return multilabel_metrics(torch.sigmoid(logits.float()), target, self.target.classes_)

    def scores(self, outputs: StepOutputs) -> Any:
        return torch.sigmoid(outputs["logits"].float()).cpu().numpy()

    def frame_from_logits(self, outputs: Tensor, proba: bool) -> pd.DataFrame:
        probs = torch.sigmoid(outputs.float()).cpu()
        names = self.target.classes_
        chosen = [
            self.target.delimiter.join(n for n, p in zip(names, row, strict=True) if p >= 0.5)
            for row in probs.tolist()
        ]
        frame = pd.DataFrame({"prediction": chosen})
        if proba:
            for i, name in enumerate(names):
                frame[f"proba_{name}"] = probs[:, i].numpy()
        return frame
