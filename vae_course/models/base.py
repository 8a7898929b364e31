"""What every VAE of the course shares: the reparameterized sample and the model interface.

Every model family (one module each in :mod:`vae_course.models`) subclasses
:class:`VAEBase` and provides ``encode(x) -> (mu, logvar)`` and ``decode(z) -> logits``;
the base class gives ``forward``, ``loss`` (named terms, see
:func:`vae_course.losses.elbo`), ``sample`` and ``reconstruct``, so the one training loop
:func:`vae_course.train.fit` works for all of them.

Shapes: images are ``(B, C, H, W)`` with values in [0, 1] (MNIST: ``(B, 1, 28, 28)``);
flattened ``(B, C*H*W)`` input is accepted too. ``logvar`` is log σ² (variance, not std).
"""

from __future__ import annotations

import torch
from torch import nn

from ..losses import FreeBits, elbo

__all__ = ["reparameterize", "VAEBase"]


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Sample z ~ N(mu, exp(logvar)) as ``z = mu + σ·ε`` with ε ~ N(0, I).

    The randomness is in ε, so gradients flow to ``mu`` and ``logvar``.
    mu, logvar: (..., D). Returns z of the same shape, on the same device.
    """
    if mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must have the same shape; got {tuple(mu.shape)} and "
            f"{tuple(logvar.shape)}"
        )
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class VAEBase(nn.Module):
    """Shared interface: encode, decode, forward, loss, sample, reconstruct."""

    image_shape: tuple[int, int, int]
    latent_dim: int
    config: dict

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Return x as (B, C, H, W) float, or raise ValueError saying what was expected."""
        c, h, w = self.image_shape
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"expected a float tensor of images (B, {c}, {h}, {w}) in [0, 1], got {got}"
                " (convert with x.float() / 255)"
            )
        n = c * h * w
        if x.dim() >= 2 and x[0].numel() == n and x.dim() in (2, 4):
            return x.reshape(x.shape[0], c, h, w)
        raise ValueError(
            f"expected images of shape (B, {c}, {h}, {w}) or (B, {n}); got {tuple(x.shape)}"
            + (" (add a batch dimension with x.unsqueeze(0))" if x.dim() in (1, 3) else "")
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encode, sample one z by reparameterization, decode.

        Returns dict with ``x_logits`` (B, C, H, W), ``mu``, ``logvar``, ``z`` (B, D).
        """
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return {"x_logits": self.decode(z), "mu": mu, "logvar": logvar, "z": z}

    def loss(
        self, x: torch.Tensor, *, beta: float = 1.0, free_bits: float | FreeBits = 0.0, **_: object
    ) -> dict[str, torch.Tensor]:
        """Named ELBO terms for a batch (see :func:`vae_course.losses.elbo`)."""
        out = self(x)
        return elbo(x, out["x_logits"], out["mu"], out["logvar"], beta=beta, free_bits=free_bits)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """Draw n images from the model: z ~ N(0, temperature² I), return p(x|z) means.

        Returns (n, C, H, W) probabilities in [0, 1], on the model's device.
        """
        device = next(self.parameters()).device
        z = temperature * torch.randn(n, self.latent_dim, device=device)
        return torch.sigmoid(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean: ``sigmoid(decode(mu(x)))``, shape (B, C, H, W)."""
        mu, _ = self.encode(x)
        return torch.sigmoid(self.decode(mu))
