"""Chapter 12's comparison (AE, VAE, GAN), each formula against an independent reference: a
hand forward pass through the classifier's layers (F.conv2d, F.linear in float64), the FID
formula with numpy and scipy.linalg.sqrtm, scipy.stats.entropy, torch.distributions.Bernoulli,
closed forms on stub models whose codes and decoded images are set by hand (Bernoulli bits
and wrong pixels, code norms and spreads, equal steps along an affine decoder, one jump along
a step decoder), numpy Gaussians fitted to codes, the models trained directly with the
documented recipe, and hand-made results for the guide's rows and verdicts."""

import math
import re
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn
from torch.distributions import Bernoulli

from vae_course import comparison
from vae_course.classifier import confidence, train_digit_classifier
from vae_course.data import dynamic_binarize, load_mnist
from vae_course.diagnostics import sharpness
from vae_course.metrics import iwae_log_likelihood
from vae_course.models import GAN, MLPVAE, Autoencoder
from vae_course.models.gan import train_gan
from vae_course.scores import feature_statistics
from vae_course.train import fit

LN2 = math.log(2)
D = 4  # latent dimensions of the tiny test models


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: tiny models gain nothing from two, and on a busy two-core machine
    the second thread's spin-waits make training ten times slower. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _random_subset(x, y, n, seed=0):
    """n digits drawn at random (never the first n: the classes may be sorted)."""
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx], y[idx]


@pytest.fixture(scope="module")
def split():
    return load_mnist()  # grey levels in [0, 1]


@pytest.fixture(scope="module")
def train_digits(split):
    """300 random grey training digits and their labels."""
    return _random_subset(split.x_train, split.y_train, 300, seed=1)


@pytest.fixture(scope="module")
def test_grey(split):
    return _random_subset(split.x_test, split.y_test, 200, seed=2)[0]


@pytest.fixture(scope="module")
def test_binary(test_grey):
    """100 test digits binarized once with a seeded Bernoulli draw."""
    return torch.bernoulli(test_grey[:100], generator=torch.Generator().manual_seed(5))


@pytest.fixture(scope="module")
def classifier(train_digits):
    """The digit classifier after 20 updates: not accurate, but its confidences vary."""
    return train_digit_classifier(*train_digits, steps=20)


@pytest.fixture(scope="module")
def three(train_digits):
    """train_three for one epoch on 150 digits (the default 784-512-256 MLPs, D = 4)."""
    return comparison.train_three(train_digits[0][:150], epochs=1, latent_dim=D, device="cpu")


def _tiny_models(seed=0):
    torch.manual_seed(seed)
    return {
        "autoencoder": Autoencoder(latent_dim=D, hidden_dims=(32,)).eval(),
        "VAE": MLPVAE(latent_dim=D, hidden_dims=(32,)).eval(),
        "GAN": GAN(latent_dim=D, generator_dims=(32,), discriminator_dims=(32,)).eval(),
    }


def _hand_forward(clf, x):
    """The classifier layer by layer in float64: (features before the last Linear, logits)."""
    c1, c2, l1, l2 = clf.features[0], clf.features[3], clf.head[1], clf.head[3]
    with torch.no_grad():
        h = F.conv2d(x.double(), c1.weight.double(), c1.bias.double(), padding=2)
        h = F.max_pool2d(F.relu(h), 2)
        h = F.conv2d(h, c2.weight.double(), c2.bias.double(), padding=2)
        h = F.max_pool2d(F.relu(h), 2)
        f = F.relu(F.linear(h.flatten(1), l1.weight.double(), l1.bias.double()))
        return f, F.linear(f, l2.weight.double(), l2.bias.double())


def _hand_confidence(clf, x):
    return torch.softmax(_hand_forward(clf, x)[1], dim=1).amax(dim=1).numpy()


def _numpy_sharpness(images):
    """Mean of sqrt(dx² + dy²) over forward differences, by np.diff: (N,)."""
    a = images[:, 0].double().numpy()
    dx = np.diff(a, axis=2)[:, :-1, :]
    dy = np.diff(a, axis=1)[:, :, :-1]
    return np.sqrt(dx**2 + dy**2).mean(axis=(1, 2))


def _scipy_frechet(f1, f2):
    """FID's formula with numpy moments and scipy.linalg.sqrtm (as in pytorch-fid)."""
    m1, m2 = f1.mean(0), f2.mean(0)
    c1, c2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "matrix is singular": dead ReLU units
        root = scipy.linalg.sqrtm(c1 @ c2)
    assert np.abs(np.imag(root)).max() < 1e-6 * np.trace(c1)
    return float(((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * np.real(root)))


def _threshold_between(values):
    """A threshold halfway between two neighbouring sorted values near the median (with a
    clear gap, so float32 rounding cannot move a value across it) and the share above it."""
    s = np.sort(values)
    k = len(s) // 2
    while s[k + 1] - s[k] < 1e-4:
        k += 1
    return float((s[k] + s[k + 1]) / 2), (len(s) - k - 1) / len(s)


# =============================================================================== features
def test_features_are_the_activations_before_the_last_linear_layer(classifier, train_digits):
    x = train_digits[0][:50]
    classifier.train()  # features switches to eval mode and back
    try:
        f = comparison.features(classifier, x)
        assert classifier.training
    finally:
        classifier.eval()
    assert f.shape == (50, 128) and f.dtype == torch.float64 and f.device.type == "cpu"
    hand_f, hand_logits = _hand_forward(classifier, x)
    torch.testing.assert_close(f, hand_f, rtol=1e-4, atol=1e-5)
    assert (f == 0).any() and (f > 0).any()  # after the ReLU, and not all dead
    last = classifier.head[-1]
    logits = f @ last.weight.double().T + last.bias.double()
    torch.testing.assert_close(logits, hand_logits, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(logits, classifier(x).double(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        comparison.features(classifier, x, batch_size=7), f, rtol=1e-5, atol=1e-5
    )


# ========================================================================= sample quality
def test_sample_quality_against_scipy_frechet_and_hand_scores(classifier, train_digits, test_grey):
    images = train_digits[0][:150]
    f_img, logits = (t.numpy() for t in _hand_forward(classifier, images))
    f_ref = _hand_forward(classifier, test_grey)[0].numpy()
    reference = (torch.tensor(f_ref.mean(0)), torch.tensor(np.cov(f_ref, rowvar=False)))
    conf = torch.softmax(torch.tensor(logits), dim=1).amax(dim=1).numpy()
    threshold, share = _threshold_between(conf)
    q = comparison.sample_quality(images, classifier, reference, confident=threshold)
    assert set(q) == {
        "frechet",
        "confidence",
        "confident_share",
        "class_entropy",
        "largest_class",
        "sharpness",
    }
    expected = _scipy_frechet(f_img, f_ref)
    assert expected > 1
    assert q["frechet"] == pytest.approx(expected, rel=1e-5)
    assert q["confidence"] == pytest.approx(conf.mean(), rel=1e-5)
    assert 0 < share < 1
    assert q["confident_share"] == pytest.approx(share, abs=1e-12)
    # a threshold equal to the highest confidence counts that one image (≥, not >)
    top = confidence(classifier, images)
    assert int((top == top.max()).sum()) == 1
    at_top = comparison.sample_quality(images, classifier, reference, confident=float(top.max()))
    assert at_top["confident_share"] == pytest.approx(1 / len(images), abs=1e-15)
    counts = np.bincount(logits.argmax(1), minlength=10)
    assert q["class_entropy"] == pytest.approx(stats.entropy(counts, base=2), rel=1e-9)
    assert q["largest_class"] == pytest.approx(counts.max() / len(images), abs=1e-12)
    assert q["sharpness"] == pytest.approx(_numpy_sharpness(images).mean(), rel=1e-5)
    assert q["sharpness"] == pytest.approx(float(sharpness(images).mean()), rel=1e-6)


def test_frechet_of_the_reference_set_itself_is_zero(classifier, test_grey):
    reference = feature_statistics(comparison.features(classifier, test_grey))
    q = comparison.sample_quality(test_grey, classifier, reference)
    scale = float(reference[1].trace())
    assert scale > 1
    assert 0 <= q["frechet"] < 1e-6 * scale


@pytest.mark.parametrize(
    "labels",
    [
        list(range(10)) * 3,  # balanced: log₂ 10 bits, largest class 1/10
        [7] * 12,  # one class: 0 bits, largest class 1
        [0, 0, 0, 1],
        [2, 2, 5, 5, 5, 9],
    ],
)
def test_class_entropy_and_largest_class_of_given_predictions(monkeypatch, classifier, labels):
    labels = torch.tensor(labels)
    monkeypatch.setattr(comparison, "predict", lambda clf, x: labels.clone())
    images = torch.rand(len(labels), 1, 28, 28, generator=torch.Generator().manual_seed(0))
    reference = (torch.zeros(128, dtype=torch.float64), torch.eye(128, dtype=torch.float64))
    q = comparison.sample_quality(images, classifier, reference)
    counts = np.bincount(labels.numpy(), minlength=10)
    expected = stats.entropy(counts, base=2)
    assert q["class_entropy"] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert math.copysign(1.0, q["class_entropy"]) == 1.0  # never −0.0
    assert q["largest_class"] == pytest.approx(counts.max() / len(labels), abs=1e-15)
    if len(set(labels.tolist())) == 10:
        assert q["class_entropy"] == pytest.approx(math.log2(10), rel=1e-12)
        assert q["largest_class"] == pytest.approx(0.1, rel=1e-12)
    if len(set(labels.tolist())) == 1:
        assert q["class_entropy"] == 0.0 and q["largest_class"] == 1.0


def test_sample_quality_needs_two_images(classifier, test_grey):
    reference = (torch.zeros(128, dtype=torch.float64), torch.eye(128, dtype=torch.float64))
    with pytest.raises(ValueError, match="at least 2"):
        comparison.sample_quality(test_grey[:1], classifier, reference)


# ================================================================== reconstruction quality
class _FixedDecoder(nn.Module):
    """Every code decodes to the same logits: +2 on pixels 0–9 of the top row, −2 elsewhere."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        logits = torch.full((1, 1, 28, 28), -2.0)
        logits[0, 0, 0, :10] = 2.0
        self.register_buffer("logits", logits)

    def encode(self, x):
        return torch.zeros(len(x), 1), torch.zeros(len(x), 1)

    def decode(self, z):
        return self.logits.expand(len(z), 1, 28, 28).clone()


def test_reconstruction_quality_hand_example():
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, 0, 5:15] = 1  # pixels 0–4 and 10–14 are wrong: 10 pixels
    x[1, 0, 0, :10] = 1  # exactly the decoded ink: none wrong
    r = comparison.reconstruction_quality(_FixedDecoder(), x)
    # a right pixel costs log(1 + e⁻²) nats, a wrong one log(1 + e²)
    nats = 10 * math.log1p(math.exp(2)) + (2 * 784 - 10) * math.log1p(math.exp(-2))
    assert r["bits"] == pytest.approx(nats / 2 / LN2, rel=1e-6)
    assert r["pixels_wrong"] == 5.0
    # the decoded mean is a bar of σ(2) on σ(−2): 9 vertical edges and one corner (√2) among
    # the 27 × 27 differences
    rise = 1 / (1 + math.exp(-2)) - 1 / (1 + math.exp(2))
    assert r["sharpness"] == pytest.approx((9 + math.sqrt(2)) * rise / 729, rel=1e-6)


@pytest.mark.parametrize("kind", ["VAE", "autoencoder"])
def test_reconstruction_quality_against_bernoulli_log_prob_at_the_code_mean(kind, test_binary):
    model = _tiny_models(seed=3)[kind]
    model.train()  # reconstruction_quality decodes in eval mode and restores the mode
    x = test_binary
    r = comparison.reconstruction_quality(model, x)
    assert model.training
    model.eval()
    with torch.no_grad():
        logits = model.decode(model.encode(x)[0]).double()
    log_p = Bernoulli(logits=logits).log_prob(x.double()).sum(dim=(1, 2, 3))
    assert r["bits"] == pytest.approx(float(-log_p.mean()) / LN2, rel=1e-5)
    wrong = ((logits >= 0) != (x == 1)).sum(dim=(1, 2, 3)).double()
    assert 0 < float(wrong.mean()) < 784
    assert r["pixels_wrong"] == pytest.approx(float(wrong.mean()), abs=1e-9)
    means = torch.sigmoid(logits)
    assert r["sharpness"] == pytest.approx(_numpy_sharpness(means).mean(), rel=1e-5)


def test_reconstruction_quality_refuses_grey_digits(test_grey):
    with pytest.raises(ValueError, match="binary"):
        comparison.reconstruction_quality(_tiny_models()["VAE"], test_grey[:5])
    almost = torch.zeros(2, 1, 28, 28)
    almost[1, 0, 3, 3] = 0.5
    with pytest.raises(ValueError, match="binary"):
        comparison.reconstruction_quality(_FixedDecoder(), almost)


# ======================================================================= code statistics
class _CodeReader(nn.Module):
    """A stub encoder whose code μ(x) is the first D pixels of x."""

    def __init__(self, d):
        super().__init__()
        self.d = d
        self.dummy = nn.Parameter(torch.zeros(1))

    def encode(self, x):
        mu = x.flatten(1)[:, : self.d]
        return mu, torch.zeros_like(mu)


def _images_with_codes(mu):
    x = torch.zeros(len(mu), 1, 28, 28)
    x.view(len(mu), -1)[:, : mu.shape[1]] = mu
    return x


def test_code_statistics_hand_example():
    mu = torch.tensor([[3.0, 4.0], [0.0, 0.0], [6.0, 8.0]])
    s = comparison.code_statistics(_CodeReader(2), _images_with_codes(mu))
    # norms 5, 0, 10; per-dimension mean (3, 4); std (3, 4) with N − 1 = 2
    assert s == pytest.approx({"mean_norm": 5.0, "std_min": 3.0, "std_max": 4.0, "centre": 5.0})


def test_code_statistics_against_numpy_over_several_batches():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(600, 3, generator=g) * torch.tensor([0.5, 2.0, 1.0]) + torch.tensor(
        [1.0, -2.0, 0.5]
    )  # 600 codes: encoded in two batches of 500 and 100
    s = comparison.code_statistics(_CodeReader(3), _images_with_codes(mu))
    m = mu.double().numpy()
    std = m.std(axis=0, ddof=1)
    assert s["mean_norm"] == pytest.approx(np.linalg.norm(m, axis=1).mean(), rel=1e-5)
    assert s["std_min"] == pytest.approx(std.min(), rel=1e-5)
    assert s["std_max"] == pytest.approx(std.max(), rel=1e-5)
    assert s["centre"] == pytest.approx(np.linalg.norm(m.mean(axis=0)), rel=1e-5)


# ================================================================================ wiggle
@pytest.mark.parametrize(
    "values, tail",
    [
        ([1, 2, 3, 4, 5, 6, 7, 8, 9], [7, 8, 9]),  # the last third
        ([10, 10, 3, 5], [3, 5]),  # at least two values
        ([4.0, -2.0, -4.0], [-2.0, -4.0]),  # relative to |mean|
        ([2.0, 2.0], [2.0, 2.0]),
    ],
)
def test_wiggle_is_std_over_abs_mean_of_the_last_third(values, tail):
    expected = np.std(tail, ddof=1) / abs(np.mean(tail))
    assert comparison._wiggle([float(v) for v in values]) == pytest.approx(expected, abs=1e-15)


def test_wiggle_of_fewer_than_two_values_is_nan_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not the std of one value (degrees of freedom ≤ 0)
        assert math.isnan(comparison._wiggle([]))
        assert math.isnan(comparison._wiggle([3.0]))


# =========================================================================== train_three
def test_train_three_returns_the_three_models_histories_and_times(three):
    assert list(three) == list(comparison.MODEL_NAMES) == ["autoencoder", "VAE", "GAN"]
    for name, cls in zip(three, (Autoencoder, MLPVAE, GAN), strict=True):
        r = three[name]
        assert set(r) == {"model", "history", "seconds"}
        assert type(r["model"]) is cls and r["model"].latent_dim == D
        assert not r["model"].training
        assert r["history"]["epoch"] == [1]
        assert r["seconds"] >= sum(r["history"]["seconds"]) > 0
    assert three["autoencoder"]["model"].config["hidden_dims"] == [512, 256]
    assert three["VAE"]["model"].config["hidden_dims"] == [512, 256]
    assert three["GAN"]["model"].config["generator_dims"] == [256, 512]
    assert set(three["GAN"]["history"]) == {
        "epoch",
        "d_loss",
        "g_loss",
        "d_real",
        "d_fake",
        "seconds",
    }
    assert {"train_loss", "train_reconstruction"} <= set(three["autoencoder"]["history"])
    assert {"train_loss", "train_elbo", "train_kl"} <= set(three["VAE"]["history"])


def _same_parameters(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_train_three_equals_each_model_trained_directly_and_repeats(three, train_digits):
    """Batch 64, the seed for weights and batches, dynamic binarization, Adam as documented."""
    x = train_digits[0][:150]
    direct = {}
    for name, cls in (("autoencoder", Autoencoder), ("VAE", MLPVAE)):
        torch.manual_seed(0)
        model = cls(latent_dim=D)
        fit(
            model,
            x,
            epochs=1,
            batch_size=64,
            transform=dynamic_binarize,
            seed=0,
            device="cpu",
            progress=False,
        )
        direct[name] = model
    torch.manual_seed(0)
    gan = GAN(latent_dim=D)
    history = train_gan(gan, x, epochs=1, seed=0, device="cpu", transform=dynamic_binarize)
    direct["GAN"] = gan
    for name in comparison.MODEL_NAMES:
        assert _same_parameters(three[name]["model"], direct[name]), name
    assert three["GAN"]["history"]["g_loss"] == history["g_loss"]
    again = comparison.train_three(x, epochs=1, latent_dim=D, seed=0, device="cpu")
    other = comparison.train_three(x, epochs=1, latent_dim=D, seed=1, device="cpu")
    for name in comparison.MODEL_NAMES:
        assert _same_parameters(three[name]["model"], again[name]["model"]), name
        assert not _same_parameters(three[name]["model"], other[name]["model"]), name


# ========================================================================== draw_samples
def test_draw_samples_shapes_range_and_seeds(train_digits):
    models = _tiny_models()
    x = train_digits[0][:200]
    out = comparison.draw_samples(models, 12, x, seed=3)
    assert list(out) == ["autoencoder", "VAE", "GAN"]
    for images in out.values():
        assert images.shape == (12, 1, 28, 28)
        assert float(images.min()) >= 0 and float(images.max()) <= 1
    again = comparison.draw_samples(models, 12, x, seed=3)
    other = comparison.draw_samples(models, 12, x, seed=4)
    for name in out:
        assert torch.equal(out[name], again[name])
        assert not torch.allclose(out[name], other[name])


def test_draw_samples_decode_prior_draws_and_the_autoencoders_fitted_gaussian(train_digits):
    models = _tiny_models()
    x = train_digits[0][:200]
    models["GAN"].train()  # decoded in eval mode (BatchNorm's running averages), then restored
    out = comparison.draw_samples(models, 12, x, seed=3)
    assert models["GAN"].training
    models["GAN"].eval()
    with torch.no_grad():
        for name in ("VAE", "GAN"):
            z = torch.randn(12, D, generator=torch.Generator().manual_seed(3))
            expected = torch.sigmoid(models[name].decode(z))
            torch.testing.assert_close(out[name], expected, rtol=0, atol=1e-6)
        ae = models["autoencoder"]
        codes = ae.encode(x)[0].double().numpy()
        cov = np.cov(codes, rowvar=False) + 1e-5 * np.eye(D)  # the documented jitter
        chol = np.linalg.cholesky(cov)
        g = torch.Generator().manual_seed(3)
        eps = torch.randn(12, D, generator=g, dtype=torch.float64).numpy()
        z = torch.tensor(codes.mean(0) + eps @ chol.T, dtype=torch.float32)
        expected = torch.sigmoid(ae.decode(z))
        torch.testing.assert_close(out["autoencoder"], expected, rtol=0, atol=1e-5)
        # and not N(0, I): the autoencoder's codes are not standard normal
        assert not torch.allclose(
            out["autoencoder"],
            torch.sigmoid(
                ae.decode(torch.randn(12, D, generator=torch.Generator().manual_seed(3)))
            ),
            atol=1e-3,
        )


# ========================================================================== latent_paths
class _AffineImages(nn.Module):
    """decode(z) = logit(½ + 0.02·zA): the decoded images are affine in z."""

    def __init__(self, seed):
        super().__init__()
        self.latent_dim = D
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("a", torch.rand(D, 784, generator=g) * 2 - 1)
        self.dummy = nn.Parameter(torch.zeros(1))

    def images(self, z):
        return (0.5 + 0.02 * z.double() @ self.a.double()).reshape(-1, 1, 28, 28)

    def encode(self, x):
        mu = x.flatten(1)[:, 300 : 300 + D] * 3
        return mu, torch.zeros_like(mu)

    def decode(self, z):
        return torch.logit(self.images(z)).float()


class _StepImages(nn.Module):
    """decode(z): every pixel 1 when z₀ > 0, else 0 (sigmoid of ±10⁴ is exactly 1 or 0)."""

    latent_dim = D

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def decode(self, z):
        return torch.where(z[:, :1] > 0, 1e4, -1e4).expand(len(z), 784).reshape(-1, 1, 28, 28)


def test_latent_paths_of_affine_decoders_have_equal_steps_between_the_sample_codes(classifier):
    x = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    models = {"autoencoder": _AffineImages(0), "VAE": _AffineImages(1)}
    n_paths, steps, seed = 6, 5, 2
    # the endpoints by hand: the VAE's from N(0, I), the autoencoder's from a Gaussian fitted
    # to its codes of x, both from one generator seeded with seed (a's draw, then b's)
    g = torch.Generator().manual_seed(seed)
    ends = {"VAE": (torch.randn(n_paths, D, generator=g), torch.randn(n_paths, D, generator=g))}
    codes = (x.flatten(1)[:, 300 : 300 + D] * 3).double().numpy()
    mean, chol = codes.mean(0), np.linalg.cholesky(np.cov(codes, rowvar=False) + 1e-5 * np.eye(D))
    g = torch.Generator().manual_seed(seed)
    ends["autoencoder"] = tuple(
        torch.tensor(
            mean + torch.randn(n_paths, D, generator=g, dtype=torch.float64).numpy() @ chol.T
        )
        for _ in range(2)
    )
    # the path images, and a confidence threshold between two of the VAE's path confidences
    t = torch.linspace(0, 1, steps, dtype=torch.float64).reshape(1, -1, 1)
    path_images = {
        name: models[name].images(((1 - t) * a[:, None] + t * b[:, None]).reshape(-1, D))
        for name, (a, b) in ends.items()
    }
    conf = {name: _hand_confidence(classifier, im.float()) for name, im in path_images.items()}
    threshold, _ = _threshold_between(conf["VAE"])
    out = comparison.latent_paths(
        models, classifier, x, n_paths=n_paths, steps=steps, seed=seed, confident=threshold
    )
    assert set(out) == {"autoencoder", "VAE"}
    for name, (a, b) in ends.items():
        whole = models[name].images(b.double()) - models[name].images(a.double())
        step = whole.flatten(1).pow(2).mean(1).sqrt() / (steps - 1)  # every step equal
        assert float(step.min()) > 1e-3
        assert out[name]["largest"] == pytest.approx(float(step.mean()), rel=1e-3)
        assert out[name]["jump_ratio"] == pytest.approx(1.0, abs=1e-3)
        share = float((conf[name] >= threshold).mean())
        assert out[name]["confident_share"] == pytest.approx(share, abs=1e-12)
    assert 0 < out["VAE"]["confident_share"] < 1


def test_latent_paths_of_a_step_decoder_jump_once_on_paths_that_cross(classifier):
    n_paths, steps, seed = 30, 6, 4
    # the path images are blank or all ink: with a threshold between their two confidences,
    # exactly the points showing the more confident image count
    blank_and_ink = torch.stack([torch.zeros(1, 28, 28), torch.ones(1, 28, 28)])
    c_blank, c_ink = confidence(classifier, blank_and_ink).tolist()
    assert abs(c_blank - c_ink) > 1e-3
    out = comparison.latent_paths(
        {"GAN": _StepImages()},
        classifier,
        torch.zeros(2, 1, 28, 28),
        n_paths=n_paths,
        steps=steps,
        seed=seed,
        confident=(c_blank + c_ink) / 2,
    )["GAN"]
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n_paths, D, generator=g), torch.randn(n_paths, D, generator=g)
    crosses = ((a[:, 0] > 0) != (b[:, 0] > 0)).double()
    assert 0 < float(crosses.mean()) < 1
    # a crossing path flips every pixel in one step (RMS 1): largest 1, ratio steps − 1;
    # the others never change: largest 0, ratio 1 by convention
    assert out["largest"] == pytest.approx(float(crosses.mean()), abs=1e-6)
    expected_ratio = float((crosses * (steps - 1) + (1 - crosses)).mean())
    assert out["jump_ratio"] == pytest.approx(expected_ratio, abs=1e-5)
    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    z0 = (1 - t) * a[:, :1].double() + t * b[:, :1].double()  # (paths, steps)
    ink_share = float((z0 > 0).double().mean())
    assert 0 < ink_share < 1
    expected_share = ink_share if c_ink > c_blank else 1 - ink_share
    assert out["confident_share"] == pytest.approx(expected_share, abs=1e-12)


# ========================================================================= measure_three
HISTORIES = {
    "autoencoder": {
        "train_loss": [9.0, 8.0, 7.0, 6.0, 5.0, 7.0],
        "train_reconstruction": [0.0] * 6,
    },
    "VAE": {"train_loss": [9.0, 8.0, 7.0, 6.0, 4.0, 4.5], "train_elbo": [1.0] * 6},
    "GAN": {"g_loss": [1.0, 2.0, 1.0, 3.0, 1.0, 2.0], "d_loss": [5.0, 5.0, 5.0, 5.0, 5.0, 1.0]},
}


@pytest.fixture(scope="module")
def measured(three, classifier, train_digits, test_grey, test_binary):
    """measure_three on the trained triple, with six-epoch loss curves put in by hand."""
    runs = {
        name: {
            "model": r["model"],
            "history": {"epoch": [1, 2, 3, 4, 5, 6], **HISTORIES[name]},
            "seconds": r["seconds"],
        }
        for name, r in three.items()
    }
    state = torch.get_rng_state()
    result = comparison.measure_three(
        runs, classifier, train_digits[0], test_grey, test_binary, n=40, k=4, seed=0
    )
    assert torch.equal(torch.get_rng_state(), state)  # the IWAE's seed leaves no trace
    return runs, result


def _finite_floats(d):
    return all(isinstance(v, float) and math.isfinite(v) for v in d.values())


def test_measure_three_keys_types_and_ranges(measured):
    _, m = measured
    assert set(m) == {
        "samples",
        "recon",
        "codes",
        "paths",
        "iwae",
        "seconds",
        "seconds_per_epoch",
        "wiggle",
    }
    assert set(m["samples"]) == {
        "autoencoder",
        "VAE",
        "GAN",
        "autoencoder, z ~ N(0, I)",
        "real training digits",
    }
    for q in m["samples"].values():
        assert _finite_floats(q)
        assert 0 <= q["class_entropy"] <= math.log2(10) + 1e-12
        assert 0.1 <= q["largest_class"] <= 1 and 0.1 <= q["confidence"] <= 1
        assert q["frechet"] >= 0 and 0 <= q["confident_share"] <= 1
    assert set(m["recon"]) == set(m["codes"]) == {"autoencoder", "VAE"}
    assert all(_finite_floats(v) for v in (*m["recon"].values(), *m["codes"].values()))
    assert set(m["paths"]) == {"autoencoder", "VAE", "GAN"}
    assert all(_finite_floats(v) for v in m["paths"].values())
    assert isinstance(m["iwae"], float) and math.isfinite(m["iwae"]) and m["iwae"] < 0
    rows = comparison.guide_table(m)
    assert len(rows) == len(comparison.GUIDE_ROWS)
    assert all(isinstance(r["held"], bool) and isinstance(r["measured"], str) for r in rows)


def test_measure_three_parts_equal_the_functions_called_directly(
    measured, classifier, train_digits, test_grey, test_binary
):
    runs, m = measured
    x_train = train_digits[0]
    models = {name: r["model"] for name, r in runs.items()}
    reference = feature_statistics(comparison.features(classifier, test_grey))
    images = comparison.draw_samples(models, 40, x_train, seed=0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        images["autoencoder, z ~ N(0, I)"] = torch.sigmoid(
            models["autoencoder"].decode(torch.randn(40, D, generator=g))
        )
    images["real training digits"] = x_train[torch.randperm(len(x_train), generator=g)[:40]]
    for name, im in images.items():
        assert m["samples"][name] == pytest.approx(
            comparison.sample_quality(im, classifier, reference), rel=1e-5, abs=1e-9
        ), name
    for name in ("autoencoder", "VAE"):
        assert m["recon"][name] == pytest.approx(
            comparison.reconstruction_quality(models[name], test_binary), rel=1e-6
        )
        assert m["codes"][name] == pytest.approx(
            comparison.code_statistics(models[name], test_grey), rel=1e-6
        )
    paths = comparison.latent_paths(models, classifier, x_train, seed=0)
    assert set(paths) == set(m["paths"])
    for name, p in paths.items():
        assert m["paths"][name] == pytest.approx(p, rel=1e-6), name
    torch.manual_seed(0)
    assert m["iwae"] == pytest.approx(
        iwae_log_likelihood(models["VAE"], test_binary, k=4), rel=1e-9
    )


def test_measure_three_times_and_wiggles(measured):
    runs, m = measured
    for name, r in runs.items():
        assert m["seconds"][name] == r["seconds"]
        assert m["seconds_per_epoch"][name] == pytest.approx(r["seconds"] / 6, rel=1e-12)
    # the last two of six epochs: the AE's and VAE's train_loss, the GAN's g_loss
    for name, key in (("autoencoder", "train_loss"), ("VAE", "train_loss"), ("GAN", "g_loss")):
        tail = HISTORIES[name][key][-2:]
        expected = np.std(tail, ddof=1) / abs(np.mean(tail))
        assert m["wiggle"][name] == pytest.approx(expected, rel=1e-12), name


# ============================================================ the guide's rows and verdicts
def _sample(frechet, sharp=0.2, entropy=3.0, largest=0.15):
    return {
        "frechet": frechet,
        "confidence": 0.8,
        "confident_share": 0.5,
        "class_entropy": entropy,
        "largest_class": largest,
        "sharpness": sharp,
    }


def _results(good=True):
    """One run's measurements in which every guide claim holds (good) or fails (not good,
    except the likelihood row, which holds whenever the VAE's IWAE is finite)."""
    if good:
        ae_bits, vae_bits, ae_sharp, vae_sharp = 80.5, 95.5, 0.25, 0.125
        zn, vae_f, ae_f, gan_f = 307.0, 42.0, 61.0, 23.0
        ae_std, vae_std = (0.5, 8.0), (0.25, 1.25)
        conf, jump = (0.4, 0.8, 0.6), (1.5, 1.25, 1.75)  # AE, VAE, GAN
        vae_sample, gan_sample = (0.125, 3.25, 0.12), (0.375, 2.5, 0.34)
        wiggle, seconds = (0.01, 0.02, 0.2), (5.0, 10.0, 25.0)
    else:
        ae_bits, vae_bits, ae_sharp, vae_sharp = 95.5, 80.5, 0.125, 0.25
        zn, vae_f, ae_f, gan_f = 23.0, 42.0, 307.0, 61.0
        ae_std, vae_std = (0.25, 1.25), (0.5, 8.0)
        conf, jump = (0.8, 0.4, 0.6), (1.5, 1.75, 1.25)
        vae_sample, gan_sample = (0.375, 2.5, 0.34), (0.125, 3.25, 0.12)
        wiggle, seconds = (0.01, 0.2, 0.02), (5.0, 25.0, 10.0)
    names = ("autoencoder", "VAE", "GAN")
    return {
        "recon": {
            "autoencoder": {"bits": ae_bits, "pixels_wrong": 10.0, "sharpness": ae_sharp},
            "VAE": {"bits": vae_bits, "pixels_wrong": 20.0, "sharpness": vae_sharp},
        },
        "samples": {
            "autoencoder": _sample(ae_f),
            "autoencoder, z ~ N(0, I)": _sample(zn),
            "VAE": _sample(vae_f, *vae_sample),
            "GAN": _sample(gan_f, *gan_sample),
            "real training digits": _sample(1.5),
        },
        "codes": {
            "autoencoder": {
                "mean_norm": 9.0,
                "std_min": ae_std[0],
                "std_max": ae_std[1],
                "centre": 3.0,
            },
            "VAE": {"mean_norm": 2.0, "std_min": vae_std[0], "std_max": vae_std[1], "centre": 0.1},
        },
        "paths": {
            n: {"largest": 0.3, "jump_ratio": j, "confident_share": c}
            for n, c, j in zip(names, conf, jump, strict=True)
        },
        "iwae": -95.5,
        "seconds": dict(zip(names, seconds, strict=True)),
        "seconds_per_epoch": {n: s / 10 for n, s in zip(names, seconds, strict=True)},
        "wiggle": dict(zip(names, wiggle, strict=True)),
    }


ASPECTS = [
    "reconstruction",
    "generation",
    "code space",
    "interpolation",
    "sample quality",
    "mode coverage",
    "training stability",
    "latent space",
    "likelihood",
    "training speed",
]

# the numbers each measured sentence must show, in order, for _results(good=True)
GOOD_NUMBERS = {
    "reconstruction": ["80.5", "95.5", "0.250", "0.125"],
    "generation": ["307", "42", "61"],
    "code space": ["0.50", "8.00", "0.25", "1.25"],
    "interpolation": ["0.40", "0.80", "1.50", "1.25"],
    "sample quality": ["42", "23", "1.5", "0.125", "0.375"],
    "mode coverage": ["3.25", "2.50", "0.12", "0.34"],
    "training stability": ["0.020", "0.200"],
    "latent space": ["0.80", "0.60", "1.25", "1.75"],
    "likelihood": ["-95.5"],
    "training speed": ["1.00", "2.50", "2.5"],
}


def _is_subsequence(wanted, tokens):
    it = iter(tokens)
    return all(any(w == t for t in it) for w in wanted)


def test_guide_rows_are_the_two_tables_with_distinct_aspects():
    assert [row[1] for row in comparison.GUIDE_ROWS] == ASPECTS
    tables = [row[0] for row in comparison.GUIDE_ROWS]
    assert tables == ["VAE vs AE"] * 4 + ["VAE vs GAN"] * 6
    assert all(isinstance(row[2], str) and row[2] for row in comparison.GUIDE_ROWS)


def test_guide_table_when_every_claim_holds_and_the_sentences_show_the_numbers():
    rows = comparison.guide_table(_results(good=True))
    assert [r["aspect"] for r in rows] == ASPECTS
    for r, (table, aspect, guide, _, _) in zip(rows, comparison.GUIDE_ROWS, strict=True):
        assert (r["table"], r["aspect"], r["guide"]) == (table, aspect, guide)
        assert r["held"] is True, aspect
        tokens = re.findall(r"-?\d+(?:\.\d+)?", r["measured"])
        assert _is_subsequence(GOOD_NUMBERS[aspect], tokens), (aspect, r["measured"])


def test_guide_table_when_every_claim_fails():
    rows = comparison.guide_table(_results(good=False))
    held = {r["aspect"]: r["held"] for r in rows}
    assert held == {a: a == "likelihood" for a in ASPECTS}
    r = _results(good=True)
    r["iwae"] = math.nan
    assert not {x["aspect"]: x["held"] for x in comparison.guide_table(r)}["likelihood"]


@pytest.mark.parametrize(
    "aspect, change, held",
    [
        # both halves of a two-part claim are needed
        ("reconstruction", lambda r: r["recon"]["VAE"].update(sharpness=0.5), False),
        ("reconstruction", lambda r: r["recon"]["VAE"].update(bits=70.0), False),
        ("latent space", lambda r: r["paths"]["GAN"].update(jump_ratio=1.0), False),
        ("latent space", lambda r: r["paths"]["GAN"].update(jump_ratio=1.25), True),  # ≤
        ("latent space", lambda r: r["paths"]["GAN"].update(confident_share=0.9), False),
        # strict comparisons: a tie is not a win
        ("sample quality", lambda r: r["samples"]["GAN"].update(frechet=42.0), False),
        ("mode coverage", lambda r: r["samples"]["GAN"].update(class_entropy=3.25), False),
        ("training speed", lambda r: r["seconds"].update(GAN=10.0), False),
        # the code-space claim compares |log std_max| (the VAE's is |log 1.25| = 0.22)
        ("code space", lambda r: r["codes"]["autoencoder"].update(std_max=0.7), True),
        ("code space", lambda r: r["codes"]["autoencoder"].update(std_max=0.85), False),
        ("code space", lambda r: r["codes"]["autoencoder"].update(std_max=1.1), False),
        # the generation claim is against the AE decoding N(0, I), not its fitted Gaussian
        ("generation", lambda r: r["samples"]["autoencoder"].update(frechet=30.0), True),
        ("interpolation", lambda r: r["paths"]["autoencoder"].update(confident_share=0.85), False),
        ("training stability", lambda r: r["wiggle"].update(GAN=0.02), False),
    ],
)
def test_guide_claims_at_their_edges(aspect, change, held):
    r = _results(good=True)
    change(r)
    rows = {x["aspect"]: x["held"] for x in comparison.guide_table(r)}
    assert rows[aspect] is held


def _stored(plan):
    """plan: {epochs: [good?, ...] per seed} → a stored full run."""
    return {
        "runs": [
            {"epochs": e, "seed": s, **_results(good)}
            for e, goods in plan.items()
            for s, good in enumerate(goods)
        ]
    }


@pytest.mark.parametrize(
    "plan, counts, verdict",
    [
        ({30: [1, 1, 1], 100: [1, 1, 1]}, {30: (3, 3), 100: (3, 3)}, "holds"),
        ({30: [1, 0, 0], 100: [1, 1, 1]}, {30: (1, 3), 100: (3, 3)}, "holds here only"),
        ({30: [1, 1, 1], 100: [0, 0, 0]}, {30: (3, 3), 100: (0, 3)}, "holds here only"),
        (
            {30: [0, 0, 0], 100: [1, 1, 1]},
            {30: (0, 3), 100: (3, 3)},
            "does not hold at this budget",
        ),
        (
            {30: [0, 0, 0], 100: [0, 0, 0]},
            {30: (0, 3), 100: (0, 3)},
            "does not hold at this budget",
        ),
    ],
)
def test_verdicts_over_hand_made_runs(plan, counts, verdict):
    out = comparison.verdicts(_stored(plan), default_epochs=30)
    assert list(out) == ASPECTS
    for aspect, v in out.items():
        if aspect == "likelihood":  # holds in every run, good or not
            assert v == {
                "counts": {e: (len(g), len(g)) for e, g in plan.items()},
                "verdict": "holds",
            }
        else:
            assert v == {"counts": counts, "verdict": verdict}, aspect


def test_verdicts_count_each_row_separately():
    r = _results(good=True)
    r["wiggle"]["GAN"] = 0.0  # only the stability claim fails, in one of two runs
    stored = {"runs": [{"epochs": 5, "seed": 0, **_results(True)}, {"epochs": 5, "seed": 1, **r}]}
    out = comparison.verdicts(stored, default_epochs=5)
    assert out["training stability"] == {"counts": {5: (1, 2)}, "verdict": "holds here only"}
    assert all(v["verdict"] == "holds" for a, v in out.items() if a != "training stability")
