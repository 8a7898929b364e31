"""Checks of exercise set ex08 (VQ-VAE): the references agree with the course's
VectorQuantizer and with the closed forms, right answers written several ways pass, plausible
wrong answers lose the task's points with their hint, stubs are not attempted."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vae_course.grading import NOT_ATTEMPTED, run_check
from vae_course.grading.ex08 import (
    ref_ema_update,
    ref_nearest_code,
    ref_perplexity,
    ref_quantize,
    ref_vq_loss_terms,
)
from vae_course.models.vq import VectorQuantizer


# ----------------------------------------------------------------------------- references
def test_references_agree_with_the_vector_quantizer():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=7, code_dim=3)
    z = torch.randn(50, 3, requires_grad=True)
    out = vq(z)
    cb = vq.codebook
    assert torch.equal(ref_nearest_code(z.detach(), cb.detach()), out["indices"])
    assert torch.equal(ref_nearest_code(z.detach(), cb.detach()), torch.cdist(z, cb).argmin(1))
    torch.testing.assert_close(ref_quantize(z, cb), out["z_q"])
    cl, cm = ref_vq_loss_terms(z, cb[out["indices"]])
    torch.testing.assert_close(cl, out["codebook_loss"])
    torch.testing.assert_close(cm, out["commitment_loss"])
    assert ref_perplexity(out["indices"], 7) == pytest.approx(float(out["perplexity"]), rel=1e-5)


def test_perplexity_reference_is_k_for_uniform_usage_and_1_for_one_code():
    assert ref_perplexity(torch.arange(6).repeat(3), 6) == pytest.approx(6.0)
    assert ref_perplexity(torch.full((2, 7, 7), 3), 128) == pytest.approx(1.0)
    p = torch.tensor([0.75, 0.25])
    want = math.exp(float(-(p * p.log()).sum()))
    assert ref_perplexity(torch.tensor([1, 1, 1, 4]), 9) == pytest.approx(want)


def test_ema_reference_is_the_closed_form_on_a_hand_made_batch():
    count, sums = torch.ones(3), torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]])
    z = torch.tensor([[0.1, 0.0], [0.0, -0.1], [0.9, 1.2]])  # codes 0, 0, 1; code 2 unused
    new_n, new_m, new_e = ref_ema_update(count, sums, z, torch.tensor([0, 0, 1]), 0.9, 0.5)
    want_n = 0.9 * torch.ones(3) + 0.1 * torch.tensor([2.0, 1.0, 0.0])
    want_m = 0.9 * sums + 0.1 * torch.tensor([[0.1, -0.1], [0.9, 1.2], [0.0, 0.0]])
    n = want_n.sum()
    smoothed = (want_n + 0.5) / (n + 3 * 0.5) * n
    torch.testing.assert_close(new_n, want_n.double())
    torch.testing.assert_close(new_m, want_m.double())
    torch.testing.assert_close(new_e, (want_m / smoothed[:, None]).double())
    # the minimiser of Σ‖z_i − e‖² over one code's vectors is their mean (γ → 0, ε → 0)
    _, _, batch_codes = ref_ema_update(count, sums, z, torch.tensor([0, 0, 1]), 1e-12, 1e-12)
    torch.testing.assert_close(batch_codes[:2], torch.stack([z[:2].mean(0), z[2]]).double())


def test_ema_reference_equals_a_training_step_of_the_vector_quantizer():
    torch.manual_seed(1)
    vq = VectorQuantizer(num_codes=6, code_dim=4, ema=True, decay=0.8, eps=0.3)
    with torch.no_grad():
        vq.ema_count.copy_(torch.rand(6) + 0.5)
        vq.ema_sum.copy_(torch.randn(6, 4))
    count, sums, codebook = vq.ema_count.clone(), vq.ema_sum.clone(), vq.codebook.detach().clone()
    z = torch.randn(30, 4)
    idx = ref_nearest_code(z, codebook)
    vq.train()
    assert torch.equal(vq(z)["indices"], idx)
    new_n, new_m, new_e = ref_ema_update(count, sums, z, idx, 0.8, 0.3)
    torch.testing.assert_close(vq.ema_count, new_n.float())
    torch.testing.assert_close(vq.ema_sum, new_m.float())
    torch.testing.assert_close(vq.codebook.detach(), new_e.float())


# ----------------------------------------------------------------------------- right answers
def nearest_expand(z_e, codebook):
    d = (z_e**2).sum(1, keepdim=True) - 2 * z_e @ codebook.T + (codebook**2).sum(1)
    return d.argmin(dim=1)


def nearest_cdist(z_e, codebook):
    return torch.cdist(z_e, codebook).argmin(dim=1)


def nearest_broadcast(z_e, codebook):
    return ((z_e[:, None, :] - codebook[None, :, :]) ** 2).sum(-1).argmin(-1)


def nearest_without_z_norm(z_e, codebook):  # ‖z‖² is the same for every code
    return ((codebook**2).sum(1) - 2 * z_e @ codebook.T).argmin(1)


def nearest_loop(z_e, codebook):  # slow but right: one vector at a time
    return torch.stack([((codebook - z) ** 2).sum(1).argmin() for z in z_e])


def quantize_right(z_e, codebook):
    e = codebook[nearest_code(z_e, codebook)]
    return z_e + (e - z_e).detach()


def quantize_embedding(z_e, codebook):
    e = F.embedding(torch.cdist(z_e, codebook).argmin(1), codebook).detach()
    return e - z_e.detach() + z_e


nearest_code = nearest_expand  # what quantize_right calls (the check binds the reference)


def losses_right(z_e, e, beta=0.25):
    return ((z_e.detach() - e) ** 2).mean(), beta * ((z_e - e.detach()) ** 2).mean()


def losses_mse(z_e, e, beta=0.25):
    return F.mse_loss(e, z_e.detach()), beta * F.mse_loss(z_e, e.detach())


def perplexity_right(indices, num_codes):
    counts = torch.bincount(indices.flatten(), minlength=num_codes).double()
    p = counts / counts.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def perplexity_unique(indices, num_codes):
    _, counts = torch.unique(indices, return_counts=True)
    p = counts.double() / counts.sum()
    return torch.exp(-(p * torch.log(p)).sum()).item()


def perplexity_entr(indices, num_codes):
    counts = np.bincount(indices.reshape(-1).numpy(), minlength=num_codes)
    p = counts / counts.sum()
    return float(np.exp(torch.special.entr(torch.from_numpy(p)).sum().item()))


def ema_right(ema_count, ema_sum, z_e, indices, decay, eps):
    k = ema_count.shape[0]
    onehot = F.one_hot(indices, k).to(z_e.dtype)
    new_count = decay * ema_count + (1 - decay) * onehot.sum(0)
    new_sum = decay * ema_sum + (1 - decay) * onehot.T @ z_e
    n = new_count.sum()
    smoothed = (new_count + eps) / (n + k * eps) * n
    return new_count, new_sum, new_sum / smoothed[:, None]


def ema_index_add(ema_count, ema_sum, z_e, indices, decay, eps):
    k = ema_count.shape[0]
    n_k = torch.zeros_like(ema_count).index_add(
        0, indices, torch.ones_like(indices, dtype=ema_count.dtype)
    )
    s_k = torch.zeros_like(ema_sum).index_add(0, indices, z_e)
    count = ema_count * decay + n_k * (1 - decay)
    sums = ema_sum * decay + s_k * (1 - decay)
    total = count.sum()
    return count, sums, sums / ((count + eps) / (total + k * eps) * total).unsqueeze(1)


class Quantizer(nn.Module):
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__()
        self.beta = beta
        w = torch.empty(num_codes, code_dim).uniform_(-1 / num_codes, 1 / num_codes)
        self.codebook = nn.Parameter(w)

    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = torch.cdist(flat.detach(), self.codebook.detach()).argmin(1)
        e = self.codebook[idx]
        loss = F.mse_loss(e, flat.detach()) + self.beta * F.mse_loss(flat, e.detach())
        z_q = flat + (e - flat).detach()
        return z_q.reshape(b, h, w, d).permute(0, 3, 1, 2), idx.reshape(b, h, w), loss


class EmbeddingQuantizer(nn.Module):  # another right answer: nn.Embedding, movedim, own pieces
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__()
        self.beta = beta
        self.embed = nn.Embedding(num_codes, code_dim)

    def forward(self, z_e):
        flat = z_e.movedim(1, -1)  # (B, H, W, D)
        d = ((flat.unsqueeze(-2) - self.embed.weight) ** 2).sum(-1)
        idx = d.argmin(-1)
        e = self.embed(idx)
        cl = ((flat.detach() - e) ** 2).mean()
        cm = ((flat - e.detach()) ** 2).mean() * self.beta
        z_q = flat + (e - flat).detach()
        return z_q.movedim(-1, 1), idx, cl + cm


class QuantizerWithMyFunctions(nn.Module):  # calls the learner's own functions (bound to refs)
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__()
        self.beta = beta
        self.codebook = nn.Parameter(torch.randn(num_codes, code_dim))

    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_code(flat.detach(), self.codebook.detach())
        cl, cm = losses_right(flat, self.codebook[idx], self.beta)
        z_q = quantize_right(flat, self.codebook)
        return z_q.reshape(b, h, w, d).permute(0, 3, 1, 2), idx.reshape(b, h, w), cl + cm


def perplexity_float32(indices, num_codes):
    counts = torch.bincount(indices.reshape(-1), minlength=num_codes).float()
    p = counts[counts > 0] / counts.sum()
    return torch.exp(-(p * torch.log(p)).sum()).item()


def perplexity_bits(indices, num_codes):  # 2 to the entropy in bits is exp of it in nats
    counts = torch.bincount(indices.flatten()).double()
    p = counts[counts > 0] / indices.numel()
    return float(2 ** -(p * p.log2()).sum())


RIGHT = [
    ("ex08.nearest_code", nearest_expand),
    ("ex08.nearest_code", nearest_cdist),
    ("ex08.nearest_code", nearest_broadcast),
    ("ex08.nearest_code", nearest_without_z_norm),
    ("ex08.nearest_code", nearest_loop),
    ("ex08.quantize", quantize_right),
    ("ex08.quantize", quantize_embedding),
    ("ex08.vq_loss_terms", losses_right),
    ("ex08.vq_loss_terms", losses_mse),
    ("ex08.perplexity", perplexity_right),
    ("ex08.perplexity", perplexity_unique),
    ("ex08.perplexity", perplexity_entr),
    ("ex08.perplexity", perplexity_float32),
    ("ex08.perplexity", perplexity_bits),
    ("ex08.ema_update", ema_right),
    ("ex08.ema_update", ema_index_add),
    ("ex08.quantizer", Quantizer),
    ("ex08.quantizer", EmbeddingQuantizer),
    ("ex08.quantizer", QuantizerWithMyFunctions),
]


@pytest.mark.parametrize("task, fn", RIGHT, ids=[f"{t}-{f.__name__}" for t, f in RIGHT])
@pytest.mark.parametrize("seed", [0, 31337])
def test_right_answers_pass(task, fn, seed):
    res = run_check(task, fn, seed=seed, max_points=2)
    assert res.passed and res.points == 2, res.message


@pytest.mark.parametrize("task", sorted({t for t, _ in RIGHT}))
def test_right_answers_pass_for_any_seed(task):
    fn = dict(RIGHT)[task]
    seeds = range(15) if task == "ex08.quantizer" else range(40)
    assert [s for s in seeds if not run_check(task, fn, seed=s).passed] == []


@pytest.mark.parametrize("task", sorted({t for t, _ in RIGHT}))
def test_stub_is_not_attempted(task):
    def stub(*a, **k):
        raise NotImplementedError

    assert run_check(task, stub, seed=0).status == NOT_ATTEMPTED


# ----------------------------------------------------------------------------- wrong answers
def _dist(z, cb):
    return ((z[:, None, :] - cb[None, :, :]) ** 2).sum(-1)


def _with_e(f):
    """quantize(z_e, codebook) written from e = the nearest codes."""

    def quantize(z_e, codebook):
        return f(z_e, codebook[nearest_cdist(z_e.detach(), codebook.detach())])

    return quantize


def nearest_centre_in_place(z_e, codebook):  # right indices, but the caller's tensors change
    centre = codebook.mean(0)
    z_e -= centre
    codebook -= centre
    return torch.cdist(z_e, codebook).argmin(1)


def nearest_cpu_list(z_e, codebook):  # a loop through Python ints: the result lands on the CPU
    return torch.tensor([int(((codebook - z) ** 2).sum(1).argmin()) for z in z_e])


def quantize_no_grad(z_e, codebook):
    with torch.no_grad():
        return quantize_right(z_e, codebook)


def perplexity_nan(indices, num_codes):
    p = torch.bincount(indices.flatten(), minlength=num_codes).double() / indices.numel()
    return float(torch.exp(-(p * p.log()).sum()))


def perplexity_no_flatten(indices, num_codes):
    counts = torch.bincount(indices, minlength=num_codes).double()
    p = counts[counts > 0] / counts.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def _ppl(f):
    """perplexity written from the nonzero usage frequencies p (and the counts)."""

    def perplexity(indices, num_codes):
        counts = torch.bincount(indices.flatten(), minlength=num_codes).double()
        p = counts[counts > 0] / counts.sum()
        return f(p, counts, num_codes)

    return perplexity


def _ema(f):
    """ema_update written from the batch's counts n and sums s."""

    def ema_update(ema_count, ema_sum, z_e, indices, decay, eps):
        k = ema_count.shape[0]
        onehot = F.one_hot(indices, k).to(z_e.dtype)
        return f(ema_count, ema_sum, onehot.sum(0), onehot.T @ z_e, decay, eps, k)

    return ema_update


def _right_running(N, m, n, s, g):
    return g * N + (1 - g) * n, g * m + (1 - g) * s


def _smoothed(count, eps, k):
    total = count.sum()
    return (count + eps) / (total + k * eps) * total


def ema_in_place(ema_count, ema_sum, z_e, indices, decay, eps):
    k = ema_count.shape[0]
    onehot = F.one_hot(indices, k).to(z_e.dtype)
    ema_count.mul_(decay).add_(onehot.sum(0), alpha=1 - decay)
    ema_sum.mul_(decay).add_(onehot.T @ z_e, alpha=1 - decay)
    return ema_count, ema_sum, ema_sum / _smoothed(ema_count, eps, k)[:, None]


def _ema_used_only(N, m, n, s, g, eps, k):
    used = n > 0
    count = torch.where(used, g * N + (1 - g) * n, N)
    sums = torch.where(used[:, None], g * m + (1 - g) * s, m)
    return count, sums, sums / _smoothed(count, eps, k)[:, None]


def _ema_tail(f):
    """Right running count and sum; the codebook from f(count, sums, n, s, eps, k)."""

    def g(N, m, n, s, gamma, eps, k):
        count, sums = _right_running(N, m, n, s, gamma)
        return count, sums, f(count, sums, n, s, eps, k)

    return _ema(g)


class QPlainTensor(Quantizer):  # the codebook is not registered as a parameter
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__(num_codes, code_dim, beta)
        w = self.codebook.detach().clone()
        del self.codebook
        self.codebook = w


class QTransposed(Quantizer):
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        nn.Module.__init__(self)
        self.beta = beta
        self.codebook = nn.Parameter(torch.randn(code_dim, num_codes))

    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = torch.cdist(flat.detach(), self.codebook.T.detach()).argmin(1)
        e = self.codebook.T[idx]
        loss = F.mse_loss(e, flat.detach()) + self.beta * F.mse_loss(flat, e.detach())
        z_q = flat + (e - flat).detach()
        return z_q.reshape(b, h, w, d).permute(0, 3, 1, 2), idx.reshape(b, h, w), loss


class QNoPermute(Quantizer):  # flattens (B, D, H, W) with a reshape alone
    def forward(self, z_e):
        b, d, h, w = z_e.shape
        flat = z_e.reshape(-1, d)
        idx = torch.cdist(flat.detach(), self.codebook.detach()).argmin(1)
        e = self.codebook[idx]
        loss = F.mse_loss(e, flat.detach()) + self.beta * F.mse_loss(flat, e.detach())
        z_q = flat + (e - flat).detach()
        return z_q.reshape(b, d, h, w), idx.reshape(b, h, w), loss


class QNoPermuteBack(Quantizer):
    def forward(self, z_e):
        b, d, h, w = z_e.shape
        z_q, idx, loss = super().forward(z_e)
        return z_q.permute(0, 2, 3, 1).reshape(b, d, h, w), idx, loss


class QNoStraightThrough(Quantizer):
    def forward(self, z_e):
        z_q, idx, loss = super().forward(z_e)
        return self.codebook[idx].permute(0, 3, 1, 2), idx, loss


class QNoCommitment(Quantizer):
    def forward(self, z_e):
        z_q, idx, _ = super().forward(z_e)
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        return z_q, idx, F.mse_loss(self.codebook[idx.reshape(-1)], flat.detach())


class QNoStopGradient(Quantizer):  # the right value, but both terms move both sides
    def forward(self, z_e):
        z_q, idx, _ = super().forward(z_e)
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        return z_q, idx, (1 + self.beta) * F.mse_loss(flat, self.codebook[idx.reshape(-1)])


class QBetaIgnored(Quantizer):
    def forward(self, z_e):
        z_q, idx, _ = super().forward(z_e)
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        e = self.codebook[idx.reshape(-1)]
        return z_q, idx, F.mse_loss(e, flat.detach()) + 0.25 * F.mse_loss(flat, e.detach())


class QZeroInit(Quantizer):
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__(num_codes, code_dim, beta)
        self.codebook = nn.Parameter(torch.zeros(num_codes, code_dim))


class QExtraLayer(Quantizer):  # a projection the contract does not ask for
    def __init__(self, num_codes=64, code_dim=16, beta=0.25):
        super().__init__(num_codes, code_dim, beta)
        self.proj = nn.Conv2d(code_dim, code_dim, 1)


class QFixedDevice(Quantizer):
    def forward(self, z_e):
        z_q, idx, loss = super().forward(z_e)
        return z_q + torch.zeros(z_q.shape), idx, loss


class QDict(Quantizer):
    def forward(self, z_e):
        z_q, idx, loss = super().forward(z_e)
        return {"z_q": z_q, "indices": idx, "loss": loss}


class QOrder(Quantizer):
    def forward(self, z_e):
        z_q, idx, loss = super().forward(z_e)
        return z_q, loss, idx


def ema_one_hot_width(ema_count, ema_sum, z_e, indices, decay, eps):
    onehot = F.one_hot(indices).to(z_e.dtype)  # as many columns as the largest index + 1
    k = ema_count.shape[0]
    new_count = decay * ema_count + (1 - decay) * onehot.sum(0)
    new_sum = decay * ema_sum + (1 - decay) * onehot.T @ z_e
    return new_count, new_sum, new_sum / _smoothed(new_count, eps, k)[:, None]


class QFlatIndices(Quantizer):
    def forward(self, z_e):
        z_q, idx, loss = super().forward(z_e)
        return z_q, idx.reshape(-1), loss


WRONG = [
    # --- nearest_code
    ("ex08.nearest_code", "argmax", lambda z, c: _dist(z, c).argmax(1), "the farthest code"),
    ("ex08.nearest_code", "dot product", lambda z, c: (z @ c.T).argmax(1), "‖e‖² differs"),
    (
        "ex08.nearest_code",
        "cosine",
        lambda z, c: (F.normalize(z, dim=1) @ F.normalize(c, dim=1).T).argmax(1),
        "cosine similarity",
    ),
    (
        "ex08.nearest_code",
        "min over vectors",
        lambda z, c: _dist(z, c).argmin(0),
        "take the minimum over the codes",
    ),
    (
        "ex08.nearest_code",
        "sum over codes",
        lambda z, c: ((z[:, None] - c[None]) ** 2).sum(1).argmin(1),
        "summed over the D coordinates",
    ),
    (
        "ex08.nearest_code",
        "no factor 2",
        lambda z, c: ((c**2).sum(1) - z @ c.T).argmin(1),
        "a factor 2 is missing",
    ),
    (
        "ex08.nearest_code",
        "L1",
        lambda z, c: (z[:, None] - c[None]).abs().sum(-1).argmin(1),
        "the L1 distance",
    ),
    (
        "ex08.nearest_code",
        "float indices",
        lambda z, c: torch.cdist(z, c).argmin(1).float(),
        "expected int64 indices",
    ),
    (
        "ex08.nearest_code",
        "int32 indices",
        lambda z, c: torch.cdist(z, c).argmin(1).int(),
        "expected int64 indices",
    ),
    (
        "ex08.nearest_code",
        "keepdim",
        lambda z, c: torch.cdist(z, c).argmin(1, keepdim=True),
        "drop the kept dimension",
    ),
    (
        "ex08.nearest_code",
        "distances",
        lambda z, c: _dist(z, c),
        "not the distances",
    ),
    ("ex08.nearest_code", "in place", nearest_centre_in_place, "in place"),
    (
        "ex08.nearest_code",
        "values and indices",
        lambda z, c: torch.cdist(z, c).min(dim=1),
        "return (values, indices); return the indices",
    ),
    ("ex08.nearest_code", "CPU list", nearest_cpu_list, "moved data to the CPU"),
    # --- quantize
    ("ex08.quantize", "returns e", _with_e(lambda z, e: e), "instead of z_e"),
    ("ex08.quantize", "z_e + e", _with_e(lambda z, e: z + e), "z_q = z_e + e"),
    (
        "ex08.quantize",
        "detach on the wrong side",
        _with_e(lambda z, e: z.detach() + (e - z.detach())),
        "reaches the codebook instead of z_e",
    ),
    (
        "ex08.quantize",
        "z_e itself",
        _with_e(lambda z, e: e + (z - e).detach()),
        "z_q equals z_e",
    ),
    ("ex08.quantize", "identity", lambda z, c: z, "z_q equals z_e"),
    (
        "ex08.quantize",
        "minus the gradient",
        _with_e(lambda z, e: z.detach() + (e - z)),
        "minus the upstream gradient",
    ),
    (
        "ex08.quantize",
        "e not detached",
        _with_e(lambda z, e: z + e - z.detach()),
        "also reaches the codebook",
    ),
    (
        "ex08.quantize",
        "gradient cancelled",
        _with_e(lambda z, e: z + (e.detach() - z)),
        "no gradient reaches z_e",
    ),
    ("ex08.quantize", "no_grad", quantize_no_grad, "not connected to z_e"),
    (
        "ex08.quantize",
        "returns a pair",
        lambda z, c: (quantize_right(z, c), nearest_cdist(z, c)),
        "return z_q alone",
    ),
    # --- vq_loss_terms
    (
        "ex08.vq_loss_terms",
        "no detach",
        lambda z, e, beta=0.25: (((z - e) ** 2).mean(), beta * ((z - e) ** 2).mean()),
        "the codebook loss also sends gradient into z_e",
    ),
    (
        "ex08.vq_loss_terms",
        "swapped detach",
        lambda z, e, beta=0.25: (
            ((z - e.detach()) ** 2).mean(),
            beta * ((z.detach() - e) ** 2).mean(),
        ),
        "the stop-gradients are swapped",
    ),
    (
        "ex08.vq_loss_terms",
        "commitment reaches e",
        lambda z, e, beta=0.25: (((z.detach() - e) ** 2).mean(), beta * ((z - e) ** 2).mean()),
        "the commitment loss also sends gradient into e",
    ),
    (
        "ex08.vq_loss_terms",
        "sum",
        lambda z, e, beta=0.25: (
            ((z.detach() - e) ** 2).sum(),
            beta * ((z - e.detach()) ** 2).sum(),
        ),
        "take their mean",
    ),
    (
        "ex08.vq_loss_terms",
        "beta on the codebook term",
        lambda z, e, beta=0.25: (
            beta * ((z.detach() - e) ** 2).mean(),
            ((z - e.detach()) ** 2).mean(),
        ),
        "β weights the commitment term",
    ),
    (
        "ex08.vq_loss_terms",
        "beta forgotten",
        lambda z, e, beta=0.25: (((z.detach() - e) ** 2).mean(), ((z - e.detach()) ** 2).mean()),
        "weighted by β",
    ),
    (
        "ex08.vq_loss_terms",
        "wrong default beta",
        lambda z, e, beta=1.0: (
            ((z.detach() - e) ** 2).mean(),
            beta * ((z - e.detach()) ** 2).mean(),
        ),
        "beta left at its default (0.25)",
    ),
    (
        "ex08.vq_loss_terms",
        "sum per vector",
        lambda z, e, beta=0.25: (
            ((z.detach() - e) ** 2).sum(1).mean(),
            beta * ((z - e.detach()) ** 2).sum(1).mean(),
        ),
        "mean over every element",
    ),
    (
        "ex08.vq_loss_terms",
        "wrong order",
        lambda z, e, beta=0.25: losses_right(z, e, beta)[::-1],
        "the two terms come in the wrong order",
    ),
    (
        "ex08.vq_loss_terms",
        ".item()",
        lambda z, e, beta=0.25: tuple(t.item() for t in losses_right(z, e, beta)),
        "return tensors",
    ),
    (
        "ex08.vq_loss_terms",
        "one total",
        lambda z, e, beta=0.25: sum(losses_right(z, e, beta)),
        "expected a pair",
    ),
    # --- perplexity
    (
        "ex08.perplexity",
        "entropy",
        _ppl(lambda p, c, k: float(-(p * p.log()).sum())),
        "that is the entropy H",
    ),
    (
        "ex08.perplexity",
        "log2 then exp",
        _ppl(lambda p, c, k: math.exp(float(-(p * p.log2()).sum()))),
        "entropy in bits",
    ),
    ("ex08.perplexity", "0 log 0", perplexity_nan, "0·log 0"),
    (
        "ex08.perplexity",
        "divided by K",
        _ppl(lambda p, c, k: float(torch.exp(-((c[c > 0] / k) * (c[c > 0] / k).log()).sum()))),
        "not by the number of codes",
    ),
    (
        "ex08.perplexity",
        "distinct codes",
        _ppl(lambda p, c, k: float(len(p))),
        "counts the codes used",
    ),
    (
        "ex08.perplexity",
        "0-d tensor",
        _ppl(lambda p, c, k: torch.exp(-(p * p.log()).sum())),
        "expected a Python float, got a tensor",
    ),
    (
        "ex08.perplexity",
        "exp(-H)",
        _ppl(lambda p, c, k: float(torch.exp((p * p.log()).sum()))),
        "exp(−H)",
    ),
    ("ex08.perplexity", "no flatten", perplexity_no_flatten, "flatten them first"),
    # --- ema_update
    (
        "ex08.ema_update",
        "no smoothing",
        _ema_tail(lambda count, sums, n, s, eps, k: sums / count[:, None]),
        "no Laplace smoothing",
    ),
    (
        "ex08.ema_update",
        "smoothing without ·N",
        _ema_tail(
            lambda count, sums, n, s, eps, k: (
                sums / ((count + eps) / (count.sum() + k * eps))[:, None]
            )
        ),
        "multiply it by N",
    ),
    (
        "ex08.ema_update",
        "decay on the wrong side",
        _ema(
            lambda N, m, n, s, g, eps, k: (
                (1 - g) * N + g * n,
                (1 - g) * m + g * s,
                ((1 - g) * m + g * s) / _smoothed((1 - g) * N + g * n, eps, k)[:, None],
            )
        ),
        "the decay γ is the weight of the old running count",
    ),
    (
        "ex08.ema_update",
        "only used codes decay",
        _ema(_ema_used_only),
        "every code's running count decays",
    ),
    (
        "ex08.ema_update",
        "sums over batch counts",
        _ema_tail(lambda count, sums, n, s, eps, k: sums / n[:, None]),
        "not by this batch's count",
    ),
    (
        "ex08.ema_update",
        "batch mean",
        _ema_tail(lambda count, sums, n, s, eps, k: s / n.clamp_min(1)[:, None]),
        "this batch's mean",
    ),
    (
        "ex08.ema_update",
        "count plus eps",
        _ema_tail(lambda count, sums, n, s, eps, k: sums / (count + eps)[:, None]),
        "not N_k + ε",
    ),
    ("ex08.ema_update", "in place", ema_in_place, "in place"),
    ("ex08.ema_update", "one_hot width", ema_one_hot_width, "count over all K codes"),
    (
        "ex08.ema_update",
        "only the codebook",
        lambda *a: ema_right(*a)[2],
        "expected a triple",
    ),
    # --- the Quantizer build
    ("ex08.quantizer", "plain tensor", QPlainTensor, "register the codebook as an nn.Parameter"),
    ("ex08.quantizer", "transposed", QTransposed, "one row per code"),
    ("ex08.quantizer", "reshape without permute", QNoPermute, "move the channel axis last"),
    ("ex08.quantizer", "no permute back", QNoPermuteBack, "the right codes in the wrong places"),
    ("ex08.quantizer", "no straight-through", QNoStraightThrough, "instead of z_e"),
    ("ex08.quantizer", "no commitment", QNoCommitment, "commitment term is missing"),
    (
        "ex08.quantizer",
        "no stop-gradient",
        QNoStopGradient,
        "the wrong gradient with respect to z_e",
    ),
    ("ex08.quantizer", "beta ignored", QBetaIgnored, "beta is ignored"),
    ("ex08.quantizer", "zero init", QZeroInit, "initialise the codebook randomly"),
    ("ex08.quantizer", "extra layer", QExtraLayer, "only parameter is the (K, D) codebook"),
    ("ex08.quantizer", "fixed device", QFixedDevice, "device"),
    ("ex08.quantizer", "returns a dict", QDict, "must return a triple"),
    ("ex08.quantizer", "flat indices", QFlatIndices, "reshape the indices to the grid"),
    ("ex08.quantizer", "outputs out of order", QOrder, "(z_q, indices, loss) in this order"),
]


@pytest.mark.parametrize(
    "task, why, fn, hint", WRONG, ids=[f"{t.split('.')[1]}-{w}" for t, w, _, _ in WRONG]
)
def test_wrong_answers_lose_their_points(task, why, fn, hint):
    for seed in (0, 7, 123):
        res = run_check(task, fn, seed=seed, max_points=2)
        assert res.status == "failed" and res.points == 0, f"{why} passed"
        assert hint in res.message, res.message


def test_the_catalogue_covers_every_task_and_is_large():
    tasks = {t for t, _, _, _ in WRONG}
    assert tasks == {t for t, _ in RIGHT} and len(WRONG) >= 20


def test_a_quantize_that_moves_a_meta_input_to_the_cpu_is_told_so():
    def quantize_cpu(z_e, codebook):
        return quantize_right(z_e.cpu(), codebook.cpu())

    res = run_check("ex08.quantize", quantize_cpu, seed=0)
    assert res.status == "failed" and "meta" in res.message, res.message


@pytest.mark.parametrize(
    "value, ok",
    [
        ("most of them (over three quarters)", True),
        ("a few of them (under a quarter)", False),
        ("about half of them", False),
        ("most", False),
    ],
)
def test_prediction(value, ok):
    assert run_check("ex08.predict_dead_codes", value, seed=0).passed is ok
