"""Latent variable models whose marginal p(x) and posterior p(z|x) are known exactly.

Chapters 01–03 test every VAE formula on these before trusting it on a neural decoder.

* :class:`LinearGaussian` (probabilistic PCA): ``p(z) = N(0, I_d)``,
  ``p(x|z) = N(W z + b, σ² I_D)``. The marginal is ``N(b, W Wᵀ + σ² I)`` and the
  posterior is Gaussian with ``Σ = (I + WᵀW/σ²)⁻¹``, ``m = Σ Wᵀ (x − b) / σ²``.
* :class:`GaussianMixture`: a discrete latent ``z ∈ {0, …, K−1}`` with ``p(z) = π_z``
  and ``p(x|z) = N(μ_z, diag σ_z²)``; the "integral" over z is a sum of K terms.

Shapes: data ``x`` is ``(B, D)``; continuous latents ``z`` are ``(..., d)`` and
discrete ones ``(...)``. Log-densities are in nats per example (summed over dimensions).
Both classes share the interface the estimators in :mod:`vae_course.estimators` use:
``sample_prior(n)``, ``log_prior(z)``, ``log_likelihood(x, z)``, ``log_joint(x, z)``,
``log_marginal(x)``, ``posterior(x)`` and ``sample(n)``.
"""

from __future__ import annotations

import math

import torch

from .distributions import LOG_2PI, log_normal, log_standard_normal

__all__ = ["LinearGaussian", "GaussianMixture", "fit_linear_encoder", "fit_gaussian_on_grid"]


def _as_float(t, dtype=None) -> torch.Tensor:
    t = torch.as_tensor(t)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t if dtype is None else t.to(dtype)


def _check_x(x: torch.Tensor, data_dim: int) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != data_dim:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must have shape (B, {data_dim}); got {got}")


class LinearGaussian:
    """Probabilistic PCA: ``z ~ N(0, I_d)``, ``x | z ~ N(W z + b, σ² I_D)``.

    Args:
        W: (D, d) loading matrix (the linear "decoder").
        b: (D,) offset, default zeros.
        x_var: σ², the variance of the observation noise (a positive float).

    Computations run in the dtype of ``W`` (use float64 when checking identities to 1e-5).
    """

    def __init__(self, W, b=None, x_var: float = 1.0):
        self.W = _as_float(W)
        if self.W.dim() != 2:
            raise ValueError(f"W must be a (D, d) matrix, got shape {tuple(self.W.shape)}")
        self.data_dim, self.latent_dim = self.W.shape
        dtype = self.W.dtype
        self.b = torch.zeros(self.data_dim, dtype=dtype) if b is None else _as_float(b, dtype)
        if self.b.shape != (self.data_dim,):
            raise ValueError(f"b must have shape ({self.data_dim},), got {tuple(self.b.shape)}")
        x_var = float(x_var)
        if not x_var > 0:
            raise ValueError(f"x_var (σ² of p(x|z)) must be positive, got {x_var}")
        self.x_var = x_var
        self.x_logvar = math.log(x_var)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def random(
        cls, data_dim: int, latent_dim: int, x_var: float = 0.5, seed: int = 0, scale: float = 1.0
    ) -> LinearGaussian:
        """A model with W ~ N(0, scale²/d) entries and b ~ N(0, 1), in float64, from a seed."""
        g = torch.Generator().manual_seed(seed)
        W = torch.randn(data_dim, latent_dim, generator=g, dtype=torch.float64)
        b = torch.randn(data_dim, generator=g, dtype=torch.float64)
        return cls(W * scale / math.sqrt(latent_dim), b, x_var)

    @classmethod
    def fit_ppca(cls, x: torch.Tensor, latent_dim: int) -> LinearGaussian:
        """Maximum-likelihood pPCA (Tipping & Bishop 1999) in closed form, in float64.

        x: (N, D) data. With the sample covariance's eigenvalues λ₁ ≥ … ≥ λ_D and
        eigenvectors U: ``b`` = data mean, ``σ² = mean(λ_{d+1}, …, λ_D)`` (the variance
        PCA throws away), ``W = U_d (Λ_d − σ² I)^{1/2}``. The columns of W span the same
        subspace as the first d principal components.
        """
        x = _as_float(x, torch.float64).reshape(len(x), -1)
        n, D = x.shape
        if not 0 < latent_dim < D:
            raise ValueError(f"latent_dim must be between 1 and {D - 1}, got {latent_dim}")
        b = x.mean(0)
        xc = x - b
        cov = xc.T @ xc / n
        evals, evecs = torch.linalg.eigh(cov)  # ascending
        evals, evecs = evals.flip(0).clamp_min(0.0), evecs.flip(1)
        x_var = float(evals[latent_dim:].mean())
        if x_var <= 0:
            raise ValueError("the data lie in a subspace of dimension <= latent_dim: σ² = 0")
        W = evecs[:, :latent_dim] * (evals[:latent_dim] - x_var).clamp_min(0.0).sqrt()
        return cls(W, b, x_var)

    # ------------------------------------------------------------------ generative story
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p(z) = N(0, I): (n, d)."""
        return torch.randn(n, self.latent_dim, generator=generator, dtype=self.W.dtype)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z] = W z + b: (..., d) -> (..., D)."""
        return z @ self.W.T + self.b

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral sampling: z ~ p(z), then x ~ p(x|z). Returns (x (n, D), z (n, d))."""
        z = self.sample_prior(n, generator)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=self.W.dtype)
        return self.decode_mean(z) + math.sqrt(self.x_var) * noise, z

    # ------------------------------------------------------------------ densities
    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z): (..., d) -> (...), nats."""
        return log_standard_normal(z).sum(-1)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x (B, D) and z (..., B, d) (broadcast): returns (..., B), nats."""
        return log_normal(x, self.decode_mean(z), self.x_logvar).sum(-1)

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z) = log p(x|z) + log p(z): (..., B), nats."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    def marginal(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of p(x) = N(b, W Wᵀ + σ² I): mean (D,), covariance (D, D)."""
        eye = torch.eye(self.data_dim, dtype=self.W.dtype)
        return self.b, self.W @ self.W.T + self.x_var * eye

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) = log N(x; b, W Wᵀ + σ² I) via a Cholesky factor: (B, D) -> (B,)."""
        _check_x(x, self.data_dim)
        mean, cov = self.marginal()
        chol = torch.linalg.cholesky(cov)
        diff = (x.to(mean.dtype) - mean).T  # (D, B)
        sol = torch.linalg.solve_triangular(chol, diff, upper=False)
        maha = (sol**2).sum(0)
        logdet = 2.0 * torch.log(torch.diagonal(chol)).sum()
        return -0.5 * (self.data_dim * LOG_2PI + logdet + maha)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact p(z|x) = N(m, Σ): returns m (B, d) and Σ (d, d), the same for every x.

        ``Σ = (I + WᵀW/σ²)⁻¹`` and ``m = Σ Wᵀ (x − b) / σ²``.
        """
        _check_x(x, self.data_dim)
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype)
        cov = torch.linalg.inv(eye + self.W.T @ self.W / self.x_var)
        cov = 0.5 * (cov + cov.T)
        mean = (x.to(self.W.dtype) - self.b) @ self.W @ cov / self.x_var
        return mean, cov

    # ------------------------------------------------------------------ variational quantities
    def elbo_full(self, x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
        """Exact ELBO(q) = E_q[log p(x, z)] + H[q] for a Gaussian q(z|x) = N(mean, cov).

        x: (B, D); mean: (B, d); cov: (d, d) or (B, d, d). Returns (B,) nats, in closed form:
        ``log N(x; W m + b, σ²I) − tr(W S Wᵀ)/(2σ²) + log N(m; 0, I) − tr(S)/2
        + ½ log det(2πe S)``.
        """
        _check_x(x, self.data_dim)
        mean = mean.to(self.W.dtype)
        cov = cov.to(self.W.dtype)
        rec = log_normal(x, self.decode_mean(mean), self.x_logvar).sum(-1)
        rec = rec - torch.einsum("ij,...jk,ik->...", self.W, cov, self.W) / (2 * self.x_var)
        prior = log_standard_normal(mean).sum(-1) - 0.5 * torch.diagonal(cov, 0, -2, -1).sum(-1)
        entropy = 0.5 * (self.latent_dim * (LOG_2PI + 1.0) + torch.logdet(cov))
        return rec + prior + entropy

    def optimal_diagonal_q(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The best *diagonal* Gaussian q(z|x) for each x: the per-datapoint optimum.

        Maximising the ELBO over q = N(mu, diag σ²) for a Gaussian posterior N(m, Σ) gives
        mu = m and σ_j² = 1 / (Σ⁻¹)_jj (reverse KL matches the precision's diagonal, so it
        under-estimates the posterior's marginal variances). Returns mu (B, d), logvar (B, d).
        """
        mean, cov = self.posterior(x)
        precision_diag = torch.diagonal(torch.linalg.inv(cov))
        return mean, (-torch.log(precision_diag)).expand_as(mean).clone()

    def elbo(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Exact ELBO for a diagonal q(z|x) = N(mu, diag exp(logvar)); mu, logvar (B, d) -> (B,)."""
        return self.elbo_full(x, mu, torch.diag_embed(torch.exp(logvar)))

    def kl_to_posterior(
        self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
    ) -> torch.Tensor:
        """Exact KL(q(z|x) ‖ p(z|x)) for diagonal q = N(mu, diag exp(logvar)): (B,) nats.

        Closed form between two Gaussians (computed independently of :meth:`elbo`, so
        ``log p(x) = ELBO + KL`` is a real check):
        ``½ [tr(Σ⁻¹S) + (m − μ)ᵀ Σ⁻¹ (m − μ) − d + log det Σ − log det S]``.
        """
        m, cov = self.posterior(x)
        mu, logvar = mu.to(self.W.dtype), logvar.to(self.W.dtype)
        prec = torch.linalg.inv(cov)
        diff = m - mu
        trace = (torch.diagonal(prec) * torch.exp(logvar)).sum(-1)
        maha = torch.einsum("bi,ij,bj->b", diff, prec, diff)
        return 0.5 * (trace + maha - self.latent_dim + torch.logdet(cov) - logvar.sum(-1))

    def __repr__(self) -> str:
        return (
            f"LinearGaussian(data_dim={self.data_dim}, latent_dim={self.latent_dim}, "
            f"x_var={self.x_var:.4g})"
        )


class GaussianMixture:
    """A mixture of K diagonal Gaussians as a latent variable model with a discrete z.

    ``p(z = k) = softmax(logits)_k``, ``p(x | z = k) = N(means[k], diag exp(logvars[k]))``.

    Args:
        logits: (K,) unnormalised log mixture weights.
        means: (K, D) component means.
        logvars: (K, D) component log-variances (log σ², not log σ).
    """

    def __init__(self, logits, means, logvars):
        self.means = _as_float(means)
        dtype = self.means.dtype
        self.logits = _as_float(logits, dtype)
        self.logvars = _as_float(logvars, dtype)
        if self.means.dim() != 2 or self.logvars.shape != self.means.shape:
            raise ValueError(
                f"means and logvars must both be (K, D); got {tuple(self.means.shape)} and "
                f"{tuple(self.logvars.shape)}"
            )
        if self.logits.shape != (self.means.shape[0],):
            raise ValueError(f"logits must be (K,) = ({self.means.shape[0]},)")
        self.n_components, self.data_dim = self.means.shape
        self.log_weights = torch.log_softmax(self.logits, dim=0)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p(z): (n,) int64 component indices."""
        probs = torch.exp(self.log_weights)
        return torch.multinomial(probs, n, replacement=True, generator=generator)

    def sample(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Ancestral sampling: returns (x (n, D), z (n,))."""
        z = self.sample_prior(n, generator)
        eps = torch.randn(n, self.data_dim, generator=generator, dtype=self.means.dtype)
        return self.means[z] + torch.exp(0.5 * self.logvars[z]) * eps, z

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for integer z (...): (...)."""
        return self.log_weights[z]

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) for x (B, D) and integer z (..., B): (..., B), nats."""
        return log_normal(x, self.means[z], self.logvars[z]).sum(-1)

    def log_joint(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x, z): (..., B), nats."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    def _log_joint_all(self, x: torch.Tensor) -> torch.Tensor:
        _check_x(x, self.data_dim)
        z = torch.arange(self.n_components).unsqueeze(1).expand(-1, x.shape[0])
        return self.log_joint(x.to(self.means.dtype), z).T  # (B, K)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) = log Σ_k π_k N(x; μ_k, σ_k²): (B, D) -> (B,), nats."""
        return torch.logsumexp(self._log_joint_all(x), dim=1)

    def posterior(self, x: torch.Tensor) -> torch.Tensor:
        """Exact p(z = k | x), the responsibilities: (B, K), rows sum to 1."""
        return torch.softmax(self._log_joint_all(x), dim=1)

    def __repr__(self) -> str:
        return f"GaussianMixture(n_components={self.n_components}, data_dim={self.data_dim})"


def fit_linear_encoder(
    model: LinearGaussian,
    x: torch.Tensor,
    rank: int | None = None,
    steps: int = 400,
    lr: float = 0.05,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Amortized inference on a linear-Gaussian model: one encoder for every x.

    The encoder is mu(x) = (x − b) A + c with A (D, d) of rank at most ``rank`` (A = U V,
    U (D, r), V (r, d); full rank when None) and one shared logvar (d,). Its parameters
    maximise the mean exact ELBO over ``x`` (B, D) by Adam for ``steps`` steps. Returns
    the encoder's (mu, logvar) for ``x``, each (B, d) and detached: compare
    ``model.elbo(x, mu, logvar)`` with the per-datapoint optimum
    :meth:`LinearGaussian.optimal_diagonal_q` to see the amortization gap.
    """
    g = torch.Generator().manual_seed(seed)
    d, D = model.latent_dim, model.data_dim
    r = d if rank is None else int(rank)
    if not 1 <= r <= d:
        raise ValueError(f"rank must be in [1, {d}] (the latent dimension), got {rank}")
    dt = model.W.dtype
    U = (0.1 * torch.randn(D, r, generator=g, dtype=dt)).requires_grad_(True)
    V = (0.1 * torch.randn(r, d, generator=g, dtype=dt)).requires_grad_(True)
    c = torch.zeros(d, dtype=dt, requires_grad=True)
    logvar = torch.zeros(d, dtype=dt, requires_grad=True)
    xc = x.to(dt) - model.b
    opt = torch.optim.Adam([U, V, c, logvar], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        mu = xc @ U @ V + c
        loss = -model.elbo(x, mu, logvar.expand_as(mu)).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mu = xc @ U @ V + c
        return mu, logvar.expand_as(mu).clone()


def fit_gaussian_on_grid(
    z: torch.Tensor,
    log_p: torch.Tensor,
    direction: str = "reverse",
    init_mean: float = 0.0,
    init_std: float = 1.0,
    steps: int = 2000,
    lr: float = 0.02,
) -> tuple[float, float]:
    """The 1-D Gaussian q = N(mean, std²) closest to a density p known on a grid.

    z: (G,) evenly spaced grid; log_p: (G,) log p(z) up to a constant (normalised here).
    ``direction="reverse"`` minimises KL(q ‖ p) = E_q[log q − log p] (what the ELBO does:
    mode-seeking, the answer depends on ``init_mean``) by Adam over (mean, log std);
    ``"forward"`` minimises KL(p ‖ q), whose minimiser is moment matching (mean and std of
    p, mass-covering). Returns (mean, std).
    """
    z = z.to(torch.float64)
    dz = float(z[1] - z[0])
    logp = log_p.to(torch.float64) - torch.logsumexp(log_p.to(torch.float64), 0) - math.log(dz)
    if direction == "forward":
        w = torch.exp(logp) * dz
        mean = float((w * z).sum())
        return mean, float(((w * (z - mean) ** 2).sum()).sqrt())
    if direction != "reverse":
        raise ValueError(f"direction must be 'reverse' or 'forward', got {direction!r}")
    m = torch.tensor(float(init_mean), dtype=torch.float64, requires_grad=True)
    log_s = torch.tensor(math.log(init_std), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([m, log_s], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        logq = -0.5 * ((z - m) / log_s.exp()) ** 2 - log_s - 0.5 * math.log(2 * math.pi)
        kl = (torch.exp(logq) * (logq - logp)).sum() * dz
        kl.backward()
        opt.step()
    return float(m.detach()), float(log_s.detach().exp())
