"""The abilities: a registry of question samplers, one per ability, each tagged perception or cognition.

A sampler picks a question kind and its values for a scene (and what the audio must carry); it
never computes the answer: :func:`sample_question` asks :mod:`~polyfuse.bench.cognition.answers`.
Samplers aim at balanced yes/no answers, prefer the scene's ``focus`` objects as subjects (the
held-out colour-shape pairs in the compositional split), and, in ordinary scenes, never name a
held-out colour-shape pair.

Add an ability (a sampler returns the kind, the slots named in the text, the audio values)::

    @register_ability("tone_shape", "cognition", "the shape of the object the tone names", needs_audio=True)
    def _tone_shape(scene, rng):
        return "tone_shape", {}, {"tone": scene.objects[0].colour}

A new question kind also needs an answer function in ``answers.ANSWERS`` and templates in
``templates.TEMPLATES``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from polyfuse.bench.cognition.answers import AmbiguousQuestion, answer_question, ranked_neighbours
from polyfuse.bench.cognition.audio import MAX_BEEPS
from polyfuse.bench.cognition.scene import COLOURS, SHAPES, SIZES, Scene, SceneObject, held_out_pairs

CATEGORIES = ("perception", "cognition")
Choice = tuple[str, dict[str, str], dict[str, str]]
"""(question kind, slots named in the text, values carried by the audio)."""
Sampler = Callable[[Scene, np.random.Generator], Choice | None]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Question:
    """One question about a scene: its kind, its slot values, what the audio carries, the answer."""

    kind: str
    slots: dict[str, str]
    answer: str
    audio: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ability:
    """A registered ability."""

    name: str
    category: str
    description: str
    sampler: Sampler
    needs_audio: bool


_ABILITIES: dict[str, Ability] = {}


def register_ability(
    name: str, category: str, description: str, needs_audio: bool = False
) -> Callable[[Sampler], Sampler]:
    """Decorator registering a sampler as ability ``name``; returns the sampler unchanged."""
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {list(CATEGORIES)}, got {category!r}")

    def decorate(sampler: Sampler) -> Sampler:
        if name in _ABILITIES:
            raise ValueError(f"ability {name!r} is already registered")
        _ABILITIES[name] = Ability(name, category, description, sampler, needs_audio)
        return sampler

    return decorate


def list_abilities(category: str | None = None) -> list[str]:
    """Registered ability names (in registration order), optionally of one category."""
    return [a.name for a in _ABILITIES.values() if category is None or a.category == category]


def get_ability(name: str) -> Ability:
    """The registered ability; unknown names raise with the valid list."""
    if name not in _ABILITIES:
        raise KeyError(f"unknown ability {name!r}; abilities: {', '.join(_ABILITIES)}")
    return _ABILITIES[name]


def sample_question(ability: str, scene: Scene, rng: np.random.Generator) -> Question | None:
    """A question of ``ability`` about ``scene`` with its answer, or None if this draw does not fit."""
    choice = get_ability(ability).sampler(scene, rng)
    if choice is None:
        return None
    kind, slots, audio = choice
    try:
        answer = answer_question(scene, kind, **slots, **audio)
    except AmbiguousQuestion:
        return None
    return Question(kind, slots, answer, audio)


# ---- helpers
def _pick(rng: np.random.Generator, items: Sequence[_T]) -> _T:
    return items[int(rng.integers(len(items)))]


def _coin(rng: np.random.Generator) -> bool:
    return bool(rng.random() < 0.5)


def _subject(scene: Scene, rng: np.random.Generator) -> SceneObject:
    """An object to ask about, from the scene's focus."""
    return scene.objects[_pick(rng, scene.focus or range(len(scene.objects)))]


def _plausible(scene: Scene, colour: str, shape: str) -> bool:
    """Whether a question may name this pair here (held-out pairs only in compositional scenes)."""
    return scene.compositional or (colour, shape) not in held_out_pairs()


def _other_shape(scene: Scene, obj: SceneObject, rng: np.random.Generator) -> str:
    """A shape that ``obj`` does not have, among those a question may pair with its colour."""
    return _pick(rng, [s for s in SHAPES if s != obj.shape and _plausible(scene, obj.colour, s)])


def _absent_colours(scene: Scene) -> list[str]:
    return [c for c in COLOURS if c not in scene.colours]


def _colour(scene: Scene, rng: np.random.Generator, present: bool) -> str | None:
    """A present colour, or an absent one (None when every colour is present)."""
    if present:
        return _subject(scene, rng).colour
    absent = _absent_colours(scene)
    return _pick(rng, absent) if absent else None


def _two_shapes(rng: np.random.Generator) -> tuple[str, str]:
    first, second = rng.permutation(len(SHAPES))[:2]
    return SHAPES[int(first)], SHAPES[int(second)]


# ---- perception
@register_ability("existence", "perception", "is there an object of a colour, a shape, or both")
def _existence(scene: Scene, rng: np.random.Generator) -> Choice | None:
    subject, present = _subject(scene, rng), _coin(rng)
    kind = _pick(rng, ["exist_colour", "exist_shape", "exist_colour_shape"])
    if kind == "exist_colour":
        colour = _colour(scene, rng, present)
        return None if colour is None else (kind, {"colour": colour}, {})
    if kind == "exist_shape":
        missing = [s for s in SHAPES if s not in {o.shape for o in scene.objects}]
        if not present and not missing:
            return None  # every shape is here: ask another question, to keep yes and no balanced
        return kind, {"shape": subject.shape if present else _pick(rng, missing)}, {}
    if present:
        return kind, {"colour": subject.colour, "shape": subject.shape}, {}
    pairs = [(c, s) for c in COLOURS for s in SHAPES if _plausible(scene, c, s)]
    absent = [p for p in pairs if not any((o.colour, o.shape) == p for o in scene.objects)]
    colour, shape = _pick(rng, absent)
    return kind, {"colour": colour, "shape": shape}, {}


@register_ability("colour", "perception", "what colour is the object named by its shape (and size)")
def _colour_ability(scene: Scene, rng: np.random.Generator) -> Choice | None:
    subject = _subject(scene, rng)
    shapes = [o.shape for o in scene.objects]
    if shapes.count(subject.shape) == 1:
        if _coin(rng):
            return "colour_of_shape", {"shape": subject.shape}, {}
        others = [c for c in COLOURS if c != subject.colour and _plausible(scene, c, subject.shape)]
        colour = subject.colour if _coin(rng) else _pick(rng, others)
        return "is_colour", {"shape": subject.shape, "colour": colour}, {}
    return "colour_of_sized_shape", {"size": subject.size, "shape": subject.shape}, {}


@register_ability("shape", "perception", "what shape is the object of a colour")
def _shape_ability(scene: Scene, rng: np.random.Generator) -> Choice | None:
    subject = _subject(scene, rng)
    if _coin(rng):
        return "shape_of", {"colour": subject.colour}, {}
    shape = subject.shape if _coin(rng) else _other_shape(scene, subject, rng)
    return "is_shape", {"colour": subject.colour, "shape": shape}, {}


@register_ability("size", "perception", "is the object of a colour small or large")
def _size_ability(scene: Scene, rng: np.random.Generator) -> Choice | None:
    subject = _subject(scene, rng)
    if _coin(rng):
        return "size_of", {"colour": subject.colour}, {}
    return "is_size", {"colour": subject.colour, "size": _pick(rng, SIZES)}, {}


@register_ability("position", "perception", "is the object of a colour left or right, top or bottom")
def _position_ability(scene: Scene, rng: np.random.Generator) -> Choice | None:
    kind = "horizontal_of" if _coin(rng) else "vertical_of"
    return kind, {"colour": _subject(scene, rng).colour}, {}


@register_ability("count", "perception", "how many objects, of a shape, or of a size")
def _count_ability(scene: Scene, rng: np.random.Generator) -> Choice | None:
    kind = _pick(rng, ["count_all", "count_shape", "count_size"])
    if kind == "count_all":
        return kind, {}, {}
    if kind == "count_shape":
        return kind, {"shape": _pick(rng, SHAPES)}, {}
    return kind, {"size": _pick(rng, SIZES)}, {}


# ---- cognition
@register_ability("relation", "cognition", "shape or colour of the object closest to / furthest from another")
def _relation(scene: Scene, rng: np.random.Generator) -> Choice | None:
    subject = _subject(scene, rng)
    kind = _pick(
        rng, ["closest_shape", "furthest_shape", "closest_colour", "furthest_colour", "same_shape_count"]
    )
    others = ranked_neighbours(scene, subject.colour)
    if not others:
        return None
    if kind != "same_shape_count" and len(others) > 1:
        distances = [subject.distance(o) for o in others]
        gap = distances[1] - distances[0] if kind.startswith("closest") else distances[-1] - distances[-2]
        if gap < 0.04:  # the nearest (furthest) object must be clearly so
            return None
    return kind, {"colour": subject.colour}, {}


@register_ability(
    "comparison", "cognition", "are there more (fewer) objects of one shape or size than another"
)
def _comparison(scene: Scene, rng: np.random.Generator) -> Choice | None:
    kind = _pick(rng, ["more_shape", "fewer_shape", "more_size"])
    if kind == "more_size":
        size, size2 = (SIZES[0], SIZES[1]) if _coin(rng) else (SIZES[1], SIZES[0])
        return kind, {"size": size, "size2": size2}, {}
    shape, shape2 = _two_shapes(rng)
    return kind, {"shape": shape, "shape2": shape2}, {}


@register_ability("arithmetic", "cognition", "sums, differences, removals and additions of counts")
def _arithmetic(scene: Scene, rng: np.random.Generator) -> Choice | None:
    kind = _pick(rng, ["sum_shapes", "diff_shapes", "remove_shape", "add_shape"])
    shape, shape2 = _two_shapes(rng)
    if kind == "diff_shapes":
        counts = {s: sum(o.shape == s for o in scene.objects) for s in (shape, shape2)}
        if counts[shape] < counts[shape2]:
            shape, shape2 = shape2, shape
    if kind in ("remove_shape", "add_shape"):
        return kind, {"shape": shape}, {}
    return kind, {"shape": shape, "shape2": shape2}, {}


@register_ability("logic", "cognition", "negation and conjunction (and disjunction) of facts")
def _logic(scene: Scene, rng: np.random.Generator) -> Choice | None:
    kind = _pick(rng, ["not_colour_shape", "is_not_shape", "and_colours", "or_colours"])
    subject = _subject(scene, rng)
    if kind == "not_colour_shape":
        return kind, {"shape": subject.shape, "colour": subject.colour}, {}
    if kind == "is_not_shape":
        shape = subject.shape if _coin(rng) else _other_shape(scene, subject, rng)
        return kind, {"colour": subject.colour, "shape": shape}, {}
    if kind == "and_colours":  # both present half the time, else one of them absent
        first: str | None = subject.colour
        want_present = _coin(rng)
    else:  # neither present half the time, else the first present
        want_present = not _coin(rng)
        first = _colour(scene, rng, present=want_present)
    if first is None:
        return None
    pool = [c for c in COLOURS if c != first and (c in scene.colours) == want_present]
    if kind == "or_colours" and want_present:
        pool = [c for c in COLOURS if c != first]
    if not pool:
        return None
    pair = [first, _pick(rng, pool)]
    if _coin(rng):
        pair.reverse()
    return kind, {"colour": pair[0], "colour2": pair[1]}, {}


@register_ability(
    "cross_modal", "cognition", "does the audio agree with the image; about the object the audio names", True
)
def _cross_modal(scene: Scene, rng: np.random.Generator) -> Choice | None:
    kind = _pick(rng, ["beeps_equal_count", "beeps_equal_shape", "tone_present", "tone_shape", "tone_size"])
    if kind.startswith("beeps"):
        shape = _pick(rng, SHAPES)
        target = (
            len(scene.objects)
            if kind == "beeps_equal_count"
            else sum(o.shape == shape for o in scene.objects)
        )
        if _coin(rng) and target >= 1:
            beeps = target
        else:
            beeps = _pick(rng, [k for k in range(1, MAX_BEEPS + 1) if k != target])
        slots = {} if kind == "beeps_equal_count" else {"shape": shape}
        return kind, slots, {"beeps": str(beeps)}
    tone = _colour(scene, rng, present=kind != "tone_present" or _coin(rng))
    return None if tone is None else (kind, {}, {"tone": tone})
