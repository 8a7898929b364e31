"""``LatentSliders``: one slider per latent dimension (or the top-k by KL) → decoded image."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch

from .base import Explorer, as_index_source
from .logic import decode_images, encode_means, kl_ranked_dims, set_coordinate
from .render import digit_png

__all__ = ["LatentSliders"]


class LatentSliders(Explorer):
    """Move latent coordinates by hand and watch the decoded image follow.

    model: trained VAE (any device) with ``decode``, ``latent_dim`` and, if ``x`` is
    given, ``encode``. x: test images (N, 1, H, W) in [0, 1], optional; labels (N,).
    top_k: show sliders for only the k dimensions with the largest KL on ``x`` (the
    others stay at their current value); None shows every dimension. span: slider range
    [−span, span] in prior standard deviations. scale: on-screen pixels per image pixel.

    State: ``z`` (D,) CPU tensor, the code being decoded; ``dims[i]`` is the latent
    dimension of ``sliders[i]``. ``image.value`` holds the decoded image as PNG bytes.
    Buttons: "sample from prior" (z ~ N(0, I)) and "encode a random test digit" (z = μ(x)).
    """

    css_class = "latent-sliders"

    def __init__(
        self,
        model,
        x: torch.Tensor | None = None,
        labels=None,
        top_k: int | None = None,
        span: float = 3.0,
        scale: int = 6,
        seed: int = 0,
        max_encode: int = 1000,
    ):
        super().__init__(model)
        self.latent_dim = int(model.latent_dim)
        self.span, self.scale = float(span), int(scale)
        self.x, self.labels = (None, None) if x is None else as_index_source(x, labels)
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.z = torch.zeros(self.latent_dim)
        self.kl = None
        self.dims = list(range(self.latent_dim))
        if self.x is not None:
            ok = self.guard(self._rank_dims, max_encode)
            if not ok:
                self.dims = list(range(self.latent_dim))
        if top_k is not None:
            self.dims = self.dims[: int(top_k)]

        self.sliders = []
        for d in self.dims:
            tip = f"KL {float(self.kl[d]):.2f} nats" if self.kl is not None else ""
            s = widgets.FloatSlider(
                value=0.0,
                min=-self.span,
                max=self.span,
                step=0.05,
                description=f"z{d}",
                description_allow_html=False,
                readout_format=".2f",
                continuous_update=True,
                tooltip=tip,
                layout=widgets.Layout(width="270px"),
                style={"description_width": "36px"},
            )
            s.observe(self.callback(self._on_slider), names="value")
            self.sliders.append(s)

        self.image = widgets.Image(format="png")
        self.image.add_class("latent-image")
        self.original = widgets.Image(format="png")
        self.original.add_class("latent-original")
        self.original.layout.visibility = "hidden"
        self.info = widgets.HTML()
        self.info.add_class("latent-info")
        prior = widgets.Button(description="sample from prior", icon="random")
        prior.on_click(self.callback(lambda _: self.sample_prior()))
        encode = widgets.Button(description="encode a random test digit", icon="image")
        encode.on_click(self.callback(lambda _: self.encode_random()))
        encode.disabled = self.x is None
        reset = widgets.Button(description="z = 0", tooltip="set every coordinate to 0")
        reset.on_click(self.callback(lambda _: self.set_code(torch.zeros(self.latent_dim))))
        for b in (prior, encode, reset):
            b.layout.width = "auto"

        half = (len(self.sliders) + 1) // 2 if len(self.sliders) > 10 else len(self.sliders)
        columns = [widgets.VBox(self.sliders[:half]), widgets.VBox(self.sliders[half:])]
        hidden = self.latent_dim - len(self.dims)
        note = (
            f"sliders for the {len(self.dims)} dimensions with the most KL; "
            f"the other {hidden} keep their value"
            if hidden
            else ""
        )
        pictures = widgets.VBox(
            [
                widgets.HBox([self.image, self.original]),
                self.info,
            ]
        )
        self.finish(
            [
                widgets.HBox([prior, encode, reset]),
                widgets.HBox([*columns, pictures]),
                widgets.HTML(f"<small>{note}</small>") if note else widgets.HTML(),
            ]
        )

    # ----------------------------------------------------------------- state changes
    def _rank_dims(self, max_encode: int) -> None:
        mu, logvar = encode_means(self.model, self.x[:max_encode])
        self.dims, self.kl = kl_ranked_dims(mu, logvar)

    def _on_slider(self, change) -> None:
        i = self.sliders.index(change["owner"])
        self.z = set_coordinate(self.z, self.dims[i], change["new"])
        self.original.layout.visibility = "hidden"
        self.info.value = f"z{self.dims[i]} = {change['new']:+.2f}"
        self.redraw()

    def set_code(self, z, note: str = "") -> None:
        """Decode the code ``z`` (D,) and move every slider to it (clipped to the range)."""
        self.z = torch.as_tensor(z, dtype=torch.float32).detach().cpu().reshape(-1).clone()
        if self.z.shape[0] != self.latent_dim:
            raise ValueError(f"expected a code of {self.latent_dim} values, got {self.z.shape}")
        with self.quietly():
            for s, d in zip(self.sliders, self.dims, strict=True):
                s.value = float(np.clip(float(self.z[d]), -self.span, self.span))
        self.original.layout.visibility = "hidden"
        self.info.value = note
        self.redraw()

    def sample_prior(self) -> None:
        """z ~ N(0, I) from the explorer's own seeded generator, then decode."""
        self.set_code(torch.randn(self.latent_dim, generator=self.generator), "sample from N(0, I)")

    def encode_random(self, index: int | None = None) -> int:
        """z = μ(x[index]) for a random (or the given) test digit; shows the digit too."""
        if self.x is None:
            raise ValueError("no test digits were given: LatentSliders(model, x=..., ...)")
        i = int(self.rng.integers(len(self.x))) if index is None else int(index)
        mu, _ = encode_means(self.model, self.x[i : i + 1])
        label = f", a {self.labels[i]}" if self.labels is not None else ""
        self.set_code(mu[0], f"test digit #{i}{label}: z = μ(x)")
        self.original.value = digit_png(
            self.x[i].detach().float().cpu().numpy().reshape(self.x.shape[-2], self.x.shape[-1]),
            self.scale // 2,
        )
        self.original.layout.visibility = "visible"
        return i

    def redraw(self) -> None:
        """Decode ``z`` on the model's device and show it."""
        self.decoded = decode_images(self.model, self.z)[0]
        self.image.value = digit_png(self.decoded, self.scale)
