"""Binary and multi-class classification: softmax head, cross-entropy, class-probability outputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from polyfuse.data.processors.base import BadValueError, is_missing
from polyfuse.data.processors.tabular import category_key
from polyfuse.data.targets import TargetProcessor
from polyfuse.metrics import classification_metrics
from polyfuse.tasks._head_task import HeadTask, HeadTaskConfig
from polyfuse.tasks._registry import register_task
from polyfuse.tasks.base import ModelDims, StepOutputs


class ClassLabels(TargetProcessor):
    """Maps label values to class indices (sorted, numeric-aware)."""

    def __init__(self, delimiter: str = "|") -> None:
        self.delimiter = delimiter

    def fit(self, values: Sequence[Any]) -> ClassLabels:
        keys = {category_key(v) for v in values if not is_missing(v)}
        try:
            ordered = sorted(keys, key=float)
        except ValueError:
            ordered = sorted(keys)
        if len(ordered) < 2:
            column = getattr(self, "columns", ["label"])[0]
            rows = sum(not is_missing(v) for v in values)
            seen = f"one value ({ordered[0]!r})" if ordered else "no value"
            raise ValueError(
                f"the label column {column!r} has {seen} in {rows} training rows: classification needs"
                " at least two classes"
            )
        self.classes_ = ordered
        self.index_ = {c: i for i, c in enumerate(ordered)}
        return self

    def encode(self, value: Any) -> Tensor:
        if is_missing(value):
            raise BadValueError("the label is empty")
        key = category_key(value)
        if key not in self.index_:
            raise BadValueError(
                f"label {value!r} is not one of the training labels ({', '.join(self.classes_[:20])})"
            )
        return torch.tensor(self.index_[key])

    @property
    def num_outputs(self) -> int:
        return len(self.classes_)

    def get_state(self) -> dict[str, Any]:
        return {"classes_": self.classes_}

    def set_state(self, state: dict[str, Any]) -> None:
        self.classes_ = list(state["classes_"])
        self.index_ = {c: i for i, c in enumerate(self.classes_)}


class ClassificationTask(HeadTask):
    """Single-label classification with cross-entropy; outputs are logits (B, K).

    The ``temperature`` buffer (a scalar, 1 until fitted) divides the logits in
    :meth:`probabilities`: temperature scaling (Guo et al. 2017, https://arxiv.org/abs/1706.04599),
    fitted on validation data by :meth:`calibrate`. Being a
    buffer, it is saved in the bundle's weights; the loss and the predicted class ignore it.
    """

    name: ClassVar[str] = "multiclass"
    primary_metric: ClassVar[str] = "accuracy_score"
    target: ClassLabels
    temperature: Tensor

    def __init__(self, config: HeadTaskConfig, dims: ModelDims, target: TargetProcessor | None) -> None:
        super().__init__(config, dims, target)
        self.register_buffer("temperature", torch.ones(()))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # bundles written before temperature scaling have no temperature: they load with T = 1
        state_dict.setdefault(prefix + "temperature", torch.ones(()))
        super()._load_from_state_dict(state_dict, prefix, *args)

    @classmethod
    def create_target(cls, config: Any, columns: list[str], delimiter: str) -> ClassLabels:
        labels = ClassLabels(delimiter)
        labels.columns = columns
        return labels

    def loss(self, outputs: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(outputs.float(), target)

    def probabilities(self, outputs: Tensor) -> Tensor:
        """(N, K) logits -> (N, K) class probabilities, ``softmax(logits / temperature)``."""
        return torch.softmax(outputs.float() / self.temperature.to(outputs.device), dim=-1)

    def split_metrics(self, logits: Tensor, target: Tensor) -> dict[str, Any]:
        return classification_metrics(self.probabilities(logits), target, self.target.classes_)

    def scores(self, outputs: StepOutputs) -> Any:
        return self.probabilities(outputs["logits"]).cpu().numpy()

    def calibrate(self, outputs: StepOutputs) -> dict[str, Any] | None:
        """Temperature scaling fitted on the validation split's logits (see
        :func:`polyfuse.tasks._calibration.fit_temperature`)."""
        from polyfuse.tasks._calibration import fit_temperature

        return fit_temperature(self, outputs["logits"], outputs["target"])

    def frame_from_logits(self, outputs: Tensor, proba: bool) -> pd.DataFrame:
        probs = self.probabilities(outputs).cpu()
        classes = self.target.classes_
        frame = pd.DataFrame({"prediction": [classes[i] for i in probs.argmax(1).tolist()]})
        if proba:
            for i, name in enumerate(classes):
                frame[f"proba_{name}"] = probs[:, i].numpy()
        return frame


register_task("multiclass", HeadTaskConfig, "multi-class classification (softmax, cross-entropy)")(
    ClassificationTask
)


@register_task("binary", HeadTaskConfig, "binary classification (two-class softmax, cross-entropy)")
class BinaryClassificationTask(ClassificationTask):
    """Two-class classification; ROC-AUC is computed on the second class."""

    name: ClassVar[str] = "binary"
