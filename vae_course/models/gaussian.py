"""A VAE with a Gaussian decoder p(x|z) = N(x; m(z), σ² I) for grey-level images (chapter 10).

The decoder's mean is m(z) = sigmoid(decode(z)), so ``decode`` returns the mean's logits and
:meth:`~vae_course.models.VAEBase.sample` / :meth:`~vae_course.models.VAEBase.reconstruct`
return means in [0, 1], as for the Bernoulli models. The variance σ² is either

* fixed: ``x_var=1.0`` (the common ``Normal(mean, 1)``) or ``x_var=0.5`` (what a summed
  ``mse_loss`` silently assumes: −log N(x; m, ½) = Σ (x − m)² + const, chapter 02), or
* learned: ``x_var=None``, one shared σ² set to its optimum: for a fixed mean m, the σ²
  that maximises Σ log N(x_i; m_i, σ²) is the mean squared error per pixel (ex04's
  derivation). Each training batch sets σ² to its own mean squared error (a constant for
  the gradient, as in the "optimal σ-VAE" of Rybkin et al. 2021) and keeps a running
  average in a buffer, which evaluation uses. It never goes below ``min_var``.

The reconstruction term is Σ_pixels log N(x_i; m_i, σ²) = −Σ (x_i − m_i)² / (2σ²) + const:
a larger σ² weighs every pixel's error less against the KL, which acts like a larger β.
The ELBO of a Gaussian decoder is a density on [0, 1]^784, in nats; it is not comparable
with a Bernoulli model's bound on binary digits.
"""

from __future__ import annotations

import math

import torch

from ..distributions import log_normal, log_standard_normal
from ..losses import FreeBits, elbo
from .mlp import MLPVAE

__all__ = ["GaussianMLPVAE"]


def _is_number(v: object) -> bool:
    """An int or float, not a bool (True is not a variance)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class GaussianMLPVAE(MLPVAE):
    """The fully connected VAE of :class:`MLPVAE` with a Gaussian decoder of variance σ².

    encode: x (B, 1, 28, 28) → mu, logvar (B, latent_dim); decode: z → logits of the mean
    (B, 1, 28, 28). ``x_var``: a fixed σ² > 0, or ``None`` to learn one shared σ² (its
    optimum per batch, floored at ``min_var``).
    """

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dims: tuple[int, ...] | list[int] = (512, 256),
        x_var: float | None = 1.0,
        min_var: float = 1e-4,
        image_shape: tuple[int, int, int] | list[int] = (1, 28, 28),
    ):
        super().__init__(latent_dim=latent_dim, hidden_dims=hidden_dims, image_shape=image_shape)
        if x_var is not None and not (_is_number(x_var) and 0 < x_var < math.inf):
            raise ValueError(
                f"x_var must be a finite variance > 0, or None to learn it; got {x_var!r}"
            )
        if not (_is_number(min_var) and 0 < min_var < math.inf):
            raise ValueError(f"min_var must be a finite number > 0, got {min_var!r}")
        self.config["x_var"] = None if x_var is None else float(x_var)
        self.config["min_var"] = float(min_var)
        self.learned_var = x_var is None
        # whether a training batch has set σ² yet (a buffer, so a loaded checkpoint remembers)
        self.register_buffer("var_initialised", torch.tensor(False))
        self.min_var = float(min_var)
        # log σ² of p(x|z); when learned, starts at σ² = 1 and follows each batch's optimum
        self.register_buffer("x_logvar", torch.tensor(0.0 if x_var is None else math.log(x_var)))

    @property
    def x_var(self) -> float:
        """The decoder's variance σ² (per pixel, intensity units squared)."""
        return float(self.x_logvar.detach().exp())

    def loss(
        self, x: torch.Tensor, *, beta: float = 1.0, free_bits: float | FreeBits = 0.0, **_: object
    ) -> dict[str, torch.Tensor]:
        """Named ELBO terms with the Gaussian likelihood (see :func:`vae_course.losses.elbo`)."""
        out = self(x)
        mean = torch.sigmoid(out["x_logits"])
        x = x.reshape(mean.shape)
        if self.learned_var and self.training:
            with torch.no_grad():  # σ² that maximises this batch's likelihood, a constant here
                best = ((x - mean) ** 2).mean().clamp(min=self.min_var).log()
                if not bool(self.var_initialised):
                    self.x_logvar.copy_(best)
                    self.var_initialised.fill_(True)
                else:  # running average of log σ² for evaluation
                    self.x_logvar.mul_(0.9).add_(0.1 * best)
            x_logvar = best
        else:
            x_logvar = self.x_logvar
        return elbo(
            x,
            mean,
            out["mu"],
            out["logvar"],
            beta=beta,
            free_bits=free_bits,
            likelihood="gaussian",
            x_logvar=x_logvar,
        )

    def log_importance_weights(self, x: torch.Tensor, k: int = 1) -> torch.Tensor:
        """log w = log N(x; m(z), σ²) + log p(z) − log q(z|x) for k draws z ~ q(z|x): (k, B)."""
        x = self._check_input(x)
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn((k, *mu.shape), device=mu.device)
        mean = torch.sigmoid(self.decode(z.reshape(-1, self.latent_dim)))
        mean = mean.reshape(k, x.shape[0], -1)
        log_px = log_normal(x.reshape(1, x.shape[0], -1), mean, self.x_logvar).sum(-1)
        return log_px + log_standard_normal(z).sum(-1) - log_normal(z, mu, logvar).sum(-1)
