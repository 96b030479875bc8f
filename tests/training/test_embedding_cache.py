"""Training reads frozen pretrained encoders' outputs from the embedding cache.

A tiny random BERT (saved with ``save_pretrained``) encodes a text column beside a numeric one.
The cache must be transparent: the same metrics with it as without, a bundle that predicts from raw
text exactly what training saw, and no encoder forward pass at all on a warm rerun. Token fusions,
trainable encoders and augmenting processors keep running their encoder. No network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from polyfuse import Predictor
from polyfuse.data.dataset import encode_rows
from polyfuse.data.processors.pretrained_text import PretrainedTextProcessor
from polyfuse.data.tables import read_table
from polyfuse.encoders.pretrained.hf_text import HFTextEncoder

transformers = pytest.importorskip("transformers")

WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "red", "blue"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]


# no test may reach a hub (the fixture is in tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hf_offline")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide random BERT and its WordPiece tokenizer."""
    out = tmp_path_factory.mktemp("tiny-bert")
    (out / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    transformers.BertTokenizerFast.from_pretrained(out).save_pretrained(out)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
    )
    transformers.BertModel(config).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Train (48 rows) and valid (16 rows) tables: text (every 7th cell empty), x, label."""
    out = tmp_path_factory.mktemp("text-table")
    rng = np.random.default_rng(0)
    paths = []
    for name, rows in (("train", 48), ("valid", 16)):
        labels = rng.integers(0, 2, rows)
        texts = [
            " ".join([["cat", "dog"][y], *rng.choice(WORDS, 3).tolist()]) if i % 7 else ""
            for i, y in enumerate(labels)
        ]
        frame = pd.DataFrame({"text": texts, "x": rng.normal(size=rows) + labels, "label": labels})
        frame.to_csv(out / f"{name}.csv", index=False)
        paths.append(out / f"{name}.csv")
    return paths[0], paths[1]


def make_config(
    tiny_bert: Path, tables: tuple[Path, Path], run: Path, fusion: str = "concat", **encoder: Any
) -> dict[str, Any]:
    return {
        "data": {
            "train": str(tables[0]),
            "valid": str(tables[1]),
            "label": "label",
            "columns": {"text": "text", "x": "numeric"},
            "processors": {"text": {"max_length": 12}},
        },
        "model": {
            "encoders": {
                "text": {"type": "hf", "checkpoint": str(tiny_bert), **encoder},
                "tabular": {"hidden_dims": [8]},
            },
            "fusion": {"type": fusion},
            "head": {"hidden_dim": 8},
        },
        "training": {
            "epochs": 2,
            "batch_size": 8,
            "progress": False,
            "tensorboard": False,
            "num_workers": 0,
            "output_dir": str(run / "out"),
            "cache_dir": str(run.parent / "cache"),
        },
    }


@pytest.fixture
def forward_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every ``HFTextEncoder.forward`` call appends its batch size."""
    calls: list[int] = []
    original = HFTextEncoder.forward

    def counting(self: HFTextEncoder, x: dict[str, torch.Tensor]) -> Any:
        calls.append(len(x["ids"]))
        return original(self, x)

    monkeypatch.setattr(HFTextEncoder, "forward", counting)
    return calls


def test_a_warm_rerun_reads_every_embedding_and_never_runs_the_encoder(
    tiny_bert: Path, tables: tuple[Path, Path], tmp_path: Path, forward_calls: list[int]
) -> None:
    cold = Predictor(config=make_config(tiny_bert, tables, tmp_path / "cold")).fit()
    report = cold.fitted.metrics["training"]["embedding_cache"]["text"]
    assert report["cached"] and report["hits"] == 0 and report["misses"] == report["values"] + 1
    assert sum(forward_calls) == report["misses"]  # each distinct text once, plus the absent row
    forward_calls.clear()
    warm = Predictor(config=make_config(tiny_bert, tables, tmp_path / "warm", fusion="gated")).fit()
    report = warm.fitted.metrics["training"]["embedding_cache"]["text"]
    assert report["misses"] == 0 and report["hits"] == report["values"] + 1
    assert forward_calls == []  # another fusion, same data: the encoder never ran


def test_the_bundle_predicts_from_raw_text_what_training_saw(
    tiny_bert: Path,
    tables: tuple[Path, Path],
    tmp_path: Path,
    forward_calls: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import polyfuse.training.pipeline

    seen: list[torch.Tensor] = []
    run_steps = polyfuse.training.pipeline.run_steps

    def recording(*args: Any, **kwargs: Any) -> Any:
        out = run_steps(*args, **kwargs)
        seen.append(out["logits"])
        return out

    monkeypatch.setattr(polyfuse.training.pipeline, "run_steps", recording)
    predictor = Predictor(config=make_config(tiny_bert, tables, tmp_path / "run")).fit()
    assert predictor.fitted.metrics["training"]["embedding_cache"]["text"]["cached"]
    in_training = seen[-1]  # the final validation pass, on cached embeddings
    loaded = Predictor.load(predictor.save(tmp_path / "bundle"))
    processors = {spec.name: spec.processor for spec in loaded.fitted.inputs}
    assert isinstance(processors["text"], PretrainedTextProcessor)
    forward_calls.clear()
    encoded = encode_rows(read_table(tables[1]), loaded.fitted.inputs, loaded.fitted.target)
    raw = run_steps(loaded.fitted, encoded, 8)["logits"]
    assert forward_calls  # the bundle ran the encoder on raw text
    assert torch.allclose(raw, in_training, atol=1e-5)
    metrics = loaded.evaluate(tables[1])
    assert metrics["accuracy_score"] == pytest.approx(predictor.fitted.metrics["valid"]["accuracy_score"])


@pytest.mark.parametrize("fusion", ["concat", "attention"])
def test_the_cache_is_transparent(
    tiny_bert: Path, tables: tuple[Path, Path], tmp_path: Path, fusion: str
) -> None:
    metrics = {}
    for mode in ("auto", "off"):
        config = make_config(tiny_bert, tables, tmp_path / mode, fusion=fusion)
        config["training"]["embedding_cache"] = mode
        metrics[mode] = Predictor(config=config).fit().fitted.metrics
    assert metrics["auto"]["training"]["embedding_cache"]["text"]["cached"]
    assert metrics["off"]["training"]["embedding_cache"]["text"] == {
        "cached": False,
        "reason": "training.embedding_cache is off",
    }
    for key, value in metrics["off"]["valid"].items():
        if isinstance(value, float):
            assert metrics["auto"]["valid"][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    losses = [[epoch["train_loss"] for epoch in metrics[m]["history"]] for m in ("auto", "off")]
    assert np.allclose(losses[0], losses[1], rtol=1e-4)


def test_token_readers_get_cached_tokens_and_the_encoder_runs_once_per_value(
    tiny_bert: Path, tables: tuple[Path, Path], tmp_path: Path, forward_calls: list[int]
) -> None:
    """A token fusion reads the cache's float16 tokens + masks: results as with the encoder running."""
    metrics = {}
    for mode in ("auto", "off"):
        forward_calls.clear()
        config = make_config(tiny_bert, tables, tmp_path / mode, fusion="early")
        config["training"]["embedding_cache"] = mode
        metrics[mode] = Predictor(config=config).fit().fitted.metrics
        if mode == "auto":
            report = metrics[mode]["training"]["embedding_cache"]["text"]
            assert report["cached"] and report["tokens"] > 1
            assert sum(forward_calls) == report["misses"]  # once per distinct text (+ the absent row)
        else:
            assert sum(forward_calls) >= 2 * 48  # every training row, every epoch
    cached, direct = metrics["auto"]["valid"], metrics["off"]["valid"]
    assert cached["task_loss"] == pytest.approx(direct["task_loss"], rel=2e-2)  # float16 tokens


@pytest.mark.parametrize(
    ("fusion", "encoder", "reason"),
    [
        ("concat", {"pooling": "attention"}, "the encoder has trainable parameters"),
        ("concat", {"trainable": "last_n"}, "the encoder has trainable parameters"),
    ],
)
def test_encoders_that_must_run_keep_running(
    tiny_bert: Path,
    tables: tuple[Path, Path],
    tmp_path: Path,
    forward_calls: list[int],
    fusion: str,
    encoder: dict[str, Any],
    reason: str,
) -> None:
    config = make_config(tiny_bert, tables, tmp_path / "run", fusion=fusion, **encoder)
    metrics = Predictor(config=config).fit().fitted.metrics
    assert metrics["training"]["embedding_cache"] == {"text": {"cached": False, "reason": reason}}
    assert sum(forward_calls) >= 2 * 48  # every training row, every epoch
    assert not (tmp_path / "cache").exists()


def test_bad_and_absent_images_are_handled_as_without_the_cache(tmp_path: Path) -> None:
    """A missing image file is the same bad row with the cache; an absent one keeps its mask."""
    from PIL import Image

    from polyfuse.data.dataset import DataError

    checkpoint = tmp_path / "vit"
    torch.manual_seed(0)
    vit = transformers.ViTConfig(
        image_size=16,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    transformers.ViTModel(vit).save_pretrained(checkpoint)
    transformers.ViTImageProcessor(size={"height": 16, "width": 16}).save_pretrained(checkpoint)
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    photos = []
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(tmp_path / "img" / f"{i}.png")
        photos.append("" if i % 9 == 4 else f"img/{i}.png")
    photos[7] = "img/missing.png"
    frame = pd.DataFrame({"photo": photos, "x": rng.normal(size=40), "label": rng.integers(0, 2, 40)})
    frame.to_csv(tmp_path / "table.csv", index=False)
    config: dict[str, Any] = {
        "data": {
            "train": str(tmp_path / "table.csv"),
            "label": "label",
            "columns": {"photo": "image", "x": "numeric"},
        },
        "model": {
            "encoders": {"image": {"type": "hf", "checkpoint": str(checkpoint)}},
            "head": {"hidden_dim": 8},
        },
        "training": {
            "epochs": 1,
            "batch_size": 8,
            "progress": False,
            "tensorboard": False,
            "num_workers": 0,
            "output_dir": str(tmp_path / "run"),
            "cache_dir": str(tmp_path / "cache"),
        },
    }
    with pytest.raises(DataError, match=r"missing\.png") as error:
        Predictor(config=config).fit()
    assert [e.row for e in error.value.errors] == [7]
    config["data"]["on_bad_rows"] = "skip"
    metrics = {}
    for mode in ("auto", "off"):
        config["training"]["embedding_cache"] = mode
        metrics[mode] = Predictor(config=config).fit().fitted.metrics
    assert metrics["auto"]["training"]["embedding_cache"]["photo"]["cached"]
    assert metrics["auto"]["training"]["skipped_rows"] == metrics["off"]["training"]["skipped_rows"]
    assert sum(metrics["auto"]["training"]["skipped_rows"].values()) == 1
    assert metrics["auto"]["valid"]["accuracy_score"] == metrics["off"]["valid"]["accuracy_score"]
    assert metrics["auto"]["history"][0]["train_loss"] == pytest.approx(
        metrics["off"]["history"][0]["train_loss"]
    )
