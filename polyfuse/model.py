"""MultimodalModel: built encoders + a fusion + a task, composed. No config reading in here.

Legend: B batch, T tokens, D width.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from polyfuse.data.processors.base import Features
from polyfuse.encoders.base import Encoder, EncoderOutput
from polyfuse.fusion.base import Fusion
from polyfuse.tasks.base import Task


@dataclass
class Batch:
    """A batch: per-input features and present masks, targets, and the rows' indices in the table."""

    inputs: dict[str, Features]
    present: dict[str, Tensor]
    """{input: (B,) bool}"""
    target: Tensor | None = None
    index: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))

    def to(self, device: torch.device | str) -> Batch:
        """A copy on ``device``."""
        return Batch(
            {k: {n: t.to(device, non_blocking=True) for n, t in f.items()} for k, f in self.inputs.items()},
            {k: v.to(device) for k, v in self.present.items()},
            None if self.target is None else self.target.to(device),
            self.index,
        )

    def __len__(self) -> int:
        return len(self.index)


class MultimodalModel(nn.Module):
    """Encoders (one per input) -> fusion -> task head.

    Args:
        encoders: built encoders keyed by input name.
        fusion: built fusion whose ``modality_dims`` keys equal the encoders' keys.
        task: built task (head, loss, metrics).
        modality_dropout: probability, per row and input, of dropping a present input in training
            (never all inputs of a row).
    """

    def __init__(
        self,
        encoders: dict[str, Encoder],
        fusion: Fusion,
        task: Task,
        modality_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if sorted(encoders) != fusion.names:
            raise ValueError(f"fusion inputs {fusion.names} do not match encoders {sorted(encoders)}")
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.task = task
        self.modality_dropout = modality_dropout

    def _drop_modalities(self, present: dict[str, Tensor]) -> dict[str, Tensor]:
        if not self.training or self.modality_dropout <= 0 or len(present) < 2:
            return present
        names = sorted(present)
        stacked = torch.stack([present[n] for n in names], dim=1)  # (B, M)
        keep = torch.rand(stacked.shape, device=stacked.device) >= self.modality_dropout
        kept = stacked & keep
        empty = ~kept.any(dim=1) & stacked.any(dim=1)  # never drop every present input
        kept[empty] = stacked[empty]
        return {n: kept[:, i] for i, n in enumerate(names)}

    def encode(self, batch: Batch) -> dict[str, EncoderOutput]:
        """Run every encoder: ``{input: EncoderOutput}``."""
        return {name: enc(batch.inputs[name]) for name, enc in self.encoders.items()}

    def fuse(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor], dict[str, Tensor]]:
        """Encoders + fusion -> fused (B, D), plus the embeddings and masks the fusion saw."""
        present = self._drop_modalities(batch.present)
        outputs = self.encode(batch)
        if self.fusion.input_kind == "tokens":
            embeddings, masks = {}, {}
            for name, out in outputs.items():
                if out.tokens is None:
                    tokens = out.pooled.unsqueeze(1)  # (B, 1, D)
                    mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
                else:
                    tokens = out.tokens
                    mask = out.token_mask if out.token_mask is not None else torch.ones(
                        tokens.shape[:2], dtype=torch.bool, device=tokens.device
                    )
                embeddings[name] = tokens
                masks[name] = mask & present[name].unsqueeze(1)  # (B, T)
        else:
            embeddings = {name: out.pooled for name, out in outputs.items()}
            masks = present
        return self.fusion(embeddings, masks), embeddings, masks

    def forward(self, batch: Batch) -> Tensor:
        """Raw task outputs (B, K)."""
        fused, _, _ = self.fuse(batch)
        out: Tensor = self.task(fused)
        return out

    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        """Named loss terms; ``loss`` is their sum and the one the trainer backpropagates."""
        if batch.target is None:
            raise ValueError("training_step needs targets")
        fused, embeddings, masks = self.fuse(batch)
        terms = {"task_loss": self.task.loss(self.task(fused), batch.target)}
        terms.update(self.fusion.auxiliary_losses(embeddings, masks))
        terms["loss"] = torch.stack(list(terms.values())).sum()
        return terms
