"""Scenes: a few coloured shapes on a 4 x 4 grid, sampled with a seeded generator and drawn with Pillow.

Every object has its own colour (as in Sort-of-CLEVR), so "the red object" always names one object.
Objects sit in distinct cells of a 4 x 4 grid, jittered inside their cell, so they never overlap and
"left / right" and "top / bottom" are never ambiguous (no object straddles a middle line).

Positions are fractions of the image side (0 = left / top, 1 = right / bottom), so a scene can be
drawn at any resolution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 175, 60),
    "blue": (50, 90, 235),
    "yellow": (235, 220, 40),
    "purple": (150, 60, 200),
    "orange": (245, 140, 20),
    "cyan": (40, 210, 220),
    "white": (240, 240, 240),
}
"""Colour name -> RGB; at most one object of each colour per scene."""
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
GRID = 4
"""Objects sit in distinct cells of a GRID x GRID grid."""
MAX_OBJECTS = len(COLOURS)
BACKGROUND = (24, 24, 28)
_RADIUS = {"small": 0.24, "large": 0.38}
"""Object radius in cell widths."""
_SUPERSAMPLE = 4
"""Scenes are drawn this many times larger and box-filtered down (anti-aliasing)."""


@dataclass(frozen=True)
class SceneObject:
    """One object: colour, shape, size and its centre as fractions of the image side."""

    colour: str
    shape: str
    size: str
    x: float
    y: float

    @property
    def horizontal(self) -> str:
        """``"left"`` or ``"right"`` half of the image."""
        return "left" if self.x < 0.5 else "right"

    @property
    def vertical(self) -> str:
        """``"top"`` or ``"bottom"`` half of the image."""
        return "top" if self.y < 0.5 else "bottom"

    def distance(self, other: SceneObject) -> float:
        """Euclidean distance between the centres (in image sides)."""
        return float(np.hypot(self.x - other.x, self.y - other.y))


@dataclass(frozen=True)
class Scene:
    """The objects of one image, and which of them questions should prefer to ask about.

    ``focus`` holds object indices: all of them for ordinary scenes, the objects with a held-out
    colour-shape pair for compositional-test scenes (``compositional`` True), whose questions may
    also name held-out pairs that ordinary scenes' questions never name.
    """

    objects: tuple[SceneObject, ...]
    focus: tuple[int, ...] = ()
    compositional: bool = False

    def by_colour(self, colour: str) -> SceneObject | None:
        """The object of that colour, or None."""
        return next((o for o in self.objects if o.colour == colour), None)

    @property
    def colours(self) -> list[str]:
        """Colours present, in object order."""
        return [o.colour for o in self.objects]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (positions rounded to 4 decimals)."""
        objects = [{**asdict(o), "x": round(o.x, 4), "y": round(o.y, 4)} for o in self.objects]
        return {"objects": objects, "focus": list(self.focus), "compositional": self.compositional}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Scene:
        """Inverse of :meth:`to_dict`."""
        objects = tuple(SceneObject(**o) for o in values["objects"])
        focus = tuple(values.get("focus", range(len(objects))))
        return cls(objects, focus, bool(values.get("compositional", False)))


def held_out_pairs() -> frozenset[tuple[str, str]]:
    """The colour-shape pairs of the compositional split: colour ``i`` with shape ``i mod 3``.

    One shape per colour (8 of the 24 pairs), so every colour and every shape still occurs in
    training, only never together in these combinations (CLEVR CoGenT's idea).
    """
    return frozenset((colour, SHAPES[i % len(SHAPES)]) for i, colour in enumerate(COLOURS))


def sample_scene(rng: np.random.Generator, num_objects: int, compositional: bool = False) -> Scene:
    """A random scene of ``num_objects`` objects (2 to 8).

    Ordinary scenes never contain a held-out colour-shape pair; compositional scenes give each
    object a held-out pair with probability 1/2, and at least one object always gets one. Their
    ``focus`` is the held-out objects.
    """
    if not 1 <= num_objects <= MAX_OBJECTS:
        raise ValueError(f"num_objects must be in [1, {MAX_OBJECTS}], got {num_objects}")
    held_out = held_out_pairs()
    colours = [list(COLOURS)[i] for i in rng.permutation(len(COLOURS))[:num_objects]]
    cells = rng.permutation(GRID * GRID)[:num_objects]
    forced = int(rng.integers(num_objects)) if compositional else -1
    objects, focus = [], []
    for index, (colour, cell) in enumerate(zip(colours, cells, strict=True)):
        unusual = compositional and (index == forced or rng.random() < 0.5)
        shapes = [s for s in SHAPES if ((colour, s) in held_out) == unusual]
        shape = shapes[int(rng.integers(len(shapes)))]
        size = SIZES[int(rng.integers(len(SIZES)))]
        slack = 0.5 - _RADIUS[size] - 0.04  # how far the centre may move inside its cell
        row, col = divmod(int(cell), GRID)
        x = (col + 0.5 + rng.uniform(-slack, slack)) / GRID
        y = (row + 0.5 + rng.uniform(-slack, slack)) / GRID
        objects.append(SceneObject(colour, shape, size, float(x), float(y)))
        if unusual:
            focus.append(index)
    if not compositional:
        return Scene(tuple(objects), tuple(range(num_objects)))
    return Scene(tuple(objects), tuple(focus), compositional=True)


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject, side: int) -> None:
    r = _RADIUS[obj.size] * side / GRID
    cx, cy = obj.x * side, obj.y * side
    fill = COLOURS[obj.colour]
    if obj.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif obj.shape == "square":
        half = r * 0.88  # a square of the same area reads as the same size
        draw.rectangle([cx - half, cy - half, cx + half, cy + half], fill=fill)
    else:
        draw.polygon([(cx, cy - r), (cx - r * 1.05, cy + r * 0.8), (cx + r * 1.05, cy + r * 0.8)], fill=fill)


def _draw_clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, side: int) -> None:
    """Dim grey strokes and dots: distractors that are not objects."""
    for _ in range(int(rng.integers(4, 9))):
        grey = int(rng.integers(55, 110))
        x0, y0, x1, y1 = (float(v) for v in rng.uniform(0, side, 4))
        draw.line([(x0, y0), (x1, y1)], fill=(grey, grey, grey), width=max(1, side // 64))
    for _ in range(int(rng.integers(6, 14))):
        grey = int(rng.integers(55, 110))
        cx, cy = (float(v) for v in rng.uniform(0, side, 2))
        dot = side / 96
        draw.ellipse([cx - dot, cy - dot, cx + dot, cy + dot], fill=(grey, grey, grey))


def draw_scene(
    scene: Scene, size: int, rng: np.random.Generator, clutter: bool = False, noise: float = 0.0
) -> Image.Image:
    """Render ``scene`` as a ``size`` x ``size`` RGB image.

    Args:
        scene: what to draw.
        size: image side in pixels (16 or more).
        rng: draws the clutter and the noise (unused when both are off).
        clutter: add dim grey strokes and dots behind the objects.
        noise: standard deviation of Gaussian pixel noise, as a fraction of the 0-255 range.
    """
    if size < 16:
        raise ValueError(f"image size must be at least 16 pixels, got {size}")
    side = size * _SUPERSAMPLE
    image = Image.new("RGB", (side, side), BACKGROUND)
    draw = ImageDraw.Draw(image)
    if clutter:
        _draw_clutter(draw, rng, side)
    for obj in scene.objects:
        _draw_object(draw, obj, side)
    image = image.resize((size, size), Image.Resampling.BOX)
    if noise > 0:
        pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, noise * 255.0, (size, size, 3))
        image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    return image


def caption(scene: Scene) -> str:
    """An English description of every object, row by row from the top, left to right in a row."""
    ordered = sorted(scene.objects, key=lambda o: (int(o.y * GRID), o.x))
    parts = [f"a {o.size} {o.colour} {o.shape} at the {o.vertical} {o.horizontal}" for o in ordered]
    text = ", ".join(parts)
    return text[0].upper() + text[1:] + "."
