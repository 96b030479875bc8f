"""The CLIP pair ``text/hf_clip`` + ``image/hf_clip`` on a tiny random CLIP checkpoint.

The checkpoint (both towers, a 39-token BPE tokenizer written here, an image processor) is built
from configs and saved with ``save_pretrained``; both encoders load it through the code path a hub
name takes. Their pooled outputs must be ``CLIPModel.get_text_features`` / ``get_image_features``.
No network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from polyfuse import Predictor
from polyfuse.data.processors.pretrained_image import PretrainedImageProcessor
from polyfuse.data.processors.pretrained_text import PretrainedTextProcessor
from polyfuse.encoders import create_encoder, parse_encoder_config
from polyfuse.encoders.pretrained import HFClipImageEncoder, HFClipTextEncoder, count_trainable

transformers = pytest.importorskip("transformers")

LETTERS = list("lowersticdnaghp")
VOCAB = [
    *LETTERS,
    *[f"{c}</w>" for c in LETTERS],
    "lo",
    "low</w>",
    "er</w>",
    "<unk>",
    "<|startoftext|>",
    "<|endoftext|>",
]
MERGES = ["#version: 0.2", "l o", "lo w</w>", "e r</w>"]
POSITIONS = 16
PROJECTION = 24


# no test may reach a hub (the fixture is in tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hf_offline")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide CLIP (projection 24, 32x32 images) with tokenizer and image processor."""
    out = tmp_path_factory.mktemp("tiny-clip")
    (out / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(VOCAB)}))
    (out / "merges.txt").write_text("\n".join(MERGES) + "\n")
    transformers.CLIPTokenizer(str(out / "vocab.json"), str(out / "merges.txt")).save_pretrained(out)
    eos = VOCAB.index("<|endoftext|>")
    torch.manual_seed(0)
    config = transformers.CLIPConfig(
        text_config={
            "vocab_size": len(VOCAB),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": POSITIONS,
            "bos_token_id": VOCAB.index("<|startoftext|>"),
            "eos_token_id": eos,
            "pad_token_id": eos,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=PROJECTION,
    )
    transformers.CLIPModel(config).save_pretrained(out)
    transformers.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    ).save_pretrained(out)
    return out


def build(modality: str, options: dict[str, Any], processor_options: dict[str, Any] | None = None) -> Any:
    """(fitted processor derived from the checkpoint, encoder) for ``modality/hf_clip``."""
    config = parse_encoder_config(modality, {"type": "hf_clip", **options})
    cls = HFClipTextEncoder if modality == "text" else HFClipImageEncoder
    processor = cls.preprocessing(config, processor_options or {}).fit([])
    return processor, create_encoder(modality, config, processor.output_spec())


def test_pooled_outputs_are_clips_projected_features(tiny_clip: Path, tmp_path: Path) -> None:
    reference = transformers.CLIPModel.from_pretrained(tiny_clip).eval()
    options = {"checkpoint": str(tiny_clip), "normalize": False}
    text_processor, text = build("text", options)
    image_processor, image = build("image", options)
    assert isinstance(text_processor, PretrainedTextProcessor) and text_processor.max_length == POSITIONS
    assert isinstance(image_processor, PretrainedImageProcessor)
    assert (
        image_processor.get_params()["size"] == [32, 32] and text.output_dim == image.output_dim == PROJECTION
    )

    batch = text_processor.collate([text_processor.transform(t) for t in ["a cat sat", "lower glass", None]])
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(
        tmp_path / "p.png"
    )
    pixels = image_processor.collate([image_processor.transform(tmp_path / "p.png"), None])
    with torch.no_grad():
        text_out, image_out = text.eval()(batch), image.eval()(pixels)
        text_ref = reference.get_text_features(
            input_ids=batch["ids"][:2], attention_mask=batch["mask"][:2].long()
        )
        image_ref = reference.get_image_features(pixel_values=pixels["pixels"])
    text_ref = getattr(text_ref, "pooler_output", text_ref)
    image_ref = getattr(image_ref, "pooler_output", image_ref)
    assert torch.allclose(text_out.pooled[:2], text_ref, atol=1e-5)
    assert torch.equal(text_out.pooled[2], torch.zeros(PROJECTION))  # absent text
    assert torch.allclose(image_out.pooled, image_ref, atol=1e-5)
    # tokens live in the same space: the end-of-text token / class token is the pooled vector
    assert text_out.tokens is not None and text_out.token_mask is not None
    last = text_out.token_mask[0].sum() - 1
    assert torch.allclose(text_out.tokens[0, last], text_out.pooled[0], atol=1e-5)
    assert image_out.tokens is not None and image_out.tokens.shape == (2, 1 + 16, PROJECTION)
    assert torch.allclose(image_out.tokens[:, 0], image_out.pooled, atol=1e-5)


def test_normalize_and_trainable_modes(tiny_clip: Path) -> None:
    text_processor, text = build("text", {"checkpoint": str(tiny_clip)})
    with torch.no_grad():
        pooled = text.eval()(text_processor.collate([text_processor.transform("a dog")])).pooled
    assert torch.allclose(pooled.norm(dim=-1), torch.ones(1), atol=1e-5)
    assert count_trainable(text) == 0
    _, last = build("image", {"checkpoint": str(tiny_clip), "trainable": "last_n"})
    backbone = last.backbone
    expected = sum(
        p.numel()
        for module in (
            backbone.vision_model.encoder.layers[-1],
            backbone.vision_model.post_layernorm,
            backbone.visual_projection,
        )
        for p in module.parameters()
    )
    assert count_trainable(last) == expected
    with pytest.raises(ValueError, match=f"between 2 and {POSITIONS}"):
        build("text", {"checkpoint": str(tiny_clip)}, {"max_length": 77})


def test_an_image_text_pair_trains_with_concat_fusion(tiny_clip: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    (tmp_path / "img").mkdir()
    rows = []
    for i in range(40):
        label = i % 2
        colour = np.array([200, 40, 40] if label else [40, 40, 200], dtype=np.int64)
        noisy = np.clip(colour + rng.integers(-30, 30, (20, 20, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(tmp_path / "img" / f"{i}.png")
        rows.append(
            {
                "caption": ["a cold lagoon", "a hot lower desert"][label],
                "photo": f"img/{i}.png",
                "label": label,
            }
        )
    pd.DataFrame(rows).to_csv(tmp_path / "pairs.csv", index=False)
    clip = {"type": "hf_clip", "checkpoint": str(tiny_clip)}
    config: dict[str, Any] = {
        "data": {
            "train": str(tmp_path / "pairs.csv"),
            "label": "label",
            "columns": {"caption": "text", "photo": "image"},
        },
        "model": {
            "encoders": {"text": clip, "image": clip},
            "fusion": {"type": "concat"},
            "head": {"hidden_dim": 8},
        },
        "training": {
            "epochs": 3,
            "batch_size": 8,
            "lr": 1e-2,
            "progress": False,
            "tensorboard": False,
            "num_workers": 0,
            "output_dir": str(tmp_path / "run"),
            "cache_dir": str(tmp_path / "cache"),
        },
    }
    predictor = Predictor(config=config).fit()
    report = predictor.fitted.metrics["training"]["embedding_cache"]
    assert report["caption"]["cached"] and report["photo"]["cached"]
    loaded = Predictor.load(predictor.save(tmp_path / "bundle"))
    expected = predictor.predict(tmp_path / "pairs.csv", proba=True)
    got = loaded.predict(tmp_path / "pairs.csv", proba=True)
    assert np.allclose(
        got.filter(like="proba").to_numpy(), expected.filter(like="proba").to_numpy(), atol=1e-5
    )
    assert loaded.evaluate(tmp_path / "pairs.csv")["accuracy_score"] > 0.9
