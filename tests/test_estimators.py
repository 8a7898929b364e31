"""Monte Carlo estimators (vae_course.estimators) against closed forms, with SE-based tolerances."""

import math

import pytest
import torch

from vae_course.estimators import (
    importance_log_marginal,
    importance_log_weights,
    kl_mc_samples,
    mean_and_se,
    naive_mc_log_marginal,
    reparameterization_gradient,
    score_function_gradient,
)
from vae_course.losses import gaussian_kl
from vae_course.toy import GaussianMixture, LinearGaussian


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_mean_and_se():
    mean, se = mean_and_se(torch.tensor([1.0, 3.0]))
    assert float(mean) == 2.0 and float(se) == pytest.approx(math.sqrt(2) / math.sqrt(2))
    with pytest.raises(ValueError, match="at least 2"):
        mean_and_se(torch.tensor([1.0]))


# ----------------------------------------------------------------------------- log p(x)
def test_naive_mc_is_unbiased_for_p_and_consistent_for_log_p():
    model = LinearGaussian.random(data_dim=3, latent_dim=2, x_var=0.5, seed=0)
    x, _ = model.sample(4, _gen())
    exact = model.log_marginal(x)
    # k = 1, many repeats: exp(estimate) = p(x|z) is an unbiased estimate of p(x)
    ratios = torch.exp(
        naive_mc_log_marginal(model, x.repeat(50_000, 1), 1, _gen(1)).reshape(50_000, 4) - exact
    )
    mean, se = mean_and_se(ratios)
    assert ((mean - 1).abs() < 4 * se).all()
    # large k: one estimate is close to the truth
    est = torch.stack([naive_mc_log_marginal(model, x, 20_000, _gen(s)) for s in range(20)])
    mean, se = mean_and_se(est)
    assert ((mean - exact).abs() < 4 * se + 1e-3).all()


def test_naive_mc_on_the_mixture():
    gmm = GaussianMixture(torch.zeros(2), torch.tensor([[-2.0], [2.0]]), torch.zeros(2, 1))
    x = torch.tensor([[0.0], [2.5]])
    est = torch.stack([naive_mc_log_marginal(gmm, x, 5000, _gen(s)) for s in range(20)])
    mean, se = mean_and_se(est)
    assert ((mean - gmm.log_marginal(x)).abs() < 4 * se + 1e-3).all()


def _naive_mc_spread(latent_dim, k=100, repeats=200, seed=0):
    """The experiment of notebook 01: D = d, W = I, σ² = 0.1, x drawn from the model."""
    model = LinearGaussian(torch.eye(latent_dim, dtype=torch.float64), x_var=0.1)
    x, _ = model.sample(1, _gen(seed))
    est = naive_mc_log_marginal(model, x.expand(repeats, -1), k, _gen(seed + 1))
    return est.std().item(), (est.mean() - model.log_marginal(x)).item()


def test_naive_mc_error_explodes_with_latent_dimension():
    sd1, bias1 = _naive_mc_spread(1)
    sd16, bias16 = _naive_mc_spread(16)
    assert sd1 < 0.5 and abs(bias1) < 0.1
    assert sd16 > 10 * sd1
    assert bias16 < -3.0  # log-mean-exp of too few useful samples is biased low (Jensen)


def test_importance_weights_are_constant_for_the_exact_posterior():
    x_all, _ = LinearGaussian.random(6, 2, seed=1).sample(300, _gen())
    model = LinearGaussian.fit_ppca(x_all, 2)  # orthogonal W: the posterior is diagonal
    x = x_all[:5]
    m, cov = model.posterior(x)
    logvar = torch.log(torch.diagonal(cov)).expand_as(m)
    log_w = importance_log_weights(model, x, m, logvar, 50, _gen())
    torch.testing.assert_close(log_w, model.log_marginal(x).expand(50, -1), atol=1e-10, rtol=0)


def test_elbo_le_iwae_k_le_log_marginal_and_increasing():
    model = LinearGaussian.random(data_dim=5, latent_dim=3, x_var=0.3, seed=2)
    x, _ = model.sample(1, _gen())
    m, _ = model.posterior(x)
    mu, logvar = m + 0.5, torch.full_like(m, -1.5)  # a poor q
    exact_elbo, log_px = model.elbo(x, mu, logvar).item(), model.log_marginal(x).item()
    means, ses = [], []
    for i, k in enumerate([1, 10, 100, 1000]):
        est = importance_log_marginal(
            model, x.expand(400, -1), mu.expand(400, -1), logvar.expand(400, -1), k, _gen(i)
        )
        mean, se = mean_and_se(est)
        means.append(mean.item())
        ses.append(se.item())
    assert abs(means[0] - exact_elbo) < 4 * ses[0]
    for a, b, sa, sb in zip(means, means[1:], ses, ses[1:], strict=False):
        assert b > a - 4 * math.hypot(sa, sb)
    assert means[-1] - means[0] > 10 * ses[0]
    assert all(mn < log_px + 4 * se for mn, se in zip(means, ses, strict=True))
    assert log_px - means[-1] < 0.2 * (log_px - exact_elbo)


def test_kl_monte_carlo_agrees_with_closed_form():
    g = _gen(4)
    mu, logvar = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    samples = kl_mc_samples(mu, logvar, 100_000, _gen(5))
    assert samples.shape == (100_000, 6)
    mean, se = mean_and_se(samples)
    assert ((mean - gaussian_kl(mu, logvar)).abs() < 4 * se).all()


def test_kl_monte_carlo_catches_log_std_confusion():
    """Treating logvar as log σ would shift the KL by much more than the MC error."""
    mu, logvar = torch.zeros(1, 3), torch.full((1, 3), -2.0)
    mean, se = mean_and_se(kl_mc_samples(mu, logvar, 100_000, _gen()))
    wrong = gaussian_kl(mu, 2 * logvar)
    assert (mean - wrong).abs().item() > 100 * se.item()


def test_estimators_reject_bad_k_and_shapes():
    model = LinearGaussian.random(3, 2)
    x = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="positive int"):
        naive_mc_log_marginal(model, x, 0)
    with pytest.raises(ValueError, match=r"\(B, d\)"):
        importance_log_weights(model, x, torch.zeros(3, 2), torch.zeros(3, 2), 5)


# ----------------------------------------------------------------------------- gradients
C = 1.0


def quadratic(z):
    return ((z - C) ** 2).sum(-1)


def exact_quadratic_grad(mu, logvar):
    """∇ of E[(z − c)²] = (μ − c)² + σ²: 2(μ − c) for μ, σ² for log σ²."""
    return 2 * (mu - C), torch.exp(logvar)


@pytest.mark.parametrize("estimator", [reparameterization_gradient, score_function_gradient])
@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_gradient_estimators_are_unbiased(estimator, shape):
    g = _gen(1)
    mu = torch.randn(shape, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(shape, generator=g, dtype=torch.float64)
    gm, gl = estimator(quadratic, mu, logvar, 100_000, _gen(2))
    assert gm.shape == gl.shape == (100_000, *shape)
    for samples, truth in zip((gm, gl), exact_quadratic_grad(mu, logvar), strict=True):
        mean, se = mean_and_se(samples)
        assert ((mean - truth).abs() < 4 * se).all()


def test_per_sample_gradients_match_closed_forms():
    mu = torch.tensor([0.3, -0.7], dtype=torch.float64)
    logvar = torch.tensor([0.2, -0.4], dtype=torch.float64)
    std = torch.exp(0.5 * logvar)
    gm, gl = reparameterization_gradient(quadratic, mu, logvar, 5, _gen(3))
    eps = torch.randn(5, 2, generator=_gen(3), dtype=torch.float64)
    z = mu + std * eps
    torch.testing.assert_close(gm, 2 * (z - C))
    torch.testing.assert_close(gl, 2 * (z - C) * 0.5 * std * eps)
    sm, sl = score_function_gradient(quadratic, mu, logvar, 5, _gen(3))
    f = quadratic(z)[:, None]
    torch.testing.assert_close(sm, f * (z - mu) / std**2)
    torch.testing.assert_close(sl, f * 0.5 * ((z - mu) ** 2 / std**2 - 1))


def test_reparameterization_has_lower_variance_and_score_variance_grows_with_dimension():
    def var_mu1(estimator, dim):
        mu = torch.zeros(dim, dtype=torch.float64)
        gm, _ = estimator(quadratic, mu, torch.zeros(dim, dtype=torch.float64), 20_000, _gen())
        return gm[:, 0].var().item()

    assert var_mu1(reparameterization_gradient, 1) == pytest.approx(4.0, rel=0.05)
    assert var_mu1(score_function_gradient, 1) > 5 * var_mu1(reparameterization_gradient, 1)
    assert var_mu1(score_function_gradient, 20) > 10 * var_mu1(score_function_gradient, 1)
    assert var_mu1(reparameterization_gradient, 20) == pytest.approx(4.0, rel=0.05)


@pytest.mark.parametrize("dim", [1, 5, 20])
def test_per_sample_gradient_variances_match_notebook_03s_closed_forms(dim):
    """At μ = 0, σ = 1, c = 1, f(z) = Σ (z_j − 1)²: Var of the per-sample ∂/∂μ₁ is
    30 + 22(d−1) + 4(d−1)² (score function), 18 + 6(d−1) (score function, baseline E f = 2d)
    and 4 (reparameterization). Tolerance: 5 standard errors of a sample variance."""

    def check(estimator, expected, **kw):
        mu = torch.zeros(dim, dtype=torch.float64)
        gm, _ = estimator(quadratic, mu, mu.clone(), 200_000, _gen(7), **kw)
        dev = (gm[:, 0] - gm[:, 0].mean()) ** 2
        se = dev.std().item() / len(dev) ** 0.5
        assert abs(dev.mean().item() - expected) < 5 * se, (estimator.__name__, kw, expected)

    d = dim
    check(score_function_gradient, 30 + 22 * (d - 1) + 4 * (d - 1) ** 2)
    check(score_function_gradient, 18 + 6 * (d - 1), baseline=2.0 * d)
    check(reparameterization_gradient, 4.0)


def test_score_function_baseline_keeps_the_mean_and_cuts_variance():
    mu, logvar = torch.tensor([0.5], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64)
    expected_f = (0.5 - C) ** 2 + 1.0
    plain, _ = score_function_gradient(quadratic, mu, logvar, 100_000, _gen(1))
    based, _ = score_function_gradient(quadratic, mu, logvar, 100_000, _gen(1), baseline=expected_f)
    mean, se = mean_and_se(based)
    assert (mean - 2 * (0.5 - C)).abs().item() < 4 * se.item()
    assert based.var().item() < 0.7 * plain.var().item()


def test_score_function_handles_non_differentiable_f_where_reparameterization_fails():
    """E[1{z > 0}] = Φ(μ/σ), so d/dμ = φ(μ/σ)/σ. A step has zero pathwise derivative."""

    def step(z):
        return (z > 0).double().sum(-1)

    mu, logvar = torch.tensor([0.3], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64)
    truth = math.exp(-0.5 * 0.3**2) / math.sqrt(2 * math.pi)
    gm, _ = score_function_gradient(step, mu, logvar, 100_000, _gen())
    mean, se = mean_and_se(gm)
    assert abs(mean.item() - truth) < 4 * se.item()
    with pytest.raises(RuntimeError):  # the comparison has no grad_fn: no path from z to f
        reparameterization_gradient(step, mu, logvar, 10, _gen())


@pytest.mark.parametrize("n", [1, 10])
def test_variance_of_estimate_is_per_sample_variance_over_n(n):
    """Pathwise ∂/∂μ of E[(z − 1)²] at μ = 0, σ = 1 is 2(z − 1): variance 4 per sample."""
    from vae_course.estimators import variance_of_estimate

    zero = torch.zeros(2, dtype=torch.float64)
    v = variance_of_estimate(reparameterization_gradient, quadratic, zero, zero, n, 4000, _gen(n))
    assert v.shape == (2,)
    # the sample variance of 4000 Gaussian estimates has relative SE sqrt(2/3999) ≈ 2.2%
    torch.testing.assert_close(v, torch.full((2,), 4.0 / n, dtype=torch.float64), rtol=0.1, atol=0)
