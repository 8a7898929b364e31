"""A held-out batch of plausible wrong answers ("mutants") to the ex05 tasks (β-VAE, MIG).

Written from the exercise contracts only (the markdown, docstrings and solution code of
``solutions/ex05_beta_vae.ipynb``, and :mod:`vae_course.losses` /
:mod:`vae_course.disentanglement` for the data types), without reading the ex05 checks or
their catalogue of known mistakes, to measure whether the checks catch mistakes their
author did not think of. Every mutant violates its task's docstring contract.

    python scripts/mutants_heldout_ex05.py            # run every mutant with seeds 11 and 12
    python scripts/mutants_heldout_ex05.py --sanity   # the solutions must pass

A mutant is *killed* when its check fails for both seeds.

Result (2026-12-04): 32 of 34 killed on the first run. The survivors, a distortion computed as
sigmoid-then-BCE (wrong beyond |logit| ≈ 17 in float32) and an in-place clamp of logvar,
were gaps in the loss check (ex04's, which ex05 inherits): it now has a case with logits up
to ±100 and logvar from −9 to 7, and hands its tensors out with ``copy_input``. 34 of 34
are killed now, and ``tests/test_grading_builders.py`` keeps them so.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

from vae_course.grading.mutants import report
from vae_course.losses import bernoulli_log_likelihood, gaussian_kl

SEEDS = (11, 12)


# =============================================================================== solutions
# Copied from solutions/ex05_beta_vae.ipynb. gaussian_kl and bernoulli_log_likelihood are
# module-level names, as in the notebook's setup cell.
def beta_vae_loss(x, x_logits, mu, logvar, beta):
    rate = gaussian_kl(mu, logvar).mean()
    distortion = -bernoulli_log_likelihood(x, x_logits).mean()
    return {"loss": distortion + beta * rate, "rate": rate, "distortion": distortion}


def discretize(codes, num_bins):
    lo = codes.min(dim=0).values
    hi = codes.max(dim=0).values
    width = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    bins = torch.floor((codes - lo) / width * num_bins).long()
    return bins.clamp(0, num_bins - 1)


def mutual_information(table):
    p = table.double() / table.sum()
    pa = p.sum(dim=1, keepdim=True)
    pb = p.sum(dim=0, keepdim=True)
    nz = p > 0
    return float((p[nz] * torch.log(p[nz] / (pa * pb)[nz])).sum())


def mig_from_mi(mi, entropies):
    top2 = torch.topk(mi, 2, dim=0).values
    gaps = (top2[0] - top2[1]) / entropies
    return gaps, float(gaps.mean())


SOLUTIONS = {
    "ex05.beta_vae_loss": beta_vae_loss,
    "ex05.discretize": discretize,
    "ex05.mutual_information": mutual_information,
    "ex05.mig_from_mi": mig_from_mi,
}


# ================================================================================ mutants
# ------------------------------------------------------------------ ex05.beta_vae_loss
def bvl_ignores_beta(x, x_logits, mu, logvar, beta):
    # the plain ELBO: beta accepted but never used
    rate = gaussian_kl(mu, logvar).mean()
    distortion = -bernoulli_log_likelihood(x, x_logits).mean()
    return {"loss": distortion + rate, "rate": rate, "distortion": distortion}


def bvl_beta_on_distortion(x, x_logits, mu, logvar, beta):
    # weights the wrong term by beta
    rate = gaussian_kl(mu, logvar).mean()
    distortion = -bernoulli_log_likelihood(x, x_logits).mean()
    return {"loss": beta * distortion + rate, "rate": rate, "distortion": distortion}


def bvl_sum_over_batch(x, x_logits, mu, logvar, beta):
    # sums the per-example terms over the batch instead of averaging
    rate = gaussian_kl(mu, logvar).sum()
    distortion = -bernoulli_log_likelihood(x, x_logits).sum()
    return {"loss": distortion + beta * rate, "rate": rate, "distortion": distortion}


def bvl_reports_weighted_rate(x, x_logits, mu, logvar, beta):
    # reports beta·KL as "rate" (the weighted term, not the KL itself)
    rate = beta * gaussian_kl(mu, logvar).mean()
    distortion = -bernoulli_log_likelihood(x, x_logits).mean()
    return {"loss": distortion + rate, "rate": rate, "distortion": distortion}


def bvl_detached_rate(x, x_logits, mu, logvar, beta):
    # computes the rate on detached mu/logvar "for logging" and reuses it in the loss
    rate = gaussian_kl(mu.detach(), logvar.detach()).mean()
    distortion = -bernoulli_log_likelihood(x, x_logits).mean()
    return {"loss": distortion + beta * rate, "rate": rate, "distortion": distortion}


def bvl_item_terms(x, x_logits, mu, logvar, beta):
    # returns the two named terms as Python floats (.item()) instead of 0-d tensors
    rate = gaussian_kl(mu, logvar).mean()
    distortion = -bernoulli_log_likelihood(x, x_logits).mean()
    return {"loss": distortion + beta * rate, "rate": rate.item(), "distortion": distortion.item()}


def bvl_rate_mean_over_latents(x, x_logits, mu, logvar, beta):
    # averages the KL over latent dimensions too (nats per dimension, not per example)
    rate = (0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)).mean()
    distortion = -bernoulli_log_likelihood(x, x_logits).mean()
    return {"loss": distortion + beta * rate, "rate": rate, "distortion": distortion}


def bvl_sigmoid_bce(x, x_logits, mu, logvar, beta):
    # sigmoid then BCE on probabilities: saturates (log clamped at -100) for large logits
    rate = gaussian_kl(mu, logvar).mean()
    probs = torch.sigmoid(x_logits)
    distortion = F.binary_cross_entropy(probs, x, reduction="sum") / x.shape[0]
    return {"loss": distortion + beta * rate, "rate": rate, "distortion": distortion}


def bvl_renamed_keys(x, x_logits, mu, logvar, beta):
    # uses the names of vae_course.losses.elbo ("kl", "reconstruction") instead of the contract's
    rate = gaussian_kl(mu, logvar).mean()
    distortion = -bernoulli_log_likelihood(x, x_logits).mean()
    return {"loss": distortion + beta * rate, "kl": rate, "reconstruction": distortion}


def bvl_clamps_logvar_inplace(x, x_logits, mu, logvar, beta):
    # clamps the caller's logvar in place "for stability" (edits the input, changes the KL)
    with torch.no_grad():
        logvar.clamp_(-4.0, 4.0)
    rate = gaussian_kl(mu, logvar).mean()
    distortion = -bernoulli_log_likelihood(x, x_logits).mean()
    return {"loss": distortion + beta * rate, "rate": rate, "distortion": distortion}


# ------------------------------------------------------------------ ex05.discretize
def disc_global_range(codes, num_bins):
    # one range for the whole tensor instead of each column's own range
    lo, hi = codes.min(), codes.max()
    width = hi - lo if hi > lo else torch.ones_like(hi)
    bins = torch.floor((codes - lo) / width * num_bins).long()
    return bins.clamp(0, num_bins - 1)


def disc_no_clamp(codes, num_bins):
    # forgets that the column's maximum lands at index num_bins (out of range)
    lo = codes.min(dim=0).values
    hi = codes.max(dim=0).values
    width = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return torch.floor((codes - lo) / width * num_bins).long().clamp(min=0)


def disc_histogram_constant_middle(codes, num_bins):
    # copies disentanglement_lib's np.histogram/np.digitize: a constant column goes to a middle bin
    c = codes.detach().cpu().numpy()
    out = np.zeros(c.shape, dtype=np.int64)
    for j in range(c.shape[1]):
        edges = np.histogram(c[:, j], num_bins)[1]
        out[:, j] = np.digitize(c[:, j], edges[:-1]) - 1
    return torch.from_numpy(out)


def disc_float_indices(codes, num_bins):
    # returns float bin indices (forgot .long())
    lo = codes.min(dim=0).values
    hi = codes.max(dim=0).values
    width = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return torch.floor((codes - lo) / width * num_bins).clamp(0, num_bins - 1)


def disc_int32(codes, num_bins):
    # int32 indices (.int()) instead of int64
    lo = codes.min(dim=0).values
    hi = codes.max(dim=0).values
    width = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return torch.floor((codes - lo) / width * num_bins).int().clamp(0, num_bins - 1)


def disc_scale_by_bins_minus_one(codes, num_bins):
    # scales by num_bins - 1 so the max "fits": bins are 1/(num_bins-1) wide, last holds only the max
    lo = codes.min(dim=0).values
    hi = codes.max(dim=0).values
    width = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return torch.floor((codes - lo) / width * (num_bins - 1)).long()


def disc_row_ranges(codes, num_bins):
    # takes the range of each row (dim=1) instead of each column
    lo = codes.min(dim=1, keepdim=True).values
    hi = codes.max(dim=1, keepdim=True).values
    width = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    bins = torch.floor((codes - lo) / width * num_bins).long()
    return bins.clamp(0, num_bins - 1)


def disc_inplace_shift(codes, num_bins):
    # shifts and scales the caller's codes in place
    lo = codes.min(dim=0).values
    hi = codes.max(dim=0).values
    width = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    codes.sub_(lo).div_(width).mul_(num_bins)
    return torch.floor(codes).long().clamp(0, num_bins - 1)


# ------------------------------------------------------------------ ex05.mutual_information
def mi_log2(table):
    # bits instead of nats
    p = table.double() / table.sum()
    pa = p.sum(dim=1, keepdim=True)
    pb = p.sum(dim=0, keepdim=True)
    nz = p > 0
    return float((p[nz] * torch.log2(p[nz] / (pa * pb)[nz])).sum())


def mi_nan_empty_cells(table):
    # sums over every cell: 0·log 0 = NaN for empty cells
    p = table.double() / table.sum()
    pa = p.sum(dim=1, keepdim=True)
    pb = p.sum(dim=0, keepdim=True)
    return float((p * torch.log(p / (pa * pb))).sum())


def mi_returns_tensor(table):
    # returns a 0-d tensor instead of a Python float
    p = table.double() / table.sum()
    pa = p.sum(dim=1, keepdim=True)
    pb = p.sum(dim=0, keepdim=True)
    nz = p > 0
    return (p[nz] * torch.log(p[nz] / (pa * pb)[nz])).sum()


def mi_transposed_marginals(table):
    # builds the product of marginals with the axes swapped (column marginal along rows)
    p = table.double() / table.sum()
    pa = p.sum(dim=0)
    pb = p.sum(dim=1)
    prod = pa[: p.shape[0], None] * pb[None, : p.shape[1]]
    nz = p > 0
    return float((p[nz] * torch.log(p[nz] / prod[nz])).sum())


def mi_inplace_normalise(table):
    # normalises the caller's table in place (and fails on integer counts)
    table /= table.sum()
    pa = table.sum(dim=1, keepdim=True)
    pb = table.sum(dim=0, keepdim=True)
    nz = table > 0
    return float((table[nz] * torch.log(table[nz] / (pa * pb)[nz])).sum())


def mi_conditional_rows(table):
    # normalises each row (p(b|a)) instead of the whole table (p(a, b))
    p = table.double() / table.sum(dim=1, keepdim=True).clamp_min(1)
    pa = p.sum(dim=1, keepdim=True)
    pb = p.sum(dim=0, keepdim=True)
    nz = p > 0
    return float((p[nz] * torch.log(p[nz] / (pa * pb)[nz])).sum())


def mi_mean_over_cells(table):
    # averages the non-empty cells' terms instead of summing them
    p = table.double() / table.sum()
    pa = p.sum(dim=1, keepdim=True)
    pb = p.sum(dim=0, keepdim=True)
    nz = p > 0
    return float((p[nz] * torch.log(p[nz] / (pa * pb)[nz])).mean())


def mi_divides_by_cell_count(table):
    # divides the counts by the number of cells instead of the number of examples
    p = table.double() / table.numel()
    pa = p.sum(dim=1, keepdim=True)
    pb = p.sum(dim=0, keepdim=True)
    nz = p > 0
    return float((p[nz] * torch.log(p[nz] / (pa * pb)[nz])).sum())


# ------------------------------------------------------------------ ex05.mig_from_mi
def mig_max_only(mi, entropies):
    # the largest MI over H, no gap to the second
    gaps = mi.max(dim=0).values / entropies
    return gaps, float(gaps.mean())


def mig_wrong_axis(mi, entropies):
    # top-2 over factors (dim=1) instead of over codes
    top2 = torch.topk(mi, 2, dim=1).values
    gaps = (top2[:, 0] - top2[:, 1])[: entropies.shape[0]] / entropies
    return gaps, float(gaps.mean())


def mig_unnormalised(mi, entropies):
    # forgets to divide by H(v_k)
    top2 = torch.topk(mi, 2, dim=0).values
    gaps = top2[0] - top2[1]
    return gaps, float(gaps.mean())


def mig_max_minus_min(mi, entropies):
    # gap between the most and the least informative code
    gaps = (mi.max(dim=0).values - mi.min(dim=0).values) / entropies
    return gaps, float(gaps.mean())


def mig_masks_max_inplace(mi, entropies):
    # takes the max, overwrites it with -inf in the caller's matrix, takes the max again
    cols = torch.arange(mi.shape[1])
    first, idx = mi.max(dim=0)
    mi[idx, cols] = -math.inf
    second = mi.max(dim=0).values
    gaps = (first - second) / entropies
    return gaps, float(gaps.mean())


def mig_tensor_score(mi, entropies):
    # returns the score as a 0-d tensor instead of a Python float
    top2 = torch.topk(mi, 2, dim=0).values
    gaps = (top2[0] - top2[1]) / entropies
    return gaps, gaps.mean()


def mig_distinct_top2(mi, entropies):
    # second-largest *distinct* value (torch.unique): two codes tied at the top give a gap > 0
    gaps = []
    for k in range(mi.shape[1]):
        vals = torch.unique(mi[:, k])
        second = vals[-2] if vals.numel() > 1 else vals[-1]
        gaps.append((vals[-1] - second) / entropies[k])
    gaps = torch.stack(gaps)
    return gaps, float(gaps.mean())


def mig_mean_entropy(mi, entropies):
    # normalises every factor by the mean entropy instead of its own
    top2 = torch.topk(mi, 2, dim=0).values
    gaps = (top2[0] - top2[1]) / entropies.mean()
    return gaps, float(gaps.mean())


MUTANTS = [
    ("ex05.beta_vae_loss", bvl_ignores_beta),
    ("ex05.beta_vae_loss", bvl_beta_on_distortion),
    ("ex05.beta_vae_loss", bvl_sum_over_batch),
    ("ex05.beta_vae_loss", bvl_reports_weighted_rate),
    ("ex05.beta_vae_loss", bvl_detached_rate),
    ("ex05.beta_vae_loss", bvl_item_terms),
    ("ex05.beta_vae_loss", bvl_rate_mean_over_latents),
    ("ex05.beta_vae_loss", bvl_sigmoid_bce),
    ("ex05.beta_vae_loss", bvl_renamed_keys),
    ("ex05.beta_vae_loss", bvl_clamps_logvar_inplace),
    ("ex05.discretize", disc_global_range),
    ("ex05.discretize", disc_no_clamp),
    ("ex05.discretize", disc_histogram_constant_middle),
    ("ex05.discretize", disc_float_indices),
    ("ex05.discretize", disc_int32),
    ("ex05.discretize", disc_scale_by_bins_minus_one),
    ("ex05.discretize", disc_row_ranges),
    ("ex05.discretize", disc_inplace_shift),
    ("ex05.mutual_information", mi_log2),
    ("ex05.mutual_information", mi_nan_empty_cells),
    ("ex05.mutual_information", mi_returns_tensor),
    ("ex05.mutual_information", mi_transposed_marginals),
    ("ex05.mutual_information", mi_inplace_normalise),
    ("ex05.mutual_information", mi_conditional_rows),
    ("ex05.mutual_information", mi_mean_over_cells),
    ("ex05.mutual_information", mi_divides_by_cell_count),
    ("ex05.mig_from_mi", mig_max_only),
    ("ex05.mig_from_mi", mig_wrong_axis),
    ("ex05.mig_from_mi", mig_unnormalised),
    ("ex05.mig_from_mi", mig_max_minus_min),
    ("ex05.mig_from_mi", mig_masks_max_inplace),
    ("ex05.mig_from_mi", mig_tensor_score),
    ("ex05.mig_from_mi", mig_distinct_top2),
    ("ex05.mig_from_mi", mig_mean_entropy),
]


# ==================================================================================== main
def main(argv: list[str] | None = None) -> int:
    return report(MUTANTS, SOLUTIONS, SEEDS, argv)


if __name__ == "__main__":
    sys.exit(main())
