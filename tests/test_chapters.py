"""Numerical claims of chapters 00–03 not already covered by test_toy / test_estimators.

Each test names the notebook section whose printed fact it backs. The notebooks print the
same facts (nbval compares them); these tests keep the claims true when the package changes.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from vae_course.estimators import (
    importance_log_marginal,
    mean_and_se,
    reparameterization_gradient,
    score_function_gradient,
    variance_of_estimate,
)
from vae_course.losses import bernoulli_log_likelihood, gaussian_log_likelihood
from vae_course.models import reparameterize
from vae_course.toy import LinearGaussian


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- 00
def test_00_reparameterize_uses_log_variance():
    """00 §4: the std of reparameterize(mu, logvar) samples is exp(0.5·logvar), not exp(logvar)."""
    n = 100_000
    z = reparameterize(torch.ones(n, 1), torch.full((n, 1), math.log(4.0)))
    se = 2.0 / math.sqrt(2 * n)
    assert abs(z.std().item() - 2.0) < 4 * se


def test_00_likelihood_protocol_binarizations():
    """00 §4: the static test set is binary and fixed; dynamic binarization is fresh and unbiased."""
    from vae_course.data import dynamic_binarize, load_mnist

    a, b = load_mnist(binarize="static").x_test, load_mnist(binarize="static").x_test
    assert ((a == 0) | (a == 1)).all() and torch.equal(a, b)
    assert not torch.equal(a, load_mnist(binarize="static", seed=1).x_test)  # the seed matters
    grey = load_mnist().x_test[:100]
    torch.manual_seed(0)
    draws = torch.stack([dynamic_binarize(grey) for _ in range(400)])
    assert not torch.equal(draws[0], draws[1])
    se = ((grey * (1 - grey)).sum() / 400).sqrt() / grey.numel()
    assert (draws.mean(0) - grey).mean().abs() < 4 * se
    assert (draws[:, grey == 0] == 0).all() and (draws[:, grey == 1] == 1).all()
    # a biased binarizer (a threshold) fails the same check
    thresholded = (grey > 0.5).float()
    assert (thresholded - grey).mean().abs() > 4 * se


# ----------------------------------------------------------------------------- 01
def test_01_ppca_on_digits_spans_the_pca_subspace(mnist):
    """01 §4: pPCA's W spans the first 20 principal components; σ² is the discarded variance."""
    import sklearn
    from sklearn.decomposition import PCA

    # same answer as the notebook's default solver, 15x faster (scikit-learn >= 1.5)
    fast = tuple(int(p) for p in sklearn.__version__.split(".")[:2]) >= (1, 5)

    x = mnist.x_train.reshape(len(mnist.x_train), -1).double()
    ppca = LinearGaussian.fit_ppca(x, 20)
    pca = PCA(n_components=20, svd_solver="covariance_eigh" if fast else "full").fit(x.numpy())
    q, _ = torch.linalg.qr(ppca.W)
    assert torch.linalg.svdvals(torch.as_tensor(pca.components_) @ q).min() > 0.999
    total = torch.as_tensor(pca.explained_variance_).sum() / pca.explained_variance_ratio_.sum()
    discarded = (total * (len(x) - 1) / len(x) - ppca.W.pow(2).sum() - 20 * ppca.x_var) / (784 - 20)
    assert ppca.x_var == pytest.approx(discarded.item(), rel=1e-6)
    # the posterior mean is the PCA projection shrunk towards the mean digit
    m, _ = ppca.posterior(x[:5])
    proj = (x[:5] - ppca.b) @ q
    assert (m.norm(dim=1) > 0).all() and (
        (ppca.decode_mean(m) - ppca.b).norm(dim=1) < proj.norm(dim=1)
    ).all()


def test_01_ppca_log_density_is_positive_and_bounded_by_its_peak(mnist):
    """01 §4: +296 nats is possible: a density peaks at −½ log det(2πC) ≈ +698 nats at x = b."""
    x = mnist.x_train.reshape(len(mnist.x_train), -1).double()
    x_te = mnist.x_test.reshape(len(mnist.x_test), -1).double()
    ppca = LinearGaussian.fit_ppca(x, 20)
    mean, cov = ppca.marginal()
    top = -0.5 * torch.logdet(2 * math.pi * cov)
    assert round(top.item()) == 698
    torch.testing.assert_close(ppca.log_marginal(mean[None])[0], top)
    test_ll = ppca.log_marginal(x_te)
    assert round(test_ll.mean().item()) == 296
    assert (test_ll <= top).all()  # a Gaussian density is largest at its mean
    assert round((test_ll > 0).double().mean().item(), 2) == 0.97
    sigma = ppca.x_var**0.5
    assert 1 / (sigma * math.sqrt(2 * math.pi)) == pytest.approx(2.56, abs=0.01)
    # the probability of a binary image under any Bernoulli decoder is never above 1
    g = _gen(3)
    binary = torch.bernoulli(torch.full((200, 784), 0.5), generator=g)
    assert (bernoulli_log_likelihood(binary, 5 * torch.randn(200, 784, generator=g)) <= 0).all()


def test_01_more_prior_samples_help_only_slowly_in_high_dimension():
    """01 §2: at d = 32, 100x more prior samples still leave roughly half of the error (92 -> 53)."""
    from vae_course.estimators import naive_mc_log_marginal

    model = LinearGaussian(torch.eye(32, dtype=torch.float64), x_var=0.1)
    x, _ = model.sample(1, _gen(32))
    g = _gen(0)
    err = {
        k: model.log_marginal(x).item()
        - naive_mc_log_marginal(model, x.expand(20, -1), k, g).mean().item()
        for k in (100, 10_000)
    }
    assert 80 < err[100] < 110 and 40 < err[10_000] < 65
    assert err[10_000] > 0.4 * err[100]


def test_01_grid_quadrature_and_bimodal_posterior():
    """01 §3: a 1-D grid reproduces the exact log p(x); the decoder z² gives modes near ±√2."""
    zg = torch.linspace(-5, 5, 4001, dtype=torch.float64)
    dz = (zg[1] - zg[0]).item()
    model = LinearGaussian(torch.tensor([[1.5]], dtype=torch.float64), x_var=0.1)
    x = torch.tensor([[2.0]], dtype=torch.float64)
    quad = torch.logsumexp(model.log_joint(x, zg[:, None, None])[:, 0], 0) + math.log(dz)
    assert abs(quad - model.log_marginal(x)).item() < 1e-6
    log_joint = -0.5 * (2.0 - zg**2) ** 2 / 0.1 - 0.5 * zg**2
    inner = log_joint[1:-1]
    peaks = zg[1:-1][(inner > log_joint[:-2]) & (inner > log_joint[2:])]
    assert len(peaks) == 2
    assert torch.allclose(
        peaks.abs(), torch.full((2,), math.sqrt(2), dtype=torch.float64), atol=0.05
    )


# ----------------------------------------------------------------------------- 02
def test_02_bernoulli_from_logits_is_finite_where_sigmoid_then_log_is_not():
    x = torch.tensor([[0.0, 1.0, 0.0]])
    logits = torch.tensor([[120.0, -120.0, -3.0]])
    p = torch.sigmoid(logits)
    naive = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(1)
    assert torch.isinf(naive).all()
    assert bernoulli_log_likelihood(x, logits).item() == pytest.approx(
        -(240 + math.log1p(math.exp(-3))), rel=1e-6
    )


def test_02_binary_cross_entropy_clamps_and_kills_the_gradient():
    """02 §5: F.binary_cross_entropy on probabilities clamps log at −100: finite, zero gradient."""
    x = torch.tensor([[0.0, 1.0, 0.0]])
    logits = torch.tensor([[120.0, -120.0, -3.0]], requires_grad=True)
    bce = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum")
    bce.backward()
    assert bce.item() == pytest.approx(200 + math.log1p(math.exp(-3)), abs=1e-4)
    assert logits.grad[0, :2].abs().max().item() == 0.0  # dead gradients on the clamped pixels
    assert logits.grad[0, 2].item() != 0.0
    from_logits = logits.detach().clone().requires_grad_(True)
    (-bernoulli_log_likelihood(x, from_logits)).sum().backward()
    torch.testing.assert_close(from_logits.grad[0, :2], torch.tensor([1.0, -1.0]))


def test_02_grey_level_floor_and_continuous_bernoulli(mnist):
    """02 §5: the Bernoulli floor of grey test digits; C(λ) normalises; the best λ has mean x."""
    from vae_course.losses import (
        bernoulli_reconstruction_floor,
        continuous_bernoulli_log_likelihood,
        continuous_bernoulli_log_normalizer,
    )

    grey = mnist.x_test[:100]
    assert round(bernoulli_reconstruction_floor(grey).mean().item()) == -47
    perfect = torch.logit(grey.clamp(1e-4, 1 - 1e-4)).flatten(1)
    assert round(continuous_bernoulli_log_likelihood(grey, perfect).mean().item()) == 1536
    xs = torch.linspace(0, 1, 20_001, dtype=torch.float64)
    for lam in (0.05, 0.5, 0.9):
        ell = torch.logit(torch.tensor(lam, dtype=torch.float64))
        bern = torch.exp(xs * F.logsigmoid(ell) + (1 - xs) * F.logsigmoid(-ell))
        cb = bern * continuous_bernoulli_log_normalizer(ell).exp()
        assert torch.trapezoid(cb, xs).item() == pytest.approx(1.0, abs=1e-6)
        assert torch.trapezoid(bern, xs).item() < 0.51
    ells = torch.linspace(-12, 12, 24_001, dtype=torch.float64)
    for x_pix, lam in ((0.2, 0.008), (0.5, 0.5), (0.8, 0.992)):
        ll = x_pix * ells - F.softplus(ells) + continuous_bernoulli_log_normalizer(ells)
        best = ells[ll.argmax()]
        assert torch.sigmoid(best).item() == pytest.approx(lam, abs=1e-3)
        mean = torch.distributions.ContinuousBernoulli(logits=best).mean.item()
        assert mean == pytest.approx(x_pix, abs=1e-3)


def test_02_amortization_gaps_on_the_notebook_model():
    """02 §2: approximation gap 0.228 nats; amortization gaps 0.000, 1.346, 4.074 (ranks 3, 2, 1)."""
    from vae_course.toy import fit_linear_encoder

    model = LinearGaussian.random(data_dim=8, latent_dim=3, x_var=0.2, seed=3)
    x, _ = model.sample(1000, _gen(0))
    best = model.elbo(x, *model.optimal_diagonal_q(x)).mean().item()
    assert round(model.log_marginal(x).mean().item() - best, 3) == 0.228
    gaps = [
        round(best - model.elbo(x, *fit_linear_encoder(model, x, rank=r)).mean().item(), 3)
        for r in (3, 2, 1)
    ]
    assert gaps == pytest.approx([0.0, 1.346, 4.074], abs=2e-3)


def test_02_mse_sum_is_a_gaussian_with_variance_one_half():
    """02 §5: −log N(x; x̂, ½) = ‖x − x̂‖² + (D/2) log π, for any x, x̂ (an exact identity)."""
    g = _gen()
    x, x_hat = torch.rand(8, 784, generator=g), torch.rand(8, 784, generator=g)
    mse_sum = F.mse_loss(x_hat, x, reduction="none").sum(1)
    neg_ll = -gaussian_log_likelihood(x, x_hat, math.log(0.5))
    torch.testing.assert_close(neg_ll, mse_sum + 392 * math.log(math.pi), atol=1e-3, rtol=0)
    # and the identity fails for another σ² (so the test can fail)
    other = -gaussian_log_likelihood(x, x_hat, 0.0)
    assert not torch.allclose(other, mse_sum + 392 * math.log(math.pi), atol=1.0)


def test_02_best_gaussian_variance_is_the_per_pixel_mse():
    g = _gen(1)
    x = torch.rand(8, 784, generator=g)
    x_rec = x + math.sqrt(0.015) * torch.randn(8, 784, generator=g)
    grid = torch.linspace(math.log(1e-3), math.log(1.0), 2001)
    ll = torch.stack([gaussian_log_likelihood(x, x_rec, lv).sum() for lv in grid])
    assert grid[ll.argmax()].exp().item() == pytest.approx(F.mse_loss(x_rec, x).item(), rel=0.01)


def test_02_iwae_k_increases_with_k_on_the_notebook_setup():
    """02 §4: the same model and poor q as the notebook; IWAE_1000 closes > 80% of the gap."""
    lg = LinearGaussian.random(data_dim=5, latent_dim=2, x_var=0.3, seed=1)
    x, _ = lg.sample(1, _gen(9))
    m, _ = lg.posterior(x)
    mu, logvar = m + 0.8, torch.full_like(m, -2.0)
    elbo, log_px = lg.elbo(x, mu, logvar).item(), lg.log_marginal(x).item()
    means = []
    for i, k in enumerate([1, 10, 1000]):
        est = importance_log_marginal(
            lg, x.expand(400, -1), mu.expand(400, -1), logvar.expand(400, -1), k, _gen(i)
        )
        mean, se = mean_and_se(est)
        assert elbo - 3 * se.item() <= mean.item() <= log_px + 3 * se.item()
        means.append(mean.item())
    assert means[0] < means[1] < means[2]
    assert log_px - means[2] < 0.2 * (log_px - elbo)


# ----------------------------------------------------------------------------- 03
def test_03_direct_sampling_blocks_gradients_and_rsample_does_not():
    mu = torch.tensor([0.5], requires_grad=True)
    std = torch.tensor([1.0])
    assert not torch.normal(mu.detach(), std).requires_grad
    assert not torch.distributions.Normal(mu, std).sample().requires_grad
    assert torch.distributions.Normal(mu, std).rsample().requires_grad
    assert reparameterize(mu, torch.zeros(1)).requires_grad


def test_03_variance_falls_like_one_over_n_with_a_constant_gap():
    """03 §4: log-log slope −1 for both estimators; score-function variance > 3× reparam."""

    def f(z):
        return ((z - 1.0) ** 2).sum(-1)

    def var_of_mean(estimator, n):
        zero = torch.zeros(1)
        return variance_of_estimate(estimator, f, zero, zero, n, 500, _gen(n))[0].item()

    for estimator in (score_function_gradient, reparameterization_gradient):
        v1, v1000 = var_of_mean(estimator, 1), var_of_mean(estimator, 1000)
        assert abs(math.log(v1000 / v1) / math.log(1000) + 1) < 0.15
    for n in (1, 30, 1000):
        sf = var_of_mean(score_function_gradient, n)
        assert sf > 3 * var_of_mean(reparameterization_gradient, n)


def test_03_score_function_variance_grows_only_with_the_coordinates_f_depends_on():
    """03 §4: for f(z) = (z₁ − 1)² the per-sample score-function variance is 30 at every d."""

    def f_first(z):
        return (z[..., 0] - 1.0) ** 2

    for d in (1, 5, 50):
        zero = torch.zeros(d, dtype=torch.float64)
        g_mu, _ = score_function_gradient(f_first, zero, zero, 200_000, _gen(d))
        dev = (g_mu[:, 0] - g_mu[:, 0].mean()) ** 2
        assert abs(dev.mean().item() - 30) < 5 * dev.std().item() / len(dev) ** 0.5
