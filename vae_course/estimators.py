"""Monte Carlo estimators of chapters 01–03, each returning *samples* so their error is measurable.

* log p(x): :func:`naive_mc_log_marginal` (z from the prior) and
  :func:`importance_log_marginal` (z from a proposal q(z|x); k = 1 is the ELBO, k > 1 the
  IWAE bound), built on :func:`importance_log_weights`.
* KL(q ‖ p(z)) by sampling: :func:`kl_mc_samples`, to compare with the closed form
  :func:`vae_course.losses.gaussian_kl`.
* ∇ E_{z~N(mu, σ²)}[f(z)]: :func:`score_function_gradient` (REINFORCE) and
  :func:`reparameterization_gradient`, both returning one gradient per sample.
* :func:`mean_and_se`: a sample mean and its standard error.

``model`` arguments are duck-typed: anything with ``sample_prior(n, generator)``,
``log_likelihood(x, z)`` and ``log_prior(z)`` (e.g. :mod:`vae_course.toy`). Units: nats per
example. Pass a seeded ``torch.Generator`` to make an estimate repeatable.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .distributions import log_normal, log_standard_normal
from .losses import log_mean_exp

__all__ = [
    "mean_and_se",
    "naive_mc_log_marginal",
    "importance_log_weights",
    "importance_log_marginal",
    "kl_mc_samples",
    "score_function_gradient",
    "reparameterization_gradient",
    "variance_of_estimate",
]


def mean_and_se(samples: torch.Tensor, dim: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample mean and standard error ``std / sqrt(n)`` along ``dim`` (n ≥ 2 samples)."""
    n = samples.shape[dim]
    if n < 2:
        raise ValueError(f"need at least 2 samples along dim {dim} for a standard error, got {n}")
    return samples.mean(dim), samples.std(dim) / math.sqrt(n)


def _check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (samples per example) must be a positive int, got {k!r}")


def naive_mc_log_marginal(
    model, x: torch.Tensor, k: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Naive Monte Carlo estimate ``log (1/k) Σ_i p(x | z_i)`` with z_i ~ p(z).

    x: (B, D). Returns (B,) nats: one estimate per example. It is a consistent estimator
    of log p(x) but biased low for finite k (Jensen), and its variance explodes when
    the prior rarely proposes a z that explains x (high latent dimension, sharp p(x|z)).
    """
    _check_k(k)
    z = model.sample_prior(k * x.shape[0], generator)
    z = z.reshape(k, x.shape[0], *z.shape[1:])
    return log_mean_exp(model.log_likelihood(x, z), dim=0)


def importance_log_weights(
    model,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    k: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """log w_i = log p(x, z_i) − log q(z_i|x) for z_i ~ q = N(mu, diag exp(logvar)).

    x: (B, D); mu, logvar: (B, d). Returns (k, B) nats. The mean over i estimates the
    ELBO; ``log_mean_exp`` over i is the IWAE_k estimate of log p(x).
    """
    _check_k(k)
    if mu.shape != logvar.shape or mu.shape[0] != x.shape[0]:
        raise ValueError(
            f"mu and logvar must both be (B, d) with B = {x.shape[0]}; got {tuple(mu.shape)} "
            f"and {tuple(logvar.shape)}"
        )
    eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    log_q = log_normal(z, mu, logvar).sum(-1)
    return model.log_likelihood(x, z) + model.log_prior(z) - log_q


def importance_log_marginal(
    model,
    x: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    k: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """IWAE_k estimate ``log (1/k) Σ_i p(x, z_i)/q(z_i|x)``, z_i ~ q: (B,) nats.

    Its expectation increases with k from the ELBO (k = 1) to log p(x) (Burda et al. 2016);
    with q the exact posterior every weight equals p(x) and the estimate is exact.
    """
    return log_mean_exp(importance_log_weights(model, x, mu, logvar, k, generator), dim=0)


def kl_mc_samples(
    mu: torch.Tensor, logvar: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Samples of ``log q(z) − log p(z)``, z ~ q = N(mu, diag exp(logvar)), p = N(0, I).

    mu, logvar: (B, d). Returns (n, B) nats; their mean estimates KL(q ‖ p) per example.
    """
    _check_k(n)
    eps = torch.randn((n, *mu.shape), generator=generator, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    return (log_normal(z, mu, logvar) - log_standard_normal(z)).sum(-1)


# ----------------------------------------------------------------------------- gradients
def _replicate(mu: torch.Tensor, logvar: torch.Tensor, n: int):
    if mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must have the same shape; got {tuple(mu.shape)}, {tuple(logvar.shape)}"
        )
    _check_k(n)
    # One private copy of the parameters per sample: the gradient of the summed objective
    # with respect to copy i is the gradient of sample i alone.
    mu_n = mu.detach().expand(n, *mu.shape).clone().requires_grad_(True)
    logvar_n = logvar.detach().expand(n, *logvar.shape).clone().requires_grad_(True)
    return mu_n, logvar_n


def reparameterization_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    mu: torch.Tensor,
    logvar: torch.Tensor,
    n: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample reparameterization gradients of ``E_{z~N(mu, diag exp(logvar))}[f(z)]``.

    ``z = mu + exp(logvar/2)·ε`` with ε ~ N(0, I), and the gradient of f(z) flows through z:
    ``∇_mu f(z)`` and ``∇_logvar f(z)``. f maps z (..., D) to (...) (it must not mix samples).
    mu, logvar: (D,) or (B, D). Returns ``(grad_mu, grad_logvar)``, each (n, *mu.shape);
    their mean over dim 0 is the unbiased n-sample estimate. Needs a differentiable f.
    """
    mu_n, logvar_n = _replicate(mu, logvar, n)
    eps = torch.randn(mu_n.shape, generator=generator, dtype=mu_n.dtype)
    z = mu_n + torch.exp(0.5 * logvar_n) * eps
    grad_mu, grad_logvar = torch.autograd.grad(f(z).sum(), (mu_n, logvar_n))
    return grad_mu, grad_logvar


def score_function_gradient(
    f: Callable[[torch.Tensor], torch.Tensor],
    mu: torch.Tensor,
    logvar: torch.Tensor,
    n: int,
    generator: torch.Generator | None = None,
    baseline: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample score-function (REINFORCE) gradients of ``E_{z~q}[f(z)]``, q = N(mu, σ²).

    ``(f(z) − baseline) · ∇ log q(z)`` with z sampled and *detached*: f is only evaluated,
    never differentiated (it may be a black box or discrete). Any constant ``baseline``
    keeps the estimator unbiased (E[∇ log q] = 0) and can lower its variance.
    Shapes as in :func:`reparameterization_gradient`.
    """
    mu_n, logvar_n = _replicate(mu, logvar, n)
    with torch.no_grad():
        eps = torch.randn(mu_n.shape, generator=generator, dtype=mu_n.dtype)
        z = mu_n + torch.exp(0.5 * logvar_n) * eps
        fz = f(z) - baseline
    log_q = log_normal(z, mu_n, logvar_n).sum(-1)
    grad_mu, grad_logvar = torch.autograd.grad((fz * log_q).sum(), (mu_n, logvar_n))
    return grad_mu, grad_logvar


def variance_of_estimate(
    estimator: Callable,
    f: Callable[[torch.Tensor], torch.Tensor],
    mu: torch.Tensor,
    logvar: torch.Tensor,
    n: int,
    repeats: int = 500,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Variance of an n-sample gradient estimate of ∂/∂mu, measured over ``repeats`` estimates.

    ``estimator`` is :func:`score_function_gradient` or :func:`reparameterization_gradient`.
    Draws ``n * repeats`` per-sample gradients, averages them in groups of n, and returns the
    variance of those ``repeats`` estimates for each coordinate of mu (shape ``mu.shape``).
    For independent samples it is the per-sample variance divided by n.
    """
    _check_k(repeats)
    g_mu, _ = estimator(f, mu, logvar, n * repeats, generator)
    return g_mu.reshape(repeats, n, *mu.shape).mean(1).var(0)
