"""``StyleTransfer``: one handwriting in every class, and new digits drawn by hand (chapter 06).

A conditional VAE splits a digit into its class y (given) and the rest, z: ideally the
style. This explorer takes a test digit, encodes it with its own label, z = μ(x, y), and
decodes that z with each of the classes: the same style in every class. Below, class
buttons and one slider per latent coordinate draw new digits: p(x | z, y) for the class
picked and the z set by hand, sampled from the prior, or taken from the digit above.

The logic is the plain functions :func:`style_row` and :func:`draw_digit` (tested without a
browser); the widget only wires controls to them.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import torch

from ..inference import encode_means, eval_mode, model_device
from .base import Explorer, as_index_source
from .render import digit_png, grid_png

__all__ = ["StyleTransfer", "style_row", "draw_digit"]


def _check_conditional(model) -> int:
    n = getattr(model, "n_classes", None)
    if not isinstance(n, int) or n < 2:
        raise ValueError(
            "StyleTransfer needs a conditional model with n_classes and decode(z, labels), "
            f"e.g. vae_course.models.ConditionalVAE; got {type(model).__name__}"
        )
    return n


@torch.no_grad()
def draw_digit(model, z, labels) -> np.ndarray:
    """Decode codes with class labels: the means of p(x | z, y).

    z: (B, D) or (D,) codes; labels: an int (every code) or (B,) integers in
    [0, n_classes). Returns float32 (B, H, W) in [0, 1] on the CPU.
    """
    n_classes = _check_conditional(model)
    z = torch.as_tensor(z, dtype=torch.float32)
    if z.dim() == 1:
        z = z.unsqueeze(0)
    if z.dim() != 2 or z.shape[1] != model.latent_dim:
        raise ValueError(f"expected codes (B, {model.latent_dim}), got {tuple(z.shape)}")
    y = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if y.numel() == 1:
        y = y.expand(z.shape[0])
    if y.shape[0] != z.shape[0]:
        raise ValueError(f"{z.shape[0]} codes but {y.shape[0]} labels")
    if (y < 0).any() or (y >= n_classes).any():
        raise ValueError(f"labels must be in [0, {n_classes}), got {y.tolist()}")
    device = model_device(model)
    with eval_mode(model):
        probs = torch.sigmoid(model.decode(z.to(device), y.to(device)).float()).cpu()
    return probs.reshape(z.shape[0], *probs.shape[-2:]).numpy()


def style_row(model, x: torch.Tensor, label: int) -> tuple[torch.Tensor, np.ndarray]:
    """One digit's style in every class: z = μ(x, label), decoded with each class.

    x: (1, C, H, W) one image in [0, 1]; label: its class. Returns ``(z, images)``: the
    code (D,) float32 on the CPU and float32 (n_classes, H, W) in [0, 1], row c being
    p(x | z, y = c) (the same as ``model.transfer(x, label, c)``).
    """
    n_classes = _check_conditional(model)
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one image (1, C, H, W), got {tuple(x.shape)}")
    if not 0 <= int(label) < n_classes:
        raise ValueError(f"label must be in [0, {n_classes}), got {label}")
    mu, _ = encode_means(model, x, labels=torch.tensor([int(label)]))
    z = mu[0]
    images = draw_digit(model, z.expand(n_classes, -1), torch.arange(n_classes))
    return z, images


class StyleTransfer(Explorer):
    """Pick a test digit: its style in all classes. Pick a class and move z: draw new digits.

    model: a trained conditional VAE (``ConditionalVAE``, any device); x: test images
    (N, 1, H, W) in [0, 1]; labels: their classes (N,). span: slider range [−span, span]
    in prior standard deviations; scale: on-screen pixels per image pixel.

    State after an update: ``row`` (n_classes, H, W) the digit's style in every class and
    ``row_z`` its code μ(x, y); ``z`` (D,) the code being drawn (set to ``row_z`` whenever
    another test digit is picked), ``klass`` the class being drawn, ``drawn`` (H, W).
    """

    css_class = "latent-style"

    def __init__(
        self,
        model,
        x: torch.Tensor,
        labels,
        index: int = 0,
        span: float = 3.0,
        scale: int = 2,
        seed: int = 0,
    ):
        super().__init__(model)
        self.n_classes = _check_conditional(model)
        self.latent_dim = int(model.latent_dim)
        self.x, self.labels = as_index_source(x, labels)
        if self.labels is None:
            raise ValueError("StyleTransfer needs the digits' labels (N,) to encode them")
        self.span, self.scale = float(span), int(scale)
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.z = torch.zeros(self.latent_dim)
        self.klass = 0

        self.index = widgets.BoundedIntText(
            value=int(index), min=0, max=len(self.x) - 1, description="test digit #"
        )
        self.index.layout.width = "220px"
        self.index.observe(self.callback(lambda _: self.redraw()), names="value")
        another = widgets.Button(description="random test digit", icon="image")
        another.on_click(self.callback(lambda _: self.pick_random()))
        self.original = widgets.Image(format="png")
        self.original.add_class("latent-original")
        self.row_image = widgets.Image(format="png")
        self.row_image.add_class("latent-row")

        self.classes = widgets.ToggleButtons(
            options=[str(c) for c in range(self.n_classes)],
            value="0",
            description="draw class",
            style={"button_width": "32px"},
        )
        self.classes.observe(self.callback(self._on_class), names="value")
        self.sliders = []
        for d in range(self.latent_dim):
            s = widgets.FloatSlider(
                value=0.0,
                min=-self.span,
                max=self.span,
                step=0.05,
                description=f"z{d}",
                readout_format=".2f",
                layout=widgets.Layout(width="270px"),
                style={"description_width": "36px"},
            )
            s.observe(self.callback(self._on_slider), names="value")
            self.sliders.append(s)
        use = widgets.Button(description="style of this digit", icon="pencil")
        use.on_click(self.callback(lambda _: self.set_code(self.row_z, "the test digit's z")))
        prior = widgets.Button(description="random style", icon="random")
        prior.on_click(self.callback(lambda _: self.sample_style()))
        for b in (another, use, prior):
            b.layout.width = "auto"
        self.image = widgets.Image(format="png")
        self.image.add_class("latent-image")
        self.info = widgets.HTML()
        self.info.add_class("latent-info")
        columns = (
            [widgets.VBox(self.sliders)]
            if self.latent_dim <= 8
            else [widgets.VBox(self.sliders[::2]), widgets.VBox(self.sliders[1::2])]
        )
        self.finish(
            [
                widgets.HBox([self.index, another]),
                widgets.HBox([self.original, self.row_image]),
                widgets.HTML(
                    "<small>left: the test digit; then z = μ(x, y) decoded as class "
                    f"0, 1, …, {self.n_classes - 1}</small>"
                ),
                self.classes,
                widgets.HBox([widgets.VBox([*columns, widgets.HBox([use, prior])]), self.image]),
                self.info,
            ]
        )

    # ----------------------------------------------------------------- state changes
    def redraw(self) -> None:
        """Encode the chosen test digit, draw its row, and draw the current z and class."""
        i = int(self.index.value)
        self.row_z, self.row = style_row(self.model, self.x[i : i + 1], int(self.labels[i]))
        h, w = self.row.shape[1:]
        self.original.value = digit_png(
            self.x[i].detach().float().cpu().numpy().reshape(h, w), self.scale
        )
        self.row_image.value = grid_png(self.row, nrow=self.n_classes, scale=self.scale)
        # the drawing starts from this digit's style: the drawn digit is its row entry
        self.set_code(self.row_z, f"test digit #{i}, a {int(self.labels[i])}, its z")

    def _draw(self, note: str = "") -> None:
        self.drawn = draw_digit(self.model, self.z, self.klass)[0]
        self.image.value = digit_png(self.drawn, 3 * self.scale)
        code = ", ".join(f"{float(v):+.2f}" for v in self.z[:8])
        more = ", …" if self.latent_dim > 8 else ""
        self.info.value = html.escape(
            f"{note + '; ' if note else ''}drawing class {self.klass} with z = ({code}{more})"
        )

    def _on_class(self, change) -> None:
        self.klass = int(change["new"])
        self._draw()

    def _on_slider(self, change) -> None:
        d = self.sliders.index(change["owner"])
        if abs(float(self.z[d]) - float(change["new"])) < change["owner"].step / 2:
            # the browser snapping a value set by set_code to the slider's step: keep the
            # exact code (and the note) instead of redrawing a rounded one
            return
        self.z = self.z.clone()
        self.z[d] = float(change["new"])
        self._draw()

    def set_code(self, z, note: str = "") -> None:
        """Draw the code ``z`` (D,) and move the sliders to it (clipped to their range)."""
        z = torch.as_tensor(z, dtype=torch.float32).detach().cpu().reshape(-1).clone()
        if z.shape[0] != self.latent_dim:
            raise ValueError(f"expected a code of {self.latent_dim} values, got {tuple(z.shape)}")
        self.z = z
        with self.quietly():
            for s, v in zip(self.sliders, z.tolist(), strict=True):
                s.value = float(np.clip(v, -self.span, self.span))
        self._draw(note)

    def sample_style(self) -> None:
        """z ~ N(0, I) from the explorer's own seeded generator."""
        self.set_code(torch.randn(self.latent_dim, generator=self.generator), "z from N(0, I)")

    def pick_random(self) -> int:
        """Show a random test digit's style in every class; returns its index."""
        i = int(self.rng.integers(len(self.x)))
        if int(self.index.value) == i:
            self.redraw()
        else:
            self.index.value = i  # its observer redraws
        return i
