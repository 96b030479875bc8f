"""The fusion contract.

A fusion is an ``nn.Module`` built from ``modality_dims`` (input name -> width) and its config.
``forward(embeddings, present)`` takes one tensor per input and a present-mask per input and returns
``(B, output_dim)``. Inputs are processed in sorted key order. A row whose input is absent (present
False) must still give a finite output; an absent input's embedding is arbitrary and must be ignored.

``input_kind = "pooled"``: embeddings are ``(B, D_m)``, present masks ``(B,)`` bool.
``input_kind = "tokens"``: embeddings are ``(B, T_m, D_m)``, masks ``(B, T_m)`` bool (False for
padding and for every token of an absent row); pooled-only encoders arrive as ``T_m = 1``.

``reads_positions = True`` (token fusions only): ``forward`` also receives
``positions={m: (B, T_m, P)}`` for the inputs whose encoders declare token positions.

Fusions know nothing of tasks: late and hybrid fusion are task heads (:mod:`polyfuse.tasks.heads`).

Fusions may add auxiliary loss terms (alignment objectives) through :meth:`auxiliary_losses`,
which the model adds to the task loss under their names.

Legend: B batch, T tokens, D width, M modalities.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from torch import Tensor, nn

from polyfuse._registry import ComponentConfig


class FusionConfig(ComponentConfig):
    """Base of fusion configs."""


class Fusion(nn.Module):
    """Base class: subclasses set ``self.output_dim`` in ``__init__`` and implement ``forward``."""

    input_kind: ClassVar[Literal["pooled", "tokens"]] = "pooled"
    reads_positions: ClassVar[bool] = False
    output_dim: int

    def __init__(self, modality_dims: dict[str, int], config: FusionConfig) -> None:
        super().__init__()
        if not modality_dims:
            raise ValueError("a fusion needs at least one input")
        self.modality_dims = dict(sorted(modality_dims.items()))
        self.names = list(self.modality_dims)
        self.config = config

    def forward(
        self, embeddings: dict[str, Tensor], present: dict[str, Tensor]
    ) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def auxiliary_losses(
        self, embeddings: dict[str, Tensor], present: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        """Named auxiliary loss terms for this batch (none by default)."""
        return {}
