"""Measurements for diagnosing a VAE's common failures (chapter 10) on images, not codes.

* :func:`sharpness`: mean gradient magnitude of each image (blur lowers it);
* :func:`high_frequency_ratio`: share of an image's spectral energy above a spatial frequency;
* :func:`path_jumps`: how far consecutive images along a decoded path move (a path that
  "jumps" has one large step among small ones).

Images are ``(N, C, H, W)`` or ``(N, H, W)`` tensors with values in [0, 1]; results are CPU
tensors with one value per image (or per path).
"""

from __future__ import annotations

import torch

__all__ = ["sharpness", "high_frequency_ratio", "path_jumps"]


def _as_stack(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """(N, H, W) float64 on the CPU from (N, H, W) or (N, 1, H, W); clear errors otherwise."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise ValueError(f"{name} must be a float tensor (N, 1, H, W) or (N, H, W)")
    if images.dim() == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.dim() != 3 or min(images.shape[1:]) < 2:
        raise ValueError(
            f"{name} must be (N, 1, H, W) or (N, H, W) with H, W >= 2; got {tuple(images.shape)}"
        )
    return images.detach().to("cpu", torch.float64)


def sharpness(images: torch.Tensor) -> torch.Tensor:
    """Mean gradient magnitude of each image, (N,) in intensity units per pixel.

    With forward differences dx = x[:, i, j+1] − x[:, i, j] and dy = x[:, i+1, j] − x[:, i, j]
    on the (H−1) × (W−1) grid where both exist: mean of sqrt(dx² + dy²). A constant image
    scores 0. It is a mean total variation: a 0→1 edge and a ramp with the same rise across the
    image score the same, but blurring a thin stroke (a rise and a fall) lowers its peak and
    so its score, which is why blurry digits score lower than real ones.
    """
    x = _as_stack(images)
    dx = x[:, :-1, 1:] - x[:, :-1, :-1]
    dy = x[:, 1:, :-1] - x[:, :-1, :-1]
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2)).float()


def high_frequency_ratio(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Share of each image's spectral energy at spatial frequencies above ``cutoff``, (N,).

    The image's mean is removed first (the DC term carries no detail); frequencies are in
    cycles per pixel, radius sqrt(fx² + fy²) ≤ 0.707, so ``cutoff`` = 0.25 keeps detail finer
    than about four pixels per cycle. A constant image scores 0; a 1-pixel checkerboard 1.
    """
    if not 0 < cutoff < 0.71:
        raise ValueError(f"cutoff must be in (0, 0.71) cycles per pixel, got {cutoff}")
    x = _as_stack(images)
    x = x - x.mean(dim=(1, 2), keepdim=True)
    power = torch.fft.fft2(x).abs() ** 2
    fy = torch.fft.fftfreq(x.shape[1], dtype=torch.float64)
    fx = torch.fft.fftfreq(x.shape[2], dtype=torch.float64)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    total = power.sum(dim=(1, 2))
    high = (power * (radius > cutoff)).sum(dim=(1, 2))
    return torch.where(total > 0, high / total.clamp(min=1e-300), torch.zeros_like(total)).float()


def path_jumps(paths: torch.Tensor) -> dict[str, torch.Tensor]:
    """Step sizes along decoded paths: paths (P, S, C, H, W) or (S, C, H, W) for one path.

    Step s is the root-mean-square pixel change between images s and s+1. Returns
    ``steps`` (P, S−1), ``largest`` (P,) the largest step, ``length`` (P,) their sum, and
    ``jump_ratio`` (P,) = largest / mean step: 1 for a path of equal steps, S − 1 when the
    whole change happens in one step.
    """
    if not isinstance(paths, torch.Tensor) or not paths.is_floating_point():
        raise ValueError("paths must be a float tensor (P, S, C, H, W) or (S, C, H, W)")
    if paths.dim() == 4:
        paths = paths.unsqueeze(0)
    if paths.dim() != 5 or paths.shape[1] < 2:
        raise ValueError(
            "paths must be (P, S, C, H, W) or (S, C, H, W) with at least 2 steps S; "
            f"got {tuple(paths.shape)}"
        )
    p = paths.detach().to("cpu", torch.float64).flatten(2)
    steps = torch.sqrt(((p[:, 1:] - p[:, :-1]) ** 2).mean(dim=2))
    length = steps.sum(dim=1)
    largest = steps.max(dim=1).values
    mean = steps.mean(dim=1)
    ratio = torch.where(mean > 0, largest / mean.clamp(min=1e-300), torch.ones_like(mean))
    return {
        "steps": steps.float(),
        "largest": largest.float(),
        "length": length.float(),
        "jump_ratio": ratio.float(),
    }
