"""Evaluation metrics for VAEs. Units: nats per example unless the name says bits.

Disentanglement scores on data with known factors (``mig``, ``mig_per_factor``,
``mutual_information_matrix``) live in :mod:`vae_course.disentanglement`, and scores of two
sets of numbers (``auroc``, ``feature_statistics``, ``frechet_distance``) in
:mod:`vae_course.scores`; both are re-exported here.

Every function takes a model with ``encode(x) -> (mu, logvar)`` (and ``decode`` where
needed) and a tensor of images, works in batches on the model's device, and returns
plain numbers or CPU tensors.
"""

from __future__ import annotations

import math

import torch

from .disentanglement import mig, mig_per_factor, mutual_information_matrix
from .inference import encode_means, eval_mode, model_device
from .losses import elbo, gaussian_kl_per_dim, iwae_bound
from .scores import auroc, feature_statistics, frechet_distance

__all__ = [
    "iwae_log_likelihood",
    "elbo_estimate",
    "active_units",
    "kl_per_dimension",
    "encode_means",
    "nats_to_bits_per_dim",
    "aggregate_posterior_stats",
    "level_statistics",
    "codebook_usage",
    "mutual_information",
    "mutual_information_from_posteriors",
    "perplexity_of_counts",
    "mig",
    "mig_per_factor",
    "mutual_information_matrix",
    "auroc",
    "feature_statistics",
    "frechet_distance",
]


@torch.no_grad()
def _check_labels(x: torch.Tensor, labels) -> torch.Tensor | None:
    if labels is None:
        return None
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or labels.shape[0] != x.shape[0]:
        raise ValueError(
            f"expected one label per image, labels of shape ({x.shape[0]},); "
            f"got {tuple(labels.shape)}"
        )
    return labels


@torch.no_grad()
def iwae_log_likelihood(
    model, x: torch.Tensor, k: int = 100, batch_size: int = 100, labels=None
) -> float:
    """Importance-weighted estimate of the mean log p(x) over ``x`` (Burda et al. 2016).

    Averages :func:`vae_course.losses.iwae_bound` with ``k`` samples per example; a lower
    bound that tightens with ``k``. With ``labels`` (N,) for a conditional model it
    estimates log p(x | y) instead. Returns nats per example (a negative number).
    """
    labels = _check_labels(x, labels)
    device = model_device(model)
    total = 0.0
    with eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = None if labels is None else labels[start : start + batch_size].to(device)
            total += float(iwae_bound(model, xb, k=k, labels=yb).sum())
    return total / x.shape[0]


@torch.no_grad()
def elbo_estimate(model, x: torch.Tensor, batch_size: int = 500, labels=None) -> dict[str, float]:
    """Mean ELBO, reconstruction and KL over ``x`` (one z sample each), nats per example.

    With ``labels`` (N,) for a conditional model: the conditional ELBO, a bound on
    log p(x | y).
    """
    labels = _check_labels(x, labels)
    device = model_device(model)
    sums = {"elbo": 0.0, "reconstruction": 0.0, "kl": 0.0}
    with eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device)
            if hasattr(model, "log_importance_weights"):  # a hierarchy: its own named terms
                terms = model.loss(xb)
            elif labels is None:
                out = model(xb)
                terms = elbo(xb, out["x_logits"], out["mu"], out["logvar"])
            else:
                out = model(xb, labels[start : start + batch_size].to(device))
                terms = elbo(xb, out["x_logits"], out["mu"], out["logvar"])
            for key in sums:
                sums[key] += float(terms[key].sum())
    return {key: v / x.shape[0] for key, v in sums.items()}


def active_units(
    model, x: torch.Tensor, threshold: float = 0.01, batch_size: int = 1000
) -> tuple[int, torch.Tensor]:
    """Active latent units (Burda et al. 2016): A_u = Var_x(E_q[z_u | x]) > threshold.

    Returns ``(count, variances)`` with variances of shape (D,). A unit whose posterior
    mean does not move with x carries no information about x (posterior collapse).
    """
    mu, _ = encode_means(model, x, batch_size)
    variances = mu.var(dim=0, unbiased=True)
    return int((variances > threshold).sum()), variances


def kl_per_dimension(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """KL(q(z_j|x) ‖ N(0, 1)) per latent dimension j, averaged over x: (D,) nats."""
    mu, logvar = encode_means(model, x, batch_size)
    return gaussian_kl_per_dim(mu, logvar).mean(dim=0)


def nats_to_bits_per_dim(nats_per_example: float, dims: int = 784) -> float:
    """Convert a negative log-likelihood in nats per example to bits per dimension."""
    return nats_per_example / (dims * math.log(2))


@torch.no_grad()
def aggregate_posterior_stats(
    model, x: torch.Tensor, generator: torch.Generator | None = None, batch_size: int = 1000
) -> dict[str, torch.Tensor]:
    """Per-coordinate moments of the aggregate posterior q(z) = mean_x q(z|x), vs N(0, I).

    Draws one z ~ q(z|x) per example (with ``generator`` on the CPU, so the draw is seeded).
    Returns (D,) CPU tensors: ``mean_of_means`` and ``var_of_means`` (of the posterior means
    μ(x)), ``mean`` and ``var`` (of the samples z: by the law of total variance
    ``var ≈ var_of_means + mean_sigma2``) and ``mean_sigma2`` (the average σ²(x)). Under a
    prior N(0, I), a well-fitted VAE has ``mean`` ≈ 0 and ``var`` ≈ 1 in every coordinate.
    """
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"x must be a batch of at least 2 examples, got shape {tuple(x.shape)}")
    mu, logvar = encode_means(model, x, batch_size)
    mu, logvar = mu.cpu().double(), logvar.cpu().double()
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    z = mu + (0.5 * logvar).exp() * eps
    return {
        "mean_of_means": mu.mean(0).float(),
        "var_of_means": mu.var(0).float(),
        "mean": z.mean(0).float(),
        "var": z.var(0).float(),
        "mean_sigma2": logvar.exp().mean(0).float(),
    }


@torch.no_grad()
def level_statistics(model, x: torch.Tensor, batch_size: int = 500, threshold: float = 0.01):
    """What each level of a hierarchical VAE carries, on images ``x`` (N, C, H, W).

    Returns a dict: ``kl_z1``, ``kl_z2`` (floats, nats per example; level 1's KL is given
    one sample of z₂ per example), ``kl_per_dim_z1`` (d1,), ``kl_per_dim_z2`` (d2,) (means
    over x, nats), ``mu_var_z1``, ``mu_var_z2`` (the variance over x of each posterior mean,
    z₂ at its mean) and ``active_z1``, ``active_z2``: the dimensions whose posterior mean
    varies by more than ``threshold`` (Burda et al.'s active units, per level).
    """
    if not hasattr(model, "encode_levels"):
        raise ValueError(f"{type(model).__name__} has one level; use active_units instead")
    device = model_device(model)
    sums: dict[str, torch.Tensor] = {}
    mus: dict[str, list[torch.Tensor]] = {"z1": [], "z2": []}
    with eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device)
            terms = model.loss(xb)
            n = xb.shape[0]
            for key in ("kl_z1", "kl_z2"):
                sums[key] = sums.get(key, 0.0) + terms[key].sum().cpu()
            for key in ("kl_per_dim_z1", "kl_per_dim_z2"):
                sums[key] = sums.get(key, 0.0) + terms[key].cpu() * n
            for level, (mu, _) in model.encode_levels(xb).items():
                mus[level].append(mu.float().cpu())
    out: dict = {key: v / x.shape[0] for key, v in sums.items()}
    out["kl_z1"], out["kl_z2"] = float(out["kl_z1"]), float(out["kl_z2"])
    for level in ("z1", "z2"):
        var = torch.cat(mus[level]).var(dim=0)
        out[f"mu_var_{level}"] = var
        out[f"active_{level}"] = int((var > threshold).sum())
    return out


def perplexity_of_counts(counts: torch.Tensor) -> float:
    """exp(H(p)) of the usage p = counts / Σ counts (H in nats, 0 log 0 = 0).

    K for K codes used equally often, 1 for a single code: the "effective number of codes".
    ``counts`` (K,) non-negative with a positive sum.
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.dim() != 1 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("expected non-negative counts (K,) with a positive sum")
    p = counts / counts.sum()
    nz = p[p > 0]
    return float(torch.exp(-(nz * nz.log()).sum()))


@torch.no_grad()
def codebook_usage(model, x: torch.Tensor, batch_size: int = 1000) -> dict:
    """How a VQ-VAE uses its codebook on images ``x`` (N, C, H, W), over all grid cells.

    Returns ``counts`` ((K,) int64: how many cells chose each code), ``perplexity``
    (exp of the usage's entropy: K if all codes are used equally, 1 for a single code),
    ``used`` (codes chosen at least once), ``dead`` (K − used) and ``used_fraction``.
    Unlike the quantizer's per-batch numbers, these pool the whole of ``x``.
    """
    if not hasattr(model, "encode_indices"):
        raise ValueError(f"{type(model).__name__} has no codebook (needs encode_indices)")
    k = model.quantizer.num_codes
    counts = torch.zeros(k, dtype=torch.long)
    device = model_device(model)
    with eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            idx = model.encode_indices(x[start : start + batch_size].to(device)).cpu()
            counts += torch.bincount(idx.reshape(-1), minlength=k)
    used = int((counts > 0).sum())
    return {
        "counts": counts,
        "perplexity": perplexity_of_counts(counts),
        "used": used,
        "dead": k - used,
        "used_fraction": used / k,
    }


def mutual_information_from_posteriors(
    mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> float:
    """I_q(x; z) of diagonal Gaussian posteriors (N, d) of one batch, in nats (He et al. 2019).

    I = E_x E_q(z|x)[log q(z|x)] − E_x E_q(z|x)[log q(z)], with the aggregate posterior q(z)
    approximated by the batch's mixture (1/N) Σⱼ q(z|xⱼ) and one z drawn per example. The
    first term is exact (minus the Gaussian entropy). A batch estimate, it cannot exceed
    log N in expectation (a code that identifies its example perfectly scores log N; one
    draw's noise can put a single estimate a little above), so it tells collapse (≈ 0) from
    use but saturates for codes that tell the N examples apart; with small N it is biased
    upwards. Use batches of hundreds or more, and compare models at the same N.
    """
    if mu.dim() != 2 or mu.shape != logvar.shape or mu.shape[0] < 2:
        raise ValueError(
            "expected mu and logvar of the same shape (N, d) with N >= 2, got "
            f"{tuple(mu.shape)} and {tuple(logvar.shape)}"
        )
    mu, logvar = mu.double(), logvar.double()
    n, d = mu.shape
    log2pi = math.log(2 * math.pi)
    neg_entropy = (-0.5 * d * log2pi - 0.5 * (1 + logvar).sum(-1)).mean()
    eps = torch.randn(mu.shape, generator=generator, dtype=torch.float64).to(mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps  # (N, d): one draw per example
    # log q(z_i | x_j) for every pair, (N z's, N components), with the square expanded
    # (Σ_d (z - μ)² / σ² = z²·prec − 2 z·(μ prec) + μ²·prec) so it costs three matmuls
    prec = torch.exp(-logvar)
    sq = (z**2) @ prec.T - 2 * z @ (mu * prec).T + (mu**2 * prec).sum(-1)[None, :]
    log_density = -0.5 * sq - 0.5 * (d * log2pi + logvar.sum(-1)[None])
    log_qz = torch.logsumexp(log_density, dim=1) - math.log(n)
    return float(neg_entropy - log_qz.mean())


@torch.no_grad()
def mutual_information(
    model, x: torch.Tensor, batch_size: int = 500, seed: int = 0, labels=None, draws: int = 1
) -> float:
    """I_q(x; z) in nats, the mean of :func:`mutual_information_from_posteriors` over batches.

    ``x`` (N, C, H, W) is split into batches of ``batch_size`` (the last one merged into the
    one before if it is smaller than half a batch); the same ``seed`` gives the same value.
    The value depends on ``batch_size`` (its ceiling is log batch_size), so compare models
    at the same one. ``draws`` > 1 averages that many independent estimates (one z per
    example each), shrinking the Monte Carlo noise by √draws.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2, got {batch_size}")
    if not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a positive int, got {draws!r}")
    mu, logvar = encode_means(model, x, labels=_check_labels(x, labels))
    g = torch.Generator().manual_seed(seed)
    starts = list(range(0, mu.shape[0], batch_size))
    if len(starts) > 1 and mu.shape[0] - starts[-1] < batch_size // 2:
        starts.pop()
    bounds = [*starts[1:], mu.shape[0]]
    values = [
        mutual_information_from_posteriors(mu[a:b], logvar[a:b], generator=g) * (b - a)
        for _ in range(draws)
        for a, b in zip(starts, bounds, strict=True)
    ]
    return sum(values) / (mu.shape[0] * draws)
