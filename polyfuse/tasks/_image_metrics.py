"""Reconstruction metrics of images on the 0-1 pixel scale (torchmetrics): MSE, PSNR, SSIM.

Legend: N images, C channels, H/W height/width.
"""

from __future__ import annotations

from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def image_reconstruction_metrics(reconstruction: Tensor, truth: Tensor, prefix: str) -> dict[str, float]:
    """``{prefix}_mse_01_error``, ``{prefix}_psnr_01_score`` (dB, from the split's mean squared
    error) and ``{prefix}_ssim_01_score`` of ``(N, C, H, W)`` images in [0, 1]."""
    recon, real = reconstruction.float().clamp(0, 1), truth.float().clamp(0, 1)
    side = min(real.shape[-2:])
    kernel = min(11, side - 1 if side % 2 == 0 else side)  # SSIM's odd Gaussian window fits the image
    ssim = structural_similarity_index_measure(recon, real, data_range=1.0, kernel_size=kernel)
    assert isinstance(ssim, Tensor)
    return {
        f"{prefix}_mse_01_error": float((recon - real).square().mean()),
        f"{prefix}_psnr_01_score": float(peak_signal_noise_ratio(recon, real, data_range=1.0)),
        f"{prefix}_ssim_01_score": float(ssim),
    }
