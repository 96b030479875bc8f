"""``relation`` fusion: the split first layer of g equals an MLP over concatenated pairs; g's depth."""

from __future__ import annotations

import torch
from torch import nn

from polyfuse.fusion import create_fusion
from polyfuse.fusion.relation import RelationFusion

DIMS = {"image": 6, "text": 5}


def test_split_first_layer_equals_g_over_concatenated_pairs() -> None:
    """Santoro et al.'s g(o_i, o_j, q) on [o_i; o_j; q], written out pair by pair, gives the same output."""
    torch.manual_seed(0)
    fusion = create_fusion("relation", DIMS, regions="image", hidden_dim=4, relation_dim=8, g_layers=3)
    assert isinstance(fusion, RelationFusion) and fusion.question is not None and fusion.condition is not None
    fusion.eval()
    image, text = torch.randn(2, 3, 6), torch.randn(2, 4, 5)
    masks = {"image": torch.ones(2, 3, dtype=torch.bool), "text": torch.ones(2, 4, dtype=torch.bool)}
    with torch.no_grad():
        fused = fusion({"image": image, "text": text}, masks)
        objects, _ = fusion.objects({"image": image}, {"image": masks["image"]})  # (B, T, d)
        q = fusion.condition({"text": text.mean(dim=1)}, {"text": torch.ones(2, dtype=torch.bool)}).flatten(1)
        first = nn.Linear(4 + 4 + 4, 8)  # one layer over the concatenation [o_i; o_j; q]
        first.weight.copy_(
            torch.cat([fusion.left.weight, fusion.right.weight, fusion.question.weight], dim=1)
        )
        first.bias.copy_(fusion.left.bias)
        expected = []
        for b in range(2):
            pairs = [torch.cat([objects[b, i], objects[b, j], q[b]]) for i in range(3) for j in range(3)]
            expected.append(fusion.g(first(torch.stack(pairs))).mean(dim=0))
        torch.testing.assert_close(fused, fusion.f(torch.stack(expected)))


def test_g_layers_sets_the_depth_of_g() -> None:
    for layers in (1, 2, 4):
        fusion = create_fusion("relation", DIMS, regions="image", g_layers=layers)
        assert sum(isinstance(m, nn.Linear) for m in fusion.g) == layers - 1  # type: ignore[union-attr]
