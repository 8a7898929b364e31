"""ConditionalVAE: shapes, the label on both sides, the conditional ELBO against its parts,
clear errors for bad labels, training through fit, checkpoints, sampling and style transfer."""

from __future__ import annotations

import pytest
import torch

from vae_course.losses import bernoulli_log_likelihood, gaussian_kl
from vae_course.models import ConditionalVAE, build_model, one_hot_labels
from vae_course.train import fit, load_checkpoint, save_checkpoint


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 1, 28, 28, generator=g) < 0.3).float()
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y


def test_shapes_and_named_terms():
    model = ConditionalVAE(latent_dim=4, hidden_dims=(32,))
    x, y = _data(8)
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (8, 4)
    assert model.decode(mu, y).shape == (8, 1, 28, 28)
    terms = model.loss(x, labels=y)
    assert terms["loss"].dim() == 0 and terms["kl"].shape == terms["reconstruction"].shape == (8,)
    torch.testing.assert_close(terms["elbo"], terms["reconstruction"] - terms["kl"])
    assert model.sample(5, labels=3).shape == (5, 1, 28, 28)
    assert model.sample(3, labels=torch.tensor([0, 1, 2])).shape == (3, 1, 28, 28)


def test_loss_is_the_conditional_elbo_of_its_parts():
    model = ConditionalVAE(latent_dim=3, hidden_dims=(16,))
    x, y = _data(6, seed=1)
    torch.manual_seed(5)
    terms = model.loss(x, labels=y)
    torch.manual_seed(5)
    mu, logvar = model.encode(x, y)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    rec = bernoulli_log_likelihood(x, model.decode(z, y))
    kl = gaussian_kl(mu, logvar)
    torch.testing.assert_close(terms["reconstruction"], rec)
    torch.testing.assert_close(terms["kl"], kl)
    torch.testing.assert_close(terms["loss"], (kl - rec).mean())


def test_the_label_reaches_both_networks():
    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=3, hidden_dims=(16,))
    x, _ = _data(4)
    z = torch.randn(4, 3)
    assert not torch.allclose(model.decode(z, 0), model.decode(z, 7))
    assert not torch.allclose(model.encode(x, 0)[0], model.encode(x, 7)[0])
    # one-hot concatenation: the first layer's input is 784 pixels + 10 classes
    assert model.encoder[0][0].in_features == 784 + 10
    assert model.decoder[0].in_features == 3 + 10


@pytest.mark.parametrize(
    "labels, message",
    [
        (None, "needs labels"),
        (torch.tensor([0, 1, 2]), "4 images but 3 labels"),
        (torch.tensor([0, 1, 2, 10]), r"\[0, 10\)"),
        (torch.tensor([0, -1, 2, 3]), r"\[0, 10\)"),
        (torch.tensor([0.0, 1.0, 2.0, 3.0]), "integers"),
        (torch.zeros(4, 1, dtype=torch.long), r"shape \(B,\)"),
    ],
    ids=["missing", "count", "too-large", "negative", "float", "2-D"],
)
def test_bad_labels_get_a_clear_error(labels, message):
    model = ConditionalVAE(latent_dim=2, hidden_dims=(8,))
    x, _ = _data(4)
    with pytest.raises(ValueError, match=message):
        model.loss(x, labels=labels)


def test_one_hot_labels():
    torch.testing.assert_close(
        one_hot_labels(torch.tensor([2, 0]), 3), torch.tensor([[0.0, 0, 1], [1, 0, 0]])
    )
    assert one_hot_labels(4, 5, batch=2).argmax(1).tolist() == [4, 4]


def test_fit_trains_it_with_labels_and_the_checkpoint_round_trips(tmp_path):
    x, y = _data(256, seed=2)
    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=4, hidden_dims=(64,))
    hist = fit(model, (x, y), epochs=4, batch_size=32, progress=False, device="cpu")
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    path = tmp_path / "cvae.pt"
    save_checkpoint(path, model)
    ck = load_checkpoint(path)
    again = build_model(ck["model_name"], **ck["config"])
    load_checkpoint(path, again)
    assert isinstance(again, ConditionalVAE) and again.config == model.config
    torch.testing.assert_close(again.reconstruct(x[:5], y[:5]), model.reconstruct(x[:5], y[:5]))


def test_transfer_keeps_z_and_changes_the_label():
    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=3, hidden_dims=(16,))
    x, y = _data(5)
    torch.testing.assert_close(model.transfer(x, y, y), model.reconstruct(x, y))
    mu, _ = model.encode(x, y)
    torch.testing.assert_close(model.transfer(x, y, 4), torch.sigmoid(model.decode(mu, 4)))


def test_analogy_grid_rows_are_the_digit_then_its_z_in_every_class():
    from vae_course.models import analogy_grid

    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=3, hidden_dims=(16,))
    x, y = _data(2)
    grid = analogy_grid(model, x, y)
    assert grid.shape == (2 * 11, 1, 28, 28)
    torch.testing.assert_close(grid[0], x[0])
    torch.testing.assert_close(grid[11], x[1])
    torch.testing.assert_close(grid[1 + 7], model.transfer(x[:1], y[:1], 7)[0])
    torch.testing.assert_close(grid[11 + 1 + 3], model.transfer(x[1:2], y[1:2], 3)[0])


# ------------------------------------------------------------------ likelihood bounds with labels
def _iwae_reference(model, x, y, k, chunk):
    """log (1/k) Σ p(x, z_i | y) / q(z_i | x, y) from torch.distributions; eps drawn in
    chunks of (chunk, B, D), in the order iwae_bound draws them, so both see the same z."""
    from torch.distributions import Bernoulli, Normal

    mu, logvar = model.encode(x, y)
    std = torch.exp(0.5 * logvar)
    eps = torch.cat([torch.randn((min(chunk, k - s), *mu.shape)) for s in range(0, k, chunk)])
    z = mu + std * eps
    log_w = []
    for i in range(k):
        logits = model.decode(z[i], y).reshape(x.shape[0], -1)
        log_px = Bernoulli(logits=logits).log_prob(x.reshape(x.shape[0], -1)).sum(-1)
        log_pz = Normal(0.0, 1.0).log_prob(z[i]).sum(-1)
        log_qz = Normal(mu, std).log_prob(z[i]).sum(-1)
        log_w.append(log_px + log_pz - log_qz)
    return torch.logsumexp(torch.stack(log_w), 0) - torch.log(torch.tensor(float(k)))


@pytest.mark.parametrize("k, chunk", [(1, 50), (7, 3), (20, 20)])
def test_iwae_bound_with_labels_matches_torch_distributions(k, chunk):
    from vae_course.losses import iwae_bound

    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=3, hidden_dims=(16,))
    x, y = _data(5, seed=2)
    assert len(set(y.tolist())) > 1  # a misaligned label would change the answer
    with torch.no_grad():
        torch.manual_seed(11)
        got = iwae_bound(model, x, k=k, chunk=chunk, labels=y)
        torch.manual_seed(11)
        want = _iwae_reference(model, x, y, k, chunk)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)


def test_conditional_iwae_1_is_the_conditional_elbo_in_expectation():
    """Mean of many IWAE_1 draws vs the ELBO (analytic KL, reconstruction averaged over the
    same number of draws), within 4 standard errors of the IWAE_1 mean."""
    from vae_course.losses import iwae_bound
    from vae_course.metrics import elbo_estimate

    torch.manual_seed(1)
    model = ConditionalVAE(latent_dim=2, hidden_dims=(16,))
    x, y = _data(4, seed=3)
    with torch.no_grad():
        draws = torch.stack([iwae_bound(model, x, k=1, labels=y) for _ in range(2000)])
        elbos = [elbo_estimate(model, x, labels=y)["elbo"] for _ in range(500)]
    iwae1 = draws.mean(1)  # mean over the 4 digits, per draw
    se = float(iwae1.std() / len(iwae1) ** 0.5) + float(torch.tensor(elbos).std() / 500**0.5)
    assert abs(float(iwae1.mean()) - sum(elbos) / len(elbos)) < 4 * se


def test_metrics_take_labels_and_tighten_with_k():
    from vae_course.metrics import elbo_estimate, iwae_log_likelihood

    model = ConditionalVAE(latent_dim=4, hidden_dims=(32,))
    x, y = _data(64, seed=4)
    fit(model, (x, y), epochs=2, batch_size=16, progress=False, device="cpu")
    torch.manual_seed(0)
    e = elbo_estimate(model, x, labels=y)
    l50 = iwae_log_likelihood(model, x, k=50, batch_size=16, labels=y)
    assert set(e) == {"elbo", "reconstruction", "kl"} and e["kl"] > 0
    assert l50 > e["elbo"]  # a tighter bound on log p(x|y), by far more than its noise here
    with pytest.raises(ValueError, match=r"expected one label per image, labels of shape \(64,\)"):
        iwae_log_likelihood(model, x, k=2, labels=y[:10])
    with pytest.raises(ValueError, match="one label per image"):
        elbo_estimate(model, x, labels=y[:, None])
