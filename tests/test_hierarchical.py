"""HierarchicalVAE: the precision-weighted merge, the two-level ELBO and its KLs, IWAE,
sampling top-down, training through fit, checkpoints, and the per-level statistics."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_course.losses import gaussian_kl_between, gaussian_kl_per_dim, iwae_bound
from vae_course.metrics import elbo_estimate, iwae_log_likelihood, level_statistics
from vae_course.models import HierarchicalVAE, build_model, precision_weighted_merge
from vae_course.train import fit, load_checkpoint, save_checkpoint


def _data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) < 0.3).float()


def _model(seed=0, dims=(4, 2)):
    torch.manual_seed(seed)
    return HierarchicalVAE(latent_dims=dims, hidden_dims=(32,), top_hidden=16)


def _pair(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(
        shape, generator=g, dtype=torch.float64
    )


# ------------------------------------------------------------------------- the merge
def test_merge_is_the_normalised_product_of_the_two_gaussians():
    """log N(z; a) + log N(z; b) − log N(z; merged) must not depend on z (same product)."""
    (mu_a, lv_a), (mu_b, lv_b) = _pair((3, 4), 1), _pair((3, 4), 2)
    mu, lv = precision_weighted_merge(mu_a, lv_a, mu_b, lv_b)
    zs = torch.randn(50, 3, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def logpdf(z, m, v):
        return Normal(m, torch.exp(0.5 * v)).log_prob(z)

    diff = logpdf(zs, mu_a, lv_a) + logpdf(zs, mu_b, lv_b) - logpdf(zs, mu, lv)
    torch.testing.assert_close(diff, diff[:1].expand_as(diff), rtol=0, atol=1e-9)
    # and the closed form: precisions add, means precision-weighted
    prec = torch.exp(-lv_a) + torch.exp(-lv_b)
    torch.testing.assert_close(torch.exp(-lv), prec)
    torch.testing.assert_close(mu, (mu_a * torch.exp(-lv_a) + mu_b * torch.exp(-lv_b)) / prec)
    assert (lv < torch.minimum(lv_a, lv_b)).all()  # more certain than either


def test_merge_with_equal_gaussians_halves_the_variance_and_keeps_the_mean():
    mu, lv = _pair((2, 3), 4)
    m, v = precision_weighted_merge(mu, lv, mu, lv)
    torch.testing.assert_close(m, mu)
    torch.testing.assert_close(v, lv - torch.log(torch.tensor(2.0, dtype=lv.dtype)))


def test_merge_rejects_mismatched_shapes():
    a = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="all four inputs need one shape"):
        precision_weighted_merge(a, a, torch.zeros(2, 4), a)


def test_gaussian_kl_between_matches_torch_distributions():
    (mq, lq), (mp, lp) = _pair((5, 3), 5), _pair((5, 3), 6)
    want = kl_divergence(Normal(mq, torch.exp(0.5 * lq)), Normal(mp, torch.exp(0.5 * lp)))
    torch.testing.assert_close(gaussian_kl_between(mq, lq, mp, lp), want)
    zero = torch.zeros_like(mq)
    torch.testing.assert_close(gaussian_kl_between(mq, lq, zero, zero), gaussian_kl_per_dim(mq, lq))
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl_between(mq, lq, mp[:, :2], lp[:, :2])


# ------------------------------------------------------------------------- the model
def test_shapes_and_named_terms_with_one_kl_per_level():
    model = _model()
    x = _data(8)
    terms = model.loss(x)
    for key in ("elbo", "reconstruction", "kl", "kl_z1", "kl_z2"):
        assert terms[key].shape == (8,), key
    assert terms["kl_per_dim_z1"].shape == (4,) and terms["kl_per_dim_z2"].shape == (2,)
    torch.testing.assert_close(terms["kl"], terms["kl_z1"] + terms["kl_z2"])
    torch.testing.assert_close(terms["elbo"], terms["reconstruction"] - terms["kl"])
    assert (terms["kl_z1"] >= 0).all() and (terms["kl_z2"] >= 0).all()
    assert model.sample(5).shape == (5, 1, 28, 28)
    assert model.reconstruct(x).shape == (8, 1, 28, 28)
    levels = model.encode_levels(x)
    assert levels["z1"][0].shape == (8, 4) and levels["z2"][0].shape == (8, 2)


def test_the_loss_is_the_two_level_elbo_of_its_parts():
    """Recompute every term from the same draws with torch.distributions."""
    model = _model(1)
    x = _data(6, seed=1)
    torch.manual_seed(7)
    terms = model.loss(x)
    torch.manual_seed(7)
    out = model(x)
    q2 = Normal(out["mu2"], torch.exp(0.5 * out["logvar2"]))
    q1 = Normal(out["mu1"], torch.exp(0.5 * out["logvar1"]))
    p1 = Normal(out["mu_p1"], torch.exp(0.5 * out["logvar_p1"]))
    kl2 = kl_divergence(q2, Normal(0.0, 1.0)).sum(1)
    kl1 = kl_divergence(q1, p1).sum(1)
    rec = torch.distributions.Bernoulli(logits=out["x_logits"]).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(terms["kl_z2"], kl2)
    torch.testing.assert_close(terms["kl_z1"], kl1)
    torch.testing.assert_close(terms["reconstruction"], rec)
    torch.testing.assert_close(terms["loss"], (-rec + kl1 + kl2).mean())


def test_q_z1_is_the_merge_of_the_bottom_up_estimate_and_the_prior_given_z2():
    model = _model(2)
    out = model.infer(_data(4, seed=2))
    mu, lv = precision_weighted_merge(
        out["mu1_hat"], out["logvar1_hat"], *model.prior_z1(out["z2"])
    )
    torch.testing.assert_close(out["mu1"], mu)
    torch.testing.assert_close(out["logvar1"], lv)


def test_free_bits_change_the_loss_not_the_reported_elbo():
    model = _model(3)
    x = _data(16, seed=3)
    torch.manual_seed(0)
    plain = model.loss(x)
    torch.manual_seed(0)
    fb = model.loss(x, free_bits=5.0)  # far above every dimension's KL here
    torch.testing.assert_close(fb["elbo"], plain["elbo"])
    want = -plain["reconstruction"].mean() + 5.0 * 6
    torch.testing.assert_close(fb["loss"], want)
    with pytest.raises(ValueError, match="free_bits must be >= 0"):
        model.loss(x, free_bits=-1.0)


def test_iwae_1_is_the_elbo_in_expectation_and_iwae_tightens_with_k():
    """Mean IWAE_1 over many draws vs the mean ELBO (its KLs partly analytic): within 4 SE.
    Four digits repeated 1,000 times: every row is an independent draw."""
    model = _model(4)
    x = _data(4, seed=4).repeat(1000, 1, 1, 1)
    with torch.no_grad():
        torch.manual_seed(0)
        iw1, el = iwae_bound(model, x, k=1), model.loss(x)["elbo"]
        se = float(iw1.std() / len(iw1) ** 0.5 + el.std() / len(el) ** 0.5)
        assert abs(float(iw1.mean() - el.mean())) < 4 * se
        b20 = iwae_bound(model, x[:800], k=20, chunk=7)
    assert float(b20.mean()) > float(iw1.mean())


def test_fit_trains_it_and_the_metrics_work():
    model = _model(5)
    x = _data(128, seed=5)
    hist = fit(model, x, epochs=4, batch_size=32, progress=False, device="cpu")
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    torch.manual_seed(0)
    e = elbo_estimate(model, x)
    ll = iwae_log_likelihood(model, x, k=20, batch_size=64)
    assert ll > e["elbo"] and e["kl"] > 0
    stats = level_statistics(model, x, batch_size=50)
    assert stats["kl_per_dim_z1"].shape == (4,) and stats["mu_var_z2"].shape == (2,)
    assert 0 <= stats["active_z1"] <= 4 and 0 <= stats["active_z2"] <= 2
    assert stats["kl_z1"] == pytest.approx(float(stats["kl_per_dim_z1"].sum()), rel=1e-5)
    assert stats["active_z2"] == int((stats["mu_var_z2"] > 0.01).sum())
    with pytest.raises(ValueError, match="takes no labels"):
        iwae_bound(model, x[:2], k=2, labels=torch.tensor([0, 1]))


def test_level_statistics_refuse_a_one_level_model():
    from vae_course.models import MLPVAE

    with pytest.raises(ValueError, match="has one level"):
        level_statistics(MLPVAE(latent_dim=2, hidden_dims=(8,)), _data(4))


def test_checkpoint_round_trip_and_build_model(tmp_path):
    model = _model(6)
    path = tmp_path / "h.pt"
    save_checkpoint(path, model)
    ck = load_checkpoint(path)
    again = build_model(ck["model_name"], **ck["config"])
    load_checkpoint(path, again)
    assert isinstance(again, HierarchicalVAE) and again.latent_dims == (4, 2)
    x = _data(3)
    torch.testing.assert_close(again.reconstruct(x), model.reconstruct(x))
    assert isinstance(build_model("HierarchicalVAE", **model.config), HierarchicalVAE)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"latent_dims": (4,)}, "latent_dims must be two sizes"),
        ({"latent_dims": (4, 0)}, "latent_dims must be two sizes"),
        ({"hidden_dims": ()}, "needs hidden layers"),
    ],
)
def test_bad_sizes_get_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HierarchicalVAE(**kwargs)


def test_bad_codes_get_a_clear_error():
    model = _model()
    with pytest.raises(ValueError, match=r"expected z1 of shape \(B, 4\)"):
        model.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"expected z2 of shape \(B, 2\)"):
        model.prior_z1(torch.zeros(2, 4))


def test_level_grid_rows_share_z2_and_column_0_is_the_prior_mean():
    from vae_course.experiments import level_grid

    model = _model(7).eval()
    state = torch.get_rng_state()
    grid = level_grid(model, n_rows=3, n_cols=4, seed=5)
    assert torch.equal(state, torch.get_rng_state())  # its own generator
    assert grid.shape == (12, 1, 28, 28) and 0 <= float(grid.min()) <= float(grid.max()) <= 1
    assert torch.equal(grid, level_grid(model, n_rows=3, n_cols=4, seed=5))
    g = torch.Generator().manual_seed(5)
    z2 = torch.randn(3, 2, generator=g)
    mu, _ = model.prior_z1(z2)
    with torch.no_grad():
        torch.testing.assert_close(grid[::4], torch.sigmoid(model.decode(mu)))
    assert not torch.equal(grid[1], grid[2])  # z1 varies along a row
    with pytest.raises(ValueError, match="n_cols >= 2"):
        level_grid(model, n_rows=2, n_cols=1)
