"""Checks of exercise sets ex01–ex03: each passes the reference and fails plausible wrong
answers with the hint a learner needs (log-std as log-variance, a missing −log K, a
sign error ...). Wrong answers here are written the way a learner would write them."""

import math
import pathlib

import nbformat
import pytest
import torch

from vae_course.distributions import log_normal
from vae_course.estimators import mean_and_se, naive_mc_log_marginal, score_function_gradient
from vae_course.grading import NOT_ATTEMPTED, all_checks, run_check
from vae_course.grading.build import graded_tasks
from vae_course.grading.ex02 import ref_kl_diag, ref_log_weights
from vae_course.grading.ex03 import TEST_FUNCTIONS, _ref_score, ref_reparameterized_sample
from vae_course.losses import gaussian_kl, gaussian_log_likelihood, log_mean_exp
from vae_course.toy import LinearGaussian

ROOT = pathlib.Path(__file__).resolve().parents[1]
LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- ex01
def sample_ok(W, b, x_var, n, generator=None, noise_scale=None, use_gen=True, dtype=True):
    gen = generator if use_gen else None
    kw = {"dtype": W.dtype} if dtype else {}
    z = torch.randn(n, W.shape[1], generator=gen, **kw)
    eps = torch.randn(n, W.shape[0], generator=gen, **kw)
    scale = math.sqrt(x_var) if noise_scale is None else noise_scale(x_var)
    return z @ W.T + b + scale * eps, z


def mc_with(log_fn, reduce=None):
    def naive_mc_log_px(model, x, k, generator=None):
        z = model.sample_prior(k * x.shape[0], generator).reshape(k, x.shape[0], -1)
        lw = log_fn(model, x, z)
        return reduce(lw) if reduce else log_mean_exp(lw, dim=0)

    return naive_mc_log_px


def ppca(cov_fn, centre=True, const=True, half_det=0.5):
    def ppca_log_marginal(x, W, b, x_var):
        C = cov_fn(W, x_var)
        d = x - b if centre else x
        maha = (d @ torch.linalg.inv(C) * d).sum(1)
        c = 0.5 * W.shape[0] * LOG_2PI if const else 0.0
        return -0.5 * maha - half_det * torch.logdet(C) - c

    return ppca_log_marginal


def _eye(W):
    return torch.eye(W.shape[0], dtype=W.dtype)


def _lme_ok(a, dim=0):
    return torch.logsumexp(a, dim) - math.log(a.shape[dim])


# ----------------------------------------------------------------------------- ex02
def gll(transform):
    def gaussian_log_likelihood_(x, mean, logvar):
        lv = torch.as_tensor(logvar, dtype=x.dtype)
        return transform(x, mean, lv)

    return gaussian_log_likelihood_


def _per_ex(t, x):
    return t.expand_as(x).reshape(x.shape[0], -1).sum(1)


def kl_form(mq, lq, mp, lp):
    return 0.5 * (lp - lq + (lq.exp() + (mq - mp) ** 2) / lp.exp() - 1).sum(1)


def lw_with(z_fn=None, log_q=True, log_prior=True):
    def log_weights(model, x, mu, logvar, eps):
        z = z_fn(mu, logvar, eps) if z_fn else mu + torch.exp(0.5 * logvar) * eps
        out = model.log_likelihood(x, z)
        if log_prior:
            out = out + model.log_prior(z)
        if log_q:
            out = out - log_normal(z, mu, logvar).sum(-1)
        return out

    return log_weights


# ----------------------------------------------------------------------------- ex03
def sf_closed(f, mu, logvar, eps, baseline=0.0, mu_div=2, lv_half=0.5, lv_one=1.0, sign=1.0):
    sigma = torch.exp(0.5 * logvar)
    z = mu + sigma * eps
    w = (f(z) - baseline).unsqueeze(-1)
    return (
        sign * w * (z - mu) / sigma**mu_div,
        sign * w * lv_half * ((z - mu) ** 2 / sigma**2 - lv_one),
    )


def sf_autograd_through_f(f, mu, logvar, eps, baseline=0.0):
    n = eps.shape[0]
    mu_n = mu.detach().expand(n, -1).clone().requires_grad_(True)
    lv_n = logvar.detach().expand(n, -1).clone().requires_grad_(True)
    z = mu_n + torch.exp(0.5 * lv_n) * eps
    log_q = log_normal(z, mu_n, lv_n).sum(-1)
    return torch.autograd.grad(((f(z) - baseline) * log_q).sum(), (mu_n, lv_n))


def rp_with(z_fn, reduce_mean=False):
    def reparameterization_gradient(f, mu, logvar, eps):
        n = eps.shape[0]
        mu_n = mu.detach().expand(n, -1).clone().requires_grad_(True)
        lv_n = logvar.detach().expand(n, -1).clone().requires_grad_(True)
        z = z_fn(mu_n, lv_n, eps)
        gm, gl = torch.autograd.grad(f(z).sum(), (mu_n, lv_n))
        if reduce_mean:
            return gm.mean(0), gl.mean(0)
        return gm, gl

    return reparameterization_gradient


def rp_ok(f, mu, logvar, eps):
    return rp_with(reparameterized_sample)(f, mu, logvar, eps)  # noqa: F821  (bound by `uses`)


def rp_dz_only(f, mu, logvar, eps):
    z = (mu + torch.exp(0.5 * logvar) * eps).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f(z).sum(), z)
    return g, g


def rp_not_per_sample(f, mu, logvar, eps):
    mu = mu.detach().clone().requires_grad_(True)
    logvar = logvar.detach().clone().requires_grad_(True)
    return torch.autograd.grad(f(mu + torch.exp(0.5 * logvar) * eps).sum(), (mu, logvar))


REFERENCES = {
    "ex01.sample_linear_gaussian": sample_ok,
    "ex01.log_mean_exp": log_mean_exp,
    "ex01.naive_mc_log_px": mc_with(lambda m, x, z: m.log_likelihood(x, z)),
    "ex01.ppca_log_marginal": ppca(lambda W, s: W @ W.T + s * _eye(W)),
    "ex02.gaussian_log_likelihood": gaussian_log_likelihood,
    "ex02.gaussian_kl_diag": kl_form,
    "ex02.log_weights": lw_with(),
    "ex02.elbo_and_iwae": lambda lw: (lw.mean(0), log_mean_exp(lw, 0)),
    "ex03.reparameterized_sample": lambda mu, lv, eps: mu + lv.exp().sqrt() * eps,
    "ex03.score_function_gradient": sf_closed,
    "ex03.reparameterization_gradient": rp_ok,
    "ex03.mean_and_se": mean_and_se,
}

# Other correct ways to write it must pass too.
ALTERNATIVES = [
    (
        "ex01.ppca_log_marginal",
        lambda x, W, b, s: torch.distributions.MultivariateNormal(
            b, W @ W.T + s * _eye(W)
        ).log_prob(x),
    ),
    (
        "ex01.naive_mc_log_px",
        lambda m, x, k, generator=None: naive_mc_log_marginal(m, x, k, generator),
    ),
    (
        "ex02.gaussian_log_likelihood",
        gll(
            lambda x, m, lv: (
                torch.distributions.Normal(m, (0.5 * lv).exp())
                .log_prob(x)
                .reshape(x.shape[0], -1)
                .sum(1)
            )
        ),
    ),
    (
        "ex02.log_weights",
        lambda model, x, mu, lv, eps: (
            model.log_joint(x, mu + (0.5 * lv).exp() * eps)
            + (0.5 * (LOG_2PI + lv + eps**2)).sum(-1)
        ),
    ),
    (
        "ex03.score_function_gradient",
        lambda f, mu, lv, eps, baseline=0.0: _ref_score(f, mu, lv, eps, baseline),
    ),
]

# (check id, description, wrong function, substring the message must contain)
WRONG = [
    # ex01.sample_linear_gaussian
    (
        "ex01.sample_linear_gaussian",
        "x_var used as the standard deviation",
        lambda W, b, s, n, generator=None: sample_ok(
            W, b, s, n, generator, noise_scale=lambda v: v
        ),
        "not the standard deviation",
    ),
    (
        "ex01.sample_linear_gaussian",
        "no observation noise",
        lambda W, b, s, n, generator=None: sample_ok(
            W, b, s, n, generator, noise_scale=lambda v: 0
        ),
        "no observation noise",
    ),
    (
        "ex01.sample_linear_gaussian",
        "generator ignored",
        lambda W, b, s, n, generator=None: sample_ok(W, b, s, n, generator, use_gen=False),
        "generator=generator",
    ),
    (
        "ex01.sample_linear_gaussian",
        "float32 noise",
        lambda W, b, s, n, generator=None: sample_ok(W, b, s, n, generator, dtype=False),
        "dtype=W.dtype",
    ),
    (
        "ex01.sample_linear_gaussian",
        "W z written as z @ W",
        lambda W, b, s, n, generator=None: (
            torch.randn(n, W.shape[1], generator=generator, dtype=W.dtype) @ W,
            None,
        ),
        "z @ W.T",
    ),
    (
        "ex01.sample_linear_gaussian",
        "offset b forgotten",
        lambda W, b, s, n, generator=None: sample_ok(W, 0 * b, s, n, generator),
        "offset b",
    ),
    (
        "ex01.sample_linear_gaussian",
        "returns (z, x)",
        lambda W, b, s, n, generator=None: sample_ok(W, b, s, n, generator)[::-1],
        "swapped",
    ),
    # ex01.log_mean_exp
    (
        "ex01.log_mean_exp",
        "missing −log K",
        lambda a, dim=0: torch.logsumexp(a, dim),
        "missing −log K",
    ),
    ("ex01.log_mean_exp", "naive exp/log", lambda a, dim=0: a.exp().mean(dim).log(), "overflows"),
    ("ex01.log_mean_exp", "mean of the logs", lambda a, dim=0: a.mean(dim), "Jensen"),
    (
        "ex01.log_mean_exp",
        "K from dim 0",
        lambda a, dim=0: torch.logsumexp(a, dim) - math.log(a.shape[0]),
        "another dimension",
    ),
    (
        "ex01.log_mean_exp",
        "keepdim",
        lambda a, dim=0: torch.logsumexp(a, dim, keepdim=True) - math.log(a.shape[dim]),
        "keepdim=False",
    ),
    # ex01.naive_mc_log_px
    (
        "ex01.naive_mc_log_px",
        "logsumexp without −log K",
        mc_with(lambda m, x, z: m.log_likelihood(x, z), lambda lw: torch.logsumexp(lw, 0)),
        "missing −log K: your estimate is log K = 7.601 nats too high",
    ),
    (
        "ex01.naive_mc_log_px",
        "mean of log-likelihoods",
        mc_with(lambda m, x, z: m.log_likelihood(x, z), lambda lw: lw.mean(0)),
        "Jensen",
    ),
    (
        "ex01.naive_mc_log_px",
        "log joint instead of log likelihood",
        mc_with(lambda m, x, z: m.log_joint(x, z)),
        "prior must not be multiplied in again",
    ),
    (
        "ex01.naive_mc_log_px",
        "exp underflows",
        mc_with(lambda m, x, z: m.log_likelihood(x, z), lambda lw: lw.exp().mean(0).log()),
        "underflows",
    ),
    (
        "ex01.naive_mc_log_px",
        "not reduced over K",
        mc_with(lambda m, x, z: m.log_likelihood(x, z), lambda lw: lw),
        "average over the K samples",
    ),
    (
        "ex01.naive_mc_log_px",
        "one set of K codes shared by the batch",
        lambda m, x, k, generator=None: log_mean_exp(
            m.log_likelihood(x, m.sample_prior(k, generator).unsqueeze(1)), 0
        ),
        "not the same K shared",
    ),
    # ex01.ppca_log_marginal
    (
        "ex01.ppca_log_marginal",
        "x_var as standard deviation",
        ppca(lambda W, s: W @ W.T + s**2 * _eye(W)),
        "not the standard deviation",
    ),
    ("ex01.ppca_log_marginal", "no noise term", ppca(lambda W, s: W @ W.T), "singular"),
    (
        "ex01.ppca_log_marginal",
        "Wᵀ W",
        ppca(lambda W, s: W.T @ W + s * torch.eye(W.shape[1], dtype=W.dtype)),
        "(D, D) matrix",
    ),
    (
        "ex01.ppca_log_marginal",
        "b forgotten",
        ppca(lambda W, s: W @ W.T + s * _eye(W), centre=False),
        "offset b",
    ),
    (
        "ex01.ppca_log_marginal",
        "no 2π constant",
        ppca(lambda W, s: W @ W.T + s * _eye(W), const=False),
        "log 2π is missing",
    ),
    (
        "ex01.ppca_log_marginal",
        "log det without ½",
        ppca(lambda W, s: W @ W.T + s * _eye(W), half_det=1.0),
        "factor ½",
    ),
    # ex02.gaussian_log_likelihood
    (
        "ex02.gaussian_log_likelihood",
        "logvar as log-std",
        gll(lambda x, m, lv: _per_ex(-0.5 * LOG_2PI - lv - (x - m) ** 2 / (2 * (2 * lv).exp()), x)),
        "log-std",
    ),
    (
        "ex02.gaussian_log_likelihood",
        "no 2π constant",
        gll(lambda x, m, lv: _per_ex(-0.5 * (lv + (x - m) ** 2 / lv.exp()), x)),
        "log 2π (per value) is missing",
    ),
    (
        "ex02.gaussian_log_likelihood",
        "logvar as a float breaks torch.exp",
        lambda x, m, lv: (
            (-0.5 * (LOG_2PI + lv + (x - m) ** 2 / torch.exp(lv))).reshape(x.shape[0], -1).sum(1)
        ),
        "torch.as_tensor",
    ),
    (
        "ex02.gaussian_log_likelihood",
        "mean over values",
        gll(
            lambda x, m, lv: (
                _per_ex(-0.5 * (LOG_2PI + lv + (x - m) ** 2 / lv.exp()), x) / x[0].numel()
            )
        ),
        "averaged",
    ),
    (
        "ex02.gaussian_log_likelihood",
        "negative log-likelihood",
        gll(lambda x, m, lv: _per_ex(0.5 * (LOG_2PI + lv + (x - m) ** 2 / lv.exp()), x)),
        "sign",
    ),
    # ex02.gaussian_kl_diag
    (
        "ex02.gaussian_kl_diag",
        "KL(p ‖ q)",
        lambda mq, lq, mp, lp: kl_form(mp, lp, mq, lq),
        "swapped",
    ),
    (
        "ex02.gaussian_kl_diag",
        "logvar as log-std",
        lambda mq, lq, mp, lp: kl_form(mq, 2 * lq, mp, 2 * lp),
        "log-std",
    ),
    ("ex02.gaussian_kl_diag", "no ½", lambda mq, lq, mp, lp: 2 * kl_form(mq, lq, mp, lp), "½"),
    (
        "ex02.gaussian_kl_diag",
        "wrong sign",
        lambda mq, lq, mp, lp: -kl_form(mq, lq, mp, lp),
        "sign",
    ),
    (
        "ex02.gaussian_kl_diag",
        "mean difference over σ_q²",
        lambda mq, lq, mp, lp: (
            0.5 * (lp - lq + lq.exp() / lp.exp() + (mq - mp) ** 2 / lq.exp() - 1).sum(1)
        ),
        "divided by σ_q²",
    ),
    (
        "ex02.gaussian_kl_diag",
        "KL to N(0, I)",
        lambda mq, lq, mp, lp: gaussian_kl(mq, lq),
        "p is ignored",
    ),
    # ex02.log_weights
    (
        "ex02.log_weights",
        "z with logvar as log-std",
        lw_with(z_fn=lambda mu, lv, eps: mu + lv.exp() * eps),
        "log-std",
    ),
    ("ex02.log_weights", "log p(z) missing", lw_with(log_prior=False), "log p(z) is missing"),
    ("ex02.log_weights", "−log q missing", lw_with(log_q=False), "− log q(z|x) is missing"),
    (
        "ex02.log_weights",
        "own noise",
        lw_with(z_fn=lambda mu, lv, eps: mu + (0.5 * lv).exp() * torch.randn_like(eps)),
        "does not depend on eps",
    ),
    (
        "ex02.log_weights",
        "averaged already",
        lambda *a: lw_with()(*a).mean(0),
        "one log-weight per sample",
    ),
    (
        "ex02.log_weights",
        "detached",
        lambda model, x, mu, lv, eps: lw_with()(model, x, mu.detach(), lv.detach(), eps),
        "autograd graph",
    ),
    # ex02.elbo_and_iwae
    ("ex02.elbo_and_iwae", "swapped", lambda lw: (log_mean_exp(lw, 0), lw.mean(0)), "swapped"),
    (
        "ex02.elbo_and_iwae",
        "IWAE without −log K",
        lambda lw: (lw.mean(0), torch.logsumexp(lw, 0)),
        "missing −log K",
    ),
    (
        "ex02.elbo_and_iwae",
        "IWAE by exp/log",
        lambda lw: (lw.mean(0), lw.exp().mean(0).log()),
        "underflows",
    ),
    ("ex02.elbo_and_iwae", "only the ELBO", lambda lw: lw.mean(0), "expected a pair"),
    (
        "ex02.elbo_and_iwae",
        "averaged over the batch",
        lambda lw: (lw.mean(), log_mean_exp(lw.reshape(-1), 0)),
        "dim=0",
    ),
    # ex03.reparameterized_sample
    (
        "ex03.reparameterized_sample",
        "logvar as log-std",
        lambda mu, lv, eps: mu + lv.exp() * eps,
        "log-std",
    ),
    (
        "ex03.reparameterized_sample",
        "logvar as σ",
        lambda mu, lv, eps: mu + lv * eps,
        "logvar is not σ",
    ),
    (
        "ex03.reparameterized_sample",
        "own noise",
        lambda mu, lv, eps: mu + (0.5 * lv).exp() * torch.randn_like(eps),
        "does not depend on eps",
    ),
    (
        "ex03.reparameterized_sample",
        "detached",
        lambda mu, lv, eps: (mu + (0.5 * lv).exp() * eps).detach(),
        "autograd graph",
    ),
    (
        "ex03.reparameterized_sample",
        "σ through a Python list",
        lambda mu, lv, eps: mu + torch.tensor((0.5 * lv).exp().tolist(), dtype=mu.dtype) * eps,
        "∂z/∂logvar",
    ),
    # ex03.score_function_gradient
    (
        "ex03.score_function_gradient",
        "f differentiated too",
        sf_autograd_through_f,
        "black box",
    ),
    (
        "ex03.score_function_gradient",
        "baseline ignored",
        lambda f, mu, lv, eps, baseline=0.0: sf_closed(f, mu, lv, eps),
        "baseline is ignored",
    ),
    (
        "ex03.score_function_gradient",
        "divided by σ",
        lambda f, mu, lv, eps, baseline=0.0: sf_closed(f, mu, lv, eps, baseline, mu_div=1),
        "divided by σ², not σ",
    ),
    (
        "ex03.score_function_gradient",
        "gradient for log σ",
        lambda f, mu, lv, eps, baseline=0.0: sf_closed(f, mu, lv, eps, baseline, lv_half=1.0),
        "log σ",
    ),
    (
        "ex03.score_function_gradient",
        "−1 missing",
        lambda f, mu, lv, eps, baseline=0.0: sf_closed(f, mu, lv, eps, baseline, lv_one=0.0),
        "the −1 is missing",
    ),
    (
        "ex03.score_function_gradient",
        "wrong sign",
        lambda f, mu, lv, eps, baseline=0.0: sf_closed(f, mu, lv, eps, baseline, sign=-1.0),
        "wrong sign",
    ),
    (
        "ex03.score_function_gradient",
        "mean over samples",
        lambda f, mu, lv, eps, baseline=0.0: tuple(
            g.mean(0) for g in sf_closed(f, mu, lv, eps, baseline)
        ),
        "one gradient per sample",
    ),
    # ex03.reparameterization_gradient
    (
        "ex03.reparameterization_gradient",
        "logvar as log-std",
        rp_with(lambda mu, lv, eps: mu + lv.exp() * eps),
        "log-std",
    ),
    (
        "ex03.reparameterization_gradient",
        "only ∂f/∂z",
        rp_dz_only,
        "chain rule",
    ),
    (
        "ex03.reparameterization_gradient",
        "one gradient for all samples",
        rp_not_per_sample,
        "one gradient per sample",
    ),
    (
        "ex03.reparameterization_gradient",
        "no requires_grad",
        lambda f, mu, lv, eps: torch.autograd.grad(f(mu + (0.5 * lv).exp() * eps).sum(), (mu, lv)),
        "requires_grad",
    ),
    # ex03.mean_and_se
    ("ex03.mean_and_se", "std, not SE", lambda s: (s.mean(0), s.std(0)), "divides it by √n"),
    (
        "ex03.mean_and_se",
        "biased std",
        lambda s: (s.mean(0), s.std(0, correction=0) / math.sqrt(s.shape[0])),
        "n − 1",
    ),
    (
        "ex03.mean_and_se",
        "variance of the mean",
        lambda s: (s.mean(0), s.var(0) / s.shape[0]),
        "square root",
    ),
    ("ex03.mean_and_se", "divided by n", lambda s: (s.mean(0), s.std(0) / s.shape[0]), "not n"),
    (
        "ex03.mean_and_se",
        "over every element",
        lambda s: (s.mean(), s.std() / math.sqrt(s.numel())),
        "dim=0",
    ),
]

SETS = ("ex01.", "ex02.", "ex03.")


def test_every_check_has_a_reference_and_two_wrong_answers():
    derivations = {  # tests/test_grading_derivations.py
        "ex01.linear_gaussian_posterior",
        "ex02.linear_gaussian_elbo",
        "ex03.exp_expectation_gradient",
    }
    functions = {
        k
        for k, c in all_checks().items()
        if k.startswith(SETS) and not c.value_task and k not in derivations
    }
    assert set(REFERENCES) == functions  # value tasks: tests/test_grading_predictions.py
    for task in REFERENCES:
        assert sum(w[0] == task for w in WRONG) >= 2, task


@pytest.mark.parametrize("task", sorted(REFERENCES))
@pytest.mark.parametrize("seed", [0, 12345, 987654321])
def test_reference_passes(task, seed):
    res = run_check(task, REFERENCES[task], seed=seed, max_points=2)
    assert res.passed and res.points == 2, res.message


@pytest.mark.parametrize("i", range(len(ALTERNATIVES)), ids=lambda i: ALTERNATIVES[i][0])
def test_other_correct_solutions_pass(i):
    task, fn = ALTERNATIVES[i]
    res = run_check(task, fn, seed=5)
    assert res.passed, res.message


@pytest.mark.parametrize(
    "task, why, fn, hint", WRONG, ids=[f"{w[0].split('.')[1]}-{w[1]}" for w in WRONG]
)
def test_plausible_wrong_answer_fails_with_hint(task, why, fn, hint):
    res = run_check(task, fn, seed=3, max_points=2)
    assert not res.passed and res.status == "failed" and res.points == 0
    assert hint in res.message, res.message


@pytest.mark.parametrize("task", sorted(REFERENCES))
def test_stub_is_not_attempted(task):
    def stub(*args, **kwargs):
        raise NotImplementedError("Complete it")

    res = run_check(task, stub, seed=0)
    assert res.status == NOT_ATTEMPTED


def test_messages_never_contain_reference_code():
    sources = [
        "torch.exp(0.5 * logvar)",
        "logsumexp(a, dim=dim)",
        "torch.logdet(",
        "autograd.grad(",
    ]
    for task, _, fn, _ in WRONG:
        msg = run_check(task, fn, seed=1).message
        assert not any(s in msg for s in sources), msg


def test_statistical_checks_do_not_fail_right_answers_by_chance():
    """The Monte Carlo checks use ≥ 5-SE tolerances: 15 more seeds, no false alarm."""
    for seed in range(100, 115):
        for task in ("ex01.sample_linear_gaussian", "ex01.naive_mc_log_px"):
            res = run_check(task, REFERENCES[task], seed=seed)
            assert res.passed, (seed, res.message)


def test_references_agree_with_the_course_package():
    g = torch.Generator().manual_seed(0)
    mu, lv = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    zeros = torch.zeros_like(mu)
    assert torch.allclose(ref_kl_diag(mu, lv, zeros, zeros).float(), gaussian_kl(mu, lv), atol=1e-5)
    # the score-function reference equals the package's estimator fed the same noise
    mu1, lv1 = (
        torch.tensor([0.3, -1.0], dtype=torch.float64),
        torch.tensor([0.2, -0.5], dtype=torch.float64),
    )
    eps = torch.randn(7, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    f = TEST_FUNCTIONS["cos(2z) + z₀"]
    want = score_function_gradient(
        f, mu1, lv1, 7, generator=torch.Generator().manual_seed(4), baseline=0.5
    )
    got = _ref_score(f, mu1, lv1, eps, 0.5)
    assert all(torch.allclose(a, b) for a, b in zip(got, want, strict=True))
    # log-weights: their mean over many samples is the model's exact ELBO
    model = LinearGaussian.random(4, 2, seed=1)
    x, _ = model.sample(2, generator=g)
    m = torch.zeros(2, 2, dtype=torch.float64)
    eps = torch.randn(200_000, 2, 2, generator=g, dtype=torch.float64)
    lw = ref_log_weights(model, x, m, m, eps)
    mean, se = mean_and_se(lw)
    assert ((mean - model.elbo(x, m, m)).abs() < 5 * se).all()
    z = ref_reparameterized_sample(m, m, eps[:3])
    assert z.shape == (3, 2, 2)


@pytest.mark.parametrize(
    "name, functions",
    [
        (
            "ex01_latent_variable_models",
            [
                "sample_linear_gaussian",
                "log_mean_exp",
                "naive_mc_log_px",
                "ppca_log_marginal",
                "linear_gaussian_posterior",
            ],
        ),
        (
            "ex02_elbo",
            [
                "gaussian_log_likelihood",
                "gaussian_kl_diag",
                "log_weights",
                "elbo_and_iwae",
                "linear_gaussian_elbo",
            ],
        ),
        (
            "ex03_reparameterization",
            [
                "reparameterized_sample",
                "score_function_gradient",
                "reparameterization_gradient",
                "mean_and_se",
                "exp_expectation_gradient",
            ],
        ),
    ],
)
def test_exercise_sets_have_their_tasks_and_points(name, functions):
    nb = nbformat.read(ROOT / "exercises" / f"{name}.ipynb", as_version=4)
    tasks = graded_tasks(nb)
    assert [t.function for t in tasks[:-1]] == functions
    assert tasks[-1].function.startswith("prediction_") and tasks[-1].points == 1
    assert sum(t.points for t in tasks) == 11
    assert all(t.check_id.startswith(name[:4] + ".") for t in tasks)
