"""``hops`` fusion: grid coordinates, the distance bias of the second hop, the count gates, masking."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polyfuse.bench.cognition.hops import HopsFusion, grid_centres
from polyfuse.fusion import create_fusion

DIMS = {"image": 4, "text": 3}
"""image: 9 region tokens on a 3 x 3 grid; text: the question, one pooled token."""


def build(**options: object) -> HopsFusion:
    torch.manual_seed(0)
    fusion = create_fusion("hops", DIMS, regions="image", hidden_dim=8, heads=1, **options)
    assert isinstance(fusion, HopsFusion)
    return fusion


def inputs(batch: int = 2, tokens: int = 9) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(1)
    embeddings = {
        "image": torch.randn(batch, tokens, 4, generator=gen),
        "text": torch.randn(batch, 1, 3, generator=gen),
    }
    present = {
        "image": torch.ones(batch, tokens, dtype=torch.bool),
        "text": torch.ones(batch, 1, dtype=torch.bool),
    }
    return embeddings, present


def silence(*layers: nn.Linear) -> None:
    """Zero weights and biases: the layer's output no longer depends on its input."""
    for layer in layers:
        nn.init.zeros_(layer.weight)
        nn.init.zeros_(layer.bias)


def test_grid_centres_are_row_major_cell_centres_and_zero_without_a_square_grid() -> None:
    like = torch.zeros(1)
    assert grid_centres(4, like).tolist() == [[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]
    assert grid_centres(5, like).abs().sum() == 0
    assert grid_centres(1, like).abs().sum() == 0


@pytest.mark.parametrize(("sign", "expected"), [(-1.0, "centre"), (1.0, "corners")])
def test_distance_bias_reads_the_closest_or_the_furthest_object(sign: float, expected: str) -> None:
    """With content-blind logits, hop 1 is uniform, so its object sits at the grid's centre (0, 0);
    a negative reach then sends hop 2 to the centre cell, a positive one to the four corners."""
    fusion = build(distance=10.0)
    assert fusion.reach is not None
    silence(fusion.query1, fusion.key1, fusion.query2, fusion.key2, fusion.reach)
    nn.init.constant_(fusion.reach.bias, sign)
    hops = fusion.attend(*inputs())
    assert torch.allclose(hops.first, torch.full((2, 9), 1 / 9))
    assert torch.allclose(hops.subject[:, -2:], torch.zeros(2, 2), atol=1e-6)
    weights = hops.second[..., 0]  # (B, 9)
    if expected == "centre":
        assert (weights.argmax(1) == 4).all() and (weights[:, 4] > 0.9).all()
    else:
        corners = weights[:, [0, 2, 6, 8]]
        assert torch.allclose(corners, torch.full_like(corners, corners[0, 0].item()))
        assert (corners.sum(1) > 0.98).all()  # edges: e^-4.4 of it


def test_count_gates_sum_to_the_objects_present_and_skip_padding() -> None:
    """Gates forced open count every real object; padding tokens never count."""
    fusion = build(count_sharpness=5.0)
    silence(fusion.count_query, fusion.count_key)
    nn.init.constant_(fusion.count_query.bias, 3.0)
    nn.init.constant_(fusion.count_key.bias, 3.0)
    embeddings, present = inputs()
    present["image"][1, 5:] = False  # row 1 has 5 objects, then padding
    embeddings["image"][1, 5:] = float("nan")
    hops = fusion.attend(embeddings, present)
    assert torch.allclose(hops.gates[..., 0].sum(1), torch.tensor([9.0, 5.0]), atol=1e-3)
    assert torch.isfinite(fusion(embeddings, present)).all()


def test_padding_objects_never_change_the_output() -> None:
    fusion = build().eval()
    embeddings, present = inputs(batch=1, tokens=9)
    present["image"][0, 7:] = False
    reference = fusion(embeddings, present)
    embeddings["image"][0, 7:] = 1e4
    assert torch.allclose(fusion(embeddings, present), reference)


def test_unknown_regions_input_is_refused() -> None:
    with pytest.raises(ValueError, match="hops regions 'video' is not an input"):
        create_fusion("hops", DIMS, regions="video")


def test_learns_which_object_is_furthest_from_the_named_one() -> None:
    """Nine objects on a 3 x 3 grid, each a distinct colour (one-hot); the question names the colour
    of a corner object; the answer is the colour of the opposite corner's object. Both hops must
    work: find the named object, then read the object furthest from it. Seeded: in 2 or 3 of 8
    seeds both heads' reach stays on the near side for 300 steps (docs/cognition.md, "Run-to-run
    spread"), with or without ``mark_subject``, so a change that moves the initialisation can
    fail this test without breaking hops."""
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    fusion = create_fusion("hops", {"image": 9, "text": 9}, regions="image", hidden_dim=16, heads=2)
    readout = nn.Linear(fusion.output_dim, 9)
    optimiser = torch.optim.Adam([*fusion.parameters(), *readout.parameters()], lr=1e-2)
    corners, opposite = torch.tensor([0, 2, 6, 8]), torch.tensor([8, 6, 2, 0])

    def batch(size: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        colours = torch.stack([torch.randperm(9, generator=gen) for _ in range(size)])  # (B, 9) per cell
        corner = torch.randint(0, 4, (size,), generator=gen)
        rows = torch.arange(size)
        asked, answer = colours[rows, corners[corner]], colours[rows, opposite[corner]]
        embeddings = {
            "image": nn.functional.one_hot(colours, 9).float(),
            "text": nn.functional.one_hot(asked, 9).float()[:, None],
        }
        present = {
            "image": torch.ones(size, 9, dtype=torch.bool),
            "text": torch.ones(size, 1, dtype=torch.bool),
        }
        return embeddings, present, answer

    for _ in range(300):
        embeddings, present, answer = batch(64)
        loss = nn.functional.cross_entropy(readout(fusion(embeddings, present)), answer)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    fusion.eval()
    embeddings, present, answer = batch(512)
    with torch.no_grad():
        accuracy = (readout(fusion(embeddings, present)).argmax(1) == answer).float().mean().item()
    assert accuracy > 0.95  # chance: 1/9


def test_mark_subject_lets_a_head_skip_the_named_object() -> None:
    """The named object is its own closest. With hop 1's weights in hop 2's keys, a head whose
    query weighs that feature negatively reads the closest *other* object: objects at x = -1,
    -0.5, 0.1, 0.6, 1, hop 1 on object 2 (x = 0.1); closest other: object 3 (x = 0.6)."""
    fusion = build(distance=10.0, positions="tokens", mark_subject=True)
    assert fusion.reach is not None
    silence(fusion.query1, fusion.key1, fusion.query2, fusion.key2, fusion.reach)
    nn.init.constant_(fusion.reach.bias, -1.0)  # closest
    with torch.no_grad():
        fusion.key1.weight[:, 0] = 1.0  # hop 1 keys on feature 0, object 2 has the largest
        fusion.query1.bias.fill_(1.0)
        fusion.key2.weight[:, -1] = 1.0  # the hop-1 weight, asked with a negative query
        fusion.query2.bias.fill_(-10.0)
    embeddings, present = inputs(batch=1, tokens=5)
    embeddings["image"][0, :, 0] = torch.tensor([0.0, 0.0, 30.0, 0.0, 0.0])
    embeddings["image"][..., -2] = torch.tensor([-1.0, -0.5, 0.1, 0.6, 1.0])
    embeddings["image"][..., -1] = 0.0
    positions = {"image": embeddings["image"][..., -2:]}
    hops = fusion.attend(embeddings, present, positions)
    assert hops.first[0].argmax() == 2 and hops.first[0, 2] > 0.99
    assert hops.second[0, :, 0].argmax() == 3
    silence(fusion.key2)  # without the feature the named object itself is the closest
    assert fusion.attend(embeddings, present, positions).second[0, :, 0].argmax() == 2


@pytest.mark.parametrize(("sign", "expected"), [(-1.0, 2), (1.0, 0)])
def test_token_positions_place_objects_off_any_grid(sign: float, expected: int) -> None:
    """``positions: tokens`` reads each object's (x, y) from the positions its encoder declares:
    five objects on a line (not a square grid) at x = -1, -0.5, 0.1, 0.6, 1; with content-blind logits hop 1's
    object sits at their mean (x = 0.04), so the closest is object 2 and the furthest object 0."""
    fusion = build(distance=10.0, positions="tokens")
    assert fusion.reach is not None
    silence(fusion.query1, fusion.key1, fusion.query2, fusion.key2, fusion.reach)
    nn.init.constant_(fusion.reach.bias, sign)
    embeddings, present = inputs(batch=2, tokens=5)
    embeddings["image"][..., -2] = torch.tensor([-1.0, -0.5, 0.1, 0.6, 1.0])
    embeddings["image"][..., -1] = 0.0
    hops = fusion.attend(embeddings, present, {"image": embeddings["image"][..., -2:]})
    assert torch.allclose(hops.subject[:, -2:], torch.tensor([[0.04, 0.0]] * 2), atol=1e-6)
    assert (hops.second[..., 0].argmax(1) == expected).all()


def test_token_positions_must_be_declared() -> None:
    fusion = build(distance=10.0, positions="tokens")
    with pytest.raises(ValueError, match="declare its tokens' positions"):
        fusion.attend(*inputs(batch=1, tokens=5))


def test_token_positions_need_regions() -> None:
    with pytest.raises(ValueError, match="positions 'tokens' needs regions"):
        create_fusion("hops", DIMS, positions="tokens")
