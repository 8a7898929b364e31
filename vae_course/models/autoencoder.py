"""The plain (deterministic) autoencoder: the VAE without the Gaussian posterior and the KL.

The encoder maps x to one code z = f(x) and the decoder gives Bernoulli logits for p(x|z),
exactly as in :class:`vae_course.models.MLPVAE` (784-512-256-20 by default), but training
maximises the reconstruction term alone. There is no prior p(z) and no ELBO, so

* ``loss(x)`` returns ``loss`` and the per-example ``reconstruction`` only (no ``elbo``,
  no ``kl``): :func:`vae_course.train.fit` logs ``train_reconstruction`` and trains it;
* ``encode(x)`` returns ``(z, logvar)`` with ``logvar = −inf``: the code is a point mass
  q(z|x) = δ(z − f(x)), the σ → 0 limit of a Gaussian posterior. Everything that uses
  the posterior mean (interpolation, active units, latent plots) works unchanged;
  ``reparameterize(z, logvar)`` returns z exactly, and the KL to N(0, I) is +inf, which
  is the honest value for a point mass (an autoencoder pays no rate, so it has none);
* ``sample(n)`` raises: with no prior there is nothing to sample from.
  :meth:`Autoencoder.sample_from_code_gaussian` is the usual workaround (ex-post density
  estimation, Ghosh et al. 2020): fit a Gaussian to the codes of training digits and decode
  draws from it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..losses import bernoulli_log_likelihood
from .base import VAEBase
from .mlp import _mlp

__all__ = ["Autoencoder", "fit_code_gaussian"]


def fit_code_gaussian(
    codes: torch.Tensor, jitter: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and Cholesky factor L (D, D) of the Gaussian fitted to codes (N, D).

    The covariance is the unbiased sample covariance plus ``jitter``·I (so L exists even
    for a dimension the codes do not use); L Lᵀ = Σ. Needs N ≥ 2 finite codes.
    """
    if not isinstance(codes, torch.Tensor) or not codes.is_floating_point() or codes.dim() != 2:
        got = tuple(codes.shape) if isinstance(codes, torch.Tensor) else type(codes).__name__
        raise ValueError(f"codes must be a float tensor (N, D), got {got}")
    if codes.shape[0] < 2:
        raise ValueError(f"need at least 2 codes to fit a covariance, got {codes.shape[0]}")
    if not torch.isfinite(codes).all():
        raise ValueError("codes contain NaN/inf values")
    codes = codes.double()
    mean = codes.mean(dim=0)
    cov = torch.cov(codes.T).reshape(codes.shape[1], codes.shape[1])
    cov = cov + jitter * torch.eye(codes.shape[1], dtype=cov.dtype, device=cov.device)
    return mean, torch.linalg.cholesky(cov)


class Autoencoder(nn.Module):
    """Deterministic MLP autoencoder with a Bernoulli decoder.

    Default: encoder 784 → 512 → 256 → z of 20, decoder 20 → 256 → 512 → 784 (ReLU
    between layers), the same layers as :class:`MLPVAE` except that the encoder's last layer
    outputs z (D values) instead of (μ, log σ²) (2·D values).

    encode: x (B, 1, 28, 28) or (B, 784) in [0, 1] → z (B, latent_dim), logvar (B, latent_dim)
    filled with −inf (a point-mass code)
    decode: z (B, latent_dim) → Bernoulli logits (B, 1, 28, 28)
    """

    # The input check (shape, dtype, helpful messages) is the VAEs' one.
    _check_input = VAEBase._check_input

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dims: tuple[int, ...] | list[int] = (512, 256),
        image_shape: tuple[int, int, int] | list[int] = (1, 28, 28),
    ):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = int(latent_dim)
        hidden = [int(h) for h in hidden_dims]
        n = math.prod(self.image_shape)
        self.config = {
            "latent_dim": self.latent_dim,
            "hidden_dims": hidden,
            "image_shape": list(self.image_shape),
        }
        self.encoder = _mlp([n, *hidden, self.latent_dim])
        self.decoder = _mlp([self.latent_dim, *reversed(hidden), n])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The code z = f(x) (B, D) and logvar (B, D) = −inf: q(z|x) is a point mass at z.

        Deterministic in train and eval mode alike (no noise, no dropout).
        """
        x = self._check_input(x)
        z = self.encoder(x.reshape(x.shape[0], -1))
        return z, torch.full_like(z, -math.inf)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (B, C, H, W) of p(x|z) for codes z (B, D)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z).reshape(z.shape[0], *self.image_shape)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encode and decode. Returns ``x_logits`` (B, C, H, W) and ``z`` (B, D)."""
        z, _ = self.encode(x)
        return {"x_logits": self.decode(z), "z": z}

    def loss(self, x: torch.Tensor, **_: object) -> dict[str, torch.Tensor]:
        """The reconstruction objective; β, free bits and labels are ignored (there is no KL).

        Returns ``loss``: −mean over the batch of log p(x|f(x)) (a scalar, nats per example)
        and ``reconstruction``: log p(x|f(x)) per example (B,), nats summed over pixels.
        No ``elbo`` and no ``kl``: an autoencoder has neither.
        """
        out = self(x)
        rec = bernoulli_log_likelihood(x, out["x_logits"])
        return {"loss": -rec.mean(), "reconstruction": rec}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``sigmoid(decode(encode(x)))``: p(x|z) means (B, C, H, W) in [0, 1]."""
        z, _ = self.encode(x)
        return torch.sigmoid(self.decode(z))

    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """Not defined: an autoencoder has no prior p(z). Always raises NotImplementedError."""
        raise NotImplementedError(
            "an Autoencoder has no prior p(z) to sample from: nothing in its training makes "
            "the codes of digits look like N(0, I), so decoding z ~ N(0, I) gives no digits. "
            "Fit a density to the codes of training digits instead, e.g. "
            "model.sample_from_code_gaussian(n, codes) with codes = model.encode(x)[0]"
        )

    @torch.no_grad()
    def sample_from_code_gaussian(
        self,
        n: int,
        codes: torch.Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decode n draws from a Gaussian fitted to ``codes`` (N, D) (:func:`fit_code_gaussian`).

        z = mean + temperature · L ε, ε ~ N(0, I) drawn on the CPU (with ``generator`` if
        given, so the draw is seeded). Returns (n, C, H, W) p(x|z) means in [0, 1], on the
        model's device.
        """
        if codes.dim() != 2 or codes.shape[1] != self.latent_dim:
            raise ValueError(
                f"codes must be (N, {self.latent_dim}) (from model.encode(x)[0]), "
                f"got {tuple(codes.shape)}"
            )
        mean, chol = fit_code_gaussian(codes.detach().cpu())
        eps = torch.randn(int(n), self.latent_dim, generator=generator, dtype=torch.float64)
        z = mean + temperature * eps @ chol.T
        device = next(self.parameters()).device
        return torch.sigmoid(self.decode(z.float().to(device)))
