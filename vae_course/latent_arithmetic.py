"""Latent arithmetic: attribute vectors and where interpolation paths run (chapter 11).

* :func:`ink`: the amount of ink per image (sum of pixel intensities), a stroke-thickness
  proxy that needs no labels.
* :func:`stroke_groups`: within each class, the thickest and thinnest ``fraction`` of
  digits by ink, so an attribute vector built from them is not a class direction.
* :func:`attribute_vector`: mean posterior mean of one group minus that of the other.
* :func:`apply_attribute`: decode μ(x) + s · v for several scales s.
* :func:`midpoint_norm_ratio`: ‖path midpoint‖ / mean endpoint norm, for lerp and slerp.

Shapes: images (N, 1, 28, 28) in [0, 1]; codes (N, D).
"""

from __future__ import annotations

import torch

from .inference import encode_means, eval_mode, model_device
from .widgets.logic import interpolation_path

__all__ = [
    "ink",
    "stroke_groups",
    "attribute_vector",
    "apply_attribute",
    "midpoint_norm_ratio",
]


def ink(images: torch.Tensor) -> torch.Tensor:
    """Sum of pixel intensities per image (N,), in pixels of full ink. images: (N, ...)."""
    if not isinstance(images, torch.Tensor) or images.dim() < 2:
        raise ValueError("expected a batch of images (N, C, H, W)")
    return images.flatten(1).sum(1)


def stroke_groups(
    images: torch.Tensor, labels: torch.Tensor, fraction: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean masks (thick, thin), each (N,): per class, the top / bottom ``fraction`` by ink.

    Every class contributes equally many digits to each group (at least one), so the mean
    difference of the groups' codes is not dominated by classes that use more ink (0 vs 1).
    """
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    if labels.shape != (len(images),):
        raise ValueError(f"need one label per image, labels of shape ({len(images)},)")
    amount = ink(images)
    thick = torch.zeros(len(images), dtype=torch.bool)
    thin = torch.zeros(len(images), dtype=torch.bool)
    for c in torch.unique(labels):
        members = torch.nonzero(labels == c).flatten()
        k = max(1, int(fraction * len(members)))
        order = members[torch.argsort(amount[members])]
        thin[order[:k]] = True
        thick[order[-k:]] = True
    return thick, thin


def attribute_vector(mu: torch.Tensor, group: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """mean(mu[group]) − mean(mu[other]): (D,). mu: (N, D); group, other: (N,) boolean masks."""
    if mu.dim() != 2 or group.shape != (len(mu),) or other.shape != (len(mu),):
        raise ValueError("expected mu (N, D) and two boolean masks of shape (N,)")
    if not group.any() or not other.any():
        raise ValueError("each group needs at least one code")
    return mu[group].mean(0) - mu[other].mean(0)


@torch.no_grad()
def apply_attribute(model, x: torch.Tensor, vector: torch.Tensor, scales) -> torch.Tensor:
    """Decoded means of μ(x) + s · vector for each s in ``scales``: (S, N, C, H, W), CPU.

    x: (N, C, H, W); vector: (D,). Scale 0 is the plain reconstruction of μ(x).
    """
    mu, _ = encode_means(model, x)
    if vector.shape != (mu.shape[1],):
        raise ValueError(f"vector must have shape ({mu.shape[1]},), got {tuple(vector.shape)}")
    scales = torch.as_tensor(scales, dtype=mu.dtype)
    z = mu.unsqueeze(0) + scales.reshape(-1, 1, 1) * vector  # (S, N, D)
    with eval_mode(model):
        logits = model.decode(z.reshape(-1, mu.shape[1]).to(model_device(model)))
    return torch.sigmoid(logits).cpu().reshape(len(scales), *x.shape)


def midpoint_norm_ratio(z_a: torch.Tensor, z_b: torch.Tensor, method: str) -> torch.Tensor:
    """‖path(½)‖ / ((‖z_a‖ + ‖z_b‖) / 2) for each pair: (P,).

    z_a, z_b: (P, D). ``method`` "linear" or "spherical" (:mod:`vae_course.widgets.logic`).
    For codes of equal norm at angle Ω, lerp gives cos(Ω/2) (below 1: the path cuts through
    the low-norm middle of the Gaussian) and slerp gives 1.
    """
    if z_a.shape != z_b.shape or z_a.dim() != 2:
        raise ValueError(f"z_a and z_b must both be (P, D); got {z_a.shape} and {z_b.shape}")
    mids = torch.stack(
        [interpolation_path(a, b, 3, method)[1] for a, b in zip(z_a, z_b, strict=True)]
    )
    return mids.norm(dim=1) / ((z_a.norm(dim=1) + z_b.norm(dim=1)) / 2)
