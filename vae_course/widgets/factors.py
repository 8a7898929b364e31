"""``FactorSweep``: the encoder's view of a true factor (chapter 05, shapes data).

:class:`~vae_course.widgets.Traversal` shows the *decoder's* view: move one latent
coordinate and watch the image change. This explorer shows the *encoder's* view: take one
image of the shapes data, move one of its ground-truth factors (scale, orientation, x, y,
shape) through all its values, and watch the posterior means μ(x) respond. A disentangled
model moves one coordinate per factor; an entangled one moves several.

The logic is the plain function :func:`factor_sweep` (tested without a browser).
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import torch

from ..inference import encode_means
from ..shapes import FACTOR_NAMES, render_shapes
from .base import Explorer
from .render import png_bytes, to_uint8, upscale

__all__ = ["FactorSweep", "factor_sweep"]


def factor_sweep(model, factors: torch.Tensor, factor: int, *, image_size: int, factor_sizes):
    """Render one image per value of ``factor`` (others fixed) and encode them.

    factors: (5,) int64 factor indices of the starting image (shape, scale, orientation,
    x, y); factor: which column to sweep; image_size, factor_sizes: those of the data.
    Returns ``(images, means)``: images float32 (V, H, W) in {0, 1} on the CPU and the
    posterior means float32 (V, latent_dim), V = factor_sizes[factor].
    """
    factors = torch.as_tensor(factors).long().reshape(-1)
    if factors.shape[0] != len(FACTOR_NAMES):
        raise ValueError(f"expected {len(FACTOR_NAMES)} factor indices, got {factors.shape[0]}")
    if not 0 <= factor < len(FACTOR_NAMES):
        raise ValueError(f"factor must be in [0, {len(FACTOR_NAMES)}), got {factor}")
    n = int(factor_sizes[factor])
    table = factors.repeat(n, 1)
    table[:, factor] = torch.arange(n)
    images = render_shapes(table, image_size=image_size, factor_sizes=tuple(factor_sizes))
    mu, _ = encode_means(model, images)
    return images[:, 0].numpy(), mu.float().cpu().numpy()


def _bars(means: np.ndarray, current: int, span: float) -> str:
    """An HTML table: one row per latent coordinate, its μ across the sweep as bars."""
    rows = []
    for j in range(means.shape[1]):
        cells = []
        for v in range(means.shape[0]):
            m = float(means[v, j])
            h = int(round(min(abs(m) / span, 1.0) * 18))
            colour = "#1f77b4" if m >= 0 else "#d62728"
            border = "outline:1px solid #333;" if v == current else ""
            cells.append(
                f'<td style="padding:0 1px;vertical-align:middle;{border}" title="{m:+.2f}">'
                f'<div style="width:6px;height:{max(h, 1)}px;background:{colour}"></div></td>'
            )
        spread = float(np.ptp(means[:, j]))
        rows.append(
            f'<tr><td style="font-size:11px;padding-right:6px">z{j}</td>{"".join(cells)}'
            f'<td style="font-size:11px;padding-left:6px">range {spread:.2f}</td></tr>'
        )
    return '<table style="border-collapse:collapse">' + "".join(rows) + "</table>"


class FactorSweep(Explorer):
    """Pick an image of the shapes data and a true factor; see μ(x) as the factor moves.

    model: a VAE trained on the shapes (any device); data: the
    :class:`~vae_course.shapes.Shapes` it was trained on. State after a redraw:
    ``images`` (V, H, W), ``means`` (V, latent_dim), ``moved`` (latent_dim,) the range of
    each coordinate over the sweep (posterior-mean units).
    """

    css_class = "latent-factor-sweep"

    def __init__(self, model, data, index: int = 0, factor: int = 3, scale: int = 2):
        super().__init__(model)
        self.data = data
        self.scale = int(scale)
        self.index = widgets.BoundedIntText(
            value=int(index), min=0, max=len(data) - 1, description="image #"
        )
        self.index.layout.width = "200px"
        self.factor = widgets.Dropdown(
            options=[(name, j) for j, name in enumerate(data.factor_names)],
            value=int(factor),
            description="factor",
        )
        self.factor.layout.width = "200px"
        self.value = widgets.IntSlider(value=0, min=0, max=1, description="value")
        for w in (self.index, self.factor):
            w.observe(self.callback(lambda _: self.redraw()), names="value")
        self.value.observe(self.callback(lambda _: self._show()), names="value")
        self.image = widgets.Image(format="png")
        self.image.add_class("latent-image")
        self.bars = widgets.HTML()
        self.info = widgets.HTML()
        self.info.add_class("latent-info")
        self.finish(
            [
                widgets.HBox([self.index, self.factor, self.value]),
                widgets.HBox([self.image, self.bars]),
                self.info,
            ]
        )

    def redraw(self) -> None:
        j = int(self.factor.value)
        start = self.data.factors[int(self.index.value)]
        self.images, self.means = factor_sweep(
            self.model,
            start,
            j,
            image_size=self.data.images.shape[-1],
            factor_sizes=self.data.factor_sizes,
        )
        self.moved = np.ptp(self.means, axis=0)
        with self.quietly():
            self.value.max = self.images.shape[0] - 1
            self.value.value = int(start[j])
        self._show()

    def _show(self) -> None:
        v = int(self.value.value)
        strip = np.concatenate(list(self.images), axis=1)
        h, w = self.images.shape[1:]
        strip_rgb = to_uint8(strip)
        img = upscale(strip_rgb, self.scale)
        # mark the current value with a frame
        s = self.scale
        img[:2, v * w * s : (v + 1) * w * s] = 0
        img[-2:, v * w * s : (v + 1) * w * s] = 0
        self.image.value = png_bytes(img)
        span = float(np.abs(self.means).max()) or 1.0
        self.bars.value = _bars(self.means, v, span)
        name = self.data.factor_names[int(self.factor.value)]
        top = np.argsort(-self.moved)[:3]
        self.info.value = html.escape(
            f"{name} swept over {self.images.shape[0]} values; the posterior means that move "
            "most: " + ", ".join(f"z{k} (range {self.moved[k]:.2f})" for k in top)
        )
