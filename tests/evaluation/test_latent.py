"""The latent scatter: PCA to 2-D, the coordinates drawn per latent width, label colours (one per
value, numbers sorted as numbers, missing last, a colour scale for many-valued numbers)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex

from polyfuse.evaluation.report.latent import MISSING, label_colours, latent_scatter, pca, scatter_coords


def test_pca_keeps_the_direction_of_most_variance() -> None:
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    direction = np.array([1.0, 1.0, 0.0, 0.0, -1.0]) / np.sqrt(3)
    latent = 5.0 + t[:, None] * direction + 0.01 * rng.normal(size=(200, 5))
    points = pca(latent)
    assert points.shape == (200, 2)
    assert abs(np.corrcoef(points[:, 0], t)[0, 1]) > 0.999
    np.testing.assert_allclose(points.mean(0), 0.0, atol=1e-4)  # centred
    assert points[:, 0].var() > 100 * points[:, 1].var()
    assert pca(latent[:, :1]).shape == (200, 2)  # rank 1: padded with zeros
    np.testing.assert_array_equal(pca(latent[:, :1])[:, 1], 0.0)


WIDTHS = [(1, 2, ["z0", ""]), (2, 2, ["z0", "z1"]), (3, 3, ["z0", "z1", "z2"]), (7, 2, ["PC1", "PC2"])]


@pytest.mark.parametrize(("width", "shape", "names"), WIDTHS)
def test_scatter_coords_per_latent_width(width: int, shape: int, names: list[str]) -> None:
    latent = np.random.default_rng(1).normal(size=(30, width)).astype(np.float32)
    coords, axis_names = scatter_coords(latent)
    assert coords.shape == (30, shape) and axis_names == names
    if width in (2, 3):
        np.testing.assert_array_equal(coords, latent)
    with pytest.raises(ValueError, match=r"\(N, L\)"):
        scatter_coords(latent[:, 0])


def test_label_colours_one_code_per_value() -> None:
    codes, names = label_colours(["b", "a", "b", "c", None])
    assert names == ["a", "b", "c", MISSING]
    assert codes.tolist() == [1, 0, 1, 2, 3]
    codes, names = label_colours(np.array([10, 2, 9, 2]))  # numbers sort as numbers, not as text
    assert names == ["2", "9", "10"] and codes.tolist() == [2, 0, 1, 0]
    codes, names = label_colours([1.0, 2.0, float("nan")])  # an integer column read as float
    assert names == ["1", "2", MISSING] and codes.tolist() == [0, 1, 2]
    values, none = label_colours(np.linspace(0, 1, 50))  # many-valued number: a colour scale
    assert none is None and values.dtype == np.float64 and len(values) == 50


def _colours(figure: object) -> set[str]:
    ax = figure.axes[0]  # type: ignore[attr-defined]
    return {to_hex(c) for collection in ax.collections for c in collection.get_facecolors()}


def test_scatter_has_one_colour_per_label_value() -> None:
    rng = np.random.default_rng(2)
    latent = rng.normal(size=(60, 6))
    labels = [f"class {i % 4}" for i in range(60)]
    figure = latent_scatter(latent, labels, "kind")
    assert len(_colours(figure)) == 4
    legend = figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [f"class {i}" for i in range(4)]
    assert legend.get_title().get_text() == "kind"
    assert figure.axes[0].get_xlabel() == "PC1"
    assert len(_colours(latent_scatter(latent))) == 1 and not latent_scatter(latent).legends
    assert latent_scatter(latent[:, :3], labels).axes[0].name == "3d"
    with pytest.raises(ValueError, match="59 labels for 60 latents"):
        latent_scatter(latent, labels[:59])
