"""Procedural shapes with known generative factors, in the spirit of dSprites.

Every image shows one white shape on black, made from five factors:

=============  ==============================================  =========================
factor         values                                          default count (dSprites)
=============  ==============================================  =========================
shape          square, ellipse, heart                          3 (3)
scale          ``linspace(0.5, 1.0, n)``                       6 (6)
orientation    ``k · 2π / n``, k = 0 … n−1 (radians)           8 (40)
x, y           ``linspace(0, 1, n)`` across the free range     8 (32)
=============  ==============================================  =========================

:func:`make_shapes` renders the whole factor grid (``n=None``, in row-major factor order)
or ``n`` combinations drawn uniformly from a seeded generator, always the same images for
the same arguments. The default (32×32, 3·6·8·8·8 = 9,216 images) trains a small VAE in
seconds on two CPU cores; ``make_shapes(image_size=64, n_orientations=40, n_positions=32,
n=...)`` gives dSprites' sizes (its full grid of 737,280 images would need 12 GB as
float32: draw a sample with ``n``).

**Symmetries.** A square looks the same every 90° and an ellipse every 180°, so for those
shapes several orientation values give *the same image*: orientation is only identifiable
modulo 90° (square), 180° (ellipse) or 360° (heart). No encoder can recover more than the
image shows, so the mutual information between any code and the orientation factor is
capped below the factor's entropy, and so is a disentanglement score such as MIG for that
factor. (dSprites has the same property; it also lists 0 and 2π as two values, which we
avoid by leaving out the endpoint.)

Images are float32 ``(N, 1, H, W)`` with values in {0, 1} (a pixel is on when its centre
lies inside the shape); factors are int64 ``(N, 5)`` indices into ``factor_values``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["Shapes", "make_shapes", "render_shapes", "FACTOR_NAMES", "SHAPE_NAMES"]

FACTOR_NAMES = ("shape", "scale", "orientation", "x", "y")
SHAPE_NAMES = ("square", "ellipse", "heart")

# Half-size of a shape at scale 1, as a fraction of the image width, and the radius of the
# disc that holds every shape at every rotation (a square's corner, √2 half-sizes, reaches
# furthest); centres stay that far, plus a pixel, from the border, so no shape is cut off.
_HALF_SIZE = 0.16
_REACH = 1.42 * _HALF_SIZE


@dataclass
class Shapes:
    """Images with their factors.

    ``images`` (N, 1, H, W) float32 in {0, 1}; ``factors`` (N, 5) int64, column j an index
    into ``factor_values[factor_names[j]]``; ``factor_sizes`` the number of values of each.
    """

    images: torch.Tensor
    factors: torch.Tensor
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    factor_values: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return self.images.shape[0]


def _factor_values(n_scales: int, n_orientations: int, n_positions: int) -> dict[str, torch.Tensor]:
    return {
        "shape": torch.arange(len(SHAPE_NAMES), dtype=torch.float64),
        "scale": torch.linspace(0.5, 1.0, n_scales, dtype=torch.float64),
        "orientation": torch.arange(n_orientations, dtype=torch.float64)
        * (2 * math.pi / n_orientations),
        "x": torch.linspace(0.0, 1.0, n_positions, dtype=torch.float64),
        "y": torch.linspace(0.0, 1.0, n_positions, dtype=torch.float64),
    }


def _inside(shape: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Which points (u, v) of the shape's own frame (half-size 1) are inside. (N, H, W) bool."""
    square = torch.maximum(u.abs(), v.abs()) <= 1.0
    ellipse = u**2 + (v / 0.5) ** 2 <= 1.0
    # the classic implicit heart (x² + y² − 1)³ − x² y³ ≤ 0, pointing down, scaled into
    # about [−1.1, 1.1] × [−1, 1.2]
    hx, hy = 0.9 * u, 0.9 * (-v) + 0.25
    heart = (hx**2 + hy**2 - 1.0) ** 3 - hx**2 * hy**3 <= 0.0
    s = shape[:, None, None]
    return torch.where(s == 0, square, torch.where(s == 1, ellipse, heart))


def render_shapes(
    factors: torch.Tensor,
    *,
    image_size: int = 32,
    factor_sizes: tuple[int, ...] = (3, 6, 8, 8, 8),
    chunk: int = 4096,
) -> torch.Tensor:
    """Draw the images of a factor table.

    ``factors`` (N, 5) int64 indices (shape, scale, orientation, x, y), each in
    ``[0, factor_sizes[j])``. Returns (N, 1, image_size, image_size) float32 in {0, 1}.
    """
    factors = torch.as_tensor(factors)
    if factors.ndim != 2 or factors.shape[1] != len(FACTOR_NAMES):
        raise ValueError(
            f"factors must be (N, {len(FACTOR_NAMES)}) indices {FACTOR_NAMES}, "
            f"got shape {tuple(factors.shape)}"
        )
    if len(factor_sizes) != len(FACTOR_NAMES) or factor_sizes[0] != len(SHAPE_NAMES):
        raise ValueError(
            f"factor_sizes must be 5 counts starting with 3 shapes, got {factor_sizes}"
        )
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
    sizes = torch.tensor(factor_sizes)
    bad = (factors < 0) | (factors >= sizes)
    if bad.any():
        row, col = (int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"factor {FACTOR_NAMES[col]} of row {row} is {int(factors[row, col])}, "
            f"expected an index in [0, {factor_sizes[col]})"
        )
    values = _factor_values(*factor_sizes[1:4])
    # pixel centres in units of the image width, y pointing down as in an image
    centres = (torch.arange(image_size, dtype=torch.float64) + 0.5) / image_size
    py, px = torch.meshgrid(centres, centres, indexing="ij")
    margin = _REACH + 1.0 / image_size
    out = torch.empty(factors.shape[0], 1, image_size, image_size, dtype=torch.float32)
    for start in range(0, factors.shape[0], chunk):
        f = factors[start : start + chunk].long()
        scale = values["scale"][f[:, 1]][:, None, None]
        angle = values["orientation"][f[:, 2]][:, None, None]
        cx = margin + (1 - 2 * margin) * values["x"][f[:, 3]][:, None, None]
        cy = margin + (1 - 2 * margin) * values["y"][f[:, 4]][:, None, None]
        dx, dy = px - cx, py - cy
        # rotate the pixel grid by −angle to land in the shape's own frame
        cos, sin = torch.cos(angle), torch.sin(angle)
        half = _HALF_SIZE * scale
        u = (cos * dx + sin * dy) / half
        v = (-sin * dx + cos * dy) / half
        out[start : start + chunk, 0] = _inside(f[:, 0], u, v).float()
    return out


def make_shapes(
    n: int | None = None,
    *,
    image_size: int = 32,
    n_scales: int = 6,
    n_orientations: int = 8,
    n_positions: int = 8,
    seed: int = 0,
) -> Shapes:
    """The shapes data set: the whole factor grid (``n=None``) or ``n`` random combinations.

    ``n`` draws are independent and uniform over the grid (with replacement), from a
    ``torch.Generator`` seeded with ``seed``: the same arguments always give the same
    images. Returns a :class:`Shapes` with images (N, 1, image_size, image_size) float32
    in {0, 1} and factors (N, 5) int64.
    """
    for name, count in (("n_scales", n_scales), ("n_orientations", n_orientations)):
        if count < 1:
            raise ValueError(f"{name} must be at least 1, got {count}")
    if n_positions < 2:
        raise ValueError(f"n_positions must be at least 2, got {n_positions}")
    sizes = (len(SHAPE_NAMES), n_scales, n_orientations, n_positions, n_positions)
    if n is None:
        grids = torch.meshgrid(*(torch.arange(s) for s in sizes), indexing="ij")
        factors = torch.stack([g.reshape(-1) for g in grids], dim=1)
    else:
        if n < 1:
            raise ValueError(f"n must be a positive number of images (or None), got {n}")
        gen = torch.Generator().manual_seed(seed)
        factors = torch.stack([torch.randint(0, s, (n,), generator=gen) for s in sizes], dim=1)
    images = render_shapes(factors, image_size=image_size, factor_sizes=sizes)
    return Shapes(
        images=images,
        factors=factors,
        factor_names=FACTOR_NAMES,
        factor_sizes=sizes,
        factor_values={k: v.float() for k, v in _factor_values(*sizes[1:4]).items()},
    )
