"""Checks of exercise set ex05 (β-VAE and disentanglement).

The references are tested against the course's disentanglement module (which follows
disentanglement_lib); right answers written other ways pass; every plausible wrong answer
loses the task's points with its hint.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_course.disentanglement import mig_per_factor, mutual_information, mutual_information_matrix
from vae_course.grading import NOT_ATTEMPTED, run_check
from vae_course.grading.ex05 import ref_mig_from_mi, ref_mutual_information_table
from vae_course.losses import bernoulli_log_likelihood, gaussian_kl


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- references
def _table(a, b):
    t = torch.zeros(int(a.max()) + 1, int(b.max()) + 1)
    return t.index_put_((a, b), torch.ones(len(a)), accumulate=True)


def test_mutual_information_from_a_table_matches_the_label_estimator():
    a = torch.randint(0, 5, (3000,), generator=_gen(1))
    b = (a + torch.randint(0, 3, (3000,), generator=_gen(2))) % 6
    assert math.isclose(
        ref_mutual_information_table(_table(a, b)), mutual_information(a, b), rel_tol=1e-9
    )
    # and the closed forms: independent -> 0, a copy -> H
    assert (
        ref_mutual_information_table(
            torch.outer(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 5.0]))
        )
        < 1e-12
    )
    assert math.isclose(ref_mutual_information_table(torch.eye(4) * 7), math.log(4), rel_tol=1e-12)


def test_mig_from_mi_matches_mig_per_factor():
    factors = torch.randint(0, 6, (2000, 3), generator=_gen(3))
    codes = torch.cat(
        [factors[:, :2].double(), torch.randn(2000, 3, generator=_gen(4), dtype=torch.float64)], 1
    )
    codes += 0.01 * torch.randn(codes.shape, generator=_gen(5), dtype=torch.float64)
    mi = mutual_information_matrix(codes, factors, 20)
    h = torch.tensor([mutual_information(factors[:, k], factors[:, k]) for k in range(3)])
    gaps, score = ref_mig_from_mi(mi, h)
    torch.testing.assert_close(gaps, mig_per_factor(codes, factors, 20))
    assert math.isclose(score, float(gaps.mean()))


# ----------------------------------------------------------------------------- right answers
def loss_right(x, x_logits, mu, logvar, beta):
    rate = gaussian_kl(mu, logvar).mean()
    distortion = -bernoulli_log_likelihood(x, x_logits).mean()
    return {"loss": distortion + beta * rate, "rate": rate, "distortion": distortion}


def loss_right_manual(x, x_logits, mu, logvar, beta):
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(x_logits, x, reduction="none")
    d = bce.flatten(1).sum(1)
    return {"distortion": d.mean(), "rate": kl.mean(), "loss": (d + beta * kl).mean()}


def discretize_right(codes, n):
    lo, hi = codes.min(0).values, codes.max(0).values
    width = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return torch.floor((codes - lo) / width * n).long().clamp(0, n - 1)


def discretize_numpy(codes, n):  # disentanglement_lib's own way: np.histogram edges + digitize
    c = codes.numpy()
    out = np.zeros(c.shape, dtype=np.int64)
    for j in range(c.shape[1]):
        if c[:, j].max() > c[:, j].min():  # a constant column stays in bin 0 (the contract)
            out[:, j] = np.digitize(c[:, j], np.histogram(c[:, j], n)[1][:-1]) - 1
    return torch.from_numpy(out)


def mi_right(table):
    p = table.double() / table.sum()
    pa, pb = p.sum(1, keepdim=True), p.sum(0, keepdim=True)
    nz = p > 0
    return float((p[nz] * torch.log(p[nz] / (pa * pb)[nz])).sum())


def mi_by_entropies(table):  # I = H(a) + H(b) − H(a, b)
    p = table.double() / table.sum()

    def h(q):
        q = q[q > 0]
        return float(-(q * q.log()).sum())

    return h(p.sum(1)) + h(p.sum(0)) - h(p.reshape(-1))


def mi_entropy_a(table):  # H(a), not I(a; b)
    pa = table.double().sum(1) / table.sum()
    pa = pa[pa > 0]
    return float(-(pa * pa.log()).sum())


def mig_right(mi, h):
    top2 = torch.topk(mi, 2, dim=0).values
    gaps = (top2[0] - top2[1]) / h
    return gaps, float(gaps.mean())


def mig_sorted(mi, h):
    s = torch.sort(mi, dim=0, descending=True).values
    gaps = (s[0] - s[1]) / h
    return gaps, gaps.mean().item()


RIGHT = [
    ("ex05.beta_vae_loss", loss_right),
    ("ex05.beta_vae_loss", loss_right_manual),
    ("ex05.discretize", discretize_right),
    ("ex05.discretize", discretize_numpy),
    ("ex05.mutual_information", mi_right),
    ("ex05.mutual_information", mi_by_entropies),
    ("ex05.mig_from_mi", mig_right),
    ("ex05.mig_from_mi", mig_sorted),
]


@pytest.mark.parametrize("task, fn", RIGHT, ids=[f.__name__ for _, f in RIGHT])
@pytest.mark.parametrize("seed", [0, 4321, 987654321])
def test_right_answers_pass(task, fn, seed):
    res = run_check(task, fn, seed=seed, max_points=2)
    assert res.passed and res.points == 2, res.message


@pytest.mark.parametrize("task", sorted({t for t, _ in RIGHT}))
def test_stub_is_not_attempted(task):
    def stub(*args, **kwargs):
        raise NotImplementedError

    assert run_check(task, stub, seed=0).status == NOT_ATTEMPTED


# ----------------------------------------------------------------------------- wrong answers
def _loss(rate_fn=None, dist_fn=None, loss_fn=None, keys=("loss", "rate", "distortion")):
    def f(x, x_logits, mu, logvar, beta):
        kl, rec = gaussian_kl(mu, logvar), bernoulli_log_likelihood(x, x_logits)
        rate = rate_fn(kl, beta) if rate_fn else kl.mean()
        dist = dist_fn(rec) if dist_fn else -rec.mean()
        loss = loss_fn(rec, kl, beta) if loss_fn else -rec.mean() + beta * kl.mean()
        return dict(zip(keys, (loss, rate, dist), strict=True))

    return f


WRONG = [
    (
        "ex05.beta_vae_loss",
        "beta on the reconstruction",
        _loss(loss_fn=lambda r, k, b: (-b * r + k).mean()),
        "beta multiplies the KL",
    ),
    (
        "ex05.beta_vae_loss",
        "beta ignored",
        _loss(loss_fn=lambda r, k, b: (-r + k).mean()),
        "beta has no effect",
    ),
    (
        "ex05.beta_vae_loss",
        "rate includes beta",
        _loss(rate_fn=lambda k, b: b * k.mean()),
        "before β weights it",
    ),
    (
        "ex05.beta_vae_loss",
        "distortion as log-likelihood",
        _loss(dist_fn=lambda r: r.mean()),
        "flip the sign",
    ),
    (
        "ex05.beta_vae_loss",
        "summed rate",
        _loss(rate_fn=lambda k, b: k.sum()),
        "summed over the batch",
    ),
    ("ex05.beta_vae_loss", "rate as a float", _loss(rate_fn=lambda k, b: k.mean().item()), "0-d"),
    (
        "ex05.beta_vae_loss",
        "per-example rate",
        _loss(rate_fn=lambda k, b: k),
        "average over the batch",
    ),
    ("ex05.beta_vae_loss", "terms swapped", _loss(keys=("loss", "distortion", "rate")), "swapped"),
    (
        "ex05.beta_vae_loss",
        "a tuple, not a dict",
        lambda *a, **k: tuple(loss_right(*a, **k).values()),
        "return a dict",
    ),
    (
        "ex05.beta_vae_loss",
        "detached KL in the loss",
        _loss(loss_fn=lambda r, k, b: -r.mean() + b * k.mean().detach()),
        "wrong gradient",
    ),
    (
        "ex05.discretize",
        "global range",
        lambda c, n: torch.floor((c - c.min()) / (c.max() - c.min()) * n).long().clamp(0, n - 1),
        "each column's own range",
    ),
    (
        "ex05.discretize",
        "maximum in bin num_bins",
        lambda c, n: torch.floor(
            (c - c.min(0).values) / (c.max(0).values - c.min(0).values).clamp_min(1e-30) * n
        ).long(),
        "last bin",
    ),
    (
        "ex05.discretize",
        "round instead of floor",
        lambda c, n: (
            torch.round(
                (c - c.min(0).values) / (c.max(0).values - c.min(0).values).clamp_min(1e-30) * n
            )
            .long()
            .clamp(0, n - 1)
        ),
        "take the floor",
    ),
    ("ex05.discretize", "float bins", lambda c, n: discretize_right(c, n).double(), "int64"),
    (
        "ex05.discretize",
        "quantile bins",
        lambda c, n: torch.searchsorted(
            torch.quantile(
                c.double(), torch.linspace(0, 1, n + 1, dtype=torch.float64)[1:-1], dim=0
            ).T.contiguous(),
            c.double().T.contiguous(),
        ).T.long(),
        "bin",
    ),
    ("ex05.mutual_information", "bits", lambda t: mi_right(t) / math.log(2), "bits"),
    (
        "ex05.mutual_information",
        "no marginals",
        lambda t: float((lambda p: (p[p > 0] * p[p > 0].log()).sum())(t.double() / t.sum())),
        "p(a) p(b) is missing",
    ),
    (
        "ex05.mutual_information",
        "counts, not probabilities",
        lambda t: float(
            (
                lambda t: (
                    t[t > 0]
                    * torch.log(t[t > 0] / (t.sum(1, keepdim=True) * t.sum(0, keepdim=True))[t > 0])
                ).sum()
            )(t.double())
        ),
        "normalise the counts",
    ),
    (
        "ex05.mutual_information",
        "0 log 0 gives NaN",
        lambda t: float(
            (
                lambda p: (
                    p * torch.log(p / (p.sum(1, keepdim=True) * p.sum(0, keepdim=True)))
                ).sum()
            )(t.double() / t.sum())
        ),
        "NaN",
    ),
    ("ex05.mutual_information", "a tensor", lambda t: torch.tensor(mi_right(t)), "Python float"),
    ("ex05.mutual_information", "entropy of a", mi_entropy_a, "entropy"),
    (
        "ex05.mig_from_mi",
        "not normalised",
        lambda m, h: mig_right(m, torch.ones_like(h)),
        "normalise each gap",
    ),
    (
        "ex05.mig_from_mi",
        "no gap",
        lambda m, h: ((m.max(0).values / h), float((m.max(0).values / h).mean())),
        "subtract the second-largest",
    ),
    (
        "ex05.mig_from_mi",
        "max minus min",
        lambda m, h: (lambda g: (g, float(g.mean())))((m.max(0).values - m.min(0).values) / h),
        "not the smallest",
    ),
    (
        "ex05.mig_from_mi",
        "per code",
        lambda m, h: (lambda t: (t[0] - t[1], float((t[0] - t[1]).mean())))(
            torch.topk(m, 2, dim=1).values.T
        ),
        "gap",
    ),
    (
        "ex05.mig_from_mi",
        "score is the max",
        lambda m, h: (lambda g: (g, float(g.max())))(mig_right(m, h)[0]),
        "mean",
    ),
    (
        "ex05.mig_from_mi",
        "score a tensor",
        lambda m, h: (lambda g: (g, g.mean()))(mig_right(m, h)[0]),
        "Python float",
    ),
]


@pytest.mark.parametrize(
    "task, why, fn, hint", WRONG, ids=[f"{t.split('.')[1]}-{w}" for t, w, _, _ in WRONG]
)
def test_wrong_answers_lose_their_points(task, why, fn, hint):
    for seed in (0, 7):
        res = run_check(task, fn, seed=seed, max_points=2)
        assert res.status == "failed" and res.points == 0, f"{why} passed"
        assert hint in res.message, res.message
