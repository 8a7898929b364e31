"""A VAE whose decoder is autoregressive over pixels, so it needs z less (chapter 10).

p(x | z) = ∏ᵢ Bernoulli(xᵢ | σ(aᵢ)), aᵢ = [W_< x]ᵢ + [g(z)]ᵢ + bᵢ,

where W_< is strictly lower triangular in raster order (pixel i sees pixels 0 … i−1 only: a
fully visible sigmoid belief net, Frey 1998; Larochelle & Murray 2011) and g is the MLP
decoder of :class:`~vae_course.models.MLPVAE`. The W_< term alone is a density model of
binary digits, so the decoder can explain much of x without z, and the ELBO's KL term
pushes the code to carry less (posterior collapse; Chen et al. 2017, "Variational Lossy
Autoencoder", explain why an autoregressive decoder prefers to ignore the code). This one is
a linear autoregression: notebook 10 measures a partial collapse (about half the plain VAE's
KL at 12 epochs), not a code that goes unused.
``autoregressive=False`` drops W_< and leaves the plain MLP VAE.

The likelihood of a given x is one pass (teacher forcing: every aᵢ from the observed pixels);
sampling is 784 sequential steps.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..losses import FreeBits, bernoulli_log_likelihood, elbo
from .base import VAEBase, reparameterize
from .mlp import _mlp

__all__ = ["MaskedLinear", "AutoregressiveVAE"]


class MaskedLinear(nn.Linear):
    """A square linear map whose output i depends only on inputs 0 … i−1 (strictly lower).

    x: (B, n) → (B, n). The mask is a buffer, so masked weights never act, whatever their value.
    """

    def __init__(self, n: int, bias: bool = False):
        super().__init__(n, n, bias=bias)
        self.register_buffer("mask", torch.tril(torch.ones(n, n), diagonal=-1))
        with torch.no_grad():
            self.weight.mul_(self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class AutoregressiveVAE(VAEBase):
    """MLP encoder; decoder = MLP(z) plus an autoregressive term over the pixels.

    encode: x (B, 1, 28, 28) → mu, logvar (B, latent_dim)
    decode: z (B, latent_dim) and x (B, 1, 28, 28) → logits (B, 1, 28, 28), logit i from
    z and the pixels before i in raster order (``x=None`` is refused when autoregressive).
    """

    def __init__(
        self,
        latent_dim: int = 32,
        hidden_dims: tuple[int, ...] | list[int] = (512, 256),
        autoregressive: bool = True,
        image_shape: tuple[int, int, int] | list[int] = (1, 28, 28),
    ):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = int(latent_dim)
        hidden = [int(h) for h in hidden_dims]
        if not hidden:
            raise ValueError("hidden_dims needs at least one layer")
        n = math.prod(self.image_shape)
        self.autoregressive = bool(autoregressive)
        self.config = {
            "latent_dim": self.latent_dim,
            "hidden_dims": hidden,
            "autoregressive": self.autoregressive,
            "image_shape": list(self.image_shape),
        }
        self.encoder = nn.Sequential(_mlp([n, *hidden]), nn.ReLU())
        self.to_stats = nn.Linear(hidden[-1], 2 * self.latent_dim)
        self.decoder = _mlp([self.latent_dim, *reversed(hidden), n])
        self.pixels = MaskedLinear(n) if self.autoregressive else None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._check_input(x)
        mu, logvar = self.to_stats(self.encoder(x.reshape(x.shape[0], -1))).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        logits = self.decoder(z)
        if self.pixels is not None:
            if x is None:
                raise ValueError(
                    "an autoregressive decoder needs the pixels it conditions on: decode(z, x) "
                    "(teacher forcing), or sample() to draw them one by one"
                )
            x = self._check_input(x)
            if x.shape[0] != z.shape[0]:
                raise ValueError(f"z has {z.shape[0]} rows but x has {x.shape[0]} images")
            logits = logits + self.pixels(x.reshape(x.shape[0], -1))
        return logits.reshape(z.shape[0], *self.image_shape)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return {"x_logits": self.decode(z, x), "mu": mu, "logvar": logvar, "z": z}

    def loss(
        self, x: torch.Tensor, *, beta: float = 1.0, free_bits: float | FreeBits = 0.0, **_
    ) -> dict[str, torch.Tensor]:
        """Named ELBO terms (see :func:`vae_course.losses.elbo`); the likelihood is exact."""
        out = self(x)
        return elbo(x, out["x_logits"], out["mu"], out["logvar"], beta=beta, free_bits=free_bits)

    def log_importance_weights(self, x: torch.Tensor, k: int = 1) -> torch.Tensor:
        """log w = log p(x|z) + log p(z) − log q(z|x) for k draws z ~ q(z|x): (k, B) nats."""
        from ..distributions import log_normal, log_standard_normal

        x = self._check_input(x)
        mu, logvar = self.encode(x)
        b = x.shape[0]
        z = mu + torch.exp(0.5 * logvar) * torch.randn((k, *mu.shape), device=mu.device)
        xr = x.unsqueeze(0).expand(k, *x.shape).reshape(k * b, *x.shape[1:])
        logits = self.decode(z.reshape(k * b, -1), xr)
        log_px = bernoulli_log_likelihood(xr, logits).reshape(k, b)
        return log_px + log_standard_normal(z).sum(-1) - log_normal(z, mu, logvar).sum(-1)

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, z: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Draw n binary images: z ~ N(0, temperature² I) (or the given z), then pixel by pixel.

        Returns (n, C, H, W) in {0, 1}. With ``autoregressive=False`` it returns the decoder's
        probabilities, as every other model's ``sample`` does.
        """
        device = next(self.parameters()).device
        if z is None:
            z = temperature * torch.randn(n, self.latent_dim, device=device)
        if self.pixels is None:
            return torch.sigmoid(self.decode(z))
        base = self.decoder(z)  # (n, P): the z part of every logit
        weight = self.pixels.weight * self.pixels.mask
        x = torch.zeros_like(base)
        for i in range(x.shape[1]):
            logit = base[:, i] + x @ weight[i]
            x[:, i] = torch.bernoulli(torch.sigmoid(logit))
        return x.reshape(z.shape[0], *self.image_shape)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel probabilities of x given μ(x) and x's own earlier pixels (teacher forcing)."""
        mu, _ = self.encode(x)
        return torch.sigmoid(self.decode(mu, x))
