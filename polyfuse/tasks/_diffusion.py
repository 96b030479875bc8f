"""The denoiser of the image-generation task: a small ``diffusers`` UNet conditioned on a vector.

The condition (the fused vector projected to the UNet's time-embedding width) is added to the
timestep embedding (``UNet2DModel(class_embed_type="identity")``). A learned "no condition" vector
stands in for dropped or absent conditions, which is what classifier-free guidance (Ho and
Salimans 2022, https://arxiv.org/abs/2207.12598) needs. Training uses the DDPM noise schedule (Ho
et al. 2020, https://arxiv.org/abs/2006.11239) and sampling DDIM (Song et al. 2020,
https://arxiv.org/abs/2010.02502), both from ``diffusers``; the denoiser predicts the noise or the
velocity (v-prediction, Salimans and Ho 2022, https://arxiv.org/abs/2202.00512).

With ``token_dims`` the UNet is ``UNet2DConditionModel``: its lower levels also attend to the
inputs' tokens (a caption's words, an image's regions), each input's projected to one width, as
Stable Diffusion's UNet attends to its prompt (Rombach et al. 2022,
https://arxiv.org/abs/2112.10752). A learned "no condition" token is always visible, so a dropped
row attends to it alone.

Legend: B batch, C channels, H/W height/width, D condition width, E time-embedding width, T tokens,
X cross-attention width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn


class Condition(NamedTuple):
    """What the denoiser is conditioned on, per row."""

    vector: Tensor
    """(B, E) added to the time embedding."""
    tokens: Tensor | None = None
    """(B, T, X) attended to by cross-attention (``None`` without it); token 0 is "no condition"."""
    mask: Tensor | None = None
    """(B, T) bool, the tokens a row may attend to."""

    def cat(self, other: Condition) -> Condition:
        """The rows of ``self`` then ``other`` (the same number of tokens)."""
        if self.tokens is None or other.tokens is None or self.mask is None or other.mask is None:
            return Condition(torch.cat([self.vector, other.vector]))
        return Condition(
            torch.cat([self.vector, other.vector]),
            torch.cat([self.tokens, other.tokens]),
            torch.cat([self.mask, other.mask]),
        )


class Denoiser(nn.Module):
    """``(noisy (B, C, H, W), t (B,), condition)`` -> predicted noise ``(B, C, H, W)``.

    Args:
        channels: C of the images.
        size: ``(H, W)``; each must divide by ``2 ** (len(widths) - 1)``.
        cond_dim: D of the condition vector it receives (the fused vector).
        widths: channels of the UNet's resolution levels.
        layers_per_block: ResNet blocks per level.
        attention: self-attention at the lowest resolution (cross-attention blocks have their own).
        norm_groups: GroupNorm groups (must divide every width).
        token_dims: ``{input: token width}`` of the inputs to cross-attend to; ``None``: none.
        cross_dim: X, the width their tokens are projected to.
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
        token_dims: Mapping[str, int] | None = None,
        cross_dim: int = 64,
    ) -> None:
        from diffusers import UNet2DConditionModel, UNet2DModel  # the `generate` extra, on first use

        super().__init__()
        levels = len(widths)
        factor = 2 ** (levels - 1)
        if size[0] % factor or size[1] % factor:
            raise ValueError(
                f"image size {size[0]}x{size[1]} must divide by {factor} for a UNet of {levels} levels"
            )
        if any(w % norm_groups for w in widths):
            raise ValueError(f"norm_groups {norm_groups} must divide every width {list(widths)}")
        common: dict[str, Any] = {
            "sample_size": size,
            "in_channels": channels,
            "out_channels": channels,
            "block_out_channels": tuple(widths),
            "layers_per_block": layers_per_block,
            "norm_num_groups": norm_groups,
            "attention_head_dim": 8,
            "class_embed_type": "identity",
            "resnet_time_scale_shift": "scale_shift" if scale_shift else "default",
        }
        self.projections = nn.ModuleDict()
        self.no_condition_token: nn.Parameter | None = None
        if token_dims is not None:  # cross-attention at every level below the first, and the middle
            crossed = max(1, levels - 1)
            down = ["DownBlock2D"] * (levels - crossed) + ["CrossAttnDownBlock2D"] * crossed
            self.unet: Any = UNet2DConditionModel(
                down_block_types=tuple(down),
                up_block_types=tuple(name.replace("Down", "Up") for name in reversed(down)),
                cross_attention_dim=cross_dim,
                **common,
            )
            for name, dim in sorted(token_dims.items()):
                self.projections[name] = nn.Linear(dim, cross_dim)
            self.no_condition_token = nn.Parameter(torch.zeros(1, 1, cross_dim))
        else:
            down = ["DownBlock2D"] * levels
            up = ["UpBlock2D"] * levels
            if attention:
                down[-1], up[0] = "AttnDownBlock2D", "AttnUpBlock2D"
            self.unet = UNet2DModel(down_block_types=tuple(down), up_block_types=tuple(up), **common)
        embed_dim = widths[0] * 4  # the UNet's time-embedding width
        self.condition = nn.Sequential(
            nn.Linear(cond_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim)
        )
        self.unconditional = nn.Parameter(torch.zeros(embed_dim))

    @property
    def cross_attends(self) -> bool:
        """Whether the UNet attends to tokens (``token_dims`` was given)."""
        return self.no_condition_token is not None

    def embed_condition(
        self,
        fused: Tensor,
        keep: Tensor,
        tokens: Mapping[str, Tensor] | None = None,
        token_masks: Mapping[str, Tensor] | None = None,
    ) -> Condition:
        """``(B, D)`` fused vectors (and, when cross-attending, each input's tokens ``(B, T_m, D_m)``
        with their masks ``(B, T_m)``) -> the condition; rows where ``keep`` (B,) is False get the
        learned "no condition" vector and attend to the "no condition" token alone."""
        embedded = self.condition(fused.float())  # (B, E)
        vector = torch.where(keep.unsqueeze(1), embedded, self.unconditional.expand_as(embedded))
        if self.no_condition_token is None:
            return Condition(vector)
        if tokens is None or token_masks is None:
            raise ValueError("this denoiser cross-attends: pass the inputs' tokens and token masks")
        rows = len(fused)
        parts = [self.no_condition_token.expand(rows, 1, -1)]  # (B, 1, X)
        masks = [torch.ones(rows, 1, dtype=torch.bool, device=fused.device)]
        for name, projection in self.projections.items():
            parts.append(projection(tokens[name].float()))  # (B, T_m, X)
            masks.append(token_masks[name].bool() & keep.unsqueeze(1))  # (B, T_m)
        return Condition(vector, torch.cat(parts, 1), torch.cat(masks, 1))

    def dropped(self, condition: Condition) -> Condition:
        """``condition`` with every row's condition dropped (the "no condition" vector and token)."""
        vector = self.unconditional.expand_as(condition.vector)
        if condition.tokens is None or condition.mask is None:
            return Condition(vector)
        mask = torch.zeros_like(condition.mask)
        mask[:, 0] = True
        return Condition(vector, condition.tokens, mask)

    def forward(self, noisy: Tensor, timesteps: Tensor, condition: Condition) -> Tensor:
        if condition.tokens is None:
            return self.unet(noisy, timesteps, class_labels=condition.vector).sample  # type: ignore[no-any-return]
        return self.unet(  # type: ignore[no-any-return]
            noisy,
            timesteps,
            encoder_hidden_states=condition.tokens,
            class_labels=condition.vector,
            encoder_attention_mask=condition.mask,
        ).sample


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
    condition: Condition,
    noise: Tensor,
    steps: int,
    guidance_scale: float,
) -> Tensor:
    """Denoise ``noise`` ``(B, C, H, W)`` in ``steps`` DDIM steps (eta 0, deterministic) under
    ``condition`` with classifier-free guidance; returns images in [-1, 1].

    Guidance: ``out = out_uncond + s * (out_cond - out_uncond)`` on the denoiser's output (noise
    or velocity; both are linear in the image, so this is the same guidance); ``s = 1`` is the
    plain conditional model (one pass per step instead of two).
    """
    scheduler.set_timesteps(steps)
    sample = noise
    both_conditions = condition.cat(denoiser.dropped(condition))
    for t in scheduler.timesteps:
        timesteps = torch.full((len(sample),), int(t), device=sample.device, dtype=torch.long)
        if guidance_scale == 1.0:
            eps = denoiser(sample, timesteps, condition)
        else:
            both = denoiser(torch.cat([sample, sample]), torch.cat([timesteps, timesteps]), both_conditions)
            cond_eps, uncond_eps = both.chunk(2)
            eps = uncond_eps + guidance_scale * (cond_eps - uncond_eps)
        sample = scheduler.step(eps, t, sample).prev_sample
    return sample.clamp(-1.0, 1.0)
