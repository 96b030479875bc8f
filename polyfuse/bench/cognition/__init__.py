"""A procedurally generated cognitive-ability benchmark for multimodal models.

Scenes of coloured shapes (Pillow), questions from English and Chinese paraphrase templates, audio
clues as tone sequences, one ability per question (perception: existence, colour, shape, size,
position, count; cognition: relation, comparison, arithmetic, logic, cross-modal), seeded and
reproducible byte for byte, with an iid and a compositional (CoGenT-style) test split. See
``docs/cognition.md``.
"""

from polyfuse.bench.cognition.abilities import (
    CATEGORIES,
    Ability,
    Question,
    get_ability,
    list_abilities,
    register_ability,
    sample_question,
)
from polyfuse.bench.cognition.adapter import (
    Answerer,
    answer_rows,
    normalize_answer,
    predictor_answerer,
    score_callable,
    score_predictor,
)
from polyfuse.bench.cognition.answers import VOCABULARY, answer_question
from polyfuse.bench.cognition.generate import GenerateOptions, generate, load_scenes, load_table
from polyfuse.bench.cognition.scene import Scene, SceneObject, draw_scene, held_out_pairs, sample_scene
from polyfuse.bench.cognition.score import AbilityScore, CognitionScores, score_predictions, wilson_interval

__all__ = [
    "CATEGORIES",
    "VOCABULARY",
    "Ability",
    "AbilityScore",
    "Answerer",
    "CognitionScores",
    "GenerateOptions",
    "Question",
    "Scene",
    "SceneObject",
    "answer_question",
    "answer_rows",
    "draw_scene",
    "generate",
    "get_ability",
    "held_out_pairs",
    "list_abilities",
    "load_scenes",
    "load_table",
    "normalize_answer",
    "predictor_answerer",
    "register_ability",
    "sample_question",
    "sample_scene",
    "score_callable",
    "score_predictions",
    "score_predictor",
    "wilson_interval",
]
