"""Hybrid fusion: an early-fusion prediction and per-input late predictions, combined."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.fusion._layers import masked_mean, mlp
from polyfuse.fusion._registry import register_fusion
from polyfuse.fusion.base import Fusion
from polyfuse.fusion.early import EarlyFusion, EarlyFusionConfig
from polyfuse.fusion.late import Combine, PredictionCombiner, require_outputs


class HybridFusionConfig(EarlyFusionConfig):
    """Options of :class:`HybridFusion`: the early transformer's, plus the late heads' and combiner's."""

    combine: Combine = Field(
        "weighted",
        description="how the early and per-input predictions are combined: average|weighted|stacking",
    )
    head_hidden_dim: int = Field(64, ge=0, description="hidden width of every prediction head; 0 = linear")
    num_outputs: int | None = Field(
        None, ge=1, description="prediction width K; filled by the builder with the task's output width"
    )


@register_fusion("hybrid", HybridFusionConfig)
class HybridFusion(Fusion):
    """Early and late fusion together: ``combine(head(early(all tokens)), head_1(x_1), ..., head_M(x_M))``.

    The early branch is :class:`~polyfuse.fusion.early.EarlyFusion` over the tokens of all inputs,
    followed by a head; each late head sees one input mean-pooled over its real tokens. The early
    prediction is always present (its [CLS] token is), the late ones only where their input is; the
    M + 1 predictions are combined as in late fusion. The output is the prediction, so the builder
    replaces the task head with an identity. Survey: Baltrusaitis et al. 2019,
    https://arxiv.org/abs/1705.09406

    Shapes: embeddings ``{m: (B, T_m, D_m)}``, masks ``{m: (B, T_m)}`` -> ``(B, K)``.
    Legend: B batch, T tokens, D width, K outputs, M modalities.
    """

    input_kind = "tokens"
    produces_predictions: ClassVar[bool] = True

    def __init__(self, modality_dims: dict[str, int], config: HybridFusionConfig) -> None:
        super().__init__(modality_dims, config)
        outputs = require_outputs(config.num_outputs, "hybrid")
        early_options = {k: getattr(config, k) for k in EarlyFusionConfig.model_fields if k != "type"}
        self.early = EarlyFusion(modality_dims, EarlyFusionConfig(type="early", **early_options))
        hidden, dropout = config.head_hidden_dim, config.dropout
        self.early_head = mlp(self.early.output_dim, hidden, outputs, dropout)
        self.heads = nn.ModuleDict(
            {n: mlp(d, hidden, outputs, dropout) for n, d in self.modality_dims.items()}
        )
        self.combiner = PredictionCombiner(len(self.names) + 1, outputs, config.combine)
        self.output_dim = outputs

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        early = self.early_head(self.early(embeddings, present))  # (B, K)
        late = [self.heads[n](masked_mean(embeddings[n], present[n])) for n in self.names]
        predictions = torch.stack([early, *late], dim=1)  # (B, 1 + M, K)
        rows = torch.stack([present[n].any(dim=1) for n in self.names], dim=1)  # (B, M)
        mask = torch.cat([rows.new_ones(rows.shape[0], 1), rows], dim=1)  # (B, 1 + M)
        return self.combiner(predictions, mask)  # type: ignore[no-any-return]
