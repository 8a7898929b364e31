"""Chapter 11's package code (compression, anomaly, augmentation, latent_arithmetic and the
classifier's ``steps=`` budget), each against an independent reference: torch.distributions
(KL, Bernoulli log-likelihoods), scipy.stats.norm (quantile bins), hand-packed bytes through
zlib/bz2/lzma, PNG files decoded back with Pillow, hand computations, the pairwise AUROC
definition, torch.roll on padded images, and Monte Carlo with standard-error tolerances."""

import bz2
import io
import lzma
import math
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import stats
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_course import anomaly, augmentation, compression
from vae_course import latent_arithmetic as la
from vae_course.classifier import accuracy, train_digit_classifier
from vae_course.data import load_mnist
from vae_course.losses import elbo, iwae_bound
from vae_course.models import MLPVAE
from vae_course.train import fit

LN2 = math.log(2)
D = 4  # latent dimensions of the tiny test models
COMPRESS = {"zlib": zlib.compress, "bz2": bz2.compress, "lzma": lzma.compress}


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: tiny models gain nothing from two, and on a busy two-core machine
    the second thread's spin-waits make training ten times slower. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def split():
    return load_mnist(binarize="static")


def _random_subset(x, y, n, seed=0):
    """n digits drawn at random (never the first n: the classes may be sorted)."""
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
    return x[idx], y[idx]


@pytest.fixture(scope="module")
def digits(split):
    """200 random binary training digits and their labels."""
    return _random_subset(split.x_train, split.y_train, 200, seed=1)


@pytest.fixture(scope="module")
def test_digits(split):
    return _random_subset(split.x_test, split.y_test, 100, seed=2)


def _tiny(seed=0):
    torch.manual_seed(seed)
    return MLPVAE(latent_dim=D, hidden_dims=(32,)).eval()


@pytest.fixture(scope="module")
def trained(split):
    """The tiny VAE trained briefly (3 epochs on 1,000 random binary digits, ~1 s)."""
    x, _ = _random_subset(split.x_train, split.y_train, 1000, seed=3)
    model = _tiny()
    fit(model, x, epochs=3, batch_size=100, progress=False, device="cpu", seed=0)
    return model.eval()


def _packed_by_hand(image):
    """A binary image's pixels, row-major, 8 per byte, first pixel in the high bit."""
    bits = [int(v) for v in image.flatten().tolist()]
    bits += [0] * (-len(bits) % 8)
    return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def _kl_reference(mu, logvar):
    q = Normal(mu.double(), torch.exp(0.5 * logvar.double()))
    return kl_divergence(q, Normal(torch.zeros_like(q.loc), torch.ones_like(q.loc))).sum(-1)


def _bernoulli_nll_bits(x, logits):
    """−log₂ p(x | logits) per image, by torch.distributions."""
    lp = Bernoulli(logits=logits.double().flatten(1)).log_prob(x.double().flatten(1))
    return -lp.sum(1) / LN2


# ============================================================================ compression
@pytest.mark.parametrize("seed", [0, 1])
def test_kl_bits_equal_torch_distributions_in_bits(seed):
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(7, 5, generator=g) * 2
    logvar = torch.randn(7, 5, generator=g)
    got = compression.kl_bits(mu, logvar)
    assert got.shape == (7,)
    torch.testing.assert_close(got.double(), _kl_reference(mu, logvar) / LN2, rtol=1e-5, atol=1e-6)


def test_kl_bits_closed_form_values():
    zero = compression.kl_bits(torch.zeros(3, 6), torch.zeros(3, 6))
    torch.testing.assert_close(zero, torch.zeros(3), rtol=0, atol=0)
    # one dimension with μ = 1, σ = 1: KL = ½ nat; one with μ = 0, σ² = 4: ½(4 − 1 − ln 4)
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    expected = (0.5 + 0.5 * (4 - 1 - math.log(4))) / LN2
    assert float(compression.kl_bits(mu, logvar)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("bits", [1, 3])
def test_quantization_bins_have_equal_prior_mass(bits):
    """Symbols of N(0, 1) draws are uniform: each bin's count within 5 binomial SE."""
    k = 2**bits
    draws = torch.randn(20000, 10, generator=torch.Generator().manual_seed(bits))
    symbols = compression.quantize_latents(draws, bits)
    assert symbols.dtype == torch.int64 and symbols.shape == draws.shape
    n = draws.numel()
    counts = torch.bincount(symbols.flatten(), minlength=k).double()
    assert len(counts) == k
    se = math.sqrt(n * (1 / k) * (1 - 1 / k))
    assert (counts - n / k).abs().max() < 5 * se
    assert stats.chisquare(counts.numpy()).pvalue > 1e-4


@pytest.mark.parametrize("bits", [1, 2, 3, 5])
def test_quantization_bin_edges_are_the_prior_quantiles(bits):
    k = 2**bits
    edges = torch.tensor(stats.norm.ppf(np.arange(1, k) / k), dtype=torch.float32)
    delta = 1e-3
    below = compression.quantize_latents((edges - delta).reshape(1, -1), bits)[0]
    above = compression.quantize_latents((edges + delta).reshape(1, -1), bits)[0]
    assert below.tolist() == list(range(k - 1))
    assert above.tolist() == list(range(1, k))
    extremes = compression.quantize_latents(torch.tensor([[-50.0, 50.0]]), bits)
    assert extremes.tolist() == [[0, k - 1]]


@pytest.mark.parametrize("bits", [1, 2, 4, 8, 12])
def test_dequantize_is_the_prior_median_of_its_own_bin(bits):
    k = 2**bits
    s = torch.arange(k).reshape(-1, 1).repeat(1, 2)
    z = compression.dequantize_latents(s, bits)
    assert z.dtype == torch.float32 and z.shape == s.shape
    median = stats.norm.ppf((np.arange(k) + 0.5) / k)
    np.testing.assert_allclose(z[:, 0].numpy(), median, rtol=1e-5, atol=1e-6)
    u = stats.norm.cdf(z[:, 0].double().numpy())
    assert np.all(u > np.arange(k) / k) and np.all(u < (np.arange(k) + 1) / k)
    torch.testing.assert_close(compression.quantize_latents(z, bits), s, rtol=0, atol=0)


def test_dequantize_round_trip_at_sixteen_bits():
    s = torch.randint(0, 2**16, (500, 3), generator=torch.Generator().manual_seed(0))
    s[0] = torch.tensor([0, 2**15, 2**16 - 1])
    z = compression.dequantize_latents(s, 16)
    torch.testing.assert_close(compression.quantize_latents(z, 16), s, rtol=0, atol=0)


@pytest.mark.parametrize("bits", [0, 17, True, 2.0, -1])
def test_quantization_refuses_bad_bits(bits):
    with pytest.raises(ValueError, match="bits per dimension"):
        compression.quantize_latents(torch.zeros(2, 3), bits)
    with pytest.raises(ValueError, match="bits per dimension"):
        compression.dequantize_latents(torch.zeros(2, 3, dtype=torch.long), bits)
    with pytest.raises(ValueError, match="bits per dimension"):
        compression.entropy_code_bits(torch.zeros(2, 3).long(), torch.zeros(2, 3).long(), bits)


def test_quantization_refuses_bad_input():
    with pytest.raises(ValueError, match="float"):
        compression.quantize_latents(torch.zeros(2, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        compression.quantize_latents(torch.zeros(6), 2)
    for bad in (float("nan"), float("inf")):
        mu = torch.zeros(2, 3)
        mu[1, 2] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            compression.quantize_latents(mu, 2)
    with pytest.raises(ValueError, match="integer symbols"):
        compression.dequantize_latents(torch.zeros(2, 3), 2)
    with pytest.raises(ValueError, match="integer symbols"):
        compression.dequantize_latents(torch.zeros(6, dtype=torch.long), 2)
    for bad in (-1, 4):
        with pytest.raises(ValueError, match=r"\[0, 4\)"):
            compression.dequantize_latents(torch.tensor([[0, bad]]), 2)


def test_entropy_code_bits_hand_example():
    # bits = 1, so k = 2 symbols and add-½ counts over M = 4 reference rows: (c + ½) / 5
    reference = torch.tensor([[0, 1], [0, 1], [0, 1], [1, 1]])
    # dimension 0: p(0) = 3.5/5, p(1) = 1.5/5; dimension 1: p(0) = 0.5/5, p(1) = 4.5/5
    symbols = torch.tensor([[0, 1], [1, 0], [0, 0]])
    got = compression.entropy_code_bits(symbols, reference, 1)
    expected = [
        -math.log2(0.7) - math.log2(0.9),
        -math.log2(0.3) - math.log2(0.1),
        -math.log2(0.7) - math.log2(0.1),
    ]
    assert got.shape == (3,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("bits", [2, 3])
def test_entropy_code_bits_equal_a_numpy_histogram(bits):
    k = 2**bits
    g = torch.Generator().manual_seed(bits)
    reference = torch.randint(0, k, (50, 3), generator=g) // 2  # the upper symbols unseen
    symbols = torch.randint(0, k, (20, 3), generator=g)
    ref, sym = reference.numpy(), symbols.numpy()
    expected = np.zeros(len(sym))
    for d in range(3):
        p = (np.bincount(ref[:, d], minlength=k) + 0.5) / (len(ref) + 0.5 * k)
        expected += -np.log2(p[sym[:, d]])
    got = compression.entropy_code_bits(symbols, reference, bits)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    assert torch.isfinite(got).all()


def test_entropy_code_is_a_complete_code_and_uniform_references_cost_bits_per_dim():
    bits, k = 3, 8
    reference = torch.randint(0, k, (37, 1), generator=torch.Generator().manual_seed(0))
    every = torch.arange(k).reshape(-1, 1)
    lengths = compression.entropy_code_bits(every, reference, bits)
    assert float((2.0 ** -lengths.double()).sum()) == pytest.approx(1.0, abs=1e-12)  # Kraft
    # a reference holding every symbol equally often: every row costs bits · D exactly
    uniform = torch.arange(k).repeat(5).reshape(-1, 1).repeat(1, 4)
    rows = torch.randint(0, k, (10, 4), generator=torch.Generator().manual_seed(1))
    got = compression.entropy_code_bits(rows, uniform, bits)
    torch.testing.assert_close(got, torch.full((10,), 3.0 * 4, dtype=got.dtype))
    # a symbol never seen in the reference: finite, −log₂(½ / (M + k/2)) bits
    zeros = torch.zeros(100, 1, dtype=torch.long)
    unseen = compression.entropy_code_bits(torch.tensor([[k - 1]]), zeros, bits)
    assert float(unseen) == pytest.approx(-math.log2(0.5 / (100 + k / 2)), rel=1e-12)


def test_entropy_code_bits_refuses_bad_input():
    with pytest.raises(ValueError, match="same D"):
        compression.entropy_code_bits(torch.zeros(2, 3).long(), torch.zeros(5, 4).long(), 2)
    with pytest.raises(ValueError, match="same D"):
        compression.entropy_code_bits(torch.zeros(3).long(), torch.zeros(5, 3).long(), 2)
    with pytest.raises(ValueError, match="symbols must be integers"):
        compression.entropy_code_bits(torch.tensor([[4]]), torch.zeros(5, 1).long(), 2)
    with pytest.raises(ValueError, match="reference must be integers"):
        compression.entropy_code_bits(torch.tensor([[1]]), torch.full((5, 1), -1), 2)
    with pytest.raises(ValueError, match="reference must be integers"):
        compression.entropy_code_bits(torch.tensor([[1]]), torch.zeros(5, 1), 2)


def test_pixels_wrong_hand_example():
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    p = torch.tensor([[0.2, 0.5, 0.49, 0.9], [0.6, 1.0, 0.0, 0.1]])  # ½ counts as ink
    assert compression.pixels_wrong(x, p).tolist() == [2, 0]
    images = x.reshape(2, 1, 2, 2)
    assert compression.pixels_wrong(images, p.reshape(2, 1, 2, 2)).tolist() == [2, 0]
    with pytest.raises(ValueError, match="binary"):
        compression.pixels_wrong(x * 0.5, p)
    with pytest.raises(ValueError, match="differ in shape"):
        compression.pixels_wrong(x, p.reshape(2, 1, 2, 2))


class _BufferRecorder:
    """Stands in for the io module inside compression: keeps every BytesIO it hands out."""

    def __init__(self):
        self.buffers = []

    def BytesIO(self):  # noqa: N802 (the name io uses)
        buf = io.BytesIO()
        self.buffers.append(buf)
        return buf


def test_png_bytes_count_real_png_files_of_the_same_images(monkeypatch, digits):
    x = digits[0][:6]
    rec = _BufferRecorder()
    monkeypatch.setattr(compression, "io", rec)
    per_file = compression.png_bytes(x)
    assert len(rec.buffers) == 6
    sizes = []
    for buf, image in zip(rec.buffers, x, strict=True):
        data = buf.getvalue()
        sizes.append(len(data))
        decoded = Image.open(io.BytesIO(data))
        assert decoded.format == "PNG" and decoded.mode == "1"
        np.testing.assert_array_equal(np.array(decoded), image[0].numpy() == 1)
    assert per_file == pytest.approx(np.mean(sizes))
    rec.buffers.clear()
    sheet = compression.png_bytes(x[:, 0], sheet=True)  # (N, H, W) is accepted too
    (buf,) = rec.buffers
    decoded = np.array(Image.open(io.BytesIO(buf.getvalue())))
    assert decoded.shape == (28, 6 * 28)
    np.testing.assert_array_equal(decoded, torch.cat(list(x[:, 0]), dim=1).numpy() == 1)
    assert sheet == pytest.approx(len(buf.getvalue()) / 6)


def test_png_sheet_shares_the_overhead_and_blank_pages_are_smaller(digits):
    x = digits[0][:40]
    assert compression.png_bytes(x, sheet=True) < compression.png_bytes(x)
    blank = torch.zeros(40, 1, 28, 28)
    assert compression.png_bytes(blank) < compression.png_bytes(x)
    assert compression.png_bytes(blank, sheet=True) < compression.png_bytes(x, sheet=True)


@pytest.mark.parametrize("method", ["zlib", "bz2", "lzma"])
def test_compressor_bytes_equal_hand_packed_bytes_through_the_compressor(method, digits):
    x = digits[0][:30]
    rows = [_packed_by_hand(image[0].numpy().astype(int)) for image in x]
    assert all(len(r) == 98 for r in rows)  # 784 pixels = 98 bytes
    together = compression.compressor_bytes(x, method)
    assert together == pytest.approx(len(COMPRESS[method](b"".join(rows))) / 30)
    separately = compression.compressor_bytes(x, method, together=False)
    assert separately == pytest.approx(np.mean([len(COMPRESS[method](r)) for r in rows]))
    # with many digits, one stream beats one file per digit (the compressor learns digits)
    assert together < separately


def test_packing_puts_the_first_pixel_in_the_high_bit():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 0, 0] = 1  # pixel 0 → byte 0 = 0b1000_0000
    image[0, 0, 0, 9] = 1  # pixel 9 → byte 1 = 0b0100_0000
    expected = bytes([128, 64] + [0] * 96)
    assert _packed_by_hand(image[0, 0].numpy().astype(int)) == expected
    assert compression.compressor_bytes(image, "zlib") == len(zlib.compress(expected))
    assert float(compression.complexity_bits(image)) == 8 * len(zlib.compress(expected))


def test_complexity_bits_equal_compressed_bits_and_blank_pages_are_cheap(digits):
    x = digits[0][:20]
    for method in ("zlib", "bz2"):
        got = compression.complexity_bits(x, method)
        expected = [8 * len(COMPRESS[method](_packed_by_hand(im[0].numpy()))) for im in x]
        assert got.tolist() == expected
    blank = compression.complexity_bits(torch.zeros(20, 1, 28, 28))
    assert blank.max() < compression.complexity_bits(x).min()


def test_lossless_sizes_refuse_grey_images_and_unknown_methods(digits):
    grey = digits[0][:3] * 0.5
    for call in (
        lambda: compression.png_bytes(grey),
        lambda: compression.compressor_bytes(grey),
        lambda: compression.complexity_bits(grey),
    ):
        with pytest.raises(ValueError, match="binary"):
            call()
    with pytest.raises(ValueError, match="unknown compressor"):
        compression.compressor_bytes(digits[0][:3], "gzip")
    with pytest.raises(ValueError, match="unknown compressor"):
        compression.complexity_bits(digits[0][:3], "png")
    with pytest.raises(ValueError, match="one channel"):
        compression.png_bytes(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        compression.png_bytes(torch.zeros(28, 28).numpy())


# ------------------------------------------------------------------- the compression table
ROWS = {
    "raw bits",
    "PNG, one file per digit",
    "PNG, one sheet",
    "zlib, all digits together",
    "bz2, all digits together",
    "lzma, all digits together",
    "VAE bits-back (−ELBO)",
    "VAE z as 32-bit floats",
    "VAE z, 1 bits/dim",
    "VAE z, 3 bits/dim",
}


@pytest.fixture(scope="module")
def table(trained, digits, test_digits):
    x_train, x_test = digits[0], test_digits[0][:60]
    return compression.compression_table(trained, x_train, x_test, bits_per_dim=(1, 3)), x_test


def test_compression_table_rows_and_lossless_sizes(table):
    rows, x = table
    assert set(rows) == ROWS
    assert rows["raw bits"] == {"bits": 784.0, "pixels_wrong": 0}
    lossless = [name for name in ROWS if "VAE z" not in name]
    assert all(rows[name]["pixels_wrong"] == 0 for name in lossless)
    assert rows["PNG, one sheet"]["bits"] == pytest.approx(8 * compression.png_bytes(x, sheet=True))
    hand = b"".join(_packed_by_hand(im[0].numpy()) for im in x)
    assert rows["lzma, all digits together"]["bits"] == pytest.approx(
        8 * len(lzma.compress(hand)) / len(x)
    )


def test_bits_back_row_is_minus_the_elbo_in_bits(table, trained):
    rows, x = table
    row = rows["VAE bits-back (−ELBO)"]
    with torch.no_grad():
        mu, logvar = trained.encode(x)
        # the same seeded z as the table: −ELBO / ln 2 by losses.elbo
        torch.manual_seed(0)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        terms = elbo(x, trained.decode(z), mu, logvar)
        assert row["bits"] == pytest.approx(float(-terms["elbo"].mean()) / LN2, rel=1e-5)
        kl = _kl_reference(mu, logvar) / LN2
        assert row["kl_bits"] == pytest.approx(float(kl.mean()), rel=1e-5)
        # and, seed aside, within Monte Carlo error of −ELBO from 20 fresh z per digit
        r = 20
        q = Normal(mu, torch.exp(0.5 * logvar))
        zs = q.sample((r,))
        rec = torch.stack([_bernoulli_nll_bits(x, trained.decode(zi)) for zi in zs])  # (r, N)
    var = rec.var(0)  # each digit's variance over z of the reconstruction bits
    n = len(x)
    se_table = float(var.sum().sqrt()) / n  # one z per digit
    se_ref = float((var / r).sum().sqrt()) / n
    reference = float((kl + rec.mean(0)).mean())
    assert se_table > 0
    assert abs(row["bits"] - reference) < 5 * math.hypot(se_table, se_ref)


def test_lossy_rows_equal_a_direct_decoding(table, trained, digits):
    rows, x = table
    with torch.no_grad():
        mu, _ = trained.encode(x)
        mu_train, _ = trained.encode(digits[0])
    row = rows["VAE z as 32-bit floats"]
    assert row["bits"] == 32.0 * D
    recon = trained.reconstruct(x)
    wrong = ((recon >= 0.5).float() != x).flatten(1).sum(1).double().mean()
    assert row["pixels_wrong"] == pytest.approx(float(wrong))
    residual = _bernoulli_nll_bits(x, trained.decode(mu).detach()).mean()
    assert row["residual_bits"] == pytest.approx(float(residual), rel=1e-5)
    for b in (1, 3):
        k = 2**b
        row = rows[f"VAE z, {b} bits/dim"]
        assert row["fixed_bits"] == b * D
        # an independent quantizer: the bin of Φ(μ) among k equal bins, by scipy
        sym = np.minimum(np.floor(stats.norm.cdf(mu.double().numpy()) * k), k - 1).astype(int)
        ref = np.minimum(np.floor(stats.norm.cdf(mu_train.double().numpy()) * k), k - 1)
        cost = np.zeros(len(sym))
        for d in range(D):
            p = (np.bincount(ref[:, d].astype(int), minlength=k) + 0.5) / (len(ref) + k / 2)
            cost += -np.log2(p[sym[:, d]])
        assert row["bits"] == pytest.approx(cost.mean(), rel=1e-9)
        z_hat = torch.tensor(stats.norm.ppf((sym + 0.5) / k), dtype=torch.float32)
        with torch.no_grad():
            logits = trained.decode(z_hat)
        wrong = ((torch.sigmoid(logits) >= 0.5).float() != x).flatten(1).sum(1)
        assert row["pixels_wrong"] == pytest.approx(float(wrong.double().mean()))
        residual = _bernoulli_nll_bits(x, logits).mean()
        assert row["residual_bits"] == pytest.approx(float(residual), rel=1e-4)


def test_entropy_coded_cost_is_between_entropy_and_fixed_cost_on_its_own_codes(trained, digits):
    """Coding the training codes themselves: H(p) ≤ cost ≤ b · D per digit.

    With add-½ counts the model is q = λp + (1 − λ)·uniform, so by Gibbs the cost is at
    least the empirical entropy, and by the concavity of log at most λH(p) + (1 − λ)·b ≤ b
    bits per dimension."""
    x = digits[0][:120]
    rows = compression.compression_table(trained, x, x, bits_per_dim=(1, 2, 4))
    with torch.no_grad():
        mu, _ = trained.encode(x)
    for b in (1, 2, 4):
        row = rows[f"VAE z, {b} bits/dim"]
        sym = compression.quantize_latents(mu, b).numpy()
        entropy = 0.0
        for d in range(D):
            p = np.bincount(sym[:, d], minlength=2**b) / len(sym)
            entropy += -(p[p > 0] * np.log2(p[p > 0])).sum()
        assert entropy - 1e-9 <= row["bits"] <= row["fixed_bits"] + 1e-9


def test_compression_table_refuses_grey_digits(trained, digits):
    x = digits[0][:10]
    with pytest.raises(ValueError, match="binary"):
        compression.compression_table(trained, x * 0.7, x, bits_per_dim=(1,))
    with pytest.raises(ValueError, match="binary"):
        compression.compression_table(trained, x, x * 0.7, bits_per_dim=(1,))


# ================================================================================ anomaly
def test_anomaly_scores_are_minus_iwae_with_the_same_seed(digits):
    model = _tiny()
    x = digits[0][:30]
    got = anomaly.anomaly_scores(model, x, k=7, seed=3)
    assert got.shape == (30,)
    torch.manual_seed(3)
    torch.testing.assert_close(got, -iwae_bound(model, x, k=7))
    # in batches: one seeded stream, batch after batch
    batched = anomaly.anomaly_scores(model, x, k=7, batch_size=12, seed=3)
    torch.manual_seed(3)
    expected = torch.cat([-iwae_bound(model, xb, k=7) for xb in x.split(12)])
    torch.testing.assert_close(batched, expected)
    # repeatable, seed-dependent, and the caller's random stream is left alone
    torch.manual_seed(99)
    before = torch.rand(3)
    torch.manual_seed(99)
    torch.testing.assert_close(anomaly.anomaly_scores(model, x, k=7, seed=3), got)
    torch.testing.assert_close(torch.rand(3), before)
    assert not torch.allclose(anomaly.anomaly_scores(model, x, k=7, seed=4), got)


def test_one_sample_score_is_minus_the_elbo_in_expectation(trained, digits):
    """k = 1: −IWAE₁ = −log p(x|z) − log p(z) + log q(z|x), whose mean over z is −ELBO."""
    x = digits[0][:20]
    r = 100
    scores = anomaly.anomaly_scores(trained, x.repeat(r, 1, 1, 1), k=1).reshape(r, 20)
    with torch.no_grad():
        mu, logvar = trained.encode(x)
        zs = Normal(mu, torch.exp(0.5 * logvar)).sample((r,))
        rec = torch.stack([_bernoulli_nll_bits(x, trained.decode(zi)) * LN2 for zi in zs])
    neg_elbo = _kl_reference(mu, logvar) + rec.mean(0)  # nats, (20,)
    diff = scores.double().mean(0) - neg_elbo
    se = torch.sqrt(scores.double().var(0) / r + rec.var(0) / r)
    assert torch.all(diff.abs() < 5 * se)
    assert float(diff.mean().abs()) < 5 * float(se.pow(2).sum().sqrt()) / 20
    # more samples tighten the bound: E[−IWAE₅₀] ≤ E[−IWAE₁]
    k50 = anomaly.anomaly_scores(trained, x, k=50)
    assert (
        float(k50.mean()) < float(scores.double().mean()) + 5 * float(se.pow(2).sum().sqrt()) / 20
    )


def test_anomaly_scores_refuse_bad_input():
    model = _tiny()
    with pytest.raises(ValueError, match="non-empty batch"):
        anomaly.anomaly_scores(model, torch.zeros(0, 1, 28, 28))
    with pytest.raises(ValueError, match="non-empty batch"):
        anomaly.anomaly_scores(model, torch.zeros(3, 784))


def test_inverted_is_one_minus_x_and_x_is_not_changed(digits):
    x = digits[0][:10]
    keep = x.clone()
    torch.testing.assert_close(anomaly.corrupt(x, "inverted"), 1 - keep, rtol=0, atol=0)
    for kind in anomaly.CORRUPTIONS:
        out = anomaly.corrupt(x, kind, amount=0.2, seed=1)
        assert out.shape == x.shape and out.data_ptr() != x.data_ptr()
        torch.testing.assert_close(x, keep, rtol=0, atol=0)
        torch.testing.assert_close(anomaly.corrupt(x, kind, amount=0.2, seed=1), out)


@pytest.mark.parametrize("amount", [0.05, 0.2])
def test_pixel_noise_flips_each_pixel_with_probability_amount(digits, amount):
    x = digits[0]
    out = anomaly.corrupt(x, "pixel noise", amount=amount, seed=5)
    flipped = out != x
    torch.testing.assert_close(out[flipped], 1 - x[flipped], rtol=0, atol=0)
    for region in (x == 1, x == 0):  # the same rate on ink and on background
        n = int(region.sum())
        se = math.sqrt(n * amount * (1 - amount))
        assert abs(int(flipped[region].sum()) - n * amount) < 5 * se
    other = anomaly.corrupt(x, "pixel noise", amount=amount, seed=6)
    assert not torch.equal(other, out)


@pytest.mark.parametrize("amount, side", [(0.1, 9), (0.05, 6), (0.3, 15)])
def test_occluding_block_is_an_ink_square_of_side_sqrt_amount_times_width(digits, amount, side):
    assert side == round(math.sqrt(amount) * 28)
    x = digits[0][:40]
    blank = torch.zeros_like(x)
    blocks = anomaly.corrupt(blank, "occluding block", amount=amount, seed=2)
    tops, lefts = [], []
    for b in blocks[:, 0]:
        rows = torch.nonzero(b.sum(1)).flatten()
        cols = torch.nonzero(b.sum(0)).flatten()
        assert b.sum() == side * side  # one full square, entirely inside the image
        assert len(rows) == side and len(cols) == side
        assert rows[-1] - rows[0] == side - 1 and cols[-1] - cols[0] == side - 1
        tops.append(int(rows[0]))
        lefts.append(int(cols[0]))
    assert len(set(tops)) > 3 and len(set(lefts)) > 3  # placed at random
    # on digits: the same squares (same seed, same N) over the unchanged digit
    out = anomaly.corrupt(x, "occluding block", amount=amount, seed=2)
    torch.testing.assert_close(out, torch.maximum(x, blocks), rtol=0, atol=0)


def test_corrupt_refuses_bad_input(digits):
    x = digits[0][:3]
    with pytest.raises(ValueError, match="unknown corruption"):
        anomaly.corrupt(x, "blur")
    for amount in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="amount"):
            anomaly.corrupt(x, "pixel noise", amount=amount)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        anomaly.corrupt(x[:, 0], "occluding block")


def test_simple_images_are_blank_pages_and_single_two_pixel_bars():
    out = anomaly.simple_images(60, seed=4)
    assert set(out) == {"blank", "one stroke"}
    assert out["blank"].shape == (60, 1, 28, 28) and not out["blank"].any()
    strokes = out["one stroke"]
    assert strokes.shape == (60, 1, 28, 28)
    assert torch.all((strokes == 0) | (strokes == 1))
    lengths = []
    for s in strokes[:, 0]:
        cols = torch.nonzero(s.sum(0)).flatten()
        assert len(cols) == 2 and cols[1] == cols[0] + 1  # two adjacent columns
        rows = torch.nonzero(s[:, cols[0]]).flatten()
        assert torch.equal(s[:, cols[0]], s[:, cols[1]])  # the same rows in both
        length = len(rows)
        assert rows[-1] - rows[0] == length - 1  # one contiguous run
        assert 12 <= length <= 20 and s.sum() == 2 * length
        lengths.append(length)
    assert len(set(lengths)) > 3
    torch.testing.assert_close(anomaly.simple_images(60, seed=4)["one stroke"], strokes)
    assert not torch.equal(anomaly.simple_images(60, seed=5)["one stroke"], strokes)
    with pytest.raises(ValueError, match="n must be"):
        anomaly.simple_images(0)


def test_complexity_corrected_is_bits_minus_zlib_bits(digits):
    x = digits[0][:8]
    scores = torch.linspace(50.0, 120.0, 8)
    got = anomaly.complexity_corrected(scores, x)
    expected = [
        float(s) / LN2 - 8 * len(zlib.compress(_packed_by_hand(im[0].numpy())))
        for s, im in zip(scores, x, strict=True)
    ]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="one score per image"):
        anomaly.complexity_corrected(scores[:5], x)


def _pairwise_auc(neg, pos):
    diff = pos[:, None].double() - neg[None, :].double()
    return float(((diff > 0).double() + 0.5 * (diff == 0).double()).mean())


def test_anomaly_table_means_and_aurocs_equal_a_direct_computation(trained, test_digits):
    clean = test_digits[0][:40]
    anomalies = {
        "inverted": anomaly.corrupt(clean, "inverted"),
        "pixel noise": anomaly.corrupt(clean, "pixel noise", amount=0.1),
        **anomaly.simple_images(30),
    }
    out = anomaly.anomaly_table(trained, clean, anomalies, k=5, seed=1)
    assert set(out) == {"clean", *anomalies}
    base = anomaly.anomaly_scores(trained, clean, k=5, seed=1)
    assert out["clean"]["score"] == pytest.approx(float(base.mean()))
    base_c = base / LN2 - compression.complexity_bits(clean)
    for name, images in anomalies.items():
        s = anomaly.anomaly_scores(trained, images, k=5, seed=1)
        assert out[name]["score"] == pytest.approx(float(s.mean()))
        assert out[name]["auroc"] == pytest.approx(_pairwise_auc(base, s), abs=1e-12)
        s_c = s / LN2 - compression.complexity_bits(images)
        assert out[name]["corrected_auroc"] == pytest.approx(_pairwise_auc(base_c, s_c), abs=1e-12)
    # even three epochs of training put every inverted digit far below every real one
    assert out["inverted"]["auroc"] == 1.0


# =========================================================================== augmentation
def test_few_label_indices_draw_per_class_distinct_random_digits():
    labels = torch.arange(10).repeat_interleave(50)  # sorted by label, as bundled
    idx = augmentation.few_label_indices(labels, 4, seed=0)
    assert idx.shape == (40,) and len(set(idx.tolist())) == 40
    assert torch.bincount(labels[idx], minlength=10).tolist() == [4] * 10
    first = {50 * c + i for c in range(10) for i in range(4)}
    assert set(idx.tolist()) != first  # not the first ones of each class
    torch.testing.assert_close(augmentation.few_label_indices(labels, 4, seed=0), idx)
    assert set(augmentation.few_label_indices(labels, 4, seed=1).tolist()) != set(idx.tolist())
    everything = augmentation.few_label_indices(labels, 50, seed=3)
    assert sorted(everything.tolist()) == list(range(500))


def test_few_label_indices_refuse_bad_input():
    labels = torch.arange(3).repeat_interleave(5)
    with pytest.raises(ValueError, match="integers of shape"):
        augmentation.few_label_indices(labels.float(), 2)
    with pytest.raises(ValueError, match="integers of shape"):
        augmentation.few_label_indices(labels.reshape(3, 5), 2)
    with pytest.raises(ValueError, match="per_class"):
        augmentation.few_label_indices(labels, 0)
    with pytest.raises(ValueError, match="fewer than 6"):
        augmentation.few_label_indices(labels, 6)


def _shifted(image, dy, dx, m):
    """The image moved down by dy and right by dx, zeros shifted in: torch.roll on a padded copy."""
    h, w = image.shape[-2:]
    rolled = torch.roll(F.pad(image, (m,) * 4), shifts=(dy, dx), dims=(-2, -1))
    return rolled[..., m : m + h, m : m + w]


def test_zero_shift_gives_exact_copies_copy_major(digits):
    x = digits[0][:5]
    out = augmentation.random_shifts(x, copies=3, max_shift=0)
    assert out.shape == (15, 1, 28, 28)
    torch.testing.assert_close(out, x.repeat(3, 1, 1, 1), rtol=0, atol=0)


def test_each_shift_is_a_roll_of_the_padded_digit_with_uniform_offsets(digits):
    x, m = digits[0][:25], 2
    out = augmentation.random_shifts(x, copies=40, max_shift=m, seed=1)
    assert out.shape == (1000, 1, 28, 28)
    offsets = [(dy, dx) for dy in range(-m, m + 1) for dx in range(-m, m + 1)]
    candidates = torch.stack(
        [torch.stack([_shifted(im, dy, dx, m) for dy, dx in offsets]) for im in x]
    )
    counts = torch.zeros(len(offsets))
    for i, image in enumerate(out):
        match = (candidates[i % 25] == image).flatten(1).all(1)
        assert int(match.sum()) == 1  # exactly one offset reproduces it
        counts += match
    n, cells = len(out), len(offsets)
    se = math.sqrt(n / cells * (1 - 1 / cells))
    assert (counts - n / cells).abs().max() < 5 * se
    # digits with an empty border of 2 pixels keep all their ink
    inner = x[:, :, :m].sum((1, 2, 3)) + x[:, :, -m:].sum((1, 2, 3))
    inner += x[..., :m].sum((1, 2, 3)) + x[..., -m:].sum((1, 2, 3))
    keep = (inner == 0).repeat(40)
    assert keep.sum() > 100
    ink_in = x.repeat(40, 1, 1, 1).sum((1, 2, 3))
    torch.testing.assert_close(out.sum((1, 2, 3))[keep], ink_in[keep], rtol=0, atol=0)


def test_a_corner_pixel_is_shifted_out_not_wrapped_around():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 0, 0] = 1
    out = augmentation.random_shifts(image, copies=400, max_shift=2, seed=0)
    assert out[:, :, 3:].sum() == 0 and out[:, :, :, 3:].sum() == 0  # no wrap to row/col 27
    kept = out.sum((1, 2, 3))
    n, p = 400, (3 / 5) ** 2  # kept when dy ≥ 0 and dx ≥ 0
    assert abs(float(kept.sum()) - n * p) < 5 * math.sqrt(n * p * (1 - p))
    assert not augmentation.random_shifts(image, copies=400, seed=1).equal(out)
    for bad in ({"copies": 0}, {"copies": 2, "max_shift": -1}):
        with pytest.raises(ValueError, match="copies >= 1"):
            augmentation.random_shifts(image, **bad)


def test_cvae_digits_shapes_labels_and_range(digits):
    x, y = digits
    idx = augmentation.few_label_indices(y, 2, seed=0)
    xs, ys = augmentation.cvae_digits(x[idx], y[idx], copies=2, steps=1, latent_dim=3, seed=0)
    assert xs.shape == (40, 1, 28, 28) and xs.device.type == "cpu"
    assert 0 <= float(xs.min()) and float(xs.max()) <= 1
    assert torch.equal(ys, y[idx].repeat(2))
    again, _ = augmentation.cvae_digits(x[idx], y[idx], copies=2, steps=1, latent_dim=3, seed=0)
    torch.testing.assert_close(again, xs)


def test_augmentation_trial_equals_its_conditions_trained_directly(digits, test_digits):
    x, y = digits
    xt, yt = test_digits
    kw = {"per_class": 2, "seed": 1, "copies": 1, "classifier_steps": 2, "cvae_steps": 1}
    out = augmentation.augmentation_trial(x, y, xt, yt, **kw)
    assert set(out) == {*augmentation.CONDITIONS, "seconds"}
    assert all(0 <= out[c] <= 1 for c in augmentation.CONDITIONS) and out["seconds"] > 0
    idx = augmentation.few_label_indices(y, 2, seed=1)
    xr, yr = x[idx], y[idx]
    real = train_digit_classifier(xr, yr, steps=2, seed=1)
    assert out["real only"] == accuracy(real, xt, yt)
    xs = torch.cat([xr, augmentation.random_shifts(xr, 1, seed=1)])
    shifts = train_digit_classifier(xs, torch.cat([yr, yr]), steps=2, seed=1)
    assert out["real + shifts"] == accuracy(shifts, xt, yt)
    only = augmentation.augmentation_trial(x, y, xt, yt, **kw, conditions=("real only",))
    assert set(only) == {"real only", "seconds"} and only["real only"] == out["real only"]
    with pytest.raises(ValueError, match="unknown conditions"):
        augmentation.augmentation_trial(x, y, xt, yt, **kw, conditions=("real + GAN",))


# ============================================================= the classifier's step budget
def _count_adam_steps(monkeypatch):
    counter = {"n": 0}
    original = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        counter["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    return counter


@pytest.mark.parametrize("n, steps", [(10, 3), (64, 2), (65, 3), (130, 5), (200, 1)])
def test_steps_gives_exactly_that_many_updates_whatever_n(monkeypatch, digits, n, steps):
    counter = _count_adam_steps(monkeypatch)
    x, y = digits
    clf = train_digit_classifier(x[:n], y[:n], steps=steps)
    assert counter["n"] == steps and not clf.training


def test_without_steps_the_epochs_decide_and_equal_budgets_give_equal_models(monkeypatch, digits):
    counter = _count_adam_steps(monkeypatch)
    x, y = digits[0][:130], digits[1][:130]
    by_epochs = train_digit_classifier(x, y, epochs=2, batch_size=64)
    assert counter["n"] == 2 * 3  # ⌈130 / 64⌉ = 3 batches per epoch
    by_steps = train_digit_classifier(x, y, steps=6, batch_size=64)
    for a, b in zip(by_epochs.parameters(), by_steps.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for bad in (0, -2):
        with pytest.raises(ValueError, match="steps must be >= 1"):
            train_digit_classifier(x, y, steps=bad)


# ======================================================================= latent arithmetic
def test_ink_sums_the_pixels():
    images = torch.tensor([[[[0.5, 1.0], [0.0, 0.25]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    assert la.ink(images).tolist() == [1.75, 4.0]
    assert la.ink(images.reshape(2, 4)).tolist() == [1.75, 4.0]
    with pytest.raises(ValueError, match="batch of images"):
        la.ink(torch.ones(4))


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_stroke_groups_are_each_classes_top_and_bottom_by_ink(digits, fraction):
    x, y = digits
    thick, thin = la.stroke_groups(x, y, fraction)
    assert thick.dtype == thin.dtype == torch.bool and not (thick & thin).any()
    amount = x.sum((1, 2, 3)).numpy()
    for c in range(10):
        members = (y == c).numpy()
        k = max(1, int(fraction * members.sum()))
        assert int(thick[members].sum()) == k == int(thin[members].sum())
        ranked = np.sort(amount[members])
        assert np.sort(amount[(thick.numpy()) & members]).tolist() == ranked[-k:].tolist()
        assert np.sort(amount[(thin.numpy()) & members]).tolist() == ranked[:k].tolist()
        assert amount[thick.numpy() & members].mean() > amount[thin.numpy() & members].mean()
    with pytest.raises(ValueError, match="fraction"):
        la.stroke_groups(x, y, 0.6)
    with pytest.raises(ValueError, match="fraction"):
        la.stroke_groups(x, y, 0.0)
    with pytest.raises(ValueError, match="one label per image"):
        la.stroke_groups(x, y[:-1])


def test_attribute_vector_hand_example():
    mu = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    group = torch.tensor([True, True, False, False])
    other = torch.tensor([False, False, False, True])
    assert la.attribute_vector(mu, group, other).tolist() == [2 - 7, 3 - 8]
    with pytest.raises(ValueError, match="at least one code"):
        la.attribute_vector(mu, group, torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="boolean masks"):
        la.attribute_vector(mu, group[:3], other)


def test_apply_attribute_decodes_shifted_means(digits):
    model = _tiny(seed=2)
    x = digits[0][:5]
    v = torch.tensor([1.0, -2.0, 0.5, 0.0])
    out = la.apply_attribute(model, x, v, [0.0, 1.5, -3.0])
    assert out.shape == (3, 5, 1, 28, 28)
    torch.testing.assert_close(out[0], model.reconstruct(x))
    with torch.no_grad():
        mu, _ = model.encode(x)
        for i, s in enumerate([0.0, 1.5, -3.0]):
            torch.testing.assert_close(out[i], torch.sigmoid(model.decode(mu + s * v)))
    assert not torch.allclose(out[1], out[0])
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        la.apply_attribute(model, x, torch.ones(3), [1.0])


@pytest.mark.parametrize("omega", [0.3, 1.0, 2.0, 3.0])
def test_midpoint_norm_ratio_is_cos_half_angle_for_lerp_and_one_for_slerp(omega):
    g = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    radii = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64).reshape(-1, 1)
    u, w = basis[:, 0], basis[:, 1]
    z_a = (radii * u).float()
    z_b = (radii * (math.cos(omega) * u + math.sin(omega) * w)).float()
    lin = la.midpoint_norm_ratio(z_a, z_b, "linear")
    sph = la.midpoint_norm_ratio(z_a, z_b, "spherical")
    assert lin.shape == sph.shape == (3,)
    torch.testing.assert_close(lin, torch.full((3,), math.cos(omega / 2)), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sph, torch.ones(3), rtol=1e-5, atol=1e-6)


def test_midpoint_norm_ratio_of_unequal_norms_and_bad_input():
    z_a = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    z_b = torch.tensor([[2.0, 0.0], [0.0, 4.0]])  # parallel; orthogonal with norms 3 and 4
    ratio = la.midpoint_norm_ratio(z_a, z_b, "linear")
    torch.testing.assert_close(ratio, torch.tensor([1.0, 2.5 / 3.5]))
    with pytest.raises(ValueError, match="both be"):
        la.midpoint_norm_ratio(z_a, z_b[:1], "linear")
    with pytest.raises(ValueError, match="method"):
        la.midpoint_norm_ratio(z_a, z_b, "cubic")
