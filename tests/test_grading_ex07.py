"""Checks of exercise set ex07 (hierarchical VAE): right answers written several ways pass,
plausible wrong answers lose the task's points with their hint, stubs are not attempted."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_course.grading import NOT_ATTEMPTED, run_check
from vae_course.models import precision_weighted_merge


def merge_explicit(mu_a, logvar_a, mu_b, logvar_b):
    va, vb = logvar_a.exp(), logvar_b.exp()
    var = 1 / (1 / va + 1 / vb)
    return var * (mu_a / va + mu_b / vb), var.log()


def kl_dist(mu_q, logvar_q, mu_p, logvar_p):
    q = Normal(mu_q, (0.5 * logvar_q).exp())
    return kl_divergence(q, Normal(mu_p, (0.5 * logvar_p).exp())).sum(1)


def kl_formula(mu_q, logvar_q, mu_p, logvar_p):
    return 0.5 * (
        logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1
    ).sum(-1)


def sample_right(model, eps2, eps1):
    mu, logvar = model.prior_z1(eps2)
    return torch.sigmoid(model.decode(mu + torch.exp(0.5 * logvar) * eps1))


def sample_std(model, eps2, eps1):
    mu, logvar = model.prior_z1(eps2)
    return torch.sigmoid(model.decode(mu + logvar.mul(0.5).exp() * eps1))


RIGHT = [
    ("ex07.merge_gaussians", precision_weighted_merge),
    ("ex07.merge_gaussians", merge_explicit),
    ("ex07.level_kl", kl_dist),
    ("ex07.level_kl", kl_formula),
    ("ex07.ancestral_sample", sample_right),
    ("ex07.ancestral_sample", sample_std),
]


@pytest.mark.parametrize("task, fn", RIGHT, ids=[f"{t}-{f.__name__}" for t, f in RIGHT])
@pytest.mark.parametrize("seed", [0, 31337])
def test_right_answers_pass(task, fn, seed):
    res = run_check(task, fn, seed=seed, max_points=2)
    assert res.passed, res.message


@pytest.mark.parametrize("task", sorted({t for t, _ in RIGHT}))
def test_right_answers_pass_for_any_seed(task):
    fn = dict(RIGHT)[task]
    assert [s for s in range(60) if not run_check(task, fn, seed=s).passed] == []


@pytest.mark.parametrize("task", sorted({t for t, _ in RIGHT}))
def test_stub_is_not_attempted(task):
    def stub(*a, **k):
        raise NotImplementedError

    assert run_check(task, stub, seed=0).status == NOT_ATTEMPTED


def _merge(f):
    def merge(mu_a, logvar_a, mu_b, logvar_b):
        return f(mu_a, logvar_a, mu_b, logvar_b, logvar_a.exp(), logvar_b.exp())

    return merge


def _sample(f):
    def sample(model, eps2, eps1):
        mu, logvar = model.prior_z1(eps2)
        return f(model, eps2, eps1, mu, logvar)

    return sample


WRONG = [
    (
        "ex07.merge_gaussians",
        "variance not log",
        _merge(
            lambda ma, la, mb, lb, va, vb: (
                (ma / va + mb / vb) / (1 / va + 1 / vb),
                1 / (1 / va + 1 / vb),
            )
        ),
        "you returned the variance",
    ),
    (
        "ex07.merge_gaussians",
        "variances add",
        _merge(
            lambda ma, la, mb, lb, va, vb: (
                (ma / va + mb / vb) / (1 / va + 1 / vb),
                (va + vb).log(),
            )
        ),
        "precisions (1/σ²) do",
    ),
    (
        "ex07.merge_gaussians",
        "average logvar",
        _merge(
            lambda ma, la, mb, lb, va, vb: ((ma / va + mb / vb) / (1 / va + 1 / vb), (la + lb) / 2)
        ),
        "not the average of the two",
    ),
    (
        "ex07.merge_gaussians",
        "plain mean",
        _merge(lambda ma, la, mb, lb, va, vb: ((ma + mb) / 2, -(1 / va + 1 / vb).log())),
        "weight each mean by its precision",
    ),
    (
        "ex07.merge_gaussians",
        "swapped weights",
        _merge(
            lambda ma, la, mb, lb, va, vb: (
                (ma * va + mb * vb) / (va + vb),
                -(1 / va + 1 / vb).log(),
            )
        ),
        "the weights are swapped",
    ),
    (
        "ex07.merge_gaussians",
        "unnormalised",
        _merge(lambda ma, la, mb, lb, va, vb: (ma / va + mb / vb, -(1 / va + 1 / vb).log())),
        "normalise the weights",
    ),
    (
        "ex07.merge_gaussians",
        "only the mean",
        _merge(lambda ma, la, mb, lb, va, vb: (ma / va + mb / vb) / (1 / va + 1 / vb)),
        "return both",
    ),
    ("ex07.level_kl", "reversed", lambda mq, lq, mp, lp: kl_dist(mp, lp, mq, lq), "KL(p ‖ q)"),
    (
        "ex07.level_kl",
        "to N(0, I)",
        lambda mq, lq, mp, lp: kl_dist(mq, lq, torch.zeros_like(mp), torch.zeros_like(lp)),
        "the KL to N(0, I)",
    ),
    (
        "ex07.level_kl",
        "per dimension",
        lambda mq, lq, mp, lp: kl_formula(mq, lq, mp, lp)[..., None].expand_as(mq),
        "sum over the latent dimensions",
    ),
    (
        "ex07.level_kl",
        "batch mean",
        lambda mq, lq, mp, lp: kl_formula(mq, lq, mp, lp).mean(),
        "keep one KL per example",
    ),
    (
        "ex07.level_kl",
        "twice the log ratio",
        lambda mq, lq, mp, lp: (
            0.5 * (2 * lp - 2 * lq + (lq.exp() + (mq - mp) ** 2) / lp.exp() - 1).sum(1)
        ),
        "not twice",
    ),
    (
        "ex07.level_kl",
        "float64 out",
        lambda mq, lq, mp, lp: kl_formula(mq.double(), lq.double(), mp.double(), lp.double()),
        "expected dtype float32",
    ),
    (
        "ex07.ancestral_sample",
        "logits",
        _sample(lambda m, e2, e1, mu, lv: m.decode(mu + (0.5 * lv).exp() * e1)),
        "apply torch.sigmoid",
    ),
    (
        "ex07.ancestral_sample",
        "ignores z2",
        _sample(lambda m, e2, e1, mu, lv: torch.sigmoid(m.decode(e1))),
        "z₁ ignores z₂",
    ),
    (
        "ex07.ancestral_sample",
        "no noise",
        _sample(lambda m, e2, e1, mu, lv: torch.sigmoid(m.decode(mu))),
        "add the noise",
    ),
    (
        "ex07.ancestral_sample",
        "variance as std",
        _sample(lambda m, e2, e1, mu, lv: torch.sigmoid(m.decode(mu + lv.exp() * e1))),
        "not exp(log σ²)",
    ),
    (
        "ex07.ancestral_sample",
        "logvar as std",
        _sample(lambda m, e2, e1, mu, lv: torch.sigmoid(m.decode(mu + lv * e1))),
        "exp(0.5 · logvar)",
    ),
    (
        "ex07.ancestral_sample",
        "new tensor on the CPU",
        _sample(
            lambda m, e2, e1, mu, lv: torch.sigmoid(m.decode(mu + (0.5 * lv).exp() * e1)).cpu()
        ),
        "keep the result on the input's device",
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


@pytest.mark.parametrize(
    "value, ok",
    [
        ("only a few of them, or none", True),
        ("most of its 8 dimensions carry information", False),
        ("about half of them", False),
        ("a few", False),
    ],
)
def test_prediction(value, ok):
    assert run_check("ex07.predict_top_level", value, seed=0).passed is ok


def test_a_merge_without_gradients_loses_its_points():
    def merge_no_grad(mu_a, logvar_a, mu_b, logvar_b):
        with torch.no_grad():
            return precision_weighted_merge(mu_a, logvar_a, mu_b, logvar_b)

    res = run_check("ex07.merge_gaussians", merge_no_grad, seed=0, max_points=2)
    assert res.status == "failed" and "no gradient flows back" in res.message, res.message
