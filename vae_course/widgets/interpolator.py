"""``Interpolator``: decode the path between two encoded test digits, linear vs spherical."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch

from .base import Explorer, as_index_source
from .logic import decode_images, encode_means, interpolation_path
from .render import digit_png, draw_box, png_bytes, to_uint8, upscale

__all__ = ["Interpolator"]

METHODS = ("linear", "spherical")


class Interpolator(Explorer):
    """Pick two test digits A and B; see the decoded lerp and slerp paths between μ(A), μ(B).

    model: trained VAE (any device). x: test images (N, 1, H, W); labels (N,) optional.
    steps: points on each path (≥ 2), endpoints included. pair: (index_a, index_b) of the
    first pair (default: a seeded random pair). The picture has two rows, linear on top,
    spherical below; a red box marks the current ``step`` of the chosen ``method``, which
    ``image`` shows large. State: ``z_a``, ``z_b`` (D,) and ``paths[method]`` (steps, D).
    """

    css_class = "latent-interpolator"

    def __init__(
        self,
        model,
        x: torch.Tensor,
        labels=None,
        steps: int = 10,
        pair: tuple[int, int] | None = None,
        scale: int = 2,
        seed: int = 0,
    ):
        super().__init__(model)
        self.x, self.labels = as_index_source(x, labels)
        self.steps, self.scale = int(steps), int(scale)
        if self.steps < 2:
            raise ValueError(f"steps must be at least 2, got {steps}")
        self.rng = np.random.default_rng(seed)
        n = len(self.x)
        if pair is None:
            pair = tuple(int(i) for i in self.rng.choice(n, size=2, replace=False))
        self.index_a = widgets.BoundedIntText(value=pair[0], min=0, max=n - 1, description="A #")
        self.index_b = widgets.BoundedIntText(value=pair[1], min=0, max=n - 1, description="B #")
        for w in (self.index_a, self.index_b):
            w.layout.width = "150px"
            w.style.description_width = "30px"
            w.observe(self.callback(self._on_pair), names="value")
        shuffle = widgets.Button(description="random pair", icon="random")
        shuffle.layout.width = "auto"
        shuffle.on_click(self.callback(lambda _: self.random_pair()))
        self.method = widgets.ToggleButtons(options=list(METHODS), value="linear")
        self.method.style.button_width = "90px"
        self.method.observe(self.callback(self._on_view), names="value")
        self.step = widgets.IntSlider(
            value=self.steps // 2,
            min=0,
            max=self.steps - 1,
            description="step",
            continuous_update=True,
            layout=widgets.Layout(width="330px"),
            style={"description_width": "36px"},
        )
        self.step.observe(self.callback(self._on_view), names="value")

        self.image_a = widgets.Image(format="png")
        self.image_b = widgets.Image(format="png")
        self.path_image = widgets.Image(format="png")
        self.path_image.add_class("latent-interp-path")
        self.image = widgets.Image(format="png")
        self.image.add_class("latent-image")
        self.info = widgets.HTML()
        self.info.add_class("latent-info")
        self.paths: dict[str, torch.Tensor] = {}
        self.finish(
            [
                widgets.HBox([self.index_a, self.index_b, shuffle, self.method]),
                widgets.HBox(
                    [
                        widgets.VBox([widgets.HTML("A"), self.image_a]),
                        widgets.VBox(
                            [
                                widgets.HTML("<b>linear</b> (top) · <b>spherical</b>"),
                                self.path_image,
                            ]
                        ),
                        widgets.VBox([widgets.HTML("B"), self.image_b]),
                        self.image,
                    ]
                ),
                widgets.HBox([self.step, self.info]),
            ]
        )

    def _on_pair(self, change) -> None:
        self.redraw()

    def _on_view(self, change) -> None:
        self._show_step()

    def random_pair(self) -> tuple[int, int]:
        """Choose two different random test digits and interpolate between them."""
        a, b = (int(i) for i in self.rng.choice(len(self.x), size=2, replace=False))
        self.set_pair(a, b)
        return a, b

    def set_pair(self, a: int, b: int) -> None:
        """Interpolate between test digits ``a`` and ``b``."""
        with self.quietly():
            self.index_a.value, self.index_b.value = int(a), int(b)
        self.redraw()

    def _digit(self, i: int) -> bytes:
        img = self.x[i].detach().float().cpu().numpy().reshape(self.x.shape[-2:])
        return digit_png(img, self.scale)

    def redraw(self) -> None:
        """Encode A and B, decode both paths (cached), then show the current step."""
        a, b = int(self.index_a.value), int(self.index_b.value)
        mu, _ = encode_means(self.model, self.x[[a, b]])
        self.z_a, self.z_b = mu[0], mu[1]
        self.paths = {m: interpolation_path(self.z_a, self.z_b, self.steps, m) for m in METHODS}
        codes = torch.cat([self.paths[m] for m in METHODS])
        self.decoded = decode_images(self.model, codes).reshape(
            len(METHODS), self.steps, *self.x.shape[-2:]
        )
        h, w = self.decoded.shape[-2:]
        strip = self.decoded.transpose(0, 2, 1, 3).reshape(len(METHODS) * h, self.steps * w)
        self.base_strip = upscale(to_uint8(strip), self.scale)
        self.image_a.value = self._digit(a)
        self.image_b.value = self._digit(b)
        self._show_step()

    def _show_step(self) -> None:
        row, col = METHODS.index(self.method.value), int(self.step.value)
        h, w = (s * self.scale for s in self.decoded.shape[-2:])
        self.path_image.value = png_bytes(draw_box(self.base_strip, row * h, col * w, h, w))
        self.image.value = digit_png(self.decoded[row, col], 3 * self.scale)
        norms = {m: self.paths[m].norm(dim=1) for m in METHODS}
        t = col / (self.steps - 1)
        self.info.value = (
            f"t = {t:.2f} &nbsp; ‖z‖: linear {float(norms['linear'][col]):.2f}, "
            f"spherical {float(norms['spherical'][col]):.2f} "
            f"(‖μ(A)‖ = {float(self.z_a.norm()):.2f}, ‖μ(B)‖ = {float(self.z_b.norm()):.2f})"
        )
