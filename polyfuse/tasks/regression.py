"""Regression: a standardised target, MSE loss, predictions mapped back to the label's scale."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from polyfuse.data.processors.base import BadValueError, is_missing
from polyfuse.data.targets import TargetProcessor
from polyfuse.metrics import regression_metrics
from polyfuse.tasks._head_task import HeadTask, HeadTaskConfig
from polyfuse.tasks._registry import register_task
from polyfuse.tasks.base import StepOutputs


class RegressionTarget(TargetProcessor):
    """Standardises a numeric label with the training mean and standard deviation."""

    def __init__(self, delimiter: str = "|") -> None:
        self.delimiter = delimiter

    @staticmethod
    def _number(value: Any) -> float:
        if is_missing(value):
            raise BadValueError("the label is empty")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadValueError(f"label {value!r} is not a number") from None
        if not math.isfinite(number):
            raise BadValueError(f"label {value!r} is not finite")
        return number

    def fit(self, values: Sequence[Any]) -> RegressionTarget:
        numbers = torch.tensor([float(v) for v in values if not is_missing(v)], dtype=torch.float64)
        self.mean_ = float(numbers.mean()) if len(numbers) else 0.0
        std = float(numbers.std()) if len(numbers) > 1 else 1.0
        self.std_ = std if std > 1e-12 else 1.0
        return self

    def encode(self, value: Any) -> Tensor:
        return torch.tensor([(self._number(value) - self.mean_) / self.std_], dtype=torch.float32)

    def decode(self, outputs: Tensor) -> Tensor:
        """(N, 1) standardised outputs -> (N,) values on the label's scale."""
        return outputs.float().squeeze(-1) * self.std_ + self.mean_

    @property
    def num_outputs(self) -> int:
        return 1

    def get_state(self) -> dict[str, Any]:
        return {"mean_": self.mean_, "std_": self.std_}

    def set_state(self, state: dict[str, Any]) -> None:
        self.mean_ = float(state["mean_"])
        self.std_ = float(state["std_"])


@register_task("regression", HeadTaskConfig, "regression of one number (standardised target, MSE)")
class RegressionTask(HeadTask):
    """Predicts one number; outputs are standardised values (B, 1)."""

    name: ClassVar[str] = "regression"
    primary_metric: ClassVar[str] = "root_mean_squared_error"
    target: RegressionTarget

    @classmethod
    def create_target(cls, config: Any, columns: list[str], delimiter: str) -> RegressionTarget:
        target = RegressionTarget(delimiter)
        target.columns = columns
        return target

    def loss(self, outputs: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(outputs.float(), target)

    def split_metrics(self, logits: Tensor, target: Tensor) -> dict[str, Any]:
        return regression_metrics(self.target.decode(logits), self.target.decode(target))

    def scores(self, outputs: StepOutputs) -> Any:
        return self.target.decode(outputs["logits"]).cpu().numpy()[:, None]

    def frame_from_logits(self, outputs: Tensor, proba: bool) -> pd.DataFrame:
        return pd.DataFrame({"prediction": self.target.decode(outputs).cpu().numpy()})
