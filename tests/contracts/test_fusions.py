"""Contract tests run over every registered fusion (a new fusion is tested the day it registers),
plus the alignment losses, modality dropout and the builder's wiring of fusion and alignment.

Fixture: three inputs; ``image`` is a token sequence of variable length, ``audio`` and ``text`` are
pooled vectors (one token for token fusions). Absent rows and padding tokens hold NaN: a fusion must
ignore them, never compute with them. Fusions that declare ``reads_positions`` also get each
``image`` token's (x, y). Late and hybrid fusion are prediction heads: tests/contracts/test_heads.py.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
from pydantic import ValidationError
from torch import Tensor, nn

from polyfuse.builder import build_model
from polyfuse.config.schema import ModelConfig, parse_config
from polyfuse.data.batch import Batch
from polyfuse.data.dataset import InputSpec
from polyfuse.data.processors.tabular import TabularProcessor
from polyfuse.encoders import create_encoder, list_encoders, parse_encoder_config
from polyfuse.fusion import FUSIONS, Fusion, create_fusion, list_fusions
from polyfuse.fusion.alignment import ALIGNMENTS, create_alignment, list_alignments
from polyfuse.fusion.alignment.adversarial import reverse_gradient
from polyfuse.layers import mlp
from polyfuse.model import MultimodalModel
from polyfuse.tasks import ModelDims, create_task, parse_task_config, task_class

DIMS = {"audio": 6, "image": 8, "text": 5}
NUM_TOKENS = {"audio": 1, "image": 5, "text": 1}
POSITIONED = "image"
"""The input whose tokens carry positions (B, T, 2) for fusions that read them."""
NUM_OUTPUTS = 3
BATCH = 8
ABSENT_SUBSETS = [set(s) for k in (1, 2, 3) for s in itertools.combinations(sorted(DIMS), k)]
"""Every non-empty subset of the inputs, all three included."""
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("concat", {"hidden_dim": 8}),
    ("film", {"target": "image"}),
    ("hops", {"regions": "image"}),
    ("hops", {"regions": "image", "positions": "tokens"}),
    ("lowrank", {"hidden_dim": 4}),
    ("relation", {"regions": "image"}),
    ("tensor", {"fused_dim": None}),
]
"""Options that take a fusion down another code path (variants of unregistered fusions are dropped)."""
CASES = [pytest.param(n, {}, id=n) for n in list_fusions()] + [
    pytest.param(n, o, id=f"{n}-" + "-".join(f"{k}={v}" for k, v in o.items()))
    for n, o in VARIANTS
    if n in list_fusions()
]


def build(name: str, options: dict[str, Any], seed: int = 0) -> Fusion:
    """Fusion ``name`` over :data:`DIMS`."""
    torch.manual_seed(seed)
    return create_fusion(name, DIMS, **options)


def make_tokens(
    absent: list[set[str]], seed: int = 0, fill: float = math.nan
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]:
    """Row ``i`` lacks the inputs ``absent[i]``: tokens ``{m: (B, T_m, D_m)}``, masks ``{m: (B, T_m)}``
    and positions ``{POSITIONED: (B, T, 2)}``.

    Padding and absent rows hold ``fill`` (their positions: ``fill``, or 0 when it is NaN, as an
    encoder's positions are always finite).
    """
    gen = torch.Generator().manual_seed(seed)
    batch, tokens, masks = len(absent), {}, {}
    for name, dim in DIMS.items():
        steps = NUM_TOKENS[name]
        lengths = torch.randint(1, steps + 1, (batch,), generator=gen)
        present = torch.tensor([name not in row for row in absent])
        mask = (torch.arange(steps) < lengths.unsqueeze(1)) & present.unsqueeze(1)  # (B, T)
        values = torch.randn(batch, steps, dim, generator=gen)
        tokens[name] = values.masked_fill(~mask.unsqueeze(-1), fill)
        masks[name] = mask
    where = torch.rand(batch, NUM_TOKENS[POSITIONED], 2, generator=gen) * 2 - 1  # (B, T, 2)
    hidden = 0.0 if math.isnan(fill) else fill
    positions = {POSITIONED: where.masked_fill(~masks[POSITIONED].unsqueeze(-1), hidden)}
    return tokens, masks, positions


def as_input(
    fusion: Fusion,
    tokens: dict[str, Tensor],
    masks: dict[str, Tensor],
    positions: dict[str, Tensor],
    fill: float = math.nan,
) -> tuple[tuple[dict[str, Tensor], dict[str, Tensor]], dict[str, Any]]:
    """The fixture as the model feeds this fusion: ``(args, kwargs)``.

    Token fusions get tokens and masks (and ``positions=`` when they read them); pooled fusions the
    mean over real tokens and the present masks.
    """
    if fusion.input_kind == "tokens":
        return (tokens, masks), ({"positions": positions} if fusion.reads_positions else {})
    pooled, present = {}, {}
    for name, x in tokens.items():
        mask, present[name] = masks[name].unsqueeze(-1), masks[name].any(dim=1)  # (B, T, 1), (B,)
        mean = torch.where(mask, x, 0.0).sum(dim=1) / mask.sum(dim=1).clamp(min=1)  # (B, D)
        pooled[name] = mean.masked_fill(~present[name].unsqueeze(-1), fill)
    return (pooled, present), {}


def run(fusion: Fusion, absent: list[set[str]], seed: int = 0, fill: float = math.nan) -> Tensor:
    args, kwargs = as_input(fusion, *make_tokens(absent, seed, fill), fill=fill)
    return fusion(*args, **kwargs)  # type: ignore[no-any-return]


MIXED = [set(), set(), *ABSENT_SUBSETS, set()]
"""A batch with fully present rows and one row per absent subset."""


@pytest.mark.parametrize(("name", "options"), CASES)
def test_output_shape_matches_output_dim(name: str, options: dict[str, Any]) -> None:
    fusion = build(name, options).eval()
    out = run(fusion, [set()] * BATCH)
    assert out.shape == (BATCH, fusion.output_dim)


@pytest.mark.parametrize(("name", "options"), CASES)
def test_finite_with_every_subset_absent(name: str, options: dict[str, Any]) -> None:
    fusion = build(name, options)
    for mode in (True, False):
        fusion.train(mode)
        assert torch.isfinite(run(fusion, MIXED)).all(), f"{name}: non-finite with mixed absent rows"
        for subset in ABSENT_SUBSETS:  # the whole batch lacks ``subset``
            assert torch.isfinite(run(fusion, [subset] * 3)).all(), f"{name}: non-finite without {subset}"


@pytest.mark.parametrize(("name", "options"), CASES)
def test_absent_values_are_ignored(name: str, options: dict[str, Any]) -> None:
    fusion = build(name, options).eval()
    with torch.no_grad():
        torch.testing.assert_close(run(fusion, MIXED, fill=math.nan), run(fusion, MIXED, fill=3.0))


@pytest.mark.parametrize(("name", "options"), CASES)
def test_every_parameter_gets_a_finite_gradient(name: str, options: dict[str, Any]) -> None:
    fusion = build(name, options).train()
    out = run(fusion, MIXED)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
    for param_name, param in fusion.named_parameters():
        assert param.grad is not None, f"{name}: {param_name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name}: {param_name} has a non-finite gradient"


@pytest.mark.parametrize(("name", "options"), CASES)
def test_same_seed_same_output(name: str, options: dict[str, Any]) -> None:
    first, second = build(name, options, seed=7).eval(), build(name, options, seed=7).eval()
    with torch.no_grad():
        assert torch.equal(run(first, MIXED), run(second, MIXED))


@pytest.mark.parametrize("name", list_fusions())
def test_config_validation(name: str) -> None:
    config_cls = FUSIONS.get(name).config_cls
    with pytest.raises(ValidationError, match="no_such_option"):
        create_fusion(name, DIMS, no_such_option=1)
    for field, info in config_cls.model_fields.items():
        assert field == "type" or info.description, f"{name}: field {field!r} has no description"
    assert not hasattr(FUSIONS.get(name).cls, "produces_predictions"), "predictions are a head's job"


def test_options_naming_a_missing_input_or_needing_two_inputs_fail_clearly() -> None:
    named = [("film", {"target": "nope"}), ("relation", {"regions": "nope"}), ("hops", {"regions": "nope"})]
    for name, options in named:
        if name in list_fusions():
            with pytest.raises(ValueError, match="is not an input"):
                create_fusion(name, DIMS, **options)
    for name in ("film", "mult"):
        with pytest.raises(ValueError, match="at least two inputs"):
            create_fusion(name, {"image": 4})
    with pytest.raises(ValueError, match="max_tensor_size"):
        create_fusion("tensor", {f"m{i}": 4 for i in range(8)}, hidden_dim=16)


def toy_task(n: int, seed: int) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor], Tensor]:
    """Three classes ``label = bit(image) + bit(text)``; ``audio`` is noise. Everything present."""
    tokens, masks, positions = make_tokens([set()] * n, seed=seed)
    gen = torch.Generator().manual_seed(seed + 100)
    bits = {m: torch.randint(0, 2, (n,), generator=gen) for m in ("image", "text")}
    for m, bit in bits.items():
        sign = (2 * bit - 1).float()[:, None, None]  # (B, 1, 1)
        signal = sign * torch.linspace(-1.0, 1.0, DIMS[m])  # (B, 1, D)
        tokens[m] = tokens[m] * 0.5 + 1.5 * signal
    return tokens, masks, positions, bits["image"] + bits["text"]


@pytest.mark.parametrize(("name", "options"), CASES)
def test_learns_a_toy_task_that_needs_two_inputs(name: str, options: dict[str, Any]) -> None:
    fusion = build(name, options, seed=3)
    head = mlp(fusion.output_dim, 16, NUM_OUTPUTS, 0.0)
    model = nn.ModuleList([fusion, head])
    train, test = toy_task(96, seed=1), toy_task(96, seed=2)
    (train_args, train_kwargs), (test_args, test_kwargs) = (
        as_input(fusion, *train[:3]),
        as_input(fusion, *test[:3]),
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimiser.zero_grad()
        nn.functional.cross_entropy(head(fusion(*train_args, **train_kwargs)), train[3]).backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        accuracy = (head(fusion(*test_args, **test_kwargs)).argmax(-1) == test[3]).float().mean().item()
    assert accuracy > 0.8, f"{name}: held-out accuracy {accuracy:.2f} (majority class 0.5)"


# --- alignment losses -------------------------------------------------------------------------


def pair(n: int = 16, aligned: bool = True, seed: int = 0) -> dict[str, Tensor]:
    """Two 4-wide inputs; ``b`` equals ``a`` row for row when ``aligned``, else is unrelated."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, 4, generator=gen)
    return {"a": a, "b": a.clone() if aligned else torch.randn(n, 4, generator=gen)}


@pytest.mark.parametrize("name", list_alignments())
def test_alignment_config_is_strict_and_described(name: str) -> None:
    for field, info in ALIGNMENTS.get(name).config_cls.model_fields.items():
        assert field == "type" or info.description, f"{name}: field {field!r} has no description"
    with pytest.raises(ValidationError, match="no_such_option"):
        create_alignment(name, {"a": 4, "b": 4}, no_such_option=1)


def test_contrastive_loss_is_lower_for_aligned_pairs() -> None:
    torch.manual_seed(0)
    aligner = create_alignment("contrastive", {"a": 4, "b": 4}, dim=4)
    with torch.no_grad():
        for layer in aligner.project.values():
            layer.weight.copy_(torch.eye(4))
            layer.bias.zero_()
    present = {"a": torch.ones(16, dtype=torch.bool), "b": torch.ones(16, dtype=torch.bool)}
    aligned, unrelated = aligner(pair(aligned=True), present), aligner(pair(aligned=False), present)
    assert aligned.item() < 0.5 * unrelated.item()


@pytest.mark.parametrize("name", list_alignments())
def test_alignment_ignores_absent_rows(name: str) -> None:
    torch.manual_seed(0)
    aligner = create_alignment(name, {"a": 4, "b": 4, "c": 3})
    embeddings = {**pair(8), "c": torch.randn(8, 3)}
    present = {
        k: torch.rand(8, generator=torch.Generator().manual_seed(i)) > 0.4 for i, k in enumerate("abc")
    }
    filled = {k: v.masked_fill(~present[k].unsqueeze(-1), math.nan) for k, v in embeddings.items()}
    loss = aligner(filled, present)
    assert torch.isfinite(loss) and loss.ndim == 0
    torch.testing.assert_close(loss, aligner({k: v.nan_to_num(3.0) for k, v in filled.items()}, present))
    nothing = {k: torch.zeros(8, dtype=torch.bool) for k in present}
    empty = aligner(filled, nothing)
    empty.backward()  # a zero still connected to the graph
    assert empty.item() == 0.0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in aligner.parameters())


def test_gradient_reversal_flips_the_gradient() -> None:
    x = torch.randn(5, 3, requires_grad=True)
    out = reverse_gradient(x, 0.5)
    assert torch.equal(out, x)
    (out * 2.0).sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, torch.full_like(x, -1.0))


def test_adversarial_embeddings_get_the_reversed_gradient() -> None:
    torch.manual_seed(0)
    aligner = create_alignment("adversarial", {"a": 4, "b": 4}, dim=None)
    embeddings = {k: v.requires_grad_() for k, v in pair(32, aligned=False).items()}
    present = {k: torch.ones(32, dtype=torch.bool) for k in embeddings}
    aligner(embeddings, present).backward()
    assert embeddings["a"].grad is not None
    grad_toward_discriminator = torch.autograd.grad(
        aligner.discriminator(embeddings["a"]).log_softmax(-1)[:, 0].sum() * -1 / 64, embeddings["a"]
    )[0]  # the gradient of a's share of the loss, without reversal
    torch.testing.assert_close(embeddings["a"].grad, -grad_toward_discriminator, atol=1e-6, rtol=1e-4)


def test_alignment_config_is_validated_by_its_registry() -> None:
    config = ModelConfig(alignment=[{"type": "contrastive", "weight": 0.5}])
    assert config.alignment[0]["weight"] == 0.5 and config.alignment[0]["dim"] == 64
    for bad in ({"type": "contrastive", "no_such_option": 1}, {"type": "nope"}, {"weight": 1.0}):
        with pytest.raises(ValidationError):
            ModelConfig(alignment=[bad])


# --- the model: builder wiring, positions, modality dropout -----------------------------------


def tabular_model(fusion: dict[str, Any], alignment: list[dict[str, Any]] | None = None) -> MultimodalModel:
    """Three tabular inputs ``a``, ``b``, ``c`` (two numbers each), 3 classes, through build_model."""
    rows = [{"x": float(i), "y": float(i % 3)} for i in range(12)]
    specs = [InputSpec(n, "tabular", ["x", "y"], TabularProcessor(["x", "y"]).fit(rows)) for n in "abc"]
    config = parse_config(
        {
            "data": {"label": "label"},
            "model": {
                "encoders": {"tabular": {"hidden_dims": [8], "column_tokens": True}},
                "fusion": fusion,
                "alignment": alignment or [],
                "task": {"type": "multiclass", "head": {"type": "mlp", "hidden_dim": 8}},
            },
        }
    )
    task = config.model.task
    target = task_class(task.type).create_target(task, ["label"], "|").fit(["x", "y", "z"])
    return build_model(specs, config, task, target)  # type: ignore[arg-type]


def tabular_batch(model: MultimodalModel, n: int, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    no_categories = torch.zeros(n, 0, dtype=torch.long)
    inputs = {
        name: {"numeric": torch.randn(n, 4, generator=gen), "categorical": no_categories}
        for name in model.encoders
    }
    present = {name: torch.rand(n, generator=gen) > 0.3 for name in model.encoders}
    return Batch(inputs, present, torch.randint(0, 3, (n,), generator=gen), torch.arange(n))


@pytest.mark.parametrize("fusion", [{"type": "concat"}, {"type": "early"}])
def test_fusion_and_alignment_build_through_the_builder(fusion: dict[str, Any]) -> None:
    alignment = [{"type": "contrastive", "weight": 0.5}, {"type": "adversarial", "weight": 0.1}]
    model = tabular_model(fusion, alignment).train()
    assert model.fusion is not None and model.fusion.config.type == fusion["type"]
    assert model.alignment_weights == {"contrastive": 0.5, "adversarial": 0.1}
    batch = tabular_batch(model, 6)
    terms = model.training_step(batch)
    assert {"task_loss", "contrastive_loss", "adversarial_loss", "loss"} <= set(terms)
    assert all(t.ndim == 0 and torch.isfinite(t) for t in terms.values())
    terms["loss"].backward()
    assert model.predict_step(batch)["logits"].shape == (6, NUM_OUTPUTS)


def test_a_fusion_that_reads_positions_gets_the_encoders_positions() -> None:
    """``hops`` with ``positions: tokens`` over ``image/cells`` tokens, composed by the model."""
    if "hops" not in list_fusions() or "image/cells" not in list_encoders():
        pytest.skip("the cognition benchmark's components (hops, image/cells) are not registered")
    torch.manual_seed(0)
    spec = {"channels": 3, "height": 8, "width": 8}
    cells = parse_encoder_config("image", {"type": "cells", "grid": 2, "width": 8})
    tabular = parse_encoder_config("tabular", {"hidden_dims": [8]})
    encoders = {
        "img": create_encoder("image", cells, spec),
        "q": create_encoder("tabular", tabular, {"num_numeric": 2, "cardinalities": []}),
    }
    dims = {name: encoder.output_dim for name, encoder in encoders.items()}
    fusion = create_fusion("hops", dims, regions="img", positions="tokens", hidden_dim=8)
    task_config = parse_task_config({"type": "multiclass", "head": {"hidden_dim": 8}})
    target = task_class("multiclass").create_target(task_config, ["label"], "|").fit(["a", "b"])
    model = MultimodalModel(encoders, fusion, create_task(task_config, ModelDims(8, dims), target))
    inputs = {
        "img": {"pixels": torch.randn(4, 3, 8, 8)},
        "q": {"numeric": torch.randn(4, 2), "categorical": torch.zeros(4, 0, dtype=torch.long)},
    }
    present = {"img": torch.tensor([True, True, False, True]), "q": torch.ones(4, dtype=torch.bool)}
    batch = Batch(inputs, present, torch.tensor([0, 1, 0, 1]), torch.arange(4))
    out = model.fuse(batch)
    assert out.positions["img"].shape == (4, 4, 2) and out.fused is not None
    terms = model.training_step(batch)
    assert torch.isfinite(terms["loss"])


def test_modality_dropout_keeps_one_input_and_drops_about_the_set_share() -> None:
    model = tabular_model({"type": "concat"})
    model.modality_dropout = 0.3
    batch = tabular_batch(model, 4000)
    torch.manual_seed(0)
    dropped = model.train().fuse(batch).present
    for name in model.encoders:
        assert not (dropped[name] & ~batch.present[name]).any(), "an absent input came back"
    before = torch.stack([batch.present[n] for n in sorted(batch.present)], dim=1)  # (B, M)
    after = torch.stack([dropped[n] for n in sorted(dropped)], dim=1)  # (B, M)
    assert torch.equal(after.any(dim=1), before.any(dim=1)), "a row lost every input"
    full = before.all(dim=1)  # every input kept unless all three are drawn: p - p^3
    share = 1 - after[full].float().mean().item()
    assert abs(share - (0.3 - 0.3**3)) < 0.02, share
    kept = model.eval().fuse(batch).present
    assert all(torch.equal(kept[n], batch.present[n]) for n in kept)
