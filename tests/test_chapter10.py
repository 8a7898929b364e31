"""Chapter 10's package code: GaussianMLPVAE, MeanReductionVAE, interpolation paths, and the
"a factorised likelihood predicts the average" formula, each against an independent reference
(torch.distributions, closed forms, autograd, Monte Carlo with standard-error tolerances)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

import vae_course.models.base as base
from vae_course.classifier import DigitClassifier, confidence
from vae_course.interpolation import decode_paths, path_smoothness
from vae_course.losses import elbo, iwae_bound
from vae_course.metrics import elbo_estimate, iwae_log_likelihood, kl_per_dimension
from vae_course.models import (
    MLPVAE,
    MODELS,
    GaussianMLPVAE,
    MeanReductionVAE,
    VAEBase,
    build_model,
)
from vae_course.train import fit, load_checkpoint, save_checkpoint
from vae_course.widgets.logic import slerp

P = 784  # pixels of an MNIST digit
D = 3  # latent dimensions of the small test models


def _fixed_z(monkeypatch, z):
    """Make every forward pass use the code ``z`` instead of a reparameterized draw."""
    monkeypatch.setattr(base, "reparameterize", lambda mu, logvar: z)


def _kl_reference(mu, logvar):
    """KL(q(z|x) ‖ N(0, I)) per example, by torch.distributions."""
    q = Normal(mu, torch.exp(0.5 * logvar))
    return kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)


def _gauss_rec_reference(x, mean, var):
    """Σ_pixels log N(x; mean, var) per example, by torch.distributions."""
    return Normal(mean, math.sqrt(var)).log_prob(x.reshape(mean.shape)).flatten(1).sum(1)


def _small(cls, **kw):
    return cls(latent_dim=D, hidden_dims=(16,), **kw)


# ----------------------------------------------------------------- the shared model interface
@pytest.mark.parametrize("cls", [GaussianMLPVAE, MeanReductionVAE])
def test_new_models_share_the_course_interface(cls):
    """What test_models.py asks of MLPVAE and ConvVAE, asked of the two new families."""
    assert issubclass(cls, VAEBase) and MODELS[cls.__name__] is cls
    m = cls(latent_dim=6)
    x = torch.rand(5, 1, 28, 28)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (5, 6)
    assert m.decode(mu).shape == (5, 1, 28, 28)
    out = m(x.reshape(5, 784))  # flat input is accepted
    assert out["x_logits"].shape == (5, 1, 28, 28) and out["z"].shape == (5, 6)
    terms = m.loss(x.reshape(5, 784))
    assert terms["loss"].dim() == 0 and terms["elbo"].shape == (5,)
    assert torch.isfinite(terms["loss"])
    for n in (1, 3):
        s = m.sample(n)
        assert s.shape == (n, 1, 28, 28) and 0 <= s.min() and s.max() <= 1
        r = m.reconstruct(x[:n])
        assert r.shape == (n, 1, 28, 28) and 0 <= r.min() and r.max() <= 1
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\) or \(B, 784\)"):
        m.encode(torch.rand(4, 1, 32, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        m.loss(torch.rand(1, 28, 28))
    with pytest.raises(ValueError, match="float"):
        m.encode(torch.randint(0, 255, (2, 1, 28, 28)))
    with pytest.raises(ValueError, match=r"\(B, 6\)"):
        m.decode(torch.zeros(2, 3))


@pytest.mark.parametrize(
    "cls, kw",
    [
        (GaussianMLPVAE, {"x_var": 1.0}),
        (GaussianMLPVAE, {"x_var": 0.5, "min_var": 1e-3}),
        (GaussianMLPVAE, {"x_var": None}),
        (MeanReductionVAE, {}),
    ],
)
def test_config_round_trip_rebuilds_the_same_model(cls, kw, tmp_path):
    m = _small(cls, **kw)
    if kw.get("x_var", 1.0) is None:  # a learned σ² that moved away from its start
        m.train()
        m.loss(torch.rand(8, 1, 28, 28))
        assert m.x_var != 1.0
    path = save_checkpoint(tmp_path / "m.ckpt", m)
    ck = load_checkpoint(path)
    rebuilt = build_model(ck["model_name"], **ck["config"])
    assert type(rebuilt) is cls and rebuilt.config == m.config
    load_checkpoint(path, rebuilt)
    x = torch.rand(4, 1, 28, 28)
    m.eval()
    rebuilt.eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.reconstruct(x), m.reconstruct(x), rtol=0, atol=0)
    if cls is GaussianMLPVAE:
        assert rebuilt.x_var == m.x_var and rebuilt.learned_var == m.learned_var
        fresh = build_model("GaussianMLPVAE", **m.config)  # the config alone: σ² as configured
        assert fresh.config == m.config and fresh.learned_var == (kw["x_var"] is None)
        assert fresh.x_var == pytest.approx(kw["x_var"] or 1.0, rel=1e-6)


# ----------------------------------------------------------------- GaussianMLPVAE: fixed σ²
@pytest.mark.parametrize("x_var", [1.0, 0.5, 0.05])
@pytest.mark.parametrize("beta", [1.0, 2.5])
def test_gaussian_loss_terms_match_torch_distributions(monkeypatch, x_var, beta):
    m = _small(GaussianMLPVAE, x_var=x_var)
    x = torch.rand(4, 1, 28, 28)
    z = torch.randn(4, D)
    _fixed_z(monkeypatch, z)
    terms = m.loss(x, beta=beta)
    with torch.no_grad():
        mu, logvar = m.encode(x)
        mean = torch.sigmoid(m.decode(z))
    rec = _gauss_rec_reference(x, mean, x_var)
    kl = _kl_reference(mu, logvar)
    torch.testing.assert_close(terms["reconstruction"].detach(), rec)
    torch.testing.assert_close(terms["kl"].detach(), kl)
    torch.testing.assert_close(terms["elbo"].detach(), rec - kl)
    torch.testing.assert_close(terms["loss"].detach(), (-rec + beta * kl).mean())
    assert m.x_var == pytest.approx(x_var, rel=1e-6)
    # free bits pass through: λ = 10 nats per dimension exceeds every dimension's KL here
    assert kl.mean() < 10
    fb = m.loss(x, free_bits=10.0)["loss"].detach()
    torch.testing.assert_close(fb, -rec.mean() + D * 10.0)


def test_gaussian_forward_draws_z_by_reparameterization():
    """Unpatched: the same seed, z = μ + σ·ε recomputed by hand gives the same terms."""
    m = _small(GaussianMLPVAE, x_var=0.3)
    x = torch.rand(6, 1, 28, 28)
    torch.manual_seed(11)
    terms = m.loss(x)
    torch.manual_seed(11)
    with torch.no_grad():
        mu, logvar = m.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = _gauss_rec_reference(x, torch.sigmoid(m.decode(z)), 0.3)
    torch.testing.assert_close(terms["reconstruction"].detach(), rec)
    # a different seed draws a different z: the term is random, the patch above is needed
    torch.manual_seed(12)
    assert not torch.allclose(m.loss(x)["reconstruction"].detach(), rec)


def test_half_variance_reconstruction_is_minus_summed_mse(monkeypatch):
    """σ² = ½: log N(x; m, ½) = −(x − m)² − ½ log π per pixel (chapter 02's MSE identity)."""
    m = _small(GaussianMLPVAE, x_var=0.5)
    x = torch.rand(5, 1, 28, 28)
    z = torch.randn(5, D)
    _fixed_z(monkeypatch, z)
    rec = m.loss(x)["reconstruction"].detach()
    with torch.no_grad():
        mean = torch.sigmoid(m.decode(z))
    sse = F.mse_loss(mean, x, reduction="none").flatten(1).sum(1)
    torch.testing.assert_close(rec, -sse - P / 2 * math.log(math.pi))
    # σ² = 1, the same network: half the weight on the squared error, another constant
    one = _small(GaussianMLPVAE, x_var=1.0)
    weights = {k: v for k, v in m.state_dict().items() if k != "x_logvar"}
    one.load_state_dict(weights, strict=False)
    rec1 = one.loss(x)["reconstruction"].detach()
    torch.testing.assert_close(rec1, -sse / 2 - P / 2 * math.log(2 * math.pi))


# ----------------------------------------------------------------- GaussianMLPVAE: learned σ²
def test_learned_variance_follows_each_batch_optimum_then_a_running_average(monkeypatch):
    m = _small(GaussianMLPVAE, x_var=None)
    assert m.learned_var and m.x_var == 1.0 and m.config["x_var"] is None
    z = torch.randn(8, D)
    _fixed_z(monkeypatch, z)
    with torch.no_grad():
        mean = torch.sigmoid(m.decode(z))
    xs = [torch.rand(8, 1, 28, 28), torch.rand(8, 1, 28, 28) ** 3, torch.rand(8, 1, 28, 28)]
    mses = [float(((x - mean) ** 2).mean()) for x in xs]
    assert len({round(v, 4) for v in mses}) == 3  # three different optima

    m.train()
    terms = m.loss(xs[0])  # first training batch: σ² = its mean squared error
    assert m.x_var == pytest.approx(mses[0], rel=1e-5)
    torch.testing.assert_close(
        terms["reconstruction"].detach(), _gauss_rec_reference(xs[0], mean, mses[0])
    )

    expected_log = math.log(mses[0])
    for x, mse in zip(xs[1:], mses[1:], strict=True):
        terms = m.loss(x)
        expected_log = 0.9 * expected_log + 0.1 * math.log(mse)
        assert m.x_var == pytest.approx(math.exp(expected_log), rel=1e-5)
        # the batch's own term uses the batch's optimum, not the running average
        torch.testing.assert_close(
            terms["reconstruction"].detach(), _gauss_rec_reference(x, mean, mse)
        )

    m.eval()  # evaluation uses the stored value and leaves it alone
    stored = m.x_var
    terms = m.loss(xs[0])
    assert m.x_var == stored
    torch.testing.assert_close(
        terms["reconstruction"].detach(), _gauss_rec_reference(xs[0], mean, stored)
    )
    est = elbo_estimate(m, xs[1])  # the metrics evaluate with the stored σ² too
    assert m.x_var == stored
    expected = _gauss_rec_reference(xs[1], mean, stored).mean().item()
    assert est["reconstruction"] == pytest.approx(expected, rel=1e-5)


def test_learned_variance_maximises_the_batch_likelihood(monkeypatch):
    """ex04's derivation: d/d log σ² Σ log N(x; m, σ²) = 0 at σ² = mean squared error."""
    m = _small(GaussianMLPVAE, x_var=None)
    z = torch.randn(6, D)
    _fixed_z(monkeypatch, z)
    x = torch.rand(6, 1, 28, 28)
    m.train()
    m.loss(x)
    with torch.no_grad():
        mean = torch.sigmoid(m.decode(z)).double()
    log_var = torch.tensor(math.log(m.x_var), dtype=torch.float64, requires_grad=True)
    total = Normal(mean, torch.exp(0.5 * log_var)).log_prob(x.double()).sum()
    (grad,) = torch.autograd.grad(total, log_var)
    assert abs(grad.item()) < 1e-3 * x.numel()  # ≈ 0 relative to the P·B pixel terms
    for factor in (0.8, 1.25):  # and it is a maximum
        other = Normal(mean, math.sqrt(m.x_var * factor)).log_prob(x.double()).sum()
        assert other < total.detach() - 1.0


def test_learned_variance_is_floored_at_min_var(monkeypatch):
    m = _small(GaussianMLPVAE, x_var=None, min_var=1e-3)
    z = torch.randn(4, D)
    _fixed_z(monkeypatch, z)
    with torch.no_grad():
        mean = torch.sigmoid(m.decode(z))
    m.train()
    x = (mean + 1e-3 * torch.randn_like(mean)).clamp(0, 1)  # mean squared error ≈ 1e-6
    assert ((x - mean) ** 2).mean() < 1e-5
    terms = m.loss(x)
    assert m.x_var == pytest.approx(1e-3, rel=1e-5)
    torch.testing.assert_close(
        terms["reconstruction"].detach(), _gauss_rec_reference(x, mean, 1e-3)
    )
    assert torch.isfinite(terms["loss"])
    m.loss(mean.clone())  # a perfect fit (error 0) stays at the floor, no log(0)
    assert m.x_var == pytest.approx(1e-3, rel=1e-5)


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, "0.5", float("nan"), float("inf"), True, [1.0]])
def test_bad_x_var_is_refused(bad):
    with pytest.raises(ValueError, match="x_var must be a finite variance > 0, or None"):
        GaussianMLPVAE(x_var=bad)


@pytest.mark.parametrize("bad", [0, -1e-4, "small", None, float("nan"), float("inf")])
def test_bad_min_var_is_refused(bad):
    with pytest.raises(ValueError, match="min_var must be a finite number > 0"):
        GaussianMLPVAE(x_var=None, min_var=bad)


# ----------------------------------------------------------------- GaussianMLPVAE: IWAE, metrics
def test_log_importance_weights_equal_an_independent_recomputation():
    m = _small(GaussianMLPVAE, x_var=0.3)
    m.eval()
    x = torch.rand(3, 1, 28, 28)
    k = 5
    torch.manual_seed(7)
    lw = m.log_importance_weights(x, k)
    assert lw.shape == (k, 3)
    torch.manual_seed(7)
    with torch.no_grad():
        mu, logvar = m.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn((k, *mu.shape))
        mean = torch.sigmoid(m.decode(z.reshape(-1, D))).reshape(k, 3, -1)
        log_px = Normal(mean, math.sqrt(0.3)).log_prob(x.reshape(1, 3, -1)).sum(-1)
        log_pz = Normal(0.0, 1.0).log_prob(z).sum(-1)
        log_qz = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    torch.testing.assert_close(lw.detach(), log_px + log_pz - log_qz)


def test_importance_weights_use_the_stored_learned_variance():
    m = _small(GaussianMLPVAE, x_var=None)
    m.train()
    m.loss(torch.rand(8, 1, 28, 28))
    m.eval()
    x = torch.rand(2, 1, 28, 28)
    torch.manual_seed(3)
    lw = m.log_importance_weights(x, 4)
    fixed = _small(GaussianMLPVAE, x_var=m.x_var)
    fixed.load_state_dict(m.state_dict())
    torch.manual_seed(3)
    torch.testing.assert_close(lw, fixed.log_importance_weights(x, 4))
    assert m.x_var != 1.0  # so the start value σ² = 1 would have given other weights


def test_mean_log_weight_estimates_the_elbo_of_loss():
    """E_q[log w] = E_q[log p(x|z)] − KL: the weights' mean against loss()'s closed-form-KL ELBO,
    two independent Monte Carlo estimates, compared within 4 standard errors."""
    m = _small(GaussianMLPVAE, x_var=0.2)
    m.eval()
    x = torch.rand(2, 1, 28, 28)
    n = 4000
    with torch.no_grad():
        lw = m.log_importance_weights(x, n)  # (n, 2)
        el = m.loss(x.repeat(n, 1, 1, 1))["elbo"].reshape(n, 2)
    diff = lw.mean(0) - el.mean(0)
    se = torch.sqrt(lw.var(0) / n + el.var(0) / n)
    assert (diff.abs() < 4 * se).all(), (diff, se)
    # the comparison has power: the same weights with σ² = 1 instead of 0.2 fail it
    other = _small(GaussianMLPVAE, x_var=1.0)
    other.load_state_dict(m.state_dict())  # the state dict carries log σ² = log 0.2 ...
    other.x_logvar.fill_(0.0)  # ... so set σ² = 1 again
    assert other.x_var == 1.0
    with torch.no_grad():
        lw_other = other.log_importance_weights(x, n)
    assert ((lw_other.mean(0) - el.mean(0)).abs() > 100 * se).all()


def test_iwae_is_above_the_elbo_and_the_metrics_work_on_the_model(mnist):
    m = GaussianMLPVAE(latent_dim=4, hidden_dims=(32,), x_var=0.1)
    m.eval()
    x = mnist.x_test[:200]
    torch.manual_seed(5)
    mean_iwae = iwae_log_likelihood(m, x, k=50)
    torch.manual_seed(5)
    with torch.no_grad():
        per = torch.cat([iwae_bound(m, x[:100], k=50), iwae_bound(m, x[100:], k=50)])
    assert mean_iwae == pytest.approx(per.mean().item(), rel=1e-6)

    torch.manual_seed(6)
    est = elbo_estimate(m, x)
    torch.manual_seed(6)
    with torch.no_grad():
        terms = m.loss(x)  # the Gaussian terms, not a Bernoulli bound on grey digits
    for key in ("elbo", "reconstruction", "kl"):
        assert est[key] == pytest.approx(terms[key].mean().item(), rel=1e-5), key
    torch.testing.assert_close(terms["kl"], _kl_reference(*m.encode(x)))

    d = per - terms["elbo"]  # IWAE_50 ≥ ELBO in expectation, per digit
    se = d.std() / len(d) ** 0.5
    assert d.mean() > 3 * se, (d.mean(), se)
    assert mean_iwae > est["elbo"]


# ----------------------------------------------------------------- MeanReductionVAE
def test_mean_reduction_loss_is_mean_bce_plus_summed_kl(monkeypatch):
    m = _small(MeanReductionVAE)
    x = torch.bernoulli(torch.rand(6, 1, 28, 28))
    z = torch.randn(6, D)
    _fixed_z(monkeypatch, z)
    terms = m.loss(x)
    with torch.no_grad():
        mu, logvar = m.encode(x)
        logits = m.decode(z)
    kl = _kl_reference(mu, logvar)
    loss = terms["loss"].detach()
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, x) + kl.mean())
    # 784 × loss = mean(−log p(x|z) + 784·KL): the negative ELBO with β = 784
    rec = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(P * loss, (-rec + P * kl).mean())
    # ... which is not the ELBO's loss (β = 1) unless the KL is 0
    assert kl.mean() > 0.01
    assert not torch.isclose(P * loss, (-rec + kl).mean())
    # the reported terms are the true ones, as vae_course.losses.elbo gives them
    true = elbo(x, logits, mu, logvar)
    for key in ("elbo", "reconstruction", "kl", "kl_per_dim"):
        torch.testing.assert_close(terms[key].detach(), true[key], msg=key)
    torch.testing.assert_close(terms["reconstruction"].detach(), rec)
    # flat input gives the same loss
    torch.testing.assert_close(m.loss(x.reshape(6, P))["loss"].detach(), loss)


def test_mean_reduction_ignores_beta_and_free_bits(monkeypatch):
    m = _small(MeanReductionVAE)
    x = torch.rand(4, 1, 28, 28)
    _fixed_z(monkeypatch, torch.randn(4, D))
    plain = m.loss(x)["loss"].detach()
    for kw in ({"beta": 5.0}, {"free_bits": 2.0}, {"beta": 0.0, "free_bits": 1.0, "labels": None}):
        torch.testing.assert_close(m.loss(x, **kw)["loss"].detach(), plain, rtol=0, atol=0)
    # whereas the same network's ELBO loss does respond to β
    mlp = _small(MLPVAE)
    mlp.load_state_dict(m.state_dict())
    assert mlp.loss(x, beta=5.0)["loss"] > mlp.loss(x)["loss"]


def test_mean_reduction_training_collapses_the_code(mnist):
    """Three epochs on 512 binarized digits: the bug's KL ends far below a same-seed VAE's."""
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(mnist.x_train), generator=g)[:512]
    x = torch.bernoulli(mnist.x_train[idx], generator=g)
    x_test = torch.bernoulli(mnist.x_test[:500], generator=g)
    kl = {}
    for cls in (MLPVAE, MeanReductionVAE):
        torch.manual_seed(0)
        m = cls(latent_dim=16, hidden_dims=(128,))
        h = fit(m, x, epochs=3, batch_size=128, seed=0, progress=False, device="cpu")
        assert all(math.isfinite(v) for v in h["train_loss"])
        kl[cls.__name__] = kl_per_dimension(m, x_test).sum().item()
        if cls is MeanReductionVAE:
            assert h["train_kl"][-1] < h["train_kl"][0]  # pushed down from the start
    assert kl["MLPVAE"] > 1.0, kl  # the VAE's code carries information
    assert kl["MeanReductionVAE"] < 0.05, kl  # the bug's does not
    assert kl["MeanReductionVAE"] < 0.02 * kl["MLPVAE"], kl


# ----------------------------------------------------------------- interpolation
class _ToyModel(nn.Module):
    """encode(x) reads μ from the first D pixels (μ = 10·(x − ½), log σ² = 0); the decoded mean
    sigmoid(decode(z)) = ½ + z·A is affine in z, so steps along a path have closed forms."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.register_buffer("a", a)  # (D, 784)

    def encode(self, x):
        mu = 10 * (x.flatten(1)[:, : self.a.shape[0]] - 0.5)
        return mu, torch.zeros_like(mu)

    def decode(self, z):
        return torch.logit(0.5 + z @ self.a).reshape(-1, 1, 28, 28)


def _images_for(mu):
    """Images the toy model encodes to ``mu`` (P, D)."""
    x = torch.full((mu.shape[0], 1, 28, 28), 0.5)
    x.view(mu.shape[0], -1)[:, : mu.shape[1]] = 0.5 + mu / 10
    return x


def _toy():
    a = 0.04 * (2 * torch.rand(D, P) - 1)  # |z·A| < 0.5 for |z_j| ≤ 2: sigmoid stays invertible
    return _ToyModel(a)


def test_decode_paths_shape_range_and_end_points():
    m = _small(MLPVAE)
    m.train()
    xa, xb = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        mu_a, mu_b = m.encode(xa)[0], m.encode(xb)[0]
        first, last = torch.sigmoid(m.decode(mu_a)), torch.sigmoid(m.decode(mu_b))
    paths = {}
    for method in ("linear", "spherical"):
        paths[method] = decode_paths(m, xa, xb, steps=7, method=method)
        assert paths[method].shape == (4, 7, 1, 28, 28) and paths[method].device.type == "cpu"
        assert 0 <= paths[method].min() and paths[method].max() <= 1
        assert m.training  # the caller's mode is restored
        assert torch.equal(paths[method][:, 0], first)  # step 0 decodes μ(x_a) exactly
        assert torch.equal(paths[method][:, -1], last)  # the last step μ(x_b)
    # the spherical path goes through widgets.logic.slerp
    z = torch.stack([slerp(a, b, 7) for a, b in zip(mu_a, mu_b, strict=True)])
    with torch.no_grad():
        ref = torch.sigmoid(m.decode(z.reshape(-1, D))).reshape(4, 7, 1, 28, 28)
    torch.testing.assert_close(paths["spherical"], ref)
    # the two methods differ mid-path
    assert not torch.allclose(paths["linear"][:, 3], paths["spherical"][:, 3])


def test_linear_path_of_an_affine_decoder_has_equal_closed_form_steps():
    toy = _toy()
    mu_a, mu_b = 2 * torch.rand(3, D) - 1, 2 * torch.rand(3, D) - 1
    xa, xb = _images_for(mu_a), _images_for(mu_b)
    steps = 6
    paths = decode_paths(toy, xa, xb, steps=steps)
    # the decoded images are ½ + ((1 − t)μa + tμb)·A for t = 0, 1/5, ..., 1
    t = torch.linspace(0, 1, steps).reshape(1, steps, 1)
    expected = 0.5 + ((1 - t) * (mu_a @ toy.a).unsqueeze(1) + t * (mu_b @ toy.a).unsqueeze(1))
    torch.testing.assert_close(paths.flatten(2), expected, rtol=0, atol=2e-5)
    # every step is the same: RMS((μb − μa)·A) / (steps − 1)
    total = torch.sqrt((((mu_b - mu_a) @ toy.a) ** 2).mean(1))  # (P,) path length
    s = path_smoothness(toy, xa, xb, steps=steps)
    assert set(s) == {"largest", "jump_ratio", "length"}
    assert s["length"] == pytest.approx(total.mean().item(), rel=1e-3)
    assert s["largest"] == pytest.approx(total.mean().item() / (steps - 1), rel=1e-3)
    assert s["jump_ratio"] == pytest.approx(1.0, abs=1e-3)


def test_a_decoder_that_switches_at_once_has_jump_ratio_steps_minus_one():
    class Switch(_ToyModel):
        def decode(self, z):  # all pixels 0 for z₀ < 0, 1 for z₀ > 0
            return (1000 * z[:, :1]).expand(-1, P).reshape(-1, 1, 28, 28)

    toy = Switch(torch.zeros(D, P))
    mu_a = torch.tensor([[-1.0, 0.3, 0.0], [-0.5, 0.0, 1.0]])
    mu_b = torch.tensor([[1.0, 0.3, 0.0], [0.5, -1.0, 0.0]])
    s = path_smoothness(toy, _images_for(mu_a), _images_for(mu_b), steps=10)
    assert s["jump_ratio"] == pytest.approx(9.0, rel=1e-4)
    assert s["largest"] == pytest.approx(1.0, rel=1e-4)
    assert s["length"] == pytest.approx(1.0, rel=1e-4)


def test_spherical_paths_keep_the_norm_of_equal_norm_codes():
    toy = _toy()
    mu_a = torch.tensor([[1.5, 0.0, 0.0], [0.0, 1.0, 0.0]])
    mu_b = torch.tensor([[0.0, 1.5, 0.0], [0.0, 0.6, 0.8]])
    paths = decode_paths(toy, _images_for(mu_a), _images_for(mu_b), steps=9, method="spherical")
    # recover z from the affine decoder's images: (image − ½) = z·A, least squares
    z = torch.linalg.lstsq(toy.a.T, (paths.flatten(2) - 0.5).reshape(-1, P).T).solution.T
    norms = z.norm(dim=1).reshape(2, 9)
    torch.testing.assert_close(
        norms, mu_a.norm(dim=1, keepdim=True).expand(2, 9), atol=1e-3, rtol=0
    )
    lin = decode_paths(toy, _images_for(mu_a), _images_for(mu_b), steps=9)
    z_lin = torch.linalg.lstsq(toy.a.T, (lin[:, 4].flatten(1) - 0.5).T).solution.T
    assert (z_lin.norm(dim=1) < 0.95 * mu_a.norm(dim=1)).all()  # lerp's midpoint cuts inside


def test_path_smoothness_classifier_shares_equal_a_direct_computation():
    toy = _toy()
    mu_a, mu_b = 2 * torch.rand(5, D) - 1, 2 * torch.rand(5, D) - 1
    xa, xb = _images_for(mu_a), _images_for(mu_b)
    clf = DigitClassifier()
    paths = decode_paths(toy, xa, xb, steps=8)
    conf = confidence(clf, paths.flatten(0, 1)).reshape(5, 8)
    threshold = conf.median().item()
    s = path_smoothness(toy, xa, xb, clf, steps=8, confident=threshold)
    assert set(s) == {
        "largest",
        "jump_ratio",
        "length",
        "confident_share",
        "middle_confident_share",
    }
    share = (conf >= threshold).float().mean().item()
    middle = (conf[:, 1:-1] >= threshold).float().mean().item()
    assert 0 < share < 1 and 0 <= middle <= 1  # a threshold that separates the points
    assert s["confident_share"] == pytest.approx(share)
    assert s["middle_confident_share"] == pytest.approx(middle)
    assert path_smoothness(toy, xa, xb, clf, steps=8, confident=0.999)["confident_share"] == 0.0


def test_interpolation_refuses_bad_input():
    m = _small(MLPVAE)
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="same shape"):
        decode_paths(m, x, torch.rand(3, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(P, C, H, W\)"):
        decode_paths(m, x[0], x[1])
    with pytest.raises(ValueError, match="image tensors"):
        decode_paths(m, x.tolist(), x)
    with pytest.raises(ValueError, match=r"at least one pair \(P >= 1\)"):
        decode_paths(m, x[:0], x[:0])
    with pytest.raises(ValueError, match="at least 2 steps"):
        decode_paths(m, x, x, steps=1)
    with pytest.raises(ValueError, match="'linear' or 'spherical'"):
        decode_paths(m, x, x, method="cubic")
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"confident must be a probability in \(0, 1\)"):
            path_smoothness(m, x, x, confident=bad)


# ----------------------------------------------------------------- the average formula
def _weights(k, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(k, generator=g, dtype=torch.float64), 0)


def _maximise(objective, start):
    param = start.clone().requires_grad_(True)
    opt = torch.optim.LBFGS(
        [param],
        lr=1,
        max_iter=200,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = -objective(param)
        loss.backward()
        return loss

    opt.step(closure)
    return param.detach()


def test_a_factorised_bernoulli_predicts_the_weighted_average():
    """argmax_m Σ_k w_k log Bernoulli(x_k | m) = Σ_k w_k x_k, pixel by pixel."""
    k, pixels = 5, 60
    g = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((k, pixels), 0.5, dtype=torch.float64), generator=g)
    x[0] = 1 - x[1]  # the digits disagree on every pixel: the average is grey, 0 < m < 1
    w = _weights(k, 2)
    closed = (w[:, None] * x).sum(0)
    assert ((closed > 0) & (closed < 1)).all()

    def objective(logits):
        return (w[:, None] * Bernoulli(logits=logits).log_prob(x)).sum()

    best = torch.sigmoid(_maximise(objective, torch.zeros(pixels, dtype=torch.float64)))
    torch.testing.assert_close(best, closed, atol=1e-6, rtol=0)
    # the gradient vanishes at the closed form and nowhere near it
    at = torch.logit(closed).requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(at), at)
    assert grad.abs().max() < 1e-12
    for shift in (-0.3, 0.3):
        off = (torch.logit(closed) + shift).requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(off), off)
        assert (grad.abs() > 1e-3).all() and (torch.sign(grad) == -math.copysign(1, shift)).all()
    # the most frequent value (a sharp, binary guess) scores lower
    mode = (closed > 0.5).double().clamp(0.01, 0.99)
    assert objective(torch.logit(mode)) < objective(torch.logit(closed))


@pytest.mark.parametrize("var", [0.5, 1.0, 0.01])
def test_a_factorised_gaussian_predicts_the_weighted_average(var):
    """argmax_m Σ_k w_k log N(x_k; m, σ²) = Σ_k w_k x_k for every σ²."""
    k, pixels = 4, 50
    g = torch.Generator().manual_seed(3)
    x = torch.rand(k, pixels, generator=g, dtype=torch.float64)
    w = _weights(k, 4)
    closed = (w[:, None] * x).sum(0)

    def objective(mean):
        return (w[:, None] * Normal(mean, math.sqrt(var)).log_prob(x)).sum()

    best = _maximise(objective, torch.rand(pixels, generator=g, dtype=torch.float64))
    torch.testing.assert_close(best, closed, atol=1e-7, rtol=0)
    at = closed.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(at), at)
    assert grad.abs().max() < 1e-10
    off = (closed + 0.1).requires_grad_(True)
    (grad,) = torch.autograd.grad(objective(off), off)
    torch.testing.assert_close(grad, torch.full_like(grad, -0.1 / var))  # Σ w (x − m) / σ²
    # the unweighted mean is not the answer when the weights are unequal
    assert (x.mean(0) - closed).abs().max() > 0.01
    assert objective(x.mean(0)) < objective(closed)


# ----------------------------------------------------------------- notebook 10's experiments
def test_collapse_setups_are_the_four_runs_of_the_notebook():
    from vae_course.common_issues import collapse_setups
    from vae_course.models import AutoregressiveVAE

    setups = collapse_setups(latent_dim=5, free_bits=0.25)
    names = [s.name for s, _ in setups]
    assert names == [
        "VAE",
        "mean-reduction bug",
        "autoregressive decoder",
        "autoregressive + free bits",
    ]
    kinds = [type(make()) for _, make in setups]
    assert kinds == [MLPVAE, MeanReductionVAE, AutoregressiveVAE, AutoregressiveVAE]
    assert [s.free_bits for s, _ in setups] == [0.0, 0.0, 0.0, 0.25]
    assert all(s.beta == 1.0 for s, _ in setups)
    assert all(make().latent_dim == 5 for _, make in setups)
    a, b = setups[0][1](), setups[0][1]()
    assert a is not b  # a fresh model each call


def test_interpolation_pairs_have_different_labels_and_repeat_with_the_seed():
    from vae_course.common_issues import interpolation_pairs

    labels = torch.arange(100) % 10
    a, b = interpolation_pairs(labels, n_pairs=20, seed=3)
    assert a.shape == b.shape == (20,)
    assert bool((labels[a] != labels[b]).all())
    assert len(set(a.tolist()) | set(b.tolist())) == 40  # no digit used twice
    a2, b2 = interpolation_pairs(labels, n_pairs=20, seed=3)
    assert torch.equal(a, a2) and torch.equal(b, b2)
    a3, _ = interpolation_pairs(labels, n_pairs=20, seed=4)
    assert not torch.equal(a, a3)
    with pytest.raises(ValueError, match="only .* pairs"):
        interpolation_pairs(torch.zeros(100, dtype=torch.long), n_pairs=5)
    with pytest.raises(ValueError, match="integers"):
        interpolation_pairs(torch.zeros(100), n_pairs=5)


def test_blur_table_equals_direct_measurements():
    from vae_course.common_issues import blur_table
    from vae_course.diagnostics import high_frequency_ratio, sharpness

    torch.manual_seed(0)
    model = _small(GaussianMLPVAE, x_var=0.5)
    real = torch.rand(12, 1, 28, 28)
    x = torch.rand(7, 1, 28, 28)
    rows = blur_table({"g": (model, x)}, real, n_samples=9, seed=5)
    assert list(rows) == ["real digits", "g"]
    assert rows["real digits"]["sharpness"] == pytest.approx(float(sharpness(real).mean()))
    assert rows["real digits"]["samples_sharpness"] == pytest.approx(
        float(sharpness(real[:9]).mean())
    )
    assert math.isnan(rows["real digits"]["kl"])
    rec = model.reconstruct(x)
    torch.manual_seed(5)
    _ = model.reconstruct(x)  # blur_table seeds, reconstructs (deterministic), then samples
    samples = model.sample(9)
    assert rows["g"]["sharpness"] == pytest.approx(float(sharpness(rec).mean()), rel=1e-6)
    assert rows["g"]["hf_ratio"] == pytest.approx(float(high_frequency_ratio(rec).mean()), rel=1e-6)
    assert rows["g"]["samples_sharpness"] == pytest.approx(
        float(sharpness(samples).mean()), rel=1e-6
    )
    assert rows["g"]["kl"] == pytest.approx(float(kl_per_dimension(model, x).sum()), rel=1e-6)


def test_train_gaussian_decoders_trains_one_model_per_variance(mnist):
    from vae_course.common_issues import GAUSSIAN_VARIANCES, train_gaussian_decoders

    models = train_gaussian_decoders(mnist.x_train[:256], epochs=1, latent_dim=4, seed=0)
    assert list(models) == list(GAUSSIAN_VARIANCES)
    fixed = [m.x_var for n, m in models.items() if GAUSSIAN_VARIANCES[n] is not None]
    assert fixed == pytest.approx([1.0, 0.5])
    learned = models["Gaussian σ² learned"]
    assert learned.learned_var and 1e-4 <= learned.x_var < 0.5  # moved to the batches' MSE
    again = train_gaussian_decoders(
        mnist.x_train[:256], epochs=1, latent_dim=4, seed=0, variances={"one": 1.0}
    )
    first = models["Gaussian σ²=1"].state_dict()
    assert all(torch.equal(first[k], v) for k, v in again["one"].state_dict().items())


def _stored_run(epochs, seed, *, bug_kl=0.0, ar_kl=3.0, vae_kl=10.0, ae_jump=1.2):
    collapse = {
        "VAE": {"kl": vae_kl, "mi": 5.0, "iwae": -140.0, "active": 16, "dims_over_0_1": 14},
        "mean-reduction bug": {"kl": bug_kl, "mi": 0.01, "active": 0, "dims_over_0_1": 0},
        "autoregressive decoder": {"kl": ar_kl, "mi": 4.0, "iwae": -128.0},
        "autoregressive + free bits": {"kl": 8.5, "dims_over_0_1": 16},
    }
    blur = {
        "real digits": {"sharpness": 0.12, "kl": None},
        "Bernoulli": {"sharpness": 0.08, "kl": 12.0},
        "Gaussian σ²=1": {"sharpness": 0.06, "kl": 2.0},
        "Gaussian σ²=½ (MSE)": {"sharpness": 0.07, "kl": 5.0},
        "Gaussian σ² learned": {"sharpness": 0.09, "kl": 30.0},
    }
    paths = {
        "autoencoder, linear": {"jump_ratio": ae_jump, "middle_confident_share": 0.5},
        "autoencoder, spherical": {"jump_ratio": 1.2, "middle_confident_share": 0.6},
        "VAE, linear": {"jump_ratio": 1.3, "middle_confident_share": 0.4},
        "VAE, spherical": {"jump_ratio": 1.3, "middle_confident_share": 0.5},
        "autoencoder, prior samples": {"confident_share": 0.05},
        "VAE, prior samples": {"confident_share": 0.2},
    }
    return {"epochs": epochs, "seed": seed, "collapse": collapse, "blur": blur, "paths": paths}


def test_claim_counts_count_the_seeds_where_each_claim_held():
    from vae_course.common_issues import CLAIMS, claim_counts

    runs = [
        _stored_run(12, 0),
        _stored_run(12, 1, bug_kl=0.5, ar_kl=6.0),  # bug not collapsed; AR KL above half
        _stored_run(40, 0, ae_jump=1.5),  # the autoencoder jumpier at 40 epochs
    ]
    counts = claim_counts({"config": {"epochs": [12, 40]}, "runs": runs})
    assert list(counts) == [label for label, _ in CLAIMS]
    by = {label: c for label, c in counts.items()}
    assert by["mean-reduction bug collapsed (KL < 0.05, 0 active, I_q < 0.05)"] == {
        12: (1, 2),
        40: (1, 1),
    }
    assert by["autoregressive KL < half the VAE's"] == {12: (1, 2), 40: (1, 1)}
    assert by["linear paths: autoencoder jump ratio ≤ VAE's"] == {12: (2, 2), 40: (0, 1)}
    assert by["Gaussians: sharpness learned > ½ > 1"] == {12: (2, 2), 40: (1, 1)}
    assert by["prior samples: VAE confident share > autoencoder's"] == {12: (2, 2), 40: (1, 1)}
