"""Small, repeatable experiments the chapters run: train a family of models, summarise each.

:func:`beta_sweep` (chapter 05) trains one model per (β, seed) on the same data with the
same architecture and budget, then measures each on data with known factors: rate
(KL, nats), distortion (−reconstruction, nats), KL per dimension, active units, the
(codes × factors) mutual-information matrix and MIG (see
:mod:`vae_course.disentanglement` for which MIG estimator). :func:`traversal_grid` decodes
sweeps of several latent dimensions for static figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from .disentanglement import mig_per_factor, mutual_information_matrix
from .inference import encode_means
from .losses import gaussian_kl_per_dim
from .metrics import elbo_estimate
from .train import fit
from .widgets.logic import decode_images, traversal_codes, traversal_values

__all__ = ["BetaRun", "beta_sweep", "summarise_run", "traversal_grid"]


@dataclass
class BetaRun:
    """One trained model of a β sweep and its measurements (nats per example).

    ``rate`` = mean KL(q(z|x) ‖ p(z)); ``distortion`` = −mean E_q[log p(x|z)] (one z per
    x); ``kl_per_dim`` (d,); ``active`` = active units as notebook 04 counts them (Burda et al.
    2016: ``mu_var`` (d,), the posterior mean's variance over the data, above 0.01, as
    ``metrics.active_units``);
    ``mi`` (d, K) mutual information of each posterior-mean code with each factor, nats;
    ``mig_per_factor`` (K,); ``mig`` their mean; ``seconds`` of training.
    """

    beta: float
    seed: int
    model: torch.nn.Module
    history: dict
    rate: float = 0.0
    distortion: float = 0.0
    kl_per_dim: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    active: int = 0
    mu_var: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    mi: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    mig_per_factor: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    mig: float = 0.0
    seconds: float = 0.0

    def row(self) -> dict:
        """The run's numbers as a flat dict (for a table)."""
        return {
            "beta": self.beta,
            "seed": self.seed,
            "rate": round(self.rate, 2),
            "distortion": round(self.distortion, 2),
            "active": self.active,
            "mig": round(self.mig, 3),
            "seconds": round(self.seconds, 1),
        }


def summarise_run(run: BetaRun, x: torch.Tensor, factors: torch.Tensor, num_bins: int = 20):
    """Fill in ``run``'s measurements on images ``x`` (N, C, H, W) with factors (N, K)."""
    terms = elbo_estimate(run.model, x)
    run.rate, run.distortion = terms["kl"], -terms["reconstruction"]
    mu, logvar = encode_means(run.model, x)
    run.kl_per_dim = gaussian_kl_per_dim(mu, logvar).mean(dim=0)
    run.mu_var = mu.var(dim=0)
    run.active = int((run.mu_var > 0.01).sum())  # = metrics.active_units on the same x
    run.mi = mutual_information_matrix(mu, factors, num_bins)
    run.mig_per_factor = mig_per_factor(mu, factors, num_bins)
    run.mig = float(torch.nanmean(run.mig_per_factor))
    return run


def beta_sweep(
    make_model: Callable[[], torch.nn.Module],
    x: torch.Tensor,
    factors: torch.Tensor,
    betas: Iterable[float],
    seeds: Iterable[int] = (0,),
    *,
    epochs: int = 15,
    batch_size: int = 64,
    lr: float = 1e-3,
    progress: bool = True,
    **fit_kwargs,
) -> list[BetaRun]:
    """Train ``make_model()`` once per (β, seed) on ``x``; measure each on (x, factors).

    x: (N, C, H, W) in [0, 1]; factors: (N, K) int64. Each run seeds everything with its
    seed before building the model, so runs repeat exactly on a CPU. Returns the runs,
    β-major (all seeds of the first β first).
    """
    runs = []
    for beta in betas:
        for seed in seeds:
            torch.manual_seed(seed)
            model = make_model()
            history = fit(
                model,
                x,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                beta=float(beta),
                seed=seed,
                progress=progress,
                **fit_kwargs,
            )
            run = BetaRun(float(beta), int(seed), model, history)
            run.seconds = float(sum(history.get("seconds", [0.0])))
            runs.append(summarise_run(run, x, factors))
    return runs


@torch.no_grad()
def traversal_grid(
    model, x_base: torch.Tensor, dims: list[int], steps: int = 9, sigma: float = 2.5
) -> np.ndarray:
    """Decode sweeps of each dimension in ``dims`` from one input's posterior mean.

    x_base: (1, C, H, W). Coordinate ``dims[r]`` goes over ``steps`` values in
    [−sigma, +sigma]; all other coordinates stay at μ(x_base). Returns float32
    (len(dims), steps, H, W) in [0, 1]: row r is the sweep of ``dims[r]``.
    """
    if x_base.shape[0] != 1:
        raise ValueError(f"x_base must hold one image (1, C, H, W), got {tuple(x_base.shape)}")
    mu, _ = encode_means(model, x_base)
    values = traversal_values(steps, sigma)
    rows = [decode_images(model, traversal_codes(mu, d, values)) for d in dims]
    return np.stack(rows).astype(np.float32)


@torch.no_grad()
def level_grid(model, n_rows: int = 6, n_cols: int = 8, seed: int = 0) -> torch.Tensor:
    """What each level of a two-level VAE draws: rows share z₂, columns vary z₁ given it.

    Row r draws z₂ ~ N(0, I); column 0 decodes z₁ = the mean of p(z₁|z₂), columns 1, 2, …
    decode z₁ ~ p(z₁|z₂). Seeded with its own generator (the caller's RNG is left alone).
    Returns (n_rows · n_cols, C, H, W) probabilities on the CPU, row-major (show it with
    ``show_images(..., nrow=n_cols)``).
    """
    if n_rows < 1 or n_cols < 2:
        raise ValueError(f"need n_rows >= 1 and n_cols >= 2, got {n_rows} and {n_cols}")
    g = torch.Generator().manual_seed(seed)
    d1, d2 = model.latent_dims
    device = next(model.parameters()).device
    z2 = torch.randn(n_rows, d2, generator=g).to(device)
    mu, logvar = model.prior_z1(z2)  # (n_rows, d1)
    eps = torch.randn(n_rows, n_cols - 1, d1, generator=g).to(device)
    z1 = torch.cat([mu[:, None], mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps], dim=1)
    return torch.sigmoid(model.decode(z1.reshape(-1, d1))).cpu()
