"""The procedural shapes data (vae_course.shapes): deterministic, complete, each factor visible."""

import math

import pytest
import torch

from vae_course.data import make_shapes as make_shapes_from_data
from vae_course.shapes import FACTOR_NAMES, make_shapes, render_shapes


@pytest.fixture(scope="module")
def grid():
    return make_shapes()


def _index(data, factors):
    hit = (data.factors == torch.tensor(factors)).all(dim=1).nonzero()
    assert hit.numel() == 1, factors
    return int(hit[0, 0])


def test_whole_grid_has_every_combination_once(grid):
    assert grid.factor_names == FACTOR_NAMES
    assert grid.factor_sizes == (3, 6, 8, 8, 8)
    assert len(grid) == math.prod(grid.factor_sizes) == 9216
    assert grid.images.shape == (9216, 1, 32, 32) and grid.images.dtype == torch.float32
    assert grid.factors.dtype == torch.int64
    assert torch.unique(grid.factors, dim=0).shape[0] == len(grid)
    for j, size in enumerate(grid.factor_sizes):
        assert grid.factors[:, j].min() == 0 and grid.factors[:, j].max() == size - 1


def test_values_are_binary_and_no_shape_touches_the_border(grid):
    assert set(torch.unique(grid.images).tolist()) == {0.0, 1.0}
    im = grid.images[:, 0]
    border = im[:, 0, :].sum() + im[:, -1, :].sum() + im[:, :, 0].sum() + im[:, :, -1].sum()
    assert border == 0
    assert im.sum(dim=(1, 2)).min() >= 5  # the smallest shape is still visible


def test_factor_values_match_the_documented_ranges(grid):
    v = grid.factor_values
    assert torch.allclose(v["scale"], torch.linspace(0.5, 1.0, 6))
    assert torch.allclose(v["orientation"], torch.arange(8) * (2 * math.pi / 8))
    assert v["x"][0] == 0 and v["x"][-1] == 1


def test_same_arguments_same_images_and_seed_matters():
    a, b = make_shapes(200, seed=3), make_shapes(200, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.factors, b.factors)
    c = make_shapes(200, seed=4)
    assert not torch.equal(a.factors, c.factors)
    # a sample shows exactly the image the grid has for its factors
    assert torch.equal(a.images, render_shapes(a.factors))


@pytest.mark.parametrize("factor", range(5))
def test_each_factor_changes_the_image(grid, factor):
    """Moving one factor by one step, all others fixed, changes the picture (every shape)."""
    for shape in range(3):
        base = [shape, 3, 1, 3, 4]
        moved = list(base)
        moved[factor] = (
            (base[factor] + 1) % grid.factor_sizes[factor] if factor else (shape + 1) % 3
        )
        a = grid.images[_index(grid, base)]
        b = grid.images[_index(grid, moved)]
        assert (a != b).sum() >= 2, (FACTOR_NAMES[factor], base, moved)


def test_position_moves_the_centre_of_mass(grid):
    rows = torch.arange(32, dtype=torch.float32)
    xs = []
    for x in range(8):
        im = grid.images[_index(grid, [0, 5, 0, x, 3]), 0]
        xs.append(float((im.sum(0) * rows).sum() / im.sum()))
    assert all(b > a for a, b in zip(xs[:-1], xs[1:], strict=True))
    assert xs[-1] - xs[0] > 12  # pixels, on a 32-pixel image


def test_symmetries_documented_in_the_module(grid):
    """Square: same image every 90° (2 steps of 45°); ellipse every 180°; heart never."""

    def img(shape, o):
        return grid.images[_index(grid, [shape, 5, o, 4, 4])]

    def differ(a, b):
        return int((a != b).sum())

    assert differ(img(0, 0), img(0, 2)) <= 2  # up to pixel centres exactly on an edge
    assert differ(img(0, 0), img(0, 1)) > 10
    assert differ(img(1, 1), img(1, 5)) <= 2
    assert differ(img(1, 1), img(1, 3)) > 10
    for k in range(1, 8):
        assert differ(img(2, 0), img(2, k)) > 10


def test_dsprites_sizes_by_argument():
    d = make_shapes(16, image_size=64, n_orientations=40, n_positions=32, seed=1)
    assert d.images.shape == (16, 1, 64, 64)
    assert d.factor_sizes == (3, 6, 40, 32, 32)


def test_data_module_exposes_the_generator():
    assert make_shapes_from_data is make_shapes


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "positive number of images"),
        ({"n_positions": 1}, "n_positions must be at least 2"),
        ({"n_scales": 0}, "n_scales must be at least 1"),
        ({"image_size": 4}, "at least 8 pixels"),
    ],
)
def test_bad_arguments_say_what_was_expected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_shapes(**kwargs)


def test_render_rejects_out_of_range_factors():
    with pytest.raises(ValueError, match=r"factor orientation of row 0 is 8, expected .*\[0, 8\)"):
        render_shapes(torch.tensor([[0, 0, 8, 0, 0]]))
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        render_shapes(torch.zeros(3, 4, dtype=torch.long))
