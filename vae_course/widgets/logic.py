"""The latent explorers' state → image logic: plain functions, no widgets, no browser.

Everything a widget shows is computed here, so tests (and learners) can call it directly.
Latent codes ``z`` are ``(B, D)`` tensors (or array-likes); decoding always runs on the
*model's* device and only the finished images come back to the CPU as NumPy arrays.

The model is duck-typed: anything with ``decode(z) -> logits (B, C, H, W)`` and
``latent_dim`` (and ``encode(x) -> (mu, logvar)`` where data are encoded) works.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..inference import encode_means, model_device
from ..inference import eval_mode as _eval_mode
from ..losses import gaussian_kl_per_dim
from ..plot import latent_grid

__all__ = [
    "model_device",
    "decode_images",
    "encode_means",
    "set_coordinate",
    "lerp",
    "slerp",
    "interpolation_path",
    "plane_codes",
    "traversal_values",
    "traversal_codes",
    "kl_ranked_dims",
]


def _as_codes(z, latent_dim: int | None = None) -> torch.Tensor:
    z = torch.as_tensor(z)
    if z.dim() == 1:
        z = z.unsqueeze(0)
    if z.dim() != 2:
        raise ValueError(f"expected latent codes of shape (B, D) or (D,), got {tuple(z.shape)}")
    if latent_dim is not None and z.shape[1] != latent_dim:
        raise ValueError(f"expected codes with {latent_dim} latent dimensions, got {z.shape[1]}")
    return z.float()


@torch.no_grad()
def decode_images(model, z, batch_size: int = 256) -> np.ndarray:
    """Decode latent codes into grey images: p(x|z) means = sigmoid(logits).

    z: (B, D) or (D,), on any device (moved to the model's device for decoding).
    Returns float32 NumPy array (B, H, W) in [0, 1], on the CPU. Raises ValueError when
    the decoder returns the wrong shape or non-finite values, so a widget can say so.
    """
    z = _as_codes(z, getattr(model, "latent_dim", None))
    device = model_device(model)
    out = []
    with _eval_mode(model):
        for start in range(0, z.shape[0], batch_size):
            zb = z[start : start + batch_size].to(device)
            logits = model.decode(zb)
            if not isinstance(logits, torch.Tensor) or logits.shape[0] != zb.shape[0]:
                got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)
                raise ValueError(
                    f"decode(z) of {zb.shape[0]} codes returned {got}, expected (B, 1, H, W)"
                )
            out.append(torch.sigmoid(logits.float()).cpu())
    images = torch.cat(out).numpy()
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    elif images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(f"decoder output {images.shape} is not a batch of square images")
        images = images.reshape(-1, side, side)
    if images.ndim != 3:
        raise ValueError(f"expected decoded images (B, 1, H, W), got {images.shape}")
    if not np.isfinite(images).all():
        raise ValueError("the decoder returned NaN or infinite values")
    return np.ascontiguousarray(images, dtype=np.float32)


def set_coordinate(z, dim: int, value: float) -> torch.Tensor:
    """A copy of the code z (D,) with coordinate ``dim`` set to ``value``; nothing else moves."""
    z = torch.as_tensor(z, dtype=torch.float32).clone()
    if z.dim() != 1:
        raise ValueError(f"expected one latent code (D,), got {tuple(z.shape)}")
    if not 0 <= dim < z.shape[0]:
        raise IndexError(f"latent dimension {dim} out of range for a {z.shape[0]}-D code")
    z[dim] = float(value)
    return z


def _ts(steps: int) -> torch.Tensor:
    if steps < 2:
        raise ValueError(f"an interpolation path needs at least 2 steps, got {steps}")
    return torch.linspace(0.0, 1.0, steps)


def lerp(z0, z1, steps: int) -> torch.Tensor:
    """Linear interpolation ``(1 − t)·z0 + t·z1`` for ``steps`` values of t from 0 to 1.

    z0, z1: (D,). Returns (steps, D); row 0 is z0 and the last row is z1. The midpoint of
    two codes of norm r has norm r·cos(Ω/2) < r (Ω the angle between them): it cuts
    through the low-norm middle of a Gaussian, where the prior has few typical codes.
    """
    z0, z1 = torch.as_tensor(z0).float(), torch.as_tensor(z1).float()
    t = _ts(steps).to(z0.device).unsqueeze(1)
    return (1 - t) * z0 + t * z1


def slerp(z0, z1, steps: int, eps: float = 1e-6) -> torch.Tensor:
    """Spherical linear interpolation (Shoemake 1985; White 2016 for generative models).

    ``slerp(t) = sin((1−t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1`` with Ω the angle between
    z0 and z1. z0, z1: (D,). Returns (steps, D); row 0 is z0, the last row is z1. If
    ‖z0‖ = ‖z1‖ = r every point has norm r (the path follows the sphere). When the codes
    are (anti)parallel, Ω ≈ 0 or π, the great circle is undefined and this returns lerp.
    """
    z0, z1 = torch.as_tensor(z0).float(), torch.as_tensor(z1).float()
    n0, n1 = z0.norm(), z1.norm()
    if n0 < eps or n1 < eps:
        return lerp(z0, z1, steps)
    cos = torch.clamp(torch.dot(z0, z1) / (n0 * n1), -1.0, 1.0)
    if 1.0 - abs(float(cos)) < eps:
        return lerp(z0, z1, steps)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    t = _ts(steps).to(z0.device).unsqueeze(1)
    return torch.sin((1 - t) * omega) / sin * z0 + torch.sin(t * omega) / sin * z1


def interpolation_path(z0, z1, steps: int, method: str = "linear") -> torch.Tensor:
    """``lerp`` (method "linear") or ``slerp`` ("spherical") from z0 to z1: (steps, D)."""
    if method == "linear":
        return lerp(z0, z1, steps)
    if method == "spherical":
        return slerp(z0, z1, steps)
    raise ValueError(f"method must be 'linear' or 'spherical', got {method!r}")


def plane_codes(
    n: int, span: float, dims: tuple[int, int] = (0, 1), base=None, latent_dim: int = 2
) -> torch.Tensor:
    """Codes of an n×n grid over [−span, span]² in latent dims ``dims`` (others = ``base``).

    Row-major from the top-left, rows going from z_b = +span (top) down to −span, so the
    decoded grid has the orientation of a scatter plot (see ``vae_course.plot.latent_grid``).
    base: (D,) code for the dimensions not on the plane (default zeros). Returns (n·n, D).
    """
    a, b = dims
    if a == b:
        raise ValueError(f"the plane needs two different dimensions, got {dims}")
    base = torch.zeros(latent_dim) if base is None else torch.as_tensor(base).float()
    z = base.reshape(1, -1).repeat(n * n, 1)
    plane = latent_grid(n, span)
    z[:, a], z[:, b] = plane[:, 0], plane[:, 1]
    return z


def traversal_values(steps: int = 9, sigma: float = 3.0) -> torch.Tensor:
    """``steps`` evenly spaced values from −sigma to +sigma (prior std units): (steps,)."""
    if steps < 2:
        raise ValueError(f"a traversal needs at least 2 steps, got {steps}")
    return torch.linspace(-sigma, sigma, steps)


def traversal_codes(z_base, dim: int, values) -> torch.Tensor:
    """Sweep coordinate ``dim`` of each base code over ``values``; all else stays fixed.

    z_base: (K, D) codes (one per input); values: (S,). Returns (K·S, D), input-major:
    rows k·S … k·S+S−1 are input k with z[dim] = values[0] … values[S−1].
    """
    z_base = _as_codes(z_base)
    values = torch.as_tensor(values).float()
    if not 0 <= dim < z_base.shape[1]:
        raise IndexError(f"latent dimension {dim} out of range for {z_base.shape[1]}-D codes")
    z = z_base.repeat_interleave(values.shape[0], dim=0)
    z[:, dim] = values.repeat(z_base.shape[0])
    return z


def kl_ranked_dims(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[list[int], torch.Tensor]:
    """Latent dimensions sorted by their mean KL(q(z_j|x) ‖ N(0, 1)), largest first.

    mu, logvar: (N, D). Returns (order, kl) with kl (D,) in nats per example: the
    dimensions with the most KL carry the most information; near-zero ones are inactive.
    """
    kl = gaussian_kl_per_dim(mu, logvar).mean(dim=0)
    return [int(i) for i in torch.argsort(kl, descending=True)], kl
