"""``image/hf`` on every supported architecture family, each a tiny random checkpoint built from a
config and saved with ``save_pretrained`` (the code path a hub name takes). ResNet, RegNet and
EfficientNet used to fail: their parameter-free pooler was removed (``'NoneType' object is not
callable``), and EfficientNet's width was read from a field its config does not have."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from polyfuse.encoders import create_encoder, parse_encoder_config
from polyfuse.encoders._registry import get_encoder_entry

transformers = pytest.importorskip("transformers")
T: Any = transformers


def _vit() -> tuple[Any, Any]:
    config = T.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    return T.ViTModel(config), T.ViTImageProcessor(size={"height": 32, "width": 32})


def _dinov2() -> tuple[Any, Any]:
    config = T.Dinov2Config(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    crop = {"height": 32, "width": 32}
    return T.Dinov2Model(config), T.BitImageProcessor(size={"shortest_edge": 32}, crop_size=crop)


def _clip() -> tuple[Any, Any]:
    config = T.CLIPVisionConfig(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    crop = {"height": 32, "width": 32}
    return T.CLIPVisionModel(config), T.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=crop)


def _convnext() -> tuple[Any, Any]:
    config = T.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)
    return T.ConvNextModel(config), T.ConvNextImageProcessor(size={"shortest_edge": 32})


def _resnet() -> tuple[Any, Any]:
    config = T.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    return T.ResNetModel(config), T.ConvNextImageProcessor(size={"shortest_edge": 32})


def _regnet() -> tuple[Any, Any]:
    config = T.RegNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], groups_width=8)
    return T.RegNetModel(config), T.ConvNextImageProcessor(size={"shortest_edge": 32})


def _efficientnet() -> tuple[Any, Any]:
    # width 0.1 makes the top convolution round_filters(1280 * 0.1) = 128 wide; hidden_dim must agree
    config = T.EfficientNetConfig(image_size=32, width_coefficient=0.1, depth_coefficient=0.1, hidden_dim=128)
    return T.EfficientNetModel(config), T.EfficientNetImageProcessor(size={"height": 32, "width": 32})


FAMILIES: dict[str, tuple[Callable[[], tuple[Any, Any]], int, int]] = {
    # name: (builder, output width, tokens for a 32 x 32 image: patches + CLS, or a CNN map)
    "vit": (_vit, 16, 17),
    "dinov2": (_dinov2, 16, 17),
    "clip-vision": (_clip, 16, 17),
    "convnext": (_convnext, 16, 16),
    "resnet": (_resnet, 16, 16),
    "regnet": (_regnet, 16, 16),
    "efficientnet": (_efficientnet, 128, 1),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_image_hf_builds_and_encodes_every_family(family: str, tmp_path: Path, hf_offline: None) -> None:
    build, width, tokens = FAMILIES[family]
    torch.manual_seed(0)
    model, image_processor = build()
    model.save_pretrained(tmp_path)
    image_processor.save_pretrained(tmp_path)
    config = parse_encoder_config("image", {"type": "hf", "checkpoint": str(tmp_path)})
    processor = get_encoder_entry("image", "hf").cls.preprocessing(config, {}).fit([])
    encoder = create_encoder("image", config, processor.output_spec())
    assert encoder.output_dim == width
    spec = processor.output_spec()
    pixels = torch.randn(2, 3, spec["height"], spec["width"])
    out = encoder.eval()({"pixels": pixels})
    assert out.pooled.shape == (2, width)
    assert out.tokens is not None and out.tokens.shape == (2, tokens, width)
    assert torch.isfinite(out.pooled).all()
