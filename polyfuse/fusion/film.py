"""FiLM (Perez et al. 2018): the other inputs condition an input's token features with a scale and shift."""

from __future__ import annotations

from typing import cast

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import ModalityProjection, masked_mean, zero_absent
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion, FusionConfig


class FiLMFusionConfig(FusionConfig):
    """Options of :class:`FiLMFusion`."""

    target: str | None = Field(
        None,
        description="input (its column name) whose tokens are modulated;"
        " none: every input is modulated by the others",
    )
    hidden_dim: int = Field(
        64, ge=1, description="width d of the modulated features and conditioning vectors"
    )
    num_blocks: int = Field(2, ge=1, description="FiLM residual blocks per modulated input")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout on each modulated pooled vector")


class FiLMBlock(nn.Module):
    """Residual block ``x + ReLU((1 + gamma(c)) * norm(W x) + beta(c))`` (the paper's, linear for conv).

    Args:
        dim: feature width D.
        condition_dim: width C of the conditioning vector.
    """

    def __init__(self, dim: int, condition_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.film = nn.Linear(condition_dim, 2 * dim)

    def forward(self, x: Tensor, condition: Tensor) -> Tensor:
        """Features (B, T, D) and condition (B, C) -> (B, T, D)."""
        gamma, beta = self.film(condition).unsqueeze(1).chunk(2, dim=-1)  # (B, 1, D) each
        return x + torch.relu((1 + gamma) * self.norm(self.linear(x)) + beta)


@register_fusion("film", FiLMFusionConfig)
class FiLMFusion(Fusion):
    """Feature-wise linear modulation of one input's tokens by the other inputs.

    Each conditioning input is mean-pooled over its real tokens and projected to ``d`` (absent:
    a learned "missing" vector); their concatenation ``c`` (width (M - 1) d) predicts a scale and a
    shift for each of ``num_blocks`` residual blocks over the modulated input's projected tokens,
    which are then mean-pooled (absent: a learned vector). With ``target`` set, the output is the
    modulated target next to ``c``, so rows without the target still carry the other inputs; without
    it, every input is modulated by the others and the M results are concatenated. Needs at least two
    inputs. Paper: https://arxiv.org/abs/1709.07871

    Shapes: embeddings ``{m: (B, T_m, D_m)}``, masks ``{m: (B, T_m)}`` -> ``(B, M d)``.
    Legend: B batch, T tokens, D width, M modalities, d = hidden_dim.
    """

    input_kind = "tokens"

    def __init__(self, modality_dims: dict[str, int], config: FiLMFusionConfig) -> None:
        super().__init__(modality_dims, config)
        if len(self.names) < 2:
            raise ValueError("film fusion needs at least two inputs")
        if config.target is not None and config.target not in self.modality_dims:
            raise ValueError(f"film target {config.target!r} is not an input; inputs: {self.names}")
        dim, condition_dim = config.hidden_dim, config.hidden_dim * (len(self.names) - 1)
        self.target = config.target
        self.targets = [config.target] if config.target else self.names
        conditioners = {n: d for n, d in self.modality_dims.items() if n != config.target}
        self.conditioners = list(conditioners)
        self.condition = ModalityProjection(conditioners, dim)
        self.project = nn.ModuleDict({t: nn.Linear(self.modality_dims[t], dim) for t in self.targets})
        self.blocks = nn.ModuleDict(
            {
                t: nn.ModuleList([FiLMBlock(dim, condition_dim) for _ in range(config.num_blocks)])
                for t in self.targets
            }
        )
        self.missing = nn.Parameter(torch.zeros(len(self.targets), dim))
        self.dropout = nn.Dropout(config.dropout)
        self.output_dim = len(self.names) * dim

    def _modulate(self, index: int, target: str, tokens: Tensor, mask: Tensor, condition: Tensor) -> Tensor:
        """Target tokens (B, T, D_t) + mask (B, T) + condition (B, C) -> pooled (B, d)."""
        x = self.project[target](zero_absent(tokens, mask))  # (B, T, d)
        for block in cast(nn.ModuleList, self.blocks[target]):
            x = block(x, condition)
        pooled = self.dropout(masked_mean(x, mask))  # (B, d)
        return torch.where(mask.any(dim=1, keepdim=True), pooled, self.missing[index])

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        pooled = {n: masked_mean(embeddings[n], present[n]) for n in self.conditioners}
        rows = {n: present[n].any(dim=1) for n in self.conditioners}
        projected = self.condition(pooled, rows)  # (B, M_c, d)
        outputs = []
        for index, target in enumerate(self.targets):
            others = [i for i, n in enumerate(self.conditioners) if n != target]
            condition = projected[:, others].flatten(1)  # (B, (M - 1) d)
            outputs.append(self._modulate(index, target, embeddings[target], present[target], condition))
        if self.target is not None:
            outputs.append(projected.flatten(1))  # (B, (M - 1) d)
        return torch.cat(outputs, dim=-1)  # (B, M d)
