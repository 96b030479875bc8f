"""Gaussian experts per input and their joint posterior: a product (MVAE) or a mixture (MMVAE).

Each present input m gives a diagonal Gaussian ``q_m(z | x_m) = N(mu_m, exp(logvar_m))``.

- Product of experts (Wu and Goodman 2018, https://arxiv.org/abs/1802.05335): the joint posterior
  is the product of the present experts and the prior ``N(0, I)``: precisions add and the mean is
  precision-weighted. An absent input simply contributes no expert, so any subset of inputs gives
  a posterior (a row with none gives the prior).
- Mixture of experts (Shi et al. 2019, https://arxiv.org/abs/1911.03393): the joint posterior is
  the uniform mixture of the present experts; training draws a latent from each expert and asks
  it to rebuild every input (cross-modal reconstruction).

Legend: B batch, M inputs, L latent width.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class GaussianExperts(nn.Module):
    """One linear map per input from its pooled vector ``(B, D_m)`` to ``(mu, logvar)`` ``(B, L)``."""

    def __init__(self, input_dims: dict[str, int], latent_dim: int) -> None:
        super().__init__()
        self.names = sorted(input_dims)
        self.heads = nn.ModuleDict({n: nn.Linear(input_dims[n], 2 * latent_dim) for n in self.names})

    def forward(self, pooled: dict[str, Tensor], present: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """``mu, logvar`` ``(B, M, L)`` and ``present`` ``(B, M)`` bool, inputs in sorted order."""
        stats = torch.stack([self.heads[n](pooled[n].float()) for n in self.names], 1)  # (B, M, 2L)
        mu, logvar = stats.chunk(2, dim=-1)  # (B, M, L) each
        mask = torch.stack([present[n] for n in self.names], 1)  # (B, M)
        return mu, logvar.clamp(-8.0, 8.0), mask


def product_of_experts(mu: Tensor, logvar: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
    """The product of the present experts and a ``N(0, I)`` prior expert: ``(B, L)`` mean and logvar."""
    precision = torch.exp(-logvar) * present.unsqueeze(-1).float()  # (B, M, L), 0 for absent experts
    total = 1.0 + precision.sum(1)  # (B, L), the prior's precision is 1
    joint_mu = (precision * mu).sum(1) / total
    return joint_mu, -torch.log(total)


def mixture_mean(mu: Tensor, present: Tensor) -> Tensor:
    """The mean ``(B, L)`` of the uniform mixture of the present experts (0, the prior's, for none)."""
    weights = present.unsqueeze(-1).float()  # (B, M, 1)
    return (mu * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def sample(mu: Tensor, logvar: Tensor) -> Tensor:
    """A reparameterised draw ``mu + sigma * eps`` (same shape as ``mu``)."""
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


def kl_to_prior(mu: Tensor, logvar: Tensor) -> Tensor:
    """``KL(N(mu, exp(logvar)) || N(0, I))`` summed over L: ``(...)`` from ``(..., L)``."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(-1)
