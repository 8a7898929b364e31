"""Exact latent variable models (vae_course.toy) against independent references."""

import math

import pytest
import torch
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

from vae_course.toy import GaussianMixture, LinearGaussian


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def lg():
    return LinearGaussian.random(data_dim=6, latent_dim=3, x_var=0.4, seed=3)


def _random_q(b, d, seed=1):
    g = _gen(seed)
    mu = torch.randn(b, d, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(b, d, generator=g, dtype=torch.float64) - 0.5
    return mu, logvar


# ----------------------------------------------------------------------------- LinearGaussian
def test_log_marginal_matches_torch_multivariate_normal(lg):
    x, _ = lg.sample(50, _gen())
    cov = lg.W @ lg.W.T + lg.x_var * torch.eye(6, dtype=torch.float64)
    ref = MultivariateNormal(lg.b, covariance_matrix=cov).log_prob(x)
    torch.testing.assert_close(lg.log_marginal(x), ref, rtol=0, atol=1e-10)
    # float32 data is promoted to the model's float64
    torch.testing.assert_close(lg.log_marginal(x.float()), ref, rtol=0, atol=1e-4)


def test_samples_have_the_marginal_mean_and_covariance(lg):
    n = 200_000
    x, z = lg.sample(n, _gen(7))
    assert x.shape == (n, 6) and z.shape == (n, 3)
    mean, cov = lg.marginal()
    # SE of a mean: sqrt(var / n); of a covariance entry: sqrt((Σii Σjj + Σij²) / n)
    se_mean = (torch.diagonal(cov) / n).sqrt()
    assert ((x.mean(0) - mean).abs() < 4 * se_mean).all()
    emp = torch.cov(x.T)
    se_cov = ((torch.diagonal(cov)[:, None] * torch.diagonal(cov)[None] + cov**2) / n).sqrt()
    assert ((emp - cov).abs() < 4 * se_cov).all()


def test_posterior_is_bayes_rule(lg):
    """log p(z|x) = log p(x, z) − log p(x) for arbitrary z, and Gaussian conditioning."""
    x, _ = lg.sample(5, _gen())
    m, cov = lg.posterior(x)
    z = torch.randn(4, 5, 3, generator=_gen(2), dtype=torch.float64)
    log_post = MultivariateNormal(m, covariance_matrix=cov).log_prob(z)
    torch.testing.assert_close(
        log_post, lg.log_joint(x, z) - lg.log_marginal(x), atol=1e-10, rtol=0
    )
    # Conditioning the joint Gaussian of (z, x): Σ_z|x = I − Wᵀ C⁻¹ W, m = Wᵀ C⁻¹ (x − b)
    _, c = lg.marginal()
    c_inv_w = torch.linalg.solve(c, lg.W)
    torch.testing.assert_close(cov, torch.eye(3, dtype=torch.float64) - lg.W.T @ c_inv_w)
    torch.testing.assert_close(m, (x - lg.b) @ c_inv_w)


def test_elbo_of_true_posterior_is_log_marginal(lg):
    x, _ = lg.sample(8, _gen())
    m, cov = lg.posterior(x)
    torch.testing.assert_close(lg.elbo_full(x, m, cov), lg.log_marginal(x), atol=1e-10, rtol=0)


def test_log_marginal_equals_elbo_plus_kl_for_several_q(lg):
    x, _ = lg.sample(8, _gen())
    for seed in range(5):
        mu, logvar = _random_q(8, 3, seed)
        elbo, kl = lg.elbo(x, mu, logvar), lg.kl_to_posterior(x, mu, logvar)
        torch.testing.assert_close(elbo + kl, lg.log_marginal(x), atol=1e-10, rtol=0)
        assert (kl > 0).all() and (elbo < lg.log_marginal(x)).all()


def test_kl_to_posterior_matches_torch_kl_divergence(lg):
    x, _ = lg.sample(4, _gen())
    mu, logvar = _random_q(4, 3)
    m, cov = lg.posterior(x)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    q_full = MultivariateNormal(mu, covariance_matrix=torch.diag_embed(torch.exp(logvar)))
    ref = kl_divergence(q_full, MultivariateNormal(m, covariance_matrix=cov))
    torch.testing.assert_close(lg.kl_to_posterior(x, mu, logvar), ref)
    assert q.batch_shape == (4,)


def test_closed_form_elbo_matches_monte_carlo(lg):
    """ELBO = E_q[log p(x,z) − log q(z)], estimated with 200k samples: within 4 SE."""
    x, _ = lg.sample(3, _gen())
    mu, logvar = _random_q(3, 3)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(
        200_000, 3, 3, generator=_gen(5), dtype=torch.float64
    )
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    w = lg.log_joint(x, z) - q.log_prob(z)
    mean, se = w.mean(0), w.std(0) / math.sqrt(len(w))
    assert ((mean - lg.elbo(x, mu, logvar)).abs() < 4 * se).all()


def test_fit_ppca_matches_pca_and_is_a_likelihood_maximum():
    from sklearn.decomposition import PCA

    true = LinearGaussian.random(data_dim=10, latent_dim=3, x_var=0.2, seed=0, scale=2.0)
    x, _ = true.sample(5000, _gen(1))
    fit = LinearGaussian.fit_ppca(x, 3)
    pca = PCA(n_components=3).fit(x.numpy())
    # same subspace: projecting W's columns onto the PCA components keeps their length
    comps = torch.as_tensor(pca.components_, dtype=torch.float64)  # (3, D)
    q, _ = torch.linalg.qr(fit.W)
    assert torch.linalg.svdvals(comps @ q).min() > 1 - 1e-8
    # σ² = mean of the discarded eigenvalues (biased covariance, as the MLE uses)
    evals = torch.linalg.eigvalsh(torch.cov(x.T, correction=0)).flip(0)
    assert fit.x_var == pytest.approx(float(evals[3:].mean()), rel=1e-8)
    # maximum likelihood: perturbing W or σ² lowers the mean log-likelihood
    best = fit.log_marginal(x).mean()
    for w_scale, v_scale in [(1.05, 1), (0.95, 1), (1, 1.1), (1, 0.9)]:
        other = LinearGaussian(fit.W * w_scale, fit.b, fit.x_var * v_scale)
        assert other.log_marginal(x).mean() < best
    # and it recovers the generating model's covariance and noise
    assert fit.x_var == pytest.approx(0.2, rel=0.05)
    err = torch.linalg.norm(fit.W @ fit.W.T - true.W @ true.W.T) / torch.linalg.norm(
        true.W @ true.W.T
    )
    assert err < 0.05


def test_fit_ppca_posterior_is_diagonal():
    x, _ = LinearGaussian.random(8, 2, seed=4).sample(500, _gen())
    fit = LinearGaussian.fit_ppca(x, 2)
    _, cov = fit.posterior(x[:2])
    torch.testing.assert_close(cov, torch.diag(torch.diagonal(cov)), atol=1e-10, rtol=0)


def test_linear_gaussian_rejects_bad_shapes(lg):
    with pytest.raises(ValueError, match=r"\(B, 6\)"):
        lg.log_marginal(torch.zeros(6, dtype=torch.float64))
    with pytest.raises(ValueError, match="x_var"):
        LinearGaussian(torch.eye(2), x_var=0.0)
    with pytest.raises(ValueError, match="b must"):
        LinearGaussian(torch.eye(2), b=torch.zeros(3))


# ----------------------------------------------------------------------------- GaussianMixture
@pytest.fixture
def gmm():
    g = _gen(11)
    return GaussianMixture(
        logits=torch.tensor([0.0, 1.0, -0.5], dtype=torch.float64),
        means=3 * torch.randn(3, 2, generator=g, dtype=torch.float64),
        logvars=0.5 * torch.randn(3, 2, generator=g, dtype=torch.float64),
    )


def _torch_mixture(gmm):
    comp = Independent(Normal(gmm.means, torch.exp(0.5 * gmm.logvars)), 1)
    return MixtureSameFamily(Categorical(logits=gmm.logits), comp)


def test_mixture_log_marginal_matches_torch(gmm):
    x, z = gmm.sample(100, _gen())
    assert x.shape == (100, 2) and z.shape == (100,) and z.dtype == torch.int64
    torch.testing.assert_close(gmm.log_marginal(x), _torch_mixture(gmm).log_prob(x))


def test_mixture_posterior_is_bayes_rule(gmm):
    x, _ = gmm.sample(20, _gen())
    post = gmm.posterior(x)
    torch.testing.assert_close(post.sum(1), torch.ones(20, dtype=torch.float64))
    comp = Normal(gmm.means[:, None], torch.exp(0.5 * gmm.logvars[:, None])).log_prob(x).sum(-1)
    bayes = torch.softmax(comp + torch.log_softmax(gmm.logits, 0)[:, None], dim=0).T
    torch.testing.assert_close(post, bayes)


def test_mixture_samples_follow_the_weights(gmm):
    n = 100_000
    _, z = gmm.sample(n, _gen(3))
    p = torch.softmax(gmm.logits, 0)
    freq = torch.bincount(z, minlength=3).double() / n
    assert ((freq - p).abs() < 4 * (p * (1 - p) / n).sqrt()).all()


def test_optimal_diagonal_q_is_the_per_datapoint_optimum():
    from vae_course.toy import LinearGaussian

    lg = LinearGaussian.random(data_dim=6, latent_dim=3, x_var=0.3, seed=2)
    x, _ = lg.sample(5, torch.Generator().manual_seed(1))
    mu, logvar = lg.optimal_diagonal_q(x)
    mu.requires_grad_(True)
    logvar.requires_grad_(True)
    lg.elbo(x, mu, logvar).sum().backward()
    assert mu.grad.abs().max() < 1e-10 and logvar.grad.abs().max() < 1e-10  # a stationary point
    # and a maximum: the ELBO is concave in (mu, logvar) here; any move lowers it
    g = torch.Generator().manual_seed(3)
    best = lg.elbo(x, mu.detach(), logvar.detach())
    for _ in range(5):
        dm = 0.1 * torch.randn(mu.shape, generator=g, dtype=mu.dtype)
        dl = 0.1 * torch.randn(mu.shape, generator=g, dtype=mu.dtype)
        assert (lg.elbo(x, mu.detach() + dm, logvar.detach() + dl) < best).all()
    # the diagonal restriction costs exactly KL(q || p(z|x)) > 0 (the approximation gap)
    gap = lg.log_marginal(x) - best
    torch.testing.assert_close(gap, lg.kl_to_posterior(x, mu.detach(), logvar.detach()))
    assert (gap > 0).all()


def test_amortized_encoder_closes_the_gap_only_with_enough_capacity():
    from vae_course.toy import LinearGaussian, fit_linear_encoder

    lg = LinearGaussian.random(data_dim=8, latent_dim=3, x_var=0.2, seed=3)
    x, _ = lg.sample(500, torch.Generator().manual_seed(0))
    optimum = lg.elbo(x, *lg.optimal_diagonal_q(x)).mean()
    gaps = {
        r: (optimum - lg.elbo(x, *fit_linear_encoder(lg, x, rank=r)).mean()).item()
        for r in (None, 2, 1)
    }
    assert abs(gaps[None]) < 1e-4  # the optimal mean is linear in x: a full-rank encoder fits it
    assert 0.1 < gaps[2] < gaps[1]  # a rank-limited encoder cannot: the amortization gap
    with pytest.raises(ValueError, match="rank must be in"):
        fit_linear_encoder(lg, x, rank=4)


def test_gaussian_fit_on_a_grid_reverse_seeks_a_mode_forward_covers_both():
    from vae_course.toy import fit_gaussian_on_grid

    zg = torch.linspace(-5, 5, 4001, dtype=torch.float64)
    # a Gaussian target is recovered exactly by both directions
    unimodal = -0.5 * ((zg - 0.7) / 0.4) ** 2
    for direction in ("reverse", "forward"):
        m, s = fit_gaussian_on_grid(zg, unimodal, direction)
        assert m == pytest.approx(0.7, abs=1e-4) and s == pytest.approx(0.4, abs=1e-4)
    # notebook 01's bimodal posterior p(z | x = 2) for the decoder z²
    bimodal = -0.5 * (2.0 - zg**2) ** 2 / 0.1 - 0.5 * zg**2
    right = fit_gaussian_on_grid(zg, bimodal, "reverse", init_mean=1.0)
    left = fit_gaussian_on_grid(zg, bimodal, "reverse", init_mean=-1.0)
    assert right[0] > 1.2 and left[0] == pytest.approx(-right[0], abs=1e-6)
    assert right[1] < 0.3  # it fits one mode, not both
    w = torch.exp(bimodal - torch.logsumexp(bimodal, 0))
    mean = float((w * zg).sum())
    std = float((w * (zg - mean) ** 2).sum().sqrt())
    fm, fs = fit_gaussian_on_grid(zg, bimodal, "forward")
    assert fm == pytest.approx(mean, abs=1e-9) and fs == pytest.approx(std, abs=1e-9)
    assert abs(fm) < 1e-6 and fs > 1.2  # moment matching: centred between the modes
    with pytest.raises(ValueError, match="direction must be"):
        fit_gaussian_on_grid(zg, bimodal, "sideways")
