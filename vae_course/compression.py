"""What it really costs to send a digit through a VAE's code, in bits (chapter 11).

"784 pixels → 20 numbers = 39.2× compression" counts numbers, not bits. This module counts
bits, for binary digits (the fixed binarization of the likelihood protocol):

* :func:`kl_bits`: KL(q(z|x) ‖ p(z)) in bits, the rate of a VAE code. With bits-back coding
  (Hinton & van Camp 1993; Townsend et al. 2019) a sample z ~ q(z|x) costs KL bits on
  average, and the *lossless* code length of x is −ELBO / ln 2 bits.
* :func:`quantize_latents` / :func:`dequantize_latents`: a lossy code, the posterior mean
  quantized to ``bits`` per dimension in bins of equal prior probability;
  :func:`entropy_code_bits`: the ideal cost of those symbols, −log₂ of their frequencies
  (counted on training codes, add-½ smoothed), which an arithmetic coder reaches within a
  few bits per message.
* :func:`png_bytes` and :func:`compressor_bytes`: what standard lossless tools need for the
  same binary digits, one file per digit or all digits in one file.

Units: bits per digit unless the name says bytes.
"""

from __future__ import annotations

import bz2
import io
import lzma
import math
import zlib

import numpy as np
import torch

from .losses import gaussian_kl

__all__ = [
    "kl_bits",
    "quantize_latents",
    "dequantize_latents",
    "entropy_code_bits",
    "pixels_wrong",
    "png_bytes",
    "compressor_bytes",
    "complexity_bits",
    "compression_table",
    "COMPRESSORS",
]

COMPRESSORS = {"zlib": zlib.compress, "bz2": bz2.compress, "lzma": lzma.compress}


def kl_bits(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) ‖ N(0, I)) per example, in bits: (B,).

    mu, logvar: (B, D). The closed-form KL in nats (:func:`vae_course.losses.gaussian_kl`)
    divided by ln 2. It is the average cost of sending one z ~ q(z|x) with bits-back coding.
    """
    return gaussian_kl(mu, logvar) / math.log(2)


def _check_bits(bits: int) -> int:
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16:
        raise ValueError(f"bits per dimension must be an int in [1, 16], got {bits!r}")
    return bits


def quantize_latents(mu: torch.Tensor, bits: int) -> torch.Tensor:
    """Symbols (B, D) int64 in [0, 2^bits): mu's bin among 2^bits bins of equal prior mass.

    Bin edges are the N(0, 1) quantiles i / 2^bits, so under the prior every symbol is
    equally likely (``bits`` bits per dimension before entropy coding). mu: (B, D) float.
    """
    bits = _check_bits(bits)
    if not isinstance(mu, torch.Tensor) or not mu.is_floating_point() or mu.dim() != 2:
        raise ValueError(f"expected posterior means mu of shape (B, D), float; got {mu!r:.60}")
    if not torch.isfinite(mu).all():
        raise ValueError("mu holds NaN or inf: cannot quantize")
    u = torch.special.ndtr(mu.double())
    return (u * 2**bits).floor().clamp(0, 2**bits - 1).long()


def dequantize_latents(symbols: torch.Tensor, bits: int) -> torch.Tensor:
    """The decoder's z (B, D) float32 for symbols from :func:`quantize_latents`.

    Each symbol maps to the prior median of its bin: Φ⁻¹((s + ½) / 2^bits).
    """
    bits = _check_bits(bits)
    if symbols.is_floating_point() or symbols.dim() != 2:
        raise ValueError(f"expected integer symbols of shape (B, D), got {symbols.dtype}")
    if symbols.min() < 0 or symbols.max() >= 2**bits:
        raise ValueError(f"symbols must lie in [0, {2**bits}) for {bits} bits per dimension")
    return torch.special.ndtri((symbols.double() + 0.5) / 2**bits).float()


def entropy_code_bits(symbols: torch.Tensor, reference: torch.Tensor, bits: int) -> torch.Tensor:
    """Ideal code length (B,) in bits of each row of ``symbols`` under per-dimension frequencies.

    The model of dimension d is the histogram of ``reference[:, d]`` (e.g. the training
    digits' symbols) with ½ added to each of the 2^bits counts, so an unseen symbol costs a
    finite number of bits; a row costs Σ_d −log₂ p_d(symbols[b, d]). Fitting the histogram
    on the rows being coded would be cheating: the receiver has no copy of them.
    symbols: (B, D); reference: (M, D); both int64 in [0, 2^bits).
    """
    bits = _check_bits(bits)
    if symbols.dim() != 2 or reference.dim() != 2 or symbols.shape[1] != reference.shape[1]:
        raise ValueError(
            f"symbols (B, D) and reference (M, D) need the same D; got {tuple(symbols.shape)} "
            f"and {tuple(reference.shape)}"
        )
    k = 2**bits
    for name, s in (("symbols", symbols), ("reference", reference)):
        if s.is_floating_point() or s.min() < 0 or s.max() >= k:
            raise ValueError(f"{name} must be integers in [0, {k}) for {bits} bits per dimension")
    d = symbols.shape[1]
    counts = torch.full((d, k), 0.5, dtype=torch.float64)
    counts.scatter_add_(
        1, reference.t().long(), torch.ones(reference.t().shape, dtype=torch.float64)
    )
    log_p = torch.log2(counts / counts.sum(1, keepdim=True))  # (D, k)
    return -log_p.gather(1, symbols.t().long()).t().sum(1)


def pixels_wrong(x: torch.Tensor, probabilities: torch.Tensor) -> torch.Tensor:
    """Pixels per image (N,) where the decoded mean, thresholded at ½, differs from binary x.

    x: (N, ...) with values in {0, 1}; probabilities: the same shape, in [0, 1].
    """
    if x.shape != probabilities.shape:
        raise ValueError(f"x and probabilities differ in shape: {x.shape} vs {probabilities.shape}")
    if not torch.all((x == 0) | (x == 1)):
        raise ValueError("x must be binary (0/1): use load_mnist(binarize='static')")
    return ((probabilities >= 0.5).to(x.dtype) != x).flatten(1).sum(1)


def _binary_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 1, H, W) or (N, H, W) binary tensor → (N, H, W) uint8 array of 0/1."""
    if not isinstance(images, torch.Tensor) or images.dim() not in (3, 4):
        raise ValueError("expected binary images (N, 1, H, W) or (N, H, W)")
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"expected one channel, got {images.shape[1]}")
        images = images[:, 0]
    if not torch.all((images == 0) | (images == 1)):
        raise ValueError("images must be binary (0/1): use load_mnist(binarize='static')")
    return images.to(torch.uint8).cpu().numpy()


def png_bytes(images: torch.Tensor, *, sheet: bool = False) -> float:
    """Mean bytes per image of 1-bit PNG files (Pillow, highest compression level).

    ``sheet=False``: one PNG file per image (headers included, as you would store them);
    ``sheet=True``: all images side by side in one PNG, its size divided by N (the
    per-file overhead shared). images: (N, 1, H, W) or (N, H, W) with values in {0, 1}.
    """
    from PIL import Image

    arr = _binary_uint8(images) * 255

    def size(a: np.ndarray) -> int:
        buf = io.BytesIO()
        Image.fromarray(a).convert("1").save(buf, format="PNG", optimize=True)
        return buf.tell()

    if sheet:
        return size(np.concatenate(list(arr), axis=1)) / len(arr)
    return float(np.mean([size(a) for a in arr]))


def compressor_bytes(images: torch.Tensor, method: str = "lzma", *, together: bool = True) -> float:
    """Mean bytes per image when the packed bits (1 bit per pixel) go through a byte compressor.

    ``method``: "zlib", "bz2" or "lzma" (Python's standard library, default settings).
    ``together=True`` compresses all images as one stream (the compressor learns what digits
    share), ``False`` compresses each image on its own. images: binary (N, 1, H, W).
    """
    if method not in COMPRESSORS:
        raise ValueError(f"unknown compressor {method!r}; known: {sorted(COMPRESSORS)}")
    packed = np.packbits(_binary_uint8(images).reshape(len(images), -1), axis=1)
    compress = COMPRESSORS[method]
    if together:
        return len(compress(packed.tobytes())) / len(packed)
    return float(np.mean([len(compress(row.tobytes())) for row in packed]))


def complexity_bits(images: torch.Tensor, method: str = "zlib") -> torch.Tensor:
    """Per-image compressed length (N,) in bits: each image's packed bits through ``method``.

    A generic estimate of how complex an image is (a blank page compresses to almost
    nothing). Chapter 11 subtracts it from a likelihood score (Serrà et al. 2020): the score
    then asks "how much better than a generic compressor does the model explain x?".
    """
    if method not in COMPRESSORS:
        raise ValueError(f"unknown compressor {method!r}; known: {sorted(COMPRESSORS)}")
    packed = np.packbits(_binary_uint8(images).reshape(len(images), -1), axis=1)
    compress = COMPRESSORS[method]
    return torch.tensor([8.0 * len(compress(row.tobytes())) for row in packed])


@torch.no_grad()
def compression_table(
    model, x_train: torch.Tensor, x_test: torch.Tensor, bits_per_dim=(1, 2, 4, 8)
) -> dict[str, dict[str, float]]:
    """Bits per test digit of every way chapter 11 sends binary digits, with their errors.

    x_train, x_test: binary digits (N, 1, 28, 28); the model has ``encode``/``decode``
    (Bernoulli logits). Rows (each a dict):

    * "raw bits": 784 bits, lossless;
    * "PNG, one file per digit" / "PNG, one sheet": :func:`png_bytes` × 8;
    * "zlib/bz2/lzma, all digits together": :func:`compressor_bytes` × 8;
    * "VAE bits-back (−ELBO)": the lossless bits-back code length, −ELBO / ln 2, with its
      rate ``kl_bits`` (the KL part);
    * "VAE z as 32-bit floats": D · 32 bits, lossy;
    * f"VAE z, {b} bits/dim": the quantized posterior mean, ``bits`` = its entropy-coded cost
      (:func:`entropy_code_bits`, frequencies from x_train), ``fixed_bits`` = D · b.

    Each row has ``bits`` (per digit) and ``pixels_wrong`` (0 for lossless rows; for lossy
    ones the decoded mean thresholded at ½ against the digit); lossy rows also have
    ``residual_bits``, −log₂ p(x | ẑ): what it costs to send the remaining errors with the
    decoder as the coder's model (a two-part lossless code is ``bits + residual_bits``).
    """
    from .inference import encode_means, eval_mode, model_device
    from .losses import bernoulli_log_likelihood

    _binary_uint8(x_train), _binary_uint8(x_test)  # raise for non-binary images
    n_pixels = x_test[0].numel()
    rows: dict[str, dict[str, float]] = {"raw bits": {"bits": float(n_pixels), "pixels_wrong": 0}}
    rows["PNG, one file per digit"] = {"bits": 8 * png_bytes(x_test), "pixels_wrong": 0}
    rows["PNG, one sheet"] = {"bits": 8 * png_bytes(x_test, sheet=True), "pixels_wrong": 0}
    for method in COMPRESSORS:
        rows[f"{method}, all digits together"] = {
            "bits": 8 * compressor_bytes(x_test, method),
            "pixels_wrong": 0,
        }
    mu, logvar = encode_means(model, x_test)
    mu_train, _ = encode_means(model, x_train)
    device = model_device(model)

    def decode(z: torch.Tensor) -> torch.Tensor:
        with eval_mode(model):
            return model.decode(z.to(device)).cpu()

    def lossy(z: torch.Tensor, bits: torch.Tensor | float) -> dict[str, float]:
        logits = decode(z)
        residual = -bernoulli_log_likelihood(x_test.flatten(1), logits.flatten(1)) / math.log(2)
        wrong = pixels_wrong(x_test, torch.sigmoid(logits))
        return {
            "bits": float(torch.as_tensor(bits, dtype=torch.float64).mean()),
            "pixels_wrong": float(wrong.double().mean()),
            "residual_bits": float(residual.double().mean()),
        }

    # −ELBO with one z ~ q per digit, seeded: the bits-back code length of x
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    rate = kl_bits(mu, logvar)
    recon = -bernoulli_log_likelihood(x_test.flatten(1), decode(z).flatten(1)) / math.log(2)
    rows["VAE bits-back (−ELBO)"] = {
        "bits": float((rate + recon).double().mean()),
        "pixels_wrong": 0,
        "kl_bits": float(rate.double().mean()),
    }
    rows["VAE z as 32-bit floats"] = lossy(mu, 32.0 * mu.shape[1])
    for b in bits_per_dim:
        symbols = quantize_latents(mu, b)
        row = lossy(
            dequantize_latents(symbols, b),
            entropy_code_bits(symbols, quantize_latents(mu_train, b), b),
        )
        row["fixed_bits"] = float(b * mu.shape[1])
        rows[f"VAE z, {b} bits/dim"] = row
    return rows
