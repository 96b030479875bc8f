"""Contract tests run over every registered from-scratch encoder (tested the day it registers).

Each is built from its default config and a small fixture spec for its modality, and fed a random
batch made by :func:`make_batch` (sequence modalities include one row with no real step).
Pretrained encoders (subclasses of :class:`PretrainedEncoder`) need checkpoints and specs derived
from their weights: here only their configs are checked; tests/encoders/test_pretrained.py covers
the rest.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from pydantic import ValidationError
from torch import Tensor, nn

from polyfuse.encoders import (
    DEFAULT_ENCODERS,
    ENCODERS,
    Encoder,
    EncoderConfig,
    create_encoder,
    list_encoders,
    parse_encoder_config,
)
from polyfuse.encoders.pretrained import PretrainedEncoder

EXPECTED_ENCODERS = {
    "audio/cnn",
    "image/cells",
    "image/cnn",
    "image/mlp",
    "image/resnet",
    "tabular/mlp",
    "text/bag",
    "text/bigru",
    "text/cnn",
    "text/lstm",
    "text/transformer",
}

FROM_SCRATCH = [n for n in list_encoders() if not issubclass(ENCODERS.get(n).cls, PretrainedEncoder)]
"""Every registered encoder that builds from a processor spec alone."""

SPECS: dict[str, dict[str, Any]] = {
    "text": {"vocab_size": 50, "pad_id": 0, "max_length": 16},
    "image": {"channels": 3, "height": 16, "width": 16},
    "audio": {"n_mels": 16, "max_frames": 40},
    "tabular": {"num_numeric": 3, "cardinalities": [4, 7]},
}

SEQUENCE_MODALITIES = {"text": "ids", "audio": "mel"}
"""Modalities with a (B, T) ``mask``, and the key of the tensor whose last axis it masks."""

BATCH = 4
EMPTY_ROW = 1
"""Row of every sequence batch whose mask is all False (absent text / audio)."""


def make_batch(
    modality: str, spec: dict[str, Any], batch_size: int = BATCH, seed: int = 0
) -> dict[str, Tensor]:
    """Random encoder input for ``modality`` shaped by its processor ``spec``.

    Sequence modalities are right-padded with random lengths; row ``EMPTY_ROW`` has no real step.
    """
    gen = torch.Generator().manual_seed(seed)
    if modality == "image":
        shape = (batch_size, spec["channels"], spec["height"], spec["width"])
        return {"pixels": torch.randn(shape, generator=gen)}
    if modality == "tabular":
        numeric = torch.randn(batch_size, spec["num_numeric"], generator=gen)
        columns = [torch.randint(0, c, (batch_size,), generator=gen) for c in spec["cardinalities"]]
        categorical = torch.stack(columns, dim=1) if columns else torch.zeros(batch_size, 0, dtype=torch.long)
        return {"numeric": numeric, "categorical": categorical}
    length = (spec["max_length"] if modality == "text" else spec["max_frames"]) // 2
    lengths = torch.randint(1, length + 1, (batch_size,), generator=gen)
    lengths[0], lengths[EMPTY_ROW] = length, 0
    mask = torch.arange(length) < lengths.unsqueeze(1)  # (B, T)
    if modality == "text":
        ids = torch.randint(1, spec["vocab_size"], (batch_size, length), generator=gen)
        return {"ids": ids.masked_fill(~mask, spec["pad_id"]), "mask": mask}
    mel = torch.randn(batch_size, 1, spec["n_mels"], length, generator=gen) * mask[:, None, None, :]
    return {"mel": mel, "mask": mask}


def build(name: str, seed: int = 0, **options: Any) -> Encoder:
    """Build encoder ``modality/name`` from its config (defaults + ``options``) and the fixture spec."""
    modality = name.split("/")[0]
    torch.manual_seed(seed)
    return create_encoder(
        modality, parse_encoder_config(modality, {"type": name, **options}), SPECS[modality]
    )


def modality_of(name: str) -> str:
    return name.split("/")[0]


def test_expected_encoders_are_registered() -> None:
    assert set(FROM_SCRATCH) == EXPECTED_ENCODERS
    for modality, name in DEFAULT_ENCODERS.items():
        assert f"{modality}/{name}" in list_encoders(modality)


@pytest.mark.parametrize("name", FROM_SCRATCH)
def test_shapes_and_finite_outputs(name: str) -> None:
    modality = modality_of(name)
    encoder = build(name).train()
    out = encoder(make_batch(modality, SPECS[modality]))
    assert out.pooled.shape == (BATCH, encoder.output_dim)
    assert torch.isfinite(out.pooled).all()
    assert (out.tokens is None) == (out.token_mask is None)
    if out.tokens is not None and out.token_mask is not None:
        assert out.tokens.shape[0] == BATCH and out.tokens.shape[2] == encoder.output_dim
        assert out.token_mask.shape == out.tokens.shape[:2] and out.token_mask.dtype == torch.bool
        assert torch.isfinite(out.tokens).all()
        if modality in SEQUENCE_MODALITIES:
            assert not out.token_mask[EMPTY_ROW].any()


@pytest.mark.parametrize("name", FROM_SCRATCH)
def test_every_parameter_gets_a_finite_gradient(name: str) -> None:
    modality = modality_of(name)
    encoder = build(name).train()
    out = encoder(make_batch(modality, SPECS[modality]))
    loss = out.pooled.pow(2).mean() + (out.tokens.pow(2).mean() if out.tokens is not None else 0.0)
    loss.backward()
    for param_name, param in encoder.named_parameters():
        assert param.grad is not None, f"{name}: {param_name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name}: {param_name} has a non-finite gradient"


@pytest.mark.parametrize("name", FROM_SCRATCH)
def test_same_seed_same_output(name: str) -> None:
    modality = modality_of(name)
    batch = make_batch(modality, SPECS[modality])
    first, second = build(name, seed=7).eval(), build(name, seed=7).eval()
    with torch.no_grad():
        out_a, out_b = first(batch), second(batch)
    assert torch.equal(out_a.pooled, out_b.pooled)


@pytest.mark.parametrize("name", [n for n in FROM_SCRATCH if modality_of(n) in SEQUENCE_MODALITIES])
def test_padding_is_ignored(name: str) -> None:
    """Appending padding (holding random values) leaves every row's pooled vector unchanged."""
    modality = modality_of(name)
    batch = make_batch(modality, SPECS[modality])
    key, extra = SEQUENCE_MODALITIES[modality], 3
    noise = make_batch(modality, SPECS[modality], seed=1)[key][..., :extra]
    padded = {
        key: torch.cat([batch[key], noise], dim=-1),
        "mask": torch.cat([batch["mask"], torch.zeros(BATCH, extra, dtype=torch.bool)], dim=1),
    }
    encoder = build(name).eval()
    with torch.no_grad():
        short, long = encoder(batch).pooled, encoder(padded).pooled
    torch.testing.assert_close(short, long, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", FROM_SCRATCH)
def test_config_validation(name: str) -> None:
    modality = modality_of(name)
    config_cls = ENCODERS.get(name).config_cls
    with pytest.raises(ValidationError):
        parse_encoder_config(modality, {"type": name, "no_such_option": 1})
    typed = next(
        f for f, info in config_cls.model_fields.items() if f != "type" and info.annotation is not str
    )
    with pytest.raises(ValidationError):
        parse_encoder_config(modality, {"type": name, typed: "not-a-valid-value"})
    if "dropout" in config_cls.model_fields:
        with pytest.raises(ValidationError):
            parse_encoder_config(modality, {"type": name, "dropout": 1.5})


@pytest.mark.parametrize("name", list_encoders())
def test_every_config_is_strict_and_described(name: str) -> None:
    """All encoders, pretrained included: unknown keys are errors, every field has a description."""
    config_cls = ENCODERS.get(name).config_cls
    assert issubclass(config_cls, EncoderConfig) and config_cls.model_config.get("extra") == "forbid"
    for field, info in config_cls.model_fields.items():
        assert field == "type" or info.description, f"{name}: field {field!r} has no description"


@pytest.mark.parametrize("modality", sorted(DEFAULT_ENCODERS))
def test_empty_config_gives_the_default(modality: str) -> None:
    config = parse_encoder_config(modality, {})
    default = f"{modality}/{DEFAULT_ENCODERS[modality]}"
    assert isinstance(config, EncoderConfig) and config.type == default
    assert config == ENCODERS.get(default).config_cls(type=default)
    assert parse_encoder_config(modality, {"type": DEFAULT_ENCODERS[modality]}) == config


def test_cross_field_validation() -> None:
    with pytest.raises(ValidationError, match="divide"):
        parse_encoder_config("text", {"type": "transformer", "embed_dim": 30, "num_heads": 4})
    with pytest.raises(ValidationError, match="differ in length"):
        parse_encoder_config("image", {"type": "resnet", "widths": [8, 16], "num_blocks": [1]})


@pytest.mark.parametrize(
    "spec", [{"num_numeric": 2, "cardinalities": []}, {"num_numeric": 0, "cardinalities": [3, 5]}]
)
def test_tabular_with_one_kind_of_column_and_column_tokens(spec: dict[str, Any]) -> None:
    config = parse_encoder_config("tabular", {"column_tokens": True})
    encoder = create_encoder("tabular", config, spec)
    out = encoder(make_batch("tabular", spec, batch_size=1))
    columns = spec["num_numeric"] + len(spec["cardinalities"])
    assert out.pooled.shape == (1, encoder.output_dim)
    assert out.tokens is not None and out.tokens.shape == (1, columns, encoder.output_dim)


@pytest.mark.parametrize(("side", "num_tokens"), [(28, 7 * 7), (64, 8 * 8), (128, 8 * 8)])
def test_resnet_stem_adapts_to_image_size(side: int, num_tokens: int) -> None:
    spec = {"channels": 1, "height": side, "width": side}
    encoder = create_encoder("image", parse_encoder_config("image", {"type": "resnet"}), spec).eval()
    with torch.no_grad():
        out = encoder(make_batch("image", spec, batch_size=1))
    assert out.tokens is not None and out.tokens.shape == (1, num_tokens, encoder.output_dim)


def _separable_task(modality: str, spec: dict[str, Any], n: int = 32) -> tuple[dict[str, Tensor], Tensor]:
    """A batch whose label is visible in the input: class 1 rows get a shifted signal."""
    batch = make_batch(modality, spec, batch_size=n, seed=3)
    if "mask" in batch:
        batch["mask"][EMPTY_ROW, 0] = True  # every row needs evidence to be classified
    labels = torch.arange(n) % 2
    shift = labels.float() * 2 - 1  # -1 / +1
    if modality == "image":
        batch["pixels"][:, :, :, : spec["width"] // 2] += shift[:, None, None, None]
    elif modality == "audio":
        batch["mel"][:, :, : spec["n_mels"] // 2] += (
            shift[:, None, None, None] * batch["mask"][:, None, None, :]
        )
    elif modality == "tabular":
        batch["numeric"][:, 0] += 2 * shift
    else:
        half = spec["vocab_size"] // 2
        batch["ids"] = torch.where(
            labels[:, None].bool(), batch["ids"] % half + half, batch["ids"] % (half - 1) + 1
        )
        batch["ids"] = batch["ids"].masked_fill(~batch["mask"], spec["pad_id"])
    return batch, labels


@pytest.mark.parametrize("name", FROM_SCRATCH)
def test_learns_a_separable_task(name: str) -> None:
    modality = modality_of(name)
    batch, labels = _separable_task(modality, SPECS[modality])
    encoder = build(name)
    model = nn.ModuleDict({"encoder": encoder, "head": nn.Linear(encoder.output_dim, 2)})
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model["head"](encoder(batch).pooled), labels)
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model["head"](encoder(batch).pooled).argmax(-1) == labels).float().mean().item()
    assert accuracy > 0.9, f"{name}: train accuracy {accuracy:.2f}"
