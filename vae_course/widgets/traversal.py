"""``Traversal``: sweep one latent dimension over ±kσ for a few inputs (β-VAE's view)."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch

from .base import Explorer, as_index_source
from .logic import decode_images, encode_means, kl_ranked_dims, traversal_codes, traversal_values
from .render import png_bytes, to_uint8, upscale

__all__ = ["Traversal"]


class Traversal(Explorer):
    """Rows: a few test digits; columns: the digit, then z[dim] swept from −σ·k to +σ·k.

    model: trained VAE (any device). x: test images (N, 1, H, W); labels optional.
    dim: latent dimension to sweep (default: the one with the most KL). n_inputs: rows.
    steps: columns of the sweep. sigma: the sweep's half-width in prior standard deviations
    (3 = ±3σ of N(0, 1)); every other coordinate stays at the input's μ(x).
    State: ``indices`` of the inputs, ``values`` (steps,), ``decoded`` (n_inputs, steps, H, W).
    """

    css_class = "latent-traversal"

    def __init__(
        self,
        model,
        x: torch.Tensor,
        labels=None,
        dim: int | None = None,
        n_inputs: int = 4,
        steps: int = 9,
        sigma: float = 3.0,
        scale: int = 2,
        seed: int = 0,
        max_encode: int = 1000,
    ):
        super().__init__(model)
        self.x, self.labels = as_index_source(x, labels)
        self.latent_dim = int(model.latent_dim)
        self.n_inputs, self.steps, self.scale = int(n_inputs), int(steps), int(scale)
        self.rng = np.random.default_rng(seed)
        self.indices = self._random_indices()
        order, kl = list(range(self.latent_dim)), None
        mu_logvar = []
        if self.guard(lambda: mu_logvar.extend(encode_means(model, self.x[:max_encode]))):
            order, kl = kl_ranked_dims(*mu_logvar)
        self.kl = kl

        def name(d):
            return f"z{d} (KL {float(kl[d]):.2f})" if kl is not None else f"z{d}"

        self.dim = widgets.Dropdown(
            options=[(name(d), d) for d in order],
            value=order[0] if dim is None else int(dim),
            description="dimension",
        )
        self.dim.layout.width = "230px"
        self.dim.observe(self.callback(self._on_change), names="value")
        self.sigma = widgets.FloatSlider(
            value=float(sigma),
            min=0.5,
            max=5.0,
            step=0.5,
            description="±σ·",
            readout_format=".1f",
            continuous_update=True,
            layout=widgets.Layout(width="280px"),
        )
        self.sigma.observe(self.callback(self._on_change), names="value")
        again = widgets.Button(description="new inputs", icon="random")
        again.layout.width = "auto"
        again.on_click(self.callback(lambda _: self.new_inputs()))
        self.image = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
        self.image.add_class("latent-image")
        self.info = widgets.HTML()
        self.info.add_class("latent-info")
        self.finish([widgets.HBox([self.dim, self.sigma, again]), self.image, self.info])

    def _random_indices(self) -> list[int]:
        k = min(self.n_inputs, len(self.x))
        return [int(i) for i in self.rng.choice(len(self.x), size=k, replace=False)]

    def _on_change(self, change) -> None:
        self.redraw()

    def new_inputs(self) -> list[int]:
        """Choose other random test digits as the rows."""
        self.indices = self._random_indices()
        self.redraw()
        return self.indices

    def redraw(self) -> None:
        d = int(self.dim.value)
        self.values = traversal_values(self.steps, float(self.sigma.value))
        mu, _ = encode_means(self.model, self.x[self.indices])
        self.decoded = decode_images(self.model, traversal_codes(mu, d, self.values)).reshape(
            len(self.indices), self.steps, *self.x.shape[-2:]
        )
        k, s, (h, w) = len(self.indices), self.steps, self.x.shape[-2:]
        originals = self.x[self.indices].detach().float().cpu().numpy().reshape(k * h, w)
        sweep = self.decoded.transpose(0, 2, 1, 3).reshape(k * h, s * w)
        gap = np.zeros((k * h, 4), np.float32)  # a thin white gap: input | sweep
        img = np.concatenate([originals, gap, sweep], axis=1)
        self.image.value = png_bytes(upscale(to_uint8(img), self.scale))
        self.info.value = (
            f"left: the input; then z{d} = "
            + ", ".join(f"{v:+.1f}" for v in self.values.tolist())
            + " with every other coordinate at μ(x)"
        )
