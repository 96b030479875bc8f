"""Contrastive alignment (InfoNCE with a learned temperature, as CLIP) between every pair of inputs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import zero_absent
from polyfuse.fusion.alignment._registry import register_alignment
from polyfuse.fusion.alignment.base import Aligner, AlignmentConfig


class ContrastiveAlignmentConfig(AlignmentConfig):
    """Options of :class:`ContrastiveAligner`."""

    dim: int = Field(64, ge=1, description="width of the shared space every input is projected to")
    temperature: float = Field(0.07, gt=0.0, description="initial softmax temperature (learned)")
    max_logit_scale: float = Field(100.0, gt=1.0, description="upper clamp of the learned 1 / temperature")


def info_nce(logits: Tensor, valid: Tensor) -> Tensor:
    """Cross-entropy of each valid row against its diagonal entry, negatives being the valid columns.

    Args:
        logits: (B, B) similarities; entry (i, j) compares row i of one input with row j of another.
        valid: (B,) bool, rows where both inputs are present.

    Returns:
        Scalar mean over valid rows (0 when there is none).
    """
    masked = logits.masked_fill(~valid.unsqueeze(0), torch.finfo(logits.dtype).min)  # (B, B)
    per_row = torch.logsumexp(masked, dim=1) - logits.diagonal()  # (B,)
    per_row = torch.where(valid, per_row, torch.zeros_like(per_row))
    return per_row.sum() / valid.sum().clamp(min=1)


@register_alignment("contrastive", ContrastiveAlignmentConfig)
class ContrastiveAligner(Aligner):
    """Symmetric InfoNCE between the projected, L2-normalised embeddings of every pair of inputs.

    For inputs a, b with rows where both are present, ``logits = s * z_a z_b^T`` with learned scale
    ``s = exp(t)`` (initialised to 1 / temperature, clamped to ``max_logit_scale``); each row must
    pick its own partner among the other rows, in both directions. Pairs are averaged over those with
    at least one such row. Paper (CLIP): https://arxiv.org/abs/2103.00020

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> scalar.
    Legend: B batch, D width, M modalities.
    """

    def __init__(self, modality_dims: dict[str, int], config: ContrastiveAlignmentConfig) -> None:
        super().__init__(modality_dims, config)
        self.project = nn.ModuleDict({n: nn.Linear(d, config.dim) for n, d in self.modality_dims.items()})
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.temperature)))
        self.max_log_scale = math.log(config.max_logit_scale)

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        scale = self.log_scale.clamp(max=self.max_log_scale).exp()
        z = {
            n: F.normalize(self.project[n](zero_absent(embeddings[n], present[n])), dim=-1)
            for n in self.names
        }  # {m: (B, d)}
        losses, used = [], []
        for i, a in enumerate(self.names):
            for b in self.names[i + 1 :]:
                valid = present[a] & present[b]  # (B,)
                logits = scale * z[a] @ z[b].T  # (B, B)
                losses.append((info_nce(logits, valid) + info_nce(logits.T, valid)) / 2)
                used.append(valid.any())
        # pairs with no row contribute an exact zero that is still connected to the graph
        return torch.stack(losses).sum() / torch.stack(used).sum().clamp(min=1)
