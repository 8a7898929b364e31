"""The VAE objective, term by term. Units: nats per example unless a name says otherwise.

Notation (the course's notation table): ``x`` data, ``z`` latent, ``mu`` and ``logvar``
the mean and log *variance* (log σ²) of q(z|x), ``x_logits`` the decoder's Bernoulli
logits. Every function checks its inputs and raises ``ValueError`` saying what it
expected, instead of broadcasting into a silently wrong answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .distributions import log_bernoulli_logits, log_normal, log_standard_normal

__all__ = [
    "gaussian_kl",
    "gaussian_kl_per_dim",
    "bernoulli_log_likelihood",
    "bernoulli_reconstruction_floor",
    "continuous_bernoulli_log_normalizer",
    "continuous_bernoulli_log_likelihood",
    "gaussian_log_likelihood",
    "log_mean_exp",
    "FreeBits",
    "free_bits_kl",
    "elbo",
    "iwae_bound",
]


# ----------------------------------------------------------------------------- checks
def _check_float(name: str, t: torch.Tensor) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")


def _check_finite(name: str, t: torch.Tensor) -> None:
    if not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).sum().item()
        raise ValueError(f"{name} contains {bad} NaN/inf values; expected finite numbers")


def _check_pair(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    _check_float(name_a, a)
    _check_float(name_b, b)
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape (B, D); got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.dim() < 2:
        raise ValueError(
            f"{name_a} must be batched with shape (B, D); got {tuple(a.shape)} "
            "(use x.unsqueeze(0) for a single example)"
        )


def _match_data(x: torch.Tensor, params: torch.Tensor, name: str) -> torch.Tensor:
    """Return x viewed with the shape of ``params`` (same batch size and per-example size)."""
    _check_float("x", x)
    _check_float(name, params)
    if x.shape == params.shape:
        return x
    if x.dim() == 0 or params.dim() == 0 or x.shape[0] != params.shape[0]:
        raise ValueError(
            f"x and {name} must share the batch dimension; got x {tuple(x.shape)} and "
            f"{name} {tuple(params.shape)}"
        )
    if x[0].numel() != params[0].numel():
        raise ValueError(
            f"x has {x[0].numel()} values per example but {name} has {params[0].numel()}: "
            f"got x {tuple(x.shape)} and {name} {tuple(params.shape)}"
        )
    return x.reshape(params.shape)


# ----------------------------------------------------------------------------- KL
def gaussian_kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, 1)) for each latent dimension.

    mu, logvar: (B, D). Returns (B, D), nats.
    """
    _check_pair("mu", mu, "logvar", logvar)
    return 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) ‖ N(0, I)) per example, in closed form.

    ``0.5 * Σ_j (mu_j² + σ_j² − 1 − log σ_j²)``.
    mu, logvar: (B, D). Returns (B,), nats per example (summed over latent dimensions).
    """
    return gaussian_kl_per_dim(mu, logvar).sum(dim=1)


def gaussian_kl_between(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu_q, exp(logvar_q)) ‖ N(mu_p, exp(logvar_p))) for each dimension, in closed form.

    ``0.5 * (logvar_p − logvar_q + (σ_q² + (mu_q − mu_p)²) / σ_p² − 1)``. All four (..., D)
    of one shape. Returns (..., D), nats. With mu_p = 0, logvar_p = 0 it is
    :func:`gaussian_kl_per_dim`. Used for a learned prior, e.g. p(z₁|z₂) in a hierarchy.
    """
    _check_pair("mu_q", mu_q, "logvar_q", logvar_q)
    _check_pair("mu_p", mu_p, "logvar_p", logvar_p)
    _check_pair("mu_q", mu_q, "mu_p", mu_p)
    return 0.5 * (
        logvar_p
        - logvar_q
        + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) * torch.exp(-logvar_p)
        - 1.0
    )


# ----------------------------------------------------------------------------- likelihoods
def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x|z) for a Bernoulli decoder given its *logits*, summed over pixels.

    x: (B, ...) with values in [0, 1]; logits: same number of values per example
    (e.g. x (B, 1, 28, 28) and logits (B, 784)). Returns (B,), nats per example.
    Computed as ``x·l − softplus(l)``, exact and stable for any logit (no sigmoid, no
    log(0)). Equals ``-F.binary_cross_entropy_with_logits(l, x, reduction='none').sum(1)``.
    """
    x = _match_data(x, logits, "logits")
    lo, hi = torch.aminmax(x.detach())
    lo, hi = lo.item(), hi.item()
    if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
        _check_finite("x", x)
        raise ValueError(
            f"x must lie in [0, 1] for a Bernoulli likelihood; got values in [{lo:.3g}, {hi:.3g}]"
            " (did you forget to divide pixel values by 255?)"
        )
    return log_bernoulli_logits(x, logits).reshape(x.shape[0], -1).sum(dim=1)


def bernoulli_reconstruction_floor(x: torch.Tensor) -> torch.Tensor:
    """The best Bernoulli log-likelihood any decoder can give grey-level x: −Σᵢ H_b(xᵢ).

    For one pixel, x·log λ + (1−x)·log(1−λ) is largest at λ = x, where it equals minus the
    binary entropy H_b(x) = −x log x − (1−x) log(1−x) (nats; 0 only for x ∈ {0, 1}).
    x: (B, ...) in [0, 1]. Returns (B,), nats per example, ≤ 0: a grey image can never be
    reconstructed with log-likelihood 0, which is one sign that a Bernoulli decoder is not a
    model of grey levels.
    """
    _check_float("x", x)
    if not ((x >= 0) & (x <= 1)).all():
        raise ValueError("x must lie in [0, 1] (grey levels scaled from 0-255 by /255)")
    h = -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x))
    return -h.reshape(x.shape[0], -1).sum(dim=1)


def continuous_bernoulli_log_normalizer(logits: torch.Tensor) -> torch.Tensor:
    """log C(λ) of the continuous Bernoulli (Loaiza-Ganem & Cunningham 2019), per element.

    p(x | λ) = C(λ) λ^x (1−λ)^(1−x) is a density on x ∈ [0, 1] when
    C(λ) = 2 artanh(1 − 2λ) / (1 − 2λ) (and C(½) = 2). With λ = sigmoid(ℓ) this is
    C = ℓ / tanh(ℓ/2), so log C = log|ℓ| − log|tanh(ℓ/2)|, computed with its Taylor series
    log 2 + ℓ²/12 − 7ℓ⁴/1440 near ℓ = 0. Always ≥ log 2 > 0. Same shape as ``logits``.
    """
    _check_float("logits", logits)
    small = logits.abs() < 1e-2
    safe = torch.where(small, torch.ones_like(logits), logits)
    exact = torch.log(safe.abs()) - torch.log(torch.tanh(safe.abs() / 2))
    series = math.log(2.0) + logits**2 / 12 - 7 * logits**4 / 1440
    return torch.where(small, series, exact)


def continuous_bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x|z) under a continuous-Bernoulli decoder, summed over pixels: (B,) nats.

    The Bernoulli log-likelihood of :func:`bernoulli_log_likelihood` plus the normaliser
    Σᵢ log C(ℓᵢ) that makes each pixel's factor a density on [0, 1]: a proper likelihood
    for grey levels (it can be positive, like any density). x: (B, ...) in [0, 1];
    logits: the same number of values per example.
    """
    x = _match_data(x, logits, "logits")
    log_c = continuous_bernoulli_log_normalizer(logits).reshape(x.shape[0], -1).sum(dim=1)
    return bernoulli_log_likelihood(x, logits) + log_c


def gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor | float
) -> torch.Tensor:
    """log N(x; mean, exp(logvar)) summed over all non-batch dimensions.

    x, mean: (B, ...) with the same number of values per example; logvar: a float or a
    tensor broadcastable to ``mean`` (a learned or fixed log σ²). Returns (B,), nats.
    With logvar = log(1/2) this is ``-mse_loss(reduction='sum')`` up to a constant:
    what an MSE-trained "VAE" silently assumes.
    """
    x = _match_data(x, mean, "mean")
    _check_finite("x", x)
    if isinstance(logvar, torch.Tensor):
        try:
            torch.broadcast_shapes(logvar.shape, mean.shape)
        except RuntimeError as exc:
            raise ValueError(
                f"logvar of shape {tuple(logvar.shape)} does not broadcast to mean "
                f"{tuple(mean.shape)}"
            ) from exc
    return log_normal(x, mean, logvar).reshape(x.shape[0], -1).sum(dim=1)


# ----------------------------------------------------------------------------- log-mean-exp
def log_mean_exp(x: torch.Tensor, dim: int = 0, keepdim: bool = False) -> torch.Tensor:
    """log( (1/K) Σ_k exp(x_k) ) along ``dim``, stable for very large or small x.

    ``logsumexp(x, dim) − log K``. Used for Monte Carlo and importance-weighted estimates
    of log p(x) from K log-weights.
    """
    _check_float("x", x)
    k = x.shape[dim]
    if k == 0:
        raise ValueError(f"log_mean_exp needs at least one value along dim {dim}")
    return torch.logsumexp(x, dim=dim, keepdim=keepdim) - math.log(k)


# ----------------------------------------------------------------------------- free bits
@dataclass(frozen=True)
class FreeBits:
    """Free bits per *group* of latent dimensions (Kingma et al. 2016, eq. 15).

    ``nats``: λ, the floor of each group's batch-mean KL, in nats per group.
    ``group_size``: how many consecutive latent dimensions form one group (1 = λ per
    dimension). Pass it as ``free_bits=FreeBits(2.0, group_size=8)`` wherever a float λ
    (per dimension) is accepted.
    """

    nats: float
    group_size: int = 1

    def __post_init__(self):
        if not math.isfinite(self.nats) or self.nats < 0:
            raise ValueError(f"free bits must be >= 0 nats per group, got {self.nats}")
        if not isinstance(self.group_size, int) or self.group_size < 1:
            raise ValueError(f"group_size must be a positive int, got {self.group_size!r}")


def free_bits_kl(kl_per_dim: torch.Tensor, free_bits: float | FreeBits) -> torch.Tensor:
    """The KL term of the free-bits objective: ``Σ_groups max(λ, Σ_{j ∈ group} KL_j)``.

    Args:
        kl_per_dim: (D,) KL of each latent dimension averaged over the batch, nats.
        free_bits: λ in nats per dimension (a float, groups of one), or :class:`FreeBits`
            for λ per group of ``group_size`` consecutive dimensions (D must divide evenly).

    Returns a scalar (nats per example). A group whose KL is below λ contributes the
    constant λ, so no gradient pushes it towards the prior; with λ = 0 this is ``Σ_j KL_j``.
    """
    if not isinstance(free_bits, FreeBits) and not free_bits >= 0:
        raise ValueError(f"free_bits must be >= 0 nats per dimension, got {free_bits}")
    fb = free_bits if isinstance(free_bits, FreeBits) else FreeBits(float(free_bits))
    if kl_per_dim.dim() != 1:
        raise ValueError(
            f"expected the batch-mean KL per dimension, shape (D,), got {tuple(kl_per_dim.shape)}"
        )
    d = kl_per_dim.shape[0]
    if d % fb.group_size:
        raise ValueError(
            f"group_size {fb.group_size} does not divide the {d} latent dimensions; "
            f"choose a divisor of {d}"
        )
    per_group = kl_per_dim.reshape(d // fb.group_size, fb.group_size).sum(dim=1)
    return torch.clamp(per_group, min=fb.nats).sum()


def _free_bits_on(free_bits: float | FreeBits) -> bool:
    """True when free bits are switched on; raise on a negative λ."""
    if isinstance(free_bits, FreeBits):
        return free_bits.nats > 0
    if free_bits < 0:
        raise ValueError(f"free_bits must be >= 0 nats per dimension, got {free_bits}")
    return free_bits > 0


# ----------------------------------------------------------------------------- ELBO
def elbo(
    x: torch.Tensor,
    x_params: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    beta: float = 1.0,
    free_bits: float | FreeBits = 0.0,
    likelihood: str = "bernoulli",
    x_logvar: torch.Tensor | float | None = None,
) -> dict[str, torch.Tensor]:
    """The (negative, weighted) ELBO as named terms, from one decoded sample.

    Args:
        x: (B, ...) data; in [0, 1] for the Bernoulli likelihood.
        x_params: decoder output for one z ~ q(z|x): logits (Bernoulli) or mean (Gaussian).
        mu, logvar: (B, D) parameters of q(z|x).
        beta: weight of the KL term in the loss (beta-VAE, KL annealing). ``beta=1`` is the ELBO.
        free_bits: λ in nats per latent dimension. The loss uses
            ``Σ_j max(λ, mean_batch KL_j)`` instead of the KL (Kingma et al. 2016),
            so dimensions below λ get no push towards the prior. ``FreeBits(λ, group_size)``
            floors groups of dimensions instead (see :func:`free_bits_kl`).
        likelihood: ``"bernoulli"`` or ``"gaussian"`` (then ``x_logvar`` is log σ² of p(x|z)).

    Returns a dict:
        ``loss``: scalar to minimise, ``mean_B(−reconstruction + beta · kl_term)``, nats/example;
        ``elbo``: (B,) the true ELBO per example (beta = 1, no free bits), nats;
        ``reconstruction``: (B,) E_q[log p(x|z)] (one-sample estimate), nats;
        ``kl``: (B,) KL(q(z|x) ‖ p(z)) in closed form, nats;
        ``kl_per_dim``: (D,) KL of each latent dimension averaged over the batch, nats.
    """
    if likelihood == "bernoulli":
        rec = bernoulli_log_likelihood(x, x_params)
    elif likelihood == "gaussian":
        rec = gaussian_log_likelihood(x, x_params, 0.0 if x_logvar is None else x_logvar)
    else:
        raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
    if mu.shape[0] != rec.shape[0]:
        raise ValueError(
            f"mu has batch size {mu.shape[0]} but x has {rec.shape[0]}; they must match"
        )
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    kl_dims = gaussian_kl_per_dim(mu, logvar)
    kl = kl_dims.sum(dim=1)
    kl_per_dim = kl_dims.mean(dim=0)
    if _free_bits_on(free_bits):
        kl_term = free_bits_kl(kl_per_dim, free_bits)
    else:
        kl_term = kl.mean()
    loss = -rec.mean() + beta * kl_term
    return {
        "loss": loss,
        "elbo": rec - kl,
        "reconstruction": rec,
        "kl": kl,
        "kl_per_dim": kl_per_dim,
    }


# ----------------------------------------------------------------------------- IWAE
@torch.no_grad()
def iwae_bound(
    model, x: torch.Tensor, k: int = 50, chunk: int = 50, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Importance-weighted bound log p(x) ≥ IWAE_k (Burda et al. 2016), per example.

    ``IWAE_k = E[ log (1/k) Σ_i p(x, z_i) / q(z_i|x) ]``, z_i ~ q(z|x).
    IWAE_1 is the ELBO; the bound tightens as k grows and tends to log p(x).

    Args:
        model: has ``encode(x) -> (mu, logvar)`` and ``decode(z) -> logits`` (Bernoulli).
        x: (B, ...) data in [0, 1]. k: samples per example. chunk: samples decoded at once.
        labels: (B,) class labels for a conditional model (``encode(x, labels)``,
            ``decode(z, labels)``); the bound is then on log p(x | y), not log p(x).
    Returns (B,) nats per example (one stochastic estimate; seed for repeatability).
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if hasattr(model, "log_importance_weights"):  # e.g. a hierarchy: the model knows its log w
        if labels is not None:
            raise ValueError(f"{type(model).__name__} takes no labels")
        log_w = [model.log_importance_weights(x, min(chunk, k - s)) for s in range(0, k, chunk)]
        return log_mean_exp(torch.cat(log_w, dim=0), dim=0)
    if labels is None:
        mu, logvar = model.encode(x)
    else:
        if len(labels) != x.shape[0]:
            raise ValueError(f"{x.shape[0]} images but {len(labels)} labels: one label per image")
        mu, logvar = model.encode(x, labels)
    std = torch.exp(0.5 * logvar)
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = torch.randn((n, *mu.shape), dtype=mu.dtype, device=mu.device)
        z = mu + std * eps  # (n, B, D)
        if labels is None:
            logits = model.decode(z.reshape(n * mu.shape[0], -1))
        else:  # sample i of example b sits at row i·B + b: labels repeat per sample
            logits = model.decode(z.reshape(n * mu.shape[0], -1), labels.repeat(n))
        xr = x.reshape(1, x.shape[0], -1).expand(n, -1, -1).reshape(n * x.shape[0], -1)
        log_px_z = bernoulli_log_likelihood(xr, logits.reshape(xr.shape)).reshape(n, -1)
        log_pz = log_standard_normal(z).sum(-1)
        log_qz = log_normal(z, mu, logvar).sum(-1)
        log_w.append(log_px_z + log_pz - log_qz)
    return log_mean_exp(torch.cat(log_w, dim=0), dim=0)
