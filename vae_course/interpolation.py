"""Interpolation between test digits, measured (chapter 10: "poor interpolation").

:func:`decode_paths` decodes the path between the posterior means μ(a) and μ(b) of pairs
of digits, linear (lerp) or spherical (slerp, :mod:`vae_course.widgets.logic`);
:func:`path_smoothness` scores the decoded paths with :func:`vae_course.diagnostics.path_jumps`
(how evenly the image changes from step to step) and, given the digit classifier of
chapter 06, with the share of decoded points it classifies confidently (a rough "looks
like a digit" score; compare it with real digits scored the same way).
"""

from __future__ import annotations

import torch

from .classifier import DigitClassifier, confidence
from .diagnostics import path_jumps
from .inference import encode_means, eval_mode, model_device
from .widgets.logic import interpolation_path

__all__ = ["decode_paths", "path_smoothness"]


@torch.no_grad()
def decode_paths(
    model, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10, method: str = "linear"
) -> torch.Tensor:
    """Decoded paths from each x_a[i] to x_b[i]: (P, steps, C, H, W) means in [0, 1], CPU.

    x_a, x_b: (P, C, H, W) images. Step 0 decodes μ(x_a[i]) and the last step μ(x_b[i]);
    ``method`` is "linear" (lerp) or "spherical" (slerp). The model needs ``encode`` and
    ``decode(z) -> logits``; its decoded mean is ``sigmoid(logits)``.
    """
    if not isinstance(x_a, torch.Tensor) or not isinstance(x_b, torch.Tensor):
        raise ValueError("x_a and x_b must be image tensors (P, C, H, W)")
    if x_a.shape != x_b.shape or x_a.dim() != 4:
        raise ValueError(
            f"x_a and x_b must both be (P, C, H, W) with the same shape; "
            f"got {tuple(x_a.shape)} and {tuple(x_b.shape)}"
        )
    if x_a.shape[0] == 0:
        raise ValueError("x_a and x_b hold no images: need at least one pair (P >= 1)")
    mu_a, _ = encode_means(model, x_a)
    mu_b, _ = encode_means(model, x_b)
    z = torch.stack(
        [interpolation_path(a, b, steps, method) for a, b in zip(mu_a, mu_b, strict=True)]
    )  # (P, steps, D)
    with eval_mode(model):
        logits = model.decode(z.reshape(-1, z.shape[-1]).to(model_device(model)))
    return torch.sigmoid(logits).cpu().reshape(z.shape[0], steps, *x_a.shape[1:])


def path_smoothness(
    model,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    classifier: DigitClassifier | None = None,
    *,
    steps: int = 10,
    method: str = "linear",
    confident: float = 0.9,
) -> dict[str, float]:
    """How smoothly the decoded paths from x_a[i] to x_b[i] change, averaged over the P pairs.

    Returns ``largest`` (the largest RMS pixel step on a path, intensity units), ``jump_ratio``
    (largest / mean step: 1 for even steps, steps − 1 when all change happens at once) and
    ``length`` (sum of steps), each the mean over pairs; with a ``classifier``, also
    ``confident_share``: the share of all decoded points whose confidence max_c p(c|x) is at
    least ``confident``, and ``middle_confident_share``: the same for the inner points only.
    """
    if not 0 < confident < 1:
        raise ValueError(f"confident must be a probability in (0, 1), got {confident}")
    paths = decode_paths(model, x_a, x_b, steps=steps, method=method)
    jumps = path_jumps(paths)
    out = {key: float(jumps[key].mean()) for key in ("largest", "jump_ratio", "length")}
    if classifier is not None:
        conf = confidence(classifier, paths.flatten(0, 1)).reshape(paths.shape[:2])
        out["confident_share"] = float((conf >= confident).float().mean())
        out["middle_confident_share"] = float((conf[:, 1:-1] >= confident).float().mean())
    return out
