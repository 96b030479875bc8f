"""``polyfuse evaluate --report`` of autoencoder and image-generation bundles: the sections, inline
PNG plots, the latent scatter coloured by ``--color-by`` (and the refusals), the gallery of samples."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from polyfuse import Predictor
from polyfuse.cli.main import main
from polyfuse.evaluation.report.autoencoder import autoencoder_results, autoencoder_sections
from polyfuse.evaluation.report.html import render_html
from polyfuse.evaluation.report.image_generation import image_generation_results
from polyfuse.evaluation.report.latent import label_colours

PLOT = re.compile(r'data-plot="([a-z0-9_]+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"')
TRAINING = {"batch_size": 16, "lr": 1e-2, "patience": None, "progress": False, "tensorboard": False}


def _plots(page: str) -> dict[str, bytes]:
    """``{plot name: PNG bytes}``; every image of the page is one of them."""
    found = {name: base64.b64decode(data, validate=True) for name, data in PLOT.findall(page)}
    assert page.count("<img") == len(found)
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in found.values())
    return found


@pytest.fixture(scope="module")
def autoencoder(kinds_table: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Predictor, Path]:
    """An image autoencoder with a 4-d latent (drawn through PCA), trained for a few steps, and its bundle."""
    tmp = tmp_path_factory.mktemp("ae_report")
    config = {
        "data": {
            "columns": {"image": "image", "word": "ignore", "kind": "ignore", "level": "ignore"},
            "processors": {"image": {"size": 8, "mode": "L"}},
        },
        "model": {
            "encoders": {"image": {"type": "mlp", "hidden_dims": [16]}},
            "fusion": {"type": "concat", "dropout": 0.0},
            "task": {"type": "autoencoder", "latent_dim": 4, "decoders": {"image": {"hidden_dims": [16]}}},
        },
        "training": {"epochs": 3, **TRAINING, "output_dir": str(tmp / "run")},
    }
    predictor = Predictor(config=config).fit(kinds_table)
    return predictor, predictor.save(tmp / "bundle")


@pytest.fixture(scope="module")
def generator(kinds_table: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Predictor, Path]:
    """A text-conditioned image generator trained for one epoch (plumbing only), and its bundle."""
    tmp = tmp_path_factory.mktemp("gen_report")
    task = {"type": "image_generation", "size": 8, "mode": "L", "widths": [8, 16], "norm_groups": 4}
    config = {
        "data": {"label": "image", "columns": {"word": "text", "kind": "ignore", "level": "ignore"}},
        "model": {
            "encoders": {"text": {"type": "bag", "embed_dim": 8}},
            "fusion": {"type": "concat", "dropout": 0.0},
            "task": {**task, "sampling_steps": 3, "num_train_timesteps": 100, "ema_decay": 0.9},
        },
        "training": {"epochs": 1, **TRAINING, "output_dir": str(tmp / "run")},
    }
    predictor = Predictor(config=config).fit(kinds_table)
    return predictor, predictor.save(tmp / "bundle")


def test_autoencoder_report_from_the_cli(
    autoencoder: tuple[Predictor, Path], kinds_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.html"
    args = ["evaluate", str(autoencoder[1]), str(kinds_table), "--report", str(report), "--color-by", "kind"]
    assert main(args) == 0
    assert "image_mse_01_error" in capsys.readouterr().out
    page = report.read_text()
    for title in ("Autoencoder metrics", "Training", "Reconstructions", "Latent space"):
        assert f"<h2>{title}</h2>" in page
    assert "image_psnr_01_score" in page and "image_ssim_01_score" in page
    assert sorted(_plots(page)) == ["latent_space", "learning_curves", "reconstructions_0"]
    assert "64 of 64 rows; the first two principal components of 4; coloured by kind" in page


def test_latent_colours_follow_the_label_column(
    autoencoder: tuple[Predictor, Path], kinds_table: Path
) -> None:
    predictor = autoencoder[0]
    kinds = pd.read_csv(kinds_table)["kind"]
    results = autoencoder_results(predictor, kinds_table, metrics={}, color_by="kind", max_points=20)
    assert results["latent"].shape == (20, 4) and results["total_rows"] == 64
    assert results["labels"] == kinds[results["latent_rows"]].tolist()  # each point with its own row's label
    codes, names = label_colours(results["labels"])
    assert names == sorted(set(results["labels"])) and len(set(codes.tolist())) == len(names)
    np_latent = predictor.embed(kinds_table)[results["latent_rows"]]
    assert torch.allclose(torch.from_numpy(results["latent"]), torch.from_numpy(np_latent), atol=1e-5)
    image = results["reconstructions"]["image"]
    assert image["original"].shape == image["rebuilt"].shape == (8, 1, 8, 8)
    assert results["rows"] == results["latent_rows"][:8] and bool(image["present"].all())
    assert float(image["rebuilt"].min()) >= 0.0 and float(image["rebuilt"].max()) <= 1.0
    plain = render_html(autoencoder_sections({**results, "labels": None, "color_by": None}))
    assert "uncoloured (name a column with --color-by)" in plain


def test_color_by_refusals(
    autoencoder: tuple[Predictor, Path],
    generator: tuple[Predictor, Path],
    kinds_table: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = tmp_path / "report.html"
    bundle, table = str(autoencoder[1]), str(kinds_table)
    assert main(["evaluate", bundle, table, "--report", str(report), "--color-by", "colour"]) == 2
    error = capsys.readouterr().err
    assert "--color-by column 'colour' is not a column of" in error and "kind" in error
    assert not report.exists()
    with pytest.raises(ValueError, match="'colour'"):
        autoencoder_results(autoencoder[0], kinds_table, metrics={}, color_by="colour")
    assert main(["evaluate", bundle, table, "--color-by", "kind"]) == 2
    assert "no --report was asked for" in capsys.readouterr().err
    assert main(["evaluate", str(generator[1]), table, "--report", str(report), "--color-by", "kind"]) == 2
    assert "this bundle's task is 'image_generation'" in capsys.readouterr().err


def test_image_generation_report(
    generator: tuple[Predictor, Path], kinds_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.html"
    assert main(["evaluate", str(generator[1]), str(kinds_table), "--report", str(report)]) == 0
    assert "denoising_loss" in capsys.readouterr().out
    page = report.read_text()
    assert "<h2>Image generation metrics</h2>" in page and "<h2>Generated samples</h2>" in page
    # the learning curves, then one figure per distinct word of the table (four)
    assert sorted(_plots(page)) == ["learning_curves", *[f"samples_{i}" for i in range(4)]]
    for i, kind in enumerate(["top", "bottom", "left", "right"]):
        assert f"row {i}: word: the {kind} half" in page


def test_image_generation_samples_per_condition(generator: tuple[Predictor, Path], kinds_table: Path) -> None:
    results: dict[str, Any] = image_generation_results(
        generator[0], kinds_table, metrics={}, conditions=2, per_condition=3
    )
    examples = results["examples"]
    assert [e["condition"] for e in examples] == [{"word": "the top half"}, {"word": "the bottom half"}]
    samples = examples[0]["samples"]
    assert samples.shape == (3, 1, 8, 8) and 0.0 <= float(samples.min()) <= float(samples.max()) <= 1.0
    assert not torch.equal(samples[0], samples[1])  # each copy of a condition gets its own noise
    real = examples[0]["real"]
    assert real is not None and real.shape == (1, 8, 8)
    assert float(real[:, :4].mean()) > float(real[:, 4:].mean()) + 0.5  # the table's "top" image


def test_analyses_asked_beside_a_task_report_are_run_not_dropped(
    autoencoder: tuple[Predictor, Path], kinds_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, out = tmp_path / "report.html", tmp_path / "results.json"
    args = ["evaluate", str(autoencoder[1]), str(kinds_table), "--report", str(report)]
    assert main([*args, "--efficiency", "--json", str(out)]) == 0
    assert "Latent space" in report.read_text()
    import json

    results = json.loads(out.read_text())
    assert "image_mse_01_error" in results["metrics"] and results.get("efficiency")
