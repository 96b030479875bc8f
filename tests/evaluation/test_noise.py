"""Noise injectors, every registered one through the same contract, plus per-modality specifics."""

from __future__ import annotations

import math

import pytest
import torch

from polyfuse.data.processors._mel import LOG_FLOOR
from polyfuse.data.processors.base import Features, Processor
from polyfuse.evaluation.noise import create_injector, level_to_snr_db, list_injectors

EXPECTED = {
    "audio/dropped_segments", "audio/white_noise",
    "image/blur", "image/contrast", "image/gaussian_noise", "image/occlusion",
    "tabular/missing", "tabular/noise",
    "text/shuffle", "text/typos", "text/word_drop",
}  # fmt: skip

Batches = dict[str, tuple[Processor, Features]]


def _change(before: Features, after: Features) -> float:
    """How much the features changed: mean absolute difference of every tensor (ints as floats)."""
    return sum(float((after[k].float() - before[k].float()).abs().mean()) for k in before)


def _run(key: str, batches: Batches, level: float, seed: int = 0) -> tuple[Features, Features]:
    modality = key.split("/")[0]
    processor, features = batches[modality]
    injector = create_injector(modality, key, processor)
    return features, injector(features, level, torch.Generator().manual_seed(seed))


def test_registry_lists_every_injector_and_rejects_unknown_names() -> None:
    assert set(list_injectors()) == EXPECTED
    assert list_injectors("text") == ["text/shuffle", "text/typos", "text/word_drop"]
    with pytest.raises(KeyError, match=r"valid noise injectors: .*image/blur"):
        create_injector("image", "smudge", None)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_level_zero_is_identity(key: str, modality_batches: Batches) -> None:
    before, after = _run(key, modality_batches, 0.0)
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_deterministic_under_a_seed_and_input_untouched(key: str, modality_batches: Batches) -> None:
    before, first = _run(key, modality_batches, 0.6, seed=3)
    copy = {k: v.clone() for k, v in before.items()}
    _, second = _run(key, modality_batches, 0.6, seed=3)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert all(torch.equal(before[k], copy[k]) for k in before)
    assert all(first[k].shape == before[k].shape and first[k].dtype == before[k].dtype for k in before)
    assert all(torch.isfinite(first[k].float()).all() for k in first)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_higher_levels_change_the_data_more(key: str, modality_batches: Batches) -> None:
    changes = [_change(*_run(key, modality_batches, level)) for level in (0.2, 0.5, 0.9)]
    assert 0 < changes[0] < changes[1] < changes[2], changes


def test_levels_outside_zero_one_are_refused(modality_batches: Batches) -> None:
    processor, features = modality_batches["image"]
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        create_injector("image", "blur", processor)(features, 1.5, torch.Generator())


def test_white_noise_reaches_the_documented_snr(modality_batches: Batches) -> None:
    processor, _ = modality_batches["audio"]
    mean, std = processor.mean_, processor.std_  # type: ignore[attr-defined]
    assert level_to_snr_db(0.9) == pytest.approx(-5.0) and level_to_snr_db(0.5) == pytest.approx(15.0)
    for level in (0.5, 0.9):
        before, after = _run("audio/white_noise", modality_batches, level)
        valid = before["mask"][:, None, None, :].expand_as(before["mel"])
        signal = torch.exp(before["mel"].double() * std + mean)[valid]
        noisy = torch.exp(after["mel"].double() * std + mean)[valid]
        snr = 10 * math.log10(float(signal.mean() / (noisy - signal).mean()))
        assert snr == pytest.approx(level_to_snr_db(level), abs=0.5)
        assert torch.equal(after["mel"][~valid], before["mel"][~valid])  # padding untouched


def test_dropped_segments_silence_a_share_of_frames(modality_batches: Batches) -> None:
    processor, _ = modality_batches["audio"]
    silence = (math.log(LOG_FLOOR) - processor.mean_) / processor.std_  # type: ignore[attr-defined]
    _, after = _run("audio/dropped_segments", modality_batches, 0.5)
    frames = after["mel"][0, 0, 0]  # row 0 has 40 real frames: 5 of its 10 segments are silent
    assert int((frames == silence).sum()) == 20


def test_text_injectors_keep_rows_usable(modality_batches: Batches) -> None:
    before, dropped = _run("text/word_drop", modality_batches, 1.0)
    assert (dropped["mask"].sum(1) == 1).all()  # at level 1 each row keeps exactly one token
    assert (dropped["ids"][~dropped["mask"]] == 0).all()
    _, shuffled = _run("text/shuffle", modality_batches, 1.0)
    for row in range(len(before["ids"])):
        assert sorted(shuffled["ids"][row].tolist()) == sorted(before["ids"][row].tolist())
    _, typos = _run("text/typos", modality_batches, 1.0)
    changed = (typos["ids"] != before["ids"]) & before["mask"]
    assert changed.sum() > 0.9 * before["mask"].sum() and torch.equal(typos["mask"], before["mask"])


def test_tabular_missing_encodes_cells_as_the_processor_does(modality_batches: Batches) -> None:
    processor, features = modality_batches["tabular"]
    _, after = _run("tabular/missing", modality_batches, 1.0)
    expected = processor.collate([processor.transform({"a": None, "b": None, "c": None})])
    assert torch.allclose(after["numeric"], expected["numeric"].expand_as(after["numeric"]))
    assert (after["categorical"] == 0).all()
    _, noisy = _run("tabular/noise", modality_batches, 0.5)
    assert torch.equal(noisy["numeric"][:, 2:], features["numeric"][:, 2:])  # indicators kept
    missing = features["numeric"][:, 3] > 0.5  # column b missing: its imputed value is not noised
    assert torch.equal(noisy["numeric"][missing, 1], features["numeric"][missing, 1])


def test_occlusion_covers_the_share_of_the_image_given_by_the_level(modality_batches: Batches) -> None:
    before, after = _run("image/occlusion", modality_batches, 0.25)
    changed = (after["pixels"] != before["pixels"]).any(dim=1)  # (B, H, W)
    assert changed.float().mean().item() == pytest.approx(0.25, abs=0.02)
