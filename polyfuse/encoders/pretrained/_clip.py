"""What the two CLIP towers (``text/hf_clip``, ``image/hf_clip``) share: options and tower loading.

A CLIP checkpoint (Radford et al., 2021, https://arxiv.org/abs/2103.00020) holds a text tower, an
image tower and a linear projection after each into one shared space where a caption and its
image lie close (cosine similarity). Each polyfuse encoder loads one tower *with its projection*
(``CLIPTextModelWithProjection`` / ``CLIPVisionModelWithProjection``) from the same checkpoint, so
the two pooled outputs are ``CLIPModel.get_text_features`` / ``get_image_features``, comparable
across modalities (for alignment losses or retrieval).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from polyfuse.encoders.pretrained._common import (
    FineTuneConfig,
    FrozenAware,
    require,
    resolve_checkpoint,
    set_trainable,
)


class HFClipConfig(FineTuneConfig):
    """Options of :class:`~polyfuse.encoders.pretrained.hf_clip_text.HFClipTextEncoder` and
    :class:`~polyfuse.encoders.pretrained.hf_clip_image.HFClipImageEncoder`."""

    checkpoint: str = Field(
        ...,
        description="CLIP hub name or local save_pretrained directory (towers, tokenizer, image processor)",
    )
    normalize: bool = Field(True, description="L2-normalise the pooled vector (CLIP compares by cosine)")
    download: bool = Field(False, description="allow downloading a hub checkpoint missing locally")


def tower_config(config: HFClipConfig, tower: str) -> Any:
    """The ``text_config`` or ``vision_config`` of the checkpoint, with the joint projection width.

    A tower-only checkpoint (a saved ``CLIPTextModelWithProjection``) is its own tower config.
    """
    transformers = require("transformers")
    full = transformers.AutoConfig.from_pretrained(
        resolve_checkpoint(config.checkpoint), local_files_only=not config.download
    )
    sub = getattr(full, f"{tower}_config", None)
    if sub is None:
        return full
    sub.projection_dim = full.projection_dim  # a sub-config may carry a stale default (512)
    return sub


def load_tower(config: HFClipConfig, tower: str) -> Any:
    """``CLIPTextModelWithProjection`` (``tower="text"``) or ``CLIPVisionModelWithProjection``
    (``"vision"``) of the checkpoint; the other tower's weights are skipped quietly."""
    transformers = require("transformers")
    model_cls = {
        "text": transformers.CLIPTextModelWithProjection,
        "vision": transformers.CLIPVisionModelWithProjection,
    }[tower]
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the other tower's keys are reported as unexpected
    try:
        return model_cls.from_pretrained(
            resolve_checkpoint(config.checkpoint),
            config=tower_config(config, tower),
            local_files_only=not config.download,
        )
    finally:
        transformers.logging.set_verbosity(verbosity)


class ClipTower(FrozenAware):
    """One CLIP tower with its projection: loading, output width, trainability (``tower`` names it)."""

    tower: ClassVar[str]
    trainable_modes: ClassVar[tuple[str, ...]] = ("frozen", "all", "last_n")

    def __init__(self, config: HFClipConfig, spec: dict[str, Any]) -> None:
        super().__init__(config, spec)
        self.backbone = load_tower(config, self.tower)
        self.output_dim = int(self.backbone.config.projection_dim)
        self.normalize = config.normalize
        set_trainable(self.backbone, config.trainable, config.last_n)
