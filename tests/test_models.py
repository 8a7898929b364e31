import pytest
import torch

from vae_course.losses import iwae_bound
from vae_course.models import MLPVAE, ConvVAE, build_model, reparameterize
from vae_course.train import fit


def test_default_mlp_is_the_guides_architecture():
    m = MLPVAE()
    linears = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
    shapes = [(lin.in_features, lin.out_features) for lin in linears]
    assert shapes == [(784, 512), (512, 256), (256, 40), (20, 256), (256, 512), (512, 784)]
    classic = MLPVAE(hidden_dims=(400,))
    shapes = [
        (lin.in_features, lin.out_features)
        for lin in classic.modules()
        if isinstance(lin, torch.nn.Linear)
    ]
    assert shapes == [(784, 400), (400, 40), (20, 400), (400, 784)]


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_shapes_of_every_method(cls):
    m = cls(latent_dim=6)
    x = torch.rand(5, 1, 28, 28)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (5, 6)
    assert m.decode(mu).shape == (5, 1, 28, 28)
    out = m(x.reshape(5, 784))  # flat input is accepted
    assert out["x_logits"].shape == (5, 1, 28, 28) and out["z"].shape == (5, 6)
    s = m.sample(3)
    assert s.shape == (3, 1, 28, 28) and 0 <= s.min() and s.max() <= 1
    r = m.reconstruct(x)
    assert r.shape == x.shape
    terms = m.loss(x)
    assert terms["loss"].dim() == 0 and terms["elbo"].shape == (5,)
    assert build_model(type(m).__name__, **m.config).encode(x)[0].shape == (5, 6)


def test_reparameterize_is_differentiable_and_has_the_right_moments():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 2.0]], requires_grad=True)
    z = reparameterize(mu.expand(200_000, 2), logvar.expand(200_000, 2))
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    torch.testing.assert_close(mu.grad, torch.tensor([[200_000.0, 200_000.0]]))
    # mean and variance: 5 standard errors
    torch.testing.assert_close(z.mean(0), mu.detach()[0], atol=5 * (2.72 / 200_000) ** 0.5, rtol=0)
    torch.testing.assert_close(z.var(0), torch.exp(logvar.detach()[0]), rtol=0.02, atol=0)


def test_vae_overfits_a_batch_of_32_digits(mnist):
    x = mnist.x_train[:32]
    model = MLPVAE(latent_dim=10, hidden_dims=(256,))
    first = model.loss(x)["loss"].item()
    h = fit(model, x, epochs=300, batch_size=32, lr=2e-3, progress=False, device="cpu")
    assert h["train_loss"][-1] < 0.5 * first
    assert h["train_reconstruction"][-1] > -80  # reconstruction of seen digits is good


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_bad_image_shapes_are_rejected_with_what_was_expected(cls):
    m = cls()
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\) or \(B, 784\)"):
        m.encode(torch.rand(4, 1, 32, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        m.encode(torch.rand(1, 28, 28))
    with pytest.raises(ValueError, match="float"):
        m.encode(torch.randint(0, 255, (2, 1, 28, 28)))
    with pytest.raises(ValueError, match=r"\(B, 20\)"):
        m.decode(torch.zeros(2, 3))


def test_reparameterize_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        reparameterize(torch.zeros(2, 3), torch.zeros(2, 4))


def test_elbo_below_iwae_bounds_that_tighten_with_k(small_trained_vae, mnist):
    """E[ELBO] = E[IWAE_1] ≤ E[IWAE_5] ≤ E[IWAE_50], tested on differences with their SE."""
    model, x = small_trained_vae, mnist.x_test[:500]
    torch.manual_seed(1)
    b1, b5, b50 = (iwae_bound(model, x, k=k) for k in (1, 5, 50))
    with torch.no_grad():
        out = model(x)
        from vae_course.losses import elbo

        elbo_mc = elbo(x, out["x_logits"], out["mu"], out["logvar"])["elbo"]
    n = x.shape[0]
    for lo, hi in ((b1, b5), (b5, b50)):
        d = hi - lo
        se = d.std() / n**0.5
        assert d.mean() > 3 * se, (d.mean(), se)  # significantly tighter
    # IWAE_1 and the analytic-KL ELBO estimate the same expectation
    d = b1 - elbo_mc
    assert abs(d.mean()) < 4 * d.std() / n**0.5


def test_only_the_reparameterized_sample_sends_reconstruction_gradient_to_the_encoder():
    """Notebook 03, section 6: a plain draw cuts the encoder off from the reconstruction term."""
    from vae_course.losses import bernoulli_log_likelihood

    model = MLPVAE(latent_dim=4, hidden_dims=(16,))
    x = torch.rand(8, 1, 28, 28)

    def encoder_grad(sample):
        model.zero_grad()
        mu, logvar = model.encode(x)
        rec = bernoulli_log_likelihood(x, model.decode(sample(mu, logvar))).mean()
        (-rec).backward()
        return model.to_stats.weight.grad

    assert encoder_grad(reparameterize).abs().sum() > 0
    drawn = encoder_grad(lambda m, lv: torch.distributions.Normal(m, torch.exp(0.5 * lv)).sample())
    assert drawn is None


@pytest.mark.parametrize("name", ["mlpvae", "convvae"])
def test_checkpoints_written_before_models_became_a_package_still_load(name):
    """tests/data/*_v0.1.ckpt were written by vae_course 0.1 (models.py, one module); the
    same names, configs and state_dict keys must load them and give the same outputs."""
    from pathlib import Path

    from vae_course.train import load_checkpoint

    ck = load_checkpoint(Path(__file__).parent / "data" / f"{name}_v0.1.ckpt")
    model = build_model(ck["model_name"], **ck["config"])
    load_checkpoint(Path(__file__).parent / "data" / f"{name}_v0.1.ckpt", model)
    model.eval()
    with torch.no_grad():
        mu, logvar = model.encode(ck["probe_x"])
        logits = model.decode(mu)
    torch.testing.assert_close(mu, ck["probe_mu"])
    torch.testing.assert_close(logvar, ck["probe_logvar"])
    torch.testing.assert_close(logits, ck["probe_logits"])


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_every_family_shares_the_interface(cls):
    from vae_course.models import MODELS, VAEBase

    assert issubclass(cls, VAEBase) and MODELS[cls.__name__] is cls
    for method in ("encode", "decode", "loss", "sample", "reconstruct"):
        assert callable(getattr(cls, method)), method


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown model 'Nope'; known: \['Autoencoder', 'AutoregressiveVAE', 'CodePrior', 'ConditionalVAE', 'ConvVAE', 'GAN', 'GaussianMLPVAE', 'HierarchicalVAE', 'MLPVAE', 'MeanReductionVAE', 'VQVAE'",
    ):
        build_model("Nope")
