"""Tests of AudioProcessor: reading, resampling, log-mel numbers, SpecAugment, errors."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from polyfuse.data.processors._mel import hz_to_mel, mel_band_edges, mel_filterbank, mel_to_hz
from polyfuse.data.processors.audio import AudioProcessor
from polyfuse.data.processors.base import BadValueError


def _tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _wav(samples: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _write(path: Path, samples: np.ndarray, rate: int) -> Path:
    sf.write(path, samples, rate)
    return path


@pytest.fixture(scope="module")
def clips() -> list[bytes]:
    noise = np.random.default_rng(0).normal(0.0, 0.1, 8000).astype(np.float32)
    return [_wav(_tone(440, 1.0, 16000), 16000), _wav(noise, 16000)]


@pytest.fixture(scope="module")
def fitted(clips: list[bytes]) -> AudioProcessor:
    return AudioProcessor().fit([*clips, None])


def test_transform_shape_dtype_and_normalisation(fitted: AudioProcessor, clips: list[bytes]) -> None:
    mels = [fitted.transform(c)["mel"] for c in clips]  # type: ignore[index]
    assert [m.shape for m in mels] == [(64, 101), (64, 51)]
    assert all(m.dtype == torch.float32 and torch.isfinite(m).all() for m in mels)
    values = torch.cat([m.flatten() for m in mels]).double()
    assert float(values.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(values.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
    assert fitted.output_spec() == {"n_mels": 64, "max_frames": 401}


def test_other_rates_and_channels_resample_to_16k(tmp_path: Path, fitted: AudioProcessor) -> None:
    stereo_8k = _write(tmp_path / "stereo.wav", np.stack([_tone(300, 1.0, 8000)] * 2, 1), 8000)
    mono_44k = _write(tmp_path / "mono.wav", _tone(300, 0.5, 44100), 44100)
    assert fitted.transform(stereo_8k)["mel"].shape == (64, 1 + 16000 // 160)  # type: ignore[index]
    assert fitted.transform(mono_44k)["mel"].shape == (64, 1 + 8000 // 160)  # type: ignore[index]


def test_long_clips_are_cropped_to_max_seconds(fitted: AudioProcessor) -> None:
    long_clip = _wav(np.zeros(10 * 22050, np.float32), 22050)
    assert fitted.transform(long_clip)["mel"].shape == (64, 401)  # type: ignore[index]
    short = AudioProcessor(max_seconds=0.5, n_mels=32)
    short.set_state(*fitted.get_state())
    assert short.transform(long_clip)["mel"].shape == (32, 51)  # type: ignore[index]
    assert short.output_spec() == {"n_mels": 32, "max_frames": 51}


def test_stereo_is_mixed_down_to_mono(fitted: AudioProcessor) -> None:
    tone = _tone(1000, 0.5, 16000)
    cancelling = _wav(np.stack([tone, -tone], 1), 16000, subtype="FLOAT")
    silence = _wav(np.zeros_like(tone), 16000)
    both = _wav(np.stack([tone, tone], 1), 16000)
    assert torch.equal(fitted.transform(cancelling)["mel"], fitted.transform(silence)["mel"])  # type: ignore[index]
    assert torch.allclose(
        fitted.transform(both)["mel"],  # type: ignore[index]
        fitted.transform(_wav(tone, 16000))["mel"],  # type: ignore[index]
        atol=1e-4,
    )


def test_slaney_mel_scale_reference_points() -> None:
    assert float(hz_to_mel(np.array(500.0))) == pytest.approx(7.5)
    assert float(hz_to_mel(np.array(1000.0))) == pytest.approx(15.0)
    assert float(hz_to_mel(np.array(6400.0))) == pytest.approx(42.0)
    freqs = np.array([0.0, 250.0, 999.0, 1000.0, 4321.0, 8000.0])
    assert mel_to_hz(hz_to_mel(freqs)) == pytest.approx(freqs)


def test_filterbank_shape_and_coverage() -> None:
    bank = mel_filterbank(16000, 400, 64, 0.0, 8000.0)
    assert bank.shape == (64, 201)
    assert (bank >= 0).all() and (bank.sum(dim=1) > 0).all()
    peaks = bank.argmax(dim=1)
    assert (peaks[1:] >= peaks[:-1]).all()


@pytest.mark.parametrize(("freq", "rate"), [(300.0, 16000), (1000.0, 16000), (3000.0, 44100)])
def test_pure_tone_peaks_in_the_band_containing_it(fitted: AudioProcessor, freq: float, rate: int) -> None:
    mel = fitted.transform(_wav(_tone(freq, 1.0, rate), rate))["mel"]  # type: ignore[index]
    band = int(mel[:, 5:-5].mean(dim=1).argmax())
    edges = mel_band_edges(64, 0.0, 8000.0)  # filter m spans edges[m]..edges[m + 2]
    assert edges[band] < freq < edges[band + 2]
    assert band == int(np.argmin(np.abs(edges[1:-1] - freq)))


def test_silence_is_valid(fitted: AudioProcessor) -> None:
    mel = fitted.transform(_wav(np.zeros(1600, np.float32), 16000))["mel"]  # type: ignore[index]
    assert mel.shape == (64, 11) and torch.isfinite(mel).all()
    assert torch.allclose(mel, mel[0, 0].expand_as(mel))


def test_very_short_clip_has_one_frame(fitted: AudioProcessor) -> None:
    mel = fitted.transform(_wav(np.full(5, 0.1, np.float32), 16000))["mel"]  # type: ignore[index]
    assert mel.shape == (64, 1)


def test_bad_files_raise_bad_value_error_naming_the_file(tmp_path: Path, fitted: AudioProcessor) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(np.random.default_rng(0).bytes(2000))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(_wav(np.zeros((0, 1), np.float32), 16000))
    nan = tmp_path / "nan.wav"
    nan.write_bytes(_wav(np.full(100, np.nan, np.float32), 16000, subtype="FLOAT"))
    cases = {
        tmp_path / "missing.wav": "file not found",
        garbage: "ormat",
        empty: "no audio frames",
        nan: "non-finite",
        tmp_path / "zero_bytes.wav": "",
    }
    (tmp_path / "zero_bytes.wav").write_bytes(b"")
    for path, reason in cases.items():
        with pytest.raises(BadValueError, match=f"cannot read audio '{path}': .*{reason}"):
            fitted.transform(path)
    with pytest.raises(BadValueError, match="<1000 bytes>"):
        fitted.transform(b"\x01" * 1000)
    with pytest.raises(BadValueError, match="expected a path or bytes"):
        fitted.transform(3.5)


@pytest.mark.parametrize("value", [None, float("nan"), "", b""])
def test_absent_values_transform_to_none(fitted: AudioProcessor, value: object) -> None:
    assert fitted.transform(value) is None


def test_collate_pads_and_masks(fitted: AudioProcessor, clips: list[bytes]) -> None:
    long_item, short_item = (fitted.transform(c) for c in clips)
    batch = fitted.collate([short_item, None, long_item])
    assert batch["mel"].shape == (3, 1, 64, 101) and batch["mask"].shape == (3, 101)
    assert batch["mask"].dtype == torch.bool
    assert batch["mask"].sum(dim=1).tolist() == [51, 0, 101]
    assert torch.equal(batch["mel"][0, 0, :, :51], short_item["mel"])  # type: ignore[index]
    assert not batch["mel"][0, 0, :, 51:].any() and not batch["mel"][1].any()
    empty = fitted.collate([None])
    assert empty["mel"].shape == (1, 1, 64, 1) and not empty["mask"].any()


def test_state_round_trips_through_json(fitted: AudioProcessor, clips: list[bytes]) -> None:
    state, tensors = fitted.get_state()
    restored = AudioProcessor(**json.loads(json.dumps(fitted.get_params())))
    restored.set_state(json.loads(json.dumps(state)), tensors)
    for clip in clips:
        assert torch.equal(restored.transform(clip)["mel"], fitted.transform(clip)["mel"])  # type: ignore[index]


def test_fit_skips_unreadable_clips(clips: list[bytes]) -> None:
    processor = AudioProcessor().fit([b"garbage" * 50, *clips])
    reference = AudioProcessor().fit(clips)
    assert processor.get_state() == reference.get_state()


def test_spec_augment_zeroes_whole_bands(fitted: AudioProcessor) -> None:
    processor = AudioProcessor(augment=True, freq_mask=8, time_mask=20, num_masks=2)
    processor.set_state(*fitted.get_state())
    mel = torch.rand(64, 101) + 1.0  # no zero anywhere
    masked_rows = masked_cols = 0
    for seed in range(10):
        out = processor.augment({"mel": mel}, torch.Generator().manual_seed(seed))["mel"]
        changed = out != mel
        rows, cols = changed.all(dim=1), changed.all(dim=0)
        assert torch.equal(changed, rows[:, None] | cols[None, :])  # only full bands change
        assert (out[changed] == 0).all()
        assert int(rows.sum()) <= 16 and int(cols.sum()) <= 40
        masked_rows += int(rows.sum())
        masked_cols += int(cols.sum())
    assert masked_rows > 0 and masked_cols > 0


def test_spec_augment_determinism(fitted: AudioProcessor) -> None:
    processor = AudioProcessor(augment=True)
    processor.set_state(*fitted.get_state())
    features = {"mel": torch.rand(64, 101) + 1.0}
    original = features["mel"].clone()

    def run(seed: int) -> torch.Tensor:
        return processor.augment(features, torch.Generator().manual_seed(seed))["mel"]

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))
    assert torch.equal(features["mel"], original)
    assert fitted.augment(features, torch.Generator()) is features


def test_params_validation_and_rebuild() -> None:
    processor = AudioProcessor(sample_rate=8000, f_max=3000.0, n_mels=40, augment=True)
    assert AudioProcessor(**processor.get_params()).get_params() == processor.get_params()
    with pytest.raises(ValueError, match="f_max"):
        AudioProcessor(f_max=9000.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        AudioProcessor().transform(_wav(np.zeros(10, np.float32), 16000))


def test_transform_is_thread_safe(fitted: AudioProcessor, clips: list[bytes]) -> None:
    values = clips * 8
    expected = [fitted.transform(v)["mel"] for v in values]  # type: ignore[index]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fitted.transform, values))
    assert all(torch.equal(r["mel"], e) for r, e in zip(results, expected, strict=True))  # type: ignore[index]
