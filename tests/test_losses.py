"""The loss terms against independent references (torch.distributions, float64, algebra)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vae_course.losses import (
    bernoulli_log_likelihood,
    elbo,
    gaussian_kl,
    gaussian_kl_per_dim,
    gaussian_log_likelihood,
    log_mean_exp,
)


def _q(mu, logvar):
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def test_gaussian_kl_matches_torch_distributions():
    mu = torch.randn(64, 20, dtype=torch.float64) * 2
    logvar = torch.randn(64, 20, dtype=torch.float64)
    prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    expected = kl_divergence(_q(mu, logvar), prior)
    got = gaussian_kl(mu, logvar)
    assert got.shape == (64,)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_gaussian_kl_zero_only_at_prior_and_per_dim_sums():
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).abs().max() == 0
    mu, logvar = torch.randn(4, 6), torch.randn(4, 6)
    torch.testing.assert_close(gaussian_kl_per_dim(mu, logvar).sum(1), gaussian_kl(mu, logvar))
    assert (gaussian_kl(mu, logvar) > 0).all()


def test_gaussian_kl_matches_monte_carlo_within_standard_error():
    mu, logvar = torch.tensor([[0.7, -1.2, 0.1]]), torch.tensor([[-0.5, 0.8, -2.0]])
    q = _q(mu, logvar)
    p = Independent(Normal(torch.zeros(1, 3), torch.ones(1, 3)), 1)
    z = q.sample((200_000,))
    samples = q.log_prob(z) - p.log_prob(z)
    se = samples.std() / math.sqrt(samples.shape[0])
    assert abs(samples.mean() - gaussian_kl(mu, logvar)[0]) < 4 * se


def test_bernoulli_log_likelihood_matches_torch_distributions():
    x = torch.bernoulli(torch.full((8, 1, 28, 28), 0.3))
    logits = torch.randn(8, 784) * 3
    expected = Independent(Bernoulli(logits=logits), 1).log_prob(x.reshape(8, 784))
    got = bernoulli_log_likelihood(x, logits)
    assert got.shape == (8,)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)


def test_bernoulli_log_likelihood_continuous_x_equals_negative_bce_sum():
    x = torch.rand(5, 784)
    logits = torch.randn(5, 784)
    expected = -F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").sum(1)
    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), expected, rtol=1e-5, atol=1e-3)


def test_bernoulli_log_likelihood_is_stable_for_extreme_logits():
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    logits = torch.tensor([[200.0, -200.0, -200.0, 200.0]])
    out = bernoulli_log_likelihood(x, logits)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.tensor([-400.0]))


def test_gaussian_log_likelihood_matches_torch_distributions():
    x, mean = torch.randn(6, 10, dtype=torch.float64), torch.randn(6, 10, dtype=torch.float64)
    logvar = torch.randn(6, 10, dtype=torch.float64)
    expected = Independent(Normal(mean, torch.exp(0.5 * logvar)), 1).log_prob(x)
    torch.testing.assert_close(gaussian_log_likelihood(x, mean, logvar), expected)
    # a scalar log-variance broadcasts
    expected = Independent(Normal(mean, math.exp(0.5 * -1.0)), 1).log_prob(x)
    torch.testing.assert_close(gaussian_log_likelihood(x, mean, -1.0), expected)


def test_mse_sum_is_a_gaussian_with_variance_one_half():
    """-mse_loss(sum) = log N(x; mean, 1/2) + const: what an MSE 'VAE' assumes."""
    x, mean = torch.rand(4, 784, dtype=torch.float64), torch.rand(4, 784, dtype=torch.float64)
    ll = gaussian_log_likelihood(x, mean, math.log(0.5))
    const = -0.5 * 784 * math.log(2 * math.pi * 0.5)
    mse = F.mse_loss(mean, x, reduction="none").sum(1)
    torch.testing.assert_close(ll, -mse + const)


@pytest.mark.parametrize("shift", [-1000.0, 0.0, 1000.0])
def test_log_mean_exp_is_stable(shift):
    a = torch.randn(7, 50, dtype=torch.float64)
    expected = torch.log(torch.exp(a).mean(dim=1)) + shift
    got = log_mean_exp(a + shift, dim=1)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(log_mean_exp(torch.full((3,), shift)), torch.tensor(shift))


def test_elbo_terms_signs_and_identity():
    x = torch.rand(16, 1, 28, 28)
    logits, mu, logvar = torch.randn(16, 1, 28, 28), torch.randn(16, 5), torch.randn(16, 5)
    t = elbo(x, logits, mu, logvar)
    torch.testing.assert_close(t["elbo"], t["reconstruction"] - t["kl"])
    torch.testing.assert_close(t["loss"], -t["elbo"].mean())
    torch.testing.assert_close(t["kl_per_dim"].sum(), t["kl"].mean())
    assert (t["reconstruction"] < 0).all() and (t["kl"] > 0).all()
    t2 = elbo(x, logits, mu, logvar, beta=4.0)
    torch.testing.assert_close(t2["loss"], -t["reconstruction"].mean() + 4 * t["kl"].mean())
    torch.testing.assert_close(t2["elbo"], t["elbo"])  # the ELBO itself never carries beta


def test_free_bits_floor_each_dimension():
    x, logits = torch.rand(8, 4), torch.zeros(8, 4)
    mu = torch.zeros(8, 3)
    mu[:, 0] = 3.0  # dim 0 carries 4.5 nats; dims 1-2 carry 0.045 and 0.02, below the floor
    mu[:, 1], mu[:, 2] = 0.3, -0.2
    logvar = torch.zeros(8, 3)
    t = elbo(x, logits, mu, logvar, free_bits=0.5)
    expected = -t["reconstruction"].mean() + (4.5 + 0.5 + 0.5)
    torch.testing.assert_close(t["loss"], expected)
    # no gradient pushes the dimensions below the floor towards the prior ...
    mu.requires_grad_(True)
    elbo(x, logits, mu, logvar, free_bits=0.5)["loss"].backward()
    assert mu.grad[:, 1:].abs().max() == 0 and mu.grad[:, 0].abs().max() > 0
    # ... while without free bits they are pulled to 0
    mu.grad = None
    elbo(x, logits, mu, logvar)["loss"].backward()
    assert mu.grad[:, 1:].abs().min() > 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gaussian_kl(torch.zeros(4, 3), torch.zeros(4, 2)), "same shape"),
        (lambda: gaussian_kl(torch.zeros(3), torch.zeros(3)), r"\(B, D\)"),
        (lambda: gaussian_kl(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3)), "floating"),
        (lambda: bernoulli_log_likelihood(torch.full((2, 4), 255.0), torch.zeros(2, 4)), "255"),
        (
            lambda: bernoulli_log_likelihood(torch.rand(2, 5), torch.zeros(2, 4)),
            "values per example",
        ),
        (lambda: bernoulli_log_likelihood(torch.rand(3, 4), torch.zeros(2, 4)), "batch"),
        (
            lambda: bernoulli_log_likelihood(
                torch.tensor([[0.5, float("nan")]]), torch.zeros(1, 2)
            ),
            "NaN",
        ),
        (
            lambda: elbo(
                torch.rand(2, 4), torch.zeros(2, 4), torch.zeros(2, 2), torch.zeros(2, 2), beta=-1
            ),
            "beta",
        ),
        (
            lambda: elbo(torch.rand(2, 4), torch.zeros(2, 4), torch.zeros(3, 2), torch.zeros(3, 2)),
            "batch size",
        ),
        (lambda: log_mean_exp(torch.zeros(0)), "at least one"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_continuous_bernoulli_normalizer_matches_its_closed_form_and_torch():
    import math

    from vae_course.losses import (
        continuous_bernoulli_log_likelihood,
        continuous_bernoulli_log_normalizer,
    )

    logits = torch.tensor([-30.0, -5.0, -1.0, -0.3, 0.02, 0.7, 3.0, 12.0], dtype=torch.float64)
    lam = torch.sigmoid(logits)
    closed = torch.log(2 * torch.atanh(1 - 2 * lam) / (1 - 2 * lam))  # Loaiza-Ganem & Cunningham
    torch.testing.assert_close(continuous_bernoulli_log_normalizer(logits[1:-1]), closed[1:-1])
    # near λ = ½ the series takes over, continuous with the exact form on both sides of 1e-2
    near = torch.tensor([1e-6, -9.9e-3, 1.01e-2], dtype=torch.float64)
    torch.testing.assert_close(
        continuous_bernoulli_log_normalizer(near),
        torch.log(near.abs() / torch.tanh(near.abs() / 2)),
        rtol=1e-9,
        atol=1e-9,
    )
    assert continuous_bernoulli_log_normalizer(torch.tensor([0.0])).item() == pytest.approx(
        math.log(2)
    )
    assert (continuous_bernoulli_log_normalizer(logits) >= math.log(2) - 1e-12).all()
    extreme = continuous_bernoulli_log_normalizer(torch.tensor([-500.0, 500.0]))
    assert torch.isfinite(extreme).all()
    torch.testing.assert_close(extreme, torch.log(torch.tensor([500.0, 500.0])))
    # the whole likelihood against torch.distributions, on grey images
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 5, 5, generator=g, dtype=torch.float64)
    lg = torch.randn(4, 25, generator=g, dtype=torch.float64) * 4
    ref = torch.distributions.ContinuousBernoulli(logits=lg).log_prob(x.reshape(4, 25)).sum(1)
    torch.testing.assert_close(continuous_bernoulli_log_likelihood(x, lg), ref)


def test_bernoulli_reconstruction_floor_is_minus_the_binary_entropy():
    from vae_course.losses import bernoulli_log_likelihood, bernoulli_reconstruction_floor

    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 10, generator=g, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    floor = bernoulli_reconstruction_floor(x)
    # attained by the decoder that outputs λ = x ...
    best = torch.logit(x).requires_grad_(True)
    attained = bernoulli_log_likelihood(x, best)
    torch.testing.assert_close(attained.detach(), floor)
    # ... where the gradient vanishes, and no other logits do better
    attained.sum().backward()
    assert best.grad.abs().max() < 1e-9
    other = torch.logit(x) + 0.3 * torch.randn(3, 10, generator=g, dtype=torch.float64)
    assert (bernoulli_log_likelihood(x, other) < floor).all()
    assert bernoulli_reconstruction_floor(torch.tensor([[0.0, 1.0, 1.0]])).item() == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bernoulli_reconstruction_floor(torch.tensor([[255.0]]))
