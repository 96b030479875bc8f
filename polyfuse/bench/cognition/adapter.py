"""Adapters: score any Python callable, or a polyfuse :class:`~polyfuse.Predictor`, on a generated set.

An *answerer* is any callable ``(image, question, audio) -> answer``:

- ``image``: the scene as a ``PIL.Image.Image`` (RGB);
- ``question``: the question text (English or Chinese);
- ``audio``: the clip as float32 mono samples at 8000 Hz (``meta.json`` records the rate), or
  ``None`` when the question has no audio;
- the answer: free text; :func:`normalize_answer` maps it onto the vocabulary (``"Yes."`` -> ``yes``,
  ``"是"`` -> ``yes``, ``"three"`` -> ``3``, ``"红色"`` -> ``red``), so models outside polyfuse
  need not know the label spelling.

Example::

    from polyfuse.bench.cognition import score_callable

    def always_yes(image, question, audio):
        return "yes"

    scores = score_callable(always_yes, "cognition_data")
    print(scores.splits["test_iid"].accuracy_score)
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from PIL import Image

from polyfuse.bench.cognition.answers import VOCABULARY
from polyfuse.bench.cognition.audio import SAMPLE_RATE, read_wav, write_wav
from polyfuse.bench.cognition.generate import MODEL_COLUMNS, TEST_SPLITS, load_table
from polyfuse.bench.cognition.score import CognitionScores, score_predictions
from polyfuse.bench.cognition.templates import WORDS

if TYPE_CHECKING:
    from polyfuse.predictor import Predictor

log = logging.getLogger("polyfuse")
Answerer = Callable[[Image.Image, str, "np.ndarray | None"], str]

_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
_ZH_NUMBERS = "零一二三四五六七八九十"
_SYNONYMS: dict[str, str] = {
    "true": "yes",
    "y": "yes",
    "yeah": "yes",
    "false": "no",
    "n": "no",
    "big": "large",
    "little": "small",
    "upper": "top",
    "up": "top",
    "lower": "bottom",
    "down": "bottom",
    "是": "yes",
    "对": "yes",
    "有": "yes",
    "是的": "yes",
    "否": "no",
    "不是": "no",
    "不对": "no",
    "没有": "no",
    "不": "no",
    "左": "left",
    "左边": "left",
    "右": "right",
    "右边": "right",
    "上": "top",
    "上方": "top",
    "下": "bottom",
    "下方": "bottom",
    "方形": "square",
    "圆": "circle",
    **{w: str(i) for i, w in enumerate(_NUMBER_WORDS)},
    **{w: str(i) for i, w in enumerate(_ZH_NUMBERS)},
    **{zh: en for kind in WORDS["zh"].values() for en, zh in kind.items()},
    **{zh.removesuffix("色"): en for en, zh in WORDS["zh"]["colour"].items()},
}
_PUNCTUATION = re.compile(r"[\s.,;:!?'\"()\[\]。，；：！？“”‘’（）、]+")


def normalize_answer(text: Any) -> str:
    """Map a free-text answer onto :data:`VOCABULARY` where it can; else the cleaned text.

    Tries the whole answer, then its first word ("Yes, it is" -> ``yes``), each lower-cased, with
    punctuation stripped, through English and Chinese synonyms and number words.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    cleaned = str(text).strip().lower()
    words = [w for w in _PUNCTUATION.split(cleaned) if w]
    for candidate in (" ".join(words), *words[:1]):
        candidate = _SYNONYMS.get(candidate, candidate)
        if candidate in VOCABULARY:
            return candidate
    return " ".join(words)


def _load_inputs(directory: Path, row: pd.Series) -> tuple[Image.Image, str, np.ndarray | None]:
    with Image.open(directory / row["image"]) as image:
        picture = image.convert("RGB")
    clip = read_wav(directory / row["audio"]) if row["audio"] else None
    return picture, str(row["question"]), clip


def split_rows(directory: str | Path, splits: Sequence[str] = TEST_SPLITS) -> pd.DataFrame:
    """The rows of a generated set's ``splits`` (both test splits by default)."""
    frame = load_table(directory)
    return frame[frame["split"].isin(list(splits))].reset_index(drop=True)


def answer_rows(
    answerer: Answerer, directory: str | Path, splits: Sequence[str] = TEST_SPLITS, limit: int | None = None
) -> pd.DataFrame:
    """Ask ``answerer`` every question of ``splits``; the rows with ``raw`` and ``prediction`` added.

    A call that raises is recorded in an ``error`` column and counted wrong (logged once).
    """
    root = Path(directory)
    rows = split_rows(root, splits)
    if limit is not None:
        rows = rows.head(limit)
    raw: list[str | None] = []
    errors: list[str | None] = []
    for _, row in rows.iterrows():
        try:
            raw.append(str(answerer(*_load_inputs(root, row))))
            errors.append(None)
        except Exception as error:  # an outside model may fail on any row; score the rest
            raw.append(None)
            errors.append(f"{type(error).__name__}: {error}")
    failed = sum(e is not None for e in errors)
    if failed:
        log.warning(
            "the answerer failed on %d of %d questions (first: %s)",
            failed,
            len(rows),
            next(e for e in errors if e),
        )
    predictions = [normalize_answer(r) for r in raw]
    return rows.assign(
        raw=pd.Series(raw, dtype=object), prediction=predictions, error=pd.Series(errors, dtype=object)
    )


def score_callable(
    answerer: Answerer, directory: str | Path, splits: Sequence[str] = TEST_SPLITS
) -> CognitionScores:
    """Scores of ``answerer`` on a generated set (see :mod:`~polyfuse.bench.cognition.score`)."""
    return score_predictions(answer_rows(answerer, directory, splits))


def predict_rows(
    predictor: Predictor, directory: str | Path, splits: Sequence[str] = TEST_SPLITS
) -> pd.DataFrame:
    """A trained predictor's answers to every question of ``splits``, batched (fast path).

    The rows get ``prediction``; a row the predictor could not read gets an empty prediction and
    its message in ``error``.
    """
    rows = split_rows(directory, splits)
    output = predictor.predict(rows, base_dir=directory).set_index("row")
    predictions = output["prediction"].reindex(range(len(rows)))
    errors = output["error"].reindex(range(len(rows)))
    return rows.assign(prediction=[normalize_answer(p) for p in predictions], error=errors.to_numpy())


def score_predictor(
    predictor: Predictor, directory: str | Path, splits: Sequence[str] = TEST_SPLITS
) -> CognitionScores:
    """Scores of a trained polyfuse predictor (a bundle loaded with ``Predictor.load``)."""
    return score_predictions(predict_rows(predictor, directory, splits))


def predictor_answerer(predictor: Predictor) -> Answerer:
    """A polyfuse predictor as an answerer (one row at a time: for comparing with outside callables;
    :func:`score_predictor` is the fast way to score it). The image and clip are passed as encoded
    bytes under the generated table's column names."""
    image_column, question_column, audio_column = MODEL_COLUMNS[:3]

    def answer(image: Image.Image, question: str, audio: np.ndarray | None) -> str:
        png = io.BytesIO()
        image.save(png, format="PNG")
        clip = None
        if audio is not None:
            wav = io.BytesIO()
            write_wav(wav, audio)
            clip = wav.getvalue()
        row = pd.DataFrame(
            {image_column: [png.getvalue()], question_column: [question], audio_column: [clip]}
        )
        output = predictor.predict(row)
        return str(output["prediction"].iloc[0])

    return answer


__all__ = [
    "SAMPLE_RATE",
    "Answerer",
    "answer_rows",
    "normalize_answer",
    "predict_rows",
    "predictor_answerer",
    "score_callable",
    "score_predictor",
    "split_rows",
]
