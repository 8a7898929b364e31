"""Held-out mutation check of the exercise checks (ex01–ex04): how many plausible wrong
answers do they catch?

    .venv/bin/python scripts/mutation_check.py          # a table and a count

Each mutant below is a wrong answer a learner plausibly writes, and violates its task's
docstring contract. The kinds follow issue 8's list of wrong answers that earlier checks let
through (ignored generators, noise shared across dimensions, a global max shift, detached
terms, probability-space BCE, temperature on logits, 0-d tensors for floats, k−1 samples,
clamped ε, ``.squeeze()``, in-place edits, one-pass variance) plus classics (log-std as
log-variance, mean vs sum, a missing constant, a reversed KL).

Each mutant is run with two seeds and counts as killed when it loses its points on both.
All 40 are killed, and ``tests/test_grading_builders.py`` keeps it so: every mutant here is a
strict test. A fresh batch written without reading the checks (held out) lives in
``scripts/mutants_heldout.py``; a survivor there is a gap to close, then a mutant to move here.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F

from vae_course.grading.mutants import report


def _lme(a, dim=0):
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def _kl(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def _bll(x, logits):
    return (
        -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        .reshape(x.shape[0], -1)
        .sum(1)
    )


# ----------------------------------------------------------------------------- ex01
def slg_global_rng(W, b, x_var, n, generator=None):  # ignores the generator
    D, d = W.shape
    z = torch.randn(n, d, dtype=W.dtype)
    return z @ W.T + b + math.sqrt(x_var) * torch.randn(n, D, dtype=W.dtype), z


def slg_reseeds(W, b, x_var, n, generator=None):  # a private generator, reseeded every call
    g = torch.Generator().manual_seed(0)
    D, d = W.shape
    z = torch.randn(n, d, generator=g, dtype=W.dtype)
    return z @ W.T + b + math.sqrt(x_var) * torch.randn(n, D, generator=g, dtype=W.dtype), z


def slg_shared_noise(W, b, x_var, n, generator=None):  # one noise value for all D pixels
    D, d = W.shape
    z = torch.randn(n, d, generator=generator, dtype=W.dtype)
    noise = torch.randn(n, 1, generator=generator, dtype=W.dtype).expand(n, D)
    return z @ W.T + b + math.sqrt(x_var) * noise, z


def slg_var_as_std(W, b, x_var, n, generator=None):  # x_var used as a standard deviation
    D, d = W.shape
    z = torch.randn(n, d, generator=generator, dtype=W.dtype)
    return z @ W.T + b + x_var * torch.randn(n, D, generator=generator, dtype=W.dtype), z


def lme_global_max(a, dim=0):  # shifts by the max of the whole tensor, not of each slice
    m = a.max()
    return torch.log(torch.exp(a - m).mean(dim=dim)) + m


def lme_numel(a, dim=0):  # divides by every element, not by the size of dim
    return torch.logsumexp(a, dim=dim) - math.log(a.numel())


def lme_naive(a, dim=0):  # no shift at all
    return torch.log(torch.exp(a).mean(dim=dim))


def lme_in_place(a, dim=0):  # edits the caller's tensor
    m = a.amax(dim=dim, keepdim=True)
    a.sub_(m)
    return torch.log(torch.exp(a).mean(dim=dim)) + m.squeeze(dim)


def nmc_k_minus_1(model, x, k, generator=None):  # one sample short
    k = max(k - 1, 1)
    B = x.shape[0]
    z = model.sample_prior(k * B, generator).reshape(k, B, -1)
    return _lme(model.log_likelihood(x, z), dim=0)


def nmc_mean_of_logs(model, x, k, generator=None):  # averages log p(x|z): a lower number
    B = x.shape[0]
    z = model.sample_prior(k * B, generator).reshape(k, B, -1)
    return model.log_likelihood(x, z).mean(dim=0)


def nmc_shared_z(model, x, k, generator=None):  # the same k codes for every example
    B = x.shape[0]
    z = model.sample_prior(k, generator).unsqueeze(1).expand(k, B, -1)
    return _lme(model.log_likelihood(x, z), dim=0)


def nmc_no_generator(model, x, k, generator=None):  # ignores the generator
    B = x.shape[0]
    z = model.sample_prior(k * B).reshape(k, B, -1)
    return _lme(model.log_likelihood(x, z), dim=0)


def ppca_no_constant(x, W, b, x_var):  # forgets −D/2 log 2π
    D = W.shape[0]
    C = W @ W.T + x_var * torch.eye(D, dtype=W.dtype)
    d = x - b
    return -0.5 * (torch.logdet(C) + (d * torch.linalg.solve(C, d.T).T).sum(1))


def ppca_var_squared(x, W, b, x_var):  # noise variance squared
    D = W.shape[0]
    C = W @ W.T + x_var**2 * torch.eye(D, dtype=W.dtype)
    d = x - b
    maha = (d * torch.linalg.solve(C, d.T).T).sum(1)
    return -0.5 * (D * math.log(2 * math.pi) + torch.logdet(C) + maha)


# ----------------------------------------------------------------------------- ex02
def gll_logstd(x, mean, logvar):  # logvar used as log σ
    logvar = torch.as_tensor(logvar, dtype=x.dtype)
    v = -0.5 * math.log(2 * math.pi) - logvar - 0.5 * (x - mean) ** 2 / torch.exp(2 * logvar)
    return v.expand_as(x).reshape(x.shape[0], -1).sum(1)


def gll_mean_not_sum(x, mean, logvar):  # averages over dimensions
    logvar = torch.as_tensor(logvar, dtype=x.dtype)
    v = -0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 / torch.exp(logvar))
    return v.expand_as(x).reshape(x.shape[0], -1).mean(1)


def kld_reversed(mu_q, logvar_q, mu_p, logvar_p):  # KL(p ‖ q) instead of KL(q ‖ p)
    vq, vp = logvar_q.exp(), logvar_p.exp()
    return 0.5 * (logvar_q - logvar_p + (vp + (mu_p - mu_q) ** 2) / vq - 1).sum(1)


def kld_no_minus_one(mu_q, logvar_q, mu_p, logvar_p):  # forgets the −1 per dimension
    vq, vp = logvar_q.exp(), logvar_p.exp()
    return 0.5 * (logvar_p - logvar_q + (vq + (mu_q - mu_p) ** 2) / vp).sum(1)


def lw_detached_z(model, x, mu, logvar, eps):  # z off the graph: no gradient to mu, logvar
    with torch.no_grad():
        z = mu + torch.exp(0.5 * logvar) * eps
    log_q = (-0.5 * (math.log(2 * math.pi) + logvar + eps**2)).sum(-1)
    return model.log_likelihood(x, z) + model.log_prior(z) - log_q


def lw_no_prior(model, x, mu, logvar, eps):  # forgets log p(z)
    z = mu + torch.exp(0.5 * logvar) * eps
    log_q = (-0.5 * (math.log(2 * math.pi) + logvar + eps**2)).sum(-1)
    return model.log_likelihood(x, z) - log_q


def ei_naive_iwae(log_w):  # exponentiates without a shift
    return log_w.mean(0), torch.log(torch.exp(log_w).mean(0))


def ei_k_minus_1(log_w):  # divides the weights by k − 1
    return log_w.mean(0), torch.logsumexp(log_w, 0) - math.log(max(log_w.shape[0] - 1, 1))


# ----------------------------------------------------------------------------- ex03
def rs_clamped(mu, logvar, eps):  # clamps the noise
    return mu + torch.exp(0.5 * logvar) * eps.clamp(-2, 2)


def rs_in_place(mu, logvar, eps):  # overwrites the caller's eps
    return eps.mul_(torch.exp(0.5 * logvar)).add_(mu)


def rs_var_as_std(mu, logvar, eps):  # σ = exp(logvar)
    return mu + torch.exp(logvar) * eps


def sf_ignores_baseline(f, mu, logvar, eps, baseline=0.0):
    var = torch.exp(logvar)
    with torch.no_grad():
        z = mu + var.sqrt() * eps
        w = f(z).unsqueeze(-1)
    return w * (z - mu) / var, w * 0.5 * ((z - mu) ** 2 / var - 1)


def sf_no_half(f, mu, logvar, eps, baseline=0.0):  # the log-variance score without its ½
    var = torch.exp(logvar)
    with torch.no_grad():
        z = mu + var.sqrt() * eps
        w = (f(z) - baseline).unsqueeze(-1)
    return w * (z - mu) / var, w * ((z - mu) ** 2 / var - 1)


def rg_mean_over_samples(f, mu, logvar, eps):  # returns one averaged gradient
    mu_, lv_ = (
        mu.detach().clone().requires_grad_(True),
        logvar.detach().clone().requires_grad_(True),
    )
    z = mu_ + torch.exp(0.5 * lv_) * eps
    return torch.autograd.grad(f(z).mean(), (mu_, lv_))


def mse_population_std(samples):  # n in the denominator, not n − 1
    n = samples.shape[0]
    return samples.mean(0), samples.std(0, unbiased=False) / math.sqrt(n)


def mse_one_pass(samples):  # E[x²] − E[x]²: catastrophic cancellation for a large mean
    n = samples.shape[0]
    m = samples.mean(0)
    var = (samples**2).mean(0) - m**2
    return m, (var.clamp_min(0) * n / (n - 1)).sqrt() / math.sqrt(n)


# ----------------------------------------------------------------------------- ex04
def rp_clamped(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu).clamp(-2, 2)


def rp_shared_eps(mu, logvar):  # one ε per example, shared by every latent dimension
    eps = torch.randn_like(mu[..., :1]).expand_as(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def kl_mean_dims(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=1)


def bll_prob_space(x, logits):  # sigmoid, then BCE: clamped at −100 per pixel
    ll = -F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none")
    return ll.reshape(x.shape[0], -1).sum(1)


def bll_squeezed(x, logits):  # .squeeze() turns a batch of 1 into a 0-d tensor
    return _bll(x, logits).squeeze()


def vl_detached_kl(x, x_logits, mu, logvar, beta=1.0):  # the KL term carries no gradient
    return (-_bll(x, x_logits) + beta * _kl(mu, logvar).detach()).mean()


def vl_sum_batch(x, x_logits, mu, logvar, beta=1.0):
    return (-_bll(x, x_logits) + beta * _kl(mu, logvar)).sum()


def ts_returns_tensor(model, optimizer, x, beta=1.0):  # a 0-d tensor, not a float
    out = model(x)
    loss = (-_bll(x, out["x_logits"]) + beta * _kl(out["mu"], out["logvar"])).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def sp_temperature_on_logits(model, n, temperature=1.0):
    device = next(model.parameters()).device
    with torch.no_grad():
        z = torch.randn(n, model.latent_dim, device=device)
        return torch.sigmoid(model.decode(z) / temperature)


def sp_n_minus_1(model, n, temperature=1.0):
    device = next(model.parameters()).device
    with torch.no_grad():
        z = temperature * torch.randn(max(n - 1, 1), model.latent_dim, device=device)
        return torch.sigmoid(model.decode(z))


MUTANTS = [
    ("ex01.sample_linear_gaussian", slg_global_rng),
    ("ex01.sample_linear_gaussian", slg_reseeds),
    ("ex01.sample_linear_gaussian", slg_shared_noise),
    ("ex01.sample_linear_gaussian", slg_var_as_std),
    ("ex01.log_mean_exp", lme_global_max),
    ("ex01.log_mean_exp", lme_numel),
    ("ex01.log_mean_exp", lme_naive),
    ("ex01.log_mean_exp", lme_in_place),
    ("ex01.naive_mc_log_px", nmc_k_minus_1),
    ("ex01.naive_mc_log_px", nmc_mean_of_logs),
    ("ex01.naive_mc_log_px", nmc_shared_z),
    ("ex01.naive_mc_log_px", nmc_no_generator),
    ("ex01.ppca_log_marginal", ppca_no_constant),
    ("ex01.ppca_log_marginal", ppca_var_squared),
    ("ex02.gaussian_log_likelihood", gll_logstd),
    ("ex02.gaussian_log_likelihood", gll_mean_not_sum),
    ("ex02.gaussian_kl_diag", kld_reversed),
    ("ex02.gaussian_kl_diag", kld_no_minus_one),
    ("ex02.log_weights", lw_detached_z),
    ("ex02.log_weights", lw_no_prior),
    ("ex02.elbo_and_iwae", ei_naive_iwae),
    ("ex02.elbo_and_iwae", ei_k_minus_1),
    ("ex03.reparameterized_sample", rs_clamped),
    ("ex03.reparameterized_sample", rs_in_place),
    ("ex03.reparameterized_sample", rs_var_as_std),
    ("ex03.score_function_gradient", sf_ignores_baseline),
    ("ex03.score_function_gradient", sf_no_half),
    ("ex03.reparameterization_gradient", rg_mean_over_samples),
    ("ex03.mean_and_se", mse_population_std),
    ("ex03.mean_and_se", mse_one_pass),
    ("ex04.reparameterize", rp_clamped),
    ("ex04.reparameterize", rp_shared_eps),
    ("ex04.gaussian_kl", kl_mean_dims),
    ("ex04.bernoulli_log_likelihood", bll_prob_space),
    ("ex04.bernoulli_log_likelihood", bll_squeezed),
    ("ex04.vae_loss", vl_detached_kl),
    ("ex04.vae_loss", vl_sum_batch),
    ("ex04.train_step", ts_returns_tensor),
    ("ex04.sample_prior", sp_temperature_on_logits),
    ("ex04.sample_prior", sp_n_minus_1),
]


def main(argv: list[str] | None = None) -> int:
    return report(MUTANTS, seeds=(1, 2), argv=argv)


if __name__ == "__main__":
    sys.exit(main())
