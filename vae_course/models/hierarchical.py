"""A two-level hierarchical VAE with top-down (Ladder VAE) inference: z₂ → z₁ → x.

Generative model: p(z₂) = N(0, I), p(z₁|z₂) = N(μ_p(z₂), σ_p²(z₂)), p(x|z₁) Bernoulli.

Inference, top-down (Sønderby et al. 2016): one deterministic bottom-up pass computes, from x,
an estimate (μ̂₁, σ̂₁²) for z₁ and the posterior q(z₂|x) = N(μ₂, σ₂²) of the top level. Then a
top-down pass samples z₂, computes the prior p(z₁|z₂) and *merges* it with the bottom-up
estimate by precision weighting (:func:`precision_weighted_merge`, the product of two
Gaussians): q(z₁|x, z₂) ∝ N(μ̂₁, σ̂₁²) · N(μ_p, σ_p²). The inference network and the
generative model share the top-down path, so the posterior of z₁ "knows" what the prior
expects. (Bottom-up inference, q(z₁|x) q(z₂|z₁), the other option, samples z₁ first and
infers z₂ from it alone; chapter 07 explains why its top level tends to collapse.)

The ELBO has one KL per level:
``E_q[log p(x|z₁)] − KL(q(z₂|x) ‖ p(z₂)) − E_{q(z₂|x)}[KL(q(z₁|x, z₂) ‖ p(z₁|z₂))]``; the first
KL is in closed form, the second is in closed form *given* z₂ and averaged over one sample
of z₂ (no closed form exists for the expectation).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..distributions import log_normal, log_standard_normal
from ..losses import (
    FreeBits,
    _free_bits_on,
    bernoulli_log_likelihood,
    free_bits_kl,
    gaussian_kl_between,
    gaussian_kl_per_dim,
)
from .base import VAEBase, reparameterize
from .mlp import _mlp

__all__ = ["HierarchicalVAE", "precision_weighted_merge"]


def precision_weighted_merge(
    mu_a: torch.Tensor, logvar_a: torch.Tensor, mu_b: torch.Tensor, logvar_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised product of two diagonal Gaussians N(mu_a, σ_a²) · N(mu_b, σ_b²).

    Precisions add, means are precision-weighted: ``1/σ² = 1/σ_a² + 1/σ_b²`` and
    ``μ = σ² (μ_a/σ_a² + μ_b/σ_b²)``. All inputs (..., D) of one shape; returns
    ``(mu, logvar)`` of the same shape. The merged variance is below both inputs'.
    """
    for name, t in (("logvar_a", logvar_a), ("mu_b", mu_b), ("logvar_b", logvar_b)):
        if t.shape != mu_a.shape:
            raise ValueError(
                f"all four inputs need one shape; mu_a is {tuple(mu_a.shape)}, "
                f"{name} is {tuple(t.shape)}"
            )
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    logvar = -torch.logaddexp(-logvar_a, -logvar_b)  # log 1/(prec_a + prec_b), stable
    mu = (mu_a * prec_a + mu_b * prec_b) * torch.exp(logvar)
    return mu, logvar


class HierarchicalVAE(VAEBase):
    """Two stochastic levels, MLPs, top-down inference (Ladder VAE style).

    Default sizes: bottom-up 784 → 512 → 256 (→ μ̂₁, log σ̂₁² of ``latent_dims[0]``) → 128
    (→ μ₂, log σ₂² of ``latent_dims[1]``); prior p(z₁|z₂): z₂ → 128 → (μ_p, log σ_p²);
    decoder z₁ → 256 → 512 → 784.

    ``encode(x)`` returns the parameters of q(z₁|x, z₂ = μ₂) (the code the decoder reads);
    :meth:`encode_levels` gives both levels; :meth:`loss` returns the named terms of every
    course model plus ``kl_z1``, ``kl_z2`` (B,) and their per-dimension batch means
    ``kl_per_dim_z1``, ``kl_per_dim_z2``; :meth:`log_importance_weights` gives IWAE's
    log w, which :func:`vae_course.losses.iwae_bound` uses.
    """

    def __init__(
        self,
        latent_dims: tuple[int, int] | list[int] = (16, 8),
        hidden_dims: tuple[int, ...] | list[int] = (512, 256),
        top_hidden: int = 128,
        image_shape: tuple[int, int, int] | list[int] = (1, 28, 28),
    ):
        super().__init__()
        dims = [int(d) for d in latent_dims]
        if len(dims) != 2 or min(dims) < 1:
            raise ValueError(f"latent_dims must be two sizes (z1, z2) >= 1, got {latent_dims}")
        hidden = [int(h) for h in hidden_dims]
        if not hidden or top_hidden < 1:
            raise ValueError("a hierarchical VAE needs hidden layers and top_hidden >= 1")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dims = (dims[0], dims[1])
        self.latent_dim = dims[0]  # what decode reads
        n = math.prod(self.image_shape)
        self.config = {
            "latent_dims": dims,
            "hidden_dims": hidden,
            "top_hidden": int(top_hidden),
            "image_shape": list(self.image_shape),
        }
        d1, d2 = dims
        self.up1 = nn.Sequential(_mlp([n, *hidden]), nn.ReLU())
        self.stats1 = nn.Linear(hidden[-1], 2 * d1)  # bottom-up estimate for z1
        self.up2 = nn.Sequential(nn.Linear(hidden[-1], top_hidden), nn.ReLU())
        self.stats2 = nn.Linear(top_hidden, 2 * d2)  # q(z2|x)
        self.prior1 = _mlp([d2, top_hidden, 2 * d1])  # p(z1|z2)
        self.decoder = _mlp([d1, *reversed(hidden), n])

    # ------------------------------------------------------------------ the two passes
    def bottom_up(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Deterministic pass: ``mu1_hat, logvar1_hat`` (B, d1) and ``mu2, logvar2`` (B, d2)."""
        x = self._check_input(x)
        h = self.up1(x.reshape(x.shape[0], -1))
        mu1_hat, logvar1_hat = self.stats1(h).chunk(2, dim=1)
        mu2, logvar2 = self.stats2(self.up2(h)).chunk(2, dim=1)
        return {"mu1_hat": mu1_hat, "logvar1_hat": logvar1_hat, "mu2": mu2, "logvar2": logvar2}

    def prior_z1(self, z2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z₁|z₂): ``(mu, logvar)`` each (B, d1) for z2 (B, d2)."""
        if z2.dim() != 2 or z2.shape[1] != self.latent_dims[1]:
            raise ValueError(
                f"expected z2 of shape (B, {self.latent_dims[1]}), got {tuple(z2.shape)}"
            )
        mu, logvar = self.prior1(z2).chunk(2, dim=1)
        return mu, logvar

    def infer(self, x: torch.Tensor, sample: bool = True) -> dict[str, torch.Tensor]:
        """Bottom-up, then top-down: z₂ ~ q(z₂|x), then q(z₁|x, z₂) by the merge, z₁ from it.

        ``sample=False`` uses the means instead of samples. Returns the bottom-up terms plus
        ``z2``, ``mu_p1, logvar_p1`` (the prior of z₁ given z₂), ``mu1, logvar1`` (q of z₁)
        and ``z1``, all (B, ·).
        """
        out = self.bottom_up(x)
        out["z2"] = reparameterize(out["mu2"], out["logvar2"]) if sample else out["mu2"]
        out["mu_p1"], out["logvar_p1"] = self.prior_z1(out["z2"])
        out["mu1"], out["logvar1"] = precision_weighted_merge(
            out["mu1_hat"], out["logvar1_hat"], out["mu_p1"], out["logvar_p1"]
        )
        out["z1"] = reparameterize(out["mu1"], out["logvar1"]) if sample else out["mu1"]
        return out

    # ------------------------------------------------------------------ course interface
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z₁|x, z₂ = μ₂(x)): ``(mu, logvar)`` each (B, d1)."""
        out = self.infer(x, sample=False)
        return out["mu1"], out["logvar1"]

    def encode_levels(self, x: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Posterior parameters of both levels (z₂ at its mean): {"z1": (mu, logvar), "z2": ...}."""
        out = self.infer(x, sample=False)
        return {"z1": (out["mu1"], out["logvar1"]), "z2": (out["mu2"], out["logvar2"])}

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """p(x|z₁): Bernoulli logits (B, C, H, W) for z (B, d1)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z1 of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z).reshape(z.shape[0], *self.image_shape)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.infer(x)
        out["x_logits"] = self.decode(out["z1"])
        out["mu"], out["logvar"], out["z"] = out["mu1"], out["logvar1"], out["z1"]
        return out

    def loss(
        self, x: torch.Tensor, *, beta: float = 1.0, free_bits: float | FreeBits = 0.0, **_: object
    ) -> dict[str, torch.Tensor]:
        """Named terms of the two-level ELBO for a batch, nats.

        ``reconstruction``, ``kl_z1``, ``kl_z2``, ``kl`` = their sum and ``elbo`` =
        reconstruction − kl, each (B,); ``kl_per_dim_z1`` (d1,), ``kl_per_dim_z2`` (d2,)
        batch means; ``loss`` the scalar to minimise, ``mean(−reconstruction + β·KL)``,
        where with ``free_bits`` λ each dimension of each level contributes
        ``max(λ, its batch-mean KL)`` (the ``elbo`` stays the true bound); a
        :class:`~vae_course.losses.FreeBits` groups dimensions within each level.
        """
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        fb_on = _free_bits_on(free_bits)
        out = self(x)
        rec = bernoulli_log_likelihood(x, out["x_logits"])
        kl2_dims = gaussian_kl_per_dim(out["mu2"], out["logvar2"])
        kl1_dims = gaussian_kl_between(out["mu1"], out["logvar1"], out["mu_p1"], out["logvar_p1"])
        kl1, kl2 = kl1_dims.sum(1), kl2_dims.sum(1)
        kl = kl1 + kl2
        per1, per2 = kl1_dims.mean(0), kl2_dims.mean(0)
        if fb_on:
            kl_term = free_bits_kl(per1, free_bits) + free_bits_kl(per2, free_bits)
        else:
            kl_term = kl.mean()
        return {
            "loss": -rec.mean() + beta * kl_term,
            "elbo": rec - kl,
            "reconstruction": rec,
            "kl": kl,
            "kl_z1": kl1,
            "kl_z2": kl2,
            "kl_per_dim": torch.cat([per1, per2]).detach(),
            "kl_per_dim_z1": per1.detach(),
            "kl_per_dim_z2": per2.detach(),
        }

    def log_importance_weights(self, x: torch.Tensor, k: int = 1) -> torch.Tensor:
        """log w = log p(x|z₁) + log p(z₁|z₂) + log p(z₂) − log q(z₁|x, z₂) − log q(z₂|x).

        One (z₂, z₁) drawn top-down from q per row; returns (k, B) nats. Their
        ``logsumexp − log k`` is IWAE_k; their mean over rows, the ELBO in expectation.
        """
        x = self._check_input(x)
        rows = []
        for _ in range(int(k)):
            out = self(x)
            log_px = bernoulli_log_likelihood(x, out["x_logits"])
            log_pz2 = log_standard_normal(out["z2"]).sum(1)
            log_pz1 = log_normal(out["z1"], out["mu_p1"], out["logvar_p1"]).sum(1)
            log_qz2 = log_normal(out["z2"], out["mu2"], out["logvar2"]).sum(1)
            log_qz1 = log_normal(out["z1"], out["mu1"], out["logvar1"]).sum(1)
            rows.append(log_px + log_pz1 + log_pz2 - log_qz1 - log_qz2)
        return torch.stack(rows)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """Ancestral sampling, top-down: z₂ ~ N(0, T²I), z₁ ~ p(z₁|z₂) (noise scaled by T),
        x = p(x|z₁) means. Returns (n, C, H, W) probabilities on the model's device."""
        device = next(self.parameters()).device
        z2 = temperature * torch.randn(n, self.latent_dims[1], device=device)
        mu, logvar = self.prior_z1(z2)
        z1 = mu + temperature * torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return torch.sigmoid(self.decode(z1))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the top-down posterior means (z₂ = μ₂, z₁ = its merged mean): (B, C, H, W)."""
        return torch.sigmoid(self.decode(self.encode(x)[0]))
