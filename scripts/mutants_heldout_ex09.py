"""A held-out batch of plausible wrong answers ("mutants") to the ex09 tasks (training strategies).

Written from the exercise contracts only (the markdown and docstrings of
``exercises/ex09_training_strategies.ipynb``, notebook 09, and the solution code of
``solutions/ex09_training_strategies.ipynb`` to see what a right answer looks like), without
reading the ex09 checks or their catalogue of known mistakes, to measure whether the checks
catch mistakes their author did not think of. Every mutant violates its task's docstring
contract.

    python scripts/mutants_heldout_ex09.py            # run every mutant with seeds 11 and 12
    python scripts/mutants_heldout_ex09.py --sanity   # the solutions (and ALTERNATIVES) must pass

A mutant is *killed* when its check fails for both seeds. ``MUTANTS`` holds
(task, function, what is wrong). ``SOLUTIONS`` holds the notebook's answers (one per task, as
the other batches); ``--sanity`` also runs ``ALTERNATIVES``, right answers written
differently, which must pass too.

Result (first run, seeds 11 and 12): 94 of 95 killed (95 of 95 after the fixes below); all 5 solutions and 10 other right
answers pass. The survivor: sl_inplace_clamp_logvar (strategy_loss clamps the caller's logvar
to [-10, 10] in place through .data "for stability": with logvar = -15 its ELBO is 7.5 nats
per dimension off and the caller's logvar reads -10 afterwards; no case seems to have
|logvar| > 10, and .data edits do not bump the version counter). With seeds 1 and 2 (those of
tests/test_grading_builders.py) mi_clamped_nonnegative (max(0, I)) also survives: the case of
codes that ignore x gives a negative estimate for seeds 11 and 12 but apparently not for
every seed.

Fixes: strategy_loss gained a case with logvar from -15 to 12, mutual_information an
ignore-x case on draws near 0 (its estimate is about -d/2 whatever the seed). Now 95 of 95
are killed with seeds 1 and 2 as well (a strict test in tests/test_grading_builders.py).
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F

from vae_course.grading.mutants import report, sanity_alternatives

SEEDS = (11, 12)


# =============================================================================== solutions
# Copied from solutions/ex09_training_strategies.ipynb (math, torch and F are its imports).
def cyclical_beta(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    position = step % length
    return min(position / (ratio * length), 1.0)


def free_bits_term(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError(f"group_size {group_size} does not divide the {d} latent dimensions")
    per_group = kl.mean(dim=0).reshape(d // group_size, group_size).sum(dim=1)
    return per_group.clamp(min=nats).sum()


def strategy_loss(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar)  # (B, D)
    loss = -rec.mean() + beta * free_bits_term(kl, nats, group_size)
    return {"loss": loss, "elbo": rec - kl.sum(1)}


def mutual_information(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    n, d = mu.shape
    neg_entropy = -0.5 * (d * math.log(2 * math.pi) + (1 + logvar).sum(dim=1))  # (N,)
    diff = z[:, None, :] - mu[None, :, :]  # (N draws, N components, d)
    log_q = -0.5 * (
        (diff**2 / logvar.exp()[None]).sum(-1) + d * math.log(2 * math.pi) + logvar.sum(-1)[None]
    )
    log_qz = torch.logsumexp(log_q, dim=1) - math.log(n)
    return float(neg_entropy.mean() - log_qz.mean())


def mi_linear_gaussian(a, s2):
    return 0.5 * torch.log1p(a**2 / s2)


SOLUTIONS = {
    "ex09.cyclical_beta": cyclical_beta,
    "ex09.free_bits_term": free_bits_term,
    "ex09.strategy_loss": strategy_loss,
    "ex09.mutual_information": mutual_information,
    "ex09.mi_linear_gaussian": mi_linear_gaussian,
}


# ---------------------------------------------------------------- shared pieces for mutants
def _rec(x, logits):
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def _kl(mu, logvar):
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar)


def _log_q_table(mu, logvar, z):
    """(N, N) log q(z_i | x_j), draws in rows, in the inputs' dtype."""
    d = mu.shape[1]
    diff = z[:, None, :] - mu[None, :, :]
    return -0.5 * (
        (diff**2 / logvar.exp()[None]).sum(-1) + d * math.log(2 * math.pi) + logvar.sum(-1)[None]
    )


def _neg_entropy(logvar):
    d = logvar.shape[1]
    return -0.5 * (d * math.log(2 * math.pi) + (1 + logvar).sum(dim=1))


# ======================================================================= other right answers
def cb_right_fu_eq7(step, total_steps, cycles, ratio):
    # Fu et al.'s eq. (7): τ = mod(t, ⌈T/M⌉) / (T/M), β = min(τ/R, 1) (accepted by the task)
    tau = (step % math.ceil(total_steps / cycles)) / (total_steps / cycles)
    return float(min(tau / ratio, 1.0))


def cb_right_piecewise(step, total_steps, cycles, ratio):
    # the fraction of the cycle, then an if: ramp while below R, 1 after
    length = -(-total_steps // cycles)  # integer ceiling
    frac = (step - (step // length) * length) / length
    return frac / ratio if frac < ratio else 1.0


def fb_right_relu(kl, nats, group_size=1):
    # λ + relu(KL_g − λ) = max(λ, KL_g); groups with unfold-free view
    b, d = kl.shape
    if d % group_size != 0:
        raise ValueError("D must be a multiple of group_size")
    per_group = kl.view(b, d // group_size, group_size).sum(-1).mean(0)
    return (nats + F.relu(per_group - nats)).sum()


def fb_right_loop(kl, nats, group_size=1):
    # a Python loop over the groups with torch.maximum
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size must divide D")
    floor = torch.as_tensor(nats, dtype=kl.dtype, device=kl.device)
    total = torch.zeros((), dtype=kl.dtype, device=kl.device)
    for start in range(0, d, group_size):
        g = kl[:, start : start + group_size].sum(1).mean()
        total = total + torch.maximum(g, floor)
    return total


def sl_right_logsigmoid(x, logits, mu, logvar, beta, nats, group_size=1):
    # log p(x|z) = x log σ(l) + (1 − x) log σ(−l); KL with σ² written as exp(logvar)
    rec = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).reshape(len(x), -1).sum(-1)
    var = torch.exp(logvar)
    kl = 0.5 * (mu.pow(2) + var - logvar - 1)
    return {
        "loss": beta * free_bits_term(kl, nats, group_size) - rec.mean(),
        "elbo": rec - kl.sum(-1),
    }


def sl_right_softplus(x, logits, mu, logvar, beta, nats, group_size=1):
    # log p(x|z) = x·l − softplus(l), the free-bits term inline
    rec = (x * logits - F.softplus(logits)).flatten(1).sum(1)
    kl = -0.5 * (1 + logvar - mu**2 - logvar.exp())
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    groups = kl.mean(0).reshape(-1, group_size).sum(1)
    loss = -rec.mean() + beta * torch.clamp(groups, min=nats).sum()
    return {"loss": loss, "elbo": rec - kl.sum(1)}


def mi_right_distributions(mu, logvar, z):
    # torch.distributions: exact entropy, log_prob broadcast over the components, float64
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    n = mu.shape[0]
    std = torch.exp(0.5 * logvar)
    neg_entropy = -torch.distributions.Normal(mu, std).entropy().sum(1)
    table = torch.distributions.Normal(mu[None], std[None]).log_prob(z[:, None]).sum(-1)
    log_qz = torch.logsumexp(table, dim=1) - math.log(n)
    return (neg_entropy.mean() - log_qz.mean()).item()


def mi_right_loop(mu, logvar, z):
    # one row at a time, the mixture as log-mean-exp by hand (max subtracted)
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    n, d = mu.shape
    var = logvar.exp()
    first = 0.0
    second = 0.0
    for i in range(n):
        first += -0.5 * float((math.log(2 * math.pi) + 1 + logvar[i]).sum())
        row = -0.5 * (((z[i] - mu) ** 2 / var + logvar + math.log(2 * math.pi)).sum(1))
        m = row.max()
        second += float(m + torch.log(torch.exp(row - m).mean()))
    return first / n - second / n


def mlg_right_log_difference(a, s2):
    # H(z) − H(z|x) = ½ log(a² + s²) − ½ log s²
    return 0.5 * (torch.log(a * a + s2) - torch.log(s2))


def mlg_right_log_of_ratio(a, s2):
    # ½ log((s² + a²)/s²) without log1p
    return torch.log((s2 + a.square()) / s2) / 2


ALTERNATIVES = [
    ("ex09.cyclical_beta", cb_right_fu_eq7),
    ("ex09.cyclical_beta", cb_right_piecewise),
    ("ex09.free_bits_term", fb_right_relu),
    ("ex09.free_bits_term", fb_right_loop),
    ("ex09.strategy_loss", sl_right_logsigmoid),
    ("ex09.strategy_loss", sl_right_softplus),
    ("ex09.mutual_information", mi_right_distributions),
    ("ex09.mutual_information", mi_right_loop),
    ("ex09.mi_linear_gaussian", mlg_right_log_difference),
    ("ex09.mi_linear_gaussian", mlg_right_log_of_ratio),
]


# ================================================================= mutants: cyclical_beta
def cb_floor_length(step, total_steps, cycles, ratio):
    length = total_steps // cycles
    return min((step % length) / (ratio * length), 1.0)


def cb_step_from_one(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return min(((step + 1) % length) / (ratio * length), 1.0)


def cb_no_ratio(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return min((step % length) / length, 1.0)


def cb_ratio_multiplies(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return min((step % length) * ratio / length, 1.0)


def cb_divides_by_total(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return min((step % length) / (ratio * total_steps), 1.0)


def cb_no_modulo(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return min(step / (ratio * length), 1.0)


def cb_float_cycle_length(step, total_steps, cycles, ratio):
    length = total_steps / cycles  # cycles start at c·T/M, not c·⌈T/M⌉
    return min((step % length) / (ratio * length), 1.0)


def cb_returns_tensor(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return torch.clamp(torch.tensor((step % length) / (ratio * length)), max=1.0)


def cb_integer_division(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return float(min((step % length) // (ratio * length), 1.0))


def cb_ramp_to_last_step(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return min((step % length) / max(ratio * (length - 1), 1e-12), 1.0)


def cb_modulo_cycles(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return min((step % cycles) / (ratio * length), 1.0)


def cb_no_cap(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return (step % length) / (ratio * length)


def cb_cosine_ramp(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    u = min((step % length) / (ratio * length), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * u)


def cb_ramp_whole_steps(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    ramp = max(math.ceil(ratio * length), 1)
    return min((step % length) / ramp, 1.0)


def cb_decreasing(step, total_steps, cycles, ratio):
    length = math.ceil(total_steps / cycles)
    return 1.0 - min((step % length) / (ratio * length), 1.0)


def cb_round_length(step, total_steps, cycles, ratio):
    length = round(total_steps / cycles)
    return min((step % length) / (ratio * length), 1.0)


def cb_remainder_in_last_cycle(step, total_steps, cycles, ratio):
    # cycles of ⌊T/M⌋ steps, the leftover steps appended to the last cycle
    length = total_steps // cycles
    c = min(step // length, cycles - 1)
    return min((step - c * length) / (ratio * length), 1.0)


# ================================================================= mutants: free_bits_term
def fb_clamp_before_mean(kl, nats, group_size=1):
    b, d = kl.shape
    if d % group_size:
        raise ValueError("group_size does not divide D")
    per_example = kl.reshape(b, d // group_size, group_size).sum(-1)
    return per_example.clamp(min=nats).mean(0).sum()


def fb_hinge(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    per_group = kl.mean(0).reshape(-1, group_size).sum(1)
    return (per_group - nats).clamp(min=0).sum()


def fb_detached(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    per_group = kl.detach().mean(0).reshape(-1, group_size).sum(1)
    return per_group.clamp(min=nats).sum()


def fb_ignores_group_size(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    return kl.mean(0).clamp(min=nats).sum()


def fb_strided_groups(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    per_group = kl.mean(0).reshape(group_size, d // group_size).sum(0)
    return per_group.clamp(min=nats).sum()


def fb_no_value_error(kl, nats, group_size=1):
    d = kl.shape[1]
    g = d // group_size  # silently drops the last, incomplete group
    per_group = kl.mean(0)[: g * group_size].reshape(g, group_size).sum(1)
    return per_group.clamp(min=nats).sum()


def fb_ragged_last_group(kl, nats, group_size=1):
    # torch.split keeps a short last group instead of raising
    per_dim = kl.mean(0)
    groups = torch.stack([c.sum() for c in torch.split(per_dim, group_size)])
    return groups.clamp(min=nats).sum()


def fb_mean_over_groups(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    return kl.mean(0).reshape(-1, group_size).sum(1).clamp(min=nats).mean()


def fb_sum_over_batch(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    return kl.sum(0).reshape(-1, group_size).sum(1).clamp(min=nats).sum()


def fb_floor_per_dim_in_group(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    per_dim = kl.mean(0).clamp(min=nats / group_size)
    return per_dim.reshape(-1, group_size).sum(1).sum()


def fb_float32(kl, nats, group_size=1):
    kl = kl.float()
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    return kl.mean(0).reshape(-1, group_size).sum(1).clamp(min=nats).sum()


def fb_cpu(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    return kl.cpu().mean(0).reshape(-1, group_size).sum(1).clamp(min=nats).sum()


def fb_inplace_mean(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    kl /= kl.shape[0]  # the batch mean, written into the caller's tensor
    return kl.sum(0).reshape(-1, group_size).sum(1).clamp(min=nats).sum()


def fb_python_max(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    per_group = kl.mean(0).reshape(-1, group_size).sum(1)
    return sum(max(nats, g.item()) for g in per_group)


def fb_floor_times_group_size(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    per_group = kl.mean(0).reshape(-1, group_size).sum(1)
    return per_group.clamp(min=nats * group_size).sum()


def fb_softplus_floor(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    per_group = kl.mean(0).reshape(-1, group_size).sum(1)
    return (nats + F.softplus(per_group - nats)).sum()


def fb_assert(kl, nats, group_size=1):
    d = kl.shape[1]
    assert d % group_size == 0, "group_size must divide D"
    return kl.mean(0).reshape(-1, group_size).sum(1).clamp(min=nats).sum()


def fb_keepdim(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    per_group = kl.mean(0).reshape(-1, group_size).sum(1)
    return per_group.clamp(min=nats).sum(0, keepdim=True)


def fb_mean_within_group(kl, nats, group_size=1):
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    return kl.mean(0).reshape(-1, group_size).mean(1).clamp(min=nats).sum()


def fb_per_example_total(kl, nats, group_size=1):
    # one floor on the whole KL of the batch mean: max(λ·G, Σ KL)
    d = kl.shape[1]
    if d % group_size:
        raise ValueError("group_size does not divide D")
    return kl.mean(0).sum().clamp(min=nats * (d // group_size))


# ================================================================== mutants: strategy_loss
def sl_elbo_is_loss(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    fb = free_bits_term(kl, nats, group_size)
    return {"loss": -rec.mean() + beta * fb, "elbo": rec - beta * fb}


def sl_beta_on_elbo(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - beta * kl.sum(1),
    }


def sl_mean_over_pixels(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).mean(1)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_logvar_as_logstd(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = 0.5 * (mu**2 + torch.exp(2 * logvar) - 1 - 2 * logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_kl_sign(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 + logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_kl_no_half(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = mu**2 + logvar.exp() - 1 - logvar
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_sigmoid_then_bce(x, logits, mu, logvar, beta, nats, group_size=1):
    probs = torch.sigmoid(logits)
    rec = -F.binary_cross_entropy(probs, x, reduction="none").flatten(1).sum(1)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_loss_sums_batch(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.sum() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_elbo_batch_mean(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": (rec - kl.sum(1)).mean(),
    }


def sl_drops_group_size(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats),
        "elbo": rec - kl.sum(1),
    }


def sl_no_floor(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {"loss": -rec.mean() + beta * kl.sum(1).mean(), "elbo": rec - kl.sum(1)}


def sl_kl_detached_in_loss(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl.detach(), nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_float32(x, logits, mu, logvar, beta, nats, group_size=1):
    x, logits, mu, logvar = x.float(), logits.float(), mu.float(), logvar.float()
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_hardcoded_784(x, logits, mu, logvar, beta, nats, group_size=1):
    b = x.shape[0]
    bce = F.binary_cross_entropy_with_logits(logits.view(b, 784), x.view(b, 784), reduction="none")
    rec = -bce.sum(1)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_bce_arguments_swapped(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = -F.binary_cross_entropy_with_logits(x, logits, reduction="none").flatten(1).sum(1)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_sum_dim1_only(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_inplace_clamp_logvar(x, logits, mu, logvar, beta, nats, group_size=1):
    logvar.data.clamp_(-10, 10)  # "for stability", on the caller's tensor
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_kl_mean_over_dims(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.mean(1),
    }


def sl_beta_on_everything(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": beta * (-rec.mean() + free_bits_term(kl, nats, group_size)),
        "elbo": rec - kl.sum(1),
    }


def sl_elbo_with_floor(x, logits, mu, logvar, beta, nats, group_size=1):
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.clamp(min=nats).sum(1),
    }


def sl_cpu(x, logits, mu, logvar, beta, nats, group_size=1):
    x, logits, mu, logvar = x.cpu(), logits.cpu(), mu.cpu(), logvar.cpu()
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


def sl_elbo_sign(x, logits, mu, logvar, beta, nats, group_size=1):
    # returns the negative ELBO ("the loss per example") under "elbo"
    rec = _rec(x, logits)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": -(rec - kl.sum(1)),
    }


def sl_no_sigmoid_gaussian(x, logits, mu, logvar, beta, nats, group_size=1):
    # a squared error on the logits instead of the Bernoulli log-likelihood
    rec = -((x - torch.sigmoid(logits)) ** 2).flatten(1).sum(1)
    kl = _kl(mu, logvar)
    return {
        "loss": -rec.mean() + beta * free_bits_term(kl, nats, group_size),
        "elbo": rec - kl.sum(1),
    }


# ============================================================= mutants: mutual_information
def mi_logsumexp_wrong_axis(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, z), dim=0) - math.log(len(mu))
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_missing_log_n(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, z), dim=1)
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_sampled_entropy(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    table = _log_q_table(mu, logvar, z)
    log_qz = torch.logsumexp(table, dim=1) - math.log(len(mu))
    return float(table.diagonal().mean() - log_qz.mean())


def mi_excludes_self(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    n = len(mu)
    table = _log_q_table(mu, logvar, z)
    table = table.masked_fill(torch.eye(n, dtype=torch.bool, device=table.device), -math.inf)
    log_qz = torch.logsumexp(table, dim=1) - math.log(n - 1)
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_logvar_as_logstd(mu, logvar, z):
    mu, logvar, z = mu.double(), 2 * logvar.double(), z.double()  # log σ² = 2·logvar
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, z), dim=1) - math.log(len(mu))
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_float32_densities(mu, logvar, z):
    mu, logvar, z = mu.float(), logvar.float(), z.float()
    q = torch.exp(_log_q_table(mu, logvar, z))  # densities, not log-densities
    log_qz = torch.log(q.mean(dim=1))
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_float32_logsumexp(mu, logvar, z):
    mu, logvar, z = mu.float(), logvar.float(), z.float()
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, z), dim=1) - math.log(len(mu))
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_entropy_sign(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, z), dim=1) - math.log(len(mu))
    return float(-_neg_entropy(logvar).mean() - log_qz.mean())


def mi_entropy_without_e(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    d = mu.shape[1]
    neg_entropy = -0.5 * (d * math.log(2 * math.pi) + logvar.sum(1))  # the "+1" forgotten
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, z), dim=1) - math.log(len(mu))
    return float(neg_entropy.mean() - log_qz.mean())


def mi_returns_tensor(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, z), dim=1) - math.log(len(mu))
    return _neg_entropy(logvar).mean() - log_qz.mean()


def mi_means_as_draws(mu, logvar, z):
    mu, logvar = mu.double(), logvar.double()
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, mu), dim=1) - math.log(len(mu))
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_draws_its_own(mu, logvar, z):
    mu, logvar = mu.double(), logvar.double()
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, z), dim=1) - math.log(len(mu))
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_factorised_mixture(mu, logvar, z):
    # the mixture taken one dimension at a time: Σ_k log (1/N) Σ_j q(z_ik | x_jk)
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    diff = z[:, None, :] - mu[None, :, :]
    per_dim = -0.5 * (diff**2 / logvar.exp()[None] + math.log(2 * math.pi) + logvar[None])
    log_qz = (torch.logsumexp(per_dim, dim=1) - math.log(len(mu))).sum(1)
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_sum_over_examples(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, z), dim=1) - math.log(len(mu))
    return float(_neg_entropy(logvar).sum() - log_qz.sum())


def mi_no_half_in_quadratic(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    d = mu.shape[1]
    diff = z[:, None, :] - mu[None, :, :]
    table = -(diff**2 / logvar.exp()[None]).sum(-1) - 0.5 * (
        d * math.log(2 * math.pi) + logvar.sum(-1)[None]
    )
    log_qz = torch.logsumexp(table, dim=1) - math.log(len(mu))
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_divides_by_std(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    d = mu.shape[1]
    diff = z[:, None, :] - mu[None, :, :]
    table = -0.5 * (
        (diff**2 / torch.exp(0.5 * logvar)[None]).sum(-1)
        + d * math.log(2 * math.pi)
        + logvar.sum(-1)[None]
    )
    log_qz = torch.logsumexp(table, dim=1) - math.log(len(mu))
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_mean_of_logs(mu, logvar, z):
    # the mean of log q(z_i|x_j) over j instead of the log of the mean
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_qz = _log_q_table(mu, logvar, z).mean(dim=1)
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_clamped_nonnegative(mu, logvar, z):
    return max(0.0, mutual_information(mu, logvar, z))


def mi_minus_log_d(mu, logvar, z):
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_qz = torch.logsumexp(_log_q_table(mu, logvar, z), dim=1) - math.log(mu.shape[1])
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def mi_max_instead_of_logsumexp(mu, logvar, z):
    # "logsumexp ≈ max": the nearest component only
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    log_qz = _log_q_table(mu, logvar, z).max(dim=1).values - math.log(len(mu))
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


# ============================================================ mutants: mi_linear_gaussian
def mlg_a_over_s(a, s2):
    return 0.5 * torch.log1p(a / torch.sqrt(s2))


def mlg_no_half(a, s2):
    return torch.log1p(a**2 / s2)


def mlg_variance_fraction(a, s2):
    return a**2 / (a**2 + s2)


def mlg_no_one(a, s2):
    return 0.5 * torch.log(a**2 / s2)


def mlg_s2_as_s(a, s2):
    return 0.5 * torch.log1p(a**2 / s2**2)


def mlg_bits(a, s2):
    return 0.5 * torch.log2(1 + a**2 / s2)


def mlg_float32(a, s2):
    return 0.5 * torch.log1p(a.float() ** 2 / s2.float())


def mlg_python_math(a, s2):
    return 0.5 * math.log1p(float(a) ** 2 / float(s2))


def mlg_cpu(a, s2):
    return 0.5 * torch.log1p(a.cpu() ** 2 / s2.cpu())


def mlg_entropy_of_z(a, s2):
    return 0.5 * torch.log(2 * math.pi * math.e * (a**2 + s2))


def mlg_abs_a(a, s2):
    return 0.5 * torch.log1p(a.abs() / s2)


def mlg_inplace_square(a, s2):
    ratio = a
    ratio **= 2  # in place: squares the caller's a
    ratio /= s2
    return 0.5 * torch.log1p(ratio)


def mlg_negated(a, s2):
    return -0.5 * torch.log1p(a**2 / s2)


def mlg_aggregate_var_one_plus_s2(a, s2):
    # var q(z) taken as a²·(1 + s²): the noise scaled by a too
    return 0.5 * torch.log1p(a**2 * (1 + s2) / s2)


def mlg_log_a2_plus_s2(a, s2):
    # ½ log(a² + s²): the "½ log s²" of H(z|x) forgotten
    return 0.5 * torch.log(a**2 + s2)


MUTANTS = [
    ("ex09.cyclical_beta", cb_floor_length, "cycle length ⌊T/M⌋ instead of ⌈T/M⌉"),
    ("ex09.cyclical_beta", cb_step_from_one, "position (step + 1) mod L: counts from 1"),
    ("ex09.cyclical_beta", cb_no_ratio, "ignores R: the ramp spans the whole cycle"),
    ("ex09.cyclical_beta", cb_ratio_multiplies, "position·R/L: the ratio multiplied, not divided"),
    ("ex09.cyclical_beta", cb_divides_by_total, "position / (R·T): T instead of the cycle length"),
    ("ex09.cyclical_beta", cb_no_modulo, "no modulo: a single warm-up, then 1"),
    ("ex09.cyclical_beta", cb_float_cycle_length, "cycles of T/M steps (float modulo)"),
    ("ex09.cyclical_beta", cb_returns_tensor, "returns a 0-d tensor"),
    ("ex09.cyclical_beta", cb_integer_division, "// : β jumps from 0 to 1"),
    ("ex09.cyclical_beta", cb_ramp_to_last_step, "ramp over R·(L − 1) steps"),
    ("ex09.cyclical_beta", cb_modulo_cycles, "step mod M instead of step mod L"),
    ("ex09.cyclical_beta", cb_no_cap, "no cap at 1"),
    ("ex09.cyclical_beta", cb_cosine_ramp, "a cosine ramp instead of a linear one"),
    ("ex09.cyclical_beta", cb_ramp_whole_steps, "ramp length rounded up to whole steps"),
    ("ex09.cyclical_beta", cb_decreasing, "1 − ramp: β falls within each cycle"),
    ("ex09.cyclical_beta", cb_round_length, "cycle length round(T/M)"),
    ("ex09.cyclical_beta", cb_remainder_in_last_cycle, "⌊T/M⌋ cycles, the remainder in the last"),
    ("ex09.free_bits_term", fb_clamp_before_mean, "floors each example's group KL, then averages"),
    ("ex09.free_bits_term", fb_hinge, "max(KL − λ, 0): the hinge, not max(λ, KL)"),
    ("ex09.free_bits_term", fb_detached, "kl.detach(): no gradient"),
    ("ex09.free_bits_term", fb_ignores_group_size, "floors every dimension, ignores group_size"),
    ("ex09.free_bits_term", fb_strided_groups, "groups of strided, not consecutive, dimensions"),
    ("ex09.free_bits_term", fb_no_value_error, "drops the remainder instead of raising"),
    ("ex09.free_bits_term", fb_ragged_last_group, "torch.split: a short last group, no error"),
    ("ex09.free_bits_term", fb_mean_over_groups, "mean over the groups, not the sum"),
    ("ex09.free_bits_term", fb_sum_over_batch, "sum over the batch, not the mean"),
    ("ex09.free_bits_term", fb_floor_per_dim_in_group, "floors each dimension at λ/g"),
    ("ex09.free_bits_term", fb_float32, "float32 for float64 input"),
    ("ex09.free_bits_term", fb_cpu, "result on the CPU"),
    ("ex09.free_bits_term", fb_inplace_mean, "kl /= B: divides the caller's tensor"),
    ("ex09.free_bits_term", fb_python_max, "Python max/sum with .item(): a float, no gradient"),
    ("ex09.free_bits_term", fb_floor_times_group_size, "floor λ·group_size per group"),
    ("ex09.free_bits_term", fb_softplus_floor, "λ + softplus(KL − λ): a smooth floor"),
    ("ex09.free_bits_term", fb_assert, "assert (AssertionError) instead of ValueError"),
    ("ex09.free_bits_term", fb_keepdim, "shape (1,), not 0-d"),
    ("ex09.free_bits_term", fb_mean_within_group, "mean within each group, not the sum"),
    ("ex09.free_bits_term", fb_per_example_total, "one floor λ·G on the total KL"),
    ("ex09.strategy_loss", sl_elbo_is_loss, "reports rec − β·(free-bits term) as the ELBO"),
    ("ex09.strategy_loss", sl_beta_on_elbo, "β on the KL of the reported ELBO"),
    ("ex09.strategy_loss", sl_mean_over_pixels, "log-likelihood averaged over the pixels"),
    ("ex09.strategy_loss", sl_logvar_as_logstd, "logvar read as log σ"),
    ("ex09.strategy_loss", sl_kl_sign, "KL with + log σ²"),
    ("ex09.strategy_loss", sl_kl_no_half, "KL without the ½"),
    ("ex09.strategy_loss", sl_sigmoid_then_bce, "sigmoid then BCE: not stable at extreme logits"),
    ("ex09.strategy_loss", sl_loss_sums_batch, "loss sums the reconstruction over the batch"),
    ("ex09.strategy_loss", sl_elbo_batch_mean, "elbo a 0-d batch mean, not (B,)"),
    ("ex09.strategy_loss", sl_drops_group_size, "free_bits_term called without group_size"),
    ("ex09.strategy_loss", sl_no_floor, "ignores nats: plain KL in the loss"),
    ("ex09.strategy_loss", sl_kl_detached_in_loss, "KL detached in the loss"),
    ("ex09.strategy_loss", sl_float32, "float32 for float64 inputs"),
    ("ex09.strategy_loss", sl_hardcoded_784, "view(B, 784): assumes MNIST-sized inputs"),
    ("ex09.strategy_loss", sl_bce_arguments_swapped, "BCE-with-logits(x, logits): swapped"),
    ("ex09.strategy_loss", sl_sum_dim1_only, ".sum(1) without flatten: images not summed"),
    ("ex09.strategy_loss", sl_inplace_clamp_logvar, "clamps the caller's logvar in place"),
    ("ex09.strategy_loss", sl_kl_mean_over_dims, "ELBO's KL averaged over dimensions"),
    ("ex09.strategy_loss", sl_beta_on_everything, "β weights the reconstruction too"),
    ("ex09.strategy_loss", sl_elbo_with_floor, "ELBO's KL floored at λ per dimension"),
    ("ex09.strategy_loss", sl_cpu, "results on the CPU"),
    ("ex09.strategy_loss", sl_elbo_sign, "returns −ELBO under 'elbo'"),
    ("ex09.strategy_loss", sl_no_sigmoid_gaussian, "squared error instead of Bernoulli"),
    ("ex09.mutual_information", mi_logsumexp_wrong_axis, "logsumexp over the draws (dim 0)"),
    ("ex09.mutual_information", mi_missing_log_n, "no − log N"),
    ("ex09.mutual_information", mi_sampled_entropy, "log q(z_i|x_i) at the draw, not −entropy"),
    ("ex09.mutual_information", mi_excludes_self, "mixture without j = i, − log(N − 1)"),
    ("ex09.mutual_information", mi_logvar_as_logstd, "logvar read as log σ"),
    ("ex09.mutual_information", mi_float32_densities, "exp of float32 log-densities: underflow"),
    ("ex09.mutual_information", mi_float32_logsumexp, "logsumexp but in float32"),
    ("ex09.mutual_information", mi_entropy_sign, "+ entropy instead of − entropy"),
    ("ex09.mutual_information", mi_entropy_without_e, "entropy without the + 1 (the e)"),
    ("ex09.mutual_information", mi_returns_tensor, "returns a 0-d tensor"),
    ("ex09.mutual_information", mi_means_as_draws, "uses mu as the draws, ignores z"),
    ("ex09.mutual_information", mi_draws_its_own, "draws its own z"),
    ("ex09.mutual_information", mi_factorised_mixture, "mixture per dimension (factorised)"),
    ("ex09.mutual_information", mi_sum_over_examples, "sums over the N examples"),
    ("ex09.mutual_information", mi_no_half_in_quadratic, "no ½ on the quadratic term"),
    ("ex09.mutual_information", mi_divides_by_std, "divides the squares by σ, not σ²"),
    ("ex09.mutual_information", mi_mean_of_logs, "mean of the logs (Jensen), not log-mean-exp"),
    ("ex09.mutual_information", mi_clamped_nonnegative, "clamped at 0"),
    ("ex09.mutual_information", mi_minus_log_d, "− log d instead of − log N"),
    ("ex09.mutual_information", mi_max_instead_of_logsumexp, "max over j instead of logsumexp"),
    ("ex09.mi_linear_gaussian", mlg_a_over_s, "½ log(1 + a/s)"),
    ("ex09.mi_linear_gaussian", mlg_no_half, "log(1 + a²/s²): the ½ missing"),
    ("ex09.mi_linear_gaussian", mlg_variance_fraction, "a²/(a² + s²)"),
    ("ex09.mi_linear_gaussian", mlg_no_one, "½ log(a²/s²): the + 1 missing"),
    ("ex09.mi_linear_gaussian", mlg_s2_as_s, "s2 read as s: ½ log(1 + a²/s2²)"),
    ("ex09.mi_linear_gaussian", mlg_bits, "in bits (log2)"),
    ("ex09.mi_linear_gaussian", mlg_float32, "float32 for float64 inputs"),
    ("ex09.mi_linear_gaussian", mlg_python_math, "math.log1p of floats: a Python float"),
    ("ex09.mi_linear_gaussian", mlg_cpu, "result on the CPU"),
    ("ex09.mi_linear_gaussian", mlg_entropy_of_z, "H(z) only"),
    ("ex09.mi_linear_gaussian", mlg_abs_a, "½ log(1 + |a|/s²)"),
    ("ex09.mi_linear_gaussian", mlg_inplace_square, "ratio = a; ratio **= 2: squares a in place"),
    ("ex09.mi_linear_gaussian", mlg_negated, "H(z|x) − H(z): the sign flipped"),
    ("ex09.mi_linear_gaussian", mlg_aggregate_var_one_plus_s2, "var q(z) = a²(1 + s²)"),
    ("ex09.mi_linear_gaussian", mlg_log_a2_plus_s2, "½ log(a² + s²): H(z|x) forgotten"),
]


# ==================================================================================== main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    status = report([m[:2] for m in MUTANTS], SOLUTIONS, SEEDS, argv)
    if "--sanity" in argv:
        status = max(status, sanity_alternatives(ALTERNATIVES, SEEDS))
    return status


if __name__ == "__main__":
    sys.exit(main())
