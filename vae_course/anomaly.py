"""Anomaly detection with a VAE's likelihood, and where it fails (chapter 11).

A VAE trained on digits gives every image a bound on log p(x). Images unlike the training
data should get a low bound, so −IWAE_k(x) is an anomaly score. :func:`anomaly_scores`
computes it, :func:`corrupt` makes anomalous digits (pixel noise, an occluding block,
inverted ink), :func:`simple_images` makes inputs of a simpler kind (blank pages, one
stroke), and :func:`anomaly_table` reports each kind's AUROC against clean test digits
(:func:`vae_course.scores.auroc`). The known failure (Nalisnick et al. 2019): simple
inputs get a *higher* likelihood than the training data, an AUROC below ½.

Shapes: images (N, 1, 28, 28) with values in {0, 1} (the fixed binarization of the
likelihood protocol). Units: scores in nats per image.
"""

from __future__ import annotations

import math

import torch

from .compression import complexity_bits
from .inference import eval_mode, model_device
from .losses import iwae_bound
from .scores import auroc

__all__ = [
    "anomaly_scores",
    "complexity_corrected",
    "corrupt",
    "simple_images",
    "CORRUPTIONS",
    "anomaly_table",
]

CORRUPTIONS = ("pixel noise", "occluding block", "inverted")


@torch.no_grad()
def anomaly_scores(
    model, x: torch.Tensor, k: int = 50, batch_size: int = 200, seed: int = 0
) -> torch.Tensor:
    """−IWAE_k(x) per image (N,), nats: higher means less likely under the model.

    x: (N, C, H, W) in [0, 1]. One seeded IWAE_k estimate per image
    (:func:`vae_course.losses.iwae_bound`) on the model's device; returned on the CPU.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or len(x) == 0:
        raise ValueError(f"expected a non-empty batch of images (N, C, H, W), got {x!r:.60}")
    device = model_device(model)
    scores = []
    with torch.random.fork_rng(devices=[]), eval_mode(model):
        torch.manual_seed(seed)
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            scores.append(-iwae_bound(model, xb, k=k).cpu())
    return torch.cat(scores)


def complexity_corrected(scores: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Scores in bits minus each image's generic compressed length: (N,) bits.

    ``scores``: −log p(x) estimates (N,) in nats (:func:`anomaly_scores`); images: the binary
    images they score. Returns scores / ln 2 − :func:`vae_course.compression.complexity_bits`
    (zlib): how many bits *more* the model needs than a generic compressor (Serrà et al.
    2020). Simple images are cheap for both, so they no longer look typical.
    """
    if scores.shape != (len(images),):
        raise ValueError(f"need one score per image: scores ({len(images)},), got {scores.shape}")
    return scores / math.log(2) - complexity_bits(images)


def corrupt(x: torch.Tensor, kind: str, *, amount: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Corrupted copies of binary digits x (N, 1, H, W): a new tensor, x is not changed.

    ``kind``: "pixel noise" flips each pixel with probability ``amount``; "occluding block"
    sets a random square of side round(√amount · W) (10 % of the area by default) to ink;
    "inverted" swaps ink and background (1 − x). Seeded: the same seed gives the same images.
    """
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; known: {list(CORRUPTIONS)}")
    if not 0 < amount < 1:
        raise ValueError(f"amount must be in (0, 1), got {amount}")
    if x.dim() != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(x.shape)}")
    g = torch.Generator().manual_seed(seed)
    if kind == "inverted":
        return 1.0 - x
    if kind == "pixel noise":
        flip = torch.rand(x.shape, generator=g) < amount
        return torch.where(flip.to(x.device), 1.0 - x, x)
    n, _, h, w = x.shape
    side = max(1, round((amount**0.5) * w))
    out = x.clone()
    top = torch.randint(0, h - side + 1, (n,), generator=g)
    left = torch.randint(0, w - side + 1, (n,), generator=g)
    for i in range(n):
        out[i, :, top[i] : top[i] + side, left[i] : left[i] + side] = 1.0
    return out


def simple_images(n: int = 100, size: int = 28, seed: int = 0) -> dict[str, torch.Tensor]:
    """Inputs of a simpler kind than digits, each (n, 1, size, size) binary.

    "blank": all background (every pixel 0); "one stroke": a single vertical bar two pixels
    wide and 12–20 pixels long at a random place near the centre (simpler than any digit).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    g = torch.Generator().manual_seed(seed)
    strokes = torch.zeros(n, 1, size, size)
    for i in range(n):
        length = int(torch.randint(12, 21, (1,), generator=g))
        col = int(torch.randint(size // 2 - 4, size // 2 + 3, (1,), generator=g))
        top = int(torch.randint(4, size - length - 3, (1,), generator=g))
        strokes[i, 0, top : top + length, col : col + 2] = 1.0
    return {"blank": torch.zeros(n, 1, size, size), "one stroke": strokes}


def anomaly_table(
    model,
    clean: torch.Tensor,
    anomalies: dict[str, torch.Tensor],
    *,
    k: int = 50,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Each kind of anomaly against clean digits: mean score and AUROC.

    ``clean``: (N, 1, H, W) test digits of the training classes; ``anomalies``: name →
    images. Returns ``{"clean": {"score": ...}, name: {"score": ..., "auroc": ...}}``:
    ``score`` is the mean −IWAE_k (nats per image) and ``auroc`` the probability that an
    anomaly scores higher than a clean digit (1: perfect detection, ½: chance, below ½: the
    anomalies look *more* likely than real digits). ``corrected_auroc`` is the same for the
    :func:`complexity_corrected` score.
    """
    base = anomaly_scores(model, clean, k=k, seed=seed)
    base_c = complexity_corrected(base, clean)
    out = {"clean": {"score": float(base.mean())}}
    for name, images in anomalies.items():
        s = anomaly_scores(model, images, k=k, seed=seed)
        labels = torch.cat([torch.zeros(len(base)), torch.ones(len(s))])
        out[name] = {
            "score": float(s.mean()),
            "auroc": auroc(torch.cat([base, s]), labels),
            "corrected_auroc": auroc(torch.cat([base_c, complexity_corrected(s, images)]), labels),
        }
    return out
