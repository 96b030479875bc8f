"""The image_generation task: training on an image target, seeded sampling, guidance and absent
conditions, the bundle, ``polyfuse generate`` and its refusals, and the generation metrics."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from kinds_data import write_kinds_table
from PIL import Image

from polyfuse import Predictor
from polyfuse.cli.main import main
from polyfuse.evaluation.generation import (
    JudgeFeatures,
    conditional_accuracy,
    fid_kid,
    linear_probe_score,
    nearest_training_distance,
)
from polyfuse.generate import condition_frame, iter_generate, set_sampling


def _config(tmp_path: Path, epochs: int = 12, **task: Any) -> dict[str, Any]:
    return {
        "data": {"label": "image", "columns": {"word": "text", "kind": "ignore", "level": "ignore"}},
        "model": {
            "encoders": {"text": {"type": "bag", "embed_dim": 8}},
            "fusion": {"type": "concat", "dropout": 0.0},
            "task": {
                "type": "image_generation",
                "size": 8,
                "mode": "L",
                "widths": [8, 16],
                "norm_groups": 4,
                "sampling_steps": 4,
                "num_train_timesteps": 100,
                "ema_decay": 0.9,
                **task,
            },
        },
        "training": {
            "epochs": epochs,
            "batch_size": 16,
            "lr": 1e-2,
            "patience": None,
            "progress": False,
            "tensorboard": False,
            "output_dir": str(tmp_path / "run"),
        },
    }


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)), np.float32) / 255


@pytest.fixture(scope="module")
def generator(kinds_table: Path, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """A generator trained for a few steps: enough for the plumbing tests, not to draw well. It
    predicts the noise (``epsilon``), whose loss falls measurably in three epochs; the default,
    ``v_prediction``, is shown learning by ``test_draws_the_half_its_prompt_names``."""
    config = _config(tmp_path_factory.mktemp("gen"), epochs=3, prediction="epsilon")
    return Predictor(config=config).fit(kinds_table)


def test_learns_to_denoise(generator: Predictor) -> None:
    history = generator.fitted.metrics["history"]
    assert history[-1]["valid_denoising_loss"] < 0.8 * history[0]["valid_denoising_loss"], history
    assert "train_denoising_loss" in history[0]
    assert generator.fitted.metrics["monitor"] == "denoising_loss"


@pytest.mark.slow
def test_draws_the_half_its_prompt_names(tmp_path: Path) -> None:
    """Two kinds, 320 optimiser steps (about a minute on one loaded core): the condition is used.
    (With ``prediction: epsilon`` this budget drew both halves alike; v-prediction, the default,
    follows the prompt.)"""
    table = write_kinds_table(tmp_path / "data", rows=256, kinds=["top", "bottom"])
    config = _config(tmp_path, epochs=20, sampling_steps=10)
    config["training"]["lr"] = 3e-3
    predictor = Predictor(config=config).fit(table)
    prompts = pd.DataFrame({"word": ["the top half"] * 8 + ["the bottom half"] * 8})
    images = np.stack([_pixels(b) for b in predictor.predict(prompts)["prediction"]])
    assert images.shape == (16, 8, 8)
    top, bottom = images[:8], images[8:]
    # "top" images are brighter in their top half than in their bottom half, and "bottom" ones the reverse
    assert top[:, :4].mean() > top[:, 4:].mean() + 0.1, (top[:, :4].mean(), top[:, 4:].mean())
    assert bottom[:, 4:].mean() > bottom[:, :4].mean() + 0.1, (bottom[:, 4:].mean(), bottom[:, :4].mean())


def test_sampling_is_seeded_per_row_and_survives_the_bundle(generator: Predictor, tmp_path: Path) -> None:
    prompts = pd.DataFrame({"word": ["the left half", "the left half", "never seen words"]})
    first = generator.predict(prompts)["prediction"].tolist()
    assert first == generator.predict(prompts)["prediction"].tolist()
    assert first[0] != first[1]  # the row number is part of the seed
    loaded = Predictor.load(generator.save(tmp_path / "bundle"))
    assert loaded.predict(prompts)["prediction"].tolist() == first
    set_sampling(loaded, seed=7)
    assert loaded.predict(prompts)["prediction"].tolist() != first
    with pytest.raises(ValueError, match="unknown sampling option"):
        set_sampling(loaded, temperature=1.0)


def test_absent_condition_gives_an_unconditional_sample(generator: Predictor) -> None:
    frame = condition_frame(generator, 3)
    assert frame["word"].isna().all()
    ((rows, images),) = list(iter_generate(generator, frame))
    assert rows.tolist() == [0, 1, 2] and images.shape == (3, 1, 8, 8)
    assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    with pytest.raises(ValueError, match="at least 1"):
        condition_frame(generator, 0)
    with pytest.raises(ValueError, match="not inputs"):
        condition_frame(generator, 2, values={"nope": 1})


def test_generate_cli(generator: Predictor, tmp_path: Path) -> None:
    bundle = str(generator.save(tmp_path / "bundle"))
    grid = tmp_path / "grid.png"
    assert main(["generate", bundle, "--text", "the right half", "-n", "4", "-o", str(grid)]) == 0
    assert Image.open(grid).size == (2 * 10 + 2, 2 * 10 + 2)  # 2 x 2 images of 8 px, 2 px apart
    folder = tmp_path / "many"
    assert main(["generate", bundle, "--text", "top", "-n", "5", "--chunk-rows", "2", "-o", str(folder)]) == 0
    index = pd.read_csv(folder / "index.csv")
    assert index["file"].tolist() == [f"{i:06d}.png" for i in range(5)] and (index["word"] == "top").all()
    assert main(["generate", bundle, "-n", "0", "-o", str(grid)]) == 2
    assert main(["generate", bundle, "-n", "100000", "-o", str(grid)]) == 2  # too many for one grid


def test_needs_an_image_label(kinds_table: Path, tmp_path: Path) -> None:
    config = _config(tmp_path)
    del config["data"]["label"]
    with pytest.raises(ValueError, match="label"):
        Predictor(config=config).fit(kinds_table)


@pytest.fixture(scope="module")
def judge(kinds_table: Path, tmp_path_factory: pytest.TempPathFactory) -> JudgeFeatures:
    config = {
        "data": {
            "label": "kind",
            "columns": {"image": "image", "word": "ignore", "level": "ignore"},
            "processors": {"image": {"size": 8, "mode": "L"}},
        },
        "model": {"encoders": {"image": {"type": "cnn", "widths": [8]}}},
        "training": {
            "epochs": 10,
            "batch_size": 16,
            "lr": 1e-2,
            "progress": False,
            "tensorboard": False,
            "output_dir": str(tmp_path_factory.mktemp("judge")),
        },
    }
    return JudgeFeatures(Predictor(config=config).fit(kinds_table))


def _real(kinds_table: Path) -> tuple[torch.Tensor, list[str]]:
    table = pd.read_csv(kinds_table)
    images = np.stack(
        [np.asarray(Image.open(kinds_table.parent / p), np.float32) / 255 for p in table["image"]]
    )
    return torch.from_numpy(images)[:, None], table["kind"].tolist()


def test_judge_metrics(judge: JudgeFeatures, kinds_table: Path) -> None:
    real, kinds = _real(kinds_table)
    assert conditional_accuracy(judge, real, kinds) == 1.0
    assert conditional_accuracy(judge, real, kinds[1:] + kinds[:1]) == 0.0  # every condition wrong
    same = fid_kid(judge, real[:32], real[32:], subset_size=16)
    flipped = fid_kid(judge, real[:32], real[32:].flip(-1).flip(-2), subset_size=16)  # top <-> bottom kinds
    blank = fid_kid(judge, real[:32], torch.zeros_like(real[32:]), subset_size=16)
    assert same["fid_judge_error"] < blank["fid_judge_error"]
    assert same["kid_judge_error"] < blank["kid_judge_error"]
    assert flipped["fid_judge_error"] < blank["fid_judge_error"]  # the same kinds, swapped


def test_multilabel_judge_names_each_images_labels(kinds_table: Path, tmp_path: Path) -> None:
    table = pd.read_csv(kinds_table)
    axis = {"top": "rows", "bottom": "rows", "left": "columns", "right": "columns"}
    table["labels"] = [f"{kind}|{axis[kind]}" for kind in table["kind"]]
    table["image"] = [str(kinds_table.parent / image) for image in table["image"]]
    table.to_csv(tmp_path / "labels.csv", index=False)
    config = {
        "data": {
            "label": "labels",
            "task": "multilabel",
            "columns": {"image": "image", "word": "ignore", "kind": "ignore", "level": "ignore"},
            "processors": {"image": {"size": 8, "mode": "L"}},
        },
        "model": {"encoders": {"image": {"type": "cnn", "widths": [8]}}},
        "training": {
            "epochs": 15,
            "batch_size": 16,
            "lr": 1e-2,
            "progress": False,
            "tensorboard": False,
            "output_dir": str(tmp_path / "run"),
        },
    }
    judge = JudgeFeatures(Predictor(config=config).fit(tmp_path / "labels.csv"))
    real, kinds = _real(kinds_table)
    assert judge.multilabel and judge.classes == ["bottom", "columns", "left", "right", "rows", "top"]
    assert judge.logits(real).shape == (len(real), 6)
    expected = ["|".join(sorted([kind, axis[kind]])) for kind in kinds]  # in the order of classes
    assert judge.classify(real) == expected
    assert conditional_accuracy(judge, real, expected) == 1.0
    assert judge(real).shape == (len(real), judge.num_features)  # features for fid_kid as before


def test_nearest_training_distance_and_probe() -> None:
    train = torch.rand(20, 1, 4, 4)
    copies = nearest_training_distance(train[:5], train)
    assert torch.allclose(copies, torch.zeros(5), atol=1e-3)
    assert (nearest_training_distance(train[:5] + 0.5, train) > 0.1).all()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] > 0).astype(int)
    assert linear_probe_score(x[:100], y[:100], x[100:], y[100:]) > 0.95
    assert linear_probe_score(x[:100], rng.integers(0, 2, 100), x[100:], rng.integers(0, 2, 100)) < 0.8


def test_scale_shift_conditioning_builds_trains_and_reloads(kinds_table: Path, tmp_path: Path) -> None:
    """``scale_shift: true`` makes the UNet's blocks scale and shift their normalised features by
    the time + condition embedding (AdaGN); the option survives the bundle."""
    predictor = Predictor(config=_config(tmp_path, epochs=1, scale_shift=True)).fit(kinds_table)
    unet = predictor.fitted.model.task.denoiser.unet  # type: ignore[union-attr]
    assert unet.config.resnet_time_scale_shift == "scale_shift"
    prompts = pd.DataFrame({"word": ["the left half", "the top half"]})
    first = predictor.predict(prompts)["prediction"].tolist()
    loaded = Predictor.load(predictor.save(tmp_path / "bundle"))
    assert loaded.fitted.model.task.denoiser.unet.config.resnet_time_scale_shift == "scale_shift"  # type: ignore[union-attr]
    assert loaded.predict(prompts)["prediction"].tolist() == first


def test_v_prediction_learns_the_velocity_and_survives_the_bundle(kinds_table: Path, tmp_path: Path) -> None:
    """``prediction: v_prediction`` trains the denoiser on the velocity (diffusers' formula) and
    samples with a DDIM scheduler that reads it as such, also after reloading."""
    from polyfuse.tasks._diffusion import make_schedulers, training_target

    scheduler, sampler = make_schedulers(100, "squaredcos_cap_v2", "v_prediction")
    assert sampler.config.prediction_type == "v_prediction"
    images, noise, steps = torch.rand(3, 1, 4, 4) * 2 - 1, torch.randn(3, 1, 4, 4), torch.tensor([0, 50, 99])
    alpha = scheduler.alphas_cumprod[steps].view(-1, 1, 1, 1)
    expected = alpha.sqrt() * noise - (1 - alpha).sqrt() * images
    torch.testing.assert_close(training_target(scheduler, images, noise, steps), expected)
    assert training_target(make_schedulers(100, "linear")[0], images, noise, steps) is noise
    predictor = Predictor(config=_config(tmp_path, epochs=1, prediction="v_prediction")).fit(kinds_table)
    assert predictor.fitted.model.task.sample_scheduler.config.prediction_type == "v_prediction"  # type: ignore[union-attr]
    prompts = pd.DataFrame({"word": ["the left half", "the top half"]})
    first = predictor.predict(prompts)["prediction"].tolist()
    loaded = Predictor.load(predictor.save(tmp_path / "bundle"))
    assert loaded.fitted.model.task.train_scheduler.config.prediction_type == "v_prediction"  # type: ignore[union-attr]
    assert loaded.predict(prompts)["prediction"].tolist() == first


def test_bundles_from_before_v_prediction_keep_predicting_the_noise() -> None:
    """``prediction`` now defaults to ``v_prediction``; a bundle whose saved config has no
    ``prediction`` was trained on the noise and loads as ``epsilon``."""
    from polyfuse.bundle import _with_former_defaults
    from polyfuse.tasks.image_generation import ImageGenerationConfig

    assert ImageGenerationConfig(type="image_generation").prediction == "v_prediction"
    old = {"model": {"task": {"type": "image_generation", "size": 8}}, "data": {"label": "image"}}
    assert _with_former_defaults(old)["model"]["task"]["prediction"] == "epsilon"
    assert _with_former_defaults(old)["model"]["task"]["clip_sample"] is True  # as it sampled then
    assert _with_former_defaults(old)["model"]["task"]["timestep_spacing"] == "leading"
    assert "prediction" not in old["model"]["task"]  # the saved config itself is left alone
    new = {"model": {"task": {"type": "image_generation", "prediction": "v_prediction"}}}
    assert _with_former_defaults(new)["model"]["task"]["prediction"] == "v_prediction"
    other = {"model": {"task": {"type": "classification"}}}
    assert _with_former_defaults(other) == other


def test_sampler_starts_from_pure_noise_unclipped_and_is_changeable(generator: Predictor) -> None:
    """The DDIM sampler visits trailing timesteps (the first is the last training step) and does
    not clip its clean-image estimate, unless asked; the options change the images and come back
    to the same bytes when set back."""
    from polyfuse.generate import set_sampling
    from polyfuse.tasks._diffusion import make_schedulers
    from polyfuse.tasks.image_generation import ImageGenerationConfig

    task: Any = generator.fitted.model.task
    set_sampling(generator, clip_sample=False, timestep_spacing="trailing")  # the fixture's (epsilon) config
    scheduler = task.sample_scheduler
    scheduler.set_timesteps(5)
    assert (
        scheduler.config.clip_sample is False
        and int(scheduler.timesteps[0]) == scheduler.config.num_train_timesteps - 1
    )
    assert scheduler.config.beta_schedule == task.train_scheduler.config.beta_schedule
    prompts = pd.DataFrame({"word": ["the left half"]})
    first = generator.predict(prompts)["prediction"].tolist()
    set_sampling(generator, clip_sample=True, timestep_spacing="leading")
    leading = task.sample_scheduler
    leading.set_timesteps(5)
    assert (
        leading.config.clip_sample is True
        and int(leading.timesteps[0]) < scheduler.config.num_train_timesteps - 1
    )
    assert generator.predict(prompts)["prediction"].tolist() != first
    set_sampling(generator, clip_sample=False, timestep_spacing="trailing")
    assert generator.predict(prompts)["prediction"].tolist() == first
    with pytest.raises(ValueError, match="timestep_spacing"):
        set_sampling(generator, timestep_spacing="linspace-ish")
    defaults = ImageGenerationConfig(type="image_generation")
    assert defaults.clip_sample is False and defaults.timestep_spacing == "trailing"
    _, plain = make_schedulers(10, "linear")
    assert plain.config.clip_sample is True  # diffusers' own default, which the task no longer uses


def test_cross_attention_builds_trains_and_reloads(kinds_table: Path, tmp_path: Path) -> None:
    """``cross_attention: true``: a ``UNet2DConditionModel`` that attends to the caption's tokens
    (projected per input) beside the fused vector; the model reads tokens; the bundle reloads."""
    from diffusers import UNet2DConditionModel

    config = _config(tmp_path, epochs=2, cross_attention=True, cross_attention_dim=8)
    predictor = Predictor(config=config).fit(kinds_table)
    task = predictor.fitted.model.task
    denoiser = task.denoiser  # type: ignore[union-attr]
    assert isinstance(denoiser.unet, UNet2DConditionModel) and denoiser.cross_attends
    assert list(denoiser.projections) == ["word"] and task.reads_tokens
    history = predictor.fitted.metrics["history"]
    assert history[-1]["valid_denoising_loss"] < history[0]["valid_denoising_loss"], history
    prompts = pd.DataFrame({"word": ["the left half", "the top half", ""]})
    first = predictor.predict(prompts)
    assert first["error"].isna().all()
    loaded = Predictor.load(predictor.save(tmp_path / "bundle"))
    assert loaded.predict(prompts)["prediction"].tolist() == first["prediction"].tolist()


def test_dropped_rows_and_masked_tokens_do_not_reach_the_cross_attention() -> None:
    """A dropped row sees the "no condition" token alone, and a row sees only its real tokens:
    changing the others' values changes nothing; guidance pairs each row with its dropped self."""
    from polyfuse.tasks._diffusion import Denoiser

    torch.manual_seed(0)
    denoiser = Denoiser(1, (8, 8), 6, [8, 16], 1, False, 4, token_dims={"text": 5, "photo": 3}, cross_dim=8)
    denoiser.eval()
    fused, noisy, steps = torch.randn(3, 6), torch.randn(3, 1, 8, 8), torch.tensor([5, 50, 90])
    tokens = {"text": torch.randn(3, 4, 5), "photo": torch.randn(3, 2, 3)}
    masks = {
        "text": torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]).bool(),
        "photo": torch.ones(3, 2).bool(),
    }
    keep = torch.tensor([True, True, False])
    changed = {"text": tokens["text"].clone(), "photo": tokens["photo"].clone()}
    changed["text"][0, 2:] = 50.0  # row 0's padding
    changed["text"][2] = -50.0  # row 2 is dropped: all of its tokens
    changed["photo"][2] = 50.0
    with torch.no_grad():
        condition = denoiser.embed_condition(fused, keep, tokens, masks)
        assert condition.tokens is not None and condition.tokens.shape == (3, 1 + 4 + 2, 8)
        assert condition.mask is not None and condition.mask[2].tolist() == [True] + [False] * 6
        before = denoiser(noisy, steps, condition)
        after = denoiser(noisy, steps, denoiser.embed_condition(fused, keep, changed, masks))
        torch.testing.assert_close(before, after)
        changed["text"][1, 0] = 50.0  # a real token of a kept row does matter
        moved = denoiser(noisy, steps, denoiser.embed_condition(fused, keep, changed, masks))
        assert not torch.allclose(before[1], moved[1])
        dropped = denoiser.dropped(condition)
        torch.testing.assert_close(
            denoiser(
                noisy[2:],
                steps[2:],
                dropped._replace(vector=dropped.vector[2:], tokens=dropped.tokens[2:], mask=dropped.mask[2:]),
            ),
            before[2:],
        )  # type: ignore[index]
        with pytest.raises(ValueError, match="cross-attends"):
            denoiser.embed_condition(fused, keep)
