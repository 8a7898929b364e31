"""A held-out batch of plausible wrong answers ("mutants") to the graded exercise tasks.

Written from the exercise contracts only (the solution notebooks' markdown, docstrings and
solution code), without reading the checks, to measure whether the checks catch mistakes
their author did not think of. Every mutant violates its task's docstring contract.

    python scripts/mutants_heldout.py            # run every mutant with seeds 11 and 12
    python scripts/mutants_heldout.py --sanity   # the solutions must pass

A mutant is *killed* when its check fails for both seeds.

Result (2026-12-03): the first run killed 66 of 69. The three survivors were gaps, now
closed: ``gaussian_kl`` squaring the caller's ``mu`` in place (the check handed the function
a copy it never compared: :func:`vae_course.grading.checks.copy_input` now does), and two
encoders with the right parameter count but a ReLU on (mu, logvar) or none after the first
layer (the build checks now run the guide's architecture with the learner's own weights).
All 69 are now killed, and ``tests/test_grading_builders.py`` keeps them so.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

from vae_course.grading.mutants import report

SEEDS = (11, 12)


# =============================================================================== solutions
# Copied from solutions/*.ipynb. The module-level names (log_mean_exp, gaussian_kl, ...) are
# also the names the mutants call, as the notebooks do; the checker rebinds them to the
# course's references while a task that uses them is checked.
def sample_linear_gaussian(W, b, x_var, n, generator=None):
    D, d = W.shape
    z = torch.randn(n, d, generator=generator, dtype=W.dtype)
    noise = torch.randn(n, D, generator=generator, dtype=W.dtype)
    x = z @ W.T + b + math.sqrt(x_var) * noise
    return x, z


def log_mean_exp(a, dim=0):
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def naive_mc_log_px(model, x, k, generator=None):
    B = x.shape[0]
    z = model.sample_prior(k * B, generator).reshape(k, B, -1)
    return log_mean_exp(model.log_likelihood(x, z), dim=0)


def ppca_log_marginal(x, W, b, x_var):
    D = W.shape[0]
    C = W @ W.T + x_var * torch.eye(D, dtype=W.dtype)
    diff = x - b
    maha = (diff * torch.linalg.solve(C, diff.T).T).sum(dim=1)
    return -0.5 * (D * math.log(2 * math.pi) + torch.logdet(C) + maha)


def gaussian_log_likelihood(x, mean, logvar):
    logvar = torch.as_tensor(logvar, dtype=x.dtype)
    per_value = -0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 / torch.exp(logvar))
    return per_value.expand_as(x).reshape(x.shape[0], -1).sum(dim=1)


def gaussian_kl_diag(mu_q, logvar_q, mu_p, logvar_p):
    var_q, var_p = torch.exp(logvar_q), torch.exp(logvar_p)
    per_dim = logvar_p - logvar_q + (var_q + (mu_q - mu_p) ** 2) / var_p - 1.0
    return 0.5 * per_dim.sum(dim=1)


def log_weights(model, x, mu, logvar, eps):
    z = mu + torch.exp(0.5 * logvar) * eps
    log_q = (-0.5 * (math.log(2 * math.pi) + logvar + eps**2)).sum(dim=-1)
    return model.log_likelihood(x, z) + model.log_prior(z) - log_q


def elbo_and_iwae(log_w):
    return log_w.mean(dim=0), log_mean_exp(log_w, dim=0)


def reparameterized_sample(mu, logvar, eps):
    return mu + torch.exp(0.5 * logvar) * eps


def score_function_gradient(f, mu, logvar, eps, baseline=0.0):
    var = torch.exp(logvar)
    with torch.no_grad():
        z = mu + torch.sqrt(var) * eps
        weight = (f(z) - baseline).unsqueeze(-1)
    grad_mu = weight * (z - mu) / var
    grad_logvar = weight * 0.5 * ((z - mu) ** 2 / var - 1.0)
    return grad_mu, grad_logvar


def reparameterization_gradient(f, mu, logvar, eps):
    n = eps.shape[0]
    mu_n = mu.detach().expand(n, -1).clone().requires_grad_(True)
    logvar_n = logvar.detach().expand(n, -1).clone().requires_grad_(True)
    z = reparameterized_sample(mu_n, logvar_n, eps)
    grad_mu, grad_logvar = torch.autograd.grad(f(z).sum(), (mu_n, logvar_n))
    return grad_mu, grad_logvar


def mean_and_se(samples):
    n = samples.shape[0]
    return samples.mean(dim=0), samples.std(dim=0) / math.sqrt(n)


def reparameterize(mu, logvar):
    std = torch.exp(0.5 * logvar)
    eps = torch.randn_like(std)
    return mu + std * eps


def gaussian_kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def bernoulli_log_likelihood(x, logits):
    ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return ll.reshape(x.shape[0], -1).sum(dim=1)


def vae_loss(x, x_logits, mu, logvar, beta=1.0):
    reconstruction = bernoulli_log_likelihood(x, x_logits)
    kl = gaussian_kl(mu, logvar)
    return (-reconstruction + beta * kl).mean()


def train_step(model, optimizer, x, beta=1.0):
    model.train()
    out = model(x)
    loss = vae_loss(x, out["x_logits"], out["mu"], out["logvar"], beta=beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def sample_prior(model, n, temperature=1.0):
    device = next(model.parameters()).device
    with torch.no_grad():
        z = temperature * torch.randn(n, model.latent_dim, device=device)
        return torch.sigmoid(model.decode(z))


class Encoder(nn.Module):
    """x (B, 1, 28, 28) or (B, 784) -> (mu, logvar), each (B, latent_dim): 784-512-256-2d."""

    def __init__(self, latent_dim=20):
        super().__init__()
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU()
        )
        self.stats = nn.Linear(256, 2 * latent_dim)

    def forward(self, x):
        mu, logvar = self.stats(self.hidden(x)).chunk(2, dim=1)
        return mu, logvar


class Decoder(nn.Module):
    """z (B, latent_dim) -> Bernoulli logits (B, 1, 28, 28): d-256-512-784."""

    def __init__(self, latent_dim=20):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.ReLU(),
            nn.Linear(256, 512),
            nn.ReLU(),
            nn.Linear(512, 784),
        )

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


SOLUTIONS = {
    "ex01.sample_linear_gaussian": sample_linear_gaussian,
    "ex01.log_mean_exp": log_mean_exp,
    "ex01.naive_mc_log_px": naive_mc_log_px,
    "ex01.ppca_log_marginal": ppca_log_marginal,
    "ex02.gaussian_log_likelihood": gaussian_log_likelihood,
    "ex02.gaussian_kl_diag": gaussian_kl_diag,
    "ex02.log_weights": log_weights,
    "ex02.elbo_and_iwae": elbo_and_iwae,
    "ex03.reparameterized_sample": reparameterized_sample,
    "ex03.score_function_gradient": score_function_gradient,
    "ex03.reparameterization_gradient": reparameterization_gradient,
    "ex03.mean_and_se": mean_and_se,
    "ex04.reparameterize": reparameterize,
    "ex04.gaussian_kl": gaussian_kl,
    "ex04.bernoulli_log_likelihood": bernoulli_log_likelihood,
    "ex04.vae_loss": vae_loss,
    "ex04.train_step": train_step,
    "ex04.sample_prior": sample_prior,
    "ex04.encoder": Encoder,
    "ex04.decoder": Decoder,
}


# ================================================================================= mutants
# ---------------------------------------------------------------- ex01.sample_linear_gaussian
def slg_std_as_var(W, b, x_var, n, generator=None):
    """x_var used as the noise's standard deviation (contract: x_var is σ², a variance)."""
    D, d = W.shape
    z = torch.randn(n, d, generator=generator, dtype=W.dtype)
    noise = torch.randn(n, D, generator=generator, dtype=W.dtype)
    return z @ W.T + b + x_var * noise, z


def slg_noise_ignores_generator(W, b, x_var, n, generator=None):
    """The observation noise is drawn from the global RNG, not from `generator`."""
    D, d = W.shape
    z = torch.randn(n, d, generator=generator, dtype=W.dtype)
    noise = torch.randn(n, D, dtype=W.dtype)
    return z @ W.T + b + math.sqrt(x_var) * noise, z


def slg_shared_noise(W, b, x_var, n, generator=None):
    """One noise vector shared by all n samples (x | z not independent across samples)."""
    D, d = W.shape
    z = torch.randn(n, d, generator=generator, dtype=W.dtype)
    noise = torch.randn(1, D, generator=generator, dtype=W.dtype)
    return z @ W.T + b + math.sqrt(x_var) * noise, z


def slg_float32(W, b, x_var, n, generator=None):
    """Hard-coded float32 samples (contract: in W's dtype)."""
    D, d = W.shape
    z = torch.randn(n, d, generator=generator)
    noise = torch.randn(n, D, generator=generator)
    x = z @ W.T.float() + b.float() + math.sqrt(x_var) * noise
    return x, z


# ---------------------------------------------------------------------- ex01.log_mean_exp
def lme_no_log_k(a, dim=0):
    """log-SUM-exp: forgot the − log K."""
    return torch.logsumexp(a, dim=dim)


def lme_naive(a, dim=0):
    """log(mean(exp(a))): overflows/underflows for ±1000."""
    return torch.log(torch.exp(a).mean(dim=dim))


def lme_k_from_dim0(a, dim=0):
    """K taken from a.shape[0] whatever `dim` is."""
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[0])


def lme_global_max(a, dim=0):
    """Shifts by the global max instead of each slice's own max: slices far below underflow."""
    m = a.max()
    return m + torch.log(torch.exp(a - m).mean(dim=dim))


# -------------------------------------------------------------------- ex01.naive_mc_log_px
def nmc_ignores_generator(model, x, k, generator=None):
    """Prior samples drawn without the given generator (not repeatable)."""
    B = x.shape[0]
    z = model.sample_prior(k * B).reshape(k, B, -1)
    return log_mean_exp(model.log_likelihood(x, z), dim=0)


def nmc_mean_of_logs(model, x, k, generator=None):
    """Averages log p(x|z) (a Jensen lower bound) instead of log of the average of p(x|z)."""
    B = x.shape[0]
    z = model.sample_prior(k * B, generator).reshape(k, B, -1)
    return model.log_likelihood(x, z).mean(dim=0)


def nmc_log_sum(model, x, k, generator=None):
    """logsumexp over the k samples without − log k (log of a sum, not a mean)."""
    B = x.shape[0]
    z = model.sample_prior(k * B, generator).reshape(k, B, -1)
    return torch.logsumexp(model.log_likelihood(x, z), dim=0)


# ------------------------------------------------------------------ ex01.ppca_log_marginal
def ppca_var_squared(x, W, b, x_var):
    """Treats x_var as σ and squares it: C = W Wᵀ + x_var² I."""
    D = W.shape[0]
    C = W @ W.T + x_var**2 * torch.eye(D, dtype=W.dtype)
    diff = x - b
    maha = (diff * torch.linalg.solve(C, diff.T).T).sum(dim=1)
    return -0.5 * (D * math.log(2 * math.pi) + torch.logdet(C) + maha)


def ppca_forgot_b(x, W, b, x_var):
    """Mean of p(x) taken as 0 instead of b."""
    D = W.shape[0]
    C = W @ W.T + x_var * torch.eye(D, dtype=W.dtype)
    maha = (x * torch.linalg.solve(C, x.T).T).sum(dim=1)
    return -0.5 * (D * math.log(2 * math.pi) + torch.logdet(C) + maha)


def ppca_logdet_sign(x, W, b, x_var):
    """Sign error on log det C."""
    D = W.shape[0]
    C = W @ W.T + x_var * torch.eye(D, dtype=W.dtype)
    diff = x - b
    maha = (diff * torch.linalg.solve(C, diff.T).T).sum(dim=1)
    return -0.5 * (D * math.log(2 * math.pi) - torch.logdet(C) + maha)


# ------------------------------------------------------------ ex02.gaussian_log_likelihood
def gll_logstd(x, mean, logvar):
    """logvar read as log σ (σ² = exp(2·logvar))."""
    logvar = torch.as_tensor(logvar, dtype=x.dtype)
    per_value = -0.5 * (
        math.log(2 * math.pi) + 2 * logvar + (x - mean) ** 2 / torch.exp(2 * logvar)
    )
    return per_value.expand_as(x).reshape(x.shape[0], -1).sum(dim=1)


def gll_sum_dim1(x, mean, logvar):
    """Sums over dim 1 only: wrong shape for (B, 1, 28, 28) inputs."""
    logvar = torch.as_tensor(logvar, dtype=x.dtype)
    per_value = -0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 / torch.exp(logvar))
    return per_value.expand_as(x).sum(dim=1)


def gll_python_float_logvar(x, mean, logvar):
    """Uses math.exp/float on logvar: fails for a per-value tensor logvar."""
    lv = float(logvar)
    per_value = -0.5 * (math.log(2 * math.pi) + lv + (x - mean) ** 2 / math.exp(lv))
    return per_value.reshape(x.shape[0], -1).sum(dim=1)


# ------------------------------------------------------------------- ex02.gaussian_kl_diag
def kld_swapped(mu_q, logvar_q, mu_p, logvar_p):
    """Computes KL(p ‖ q) instead of KL(q ‖ p)."""
    var_q, var_p = torch.exp(logvar_q), torch.exp(logvar_p)
    per_dim = logvar_q - logvar_p + (var_p + (mu_q - mu_p) ** 2) / var_q - 1.0
    return 0.5 * per_dim.sum(dim=1)


def kld_mean_over_dims(mu_q, logvar_q, mu_p, logvar_p):
    """Averages over the D dimensions instead of summing."""
    var_q, var_p = torch.exp(logvar_q), torch.exp(logvar_p)
    per_dim = logvar_p - logvar_q + (var_q + (mu_q - mu_p) ** 2) / var_p - 1.0
    return 0.5 * per_dim.mean(dim=1)


def kld_divide_by_var_q(mu_q, logvar_q, mu_p, logvar_p):
    """Squared mean difference divided by σ_q² instead of σ_p²."""
    var_q, var_p = torch.exp(logvar_q), torch.exp(logvar_p)
    per_dim = logvar_p - logvar_q + var_q / var_p + (mu_q - mu_p) ** 2 / var_q - 1.0
    return 0.5 * per_dim.sum(dim=1)


# ------------------------------------------------------------------------ ex02.log_weights
def lw_no_logvar_in_q(model, x, mu, logvar, eps):
    """log q(z|x) written as the standard normal log-density of eps: forgot the − ½ log σ²."""
    z = mu + torch.exp(0.5 * logvar) * eps
    log_q = (-0.5 * (math.log(2 * math.pi) + eps**2)).sum(dim=-1)
    return model.log_likelihood(x, z) + model.log_prior(z) - log_q


def lw_detached_z(model, x, mu, logvar, eps):
    """z detached: the log-weights are not differentiable through z."""
    z = (mu + torch.exp(0.5 * logvar) * eps).detach()
    log_q = (-0.5 * (math.log(2 * math.pi) + logvar + eps**2)).sum(dim=-1)
    return model.log_likelihood(x, z) + model.log_prior(z) - log_q


def lw_fresh_eps(model, x, mu, logvar, eps):
    """Draws its own noise instead of using the given eps."""
    eps = torch.randn_like(eps)
    z = mu + torch.exp(0.5 * logvar) * eps
    log_q = (-0.5 * (math.log(2 * math.pi) + logvar + eps**2)).sum(dim=-1)
    return model.log_likelihood(x, z) + model.log_prior(z) - log_q


# ---------------------------------------------------------------------- ex02.elbo_and_iwae
def ei_swapped(log_w):
    """Returns (iwae, elbo) in the wrong order."""
    return log_mean_exp(log_w, dim=0), log_w.mean(dim=0)


def ei_naive_iwae(log_w):
    """IWAE as log(mean(exp(log_w))): −inf/inf for log-weights like ±1000."""
    return log_w.mean(dim=0), torch.log(torch.exp(log_w).mean(dim=0))


def ei_iwae_no_log_k(log_w):
    """IWAE as logsumexp, without − log K."""
    return log_w.mean(dim=0), torch.logsumexp(log_w, dim=0)


# --------------------------------------------------------------- ex03.reparameterized_sample
def rs_exp_logvar(mu, logvar, eps):
    """σ = exp(logvar): logvar read as log σ."""
    return mu + torch.exp(logvar) * eps


def rs_inplace_eps(mu, logvar, eps):
    """Scales and shifts eps in place (edits the caller's tensor)."""
    return eps.mul_(torch.exp(0.5 * logvar)).add_(mu)


def rs_detached(mu, logvar, eps):
    """Detaches the result: no gradient reaches mu and logvar."""
    return (mu + torch.exp(0.5 * logvar) * eps).detach()


# ------------------------------------------------------------- ex03.score_function_gradient
def sf_ignores_baseline(f, mu, logvar, eps, baseline=0.0):
    """Ignores the baseline argument."""
    var = torch.exp(logvar)
    with torch.no_grad():
        z = mu + torch.sqrt(var) * eps
        weight = f(z).unsqueeze(-1)
    return weight * (z - mu) / var, weight * 0.5 * ((z - mu) ** 2 / var - 1.0)


def sf_logstd_score(f, mu, logvar, eps, baseline=0.0):
    """Score with respect to log σ (no ½): twice the log σ² gradient."""
    var = torch.exp(logvar)
    with torch.no_grad():
        z = mu + torch.sqrt(var) * eps
        weight = (f(z) - baseline).unsqueeze(-1)
    return weight * (z - mu) / var, weight * ((z - mu) ** 2 / var - 1.0)


def sf_mu_score_eps(f, mu, logvar, eps, baseline=0.0):
    """∇_mu log q taken as eps (forgot the 1/σ)."""
    var = torch.exp(logvar)
    with torch.no_grad():
        z = mu + torch.sqrt(var) * eps
        weight = (f(z) - baseline).unsqueeze(-1)
    return weight * eps, weight * 0.5 * ((z - mu) ** 2 / var - 1.0)


def sf_undetached_surrogate(f, mu, logvar, eps, baseline=0.0):
    """Autograd on (f(z) − b)·log q(z) with z NOT detached: f is differentiated, score cancels."""
    n = eps.shape[0]
    mu_n = mu.detach().expand(n, -1).clone().requires_grad_(True)
    logvar_n = logvar.detach().expand(n, -1).clone().requires_grad_(True)
    z = mu_n + torch.exp(0.5 * logvar_n) * eps
    log_q = (-0.5 * (math.log(2 * math.pi) + logvar_n + (z - mu_n) ** 2 / logvar_n.exp())).sum(-1)
    surrogate = ((f(z) - baseline) * log_q).sum()
    return torch.autograd.grad(surrogate, (mu_n, logvar_n))


# --------------------------------------------------------- ex03.reparameterization_gradient
def rg_shared_params(f, mu, logvar, eps):
    """One shared copy of the parameters: every row is the mean gradient, not sample i's."""
    n = eps.shape[0]
    mu_r = mu.detach().clone().requires_grad_(True)
    logvar_r = logvar.detach().clone().requires_grad_(True)
    z = mu_r + torch.exp(0.5 * logvar_r) * eps
    g_mu, g_lv = torch.autograd.grad(f(z).sum(), (mu_r, logvar_r))
    return (g_mu / n).expand(n, -1).clone(), (g_lv / n).expand(n, -1).clone()


def rg_logstd_path(f, mu, logvar, eps):
    """z built with σ = exp(logvar) (log-std confusion)."""
    n = eps.shape[0]
    mu_n = mu.detach().expand(n, -1).clone().requires_grad_(True)
    logvar_n = logvar.detach().expand(n, -1).clone().requires_grad_(True)
    z = mu_n + torch.exp(logvar_n) * eps
    return torch.autograd.grad(f(z).sum(), (mu_n, logvar_n))


def rg_closed_form_no_half(f, mu, logvar, eps):
    """Chain rule by hand: ∂z/∂logvar taken as σ·eps, missing the ½."""
    sigma = torch.exp(0.5 * logvar.detach())
    z = (mu.detach() + sigma * eps).requires_grad_(True)
    (gz,) = torch.autograd.grad(f(z).sum(), z)
    return gz, gz * sigma * eps


# ------------------------------------------------------------------------ ex03.mean_and_se
def mse_biased_std(samples):
    """Standard deviation with n (not n − 1) in the denominator."""
    n = samples.shape[0]
    return samples.mean(dim=0), samples.std(dim=0, correction=0) / math.sqrt(n)


def mse_divide_by_n(samples):
    """SE = std / n instead of std / √n."""
    n = samples.shape[0]
    return samples.mean(dim=0), samples.std(dim=0) / n


def mse_sqrt_n_minus_1(samples):
    """SE = std / √(n − 1): off by one in the square root."""
    n = samples.shape[0]
    return samples.mean(dim=0), samples.std(dim=0) / math.sqrt(n - 1)


# ---------------------------------------------------------------------- ex04.reparameterize
def rp_exp_logvar(mu, logvar):
    """σ = exp(logvar): logvar read as log σ."""
    return mu + torch.exp(logvar) * torch.randn_like(mu)


def rp_uniform(mu, logvar):
    """torch.rand_like (uniform on [0, 1)) instead of randn_like."""
    return mu + torch.exp(0.5 * logvar) * torch.rand_like(mu)


def rp_eps_on_cpu(mu, logvar):
    """Noise created on the CPU whatever mu's device."""
    eps = torch.randn(mu.shape, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def rp_shared_across_batch(mu, logvar):
    """One ε of shape (d,) shared by every example in the batch."""
    eps = torch.randn(mu.shape[-1], dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


# ------------------------------------------------------------------------- ex04.gaussian_kl
def kl_mean_over_d(mu, logvar):
    """Averages over the latent dimensions instead of summing."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=1)


def kl_logstd(mu, logvar):
    """logvar read as log σ: σ² = exp(2·logvar), log σ² = 2·logvar."""
    return 0.5 * (mu.pow(2) + torch.exp(2 * logvar) - 1.0 - 2 * logvar).sum(dim=1)


def kl_inplace(mu, logvar):
    """Squares mu in place (mu.pow_), editing the caller's tensor."""
    return 0.5 * (mu.pow_(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


# ------------------------------------------------------------ ex04.bernoulli_log_likelihood
def bll_sigmoid_log(x, logits):
    """sigmoid then log: −inf / nan for large |logits|."""
    p = torch.sigmoid(logits)
    ll = x * torch.log(p) + (1 - x) * torch.log(1 - p)
    return ll.reshape(x.shape[0], -1).sum(dim=1)


def bll_clamped(x, logits):
    """Clamps the probabilities to [1e-6, 1 − 1e-6]: finite but wrong for large |logits|."""
    p = torch.sigmoid(logits).clamp(1e-6, 1 - 1e-6)
    ll = x * torch.log(p) + (1 - x) * torch.log(1 - p)
    return ll.reshape(x.shape[0], -1).sum(dim=1)


def bll_swapped_args(x, logits):
    """binary_cross_entropy_with_logits(x, logits): input and target swapped."""
    ll = -F.binary_cross_entropy_with_logits(x, logits, reduction="none")
    return ll.reshape(x.shape[0], -1).sum(dim=1)


def bll_mean_over_pixels(x, logits):
    """Averages over the pixels instead of summing."""
    ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return ll.reshape(x.shape[0], -1).mean(dim=1)


# ---------------------------------------------------------------------------- ex04.vae_loss
def vl_forgets_beta(x, x_logits, mu, logvar, beta=1.0):
    """Ignores beta (always the β = 1 ELBO)."""
    return (-bernoulli_log_likelihood(x, x_logits) + gaussian_kl(mu, logvar)).mean()


def vl_beta_on_reconstruction(x, x_logits, mu, logvar, beta=1.0):
    """beta weights the reconstruction term instead of the KL."""
    return (-beta * bernoulli_log_likelihood(x, x_logits) + gaussian_kl(mu, logvar)).mean()


def vl_mean_reduction(x, x_logits, mu, logvar, beta=1.0):
    """Reconstruction with reduction="mean" (per pixel) but the KL summed over dims."""
    rec = F.binary_cross_entropy_with_logits(x_logits, x, reduction="mean")
    return rec + beta * gaussian_kl(mu, logvar).mean()


def vl_item(x, x_logits, mu, logvar, beta=1.0):
    """Returns loss.item(): a Python float, cut off from the autograd graph."""
    return (-bernoulli_log_likelihood(x, x_logits) + beta * gaussian_kl(mu, logvar)).mean().item()


# -------------------------------------------------------------------------- ex04.train_step
def ts_no_zero_grad(model, optimizer, x, beta=1.0):
    """Never clears old gradients: the second step uses accumulated gradients."""
    model.train()
    out = model(x)
    loss = vae_loss(x, out["x_logits"], out["mu"], out["logvar"], beta=beta)
    loss.backward()
    optimizer.step()
    return loss.item()


def ts_returns_tensor(model, optimizer, x, beta=1.0):
    """Returns the 0-d loss tensor (with its graph) instead of a Python float."""
    model.train()
    out = model(x)
    loss = vae_loss(x, out["x_logits"], out["mu"], out["logvar"], beta=beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def ts_ignores_beta(model, optimizer, x, beta=1.0):
    """Does not pass beta on to vae_loss."""
    model.train()
    out = model(x)
    loss = vae_loss(x, out["x_logits"], out["mu"], out["logvar"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def ts_loss_after_update(model, optimizer, x, beta=1.0):
    """Returns the loss recomputed after the update, not the one before it."""
    model.train()
    out = model(x)
    loss = vae_loss(x, out["x_logits"], out["mu"], out["logvar"], beta=beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        out = model(x)
        return vae_loss(x, out["x_logits"], out["mu"], out["logvar"], beta=beta).item()


# ------------------------------------------------------------------------ ex04.sample_prior
def sp_returns_logits(model, n, temperature=1.0):
    """Returns the decoder's logits, not probabilities."""
    device = next(model.parameters()).device
    with torch.no_grad():
        z = temperature * torch.randn(n, model.latent_dim, device=device)
        return model.decode(z)


def sp_z_on_cpu(model, n, temperature=1.0):
    """z created on the CPU whatever the model's device."""
    with torch.no_grad():
        z = temperature * torch.randn(n, model.latent_dim)
        return torch.sigmoid(model.decode(z))


def sp_no_no_grad(model, n, temperature=1.0):
    """Decodes outside torch.no_grad(): the samples carry an autograd graph."""
    device = next(model.parameters()).device
    z = temperature * torch.randn(n, model.latent_dim, device=device)
    return torch.sigmoid(model.decode(z))


def sp_temperature_as_variance(model, n, temperature=1.0):
    """Temperature read as a variance: z scaled by √T instead of T."""
    device = next(model.parameters()).device
    with torch.no_grad():
        z = math.sqrt(temperature) * torch.randn(n, model.latent_dim, device=device)
        return torch.sigmoid(model.decode(z))


# ----------------------------------------------------------------------------- ex04.encoder
class EncoderNoFlatten(nn.Module):
    """No flattening: only (B, 784) inputs work, (B, 1, 28, 28) fails."""

    def __init__(self, latent_dim=20):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
        self.stats = nn.Linear(256, 2 * latent_dim)

    def forward(self, x):
        return self.stats(self.hidden(x)).chunk(2, dim=1)


class EncoderReluOnStats(nn.Module):
    """A ReLU after the last layer: mu and logvar can never be negative."""

    def __init__(self, latent_dim=20):
        super().__init__()
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU()
        )
        self.stats = nn.Sequential(nn.Linear(256, 2 * latent_dim), nn.ReLU())

    def forward(self, x):
        return self.stats(self.hidden(x)).chunk(2, dim=1)


class EncoderMissingFirstRelu(nn.Module):
    """No ReLU after 784 → 512 (contract: each hidden layer followed by a ReLU)."""

    def __init__(self, latent_dim=20):
        super().__init__()
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 512), nn.Linear(512, 256), nn.ReLU()
        )
        self.stats = nn.Linear(256, 2 * latent_dim)

    def forward(self, x):
        return self.stats(self.hidden(x)).chunk(2, dim=1)


class EncoderSqueeze(nn.Module):
    """x.squeeze() before flattening: a batch of 1 loses its batch dimension."""

    def __init__(self, latent_dim=20):
        super().__init__()
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU()
        )
        self.stats = nn.Linear(256, 2 * latent_dim)

    def forward(self, x):
        return self.stats(self.hidden(x.squeeze())).chunk(2, dim=-1)


# ----------------------------------------------------------------------------- ex04.decoder
class DecoderSigmoid(nn.Module):
    """Ends in a sigmoid: returns probabilities, not logits."""

    def __init__(self, latent_dim=20):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.ReLU(),
            nn.Linear(256, 512),
            nn.ReLU(),
            nn.Linear(512, 784),
            nn.Sigmoid(),
        )

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class DecoderFlatOutput(nn.Module):
    """Returns (B, 784) instead of (B, 1, 28, 28)."""

    def __init__(self, latent_dim=20):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.ReLU(),
            nn.Linear(256, 512),
            nn.ReLU(),
            nn.Linear(512, 784),
        )

    def forward(self, z):
        return self.net(z)


class DecoderHardcoded20(nn.Module):
    """First layer hard-coded to 20 inputs, ignoring latent_dim."""

    def __init__(self, latent_dim=20):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(20, 256),
            nn.ReLU(),
            nn.Linear(256, 512),
            nn.ReLU(),
            nn.Linear(512, 784),
        )

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


MUTANTS = [
    ("ex01.sample_linear_gaussian", slg_std_as_var),
    ("ex01.sample_linear_gaussian", slg_noise_ignores_generator),
    ("ex01.sample_linear_gaussian", slg_shared_noise),
    ("ex01.sample_linear_gaussian", slg_float32),
    ("ex01.log_mean_exp", lme_no_log_k),
    ("ex01.log_mean_exp", lme_naive),
    ("ex01.log_mean_exp", lme_k_from_dim0),
    ("ex01.log_mean_exp", lme_global_max),
    ("ex01.naive_mc_log_px", nmc_ignores_generator),
    ("ex01.naive_mc_log_px", nmc_mean_of_logs),
    ("ex01.naive_mc_log_px", nmc_log_sum),
    ("ex01.ppca_log_marginal", ppca_var_squared),
    ("ex01.ppca_log_marginal", ppca_forgot_b),
    ("ex01.ppca_log_marginal", ppca_logdet_sign),
    ("ex02.gaussian_log_likelihood", gll_logstd),
    ("ex02.gaussian_log_likelihood", gll_sum_dim1),
    ("ex02.gaussian_log_likelihood", gll_python_float_logvar),
    ("ex02.gaussian_kl_diag", kld_swapped),
    ("ex02.gaussian_kl_diag", kld_mean_over_dims),
    ("ex02.gaussian_kl_diag", kld_divide_by_var_q),
    ("ex02.log_weights", lw_no_logvar_in_q),
    ("ex02.log_weights", lw_detached_z),
    ("ex02.log_weights", lw_fresh_eps),
    ("ex02.elbo_and_iwae", ei_swapped),
    ("ex02.elbo_and_iwae", ei_naive_iwae),
    ("ex02.elbo_and_iwae", ei_iwae_no_log_k),
    ("ex03.reparameterized_sample", rs_exp_logvar),
    ("ex03.reparameterized_sample", rs_inplace_eps),
    ("ex03.reparameterized_sample", rs_detached),
    ("ex03.score_function_gradient", sf_ignores_baseline),
    ("ex03.score_function_gradient", sf_logstd_score),
    ("ex03.score_function_gradient", sf_mu_score_eps),
    ("ex03.score_function_gradient", sf_undetached_surrogate),
    ("ex03.reparameterization_gradient", rg_shared_params),
    ("ex03.reparameterization_gradient", rg_logstd_path),
    ("ex03.reparameterization_gradient", rg_closed_form_no_half),
    ("ex03.mean_and_se", mse_biased_std),
    ("ex03.mean_and_se", mse_divide_by_n),
    ("ex03.mean_and_se", mse_sqrt_n_minus_1),
    ("ex04.reparameterize", rp_exp_logvar),
    ("ex04.reparameterize", rp_uniform),
    ("ex04.reparameterize", rp_eps_on_cpu),
    ("ex04.reparameterize", rp_shared_across_batch),
    ("ex04.gaussian_kl", kl_mean_over_d),
    ("ex04.gaussian_kl", kl_logstd),
    ("ex04.gaussian_kl", kl_inplace),
    ("ex04.bernoulli_log_likelihood", bll_sigmoid_log),
    ("ex04.bernoulli_log_likelihood", bll_clamped),
    ("ex04.bernoulli_log_likelihood", bll_swapped_args),
    ("ex04.bernoulli_log_likelihood", bll_mean_over_pixels),
    ("ex04.vae_loss", vl_forgets_beta),
    ("ex04.vae_loss", vl_beta_on_reconstruction),
    ("ex04.vae_loss", vl_mean_reduction),
    ("ex04.vae_loss", vl_item),
    ("ex04.train_step", ts_no_zero_grad),
    ("ex04.train_step", ts_returns_tensor),
    ("ex04.train_step", ts_ignores_beta),
    ("ex04.train_step", ts_loss_after_update),
    ("ex04.sample_prior", sp_returns_logits),
    ("ex04.sample_prior", sp_z_on_cpu),
    ("ex04.sample_prior", sp_no_no_grad),
    ("ex04.sample_prior", sp_temperature_as_variance),
    ("ex04.encoder", EncoderNoFlatten),
    ("ex04.encoder", EncoderReluOnStats),
    ("ex04.encoder", EncoderMissingFirstRelu),
    ("ex04.encoder", EncoderSqueeze),
    ("ex04.decoder", DecoderSigmoid),
    ("ex04.decoder", DecoderFlatOutput),
    ("ex04.decoder", DecoderHardcoded20),
]


# ==================================================================================== main
def main(argv: list[str] | None = None) -> int:
    return report(MUTANTS, SOLUTIONS, SEEDS, argv)


if __name__ == "__main__":
    sys.exit(main())
