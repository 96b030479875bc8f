"""Image generation conditioned on the fused inputs: a denoising diffusion model.

``model.task: {type: image_generation}`` with ``data.label`` naming an image column: the model
learns to draw that image from every other input (a text prompt, a spoken word, a category,
another image), fused into one vector that conditions a small ``diffusers`` UNet (see
:mod:`polyfuse.tasks._diffusion`). Training: DDPM, with the condition dropped
for ``condition_dropout`` of the rows (classifier-free guidance) and an exponential moving
average (EMA) of the denoiser's weights kept beside them; the denoiser predicts the velocity
(``prediction: v_prediction``, the default) or the noise (``epsilon``). Sampling: DDIM with guidance, from the
EMA weights, starting at the last timestep (``timestep_spacing: trailing``) and without clipping the
predicted clean image (``clip_sample: false``), each row's starting noise seeded by ``seed`` and its
table row number (the same row always gives the same image). A row whose inputs are all absent
gets an unconditional sample.

Outputs: :meth:`ImageGenerationTask.predict_step` gives ``{"image": (B, C, H, W) in [0, 1]}``; the
prediction frame's ``prediction`` holds each image's PNG bytes (``polyfuse generate`` writes files).
Validation scores the denoising loss at fixed noise and timesteps (sampling is left to
evaluation: :mod:`polyfuse.evaluation.generation`).

Legend: B batch, C channels, H/W height/width, N rows of a split.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from polyfuse.data.batch import Batch
from polyfuse.data.targets import TargetProcessor
from polyfuse.tasks._diffusion import (
    Condition,
    Denoiser,
    ddim_sample,
    ddim_scheduler,
    make_schedulers,
    training_target,
)
from polyfuse.tasks._image_target import ImageTarget
from polyfuse.tasks._registry import register_task
from polyfuse.tasks.base import ModelDims, StepOutputs, Task, TaskConfig

if TYPE_CHECKING:
    from polyfuse.model import Fused


class ImageGenerationConfig(TaskConfig):
    """Options of :class:`ImageGenerationTask`."""

    size: int = Field(32, ge=4, description="side of the generated (square) images")
    mode: Literal["auto", "L", "RGB"] = Field("auto", description="grey (L), colour (RGB) or auto")
    widths: list[int] = Field(
        default_factory=lambda: [32, 64, 64], min_length=1, description="UNet channels per resolution level"
    )
    layers_per_block: int = Field(1, ge=1, description="ResNet blocks per UNet level")
    attention: bool = Field(False, description="self-attention at the UNet's lowest resolution")
    norm_groups: int = Field(8, ge=1, description="GroupNorm groups (divide every width)")
    scale_shift: bool = Field(
        False,
        description="the time + condition embedding scales and shifts each block's normalised features"
        " (AdaGN) instead of being added to them",
    )
    cross_attention: bool = Field(
        False,
        description="the UNet's lower levels also attend to every input's tokens (a caption's words, an"
        " image's regions), as Stable Diffusion's UNet attends to its prompt; the fused vector still"
        " joins the time embedding",
    )
    cross_attention_dim: int = Field(64, ge=1, description="width the tokens are projected to")
    num_train_timesteps: int = Field(1000, ge=10, description="diffusion steps of the DDPM schedule")
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = Field(
        "squaredcos_cap_v2", description="noise schedule (diffusers name)"
    )
    prediction: Literal["epsilon", "v_prediction"] = Field(
        "v_prediction",
        description="what the denoiser predicts: the velocity (v_prediction; it learned the condition"
        " faster, docs/benchmarks.md) or the noise (epsilon)",
    )
    condition_dropout: float = Field(
        0.1, ge=0.0, lt=1.0, description="share of training rows whose condition is dropped (for guidance)"
    )
    ema_decay: float = Field(0.999, ge=0.0, lt=1.0, description="EMA decay of the denoiser; 0 = no EMA")
    sampling_steps: int = Field(25, ge=1, le=1000, description="DDIM steps when sampling")
    guidance_scale: float = Field(
        1.5,
        ge=0.0,
        description="classifier-free guidance; 1 = none (on the digits benchmark 1.5 and 3 follow the"
        " condition alike, and 1.5 has the better FID)",
    )
    seed: int = Field(0, description="seed of the sampling noise (with each row's number)")
    clip_sample: bool = Field(
        False,
        description="clip the predicted clean image to [-1, 1] at every DDIM step (diffusers' clip_sample);"
        " off by default: with it, guidance above 1 drew the wrong digit (docs/benchmarks.md)",
    )
    timestep_spacing: Literal["leading", "trailing"] = Field(
        "trailing",
        description="the timesteps DDIM visits: trailing starts at the last one, pure noise (Lin et al."
        " 2023, https://arxiv.org/abs/2305.08891); leading at T - T / steps",
    )


@register_task(
    "image_generation", ImageGenerationConfig, "draw an image column from the fused inputs (diffusion)"
)
class ImageGenerationTask(Task):
    """Fused ``(B, D)`` -> condition -> DDPM-trained UNet -> images ``(B, C, H, W)``."""

    name: ClassVar[str] = "image_generation"
    primary_metric: ClassVar[str] = "denoising_loss"
    config: ImageGenerationConfig
    target: ImageTarget
    ema_updates: Tensor

    def __init__(
        self, config: ImageGenerationConfig, dims: ModelDims, target: TargetProcessor | None
    ) -> None:
        if not isinstance(target, ImageTarget):
            raise ValueError("image_generation needs an image target column (data.label)")
        if dims.fused_dim is None:
            raise ValueError("image_generation is conditioned on the fused vector: the model needs a fusion")
        super().__init__(config, dims, target)
        spec = target.output_spec()
        self.channels, self.height, self.width = spec["channels"], spec["height"], spec["width"]
        self.denoiser = Denoiser(
            self.channels,
            (self.height, self.width),
            dims.fused_dim,
            config.widths,
            config.layers_per_block,
            config.attention,
            config.norm_groups,
            config.scale_shift,
            dict(dims.input_dims) if config.cross_attention else None,
            config.cross_attention_dim,
        )
        self.reads_tokens = config.cross_attention
        self.ema = copy.deepcopy(self.denoiser).requires_grad_(False) if config.ema_decay > 0 else None
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        self.train_scheduler, _ = make_schedulers(
            config.num_train_timesteps, config.beta_schedule, config.prediction
        )
        self.sampling: dict[str, Any] = {
            "steps": config.sampling_steps,
            "guidance_scale": config.guidance_scale,
            "seed": config.seed,
            "clip_sample": config.clip_sample,
            "timestep_spacing": config.timestep_spacing,
        }
        """Sampling options, changeable after loading (``polyfuse generate --steps/--guidance/--seed``,
        :func:`polyfuse.generate.set_sampling`)."""

    @property
    def sample_scheduler(self) -> Any:
        """The DDIM scheduler of the current sampling options (the training noise schedule)."""
        return ddim_scheduler(
            self.train_scheduler, bool(self.sampling["clip_sample"]), str(self.sampling["timestep_spacing"])
        )

    # ------------------------------------------------------------------ before building
    @classmethod
    def create_target(cls, config: TaskConfig, columns: list[str], delimiter: str) -> ImageTarget:
        assert isinstance(config, ImageGenerationConfig)
        if len(columns) != 1:
            raise ValueError("image_generation needs data.label: the image column to draw")
        target = ImageTarget(config.size, config.mode)
        target.columns = columns
        return target

    # ------------------------------------------------------------------ helpers
    def _keep(self, out: Fused) -> Tensor:
        """(B,) rows with at least one present input (the rest are generated unconditionally)."""
        return torch.stack(list(out.present.values()), 1).any(1)

    @staticmethod
    def _condition(denoiser: Denoiser, out: Fused, keep: Tensor) -> Condition:
        """The denoiser's condition of each row: the fused vector, and the tokens when it cross-attends."""
        assert out.fused is not None
        return denoiser.embed_condition(out.fused, keep, out.tokens, out.token_masks)

    def _update_ema(self) -> None:
        """Move the EMA weights toward the current ones (decay warmed up as ``(1 + n) / (10 + n)``)."""
        if self.ema is None:
            return
        n = int(self.ema_updates)
        decay = min(self.config.ema_decay, (1 + n) / (10 + n))
        with torch.no_grad():
            for ema, live in zip(self.ema.parameters(), self.denoiser.parameters(), strict=True):
                ema.lerp_(live.detach(), 1.0 - decay)
        self.ema_updates += 1

    def _noise_loss(
        self, denoiser: Denoiser, out: Fused, images: Tensor, keep: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """(B,) squared error of the denoiser's output (noise or velocity) at random timesteps."""
        device = images.device
        noise = torch.randn(images.shape, generator=generator).to(device)
        steps = torch.randint(0, self.config.num_train_timesteps, (len(images),), generator=generator).to(
            device
        )
        noisy = self.train_scheduler.add_noise(images, noise, steps)
        predicted = denoiser(noisy, steps, self._condition(denoiser, out, keep))
        target = training_target(self.train_scheduler, images, noise, steps)
        return F.mse_loss(predicted.float(), target, reduction="none").flatten(1).mean(1)

    # ------------------------------------------------------------------ steps
    def training_step(self, out: Fused, batch: Batch) -> dict[str, Tensor]:
        self._update_ema()  # the EMA follows the weights of the previous optimiser step
        keep = self._keep(out)
        if self.config.condition_dropout > 0:
            keep = keep & (torch.rand(keep.shape, device=keep.device) >= self.config.condition_dropout)
        return {
            "denoising_loss": self._noise_loss(self.denoiser, out, batch.target.float(), keep, None).mean()
        }

    def validation_step(self, out: Fused, batch: Batch) -> StepOutputs:
        """The denoising loss of each row at noise and timesteps fixed by the batch's first row."""
        first = int(batch.index[0]) if len(batch.index) else 0
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + first)
        denoiser = self.ema if self.ema is not None else self.denoiser
        loss = self._noise_loss(denoiser, out, batch.target.float(), self._keep(out), generator)
        return {"row_loss": loss}

    def predict_step(self, out: Fused, batch: Batch) -> StepOutputs:
        denoiser = self.ema if self.ema is not None else self.denoiser
        assert out.fused is not None
        device = out.fused.device
        seed = int(self.sampling["seed"])
        rows = batch.index.tolist() if len(batch.index) == len(out.fused) else range(len(out.fused))
        noise = torch.stack(
            [
                torch.randn(
                    (self.channels, self.height, self.width),
                    generator=torch.Generator().manual_seed(seed * 1_000_003 + int(r)),
                )
                for r in rows
            ]
        ).to(device)  # (B, C, H, W)
        condition = self._condition(denoiser, out, self._keep(out))
        images = ddim_sample(
            denoiser,
            self.sample_scheduler,
            condition,
            noise,
            int(self.sampling["steps"]),
            float(self.sampling["guidance_scale"]),
        )
        return {"image": (images.float() + 1.0) / 2.0}  # (B, C, H, W) in [0, 1]

    # ------------------------------------------------------------------ after a split
    def metrics(self, outputs: StepOutputs) -> dict[str, Any]:
        return {"denoising_loss": float(outputs["row_loss"].mean())}

    def to_frame(self, outputs: StepOutputs, proba: bool = False) -> pd.DataFrame:
        """``prediction``: each generated image as PNG bytes."""
        from polyfuse.tasks._images import png_bytes

        return pd.DataFrame({"prediction": [png_bytes(image) for image in outputs["image"]]})
