"""``audio/hf``: a Hugging Face speech encoder (wav2vec2, HuBERT, WavLM, the Whisper encoder).

The processor is a :class:`~polyfuse.data.processors.pretrained_audio.WaveformProcessor` at the
checkpoint feature extractor's ``sampling_rate`` (and its ``do_normalize``). Waveform models take
the samples directly; for Whisper the checkpoint's own feature extractor turns them into the
log-mel input (padded to 30 s) inside :meth:`HFAudioEncoder.forward`, and only the encoder half of
the model is kept.

Legend: B batch, N samples, F output frames, D width.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor

from polyfuse.data.processors.base import Processor
from polyfuse.data.processors.pretrained_audio import WaveformProcessor
from polyfuse.encoders._layers import ensure_one_real_step
from polyfuse.encoders._registry import register_encoder
from polyfuse.encoders.base import EncoderConfig, EncoderOutput
from polyfuse.encoders.pretrained._common import (
    FineTuneConfig,
    FrozenAware,
    Pooling,
    derive_processor,
    require,
    resolve_checkpoint,
    set_trainable,
)


class HFAudioConfig(FineTuneConfig):
    """Options of :class:`HFAudioEncoder`."""

    checkpoint: str = Field(
        ..., description="hub name or local save_pretrained directory (weights + feature extractor)"
    )
    pooling: Literal["mean", "attention"] = Field(
        "mean", description="mean of the real frames, or learned attention pooling"
    )
    download: bool = Field(False, description="allow downloading a hub checkpoint missing locally")


@register_encoder("audio", "hf", HFAudioConfig)
class HFAudioEncoder(FrozenAware):
    """A Hugging Face speech encoder over the raw waveform at its sample rate.

    Input ``{"waveform": (B, N), "mask": (B, N) bool}``; output pooled ``(B, D)``, the last hidden
    states as tokens ``(B, F, D)`` and a ``(B, F)`` mask of the frames covering real samples.
    """

    trainable_modes: ClassVar[tuple[str, ...]] = ("frozen", "all", "last_n")

    def __init__(self, config: HFAudioConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        transformers = require("transformers")
        checkpoint, local = resolve_checkpoint(config.checkpoint), not config.download
        model = transformers.AutoModel.from_pretrained(checkpoint, local_files_only=local)
        self.whisper_features: Any = None
        if getattr(model.config, "is_encoder_decoder", False):  # Whisper: keep the encoder
            model = model.get_encoder()
            self.whisper_features = transformers.AutoFeatureExtractor.from_pretrained(
                checkpoint, local_files_only=local
            )
        self.backbone = model
        # wav2vec2 checkpoints with group norm in the conv front end were trained without a mask
        self.pass_mask = getattr(model.config, "feat_extract_norm", "layer") == "layer"
        self.sample_rate = int(spec["sample_rate"])
        self.output_dim = int(getattr(model.config, "hidden_size", None) or model.config.d_model)
        self.pool = Pooling(config.pooling, self.output_dim)
        set_trainable(self.backbone, config.trainable, config.last_n)

    @classmethod
    def preprocessing(cls, config: EncoderConfig, options: Mapping[str, Any]) -> Processor:
        """The waveform at the feature extractor's sample rate (``max_seconds`` may be set)."""
        assert isinstance(config, HFAudioConfig)
        transformers = require("transformers")
        extractor = transformers.AutoFeatureExtractor.from_pretrained(
            resolve_checkpoint(config.checkpoint), local_files_only=not config.download
        )
        derived = {
            "sample_rate": int(extractor.sampling_rate),
            "normalize": bool(getattr(extractor, "do_normalize", False)),
        }
        return derive_processor(WaveformProcessor, derived, options, config.type)

    def forward(self, x: dict[str, Tensor]) -> EncoderOutput:
        waveform, mask = x["waveform"], x["mask"].bool()  # (B, N), (B, N)
        lengths = mask.sum(dim=1)  # (B,)
        with self.grad_context():
            if self.whisper_features is not None:
                hidden = self._whisper(waveform, lengths)  # (B, F, D)
                frames = torch.ceil(lengths * hidden.shape[1] / self.whisper_features.n_samples)
            else:
                fixed = ensure_one_real_step(mask)
                kwargs = {"attention_mask": fixed.long()} if self.pass_mask else {}
                hidden = self.backbone(input_values=waveform, **kwargs).last_hidden_state  # (B, F, D)
                frames = self.backbone._get_feat_extract_output_lengths(lengths)
        frames = frames.to(hidden.device).long() * (lengths > 0).to(hidden.device)  # (B,) 0 when absent
        hidden = hidden[:, : max(1, int(frames.max()))]  # Whisper: drop the 30 s window's padding
        steps = torch.arange(hidden.shape[1], device=hidden.device)  # (F,)
        token_mask = steps < frames.unsqueeze(1)  # (B, F)
        tokens = hidden * token_mask.unsqueeze(-1)  # (B, F, D)
        return EncoderOutput(self.pool(tokens, token_mask), tokens, token_mask)

    def _whisper(self, waveform: Tensor, lengths: Tensor) -> Tensor:
        """Log-mel with the checkpoint's extractor (30 s windows), then the encoder: (B, F, D)."""
        clips = [
            row[: max(1, int(n))].float().cpu().numpy() for row, n in zip(waveform, lengths, strict=True)
        ]
        features = self.whisper_features(clips, sampling_rate=self.sample_rate, return_tensors="pt")
        mel = features["input_features"].to(waveform.device)  # (B, n_mels, 3000)
        return self.backbone(input_features=mel).last_hidden_state  # type: ignore[no-any-return]
