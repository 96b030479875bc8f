"""Scoring: accuracy per ability with 95% Wilson intervals, accuracy+, MME-style scores, the iid vs
compositional gap.

Definitions (per split):

- ``accuracy_score`` of an ability: share of its questions answered right, with the 95% Wilson
  score interval ``[ci_low, ci_high]`` (https://doi.org/10.1080/01621459.1927.10502953);
- ``accuracy_plus_score``: share of its images (scenes) whose questions of that ability are *all*
  answered right (MME's accuracy+, https://arxiv.org/abs/2306.13394);
- ``mme_score``: ``100 * (accuracy + accuracy+)``, from 0 to 200 as in MME;
- ``perception_score`` / ``cognition_score``: mean accuracy over the abilities of the category
  (macro, so every ability weighs the same); ``mme_perception_score`` / ``mme_cognition_score``:
  the sums of the MME scores (MME's perception and cognition totals);
- ``compositional_gap``: iid accuracy minus compositional accuracy (overall and per ability);
  positive means the model does worse on unseen colour-shape pairs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from polyfuse.bench.cognition.abilities import CATEGORIES, get_ability, list_abilities

Z_95 = 1.959963984540054
"""Standard normal quantile for a two-sided 95% interval."""


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``correct / total``; ``(0, 1)`` when ``total`` is 0."""
    if total <= 0:
        return 0.0, 1.0
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class AbilityScore:
    """The scores of one ability on one split."""

    ability: str
    category: str
    questions: int
    correct: int
    accuracy_score: float
    ci_low: float
    ci_high: float
    images: int
    accuracy_plus_score: float
    mme_score: float


@dataclass
class SplitScores:
    """The scores of one split."""

    split: str
    questions: int
    accuracy_score: float
    abilities: dict[str, AbilityScore]
    perception_score: float | None
    cognition_score: float | None
    mme_perception_score: float
    mme_cognition_score: float


@dataclass
class CognitionScores:
    """Scores per split, and the compositional gap when both test splits are present."""

    splits: dict[str, SplitScores]
    compositional_gap: float | None = None
    ability_gaps: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)


def _category(ability: str) -> str:
    try:
        return get_ability(ability).category
    except KeyError:
        return "unknown"


def _ability_score(ability: str, rows: pd.DataFrame) -> AbilityScore:
    correct = int(rows["correct"].sum())
    total = len(rows)
    low, high = wilson_interval(correct, total)
    per_image = rows.groupby("scene_id")["correct"].all()
    accuracy = correct / total
    accuracy_plus = float(per_image.mean())
    return AbilityScore(
        ability,
        _category(ability),
        total,
        correct,
        accuracy,
        low,
        high,
        len(per_image),
        accuracy_plus,
        100.0 * (accuracy + accuracy_plus),
    )


def _split_scores(split: str, rows: pd.DataFrame) -> SplitScores:
    order = [a for a in list_abilities() if a in set(rows["ability"])]
    order += sorted(set(rows["ability"]) - set(order))
    abilities = {a: _ability_score(a, rows[rows["ability"] == a]) for a in order}

    def macro(category: str) -> float | None:
        values = [s.accuracy_score for s in abilities.values() if s.category == category]
        return sum(values) / len(values) if values else None

    def mme(category: str) -> float:
        return sum(s.mme_score for s in abilities.values() if s.category == category)

    perception, cognition = CATEGORIES
    return SplitScores(
        split,
        len(rows),
        float(rows["correct"].mean()),
        abilities,
        macro(perception),
        macro(cognition),
        mme(perception),
        mme(cognition),
    )


def is_correct(answer: Any, prediction: Any) -> bool:
    """Whether a prediction matches the answer (both compared as trimmed lower-case strings)."""
    if prediction is None or (isinstance(prediction, float) and math.isnan(prediction)):
        return False
    return str(answer).strip().lower() == str(prediction).strip().lower()


def score_predictions(frame: pd.DataFrame) -> CognitionScores:
    """Score predictions.

    Args:
        frame: one row per question with columns ``ability``, ``scene_id``, ``split``, ``answer``
            and ``prediction`` (already normalised, see
            :func:`~polyfuse.bench.cognition.adapter.normalize_answer`; a missing prediction counts
            as wrong).

    Returns:
        Scores for every split present, and the gap when ``test_iid`` and ``test_comp`` both are.
    """
    missing = {"ability", "scene_id", "split", "answer", "prediction"} - set(frame.columns)
    if missing:
        raise KeyError(f"the predictions lack the column(s) {sorted(missing)}")
    if frame.empty:
        raise ValueError("no predictions to score")
    rows = frame.assign(
        correct=[is_correct(a, p) for a, p in zip(frame["answer"], frame["prediction"], strict=True)]
    )
    splits = {str(s): _split_scores(str(s), part) for s, part in rows.groupby("split", sort=False)}
    scores = CognitionScores(splits)
    iid, comp = splits.get("test_iid"), splits.get("test_comp")
    if iid is not None and comp is not None:
        scores.compositional_gap = iid.accuracy_score - comp.accuracy_score
        scores.ability_gaps = {
            a: iid.abilities[a].accuracy_score - comp.abilities[a].accuracy_score
            for a in iid.abilities
            if a in comp.abilities
        }
    return scores
