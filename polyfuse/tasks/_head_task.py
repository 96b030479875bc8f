"""The base of tasks that predict K numbers per row through a head: classification, regression,
multi-label. The head (``model.task.head``) is the model's shape: ``mlp`` on the fused vector, or
``late`` / ``hybrid`` per-input heads.

Legend: B batch, K outputs, N rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, SerializeAsAny, field_validator
from torch import Tensor

from polyfuse.data.batch import Batch
from polyfuse.tasks.base import ModelDims, StepOutputs, Task, TaskConfig
from polyfuse.tasks.heads import HeadConfig, create_head, parse_head_config
from polyfuse.tasks.heads.mlp import MlpHeadConfig

if TYPE_CHECKING:
    from polyfuse.data.targets import TargetProcessor
    from polyfuse.model import Fused


class HeadTaskConfig(TaskConfig):
    """Options of the tasks that predict through a head."""

    head: SerializeAsAny[HeadConfig] = Field(
        default_factory=lambda: MlpHeadConfig(type="mlp"),
        description="the prediction head: {type: mlp|late|hybrid, ...} (polyfuse list heads)",
    )

    @field_validator("head", mode="before")
    @classmethod
    def _parse_head(cls, value: Any) -> HeadConfig:
        if isinstance(value, HeadConfig):
            return value
        if not isinstance(value, dict):
            raise ValueError("head must be a mapping with a 'type'")
        return parse_head_config(value)


class HeadTask(Task):
    """Logits ``(B, K)`` from the head; subclasses give the loss, metrics and frame."""

    config: HeadTaskConfig
    target: TargetProcessor

    def __init__(self, config: HeadTaskConfig, dims: ModelDims, target: TargetProcessor | None) -> None:
        if target is None:
            raise ValueError(f"task {config.type!r} needs a target processor")
        super().__init__(config, dims, target)
        self.head = create_head(config.head, dims, target.num_outputs)

    @classmethod
    def needs_fusion(cls, config: TaskConfig) -> bool:
        from polyfuse.tasks.heads import HEADS

        assert isinstance(config, HeadTaskConfig)
        return HEADS.get(config.head.type).cls.reads_fused

    def logits(self, out: Fused) -> Tensor:
        """The head's raw outputs (B, K)."""
        return self.head(out)  # type: ignore[no-any-return]

    def loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Scalar loss of logits (B, K) against targets."""
        raise NotImplementedError

    def split_metrics(self, logits: Tensor, target: Tensor) -> dict[str, Any]:
        """Metrics of a split's logits (N, K) against its targets."""
        raise NotImplementedError

    def frame_from_logits(self, logits: Tensor, proba: bool) -> Any:
        """The prediction frame of logits (N, K)."""
        raise NotImplementedError

    def training_step(self, out: Fused, batch: Batch) -> dict[str, Tensor]:
        return {"task_loss": self.loss(self.logits(out), batch.target)}

    def predict_step(self, out: Fused, batch: Batch) -> StepOutputs:
        return {"logits": self.logits(out).float()}

    def metrics(self, outputs: StepOutputs) -> dict[str, Any]:
        logits, target = outputs["logits"], outputs["target"]
        metrics = self.split_metrics(logits, target)
        metrics["task_loss"] = float(self.loss(logits, target))
        return metrics

    def to_frame(self, outputs: StepOutputs, proba: bool = False) -> Any:
        return self.frame_from_logits(outputs["logits"], proba)
