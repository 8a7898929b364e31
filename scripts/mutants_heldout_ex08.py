"""A held-out batch of plausible wrong answers ("mutants") to the ex08 tasks (VQ-VAE).

Written from the exercise contracts only (the markdown, docstrings and solution code of
``solutions/ex08_vq_vae.ipynb``, notebook 08, and :mod:`vae_course.models.vq` for the module
the EMA step is compared with), without reading the ex08 checks or their catalogue of known
mistakes, to measure whether the checks catch mistakes their author did not think of.
Every mutant violates its task's docstring contract.

    python scripts/mutants_heldout_ex08.py            # run every mutant with seeds 11 and 12
    python scripts/mutants_heldout_ex08.py --sanity   # the solutions must pass

A mutant is *killed* when its check fails for both seeds. ``MUTANTS`` holds
(task, function or class, what is wrong). ``SOLUTIONS`` holds the notebook's answers (one per
task, as the other batches); ``--sanity`` also runs ``ALTERNATIVES``, right answers written
differently, which must pass too.

Result (first run): 68 of 73 killed; all 6 solutions and 10 other right answers pass. One
survivor was this batch's own mistake: a "bincount without minlength" EMA step that added
the batch to the right prefix of the codes, a right answer; it is now ema_right_bincount_prefix
in ALTERNATIVES, replaced by ema_onehot_no_num_classes (killed). The four real survivors:
nc_float32 (distances of float64 inputs in float32: a wrong index when two codes' distances
differ by less than float32 resolution), nc_random_tiebreak (global-RNG noise of 1e-4 added
to the distances: a random, not the nearest, code when two distances differ by less than
that), q_onehot_float32 (the codes' values rounded to float32, ~5e-8 off, in a float64 z_q),
ema_cpu_zeros (CPU tensors returned for inputs on another device: the ema_update check seems
to have no device case).
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
from torch import nn

from vae_course.grading.mutants import report, sanity_alternatives

SEEDS = (11, 12)


# =============================================================================== solutions
# Copied from solutions/ex08_vq_vae.ipynb (torch, F and nn are the notebook's imports). The
# Quantizer calls the module-level nearest_code, quantize and vq_loss_terms, as in the notebook.
def nearest_code(z_e, codebook):
    distances = (
        (z_e**2).sum(dim=1, keepdim=True) - 2 * z_e @ codebook.T + (codebook**2).sum(dim=1)[None, :]
    )
    return distances.argmin(dim=1)


def quantize(z_e, codebook):
    e = codebook[nearest_code(z_e.detach(), codebook.detach())]
    return z_e + (e - z_e).detach()


def vq_loss_terms(z_e, e, beta=0.25):
    codebook_loss = ((z_e.detach() - e) ** 2).mean()
    commitment_loss = beta * ((z_e - e.detach()) ** 2).mean()
    return codebook_loss, commitment_loss


def perplexity(indices, num_codes):
    counts = torch.bincount(indices.flatten(), minlength=num_codes).double()
    p = counts / counts.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def ema_update(ema_count, ema_sum, z_e, indices, decay, eps):
    k = ema_count.shape[0]
    onehot = F.one_hot(indices, k).to(z_e.dtype)  # (N, K): which code each vector chose
    new_count = decay * ema_count + (1 - decay) * onehot.sum(0)
    new_sum = decay * ema_sum + (1 - decay) * onehot.T @ z_e
    n = new_count.sum()
    smoothed = (new_count + eps) / (n + k * eps) * n
    return new_count, new_sum, new_sum / smoothed[:, None]


class Quantizer(nn.Module):
    """Vector quantization of (B, D, H, W) feature maps with a learnable (K, D) codebook."""

    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__()
        self.beta = beta
        weight = torch.empty(num_codes, code_dim).uniform_(-1 / num_codes, 1 / num_codes)
        self.codebook = nn.Parameter(weight)

    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        indices = nearest_code(flat.detach(), self.codebook.detach())
        codebook_loss, commitment_loss = vq_loss_terms(flat, self.codebook[indices], self.beta)
        z_q = quantize(flat, self.codebook).reshape(b, h, w, d).permute(0, 3, 1, 2)
        return z_q, indices.reshape(b, h, w), codebook_loss + commitment_loss


SOLUTIONS = {
    "ex08.nearest_code": nearest_code,
    "ex08.quantize": quantize,
    "ex08.vq_loss_terms": vq_loss_terms,
    "ex08.perplexity": perplexity,
    "ex08.ema_update": ema_update,
    "ex08.quantizer": Quantizer,
}


# ======================================================================= other right answers
def nc_right_broadcast(z_e, codebook):
    # (N, 1, D) against (1, K, D): the distances without the expansion
    return ((z_e[:, None, :] - codebook[None, :, :]) ** 2).sum(dim=-1).argmin(dim=1)


def nc_right_no_z_norm(z_e, codebook):
    # ‖z‖² is the same for every code of a row: dropping it leaves the argmin alone
    return ((codebook**2).sum(1) - 2 * z_e @ codebook.T).argmin(1)


def q_right_minus(z_e, codebook):
    # z_e − sg[z_e − e]: the same value and gradients, the difference the other way round
    idx = ((z_e.detach()[:, None] - codebook.detach()[None]) ** 2).sum(-1).argmin(1)
    return z_e - (z_e - codebook[idx]).detach()


def q_right_two_detaches(z_e, codebook):
    # sg[e] + z_e − sg[z_e], with the lookup by F.embedding
    e = F.embedding(nearest_code(z_e.detach(), codebook.detach()), codebook.detach())
    return e + z_e - z_e.detach()


def vl_right_mse_loss(z_e, e, beta=0.25):
    return F.mse_loss(e, z_e.detach()), beta * F.mse_loss(z_e, e.detach())


def pp_right_bits(indices, num_codes):
    # entropy in bits, perplexity 2^H: the same number; torch.unique for the counts
    _, counts = torch.unique(indices, return_counts=True)
    p = counts.double() / counts.sum()
    return 2.0 ** float(-(p * torch.log2(p)).sum())


def pp_right_clamp(indices, num_codes):
    # the module's way: one-hot mean, log of the clamped frequencies (0 · log ε = 0)
    probs = F.one_hot(indices.reshape(-1), num_codes).double().mean(0)
    return torch.exp(-(probs * probs.clamp_min(1e-12).log()).sum()).item()


def ema_right_index_add(ema_count, ema_sum, z_e, indices, decay, eps):
    # counts by bincount, sums by index_add, all on the inputs' device and in their dtype
    k = ema_count.shape[0]
    counts = torch.bincount(indices, minlength=k).to(ema_count.dtype)
    sums = torch.zeros_like(ema_sum).index_add_(0, indices, z_e)
    new_count = ema_count * decay + counts * (1 - decay)
    new_sum = ema_sum * decay + sums * (1 - decay)
    n = new_count.sum()
    return new_count, new_sum, new_sum * (n + k * eps) / ((new_count + eps) * n)[:, None]


def ema_right_lerp(ema_count, ema_sum, z_e, indices, decay, eps):
    # torch.lerp(old, batch, 1 − γ) = γ·old + (1 − γ)·batch
    k = ema_count.shape[0]
    onehot = F.one_hot(indices, k).type_as(z_e)
    new_count = torch.lerp(ema_count, onehot.sum(0), 1 - decay)
    new_sum = torch.lerp(ema_sum, onehot.t() @ z_e, 1 - decay)
    n = new_count.sum()
    smoothed = (new_count + eps) / (n + k * eps) * n
    return new_count, new_sum, new_sum / smoothed.unsqueeze(1)


def ema_right_bincount_prefix(ema_count, ema_sum, z_e, indices, decay, eps):
    # bincount without minlength has max index + 1 entries: only that prefix gets the batch
    counts = torch.bincount(indices).to(ema_count.dtype)
    j = counts.shape[0]
    sums = torch.zeros_like(ema_sum[:j]).index_add_(0, indices, z_e)
    new_count, new_sum = decay * ema_count, decay * ema_sum
    new_count[:j] += (1 - decay) * counts
    new_sum[:j] += (1 - decay) * sums
    k = ema_count.shape[0]
    n = new_count.sum()
    return new_count, new_sum, new_sum / ((new_count + eps) / (n + k * eps) * n)[:, None]


class QuantizerEmbedding(nn.Module):
    # the codebook is an nn.Embedding's (K, D) weight; movedim/flatten, F.mse_loss
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__()
        self.beta = beta
        self.embedding = nn.Embedding(num_codes, code_dim)
        self.embedding.weight.data.uniform_(-1 / num_codes, 1 / num_codes)

    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.movedim(1, -1).flatten(0, 2)
        weight = self.embedding.weight
        idx = ((flat.detach()[:, None] - weight.detach()[None]) ** 2).sum(-1).argmin(1)
        e = self.embedding(idx)
        loss = F.mse_loss(e, flat.detach()) + self.beta * F.mse_loss(flat, e.detach())
        z_q = (flat + (e - flat).detach()).unflatten(0, (b, h, w)).movedim(-1, 1)
        return z_q, idx.view(b, h, w), loss


ALTERNATIVES = [
    ("ex08.nearest_code", nc_right_broadcast),
    ("ex08.nearest_code", nc_right_no_z_norm),
    ("ex08.quantize", q_right_minus),
    ("ex08.quantize", q_right_two_detaches),
    ("ex08.vq_loss_terms", vl_right_mse_loss),
    ("ex08.perplexity", pp_right_bits),
    ("ex08.perplexity", pp_right_clamp),
    ("ex08.ema_update", ema_right_index_add),
    ("ex08.ema_update", ema_right_lerp),
    ("ex08.ema_update", ema_right_bincount_prefix),
    ("ex08.quantizer", QuantizerEmbedding),
]


# ================================================================================ mutants
def _sq_dist(z_e, codebook):
    return ((z_e[:, None, :] - codebook[None, :, :]) ** 2).sum(dim=-1)


# ------------------------------------------------------------------------ ex08.nearest_code
def nc_dot_product(z_e, codebook):
    return (z_e @ codebook.T).argmax(dim=1)


def nc_argmax(z_e, codebook):
    return _sq_dist(z_e, codebook).argmax(dim=1)


def nc_l1(z_e, codebook):
    return (z_e[:, None, :] - codebook[None, :, :]).abs().sum(-1).argmin(1)


def nc_cosine(z_e, codebook):
    return (F.normalize(z_e, dim=1) @ F.normalize(codebook, dim=1).T).argmax(1)


def nc_sum_wrong_axis(z_e, codebook):
    return ((z_e[:, None, :] - codebook[None, :, :]) ** 2).sum(dim=1).argmin(dim=1)


def nc_argmin_over_rows(z_e, codebook):
    return _sq_dist(z_e, codebook).argmin(dim=0)


def nc_int32(z_e, codebook):
    return _sq_dist(z_e, codebook).argmin(dim=1).int()


def nc_cpu(z_e, codebook):
    return _sq_dist(z_e, codebook).argmin(dim=1).cpu()


def nc_squeeze(z_e, codebook):
    return torch.cdist(z_e[None], codebook[None]).squeeze().argmin(dim=-1)


def nc_all_minima(z_e, codebook):
    d = _sq_dist(z_e, codebook)
    return (d == d.min(dim=1, keepdim=True).values).nonzero()[:, 1]


def nc_float32(z_e, codebook):
    return _sq_dist(z_e.float(), codebook.float()).argmin(dim=1)


def nc_random_tiebreak(z_e, codebook):
    d = _sq_dist(z_e, codebook)
    return (d + 1e-4 * torch.rand_like(d)).argmin(dim=1)


# ---------------------------------------------------------------------------- ex08.quantize
def q_no_straight_through(z_e, codebook):
    return codebook[nearest_code(z_e.detach(), codebook.detach())]


def q_detached_code(z_e, codebook):
    return codebook[nearest_code(z_e, codebook)].detach()


def q_swapped_roles(z_e, codebook):
    e = codebook[nearest_code(z_e.detach(), codebook.detach())]
    return e + (z_e - e).detach()


def q_grad_to_codebook(z_e, codebook):
    e = codebook[nearest_code(z_e.detach(), codebook.detach())]
    return z_e + (e - z_e.detach())


def q_sg_on_code_only(z_e, codebook):
    e = codebook[nearest_code(z_e.detach(), codebook.detach())]
    return z_e + (e.detach() - z_e)


def q_inplace_copy(z_e, codebook):
    e = codebook[nearest_code(z_e.detach(), codebook.detach())]
    with torch.no_grad():
        z_e.copy_(e)
    return z_e


def q_onehot_float32(z_e, codebook):
    idx = nearest_code(z_e.detach(), codebook.detach())
    e = F.one_hot(idx, codebook.shape[0]).float() @ codebook.float()
    return z_e + (e - z_e).detach()


def q_cpu_buffer(z_e, codebook):
    idx = nearest_code(z_e.detach(), codebook.detach())
    e = torch.zeros(z_e.shape)
    for i in range(z_e.shape[0]):
        e[i] = codebook[idx[i]].detach()
    return z_e + (e.to(z_e.device) - z_e).detach()


def q_returns_indices_too(z_e, codebook):
    idx = nearest_code(z_e.detach(), codebook.detach())
    return z_e + (codebook[idx] - z_e).detach(), idx


def q_no_grad(z_e, codebook):
    with torch.no_grad():
        e = codebook[nearest_code(z_e, codebook)]
        return z_e + (e - z_e)


def q_dot_product_lookup(z_e, codebook):
    e = codebook[(z_e.detach() @ codebook.detach().T).argmax(1)]
    return z_e + (e - z_e).detach()


# ----------------------------------------------------------------------- ex08.vq_loss_terms
def vl_swapped_stop_gradients(z_e, e, beta=0.25):
    return ((z_e - e.detach()) ** 2).mean(), beta * ((z_e.detach() - e) ** 2).mean()


def vl_no_stop_gradients(z_e, e, beta=0.25):
    return ((z_e - e) ** 2).mean(), beta * ((z_e - e) ** 2).mean()


def vl_beta_on_codebook(z_e, e, beta=0.25):
    return beta * ((z_e.detach() - e) ** 2).mean(), ((z_e - e.detach()) ** 2).mean()


def vl_beta_on_both(z_e, e, beta=0.25):
    return beta * ((z_e.detach() - e) ** 2).mean(), beta * ((z_e - e.detach()) ** 2).mean()


def vl_sum(z_e, e, beta=0.25):
    return ((z_e.detach() - e) ** 2).sum(), beta * ((z_e - e.detach()) ** 2).sum()


def vl_sum_last_axis(z_e, e, beta=0.25):
    cb = ((z_e.detach() - e) ** 2).sum(-1).mean()
    return cb, beta * ((z_e - e.detach()) ** 2).sum(-1).mean()


def vl_norm_not_squared(z_e, e, beta=0.25):
    return torch.norm(z_e.detach() - e), beta * torch.norm(z_e - e.detach())


def vl_abs(z_e, e, beta=0.25):
    return (z_e.detach() - e).abs().mean(), beta * (z_e - e.detach()).abs().mean()


def vl_rewrapped(z_e, e, beta=0.25):
    cb = ((z_e.detach() - e) ** 2).mean()
    cm = beta * ((z_e - e.detach()) ** 2).mean()
    return torch.tensor(cb.item()), torch.tensor(cm.item())


def vl_float32(z_e, e, beta=0.25):
    return F.mse_loss(e.float(), z_e.detach().float()), beta * F.mse_loss(
        z_e.float(), e.detach().float()
    )


def vl_beta_inside_square(z_e, e, beta=0.25):
    return ((z_e.detach() - e) ** 2).mean(), ((beta * (z_e - e.detach())) ** 2).mean()


# -------------------------------------------------------------------------- ex08.perplexity
def _freqs(indices, num_codes):
    counts = torch.bincount(indices.flatten(), minlength=num_codes).double()
    return counts / counts.sum()


def pp_nan_on_unused(indices, num_codes):
    p = _freqs(indices, num_codes)
    return float(torch.exp(-(p * p.log()).sum()))


def pp_entropy(indices, num_codes):
    p = _freqs(indices, num_codes)
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def pp_exp_of_bits(indices, num_codes):
    p = _freqs(indices, num_codes)
    p = p[p > 0]
    return float(torch.exp(-(p * torch.log2(p)).sum()))


def pp_divides_by_k(indices, num_codes):
    p = torch.bincount(indices.flatten(), minlength=num_codes).double() / num_codes
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def pp_mean_over_codes(indices, num_codes):
    p = _freqs(indices, num_codes)
    return float(torch.exp(-torch.where(p > 0, p * p.log(), 0.0).mean()))


def pp_add_one(indices, num_codes):
    counts = torch.bincount(indices.flatten(), minlength=num_codes).double() + 1
    p = counts / counts.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def pp_used_count(indices, num_codes):
    return float(torch.unique(indices).numel())


def pp_returns_tensor(indices, num_codes):
    p = _freqs(indices, num_codes)
    p = p[p > 0]
    return torch.exp(-(p * p.log()).sum())


def pp_mean_per_image(indices, num_codes):
    rows = indices.reshape(indices.shape[0], -1)
    return sum(perplexity(r, num_codes) for r in rows) / len(rows)


def pp_first_image(indices, num_codes):
    return perplexity(indices[0] if indices.dim() > 1 else indices, num_codes)


# -------------------------------------------------------------------------- ex08.ema_update
def _batch_stats(ema_count, z_e, indices):
    onehot = F.one_hot(indices, ema_count.shape[0]).to(z_e.dtype)
    return onehot.sum(0), onehot.T @ z_e


def _smoothed_codebook(new_count, new_sum, eps):
    n, k = new_count.sum(), new_count.shape[0]
    return new_sum / ((new_count + eps) / (n + k * eps) * n)[:, None]


def ema_used_codes_only(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    used = counts > 0
    new_count, new_sum = ema_count.clone(), ema_sum.clone()
    new_count[used] = decay * ema_count[used] + (1 - decay) * counts[used]
    new_sum[used] = decay * ema_sum[used] + (1 - decay) * sums[used]
    return new_count, new_sum, _smoothed_codebook(new_count, new_sum, eps)


def ema_no_smoothing(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    new_count = decay * ema_count + (1 - decay) * counts
    new_sum = decay * ema_sum + (1 - decay) * sums
    return new_count, new_sum, new_sum / new_count[:, None]


def ema_eps_only(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    new_count = decay * ema_count + (1 - decay) * counts
    new_sum = decay * ema_sum + (1 - decay) * sums
    return new_count, new_sum, new_sum / (new_count + eps)[:, None]


def ema_smoothing_without_n(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    new_count = decay * ema_count + (1 - decay) * counts
    new_sum = decay * ema_sum + (1 - decay) * sums
    k = new_count.shape[0]
    smoothed = (new_count + eps) / (new_count.sum() + k * eps)
    return new_count, new_sum, new_sum / smoothed[:, None]


def ema_n_is_batch_size(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    new_count = decay * ema_count + (1 - decay) * counts
    new_sum = decay * ema_sum + (1 - decay) * sums
    n, k = z_e.shape[0], new_count.shape[0]
    smoothed = (new_count + eps) / (n + k * eps) * n
    return new_count, new_sum, new_sum / smoothed[:, None]


def ema_smooths_old_count(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    new_count = decay * ema_count + (1 - decay) * counts
    new_sum = decay * ema_sum + (1 - decay) * sums
    return new_count, new_sum, _smoothed_codebook(ema_count, new_sum, eps)


def ema_decay_swapped(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    new_count = (1 - decay) * ema_count + decay * counts
    new_sum = (1 - decay) * ema_sum + decay * sums
    return new_count, new_sum, _smoothed_codebook(new_count, new_sum, eps)


def ema_batch_mean(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    means = sums / counts.clamp_min(1)[:, None]
    new_count = decay * ema_count + (1 - decay) * counts
    new_sum = decay * ema_sum + (1 - decay) * means
    return new_count, new_sum, _smoothed_codebook(new_count, new_sum, eps)


def ema_codebook_from_old_sum(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    new_count = decay * ema_count + (1 - decay) * counts
    new_sum = decay * ema_sum + (1 - decay) * sums
    return new_count, new_sum, _smoothed_codebook(new_count, ema_sum, eps)


def ema_inplace(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    ema_count.mul_(decay).add_(counts, alpha=1 - decay)
    ema_sum.mul_(decay).add_(sums, alpha=1 - decay)
    return ema_count, ema_sum, _smoothed_codebook(ema_count, ema_sum, eps)


def ema_inplace_sum_only(ema_count, ema_sum, z_e, indices, decay, eps):
    counts, sums = _batch_stats(ema_count, z_e, indices)
    new_count = decay * ema_count + (1 - decay) * counts
    new_sum = ema_sum
    new_sum *= decay
    new_sum += (1 - decay) * sums
    return new_count, new_sum, _smoothed_codebook(new_count, new_sum, eps)


def ema_cpu_zeros(ema_count, ema_sum, z_e, indices, decay, eps):
    k, d = ema_sum.shape
    sums = torch.zeros(k, d, dtype=z_e.dtype).index_add_(0, indices.cpu(), z_e.cpu())
    counts = torch.bincount(indices, minlength=k).to(ema_count.dtype)
    new_count = decay * ema_count + (1 - decay) * counts
    new_sum = decay * ema_sum + (1 - decay) * sums.to(ema_sum.device)
    return new_count.cpu(), new_sum.cpu(), _smoothed_codebook(new_count, new_sum, eps).cpu()


def ema_onehot_no_num_classes(ema_count, ema_sum, z_e, indices, decay, eps):
    onehot = F.one_hot(indices).to(z_e.dtype)  # (N, max index + 1), not (N, K)
    new_count = decay * ema_count + (1 - decay) * onehot.sum(0)
    new_sum = decay * ema_sum + (1 - decay) * onehot.T @ z_e
    return new_count, new_sum, _smoothed_codebook(new_count, new_sum, eps)


def ema_float32(ema_count, ema_sum, z_e, indices, decay, eps):
    onehot = F.one_hot(indices, ema_count.shape[0]).float()
    new_count = decay * ema_count.float() + (1 - decay) * onehot.sum(0)
    new_sum = decay * ema_sum.float() + (1 - decay) * onehot.T @ z_e.float()
    return new_count, new_sum, _smoothed_codebook(new_count, new_sum, eps)


# --------------------------------------------------------------------------- ex08.quantizer
class QuantizerPlainTensor(nn.Module):
    # the codebook is a plain tensor attribute: no parameter, the optimizer never sees it
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__()
        self.beta = beta
        self.codebook = torch.empty(num_codes, code_dim).uniform_(-1 / num_codes, 1 / num_codes)

    forward = Quantizer.forward


class QuantizerBuffer(nn.Module):
    # register_buffer: saved in the state dict, but not a parameter
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__()
        self.beta = beta
        weight = torch.empty(num_codes, code_dim).uniform_(-1 / num_codes, 1 / num_codes)
        self.register_buffer("codebook", weight)

    forward = Quantizer.forward


class QuantizerTransposed(nn.Module):
    # a (D, K) parameter, used as codebook.T
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__()
        self.beta = beta
        self.codes = nn.Parameter(torch.randn(code_dim, num_codes) / num_codes)

    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        codebook = self.codes.T
        idx = nearest_code(flat.detach(), codebook.detach())
        cb, cm = vq_loss_terms(flat, codebook[idx], self.beta)
        z_q = quantize(flat, codebook).reshape(b, h, w, d).permute(0, 3, 1, 2)
        return z_q, idx.reshape(b, h, w), cb + cm


class QuantizerBetaParameter(Quantizer):
    # β registered as a parameter too: the codebook is no longer the only parameter
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__(num_codes, code_dim, beta)
        self.beta = nn.Parameter(torch.tensor(float(beta)))


class QuantizerNoPermute(Quantizer):
    # flattens (B, D, H, W) to (−1, D) without moving the channels last
    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.reshape(-1, d)
        idx = nearest_code(flat.detach(), self.codebook.detach())
        cb, cm = vq_loss_terms(flat, self.codebook[idx], self.beta)
        return quantize(flat, self.codebook).reshape(b, d, h, w), idx.reshape(b, h, w), cb + cm


class QuantizerNoPermuteBack(Quantizer):
    # flattens right, but reshapes z_q straight to (B, D, H, W)
    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_code(flat.detach(), self.codebook.detach())
        cb, cm = vq_loss_terms(flat, self.codebook[idx], self.beta)
        return quantize(flat, self.codebook).reshape(b, d, h, w), idx.reshape(b, h, w), cb + cm


class QuantizerFlatIndices(Quantizer):
    # indices returned flat, (B·H·W,)
    def forward(self, z_e):
        z_q, idx, loss = super().forward(z_e)
        return z_q, idx.flatten(), loss


class QuantizerSquareGrid(Quantizer):
    # assumes H = W: the side from the square root of the number of cells
    def forward(self, z_e):
        b, d = z_e.shape[:2]
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        side = int((flat.shape[0] // b) ** 0.5)
        idx = nearest_code(flat.detach(), self.codebook.detach())
        cb, cm = vq_loss_terms(flat, self.codebook[idx], self.beta)
        z_q = quantize(flat, self.codebook).reshape(b, side, side, d).permute(0, 3, 1, 2)
        return z_q, idx.reshape(b, side, side), cb + cm


class QuantizerNoStraightThrough(Quantizer):
    # z_q is the looked-up codes: the decoder's gradient goes to the codebook, not to z_e
    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_code(flat.detach(), self.codebook.detach())
        e = self.codebook[idx]
        cb, cm = vq_loss_terms(flat, e, self.beta)
        return e.reshape(b, h, w, d).permute(0, 3, 1, 2), idx.reshape(b, h, w), cb + cm


class QuantizerBetaIgnored(Quantizer):
    # calls vq_loss_terms without self.beta: always 0.25
    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_code(flat.detach(), self.codebook.detach())
        cb, cm = vq_loss_terms(flat, self.codebook[idx])
        z_q = quantize(flat, self.codebook).reshape(b, h, w, d).permute(0, 3, 1, 2)
        return z_q, idx.reshape(b, h, w), cb + cm


class QuantizerCodebookLossOnly(Quantizer):
    # forgets the commitment term
    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_code(flat.detach(), self.codebook.detach())
        cb, _ = vq_loss_terms(flat, self.codebook[idx], self.beta)
        z_q = quantize(flat, self.codebook).reshape(b, h, w, d).permute(0, 3, 1, 2)
        return z_q, idx.reshape(b, h, w), cb


class QuantizerLossOnZq(Quantizer):
    # the losses use z_q (straight-through) instead of e: the codebook loss never reaches it
    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_code(flat.detach(), self.codebook.detach())
        z_q = quantize(flat, self.codebook)
        cb, cm = vq_loss_terms(flat, z_q, self.beta)
        return z_q.reshape(b, h, w, d).permute(0, 3, 1, 2), idx.reshape(b, h, w), cb + cm


class QuantizerDetachedCodes(Quantizer):
    # looks the codes up in codebook.detach() for the loss too: the codebook never trains
    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        codebook = self.codebook.detach()
        idx = nearest_code(flat, codebook)
        cb, cm = vq_loss_terms(flat, codebook[idx], self.beta)
        z_q = quantize(flat, codebook).reshape(b, h, w, d).permute(0, 3, 1, 2)
        return z_q, idx.reshape(b, h, w), cb + cm


class QuantizerCpuIndices(Quantizer):
    # indices moved to the CPU "for counting later"
    def forward(self, z_e):
        z_q, idx, loss = super().forward(z_e)
        return z_q, idx.cpu(), loss


class QuantizerSumLoss(Quantizer):
    # sums the squared distances over the grid instead of the means
    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_code(flat.detach(), self.codebook.detach())
        e = self.codebook[idx]
        loss = ((flat.detach() - e) ** 2).sum() + self.beta * ((flat - e.detach()) ** 2).sum()
        z_q = quantize(flat, self.codebook).reshape(b, h, w, d).permute(0, 3, 1, 2)
        return z_q, idx.reshape(b, h, w), loss


MUTANTS = [
    ("ex08.nearest_code", nc_dot_product, "argmax of z·e: drops the ‖e‖² term"),
    ("ex08.nearest_code", nc_argmax, "argmax of the distances: the farthest code"),
    ("ex08.nearest_code", nc_l1, "L1 (Manhattan) distance instead of squared Euclidean"),
    ("ex08.nearest_code", nc_cosine, "largest cosine similarity: ignores the norms"),
    ("ex08.nearest_code", nc_sum_wrong_axis, "sums the squares over the codes (dim 1)"),
    ("ex08.nearest_code", nc_argmin_over_rows, "argmin over the vectors: (K,) not (N,)"),
    ("ex08.nearest_code", nc_int32, "int32 indices"),
    ("ex08.nearest_code", nc_cpu, "indices moved to the CPU"),
    ("ex08.nearest_code", nc_squeeze, "batched cdist then squeeze(): 0-d for N = 1 or K = 1"),
    ("ex08.nearest_code", nc_all_minima, "nonzero of d == min: extra rows on ties"),
    ("ex08.nearest_code", nc_float32, "distances in float32 for float64 inputs"),
    ("ex08.nearest_code", nc_random_tiebreak, "global-RNG noise 1e-4 added 'to break ties'"),
    ("ex08.quantize", q_no_straight_through, "returns e: gradient to the codebook, not z_e"),
    ("ex08.quantize", q_detached_code, "returns sg[e]: no gradient at all"),
    ("ex08.quantize", q_swapped_roles, "e + sg[z_e − e]: value z_e, gradient to the codebook"),
    ("ex08.quantize", q_grad_to_codebook, "z_e + (e − sg[z_e]): the codebook gets gradient"),
    ("ex08.quantize", q_sg_on_code_only, "z_e + (sg[e] − z_e): zero gradient to z_e"),
    ("ex08.quantize", q_inplace_copy, "copies the codes into the caller's z_e"),
    ("ex08.quantize", q_onehot_float32, "one_hot(...).float() @ codebook.float(): float32"),
    ("ex08.quantize", q_cpu_buffer, "codes gathered into torch.zeros on the CPU, float32"),
    ("ex08.quantize", q_returns_indices_too, "returns (z_q, indices)"),
    ("ex08.quantize", q_no_grad, "the whole thing under torch.no_grad()"),
    ("ex08.quantize", q_dot_product_lookup, "the lookup by the largest dot product"),
    ("ex08.vq_loss_terms", vl_swapped_stop_gradients, "each stop-gradient on the wrong side"),
    ("ex08.vq_loss_terms", vl_no_stop_gradients, "no stop-gradients"),
    ("ex08.vq_loss_terms", vl_beta_on_codebook, "β weights the codebook term"),
    ("ex08.vq_loss_terms", vl_beta_on_both, "β weights both terms"),
    ("ex08.vq_loss_terms", vl_sum, "sums over all elements instead of the mean"),
    ("ex08.vq_loss_terms", vl_sum_last_axis, "sum over the last axis, mean over the rest"),
    ("ex08.vq_loss_terms", vl_norm_not_squared, "torch.norm: the root of the sum of squares"),
    ("ex08.vq_loss_terms", vl_abs, "absolute differences instead of squares"),
    ("ex08.vq_loss_terms", vl_rewrapped, "torch.tensor(loss.item()): float32, no gradient"),
    ("ex08.vq_loss_terms", vl_float32, ".float() everywhere: float32 for float64 inputs"),
    ("ex08.vq_loss_terms", vl_beta_inside_square, "β inside the square: β² weight"),
    ("ex08.perplexity", pp_nan_on_unused, "keeps the zero frequencies: 0·log 0 = NaN"),
    ("ex08.perplexity", pp_entropy, "returns the entropy, not its exp"),
    ("ex08.perplexity", pp_exp_of_bits, "exp of the entropy in bits"),
    ("ex08.perplexity", pp_divides_by_k, "frequencies = counts / K"),
    ("ex08.perplexity", pp_mean_over_codes, "mean of p log p over the K codes, not the sum"),
    ("ex08.perplexity", pp_add_one, "+1 (Laplace) smoothing of the counts"),
    ("ex08.perplexity", pp_used_count, "the number of distinct codes used"),
    ("ex08.perplexity", pp_returns_tensor, "a 0-d tensor, not a Python float"),
    ("ex08.perplexity", pp_mean_per_image, "the mean of each image's perplexity"),
    ("ex08.perplexity", pp_first_image, "the first image's usage only"),
    ("ex08.ema_update", ema_used_codes_only, "decays only the codes used in this batch"),
    ("ex08.ema_update", ema_no_smoothing, "divides by N_k: no Laplace smoothing"),
    ("ex08.ema_update", ema_eps_only, "divides by N_k + ε: smoothing without renormalising"),
    ("ex08.ema_update", ema_smoothing_without_n, "(N_k + ε)/(N + Kε), not times N"),
    ("ex08.ema_update", ema_n_is_batch_size, "N in the smoothing is the batch size"),
    ("ex08.ema_update", ema_smooths_old_count, "the codebook divides by the old count"),
    ("ex08.ema_update", ema_decay_swapped, "γ on the batch, 1 − γ on the running value"),
    ("ex08.ema_update", ema_batch_mean, "the batch's mean, not its sum, in the running sum"),
    ("ex08.ema_update", ema_codebook_from_old_sum, "the codebook divides the old sum"),
    ("ex08.ema_update", ema_inplace, "mul_/add_ on the caller's count and sum"),
    ("ex08.ema_update", ema_inplace_sum_only, "new_sum = ema_sum; new_sum *= γ: in place"),
    ("ex08.ema_update", ema_cpu_zeros, "accumulates on the CPU and returns CPU tensors"),
    ("ex08.ema_update", ema_onehot_no_num_classes, "F.one_hot without num_classes"),
    ("ex08.ema_update", ema_float32, "one_hot(...).float(): float32 for float64 inputs"),
    ("ex08.quantizer", QuantizerPlainTensor, "the codebook is a plain tensor"),
    ("ex08.quantizer", QuantizerBuffer, "the codebook is a buffer"),
    ("ex08.quantizer", QuantizerTransposed, "a (D, K) parameter"),
    ("ex08.quantizer", QuantizerBetaParameter, "β is a parameter too"),
    ("ex08.quantizer", QuantizerNoPermute, "reshape(-1, D) without moving D last"),
    ("ex08.quantizer", QuantizerNoPermuteBack, "z_q reshaped to (B, D, H, W) without permute"),
    ("ex08.quantizer", QuantizerFlatIndices, "indices (B·H·W,)"),
    ("ex08.quantizer", QuantizerSquareGrid, "assumes square feature maps"),
    ("ex08.quantizer", QuantizerNoStraightThrough, "z_q = e: no straight-through"),
    ("ex08.quantizer", QuantizerBetaIgnored, "ignores beta: always 0.25"),
    ("ex08.quantizer", QuantizerCodebookLossOnly, "no commitment term"),
    ("ex08.quantizer", QuantizerLossOnZq, "losses on z_q: the codebook gets no gradient"),
    ("ex08.quantizer", QuantizerDetachedCodes, "codes from codebook.detach() for the loss"),
    ("ex08.quantizer", QuantizerCpuIndices, "indices moved to the CPU"),
    ("ex08.quantizer", QuantizerSumLoss, "sums instead of means in the loss"),
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
