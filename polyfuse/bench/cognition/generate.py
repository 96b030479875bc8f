"""Write a generated set: media files and ordinary polyfuse tables, byte-for-byte reproducible.

Layout of the output folder::

    images/000123.png       one image per scene
    audio/000123_1.wav      one clip per question that needs audio
    table.csv               every row: image, question, audio, answer + ability, category, lang,
                            caption, scene_id, split
    train.csv valid.csv test_iid.csv test_comp.csv
                            one table per split with the model columns only (image, question,
                            audio, answer), so `polyfuse train` on them sees no answer-leaking caption
    scenes.jsonl            every scene's objects and its questions' kinds, slot values, audio
                            values and answers (for checking, debugging, other tools)
    meta.json               the options, vocabulary, abilities, held-out pairs and audio codes

Each scene gets one ability and ``questions_per_scene`` questions of it (different answers where
possible: one yes and one no, as MME pairs them), so accuracy+ has images to count. Scenes are
split by scene, never by question: train, valid and the iid test come from one distribution; the
compositional test's scenes contain colour-shape pairs that never occur in the other splits.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from polyfuse.bench.cognition import audio as audio_codes
from polyfuse.bench.cognition.abilities import Question, get_ability, list_abilities, sample_question
from polyfuse.bench.cognition.answers import VOCABULARY
from polyfuse.bench.cognition.scene import Scene, caption, draw_scene, held_out_pairs, sample_scene
from polyfuse.bench.cognition.templates import LANGUAGES, render

SPLITS = ("train", "valid", "test_iid", "test_comp")
TEST_SPLITS = ("test_iid", "test_comp")
MODEL_COLUMNS = ("image", "question", "audio", "answer")
META_COLUMNS = ("ability", "category", "lang", "caption", "scene_id", "split")
COLUMN_MODALITIES = {
    "image": "image",
    "question": "text",
    "audio": "audio",
    **dict.fromkeys(META_COLUMNS, "ignore"),
}
"""The ``data.columns`` a polyfuse config needs to train on ``table.csv`` (metadata ignored)."""


@dataclass(frozen=True)
class GenerateOptions:
    """What to generate.

    Attributes:
        n: number of questions (rounded up to a multiple of ``questions_per_scene``).
        seed: the seed; the same options give the same bytes.
        lang: question language: ``en``, ``zh`` or ``both`` (each question drawn at random).
        size: image side in pixels.
        clutter: draw dim distractor strokes and dots.
        noise: Gaussian noise on pixels (fraction of 0-255) and on audio samples (amplitude).
        min_objects / max_objects: objects per scene (2 to 8 by default).
        questions_per_scene: questions asked about each image (all of its ability).
        abilities: the abilities to generate (default: every registered one); an ability listed
            k times gets k times the scenes of one listed once (Sort-of-CLEVR asks as many
            relational questions as the others together).
        fractions: shares of scenes for train, valid, test_iid, test_comp.
    """

    n: int = 20000
    seed: int = 0
    lang: str = "en"
    size: int = 64
    clutter: bool = False
    noise: float = 0.0
    min_objects: int = 2
    max_objects: int = 8
    questions_per_scene: int = 2
    abilities: tuple[str, ...] | None = None
    fractions: tuple[float, float, float, float] = (0.7, 0.1, 0.1, 0.1)

    def __post_init__(self) -> None:
        if self.lang not in (*LANGUAGES, "both"):
            raise ValueError(f"lang must be one of {[*LANGUAGES, 'both']}, got {self.lang!r}")
        if not 2 <= self.min_objects <= self.max_objects <= 8:
            raise ValueError("need 2 <= min_objects <= max_objects <= 8")
        if self.questions_per_scene < 1 or self.noise < 0 or len(self.fractions) != len(SPLITS):
            raise ValueError("questions_per_scene must be >= 1, noise >= 0, and one fraction per split")
        if (
            self.num_scenes < len(SPLITS)
            or sum(split_sizes(self.num_scenes, self.fractions)[1:]) >= self.num_scenes
        ):
            raise ValueError(f"n={self.n} is too small to fill the {len(SPLITS)} splits")
        for name in self.abilities or ():
            get_ability(name)

    @property
    def num_scenes(self) -> int:
        """How many scenes (images) are generated."""
        return math.ceil(self.n / self.questions_per_scene)


def split_sizes(num_scenes: int, fractions: tuple[float, ...]) -> list[int]:
    """Scenes per split: each non-train split gets at least one, train the rest."""
    others = [max(1, round(f * num_scenes)) for f in fractions[1:]]
    return [num_scenes - sum(others), *others]


def plan_scenes(options: GenerateOptions) -> list[tuple[int, str, str]]:
    """``(scene_id, split, ability)`` for every scene: splits in consecutive blocks of scene ids,
    abilities dealt round-robin inside each split (in a seeded order), so every split is balanced."""
    abilities = list(options.abilities or list_abilities())
    rng = np.random.default_rng([options.seed, 1])
    plan, scene_id = [], 0
    for split, size in zip(SPLITS, split_sizes(options.num_scenes, options.fractions), strict=True):
        order = [abilities[int(i)] for i in rng.permutation(len(abilities))]
        for j in range(size):
            plan.append((scene_id, split, order[j % len(order)]))
            scene_id += 1
    return plan


def _questions(scene: Scene, ability: str, count: int, rng: np.random.Generator) -> list[Question] | None:
    """``count`` distinct questions, preferring answers not yet given (so yes/no come in pairs)."""
    chosen: list[Question] = []
    for attempt in range(60):
        question = sample_question(ability, scene, rng)
        if question is None or any(
            (q.kind, q.slots, q.audio) == (question.kind, question.slots, question.audio) for q in chosen
        ):
            continue
        if attempt < 30 and any(q.answer == question.answer for q in chosen):
            continue
        chosen.append(question)
        if len(chosen) == count:
            return chosen
    return None


def _clip(question: Question, rng: np.random.Generator, noise: float) -> np.ndarray | None:
    if "beeps" in question.audio:
        return audio_codes.encode_number(int(question.audio["beeps"]), rng, noise)
    if "tone" in question.audio:
        return audio_codes.encode_colour(question.audio["tone"], rng, noise)
    return None


def _scene_rows(
    scene_id: int, split: str, ability: str, options: GenerateOptions, out: Path
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = np.random.default_rng([options.seed, 0, scene_id])
    for _ in range(100):
        num_objects = int(rng.integers(options.min_objects, options.max_objects + 1))
        scene = sample_scene(rng, num_objects, compositional=split == "test_comp")
        questions = _questions(scene, ability, options.questions_per_scene, rng)
        if questions is not None:
            break
    else:  # pragma: no cover - every registered ability fits most scenes
        raise RuntimeError(f"could not ask {options.questions_per_scene} {ability} questions about a scene")
    image_path = f"images/{scene_id:06d}.png"
    draw_scene(scene, options.size, rng, options.clutter, options.noise).save(out / image_path, format="PNG")
    category, text = get_ability(ability).category, caption(scene)
    rows = []
    for j, question in enumerate(questions):
        lang = options.lang if options.lang != "both" else LANGUAGES[int(rng.integers(len(LANGUAGES)))]
        clip, audio_path = _clip(question, rng, options.noise), ""
        if clip is not None:
            audio_path = f"audio/{scene_id:06d}_{j}.wav"
            audio_codes.write_wav(out / audio_path, clip)
        assert question.answer in VOCABULARY, question
        rows.append(
            {
                "image": image_path,
                "question": render(question.kind, question.slots, lang, rng),
                "audio": audio_path,
                "answer": question.answer,
                "ability": ability,
                "category": category,
                "lang": lang,
                "caption": text,
                "scene_id": scene_id,
                "split": split,
            }
        )
    asked = [{"kind": q.kind, "slots": q.slots, "audio": q.audio, "answer": q.answer} for q in questions]
    record = {"scene_id": scene_id, "split": split, "ability": ability, **scene.to_dict(), "questions": asked}
    return record, rows


def _meta(options: GenerateOptions, frame: pd.DataFrame) -> dict[str, Any]:
    abilities = options.abilities or tuple(list_abilities())
    return {
        "generator": "polyfuse.bench.cognition",
        "options": {**asdict(options), "abilities": list(abilities)},
        "label": "answer",
        "columns": COLUMN_MODALITIES,
        "vocabulary": list(VOCABULARY),
        "abilities": {name: get_ability(name).category for name in abilities},
        "held_out_pairs": sorted(held_out_pairs()),
        "audio": {
            "sample_rate": audio_codes.SAMPLE_RATE,
            "max_seconds": audio_codes.MAX_SECONDS,
            "beep_hz": audio_codes.BEEP_HZ,
            "colour_pitches": audio_codes.COLOUR_PITCHES,
        },
        "rows": {split: int((frame["split"] == split).sum()) for split in SPLITS},
    }


def generate(
    out_dir: str | Path, options: GenerateOptions | None = None, progress: bool = False
) -> pd.DataFrame:
    """Generate a set into ``out_dir`` (see the module docstring) and return the full table."""
    options = options or GenerateOptions()
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    records, rows = [], []
    for scene_id, split, ability in tqdm(plan_scenes(options), disable=not progress, unit="scene"):
        record, scene_rows = _scene_rows(scene_id, split, ability, options, out)
        records.append(record)
        rows.extend(scene_rows)
    frame = pd.DataFrame(rows, columns=[*MODEL_COLUMNS, *META_COLUMNS])
    frame.to_csv(out / "table.csv", index=False, lineterminator="\n")
    for split in SPLITS:
        part = frame.loc[frame["split"] == split, list(MODEL_COLUMNS)]
        part.to_csv(out / f"{split}.csv", index=False, lineterminator="\n")
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    (out / "scenes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "meta.json").write_text(
        json.dumps(_meta(options, frame), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return frame


def load_table(directory: str | Path) -> pd.DataFrame:
    """The full table of a generated set, every cell a string except ``scene_id`` (an int)."""
    path = Path(directory) / "table.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no generated set in {directory}: {path} is missing")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["scene_id"] = frame["scene_id"].astype(int)
    return frame


def load_scenes(directory: str | Path) -> dict[int, Scene]:
    """scene_id -> :class:`Scene` of a generated set."""
    lines = (Path(directory) / "scenes.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return {int(r["scene_id"]): Scene.from_dict(r) for r in records}
