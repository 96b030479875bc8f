"""``image/cnn`` options beyond the contract suite: CoordConv coordinates and the patchify stem."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from polyfuse.encoders import create_encoder, parse_encoder_config
from polyfuse.encoders._layers import coordinate_map
from polyfuse.encoders.image.cnn import CNNImageEncoder


def _build(side: int = 32, **options: Any) -> CNNImageEncoder:
    torch.manual_seed(0)
    spec = {"channels": 3, "height": side, "width": side}
    encoder = create_encoder("image", parse_encoder_config("image", {"type": "cnn", **options}), spec)
    assert isinstance(encoder, CNNImageEncoder)
    return encoder


def test_coordinate_map_holds_region_centres() -> None:
    grid = coordinate_map(2, 4, torch.zeros(()))  # (2, H, W)
    assert grid.shape == (2, 2, 4)
    torch.testing.assert_close(grid[0, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))  # x along a row
    torch.testing.assert_close(grid[1, :, 0], torch.tensor([-0.5, 0.5]))  # y down a column


@pytest.mark.parametrize(("stem", "side", "stages"), [(1, 32, 3), (4, 64, 2), (4, 60, 2)])
def test_coords_and_stem_keep_the_contract_shapes(stem: int, side: int, stages: int) -> None:
    encoder = _build(side, widths=[8] * stages, stem=stem, coords=True, pool_grid=4).train()
    out = encoder({"pixels": torch.randn(3, 3, side, side)})
    assert out.pooled.shape == (3, 8) and encoder.output_dim == 8
    assert out.tokens is not None and out.tokens.shape == (3, 16, 8)  # a 4 x 4 grid, 60 px padded to 64
    assert out.token_mask is not None and out.token_mask.all()
    (out.pooled.pow(2).mean() + out.tokens.pow(2).mean()).backward()
    for name, param in encoder.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name


def test_coords_tell_identical_regions_apart() -> None:
    """On a uniform image every token of a plain CNN is alike (away from the zero-padded border);
    with coordinates each token differs."""
    pixels = {"pixels": torch.zeros(1, 3, 64, 64)}
    plain, tagged = _build(64, widths=[8] * 4).eval(), _build(64, widths=[8] * 4, coords=True).eval()
    with torch.no_grad():
        plain_tokens, tagged_tokens = plain(pixels).tokens, tagged(pixels).tokens
    assert plain_tokens is not None and tagged_tokens is not None
    inner = plain_tokens.view(1, 4, 4, 8)[0, 1:3, 1:3].reshape(4, 8)  # the 2 x 2 tokens off the border
    assert torch.allclose(inner, inner[:1].expand(4, -1))
    assert len({tuple(t.round(decimals=5).tolist()) for t in tagged_tokens[0]}) == 16


def test_stem_tokens_see_only_their_own_cell_and_its_neighbours() -> None:
    """A pixel changed in one 16 x 16 cell of a 64-pixel image moves only the tokens of that cell
    and the cells next to it: tokens are aligned with the grid, not shifted by half a cell."""
    encoder = _build(64, widths=[8, 8], stem=4).eval()
    pixels = torch.zeros(1, 3, 64, 64)
    changed = pixels.clone()
    changed[0, :, 37:40, 9:12] = 5.0  # inside the cell of row 2, column 0 of the 4 x 4 grid
    with torch.no_grad():
        before, after = encoder({"pixels": pixels}).tokens, encoder({"pixels": changed}).tokens
    assert before is not None and after is not None
    moved = ((after - before).abs().sum(dim=-1) > 1e-6).view(4, 4)
    assert moved[2, 0]
    assert not moved[0].any() and not moved[:, 2:].any()  # two cells away: untouched


def test_eval_folds_batch_norm_into_the_conv_with_the_same_outputs() -> None:
    from torch import nn

    from polyfuse.encoders._layers import ConvNormReLU, conv_norm_relu

    block = conv_norm_relu(3, 8, "batch")
    assert isinstance(block, ConvNormReLU)
    assert [name for name, _ in block.named_children()] == ["0", "1", "2"]  # saved weights still load
    norm = block[1]
    assert isinstance(norm, nn.BatchNorm2d)
    with torch.no_grad():  # running statistics and an affine transform far from the identity
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
        norm.weight.uniform_(0.5, 2)
        norm.bias.uniform_(-1, 1)
    x = torch.randn(4, 3, 9, 9).contiguous(memory_format=torch.channels_last)
    unfolded = nn.Sequential(*block.children()).eval()
    block.eval()
    with torch.inference_mode():
        torch.testing.assert_close(block(x), unfolded(x), rtol=1e-5, atol=1e-5)
        with torch.no_grad():
            norm.running_mean.add_(0.5)  # folded per call: a changed statistic shows at once
        torch.testing.assert_close(block(x), unfolded(x), rtol=1e-5, atol=1e-5)
    block.train()
    torch.manual_seed(1)
    expected = nn.Sequential(*block.children())(x)  # training: batch statistics, layer by layer
    assert torch.equal(block(x), expected)


@pytest.mark.parametrize("shape", [(3, 8, 12, 10), (2, 4, 7, 9), (2, 4, 6, 5)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_max_pool_2x2_matches_the_kernel_with_and_without_autograd(
    shape: tuple[int, ...], channels_last: bool
) -> None:
    from torch import nn

    from polyfuse.encoders._layers import MaxPool2x2

    pool, kernel = MaxPool2x2(), nn.MaxPool2d(2, ceil_mode=True)
    x = torch.randn(shape)
    x[0, 0, 1, 1] = float("nan")  # NaN wins its window, as in the kernel
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    with torch.inference_mode():
        fast = pool(x)
        assert torch.equal(fast.isnan(), kernel(x).isnan()) and bool(fast.isnan().any())
        assert torch.equal(fast.nan_to_num(), kernel(x).nan_to_num())
    leaf = x.nan_to_num().requires_grad_()
    pool(leaf).sum().backward()  # training: the kernel, with gradients to each window's maximum
    assert leaf.grad is not None and float(leaf.grad.sum()) == math.prod(kernel(leaf).shape)


@pytest.mark.parametrize("side", [16, 9])
def test_inference_takes_the_relu_after_the_max_pool_with_the_same_outputs(side: int) -> None:
    """ReLU and max commute: the encoder in eval mode (ReLU after each pool, on a quarter of the
    values) gives exactly what running its layers in order gives, odd sides (the kernel) too."""
    from torch import nn

    from polyfuse.encoders._layers import ConvNormReLU, run_stages

    encoder = _build(side, widths=[4, 8]).eval()
    for norm in encoder.modules():
        if isinstance(norm, nn.BatchNorm2d):  # statistics that move values across zero
            assert norm.running_mean is not None
            norm.running_mean.uniform_(-1, 1)
    pixels = torch.randn(5, 3, side, side).contiguous(memory_format=torch.channels_last)
    calls: list[str] = []
    relu = nn.functional.relu

    def counted(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        calls.append("x".join(map(str, x.shape[-2:])))
        return relu(x, inplace=inplace)

    with torch.inference_mode():
        in_order = pixels
        for layer in encoder.stages:  # ConvNormReLU (folded: ReLU inside), then the pool
            in_order = layer(in_order)
        nn.functional.relu = counted  # type: ignore[assignment]
        try:
            swapped = run_stages(encoder.stages, pixels)
        finally:
            nn.functional.relu = relu  # type: ignore[assignment]
    assert torch.equal(swapped, in_order)
    half = -(-side // 2)
    assert calls == [f"{half}x{half}", f"{-(-half // 2)}x{-(-half // 2)}"]  # after each pool
    assert all(isinstance(encoder.stages[i], ConvNormReLU) for i in (0, 2))
