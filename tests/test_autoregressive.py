"""AutoregressiveVAE (chapter 10's collapse-prone model): its decoder is a proper
autoregressive density over binary pixels, tested against its defining properties."""

import itertools
import math

import pytest
import torch

from vae_course.metrics import elbo_estimate, iwae_log_likelihood
from vae_course.models import MODELS, AutoregressiveVAE, MaskedLinear, build_model


def small(autoregressive=True, d=3):
    torch.manual_seed(0)
    m = AutoregressiveVAE(
        latent_dim=d, hidden_dims=(8,), autoregressive=autoregressive, image_shape=(1, 2, 3)
    )
    with torch.no_grad():  # make the autoregressive weights matter
        if m.pixels is not None:
            m.pixels.weight.normal_(0, 2.0)
    return m


def test_masked_linear_output_i_depends_only_on_earlier_inputs():
    torch.manual_seed(0)
    layer = MaskedLinear(6)
    with torch.no_grad():
        layer.weight.normal_()  # even after the weights are overwritten
    jac = torch.autograd.functional.jacobian(layer, torch.randn(1, 6))[0, :, 0, :]  # (out, in)
    below = torch.tril(torch.ones(6, 6), diagonal=-1).bool()
    assert bool((jac[~below] == 0).all()) and bool((jac[below] != 0).all())


def test_logit_of_each_pixel_sees_z_and_only_the_pixels_before_it():
    m = small()
    z = torch.randn(1, 3)
    x = torch.bernoulli(torch.full((1, 1, 2, 3), 0.5))
    jac = torch.autograd.functional.jacobian(lambda x_: m.decode(z, x_), x)
    jac = jac.reshape(6, 6)  # d logit_i / d x_j
    below = torch.tril(torch.ones(6, 6), diagonal=-1).bool()
    assert bool((jac[~below] == 0).all()) and bool((jac[below] != 0).all())
    jz = torch.autograd.functional.jacobian(lambda z_: m.decode(z_, x), z).reshape(6, 3)
    assert bool((jz.abs().sum(1) > 0).all())  # every pixel hears the code


def test_likelihood_sums_to_one_over_all_binary_images():
    m = small()
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6))).reshape(64, 1, 2, 3)
    for _ in range(3):
        z = torch.randn(1, 3).expand(64, 3)
        logits = m.decode(z, images)
        log_p = (
            -torch.nn.functional.binary_cross_entropy_with_logits(logits, images, reduction="none")
            .flatten(1)
            .sum(1)
        )
        assert float(torch.logsumexp(log_p, 0).detach()) == pytest.approx(0.0, abs=1e-5)


def test_sampling_draws_from_the_same_conditionals():
    m = small()
    z = torch.randn(1, 3)
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6))).reshape(64, 1, 2, 3)
    logits = m.decode(z.expand(64, 3), images)
    p = torch.exp(
        -torch.nn.functional.binary_cross_entropy_with_logits(logits, images, reduction="none")
        .flatten(1)
        .sum(1)
    )
    torch.manual_seed(1)
    n = 20000
    draws = m.sample(n, z=z.expand(n, 3)).reshape(n, 6)
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    index = (draws * torch.tensor([32.0, 16, 8, 4, 2, 1])).sum(1).long()
    freq = torch.bincount(index, minlength=64).double() / n
    se = torch.sqrt(p.double() * (1 - p.double()) / n)
    assert bool(((freq - p.double()).abs() <= 5 * se + 1e-4).all())


def test_without_the_autoregressive_term_it_is_an_mlp_vae():
    m = small(autoregressive=False)
    assert m.pixels is None
    z = torch.randn(4, 3)
    torch.testing.assert_close(m.decode(z), m.decoder(z).reshape(4, 1, 2, 3))
    assert m.sample(5).shape == (5, 1, 2, 3)
    with pytest.raises(ValueError, match="needs the pixels"):
        small().decode(z)


def test_elbo_iwae_and_checkpoint_config():
    torch.manual_seed(0)
    m = AutoregressiveVAE(latent_dim=4, hidden_dims=(16,))
    x = torch.bernoulli(torch.full((20, 1, 28, 28), 0.3))
    t = m.loss(x)
    torch.testing.assert_close(t["elbo"], t["reconstruction"] - t["kl"])
    # E_q[log w] is the ELBO: a Monte Carlo mean of log w against the closed-form-KL ELBO
    with torch.no_grad():
        w = m.log_importance_weights(x, k=400)
        e = torch.stack([m.loss(x)["elbo"] for _ in range(100)]).mean()
    se = float(w.std()) / math.sqrt(w.numel())
    assert float(w.mean()) == pytest.approx(float(e), abs=5 * se + 0.05)
    e = elbo_estimate(m, x)
    iw = iwae_log_likelihood(m, x, k=50)
    assert iw >= e["elbo"] - 1.0 and math.isfinite(iw)
    assert MODELS["AutoregressiveVAE"] is AutoregressiveVAE
    rebuilt = build_model("AutoregressiveVAE", **m.config)
    rebuilt.load_state_dict(m.state_dict())
    torch.testing.assert_close(
        rebuilt.decode(torch.ones(2, 4), x[:2]), m.decode(torch.ones(2, 4), x[:2])
    )


def test_bad_input_is_refused():
    m = small()
    with pytest.raises(ValueError, match=r"expected z of shape \(B, 3\)"):
        m.decode(torch.zeros(2, 4), torch.zeros(2, 1, 2, 3))
    with pytest.raises(ValueError, match="z has 2 rows but x has 3"):
        m.decode(torch.zeros(2, 3), torch.zeros(3, 1, 2, 3))
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        AutoregressiveVAE(latent_dim=0)
