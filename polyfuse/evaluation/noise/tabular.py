"""Tabular injectors: numeric noise, missing values.

They act on ``{"numeric": (B, 2N), "categorical": (B, K)}`` from the :class:`TabularProcessor`:
N standardised values followed by N missing-indicators, and K category ids (0 = unknown/missing).
Level ``l`` means:

- ``noise``: Gaussian noise of standard deviation ``2 * l`` training standard deviations on every
  observed numeric value;
- ``missing``: each numeric and categorical cell becomes missing with probability ``l``, encoded
  exactly as the processor encodes a missing cell (its imputed value and indicator 1; category 0).

Legend: B batch, N numeric columns, K categorical columns.
"""

from __future__ import annotations

import torch

from polyfuse.data.processors.base import Features
from polyfuse.evaluation.noise._registry import Injector, normal, register_injector, uniform


class TabularInjector(Injector):
    """Shared part of the tabular injectors."""

    modality = "tabular"

    def _count(self, numeric: torch.Tensor) -> int:
        return numeric.shape[1] // 2


@register_injector("tabular", "noise", "Gaussian noise of 2 * level std on observed numbers")
class NumericNoiseInjector(TabularInjector):
    """Adds ``N(0, (2 * level)^2)`` (in training standard deviations) to observed numbers."""

    def apply(self, features: Features, level: float, generator: torch.Generator) -> Features:
        numeric = features["numeric"]  # (B, 2N)
        n = self._count(numeric)
        values, missing = numeric[:, :n], numeric[:, n:]  # (B, N) each
        noisy = values + 2.0 * level * normal(values.shape, generator, values) * (missing < 0.5)
        return {**features, "numeric": torch.cat([noisy, missing], dim=1)}


@register_injector("tabular", "missing", "each cell missing with probability `level`")
class MissingInjector(TabularInjector):
    """Makes numeric and categorical cells missing with probability ``level`` each."""

    def apply(self, features: Features, level: float, generator: torch.Generator) -> Features:
        numeric, categorical = features["numeric"], features["categorical"]  # (B, 2N), (B, K)
        n = self._count(numeric)
        values, missing = numeric[:, :n], numeric[:, n:]
        columns = [*self.processor.numeric, *self.processor.categorical]  # type: ignore[attr-defined]
        empty = self.processor.transform(dict.fromkeys(columns))  # a row with every cell missing
        assert empty is not None
        imputed = empty["numeric"][:n].to(numeric)  # (N,) what a missing number becomes
        drop = uniform(values.shape, generator, values) < level  # (B, N)
        values = torch.where(drop, imputed.expand_as(values), values)
        missing = torch.where(drop, torch.ones_like(missing), missing)
        drop_cat = uniform(categorical.shape, generator, values) < level  # (B, K)
        categorical = torch.where(drop_cat, torch.zeros_like(categorical), categorical)
        return {**features, "numeric": torch.cat([values, missing], dim=1), "categorical": categorical}
