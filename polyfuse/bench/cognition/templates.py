"""Question templates: several English and Chinese paraphrases per question kind, and their slot words.

A template names its slots in braces. Slot names are a word type with an optional digit suffix
(``colour``, ``colour2``, ``shape``, ``shapes`` (plural), ``size``, ...); the value of a slot is
always the canonical English word of the answer vocabulary, and :func:`render` puts it into the
question's language. Answers stay the canonical English words whatever the question's language.
"""

from __future__ import annotations

import re

import numpy as np

LANGUAGES = ("en", "zh")

WORDS: dict[str, dict[str, dict[str, str]]] = {
    "en": {
        "shapes": {"circle": "circles", "square": "squares", "triangle": "triangles"},
    },
    "zh": {
        "colour": {
            "red": "红色",
            "green": "绿色",
            "blue": "蓝色",
            "yellow": "黄色",
            "purple": "紫色",
            "orange": "橙色",
            "cyan": "青色",
            "white": "白色",
        },
        "shape": {"circle": "圆形", "square": "正方形", "triangle": "三角形"},
        "shapes": {"circle": "圆形", "square": "正方形", "triangle": "三角形"},
        "size": {"small": "小", "large": "大"},
    },
}
"""language -> word type -> canonical word -> localised word (a missing entry: the word itself)."""

T = dict[str, list[str]]

TEMPLATES: dict[str, T] = {
    # ---- existence
    "exist_colour": {
        "en": [
            "Is there a {colour} object?",
            "Does the picture contain a {colour} object?",
            "Can you see anything {colour}?",
        ],
        "zh": ["图中有{colour}的物体吗？", "有没有{colour}的物体？", "你能看到{colour}的东西吗？"],
    },
    "exist_shape": {
        "en": [
            "Is there a {shape}?",
            "Does the image contain a {shape}?",
            "Can you see a {shape} in the picture?",
        ],
        "zh": ["图中有{shape}吗？", "有没有{shape}？", "你能在图中看到{shape}吗？"],
    },
    "exist_colour_shape": {
        "en": [
            "Is there a {colour} {shape}?",
            "Does the image show a {colour} {shape}?",
            "Can you find a {colour} {shape}?",
        ],
        "zh": ["图中有{colour}的{shape}吗？", "有没有{colour}的{shape}？", "你能找到{colour}的{shape}吗？"],
    },
    # ---- colour
    "colour_of_shape": {
        "en": [
            "What colour is the {shape}?",
            "Which colour does the {shape} have?",
            "The {shape} is what colour?",
        ],
        "zh": ["{shape}是什么颜色的？", "那个{shape}是什么颜色？"],
    },
    "colour_of_sized_shape": {
        "en": ["What colour is the {size} {shape}?", "Which colour does the {size} {shape} have?"],
        "zh": ["{size}的{shape}是什么颜色的？", "那个{size}的{shape}是什么颜色？"],
    },
    "is_colour": {
        "en": ["Is the {shape} {colour}?", "Is the colour of the {shape} {colour}?"],
        "zh": ["{shape}是{colour}的吗？", "那个{shape}是不是{colour}的？"],
    },
    # ---- shape
    "shape_of": {
        "en": [
            "What shape is the {colour} object?",
            "What is the shape of the {colour} object?",
            "Which shape does the {colour} object have?",
        ],
        "zh": ["{colour}的物体是什么形状？", "{colour}物体的形状是什么？"],
    },
    "is_shape": {
        "en": ["Is the {colour} object a {shape}?", "Does the {colour} object look like a {shape}?"],
        "zh": ["{colour}的物体是{shape}吗？", "{colour}的那个物体是不是{shape}？"],
    },
    # ---- size
    "size_of": {
        "en": [
            "What size is the {colour} object?",
            "Is the {colour} object small or large?",
            "How big is the {colour} object, small or large?",
        ],
        "zh": ["{colour}的物体是大还是小？", "{colour}物体的大小是什么？"],
    },
    "is_size": {
        "en": ["Is the {colour} object {size}?", "Is the {colour} one {size}?"],
        "zh": ["{colour}的物体是{size}的吗？", "{colour}的那个物体是不是{size}的？"],
    },
    # ---- absolute position
    "horizontal_of": {
        "en": [
            "Is the {colour} object on the left or on the right?",
            "On which side is the {colour} object, left or right?",
        ],
        "zh": ["{colour}的物体在左边还是右边？", "{colour}物体位于图像的左侧还是右侧？"],
    },
    "vertical_of": {
        "en": [
            "Is the {colour} object at the top or at the bottom?",
            "Is the {colour} object in the top or the bottom half?",
        ],
        "zh": ["{colour}的物体在上方还是下方？", "{colour}物体位于图像的上半部分还是下半部分？"],
    },
    # ---- count
    "count_all": {
        "en": ["How many objects are there?", "How many objects are in the picture?", "Count the objects."],
        "zh": ["图中有几个物体？", "一共有多少个物体？"],
    },
    "count_shape": {
        "en": ["How many {shapes} are there?", "How many {shapes} can you see?", "Count the {shapes}."],
        "zh": ["图中有几个{shape}？", "一共有多少个{shape}？"],
    },
    "count_size": {
        "en": ["How many {size} objects are there?", "How many objects are {size}?"],
        "zh": ["有几个{size}的物体？", "一共有多少个{size}物体？"],
    },
    # ---- relation (Sort-of-CLEVR)
    "closest_shape": {
        "en": [
            "What shape is the object closest to the {colour} object?",
            "What is the shape of the object nearest to the {colour} one?",
        ],
        "zh": ["离{colour}物体最近的物体是什么形状？", "距离{colour}的物体最近的那个物体是什么形状？"],
    },
    "furthest_shape": {
        "en": [
            "What shape is the object furthest from the {colour} object?",
            "What is the shape of the object farthest from the {colour} one?",
        ],
        "zh": ["离{colour}物体最远的物体是什么形状？", "距离{colour}的物体最远的那个物体是什么形状？"],
    },
    "closest_colour": {
        "en": [
            "What colour is the object closest to the {colour} object?",
            "Which colour is the object nearest to the {colour} one?",
        ],
        "zh": ["离{colour}物体最近的物体是什么颜色？", "距离{colour}的物体最近的那个物体是什么颜色？"],
    },
    "furthest_colour": {
        "en": [
            "What colour is the object furthest from the {colour} object?",
            "Which colour is the object farthest from the {colour} one?",
        ],
        "zh": ["离{colour}物体最远的物体是什么颜色？", "距离{colour}的物体最远的那个物体是什么颜色？"],
    },
    "same_shape_count": {
        "en": [
            "How many other objects have the same shape as the {colour} object?",
            "Besides the {colour} object, how many objects have its shape?",
        ],
        "zh": ["除了{colour}的物体，还有几个物体和它形状相同？", "有多少个其他物体与{colour}物体形状相同？"],
    },
    # ---- comparison
    "more_shape": {
        "en": ["Are there more {shapes} than {shapes2}?", "Do the {shapes} outnumber the {shapes2}?"],
        "zh": ["{shape}比{shape2}多吗？", "{shape}的数量是否多于{shape2}？"],
    },
    "fewer_shape": {
        "en": ["Are there fewer {shapes} than {shapes2}?", "Are the {shapes} fewer than the {shapes2}?"],
        "zh": ["{shape}比{shape2}少吗？", "{shape}的数量是否少于{shape2}？"],
    },
    "more_size": {
        "en": [
            "Are there more {size} objects than {size2} objects?",
            "Do the {size} objects outnumber the {size2} ones?",
        ],
        "zh": ["{size}物体比{size2}物体多吗？", "{size}的物体是否多于{size2}的物体？"],
    },
    # ---- arithmetic
    "sum_shapes": {
        "en": [
            "How many {shapes} and {shapes2} are there in total?",
            "What is the number of {shapes} plus the number of {shapes2}?",
        ],
        "zh": ["{shape}和{shape2}一共有几个？", "{shape}的数量加上{shape2}的数量是多少？"],
    },
    "diff_shapes": {
        "en": [
            "How many more {shapes} than {shapes2} are there?",
            "What is the number of {shapes} minus the number of {shapes2}?",
        ],
        "zh": ["{shape}比{shape2}多几个？", "{shape}的数量减去{shape2}的数量是多少？"],
    },
    "remove_shape": {
        "en": [
            "If all the {shapes} were removed, how many objects would be left?",
            "How many objects would remain after taking away every {shape}?",
        ],
        "zh": ["如果去掉所有{shape}，还剩几个物体？", "拿走全部{shape}后还剩多少个物体？"],
    },
    "add_shape": {
        "en": [
            "If one more {shape} were added, how many {shapes} would there be?",
            "How many {shapes} would there be after adding another {shape}?",
        ],
        "zh": ["如果再加一个{shape}，会有几个{shape}？", "再添加一个{shape}后，{shape}一共有多少个？"],
    },
    # ---- logic
    "not_colour_shape": {
        "en": ["Is there a {shape} that is not {colour}?", "Is any {shape} not {colour}?"],
        "zh": ["有没有不是{colour}的{shape}？", "是否存在不是{colour}的{shape}？"],
    },
    "is_not_shape": {
        "en": [
            "Is the {colour} object not a {shape}?",
            "Is it true that the {colour} object is not a {shape}?",
        ],
        "zh": ["“{colour}的物体不是{shape}”这句话对吗？", "{colour}的物体不是{shape}，这是真的吗？"],
    },
    "and_colours": {
        "en": [
            "Is there a {colour} object and a {colour2} object?",
            "Are both a {colour} object and a {colour2} object present?",
        ],
        "zh": [
            "图中既有{colour}的物体又有{colour2}的物体吗？",
            "{colour}的物体和{colour2}的物体都在图中吗？",
        ],
    },
    "or_colours": {
        "en": [
            "Is there a {colour} object or a {colour2} object?",
            "Is at least one of a {colour} object and a {colour2} object present?",
        ],
        "zh": ["图中有{colour}或{colour2}的物体吗？", "{colour}的物体和{colour2}的物体至少有一个在图中吗？"],
    },
    # ---- cross-modal (the audio carries a number as a count of beeps, or a colour as a pitch)
    "beeps_equal_count": {
        "en": [
            "Does the number of beeps equal the number of objects?",
            "Are there as many objects as beeps?",
        ],
        "zh": ["哔声的次数等于物体的个数吗？", "物体的数量和哔声的次数一样吗？"],
    },
    "beeps_equal_shape": {
        "en": [
            "Are there as many {shapes} as beeps?",
            "Does the number of beeps match the number of {shapes}?",
        ],
        "zh": ["{shape}的数量和哔声的次数一样吗？", "哔声的次数等于{shape}的个数吗？"],
    },
    "tone_present": {
        "en": [
            "Is the colour named by the tone in the picture?",
            "Does the image contain an object of the colour the tone names?",
        ],
        "zh": ["音调代表的颜色在图中出现了吗？", "图中有音调所代表颜色的物体吗？"],
    },
    "tone_shape": {
        "en": [
            "What shape is the object whose colour the tone names?",
            "The tone names a colour: what shape is the object of that colour?",
        ],
        "zh": ["音调所代表颜色的物体是什么形状？", "声音代表一种颜色，这种颜色的物体是什么形状？"],
    },
    "tone_size": {
        "en": [
            "Is the object whose colour the tone names small or large?",
            "The tone names a colour: what size is the object of that colour?",
        ],
        "zh": ["音调所代表颜色的物体是大还是小？", "声音代表一种颜色，这种颜色的物体是大还是小？"],
    },
}
"""question kind -> language -> paraphrase templates."""

_SLOT = re.compile(r"\{(\w+?)\d*\}")


def slot_names(template: str) -> list[str]:
    """The slot names of a template, digit suffix included, in order (``["shapes", "shapes2"]``)."""
    return re.findall(r"\{(\w+)\}", template)


def localise(slot: str, value: str, lang: str) -> str:
    """The word for ``value`` in slot ``slot`` (e.g. ``shapes2``) in language ``lang``."""
    kind = re.sub(r"\d+$", "", slot)
    return WORDS[lang].get(kind, {}).get(value, value)


def render(kind: str, slots: dict[str, str], lang: str, rng: np.random.Generator) -> str:
    """A question of ``kind`` in ``lang``, its paraphrase drawn with ``rng``.

    ``slots`` maps slot names without the plural ``s`` (``shape``, ``shape2``) to canonical words;
    the plural slots (``shapes``, ``shapes2``) are filled from them.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {list(LANGUAGES)}")
    options = TEMPLATES[kind][lang]
    template = options[int(rng.integers(len(options)))]
    values = {}
    for name in slot_names(template):
        source = re.sub(r"^shapes", "shape", name)
        values[name] = localise(name, slots[source], lang)
    return template.format(**values)
