"""``image/cells``: one token per grid cell, read from the cell's foreground (object-centric scenes).

Legend: B batch, C channels, H/W height/width, g grid side, T = g * g cell tokens, D width.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.encoders._layers import coordinate_map
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import Encoder, EncoderConfig, EncoderOutput


class CellsImageConfig(EncoderConfig):
    """Options of :class:`CellsImageEncoder`."""

    grid: int = Field(4, ge=1, le=32, description="cells per side: one token per cell, g * g in all")
    width: int = Field(
        32,
        ge=5,
        le=1024,
        description="token width D: colour features, mask (shape) features, presence, then x and y",
    )
    threshold: float = Field(
        0.5,
        gt=0.0,
        description="a pixel is foreground when its channels differ from the background colour by more"
        " than this in total, in the image processor's normalised units (standard deviations)",
    )
    mask_empty: bool = Field(
        False,
        description="mask out the cells without foreground, so that fusions attend over objects only"
        " (an image without foreground keeps every cell)",
    )


@register_encoder("image", "cells", CellsImageConfig)
class CellsImageEncoder(Encoder):
    """Cell tokens that keep an object's colour apart from the background and from its shape.

    For scenes of objects on a plain background (diagrams, renders, product shots, the cognition
    benchmark's images). The background colour is the per-channel median of the image's border
    pixels; a pixel is foreground when its channels differ from it by more than ``threshold`` in
    total. Each cell of a ``grid x grid`` layout then gives one token of width D:

    - colour: an MLP of the mean colour of the cell's foreground pixels only, so an object's colour
      reads the same whatever its size and however much background its cell holds (zero for an
      empty cell);
    - shape (and size): a 2-layer MLP of the cell's foreground mask (its first layer a patch
      embedding of the mask, as ViT's of the pixels, https://arxiv.org/abs/2010.11929), so that
      "same shape" can be read across sizes;
    - presence (1 when the cell holds a foreground pixel) and where its foreground is: the
      centroid (x, y) of its foreground pixels, -1 (left / top) to 1, or the cell's centre when
      it is empty, so an object is placed more finely than its cell (fusions that relate objects
      by distance read it: ``hops`` with ``positions: tokens``).

    A CNN learns the same from pixels, but slowly: attention led by a question has to find the
    object it names before anything downstream can learn, and with CNN tokens, whose features
    mix colour, background and position from a random start, that took more passes than 2 CPU
    cores give in an hour (docs/cognition.md). The pooled vector is the tokens flattened in
    row-major order and projected (``(B, T * D) -> (B, D)``, ReLU), so it keeps the layout.

    Input ``{"pixels": (B, C, H, W)}`` with H and W multiples of ``grid``; output pooled
    ``(B, D)``, tokens ``(B, g * g, D)`` (row-major) and their mask ``(B, g * g)``: all True, or
    with ``mask_empty`` True on the cells holding foreground only (every cell of an image without
    any), so that fusions attend over objects and not over empty cells, whose tokens are alike in
    every image (docs/cognition.md, "Empty cells masked").
    """

    def __init__(self, config: CellsImageConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        channels, height, width = int(spec["channels"]), int(spec["height"]), int(spec["width"])
        grid = config.grid
        if height % grid or width % grid:
            raise ValueError(
                f"image/cells needs the image's height and width ({height} x {width}) to be multiples"
                f" of grid {grid}: set the image processor's size to one"
            )
        self.cell = (height // grid, width // grid)
        self.threshold = config.threshold
        self.mask_empty = config.mask_empty
        colour = (config.width - 3) // 2
        self.colour = nn.Sequential(nn.Conv2d(channels, colour, 1), nn.ReLU(), nn.Conv2d(colour, colour, 1))
        shape = config.width - 3 - colour
        self.shape = nn.Sequential(  # an MLP of each cell's mask (its first layer a patch embedding)
            nn.Conv2d(1, shape, self.cell, stride=self.cell), nn.ReLU(), nn.Conv2d(shape, shape, 1)
        )
        self.pool = nn.Sequential(nn.Linear(grid * grid * config.width, config.width), nn.ReLU())
        self.output_dim = config.width

    def foreground(self, pixels: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, 1, H, W): 1.0 where a pixel differs from the border's median colour."""
        border = torch.cat([pixels[..., 0, :], pixels[..., -1, :], pixels[..., 0], pixels[..., -1]], 2)
        background = border.median(2).values[..., None, None]  # (B, C, 1, 1)
        difference = (pixels - background).abs().sum(1, keepdim=True)  # (B, 1, H, W)
        return (difference > self.threshold).to(pixels.dtype)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        pixels = x["pixels"]  # (B, C, H, W)
        batch, _, height, width = pixels.shape
        foreground = self.foreground(pixels)  # (B, 1, H, W)
        share = nn.functional.avg_pool2d(foreground, self.cell)  # (B, 1, g, g): foreground fraction
        present = (share > 0).to(pixels.dtype)

        def foreground_mean(values: Tensor) -> Tensor:  # (B, K, H, W) -> (B, K, g, g), 0 if empty
            return nn.functional.avg_pool2d(values * foreground, self.cell) / share.clamp(min=1e-6)

        colour = torch.relu(self.colour(foreground_mean(pixels))) * present  # (B, c, g, g)
        shape = torch.relu(self.shape(foreground))  # (B, s, g, g)
        points = coordinate_map(height, width, pixels).expand(batch, -1, -1, -1)  # (B, 2, H, W)
        centres = coordinate_map(share.shape[2], share.shape[3], pixels)  # (2, g, g)
        where = torch.where(present > 0, foreground_mean(points), centres)  # (B, 2, g, g)
        tokens = torch.cat([colour, shape, present, where], 1).flatten(2).transpose(1, 2)  # (B, T, D)
        mask = present.flatten(1) > 0  # (B, T)
        mask = mask | ~(self.mask_empty & mask.any(1, keepdim=True))  # all, or the objects if any
        positions = where.flatten(2).transpose(1, 2)  # (B, T, 2): each cell's centroid (x, y)
        return EncoderOutput(self.pool(tokens.flatten(1)), tokens, mask, positions)
