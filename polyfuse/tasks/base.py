"""The task contract: a label processor (fit on training labels) and a task module that owns the
head, the loss and the metrics. The trainer knows nothing of either beyond these methods.

Legend: B batch, D fused width, K outputs (classes, labels, or 1 for regression).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from torch import Tensor, nn

from polyfuse.config.schema import HeadConfig


class LabelProcessor:
    """Turns label cells into targets and outputs back into labels. sklearn contract."""

    @abstractmethod
    def fit(self, values: Sequence[Any]) -> LabelProcessor:
        """Learn the label set / scaling from training labels."""

    @abstractmethod
    def encode(self, value: Any) -> Tensor:
        """One label cell -> target tensor; raises BadValueError for an unusable label."""

    @property
    @abstractmethod
    def num_outputs(self) -> int:
        """K, the head's output width."""

    @abstractmethod
    def get_state(self) -> dict[str, Any]:
        """JSON-safe fitted state (parameters included)."""

    @abstractmethod
    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`."""


def build_head(input_dim: int, num_outputs: int, config: HeadConfig) -> nn.Module:
    """An MLP head ``(B, D) -> (B, K)``: linear when ``hidden_dim == 0``."""
    if config.hidden_dim == 0:
        return nn.Linear(input_dim, num_outputs)
    return nn.Sequential(
        nn.Linear(input_dim, config.hidden_dim),
        nn.GELU(),
        nn.Dropout(config.dropout),
        nn.Linear(config.hidden_dim, num_outputs),
    )


class Task(nn.Module):
    """Head + loss + metrics for one task type."""

    name: ClassVar[str]
    primary_metric: ClassVar[str]
    labels: LabelProcessor

    def __init__(self, input_dim: int, labels: LabelProcessor, config: HeadConfig) -> None:
        super().__init__()
        self.labels = labels
        self.head = build_head(input_dim, labels.num_outputs, config)

    def forward(self, fused: Tensor) -> Tensor:
        """(B, D) -> raw outputs (B, K)."""
        out: Tensor = self.head(fused)
        return out

    @abstractmethod
    def loss(self, outputs: Tensor, target: Tensor) -> Tensor:
        """Scalar training loss."""

    @abstractmethod
    def metrics(self, outputs: Tensor, target: Tensor) -> dict[str, Any]:
        """Metrics of all outputs (N, K) of a split against targets."""

    @abstractmethod
    def to_frame(self, outputs: Tensor, proba: bool) -> pd.DataFrame:
        """Predictions (and probabilities when ``proba``) as a DataFrame, one row per output row."""

    def scores(self, outputs: Tensor) -> np.ndarray:
        """Probabilities or values used by evaluation tools: (N, K)."""
        return outputs.detach().float().cpu().numpy()
