"""The denoiser of the image-generation task: a small ``diffusers`` UNet conditioned on a vector.

The condition (the fused vector projected to the UNet's time-embedding width) is added to the
timestep embedding (``UNet2DModel(class_embed_type="identity")``). A learned "no condition" vector
stands in for dropped or absent conditions, which is what classifier-free guidance (Ho and
Salimans 2022, https://arxiv.org/abs/2207.12598) needs. Training uses the DDPM noise schedule (Ho
et al. 2020, https://arxiv.org/abs/2006.11239) and sampling DDIM (Song et al. 2020,
https://arxiv.org/abs/2010.02502), both from ``diffusers``; the denoiser predicts the noise or the
velocity (v-prediction, Salimans and Ho 2022, https://arxiv.org/abs/2202.00512).

Legend: B batch, C channels, H/W height/width, D condition width, E time-embedding width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn


class Denoiser(nn.Module):
    """``(noisy (B, C, H, W), t (B,), condition (B, E))`` -> predicted noise ``(B, C, H, W)``.

    Args:
        channels: C of the images.
        size: ``(H, W)``; each must divide by ``2 ** (len(widths) - 1)``.
        cond_dim: D of the condition vector it receives (the fused vector).
        widths: channels of the UNet's resolution levels.
        layers_per_block: ResNet blocks per level.
        attention: self-attention at the lowest resolution.
        norm_groups: GroupNorm groups (must divide every width).
    """

    def __init__(
        self,
        channels: int,
        size: tuple[int, int],
        cond_dim: int,
        widths: Sequence[int],
        layers_per_block: int,
        attention: bool,
        norm_groups: int,
        scale_shift: bool = False,
    ) -> None:
        from diffusers import UNet2DModel  # the `generate` extra, imported on first use

        super().__init__()
        levels = len(widths)
        factor = 2 ** (levels - 1)
        if size[0] % factor or size[1] % factor:
            raise ValueError(
                f"image size {size[0]}x{size[1]} must divide by {factor} for a UNet of {levels} levels"
            )
        if any(w % norm_groups for w in widths):
            raise ValueError(f"norm_groups {norm_groups} must divide every width {list(widths)}")
        down = ["DownBlock2D"] * levels
        up = ["UpBlock2D"] * levels
        if attention:
            down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
        self.unet: Any = UNet2DModel(
            sample_size=size,
            in_channels=channels,
            out_channels=channels,
            block_out_channels=tuple(widths),
            layers_per_block=layers_per_block,
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            norm_num_groups=norm_groups,
            attention_head_dim=8,
            class_embed_type="identity",
            resnet_time_scale_shift="scale_shift" if scale_shift else "default",
        )
        embed_dim = widths[0] * 4  # UNet2DModel's time-embedding width
        self.condition = nn.Sequential(
            nn.Linear(cond_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim)
        )
        self.unconditional = nn.Parameter(torch.zeros(embed_dim))

    def embed_condition(self, fused: Tensor, keep: Tensor) -> Tensor:
        """``(B, D)`` fused vectors -> ``(B, E)``; rows where ``keep`` (B,) is False get the
        learned "no condition" vector."""
        embedded = self.condition(fused.float())  # (B, E)
        return torch.where(keep.unsqueeze(1), embedded, self.unconditional.expand_as(embedded))

    def forward(self, noisy: Tensor, timesteps: Tensor, condition: Tensor) -> Tensor:
        return self.unet(noisy, timesteps, class_labels=condition).sample  # type: ignore[no-any-return]


def make_schedulers(
    num_train_timesteps: int, beta_schedule: str, prediction_type: str = "epsilon"
) -> tuple[Any, Any]:
    """The training (DDPM) scheduler and the sampling (DDIM) one with the same noise schedule and
    what the denoiser predicts (``epsilon``: the noise; ``v_prediction``: the velocity
    ``sqrt(a) * noise - sqrt(1 - a) * image``, Salimans and Ho 2022)."""
    from diffusers import DDIMScheduler, DDPMScheduler

    train: Any = DDPMScheduler(
        num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule, prediction_type=prediction_type
    )
    return train, DDIMScheduler.from_config(train.config)


def ddim_scheduler(train: Any, clip_sample: bool, timestep_spacing: str) -> Any:
    """A DDIM scheduler with ``train``'s noise schedule and prediction type, the predicted clean
    image clipped to [-1, 1] at each step or not, visiting ``leading`` or ``trailing`` timesteps.

    (Options are passed as keywords: ``from_config`` of a config dict alone would put back
    diffusers' defaults for the keys it lists as defaulted.)"""
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(train.config, clip_sample=clip_sample, timestep_spacing=timestep_spacing)


def training_target(scheduler: Any, images: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
    """What the denoiser learns to output for ``images`` noised by ``noise`` at ``timesteps``:
    the noise, or the velocity under ``v_prediction``."""
    if scheduler.config.prediction_type == "v_prediction":
        return scheduler.get_velocity(images, noise, timesteps)  # type: ignore[no-any-return]
    return noise


@torch.no_grad()
def ddim_sample(
    denoiser: Denoiser,
    scheduler: Any,
    condition: Tensor,
    noise: Tensor,
    steps: int,
    guidance_scale: float,
) -> Tensor:
    """Denoise ``noise`` ``(B, C, H, W)`` in ``steps`` DDIM steps (eta 0, deterministic) under
    ``condition`` ``(B, E)`` with classifier-free guidance; returns images in [-1, 1].

    Guidance: ``out = out_uncond + s * (out_cond - out_uncond)`` on the denoiser's output (noise
    or velocity; both are linear in the image, so this is the same guidance); ``s = 1`` is the
    plain conditional model (one pass per step instead of two).
    """
    scheduler.set_timesteps(steps)
    sample = noise
    unconditional = denoiser.unconditional.expand_as(condition)
    for t in scheduler.timesteps:
        timesteps = torch.full((len(sample),), int(t), device=sample.device, dtype=torch.long)
        if guidance_scale == 1.0:
            eps = denoiser(sample, timesteps, condition)
        else:
            both = denoiser(
                torch.cat([sample, sample]),
                torch.cat([timesteps, timesteps]),
                torch.cat([condition, unconditional]),
            )
            cond_eps, uncond_eps = both.chunk(2)
            eps = uncond_eps + guidance_scale * (cond_eps - uncond_eps)
        sample = scheduler.step(eps, t, sample).prev_sample
    return sample.clamp(-1.0, 1.0)
