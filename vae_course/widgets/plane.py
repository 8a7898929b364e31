"""``LatentPlane``: a decoded grid over a 2-D latent plane beside the encoded test set."""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import torch

from .base import Explorer, as_index_source
from .logic import decode_images, encode_means, kl_ranked_dims, plane_codes
from .render import (
    TAB10,
    digit_png,
    draw_crosshair,
    png_bytes,
    scatter_canvas,
    to_pixel,
    to_uint8,
    upscale,
)

__all__ = ["LatentPlane"]


class LatentPlane(Explorer):
    """Decode an n×n grid over two latent dimensions; beside it, the test set encoded there.

    model: trained VAE (any device). x: test images (N, 1, H, W); labels (N,) colour the
    scatter (tab10, as ``plot.plot_latent_scatter``). dims: the two latent dimensions of
    the plane; default (0, 1) for a 2-D model, else the two with the most KL. Other
    dimensions are held at ``base`` (default 0). n, span: grid of n×n codes over
    [−span, span]². Both pictures share one coordinate frame: z_a to the right, z_b up.

    Picking: the two sliders (or "jump to a random test digit") choose a point z; a red
    crosshair marks it on both pictures and ``image`` shows its decoding.
    State: ``point`` (2,) the picked (z_a, z_b); ``code`` (D,) the full code decoded.
    """

    css_class = "latent-plane"

    def __init__(
        self,
        model,
        x: torch.Tensor,
        labels=None,
        dims: tuple[int, int] | None = None,
        n: int = 15,
        span: float = 3.0,
        base=None,
        max_points: int = 2000,
        scale: int = 4,
        seed: int = 0,
    ):
        super().__init__(model)
        self.latent_dim = int(model.latent_dim)
        if self.latent_dim < 2:
            raise ValueError("LatentPlane needs a model with at least 2 latent dimensions")
        self.n, self.span, self.scale = int(n), float(span), int(scale)
        self.x, self.labels = as_index_source(x, labels, max_points)
        self.base = torch.zeros(self.latent_dim) if base is None else torch.as_tensor(base).float()
        self.rng = np.random.default_rng(seed)
        self.point = np.zeros(2)
        self.mu = None
        order = list(range(self.latent_dim))
        if self.guard(self._encode_all):
            order, _ = kl_ranked_dims(self.mu, self.logvar)
        if dims is None:
            dims = (0, 1) if self.latent_dim == 2 else tuple(sorted(order[:2]))
        self.dims = (int(dims[0]), int(dims[1]))

        options = [(f"z{d}", d) for d in range(self.latent_dim)]
        self.dim_a = widgets.Dropdown(options=options, value=self.dims[0], description="→ axis")
        self.dim_b = widgets.Dropdown(options=options, value=self.dims[1], description="↑ axis")
        for dd in (self.dim_a, self.dim_b):
            dd.layout.width = "160px"
            dd.style.description_width = "50px"
            dd.observe(self.callback(self._on_dims), names="value")
        self.pick_a = self._slider("z_a")
        self.pick_b = self._slider("z_b")
        jump = widgets.Button(description="jump to a random test digit", icon="crosshairs")
        jump.layout.width = "auto"
        jump.on_click(self.callback(lambda _: self.jump_to_test_digit()))

        self.grid_image = widgets.Image(format="png", layout=widgets.Layout(width="360px"))
        self.grid_image.add_class("latent-plane-grid")
        self.scatter_image = widgets.Image(format="png", layout=widgets.Layout(width="360px"))
        self.scatter_image.add_class("latent-plane-scatter")
        self.image = widgets.Image(format="png")
        self.image.add_class("latent-image")
        self.info = widgets.HTML(layout=widgets.Layout(width="190px"))
        self.info.add_class("latent-info")
        legend = ""
        if self.labels is not None:
            legend = " ".join(
                f'<span style="color:rgb{tuple(int(c) for c in TAB10[k])};font-weight:bold">'
                f"■ {k}</span>"
                for k in range(10)
            )
        dim_row = [self.dim_a, self.dim_b] if self.latent_dim > 2 else []
        self.base_grid = None  # built (and cached) by the first redraw
        self.finish(
            [
                widgets.HBox([*dim_row, jump]),
                widgets.HBox(
                    [
                        widgets.VBox([widgets.HTML("<b>decoded grid</b>"), self.grid_image]),
                        widgets.VBox(
                            [
                                widgets.HTML("<b>encoded test digits</b>"),
                                self.scatter_image,
                                widgets.HTML(f"<small>{legend}</small>"),
                            ]
                        ),
                        widgets.VBox([widgets.HTML("<b>picked point</b>"), self.image, self.info]),
                    ]
                ),
                widgets.HBox([self.pick_a, self.pick_b]),
            ]
        )

    def _slider(self, name: str) -> widgets.FloatSlider:
        s = widgets.FloatSlider(
            value=0.0,
            min=-self.span,
            max=self.span,
            step=0.05,
            description=name,
            readout_format=".2f",
            continuous_update=True,
            layout=widgets.Layout(width="330px"),
            style={"description_width": "36px"},
        )
        s.observe(self.callback(self._on_pick), names="value")
        return s

    # ----------------------------------------------------------------- cached pictures
    def _encode_all(self) -> None:
        self.mu, self.logvar = encode_means(self.model, self.x)

    @property
    def frame_span(self) -> float:
        """Half-width of the shared picture frame: the grid's outer cell edges, not centres."""
        return self.span * self.n / (self.n - 1)

    def _build_base(self) -> None:
        """Decode the n×n grid and rasterise the scatter for the current ``dims`` (cached)."""
        self.base_grid = None
        codes = plane_codes(self.n, self.span, self.dims, self.base, self.latent_dim)
        images = decode_images(self.model, codes)  # (n·n, H, W)
        h, w = images.shape[1:]
        # no padding: cells touch, so pixel position is linear in z over the whole frame
        grid = (
            images.reshape(self.n, self.n, h, w)
            .transpose(0, 2, 1, 3)
            .reshape(self.n * h, self.n * w)
        )
        self.base_grid = upscale(to_uint8(grid), max(1, self.scale // 4))
        size = self.base_grid.shape[0]
        if self.mu is not None:
            pts = self.mu[:, list(self.dims)].numpy()
            self.base_scatter = scatter_canvas(pts, self.labels, self.frame_span, size)
        else:
            self.base_scatter = np.full((size, size, 3), 255, np.uint8)

    def _on_dims(self, change) -> None:
        a, b = int(self.dim_a.value), int(self.dim_b.value)
        if a == b:
            raise ValueError(f"pick two different dimensions for the plane (both are z{a})")
        self.dims = (a, b)
        self._build_base()
        self.redraw()

    def _on_pick(self, change) -> None:
        self.point = np.array([self.pick_a.value, self.pick_b.value], dtype=np.float64)
        self.redraw()

    # ----------------------------------------------------------------- state → image
    def set_point(self, za: float, zb: float) -> None:
        """Pick the point (z_a, z_b) of the plane (clipped to [−span, span]) and decode it."""
        with self.quietly():
            self.pick_a.value = float(np.clip(za, -self.span, self.span))
            self.pick_b.value = float(np.clip(zb, -self.span, self.span))
        self.point = np.array([self.pick_a.value, self.pick_b.value], dtype=np.float64)
        self.redraw()

    def jump_to_test_digit(self, index: int | None = None) -> int:
        """Pick the encoded position μ(x) of a random (or the given) test digit."""
        if self.mu is None:
            raise ValueError("the test digits could not be encoded (see the error above)")
        i = int(self.rng.integers(len(self.mu))) if index is None else int(index)
        self.set_point(float(self.mu[i, self.dims[0]]), float(self.mu[i, self.dims[1]]))
        return i

    @property
    def code(self) -> torch.Tensor:
        """The full latent code (D,) of the picked point."""
        z = self.base.clone()
        z[self.dims[0]], z[self.dims[1]] = float(self.point[0]), float(self.point[1])
        return z

    def redraw(self) -> None:
        if self.base_grid is None:
            self._build_base()
        size = self.base_grid.shape[0]
        r, c = to_pixel(self.point.reshape(1, 2), self.frame_span, size)[0]
        self.grid_image.value = png_bytes(draw_crosshair(self.base_grid, r, c))
        self.scatter_image.value = png_bytes(draw_crosshair(self.base_scatter, r, c))
        self.decoded = decode_images(self.model, self.code)[0]
        self.image.value = digit_png(self.decoded, self.scale)
        a, b = self.dims
        text = f"z{a} = {self.point[0]:+.2f}, z{b} = {self.point[1]:+.2f}"
        if self.mu is not None:
            d = ((self.mu[:, [a, b]].numpy() - self.point) ** 2).sum(1)
            i = int(d.argmin())
            lab = f", a {self.labels[i]}" if self.labels is not None else ""
            text += f"<br>nearest test digit: #{i}{lab}"
            outside = int((np.abs(self.mu[:, [a, b]].numpy()) > self.frame_span).any(1).sum())
            if outside:
                text += f"<br>{outside} of {len(self.mu)} test digits lie outside the frame"
        self.info.value = html.escape(text).replace("&lt;br&gt;", "<br>")
