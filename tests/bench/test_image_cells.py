"""``image/cells``: foreground cell tokens keep an object's colour apart from its size, its shape
and the background; presence and positions are exact."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from polyfuse.bench.cognition.cells import CellsImageEncoder
from polyfuse.encoders import create_encoder, parse_encoder_config
from polyfuse.encoders._layers import coordinate_map

SIDE, GRID, WIDTH = 32, 4, 16
COLOUR = (WIDTH - 3) // 2
"""Token layout: COLOUR colour features, then mask features, presence, x, y."""


def build(**options: Any) -> CellsImageEncoder:
    torch.manual_seed(0)
    spec = {"channels": 3, "height": SIDE, "width": SIDE}
    config = parse_encoder_config("image", {"type": "cells", "grid": GRID, "width": WIDTH, **options})
    encoder = create_encoder("image", config, spec)
    assert isinstance(encoder, CellsImageEncoder)
    return encoder.eval()


RGB = tuple[int, int, int]


def scene(objects: list[tuple[str, int, int, int, RGB]], background: RGB = (24, 24, 28)) -> torch.Tensor:
    """(1, 3, SIDE, SIDE) pixels, normalised as the processor would (mean 0.5, std 0.25):
    objects are (shape, centre x, centre y, half side, colour)."""
    image = Image.new("RGB", (SIDE, SIDE), background)
    draw = ImageDraw.Draw(image)
    for shape, x, y, half, colour in objects:
        box = (x - half, y - half, x + half - 1, y + half - 1)
        (draw.rectangle if shape == "square" else draw.ellipse)(box, fill=colour)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)[None]
    return (pixels / 255 - 0.5) / 0.25


def tokens(encoder: CellsImageEncoder, pixels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = encoder({"pixels": pixels})
    assert out.tokens is not None
    return out.tokens[0]  # (16, WIDTH)


def test_colour_reads_the_same_whatever_the_size_shape_and_background() -> None:
    encoder = build()
    red = (220, 40, 40)
    small = tokens(encoder, scene([("square", 4, 4, 1, red)]))
    large = tokens(encoder, scene([("circle", 4, 4, 4, red)], background=(240, 240, 240)))
    torch.testing.assert_close(small[0, :COLOUR], large[0, :COLOUR])
    assert small[0, :COLOUR].abs().sum() > 0
    blue = tokens(encoder, scene([("square", 4, 4, 1, (40, 40, 220))]))
    assert not torch.allclose(blue[0, :COLOUR], small[0, :COLOUR])


def test_shape_features_tell_a_square_from_a_circle_of_one_colour() -> None:
    encoder = build()
    square = tokens(encoder, scene([("square", 12, 4, 4, (40, 200, 40))]))
    circle = tokens(encoder, scene([("circle", 12, 4, 4, (40, 200, 40))]))
    shape = slice(COLOUR, WIDTH - 3)
    torch.testing.assert_close(square[1, :COLOUR], circle[1, :COLOUR])
    assert (square[1, shape] - circle[1, shape]).abs().max() > 1e-3


def test_empty_cells_are_zero_colour_and_absent_and_objects_sit_at_their_centroid() -> None:
    encoder = build()
    cells = tokens(encoder, scene([("square", 18, 26, 2, (200, 200, 40))]))  # pixels 16-19 x 24-27
    present = cells[:, -3]
    assert present.tolist() == [0.0] * 14 + [1.0, 0.0]  # row 3, column 2
    assert cells[present == 0, :COLOUR].abs().sum() == 0
    expected = coordinate_map(GRID, GRID, cells).flatten(1).T.clone()  # empty cells: their centres
    expected[14] = torch.tensor([18 / 32 * 2 - 1, 26 / 32 * 2 - 1])  # the square's centre, off its cell's
    torch.testing.assert_close(cells[:, -2:], expected)


def test_a_size_the_grid_does_not_divide_is_refused() -> None:
    config = parse_encoder_config("image", {"type": "cells", "grid": 5})
    with pytest.raises(ValueError, match=r"32 x 32\) to be multiples of grid 5"):
        create_encoder("image", config, {"channels": 3, "height": 32, "width": 32})


def test_mask_empty_keeps_only_the_cells_with_an_object() -> None:
    pixels = torch.cat(
        [scene([("square", 18, 26, 2, (200, 200, 40)), ("circle", 4, 4, 2, (40, 40, 220))]), scene([])]
    )
    with torch.no_grad():
        masked = build(mask_empty=True)({"pixels": pixels}).token_mask
        default = build()({"pixels": pixels}).token_mask
    assert masked is not None and default is not None
    assert masked[0].nonzero().flatten().tolist() == [0, 14]  # the circle's cell, then the square's
    assert masked[1].all()  # an image without foreground keeps every cell (never all masked)
    assert default.all()
