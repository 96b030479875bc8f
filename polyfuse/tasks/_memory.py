"""What a text decoder attends over: every input's tokens projected to one width, plus a learned
"no input" token.

Each input's tokens ``(B, T_m, D_m)`` (image grid cells, text tokens, audio frames, a tabular or
pooled-only input as one token) go through their own linear projection to ``D``, get a learned
embedding of their input and of their position (positions past ``max_positions`` share the last),
and are concatenated with their masks (an absent input is all False). A learned memory token that
is never masked comes first, so a row with every input absent still has something to attend to.

Legend: B batch, T_m tokens of input m, S = 1 + sum of T_m, D width.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MemoryBuilder(nn.Module):
    """``{input: (B, T_m, D_m)}`` + masks -> memory ``(B, S, D)`` and mask ``(B, S)``.

    Args:
        input_dims: ``{input: D_m}``.
        dim: D, the decoder's memory width.
        max_positions: learned positions per input.
    """

    def __init__(self, input_dims: dict[str, int], dim: int, max_positions: int = 256) -> None:
        super().__init__()
        self.names = sorted(input_dims)
        self.project = nn.ModuleDict(
            {n: nn.Sequential(nn.Linear(input_dims[n], dim), nn.LayerNorm(dim)) for n in self.names}
        )
        self.input_embedding = nn.Parameter(torch.zeros(len(self.names), dim))
        self.position = nn.Parameter(torch.zeros(max_positions, dim))
        self.null = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.max_positions = max_positions

    def forward(self, tokens: dict[str, Tensor], masks: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        first = tokens[self.names[0]] if self.names else None
        batch = first.shape[0] if first is not None else 1
        device = self.null.device
        parts = [self.null.expand(batch, -1, -1)]
        mask_parts = [torch.ones(batch, 1, dtype=torch.bool, device=device)]
        for i, name in enumerate(self.names):
            x = self.project[name](tokens[name].to(self.null.dtype))  # (B, T_m, D)
            index = torch.arange(x.shape[1], device=device).clamp(max=self.max_positions - 1)
            parts.append(x + self.input_embedding[i] + self.position[index])
            mask_parts.append(masks[name].to(device))
        return torch.cat(parts, dim=1), torch.cat(mask_parts, dim=1)  # (B, S, D), (B, S)
