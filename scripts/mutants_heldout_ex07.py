"""A held-out batch of plausible wrong answers ("mutants") to the ex07 tasks (hierarchical VAE).

Written from the exercise contracts only (the markdown, docstrings and solution code of
``solutions/ex07_hierarchical.ipynb``, and :mod:`vae_course.models.hierarchical` for the
model the sampler uses), without reading the ex07 checks or their catalogue of known
mistakes, to measure whether the checks catch mistakes their author did not think of.
Every mutant violates its task's docstring contract.

    python scripts/mutants_heldout_ex07.py            # run every mutant with seeds 11 and 12
    python scripts/mutants_heldout_ex07.py --sanity   # the solutions must pass

A mutant is *killed* when its check fails for both seeds. ``SOLUTIONS`` holds the notebook's
answers (one per task, as the other batches); ``--sanity`` also runs ``ALTERNATIVES``, right
answers written differently (other formulas for the same quantities), which must pass too.

Result (first run): 36 of 37 killed; all 3 solutions and 6 other right answers pass. The
survivor is mg_no_grad, the merge computed under torch.no_grad(): right values, dtype and
device, but no gradient, so in the training cell the reconstruction term no longer reaches
the bottom-up z₁ head or, through the prior, z₂ (the ex07.merge_gaussians check seems to
have no gradient case). Really wrong for the exercise's use, not an equivalent answer.
After the check gained a case whose inputs need gradients: 37 of 37 killed.
"""

from __future__ import annotations

import sys

import torch

from vae_course.grading.mutants import report, sanity_alternatives
from vae_course.losses import gaussian_kl
from vae_course.models import reparameterize

SEEDS = (11, 12)


# =============================================================================== solutions
# Copied from solutions/ex07_hierarchical.ipynb (torch is the notebook's only import).
def merge_gaussians(mu_a, logvar_a, mu_b, logvar_b):
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    var = 1.0 / (prec_a + prec_b)
    return var * (mu_a * prec_a + mu_b * prec_b), torch.log(var)


def level_kl(mu_q, logvar_q, mu_p, logvar_p):
    ratio = (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p)
    return 0.5 * (logvar_p - logvar_q + ratio - 1.0).sum(dim=1)


def ancestral_sample(model, eps2, eps1):
    mu, logvar = model.prior_z1(eps2)
    z1 = mu + torch.exp(0.5 * logvar) * eps1
    return torch.sigmoid(model.decode(z1))


SOLUTIONS = {
    "ex07.merge_gaussians": merge_gaussians,
    "ex07.level_kl": level_kl,
    "ex07.ancestral_sample": ancestral_sample,
}


# ======================================================================= other right answers
def mg_right_logaddexp(mu_a, logvar_a, mu_b, logvar_b):
    # log-space: log σ² = −log(e^{−log σa²} + e^{−log σb²}), the stable form
    logvar = -torch.logaddexp(-logvar_a, -logvar_b)
    mu = (mu_a * torch.exp(-logvar_a) + mu_b * torch.exp(-logvar_b)) * torch.exp(logvar)
    return mu, logvar


def mg_right_convex_weight(mu_a, logvar_a, mu_b, logvar_b):
    # σ² = σa²σb²/(σa² + σb²); μ = w μa + (1 − w) μb with w = σb²/(σa² + σb²) = sigmoid(Δ)
    w = torch.sigmoid(logvar_b - logvar_a)
    mu = w * mu_a + (1 - w) * mu_b
    logvar = logvar_a + logvar_b - torch.logaddexp(logvar_a, logvar_b)
    return mu, logvar


def lk_right_variance_form(mu_q, logvar_q, mu_p, logvar_p):
    # with variances instead of log-variances, and sum over the last axis
    var_q, var_p = logvar_q.exp(), logvar_p.exp()
    kl = 0.5 * (torch.log(var_p / var_q) + (var_q + (mu_q - mu_p).pow(2)) / var_p - 1)
    return kl.sum(-1)


def lk_right_torch_distributions(mu_q, logvar_q, mu_p, logvar_p):
    # torch.distributions does the algebra
    q = torch.distributions.Normal(mu_q, torch.exp(0.5 * logvar_q))
    p = torch.distributions.Normal(mu_p, torch.exp(0.5 * logvar_p))
    return torch.distributions.kl_divergence(q, p).sum(dim=1)


def as_right_no_grad_std(model, eps2, eps1):
    # under no_grad, std from exp(logvar).sqrt(), z2 named explicitly
    with torch.no_grad():
        z2 = eps2
        mu_p, logvar_p = model.prior_z1(z2)
        z1 = mu_p + logvar_p.exp().sqrt() * eps1
        return model.decode(z1).sigmoid()


def as_right_distribution(model, eps2, eps1):
    # torch.distributions.Normal's loc + scale·ε, done by hand with addcmul
    mu, logvar = model.prior_z1(eps2)
    z1 = torch.addcmul(mu, torch.exp(logvar / 2), eps1)
    return torch.special.expit(model.decode(z1))


ALTERNATIVES = [
    ("ex07.merge_gaussians", mg_right_logaddexp),
    ("ex07.merge_gaussians", mg_right_convex_weight),
    ("ex07.level_kl", lk_right_variance_form),
    ("ex07.level_kl", lk_right_torch_distributions),
    ("ex07.ancestral_sample", as_right_no_grad_std),
    ("ex07.ancestral_sample", as_right_distribution),
]


# ================================================================================ mutants
# ------------------------------------------------------------------ ex07.merge_gaussians
def mg_variances_add(mu_a, logvar_a, mu_b, logvar_b):
    # adds the variances instead of the precisions (the sum of two variables, not a product)
    var_a, var_b = torch.exp(logvar_a), torch.exp(logvar_b)
    var = var_a + var_b
    return var * (mu_a / var_a + mu_b / var_b), torch.log(var)


def mg_plain_average_mean(mu_a, logvar_a, mu_b, logvar_b):
    # right variance, but the mean is the plain average, not precision-weighted
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    var = 1.0 / (prec_a + prec_b)
    return 0.5 * (mu_a + mu_b), torch.log(var)


def mg_unnormalised_mean(mu_a, logvar_a, mu_b, logvar_b):
    # forgets to multiply the precision-weighted sum by the merged variance
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    var = 1.0 / (prec_a + prec_b)
    return mu_a * prec_a + mu_b * prec_b, torch.log(var)


def mg_std_weights(mu_a, logvar_a, mu_b, logvar_b):
    # reads logvar as log σ²  but weighs by 1/σ (exp(−logvar/2)), as in reparameterize's std
    w_a, w_b = torch.exp(-0.5 * logvar_a), torch.exp(-0.5 * logvar_b)
    var = 1.0 / (w_a + w_b)
    return var * (mu_a * w_a + mu_b * w_b), torch.log(var)


def mg_returns_variance(mu_a, logvar_a, mu_b, logvar_b):
    # returns σ² instead of log σ²
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    var = 1.0 / (prec_a + prec_b)
    return var * (mu_a * prec_a + mu_b * prec_b), var


def mg_returns_log_std(mu_a, logvar_a, mu_b, logvar_b):
    # returns log σ (half the log-variance)
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    var = 1.0 / (prec_a + prec_b)
    return var * (mu_a * prec_a + mu_b * prec_b), 0.5 * torch.log(var)


def mg_swapped_weights(mu_a, logvar_a, mu_b, logvar_b):
    # weighs each mean by the *other* Gaussian's precision
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    var = 1.0 / (prec_a + prec_b)
    return var * (mu_a * prec_b + mu_b * prec_a), torch.log(var)


def mg_logvar_added(mu_a, logvar_a, mu_b, logvar_b):
    # "precisions add" done on the log scale: −logvar = −logvar_a − logvar_b
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    logvar = logvar_a + logvar_b
    return torch.exp(logvar) * (mu_a * prec_a + mu_b * prec_b), logvar


def mg_float32(mu_a, logvar_a, mu_b, logvar_b):
    # .float() "to be safe": float32 out for float64 in
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    var = 1.0 / (prec_a + prec_b)
    return (var * (mu_a * prec_a + mu_b * prec_b)).float(), torch.log(var).float()


def mg_inplace_neg(mu_a, logvar_a, mu_b, logvar_b):
    # neg_()/exp_() in place: overwrites the caller's log-variances with precisions
    prec_a, prec_b = logvar_a.neg_().exp_(), logvar_b.neg_().exp_()
    var = 1.0 / (prec_a + prec_b)
    return var * (mu_a * prec_a + mu_b * prec_b), torch.log(var)


def mg_numpy(mu_a, logvar_a, mu_b, logvar_b):
    # works in numpy and returns arrays, not tensors
    import numpy as np

    ma, la, mb, lb = (t.detach().cpu().numpy() for t in (mu_a, logvar_a, mu_b, logvar_b))
    var = 1.0 / (np.exp(-la) + np.exp(-lb))
    return var * (ma * np.exp(-la) + mb * np.exp(-lb)), np.log(var)


def mg_no_grad(mu_a, logvar_a, mu_b, logvar_b):
    # computed under torch.no_grad(): the merge cuts the gradient to both networks
    with torch.no_grad():
        prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
        var = 1.0 / (prec_a + prec_b)
        return var * (mu_a * prec_a + mu_b * prec_b), torch.log(var)


def mg_clamped_logvar(mu_a, logvar_a, mu_b, logvar_b):
    # clamps the merged log-variance to [−5, 5] "for stability": wrong for sure or vague inputs
    prec_a, prec_b = torch.exp(-logvar_a), torch.exp(-logvar_b)
    var = 1.0 / (prec_a + prec_b)
    return var * (mu_a * prec_a + mu_b * prec_b), torch.log(var).clamp(-5.0, 5.0)


# ------------------------------------------------------------------ ex07.level_kl
def lk_swapped(mu_q, logvar_q, mu_p, logvar_p):
    # KL(p ‖ q): the prior in the posterior's place
    ratio = (torch.exp(logvar_p) + (mu_p - mu_q) ** 2) / torch.exp(logvar_q)
    return 0.5 * (logvar_q - logvar_p + ratio - 1.0).sum(dim=1)


def lk_per_dimension(mu_q, logvar_q, mu_p, logvar_p):
    # forgets the sum: (B, D) per-dimension KLs
    ratio = (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p)
    return 0.5 * (logvar_p - logvar_q + ratio - 1.0)


def lk_mean_over_dims(mu_q, logvar_q, mu_p, logvar_p):
    # averages over the dimensions instead of summing
    ratio = (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p)
    return 0.5 * (logvar_p - logvar_q + ratio - 1.0).mean(dim=1)


def lk_sum_over_batch(mu_q, logvar_q, mu_p, logvar_p):
    # sums over the batch axis: (D,) instead of (B,)
    ratio = (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p)
    return 0.5 * (logvar_p - logvar_q + ratio - 1.0).sum(dim=0)


def lk_keepdim(mu_q, logvar_q, mu_p, logvar_p):
    # (B, 1) instead of (B,)
    ratio = (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p)
    return 0.5 * (logvar_p - logvar_q + ratio - 1.0).sum(dim=1, keepdim=True)


def lk_standard_prior(mu_q, logvar_q, mu_p, logvar_p):
    # notebook 04's KL to N(0, I): the learned prior is ignored
    return gaussian_kl(mu_q, logvar_q)


def lk_no_half(mu_q, logvar_q, mu_p, logvar_p):
    # drops the ½
    ratio = (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p)
    return (logvar_p - logvar_q + ratio - 1.0).sum(dim=1)


def lk_mean_term_undivided(mu_q, logvar_q, mu_p, logvar_p):
    # divides only σ_q² by σ_p², not the squared mean difference
    ratio = torch.exp(logvar_q - logvar_p) + (mu_q - mu_p) ** 2
    return 0.5 * (logvar_p - logvar_q + ratio - 1.0).sum(dim=1)


def lk_std_as_variance(mu_q, logvar_q, mu_p, logvar_p):
    # uses σ = exp(logvar/2) where the formula has σ²
    ratio = (torch.exp(0.5 * logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(0.5 * logvar_p)
    return 0.5 * (logvar_p - logvar_q + ratio - 1.0).sum(dim=1)


def lk_cpu_float32_accumulator(mu_q, logvar_q, mu_p, logvar_p):
    # accumulates dimension by dimension into torch.zeros(B): float32, on the CPU
    kl = torch.zeros(mu_q.shape[0])
    for d in range(mu_q.shape[1]):
        r = (torch.exp(logvar_q[:, d]) + (mu_q[:, d] - mu_p[:, d]) ** 2) / torch.exp(logvar_p[:, d])
        kl += (0.5 * (logvar_p[:, d] - logvar_q[:, d] + r - 1.0)).cpu()
    return kl


def lk_inplace_sub(mu_q, logvar_q, mu_p, logvar_p):
    # mu_q.sub_(mu_p): the difference overwrites the caller's posterior mean
    diff = mu_q.sub_(mu_p)
    ratio = (torch.exp(logvar_q) + diff**2) / torch.exp(logvar_p)
    return 0.5 * (logvar_p - logvar_q + ratio - 1.0).sum(dim=1)


def lk_numpy(mu_q, logvar_q, mu_p, logvar_p):
    # returns a numpy array
    ratio = (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p)
    return 0.5 * (logvar_p - logvar_q + ratio - 1.0).sum(dim=1).detach().cpu().numpy()


# ------------------------------------------------------------------ ex07.ancestral_sample
def as_fresh_z2(model, eps2, eps1):
    # draws z2 with torch.randn instead of using eps2
    z2 = torch.randn_like(eps2)
    mu, logvar = model.prior_z1(z2)
    return torch.sigmoid(model.decode(mu + torch.exp(0.5 * logvar) * eps1))


def as_reparameterize(model, eps2, eps1):
    # the package's reparameterize draws its own noise for z1: eps1 unused
    mu, logvar = model.prior_z1(eps2)
    return torch.sigmoid(model.decode(reparameterize(mu, logvar)))


def as_prior_mean_only(model, eps2, eps1):
    # forgets the noise of z1: decodes the prior mean
    mu, _ = model.prior_z1(eps2)
    return torch.sigmoid(model.decode(mu))


def as_forgets_prior_mean(model, eps2, eps1):
    # z1 = σ_p · eps1, without the prior mean
    _, logvar = model.prior_z1(eps2)
    return torch.sigmoid(model.decode(torch.exp(0.5 * logvar) * eps1))


def as_variance_scale(model, eps2, eps1):
    # scales the noise by σ² instead of σ
    mu, logvar = model.prior_z1(eps2)
    return torch.sigmoid(model.decode(mu + torch.exp(logvar) * eps1))


def as_logvar_as_std(model, eps2, eps1):
    # uses the log-variance itself as the scale
    mu, logvar = model.prior_z1(eps2)
    return torch.sigmoid(model.decode(mu + logvar * eps1))


def as_logits(model, eps2, eps1):
    # returns the decoder's logits, not probabilities
    mu, logvar = model.prior_z1(eps2)
    return model.decode(mu + torch.exp(0.5 * logvar) * eps1)


def as_bernoulli_draw(model, eps2, eps1):
    # draws binary pixels x ~ p(x|z1) instead of returning its mean
    mu, logvar = model.prior_z1(eps2)
    return torch.bernoulli(torch.sigmoid(model.decode(mu + torch.exp(0.5 * logvar) * eps1)))


def as_model_sample(model, eps2, eps1):
    # model.sample(n): right distribution, but its own noise, not the given one
    return model.sample(eps2.shape[0])


def as_noise_swapped(model, eps2, eps1):
    # feeds eps1 to the prior network and eps2 to z1 (only runs when d1 == d2)
    mu, logvar = model.prior_z1(eps1)
    return torch.sigmoid(model.decode(mu + torch.exp(0.5 * logvar) * eps2))


def as_on_cpu(model, eps2, eps1):
    # moves the images to the CPU "for plotting"
    mu, logvar = model.prior_z1(eps2)
    return torch.sigmoid(model.decode(mu + torch.exp(0.5 * logvar) * eps1)).cpu()


def as_inplace_noise(model, eps2, eps1):
    # eps1.mul_(σ).add_(μ): turns the caller's noise into z1
    mu, logvar = model.prior_z1(eps2)
    z1 = eps1.mul_(torch.exp(0.5 * logvar)).add_(mu)
    return torch.sigmoid(model.decode(z1))


MUTANTS = [
    ("ex07.merge_gaussians", mg_variances_add),
    ("ex07.merge_gaussians", mg_plain_average_mean),
    ("ex07.merge_gaussians", mg_unnormalised_mean),
    ("ex07.merge_gaussians", mg_std_weights),
    ("ex07.merge_gaussians", mg_returns_variance),
    ("ex07.merge_gaussians", mg_returns_log_std),
    ("ex07.merge_gaussians", mg_swapped_weights),
    ("ex07.merge_gaussians", mg_logvar_added),
    ("ex07.merge_gaussians", mg_float32),
    ("ex07.merge_gaussians", mg_inplace_neg),
    ("ex07.merge_gaussians", mg_numpy),
    ("ex07.merge_gaussians", mg_no_grad),
    ("ex07.merge_gaussians", mg_clamped_logvar),
    ("ex07.level_kl", lk_swapped),
    ("ex07.level_kl", lk_per_dimension),
    ("ex07.level_kl", lk_mean_over_dims),
    ("ex07.level_kl", lk_sum_over_batch),
    ("ex07.level_kl", lk_keepdim),
    ("ex07.level_kl", lk_standard_prior),
    ("ex07.level_kl", lk_no_half),
    ("ex07.level_kl", lk_mean_term_undivided),
    ("ex07.level_kl", lk_std_as_variance),
    ("ex07.level_kl", lk_cpu_float32_accumulator),
    ("ex07.level_kl", lk_inplace_sub),
    ("ex07.level_kl", lk_numpy),
    ("ex07.ancestral_sample", as_fresh_z2),
    ("ex07.ancestral_sample", as_reparameterize),
    ("ex07.ancestral_sample", as_prior_mean_only),
    ("ex07.ancestral_sample", as_forgets_prior_mean),
    ("ex07.ancestral_sample", as_variance_scale),
    ("ex07.ancestral_sample", as_logvar_as_std),
    ("ex07.ancestral_sample", as_logits),
    ("ex07.ancestral_sample", as_bernoulli_draw),
    ("ex07.ancestral_sample", as_model_sample),
    ("ex07.ancestral_sample", as_noise_swapped),
    ("ex07.ancestral_sample", as_on_cpu),
    ("ex07.ancestral_sample", as_inplace_noise),
]


# ==================================================================================== main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    status = report(MUTANTS, SOLUTIONS, SEEDS, argv)
    if "--sanity" in argv:
        status = max(status, sanity_alternatives(ALTERNATIVES, SEEDS))
    return status


if __name__ == "__main__":
    sys.exit(main())
