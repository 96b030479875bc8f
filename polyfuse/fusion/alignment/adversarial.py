"""Adversarial modality invariance: a discriminator, behind gradient reversal, guesses the input."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import stack_present, zero_absent
from polyfuse.fusion.alignment._registry import register_alignment
from polyfuse.fusion.alignment.base import Aligner, AlignmentConfig


class GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``-strength`` backward (Ganin & Lempitsky 2015)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, strength: float) -> Tensor:
        ctx.strength = strength
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.strength * grad, None


def reverse_gradient(x: Tensor, strength: float = 1.0) -> Tensor:
    """``x`` unchanged, with its gradient multiplied by ``-strength`` on the way back."""
    out: Tensor = GradientReversal.apply(x, strength)
    return out


class AdversarialAlignmentConfig(AlignmentConfig):
    """Options of :class:`AdversarialAligner`."""

    dim: int | None = Field(
        64,
        ge=1,
        description="width of the shared space the inputs are projected to; none compares the embeddings"
        " themselves (every input must then have the same width)",
    )
    hidden_dim: int = Field(64, ge=1, description="hidden width of the discriminator MLP")
    strength: float = Field(1.0, gt=0.0, description="factor of the reversed gradient")


@register_alignment("adversarial", AdversarialAlignmentConfig)
class AdversarialAligner(Aligner):
    """Modality invariance: the embeddings must not tell which input they came from.

    Every present embedding is projected to the shared space, passed through a gradient reversal
    layer and classified by an MLP discriminator into one of the M inputs. The discriminator
    minimises the cross-entropy; the reversed gradient makes the projections and the encoders
    maximise it. Paper (domain-adversarial training): https://arxiv.org/abs/1505.07818 ; applied to
    modalities e.g. in Mai et al. 2020, https://arxiv.org/abs/1911.07848

    Shapes: embeddings ``{m: (B, D_m)}``, present ``{m: (B,)}`` -> scalar.
    Legend: B batch, D width, M modalities.
    """

    def __init__(self, modality_dims: dict[str, int], config: AdversarialAlignmentConfig) -> None:
        super().__init__(modality_dims, config)
        widths = set(self.modality_dims.values())
        if config.dim is None and len(widths) > 1:
            raise ValueError(
                f"adversarial alignment without dim needs inputs of one width, got {self.modality_dims}"
            )
        dim = config.dim or widths.pop()
        self.project = nn.ModuleDict(
            {n: nn.Linear(d, dim) if config.dim else nn.Identity() for n, d in self.modality_dims.items()}
        )
        self.discriminator = nn.Sequential(
            nn.Linear(dim, config.hidden_dim), nn.ReLU(), nn.Linear(config.hidden_dim, len(self.names))
        )
        self.strength = config.strength

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        z = torch.stack(
            [self.project[n](zero_absent(embeddings[n], present[n])) for n in self.names], dim=1
        )  # (B, M, d)
        logits = self.discriminator(reverse_gradient(z, self.strength))  # (B, M, M)
        target = torch.arange(len(self.names), device=z.device).expand(z.shape[0], -1)  # (B, M)
        loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")  # (B * M,)
        mask = stack_present(present, self.names).flatten()  # (B * M,)
        loss = torch.where(mask, loss, torch.zeros_like(loss))
        return loss.sum() / mask.sum().clamp(min=1)
