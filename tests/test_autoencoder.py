"""The chapter 12 autoencoder: a deterministic code, the reconstruction term alone, and the
rest of the package (fit, encode_means, decode_paths, checkpoints) working on it."""

import math

import pytest
import torch

from vae_course.device import seed_everything
from vae_course.inference import encode_means
from vae_course.interpolation import decode_paths
from vae_course.losses import gaussian_kl
from vae_course.models import MLPVAE, Autoencoder, build_model, fit_code_gaussian, reparameterize
from vae_course.train import fit, load_checkpoint, save_checkpoint


def _linears(module):
    return [
        (m.in_features, m.out_features) for m in module.modules() if isinstance(m, torch.nn.Linear)
    ]


def test_default_is_the_mlp_vae_with_a_point_code():
    """The VAE's layers, except that the encoder ends in D = 20 outputs, not (μ, log σ²)."""
    vae = _linears(MLPVAE())
    ae = _linears(Autoencoder())
    assert ae == [(784, 512), (512, 256), (256, 20), (20, 256), (256, 512), (512, 784)]
    assert ae[:2] == vae[:2] and ae[3:] == vae[3:] and vae[2] == (256, 40)
    assert _linears(Autoencoder(latent_dim=3, hidden_dims=(400,))) == [
        (784, 400),
        (400, 3),
        (3, 400),
        (400, 784),
    ]


def test_shapes_and_the_point_mass_code():
    model = Autoencoder(latent_dim=6, hidden_dims=(32,))
    x = torch.rand(5, 1, 28, 28)
    z, logvar = model.encode(x)
    assert z.shape == logvar.shape == (5, 6)
    assert torch.isneginf(logvar).all()
    torch.testing.assert_close(model.encode(x.reshape(5, 784))[0], z)  # flat input works
    assert model.decode(z).shape == (5, 1, 28, 28)
    # σ = 0: a "sample" of q(z|x) is z itself, and the KL to N(0, I) is infinite
    assert torch.equal(reparameterize(z, logvar), z)
    assert torch.isposinf(gaussian_kl(z, logvar)).all()
    r = model.reconstruct(x)
    torch.testing.assert_close(r, torch.sigmoid(model.decode(z)))
    assert r.shape == x.shape and 0 <= r.min() and r.max() <= 1


def test_encode_is_deterministic_in_train_mode_too():
    model = Autoencoder(latent_dim=4, hidden_dims=(16,)).train()
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(model.encode(x)[0], model.encode(x)[0])
    assert torch.equal(model(x)["x_logits"], model(x)["x_logits"])
    model.eval()
    assert torch.equal(model.encode(x)[0], model(x)["z"])


def test_reconstruction_is_the_bernoulli_log_prob_summed_over_pixels():
    model = Autoencoder(latent_dim=4, hidden_dims=(16,))
    x = torch.bernoulli(torch.rand(6, 1, 28, 28))
    terms = model.loss(x)
    assert set(terms) == {"loss", "reconstruction"}  # no ELBO, no KL: an AE has neither
    logits = model.decode(model.encode(x)[0])
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(dim=(1, 2, 3))
    torch.testing.assert_close(terms["reconstruction"], expected)
    torch.testing.assert_close(terms["loss"], -expected.mean())
    assert terms["reconstruction"].shape == (6,) and (terms["reconstruction"] < 0).all()


def test_loss_ignores_beta_and_free_bits():
    model = Autoencoder(latent_dim=4, hidden_dims=(16,))
    x = torch.rand(4, 784)
    plain = model.loss(x)["loss"]
    torch.testing.assert_close(model.loss(x, beta=7.0, free_bits=2.0, labels=None)["loss"], plain)


def test_fit_trains_it_and_logs_reconstruction_only(mnist):
    x = mnist.x_train[:600]
    seed_everything(0)
    model = Autoencoder(latent_dim=8, hidden_dims=(128,))
    h = fit(model, x[:500], x[500:], epochs=4, batch_size=50, progress=False, device="cpu")
    assert {k for k in h if k.startswith(("train_", "val_"))} == {
        "train_loss",
        "train_reconstruction",
        "val_loss",
        "val_reconstruction",
    }
    loss = h["train_loss"]
    assert all(b < a for a, b in zip(loss, loss[1:], strict=False)), loss
    assert loss[-1] < 0.6 * loss[0], loss
    # loss = −reconstruction (there is nothing else in it)
    torch.testing.assert_close(
        torch.tensor(h["val_loss"]), -torch.tensor(h["val_reconstruction"]), rtol=1e-6, atol=0
    )


def test_decode_paths_and_encode_means_work_on_it():
    model = Autoencoder(latent_dim=5, hidden_dims=(32,))
    x = torch.rand(6, 1, 28, 28)
    z, logvar = encode_means(model, x, batch_size=4)
    assert torch.equal(z, model.encode(x)[0]) and torch.isneginf(logvar).all()
    paths = decode_paths(model, x[:3], x[3:], steps=5)
    assert paths.shape == (3, 5, 1, 28, 28)
    torch.testing.assert_close(paths[:, 0], model.reconstruct(x[:3]))
    torch.testing.assert_close(paths[:, -1], model.reconstruct(x[3:]))


def test_sample_says_there_is_no_prior():
    with pytest.raises(NotImplementedError, match="no prior p\\(z\\).*sample_from_code_gaussian"):
        Autoencoder().sample(4)


def test_fit_code_gaussian_is_the_sample_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    a = torch.tensor([[2.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, -1.0, 0.3]])
    codes = torch.randn(2000, 3, generator=g) @ a.T + torch.tensor([1.0, -2.0, 0.5])
    mean, chol = fit_code_gaussian(codes)
    c = codes.double()
    torch.testing.assert_close(mean, c.mean(0))
    centred = c - c.mean(0)
    cov = centred.T @ centred / (len(c) - 1)  # the unbiased covariance, written out
    torch.testing.assert_close(chol @ chol.T, cov + 1e-5 * torch.eye(3, dtype=torch.float64))
    # a code dimension that never moves still gives a valid factor (the jitter)
    flat = torch.cat([codes[:, :2], torch.zeros(2000, 1)], dim=1)
    assert torch.isfinite(fit_code_gaussian(flat)[1]).all()
    with pytest.raises(ValueError, match="at least 2 codes"):
        fit_code_gaussian(codes[:1])
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        fit_code_gaussian(codes[0])


def test_sample_from_code_gaussian_is_seeded_and_shaped():
    model = Autoencoder(latent_dim=3, hidden_dims=(16,))
    codes = model.encode(torch.rand(50, 1, 28, 28))[0].detach()
    a = model.sample_from_code_gaussian(4, codes, generator=torch.Generator().manual_seed(3))
    b = model.sample_from_code_gaussian(4, codes, generator=torch.Generator().manual_seed(3))
    assert a.shape == (4, 1, 28, 28) and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1
    # temperature 0 decodes the codes' mean
    mean_image = torch.sigmoid(model.decode(codes.double().mean(0, keepdim=True).float()))
    torch.testing.assert_close(
        model.sample_from_code_gaussian(1, codes, temperature=0.0), mean_image
    )
    with pytest.raises(ValueError, match=r"codes must be \(N, 3\)"):
        model.sample_from_code_gaussian(4, codes[:, :2])


def test_checkpoint_and_build_model_round_trip(tmp_path):
    model = Autoencoder(latent_dim=4, hidden_dims=(16,))
    path = save_checkpoint(tmp_path / "ae.ckpt", model)
    ck = load_checkpoint(path)
    assert ck["model_name"] == "Autoencoder"
    twin = build_model(ck["model_name"], **ck["config"])
    load_checkpoint(path, twin)
    x = torch.rand(3, 784)
    torch.testing.assert_close(twin.encode(x)[0], model.encode(x)[0])


def test_bad_input_is_rejected_with_what_was_expected():
    model = Autoencoder()
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\) or \(B, 784\)"):
        model.encode(torch.rand(4, 1, 32, 32))
    with pytest.raises(ValueError, match="float"):
        model.encode(torch.randint(0, 255, (2, 1, 28, 28)))
    with pytest.raises(ValueError, match=r"\(B, 20\)"):
        model.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="divide pixel values by 255"):
        model.loss(torch.rand(2, 784) * 255)
    with pytest.raises(ValueError, match="latent_dim"):
        Autoencoder(latent_dim=0)
    assert math.isinf(model.encode(torch.rand(1, 784))[1][0, 0].item())
