"""The autoencoder task: label-free training, reconstructions, latents, the variational options
(product and mixture of experts) inferring an absent input, and the bad-input refusals."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from polyfuse import Predictor
from polyfuse.cli.main import main
from polyfuse.evaluation.report.autoencoder import autoencoder_results, autoencoder_sections
from polyfuse.evaluation.report.html import render_html
from polyfuse.generate import decode_latents
from polyfuse.tasks._experts import kl_to_prior, mixture_mean, product_of_experts

IMAGE_ONLY = {"word": "ignore", "kind": "ignore", "level": "ignore"}


def _config(
    tmp_path: Path, task: dict[str, Any], columns: dict[str, str], epochs: int = 30
) -> dict[str, Any]:
    return {
        "data": {"columns": {"image": "image", **columns}, "processors": {"image": {"size": 8, "mode": "L"}}},
        "model": {
            "encoders": {"image": {"type": "mlp", "hidden_dims": [32, 8]}, "tabular": {"hidden_dims": [8]}},
            "fusion": {"type": "concat", "dropout": 0.0},
            "task": {"type": "autoencoder", **task},
        },
        "training": {
            "epochs": epochs,
            "batch_size": 16,
            "lr": 1e-2,
            "weight_decay": 0.0,
            "patience": None,
            "progress": False,
            "tensorboard": False,
            "output_dir": str(tmp_path / "run"),
        },
    }


@pytest.fixture(scope="module")
def plain(kinds_table: Path, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """Seed 004's shape in miniature: image MLP encoder, a 2-d latent, the mirrored MLP decoder."""
    tmp = tmp_path_factory.mktemp("ae")
    task = {"latent_dim": 2, "decoders": {"image": {"type": "mlp", "hidden_dims": [8, 32]}}}
    return Predictor(config=_config(tmp, task, IMAGE_ONLY)).fit(kinds_table)


def test_trains_without_a_label_and_reconstructs_better_than_the_mean_image(
    plain: Predictor, kinds_table: Path
) -> None:
    assert plain.fitted.schema.label is None and plain.fitted.target is None
    history = plain.fitted.metrics["history"]
    assert "train_image_reconstruction_loss" in history[0]
    metrics = plain.evaluate(kinds_table)
    pixels = np.stack(
        [
            np.asarray(Image.open(kinds_table.parent / p), np.float32) / 255
            for p in pd.read_csv(kinds_table)["image"]
        ]
    )
    mean_image_mse = float(((pixels - pixels.mean(0)) ** 2).mean())  # the best constant reconstruction
    assert metrics["image_mse_01_error"] < 0.5 * mean_image_mse, (metrics, mean_image_mse)
    assert metrics["image_psnr_01_score"] == pytest.approx(
        -10 * np.log10(metrics["image_mse_01_error"]), rel=1e-3
    )
    assert 0.3 < metrics["image_ssim_01_score"] <= 1.0
    assert metrics["reconstruction_loss"] == pytest.approx(metrics["image_reconstruction_loss"])


def test_frame_latents_and_bundle(plain: Predictor, kinds_table: Path, tmp_path: Path) -> None:
    frame = plain.predict(kinds_table)
    assert list(frame.columns) == ["row", "prediction", "reconstruction_image", "error"]
    assert all(len(v) == 2 for v in frame["prediction"])
    image = Image.open(io.BytesIO(frame["reconstruction_image"][0]))
    assert image.size == (8, 8) and image.mode == "L"
    latents = plain.embed(kinds_table)
    assert latents.shape == (64, 2)
    np.testing.assert_allclose(latents, np.stack(frame["prediction"].to_list()), rtol=1e-5, atol=1e-6)
    loaded = Predictor.load(plain.save(tmp_path / "bundle"))
    np.testing.assert_allclose(loaded.embed(kinds_table), latents, rtol=1e-5, atol=1e-6)
    assert main(["embed", str(tmp_path / "bundle"), str(kinds_table), "-o", str(tmp_path / "z.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "z.parquet")["embedding"][0]) == 2


def test_decoding_latents_refuses_nan(plain: Predictor, tmp_path: Path) -> None:
    decoded = decode_latents(plain, np.zeros((3, 2), np.float32))
    assert decoded["image"].shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="NaN"):
        decode_latents(plain, np.array([[0.0, np.nan]], np.float32))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        decode_latents(plain, np.zeros((3, 5), np.float32))
    bundle = plain.save(tmp_path / "bundle")
    (tmp_path / "bad.csv").write_text("0.5,nan\n")
    assert (
        main(["generate", str(bundle), "--latents", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "g.png")])
        == 2
    )


@pytest.mark.parametrize("variational", ["product", "mixture"])
def test_variational_infers_the_absent_image_from_the_category(
    variational: str, kinds_table: Path, tmp_path: Path
) -> None:
    task = {
        "latent_dim": 4,
        "variational": variational,
        "beta": 0.01,
        "inputs": ["image"],
        "decoders": {"image": {"type": "mlp", "hidden_dims": [32]}},
    }
    predictor = Predictor(
        config=_config(
            tmp_path, task, {"word": "ignore", "kind": "categorical", "level": "ignore"}, epochs=40
        )
    ).fit(kinds_table)
    assert "train_kl_loss" in predictor.fitted.metrics["history"][0]
    table = pd.read_csv(kinds_table)
    blank = table.assign(image="")  # the image absent: inferred from the category alone
    generated = predictor.predict(blank, base_dir=kinds_table.parent)["reconstruction_image"]
    truth = np.stack(
        [np.asarray(Image.open(kinds_table.parent / p), np.float32) / 255 for p in table["image"]]
    )
    images = np.stack([np.asarray(Image.open(io.BytesIO(b)), np.float32) / 255 for b in generated])
    own = ((images - truth) ** 2).mean()
    other = ((images - np.roll(truth, 1, axis=0)) ** 2).mean()  # the next row is another kind
    assert own < 0.5 * other, (own, other)


def test_experts_algebra() -> None:
    mu = torch.tensor([[[1.0, -2.0], [3.0, 0.0]]])  # (B=1, M=2, L=2)
    logvar = torch.zeros(1, 2, 2)
    both = torch.tensor([[True, True]])
    joint_mu, joint_logvar = product_of_experts(mu, logvar, both)
    torch.testing.assert_close(joint_mu, torch.tensor([[4.0 / 3, -2.0 / 3]]))  # prior + two unit experts
    torch.testing.assert_close(joint_logvar, torch.full((1, 2), -float(np.log(3.0))))
    none_mu, none_logvar = product_of_experts(mu, logvar, torch.tensor([[False, False]]))
    torch.testing.assert_close(none_mu, torch.zeros(1, 2))  # no expert: the prior
    torch.testing.assert_close(none_logvar, torch.zeros(1, 2))
    torch.testing.assert_close(mixture_mean(mu, torch.tensor([[True, False]])), torch.tensor([[1.0, -2.0]]))
    assert float(kl_to_prior(torch.zeros(2), torch.zeros(2))) == 0.0


def test_text_inputs_are_rebuilt_word_for_word(kinds_table: Path, tmp_path: Path) -> None:
    """The text decoder writes each row's sentence back from the latent (it names one of four
    kinds) and reports its exact match; ``inputs`` can ask for the text alone."""
    config = _config(
        tmp_path, {"latent_dim": 4}, {"word": "text", "kind": "ignore", "level": "ignore"}, epochs=40
    )
    predictor = Predictor(config=config).fit(kinds_table)
    assert sorted(predictor.fitted.model.task.decoders) == ["image", "word"]
    assert predictor.fitted.metrics["valid"]["word_exact_match_score"] >= 0.9
    written = predictor.predict(kinds_table)["reconstruction_word"]
    assert (written == pd.read_csv(kinds_table)["word"]).mean() >= 0.9, list(written[:8])
    results = autoencoder_results(predictor, kinds_table, metrics={})
    shown = results["texts"]["word"]  # [row, original, rebuilt] for the report's first rows
    words = pd.read_csv(kinds_table)["word"]
    assert [original for _, original, _ in shown] == [words[row] for row, _, _ in shown]
    assert sum(original == rebuilt for _, original, rebuilt in shown) >= 6
    page = render_html(autoencoder_sections(results))
    assert "the text written back from its latent" in page and shown[0][2] in page
    config["model"]["task"]["inputs"] = ["word"]
    config["training"]["epochs"] = 1
    only_text = Predictor(config=config).fit(kinds_table)
    assert list(only_text.fitted.model.task.decoders) == ["word"]


def test_text_decoder_teacher_forcing_targets() -> None:
    """Inputs are BOS + the tokens, targets the tokens + EOS, padding masked out of the loss."""
    from polyfuse.tasks.input_decoders.text_rnn import TextRnnDecoder, TextRnnDecoderConfig

    spec = {"vocabulary": ["[PAD]", "[UNK]", "a", "##b", "c"], "pad_id": 0, "max_length": 4}
    decoder = TextRnnDecoder(TextRnnDecoderConfig(type="text/rnn"), spec, latent_dim=3)
    ids = torch.tensor([[2, 3, 4], [4, 0, 0]])
    features = {"ids": ids, "mask": ids > 0}
    inputs, targets, keep = decoder._teacher_forcing(features)
    assert inputs.tolist() == [[5, 2, 3, 4], [5, 4, 0, 0]]
    assert targets.tolist() == [[2, 3, 4, 6], [4, 6, 0, 0]]
    assert keep.tolist() == [[True] * 4, [True, True, False, False]]
    assert decoder.text(torch.tensor([[2, 3, 4, 0]])) == ["ab c"]
    assert decoder.row_loss(torch.zeros(2, 3), features).shape == (2,)
    assert decoder.generate(torch.zeros(2, 3)).shape[1] <= 4
