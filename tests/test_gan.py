"""The chapter 12 GAN: its two losses against independent references, the JSD identity at
the optimal discriminator, and a training loop that is seeded, logs what it says, and learns."""

import math

import pytest
import torch
import torch.nn.functional as F

from vae_course.device import seed_everything
from vae_course.models import GAN, build_model, discriminator_loss, generator_loss, train_gan
from vae_course.train import TrainingDiverged


def _logits(*shape):
    """float64 logits from moderate to extreme (±40), where a naive log(sigmoid) fails."""
    t = torch.randn(*shape, dtype=torch.float64) * 4
    t.view(-1)[:2] = torch.tensor([40.0, -40.0], dtype=torch.float64)
    return t


# ----------------------------------------------------------------------------- the losses
def test_losses_equal_the_binary_cross_entropy_forms():
    real, fake = _logits(7), _logits(5)  # batch sizes may differ
    bce = F.binary_cross_entropy_with_logits
    d_ref = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
    torch.testing.assert_close(discriminator_loss(real, fake), d_ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(
        generator_loss(fake), bce(fake, torch.ones_like(fake)), rtol=1e-12, atol=0
    )
    # (B, 1) logits, as an nn.Linear(…, 1) returns them, give the same numbers
    torch.testing.assert_close(discriminator_loss(real[:, None], fake[:, None]), d_ref)


def test_losses_equal_the_bernoulli_log_prob_forms():
    """Label 1 = real: D's loss is −log p(1 | real) − log p(0 | fake), G's is −log p(1 | fake)."""
    real, fake = _logits(6), _logits(9)
    bern = torch.distributions.Bernoulli
    d_ref = (
        -bern(logits=real).log_prob(torch.ones_like(real)).mean()
        - bern(logits=fake).log_prob(torch.zeros_like(fake)).mean()
    )
    g_ref = -bern(logits=fake).log_prob(torch.ones_like(fake)).mean()
    torch.testing.assert_close(discriminator_loss(real, fake), d_ref, rtol=1e-12, atol=0)
    torch.testing.assert_close(generator_loss(fake), g_ref, rtol=1e-12, atol=0)


def test_losses_equal_minus_log_d_written_out_where_that_is_safe():
    real = torch.tensor([-3.0, 0.0, 2.5], dtype=torch.float64)
    fake = torch.tensor([1.0, -2.0], dtype=torch.float64)
    d = torch.sigmoid
    expected_d = -torch.log(d(real)).mean() - torch.log(1 - d(fake)).mean()
    torch.testing.assert_close(discriminator_loss(real, fake), expected_d)
    torch.testing.assert_close(generator_loss(fake), -torch.log(d(fake)).mean())
    # extreme logits stay finite and exact: −log σ(−40) = 40 + log(1 + e⁻⁴⁰)
    big = torch.tensor([-40.0], dtype=torch.float64)
    torch.testing.assert_close(generator_loss(big), torch.tensor(40.0, dtype=torch.float64))


def _jsd(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon divergence in nats, as H(m) − (H(p) + H(q)) / 2 with m = (p + q) / 2."""

    def entropy(r):
        return -(torch.xlogy(r, r)).sum()

    return entropy((p + q) / 2) - (entropy(p) + entropy(q)) / 2


def _batches(counts_p, counts_q):
    """Points 0..K-1 repeated by counts: a 'real' and a 'fake' batch with exactly p and q."""
    real_idx = torch.repeat_interleave(torch.arange(len(counts_p)), torch.tensor(counts_p))
    fake_idx = torch.repeat_interleave(torch.arange(len(counts_q)), torch.tensor(counts_q))
    return real_idx, fake_idx


@pytest.mark.parametrize(
    "counts_p, counts_q",
    [([4, 2, 2], [1, 3, 4]), ([1, 1, 1, 1], [1, 1, 1, 1]), ([5, 2, 1, 0], [0, 1, 3, 4])],
)
def test_at_the_optimal_discriminator_the_loss_is_2log2_minus_2jsd(counts_p, counts_q):
    """D*(x) = p(x) / (p(x) + q(x)), i.e. logit log p/q: loss = 2·log 2 − 2·JSD(p ‖ q)."""
    real_idx, fake_idx = _batches(counts_p, counts_q)
    p = torch.tensor(counts_p, dtype=torch.float64) / sum(counts_p)
    q = torch.tensor(counts_q, dtype=torch.float64) / sum(counts_q)
    both = (p > 0) & (q > 0)
    # log p/q where both are positive; where only one is, D* is 1 or 0 (a large logit)
    l_star = torch.where(both, torch.log(p / q.clamp_min(1e-300)), 60.0 * torch.sign(p - q))
    l_star = l_star.clone().requires_grad_(True)
    loss = discriminator_loss(l_star[real_idx], l_star[fake_idx])
    expected = 2 * math.log(2) - 2 * _jsd(p, q)
    torch.testing.assert_close(loss.detach(), expected, rtol=0, atol=1e-12)
    # D* is a minimum: zero gradient in every point's logit, and any other D does worse
    (grad,) = torch.autograd.grad(loss, l_star)
    torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-12)
    other = l_star.detach() + torch.tensor([0.3, -0.2, 0.1, 0.2][: len(counts_p)])
    assert discriminator_loss(other[real_idx], other[fake_idx]) > loss


def test_disjoint_supports_give_a_perfect_discriminator_and_zero_loss():
    """JSD = log 2 for disjoint p and q, so the loss at D* is 0: D wins completely."""
    real_idx, fake_idx = _batches([3, 0], [0, 3])
    l_star = torch.tensor([60.0, -60.0], dtype=torch.float64)
    assert discriminator_loss(l_star[real_idx], l_star[fake_idx]) < 1e-20
    p, q = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    torch.testing.assert_close(_jsd(p, q), torch.tensor(math.log(2)))


def test_the_non_saturating_generator_loss_keeps_its_gradient_when_d_rejects_g():
    """Where D(G(z)) ≈ 0, d/dl of −log D is ≈ −1, while that of log(1 − D) is ≈ 0."""
    fake = torch.tensor([-12.0], dtype=torch.float64, requires_grad=True)
    (g_ns,) = torch.autograd.grad(generator_loss(fake), fake)
    (g_sat,) = torch.autograd.grad(-F.softplus(fake).mean(), fake)  # log(1 − σ(l)) = −softplus(l)
    assert g_ns.item() < -0.999 and abs(g_sat.item()) < 1e-5


def test_losses_reject_what_is_not_logits():
    with pytest.raises(ValueError, match="real_logits must be a float tensor"):
        discriminator_loss(torch.tensor([1, 0]), torch.zeros(2))
    with pytest.raises(ValueError, match="fake_logits is empty"):
        discriminator_loss(torch.zeros(2), torch.zeros(0))
    with pytest.raises(ValueError, match="fake_logits must be a float tensor"):
        generator_loss([0.5])


# ----------------------------------------------------------------------------- the model
def _linears(module):
    return [
        (m.in_features, m.out_features) for m in module.modules() if isinstance(m, torch.nn.Linear)
    ]


def test_default_architecture():
    gan = GAN()
    assert _linears(gan.generator) == [(20, 256), (256, 512), (512, 784)]
    assert _linears(gan.discriminator) == [(784, 512), (512, 256), (256, 1)]
    slopes = [m.negative_slope for m in gan.discriminator if isinstance(m, torch.nn.LeakyReLU)]
    assert slopes == [0.2, 0.2]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in gan.generator) == 2
    assert not any(
        isinstance(m, torch.nn.BatchNorm1d) for m in GAN(generator_batch_norm=False).modules()
    )


def test_shapes_sample_and_build_model_round_trip():
    gan = GAN(latent_dim=6, generator_dims=(32,), discriminator_dims=(16,))
    z = torch.randn(5, 6)
    assert gan.decode(z).shape == (5, 1, 28, 28)
    x = torch.rand(5, 1, 28, 28)
    assert gan.discriminate(x).shape == (5,)
    torch.testing.assert_close(gan.discriminate(x.reshape(5, 784)), gan.discriminate(x))
    gan.train()
    s = gan.sample(3)
    assert s.shape == (3, 1, 28, 28) and 0 <= s.min() and s.max() <= 1
    assert gan.training  # sample decodes in eval mode and restores the mode
    twin = build_model("GAN", **gan.config)
    twin.load_state_dict(gan.state_dict())
    gan.eval(), twin.eval()
    torch.testing.assert_close(twin.decode(z), gan.decode(z))
    torch.testing.assert_close(twin.discriminate(x), gan.discriminate(x))


def test_the_widgets_decode_a_gan_like_any_decoder():
    from vae_course.widgets.logic import decode_images

    gan = GAN(latent_dim=4, generator_dims=(16,), discriminator_dims=(16,))
    images = decode_images(gan, torch.zeros(1, 4))  # one code: needs eval-mode BatchNorm
    assert images.shape == (1, 28, 28)


def test_bad_input_is_rejected_with_what_was_expected():
    gan = GAN(latent_dim=4, generator_dims=(16,), discriminator_dims=(16,))
    x = torch.rand(8, 1, 28, 28)
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        gan.decode(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\) or \(B, 784\)"):
        gan.discriminate(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="divide by 255"):
        train_gan(gan, x * 255, epochs=1, device="cpu")
    with pytest.raises(ValueError, match="float"):
        train_gan(gan, (x * 255).to(torch.uint8), epochs=1, device="cpu")
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        train_gan(gan, torch.rand(8, 1, 32, 32), epochs=1, device="cpu")
    with pytest.raises(ValueError, match="NaN"):
        train_gan(gan, torch.full((8, 784), float("nan")), epochs=1, device="cpu")
    with pytest.raises(ValueError, match="at least 2 training images"):
        train_gan(gan, x[:1], epochs=1, device="cpu")
    with pytest.raises(ValueError, match="batch_size >= 2"):
        train_gan(gan, x, epochs=1, batch_size=1, device="cpu")
    with pytest.raises(ValueError, match="trains a vae_course.models.GAN"):
        train_gan(torch.nn.Linear(2, 2), x, epochs=1, device="cpu")
    with pytest.raises(ValueError, match="latent_dim"):
        GAN(latent_dim=0)


# ----------------------------------------------------------------------------- training
def _small_gan():
    return GAN(latent_dim=8, generator_dims=(64,), discriminator_dims=(64,))


def test_a_seeded_cpu_run_repeats_exactly(mnist):
    x = mnist.x_train[:96]

    def run(seed):
        seed_everything(0)  # the same initial weights
        gan = _small_gan()
        h = train_gan(gan, x, epochs=1, batch_size=32, seed=seed, device="cpu")
        return h, torch.cat([p.detach().flatten() for p in gan.parameters()])

    (h1, w1), (h2, w2), (h3, w3) = run(0), run(0), run(1)
    assert h3["d_loss"] != h1["d_loss"]
    assert torch.equal(w1, w2)
    assert {k: v for k, v in h1.items() if k != "seconds"} == {
        k: v for k, v in h2.items() if k != "seconds"
    }
    assert not torch.equal(w1, w3)  # the seed is used (batches and z)
    assert set(h1) == {"epoch", "d_loss", "g_loss", "d_real", "d_fake", "seconds"}


def test_history_logs_the_mean_d_of_the_images_it_trained_on(mnist):
    """With lr = 0 nothing moves, so the logged mean D(x) must equal D(x) computed directly;
    a last batch of one image sits out the epoch (33 = 2·16 + 1)."""
    x = mnist.x_train[:33]
    gan = _small_gan()
    with torch.no_grad():
        d_all = torch.sigmoid(gan.discriminate(x))
    h = train_gan(gan, x, epochs=1, batch_size=16, lr=0.0, device="cpu")
    # the 32 images that were used are the ones the seeded shuffle put first
    perm = torch.randperm(33, generator=seed_everything(0))
    torch.testing.assert_close(h["d_real"][0], d_all[perm[:32]].mean().item(), rtol=1e-6, atol=0)
    assert h["d_real"][0] != pytest.approx(d_all.mean().item(), rel=1e-6)


def test_training_separates_real_from_fake_and_moves_g_toward_the_data(mnist):
    """80 steps on 256 digits (seeds 0-2 give the same picture: ink gap 0.37 → 0.14, D's
    margin 0.36 → 0.85 → 0.52)."""
    x = mnist.x_train[:256]
    seed_everything(0)
    gan = _small_gan()
    torch.manual_seed(1)
    gap_before = (gan.sample(512).mean() - x.mean()).abs().item()
    h = train_gan(gan, x, epochs=10, batch_size=32, lr=1e-3, device="cpu")
    margin = [r - f for r, f in zip(h["d_real"], h["d_fake"], strict=True)]
    # D first learns to tell the digits from an untrained G's grey fog ...
    assert max(margin) > 0.6 and max(margin) > margin[0] + 0.3, margin
    # ... then G, chasing D, draws about as much ink as the digits (~0.13 of a pixel, vs ~0.5)
    torch.manual_seed(1)
    gap_after = (gan.sample(512).mean() - x.mean()).abs().item()
    assert gap_before > 0.3 and gap_after < 0.5 * gap_before, (gap_before, gap_after)
    # ... and D's margin shrinks again as G's images get harder to reject
    assert margin[-1] < max(margin) - 0.15, margin


def test_a_nan_discriminator_stops_training_with_the_epoch(mnist):
    gan = _small_gan()
    with torch.no_grad():
        gan.discriminator[0].weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="discriminator loss became nan at epoch 1, step 1"):
        train_gan(gan, mnist.x_train[:64], epochs=1, device="cpu")
