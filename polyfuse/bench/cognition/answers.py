"""The answer vocabulary and one pure answer function per question kind.

An answer function takes the scene and the question's values (the slots named in the text, plus
``beeps`` or ``tone`` for what the audio carries) and returns a word of :data:`VOCABULARY`. They are
the single source of truth: generators never write an answer themselves, and tests check each one
on hand-built scenes.
"""

from __future__ import annotations

from collections.abc import Callable

from polyfuse.bench.cognition.scene import COLOURS, SHAPES, SIZES, Scene, SceneObject

YES, NO = "yes", "no"
POSITIONS = ("left", "right", "top", "bottom")
MAX_NUMBER = 10
VOCABULARY: tuple[str, ...] = (
    YES,
    NO,
    *COLOURS,
    *SHAPES,
    *SIZES,
    *POSITIONS,
    *(str(i) for i in range(MAX_NUMBER + 1)),
)
"""Every possible answer: yes/no, colours, shapes, sizes, positions, numbers 0 to 10."""

AnswerFunction = Callable[..., str]
ANSWERS: dict[str, AnswerFunction] = {}
"""question kind -> answer function ``(scene, **values) -> str``."""


class AmbiguousQuestion(ValueError):
    """The question does not single out one object in this scene (or its answer is not defined)."""


def answer_question(scene: Scene, kind: str, **values: str) -> str:
    """The answer to a question of ``kind`` with these slot (and audio) values on ``scene``."""
    if kind not in ANSWERS:
        raise KeyError(f"unknown question kind {kind!r}; kinds: {sorted(ANSWERS)}")
    return ANSWERS[kind](scene, **values)


def yes_no(condition: bool) -> str:
    """``"yes"`` or ``"no"``."""
    return YES if condition else NO


def the_one(scene: Scene, **attributes: str) -> SceneObject:
    """The only object with these attribute values; :class:`AmbiguousQuestion` if not exactly one."""
    matches = [o for o in scene.objects if all(getattr(o, k) == v for k, v in attributes.items())]
    if len(matches) != 1:
        raise AmbiguousQuestion(f"{len(matches)} objects match {attributes}")
    return matches[0]


def count(scene: Scene, **attributes: str) -> int:
    """How many objects have these attribute values."""
    return sum(all(getattr(o, k) == v for k, v in attributes.items()) for o in scene.objects)


def ranked_neighbours(scene: Scene, colour: str) -> list[SceneObject]:
    """The other objects, nearest to the ``colour`` object first."""
    anchor = the_one(scene, colour=colour)
    return sorted((o for o in scene.objects if o is not anchor), key=anchor.distance)


def _number(value: int) -> str:
    if not 0 <= value <= MAX_NUMBER:
        raise AmbiguousQuestion(f"the answer {value} is outside 0..{MAX_NUMBER}")
    return str(value)


def _neighbour(scene: Scene, colour: str, furthest: bool) -> SceneObject:
    others = ranked_neighbours(scene, colour)
    if not others:
        raise AmbiguousQuestion("no other object")
    return others[-1] if furthest else others[0]


# ---- perception
ANSWERS.update(
    {
        "exist_colour": lambda s, colour: yes_no(count(s, colour=colour) > 0),
        "exist_shape": lambda s, shape: yes_no(count(s, shape=shape) > 0),
        "exist_colour_shape": lambda s, colour, shape: yes_no(count(s, colour=colour, shape=shape) > 0),
        "colour_of_shape": lambda s, shape: the_one(s, shape=shape).colour,
        "colour_of_sized_shape": lambda s, size, shape: the_one(s, size=size, shape=shape).colour,
        "is_colour": lambda s, shape, colour: yes_no(the_one(s, shape=shape).colour == colour),
        "shape_of": lambda s, colour: the_one(s, colour=colour).shape,
        "is_shape": lambda s, colour, shape: yes_no(the_one(s, colour=colour).shape == shape),
        "size_of": lambda s, colour: the_one(s, colour=colour).size,
        "is_size": lambda s, colour, size: yes_no(the_one(s, colour=colour).size == size),
        "horizontal_of": lambda s, colour: the_one(s, colour=colour).horizontal,
        "vertical_of": lambda s, colour: the_one(s, colour=colour).vertical,
        "count_all": lambda s: _number(len(s.objects)),
        "count_shape": lambda s, shape: _number(count(s, shape=shape)),
        "count_size": lambda s, size: _number(count(s, size=size)),
    }
)

# ---- cognition
ANSWERS.update(
    {
        "closest_shape": lambda s, colour: _neighbour(s, colour, furthest=False).shape,
        "furthest_shape": lambda s, colour: _neighbour(s, colour, furthest=True).shape,
        "closest_colour": lambda s, colour: _neighbour(s, colour, furthest=False).colour,
        "furthest_colour": lambda s, colour: _neighbour(s, colour, furthest=True).colour,
        "same_shape_count": lambda s, colour: _number(count(s, shape=the_one(s, colour=colour).shape) - 1),
        "more_shape": lambda s, shape, shape2: yes_no(count(s, shape=shape) > count(s, shape=shape2)),
        "fewer_shape": lambda s, shape, shape2: yes_no(count(s, shape=shape) < count(s, shape=shape2)),
        "more_size": lambda s, size, size2: yes_no(count(s, size=size) > count(s, size=size2)),
        "sum_shapes": lambda s, shape, shape2: _number(count(s, shape=shape) + count(s, shape=shape2)),
        "diff_shapes": lambda s, shape, shape2: _number(count(s, shape=shape) - count(s, shape=shape2)),
        "remove_shape": lambda s, shape: _number(len(s.objects) - count(s, shape=shape)),
        "add_shape": lambda s, shape: _number(count(s, shape=shape) + 1),
        "not_colour_shape": lambda s, shape, colour: yes_no(
            any(o.shape == shape and o.colour != colour for o in s.objects)
        ),
        "is_not_shape": lambda s, colour, shape: yes_no(the_one(s, colour=colour).shape != shape),
        "and_colours": lambda s, colour, colour2: yes_no(
            count(s, colour=colour) > 0 and count(s, colour=colour2) > 0
        ),
        "or_colours": lambda s, colour, colour2: yes_no(
            count(s, colour=colour) > 0 or count(s, colour=colour2) > 0
        ),
        # cross-modal: ``beeps`` (a number) and ``tone`` (a colour) are carried by the audio
        "beeps_equal_count": lambda s, beeps: yes_no(int(beeps) == len(s.objects)),
        "beeps_equal_shape": lambda s, shape, beeps: yes_no(int(beeps) == count(s, shape=shape)),
        "tone_present": lambda s, tone: yes_no(count(s, colour=tone) > 0),
        "tone_shape": lambda s, tone: the_one(s, colour=tone).shape,
        "tone_size": lambda s, tone: the_one(s, colour=tone).size,
    }
)
