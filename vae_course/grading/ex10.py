"""Checks of exercise set ``ex10_common_issues`` (notebook 10, common issues).

Tasks (function or answer the learner writes → check id):

* ``sharpness(images)`` → ``ex10.sharpness`` (blur, measured)
* ``slerp(z0, z1, steps)`` → ``ex10.slerp`` (interpolation along the sphere)
* ``fixed_loss(x, logits, mu, logvar)`` → ``ex10.fixed_loss`` (the build/debug task: the
  negative ELBO in place of a public loss that averages the reconstruction over pixels)
* ``effective_beta(pixels, latent_dim, rec_reduction, kl_reduction)`` →
  ``ex10.effective_beta`` (a derivation: the KL weight a choice of reductions amounts to)
* ``prediction_active_units`` → ``ex10.predict_mean_reduction_units`` (predict-then-run)
* ``diagnosis`` → ``ex10.diagnose_logs`` (read three runs' logs: which run collapsed, which
  recovered, and which columns show it)

References: the course package (``diagnostics.sharpness``, ``losses.elbo``); ``ref_slerp`` is
:func:`vae_course.widgets.logic.slerp` (same branches, same ε) in float64, tested against it
in ``tests/test_grading_ex10.py``; ``ref_effective_beta`` is checked against autograd of the
two losses in ``tests/test_grading_derivations.py``.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F

from ..diagnostics import sharpness as package_sharpness
from ..losses import elbo, gaussian_kl_per_dim
from .checks import (
    PER_EXAMPLE_SUM_HINT,
    Case,
    Check,
    ChoiceCheck,
    close,
    copy_input,
    diagnose,
    fmt,
    loss_gradients,
    register,
    tensor_problem,
)
from .checks import dtype_name as _dtype
from .checks import output_tensor as _values
from .checks import seeded_generator as _gen
from .ex04 import other_device
from .ex09 import _number_problem

__all__ = [
    "Sharpness",
    "Slerp",
    "FixedLoss",
    "EffectiveBeta",
    "PredictMeanReductionUnits",
    "DiagnoseLogs",
    "ref_sharpness",
    "ref_slerp",
    "ref_fixed_loss",
    "ref_effective_beta",
    "SLERP_EPS",
    "REDUCTIONS",
    "SIGNS",
    "RUNS",
]

_DEVICE_CASE = "inputs on another device (meta, a stand-in for a GPU)"
_META_ITEM = "cannot be called on meta tensors"  # .item()/float()/bool() of a meta tensor


# ============================================================================ references
def ref_sharpness(images: torch.Tensor) -> torch.Tensor:
    """(N,) float64: :func:`vae_course.diagnostics.sharpness` (mean forward-gradient magnitude)."""
    return package_sharpness(images).double()


#: below this norm, or this close to (anti)parallel (1 − |cos Ω|), slerp falls back to lerp
SLERP_EPS = 1e-6


def ref_slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, D) float64: :func:`vae_course.widgets.logic.slerp` computed in float64.

    ``sin((1−t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1`` for t = linspace(0, 1, steps), with lerp
    when a code has norm < ε or 1 − |cos Ω| < ε (ε = 1e-6). ValueError for steps < 2.
    """
    if steps < 2:
        raise ValueError(f"an interpolation path needs at least 2 steps, got {steps}")
    z0, z1 = z0.double(), z1.double()
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64).unsqueeze(1)
    n0, n1 = float(z0.norm()), float(z1.norm())
    if n0 < SLERP_EPS or n1 < SLERP_EPS:
        return (1 - t) * z0 + t * z1
    cos = max(-1.0, min(1.0, float(torch.dot(z0, z1)) / (n0 * n1)))
    if 1.0 - abs(cos) < SLERP_EPS:
        return (1 - t) * z0 + t * z1
    omega = math.acos(cos)
    s = math.sin(omega)
    return torch.sin((1 - t) * omega) / s * z0 + torch.sin(t * omega) / s * z1


def ref_fixed_loss(x, logits, mu, logvar) -> torch.Tensor:
    """The negative ELBO, nats per example: ``losses.elbo(x, logits, mu, logvar)["loss"]``."""
    return elbo(x, logits, mu, logvar)["loss"]


REDUCTIONS = ("sum", "mean")


def ref_effective_beta(
    pixels: int, latent_dim: int, rec_reduction: str, kl_reduction: str
) -> float:
    """β_eff of ``rec_reduction`` over P pixels of −log p(x|z) + ``kl_reduction`` over D dims of
    the KL: the loss is a·(−log p) + b·KL with a ∈ {1, 1/P}, b ∈ {1, 1/D}, so β_eff = b / a."""
    for name, value in (("rec_reduction", rec_reduction), ("kl_reduction", kl_reduction)):
        if value not in REDUCTIONS:
            raise ValueError(f"{name} must be 'sum' or 'mean', got {value!r}")
    for name, value in (("pixels", pixels), ("latent_dim", latent_dim)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    a = 1.0 if rec_reduction == "sum" else 1.0 / pixels
    b = 1.0 if kl_reduction == "sum" else 1.0 / latent_dim
    return b / a


# ============================================================================ sharpness
def _as_images(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W) float64 from (N, 1, H, W) or (N, H, W)."""
    x = x.double()
    return x[:, 0] if x.dim() == 4 else x


def _sharpness_variants(images: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """Plausible wrong sharpness values (N,) for ``images``, each with its hint."""
    x = _as_images(images)
    n, h, w = x.shape
    dx = x[:, :-1, 1:] - x[:, :-1, :-1]  # the right grid: forward differences at (i, j)
    dy = x[:, 1:, :-1] - x[:, :-1, :-1]
    mag = torch.sqrt(dx**2 + dy**2)
    dx_full = x[:, :, 1:] - x[:, :, :-1]  # (H, W−1): every horizontal difference
    dy_full = x[:, 1:, :] - x[:, :-1, :]  # (H−1, W)
    same_grid = "compute dx and dy at the same pixel (i, j), on the (H−1)×(W−1) grid where both exist, then the magnitude there"
    out = [
        (
            (dx.abs() + dy.abs()).mean((1, 2)),
            "that is |dx| + |dy|: the magnitude is sqrt(dx² + dy²)",
        ),
        (
            (dx**2 + dy**2).mean((1, 2)),
            "that is the mean squared gradient: take the square root of dx² + dy² at each pixel, then the mean",
        ),
        (
            torch.sqrt((dx**2 + dy**2).mean((1, 2))),
            "that is the root of the mean: take sqrt(dx² + dy²) at each pixel first, then the mean",
        ),
        (mag.sum((1, 2)), "that is the sum over the grid: take the mean"),
        (mag.sum((1, 2)) / (h * w), "divide by the (H−1)·(W−1) grid points, not by H·W"),
        (
            mag.mean().expand(n),
            "one value per image: average over each image's own grid, not over the batch",
        ),
        (dx_full.abs().mean((1, 2)) + dy_full.abs().mean((1, 2)), same_grid),
        (torch.sqrt((dx_full**2).mean((1, 2)) + (dy_full**2).mean((1, 2))), same_grid),
        (0.5 * (dx_full.abs().mean((1, 2)) + dy_full.abs().mean((1, 2))), same_grid),
        (
            torch.sqrt(F.pad(dx_full, (0, 1)) ** 2 + F.pad(dy_full, (0, 0, 0, 1)) ** 2).mean(
                (1, 2)
            ),
            "the differences were zero-padded to H×W: use only the (H−1)×(W−1) grid where both forward differences exist",
        ),
        (
            torch.sqrt((torch.roll(x, -1, 2) - x) ** 2 + (torch.roll(x, -1, 1) - x) ** 2).mean(
                (1, 2)
            ),
            "torch.roll wraps around: the last column is compared with the first; slice instead (x[:, :, 1:] − x[:, :, :-1])",
        ),
        (
            torch.sqrt(
                (x[:, 1:, 1:] - x[:, 1:, :-1]) ** 2 + (x[:, 1:, 1:] - x[:, :-1, 1:]) ** 2
            ).mean((1, 2)),
            "backward differences at (i+1, j+1) pair other pixels: use forward differences at (i, j), dx = x[i, j+1] − x[i, j], dy = x[i+1, j] − x[i, j]",
        ),
        (
            torch.sqrt((x[:, 1:, 1:] - x[:, 1:, :-1]) ** 2 + dy**2).mean((1, 2)),
            same_grid,
        ),
        (
            torch.sqrt(dx**2 + (x[:, 1:, 1:] - x[:, :-1, 1:]) ** 2).mean((1, 2)),
            same_grid,
        ),
        (
            torch.sqrt(
                ((x[:, 1:-1, 2:] - x[:, 1:-1, :-2]) / 2) ** 2
                + ((x[:, 2:, 1:-1] - x[:, :-2, 1:-1]) / 2) ** 2
            ).mean((1, 2))
            if h > 2 and w > 2
            else None,
            "those are central differences: use forward differences, dx = x[i, j+1] − x[i, j]",
        ),
        (
            torch.sqrt(sum(g**2 for g in torch.gradient(x, dim=(1, 2)))).mean((1, 2)),
            "torch.gradient takes central differences: use forward differences, dx = x[i, j+1] − x[i, j]",
        ),
        (
            mag.mean((1, 2)) / x.flatten(1).amax(1).clamp(min=1e-12),
            "the images were rescaled by their maximum: measure the pixels as given (a blurry image is dim as well as soft)",
        ),
        (mag.mean((1, 2)) * 255, "the images are in [0, 1]: don't scale to 0-255"),
        (
            torch.sqrt(dx**2 + dy**2 + 1e-8).mean((1, 2)),
            "no ε inside the square root: a constant image scores exactly 0 (this is a measurement, no gradient flows through it)",
        ),
    ]
    return out


def _smooth_images(g, n, h, w, dtype=torch.float32, peak=1.0):
    """(n, h, w) blurred random fields rescaled into [0, peak]: soft, digit-like blobs."""
    noise = torch.rand(n, 1, h + 4, w + 4, generator=g, dtype=torch.float64)
    soft = F.avg_pool2d(noise, 5, stride=1)[:, 0]
    lo = soft.flatten(1).amin(1)[:, None, None]
    hi = soft.flatten(1).amax(1)[:, None, None]
    return ((soft - lo) / (hi - lo) * peak).to(dtype)


def _strokes(g, n, h, w, dtype=torch.float32):
    """(n, h, w) binary images: thresholded random fields (sharp 0/1 edges)."""
    return (_smooth_images(g, n, h, w, torch.float64) > 0.55).to(dtype)


class Sharpness(Check):
    """Every image's mean forward-gradient magnitude, as ``diagnostics.sharpness``; the
    result in the input's dtype and on its device; ValueError for other shapes."""

    id = "ex10.sharpness"
    function = "sharpness"

    def cases(self, seed):
        g = _gen(seed)
        mixed = torch.cat([_smooth_images(g, 8, 28, 28), _strokes(g, 8, 28, 28)])
        checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2
        edges = torch.zeros(3, 7, 9)
        edges[0, :, 4:] = 1.0  # a vertical 0/1 edge
        edges[1] = torch.linspace(0, 1, 9).expand(7, 9)  # a horizontal ramp
        edges[2, 3:, :] = 1.0  # a horizontal edge
        return [
            Case(
                "(16, 1, 28, 28): soft blobs and sharp strokes",
                {"images": mixed.unsqueeze(1)},
            ),
            Case(
                "(6, 12, 20): no channel dimension, H ≠ W", {"images": _smooth_images(g, 6, 12, 20)}
            ),
            Case("a batch of 1, (1, 1, 9, 7)", {"images": _strokes(g, 1, 9, 7).unsqueeze(1)}),
            Case(
                "constant images (0, 0.5 and 1) score exactly 0",
                {
                    "images": torch.tensor([0.0, 0.5, 1.0])[:, None, None, None]
                    .expand(3, 1, 6, 6)
                    .clone()
                },
            ),
            Case(
                "a 1-pixel checkerboard and its inverse, (2, 1, 8, 8)",
                {"images": torch.stack([checker, 1 - checker]).float().unsqueeze(1)},
            ),
            Case(
                "a vertical edge, a horizontal ramp, a horizontal edge (3, 7, 9)", {"images": edges}
            ),
            Case(
                "blurry images whose brightest pixel is 0.4, (5, 1, 14, 14)",
                {"images": _smooth_images(g, 5, 14, 14, peak=0.4).unsqueeze(1)},
            ),
            Case(
                "float64, (4, 1, 10, 10)",
                {"images": _strokes(g, 4, 10, 10, torch.float64).unsqueeze(1)},
            ),
            Case(
                "H = W = 2: a single grid point, (3, 1, 2, 2)",
                {"images": torch.rand(3, 1, 2, 2, generator=g)},
            ),
            Case(_DEVICE_CASE, {"images": _smooth_images(g, 4, 8, 8).unsqueeze(1), "device": True}),
            Case(
                "colour images (4, 3, 8, 8): not (N, 1, H, W) or (N, H, W)",
                {"images": torch.rand(4, 3, 8, 8, generator=g), "bad": True},
            ),
            Case(
                "images one pixel high (4, 1, 1, 8): no grid where both differences exist",
                {"images": torch.rand(4, 1, 1, 8, generator=g), "bad": True},
            ),
        ]

    def run(self, fn, inputs):
        x = copy_input(inputs["images"])
        if inputs.get("device"):
            try:
                return {"value": fn(x.to(other_device()))}
            except RuntimeError as error:
                if _META_ITEM not in str(error):
                    raise
                return {"meta_unsupported": True}  # a value test (.item()) is fine on a GPU
        if inputs.get("bad"):
            try:
                value = fn(x)
            except ValueError:
                return {"raised": True}
            return {"raised": False, "value": value}
        return {"value": fn(x)}

    def explain_error(self, case, error):
        if case.inputs.get("bad") and "NotImplementedError" not in error:
            return (
                f"{case.name}: raised {error.split(':')[0]}: check the shape yourself and raise a "
                "ValueError that says what is expected ((N, 1, H, W) or (N, H, W), H and W >= 2)"
            )
        msg = super().explain_error(case, error)
        if case.inputs["images"].dim() == 4 and ("size" in error or "shape" in error):
            msg += ": (N, 1, H, W) images have a channel dimension: drop it first (x[:, 0] or squeeze(1))"
        return msg

    def reference(self, case):
        if case.inputs.get("bad"):
            return None
        return ref_sharpness(case.inputs["images"])

    def compare(self, case, out, expected):
        i = case.inputs
        x = i["images"]
        n = x.shape[0]
        if i.get("bad"):
            if out.get("raised", {}).get("value"):
                return None
            return (
                f"{case.name}: no ValueError: sharpness is defined for (N, 1, H, W) or (N, H, W) "
                "images with H, W >= 2; raise a ValueError for anything else instead of "
                "returning a number"
            )
        if i.get("device"):
            if out.get("meta_unsupported", {}).get("value"):
                return None
            return tensor_problem(case, out, "value", shape=(n,), device=other_device())
        o = out.get("value", {"kind": "none"})
        problem = tensor_problem(case, out, "value", shape=(n,), what="a tensor of shape (N,)")
        if problem:
            shape = tuple(o.get("shape", ())) if o["kind"] == "tensor" else None
            if shape == () and n == 1:
                problem += ": .squeeze() also removes the batch dimension of a batch of 1: drop only the channel dimension (x[:, 0] or squeeze(1))"
            elif o["kind"] == "number" or shape == ():
                problem += ": that is one value for the whole batch: average over each image's grid (its H and W dimensions) only"
            elif shape is not None and len(shape) > 1:
                problem += (
                    ": average each image over its whole (H−1)×(W−1) grid, one value per image"
                )
            elif shape == (x.shape[-2],) or shape == (1,):
                problem += ": the channel dimension was taken for rows, or .squeeze() removed the batch dimension of a batch of 1: drop only dimension 1"
            return problem
        problem = tensor_problem(case, out, "value", dtype=_dtype(x))
        if problem:
            return problem
        got = o["value"].double()
        if close(got, expected, rtol=1e-5, atol=1e-6):
            return None
        if not bool(torch.isfinite(got).all()):
            hint = "mean of an empty grid"
            if x.dim() == 4:
                hint = "(N, 1, H, W) images have a channel dimension: drop it (x[:, 0] or squeeze(1)) before slicing rows and columns"
            return f"{case.name}: the result has NaN or inf: {hint}"
        hint = diagnose(got, _sharpness_variants(x), rtol=1e-5, atol=1e-6)
        k = int((got - expected).abs().argmax())
        return (
            f"{case.name}: image {k} scores {fmt(float(got[k]))}, expected {fmt(float(expected[k]))}: "
            + (
                hint
                or "forward differences dx = x[i, j+1] − x[i, j] and dy = x[i+1, j] − x[i, j] on the "
                "(H−1)×(W−1) grid where both exist, then the mean of sqrt(dx² + dy²) per image"
            )
        )


register(Sharpness())


# ============================================================================ slerp
def _cos(z0, z1) -> float:
    z0, z1 = z0.double(), z1.double()
    return float(torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp(min=1e-300))


def _unit(v):
    return v / v.norm()


def _slerp_formula(z0, z1, t, omega):
    s = math.sin(omega)
    return torch.sin((1 - t) * omega) / s * z0 + torch.sin(t * omega) / s * z1


_FALLBACK_HINTS = {
    "parallel": "for parallel codes the arc is undefined (sin Ω = 0): when 1 − |cos Ω| < ε = 1e-6, "
    "return lerp",
    "antiparallel": "for antiparallel codes cos Ω = −1 and sin Ω = 0: the fallback to lerp applies "
    "when 1 − |cos Ω| < ε = 1e-6, for cos Ω near −1 as well as near +1",
    "zero": "a zero code has no direction (cos Ω is 0/0): when a code's norm is below ε = 1e-6, "
    "return lerp",
    "tiny": "a code of norm below ε = 1e-6 counts as zero: return lerp (compare the norm with "
    "1e-6, not with 0)",
    "near_antiparallel": "the fallback tests 1 − |cos Ω| < ε = 1e-6 on the cosine, not sin Ω < ε "
    "or Ω near π: here 1 − |cos Ω| ≈ 1.5e-8 but sin Ω ≈ 1.7e-4, and dividing by so small a sin Ω "
    "throws the path far from the codes; return lerp",
}

_SHORT_HINT = (
    "that is lerp, but z0's norm 2e-6 is above ε = 1e-6: the code still has a direction and the "
    "path is the arc. Compare each norm ‖z0‖, ‖z1‖ with ε itself (not ‖z‖², nor ‖z0‖·‖z1‖)"
)

_LERP_HINT = (
    "that is lerp, the straight line: slerp follows the arc of angle Ω between the codes, "
    "sin((1−t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1"
)


def _slerp_variants(z0, z1, steps):
    """Plausible wrong paths (float64) with their hints; None where one is undefined."""
    z0, z1 = z0.double(), z1.double()
    t = torch.linspace(0, 1, steps, dtype=torch.float64).unsqueeze(1)
    n0, n1 = float(z0.norm()), float(z1.norm())
    out = [((1 - t) * z0 + t * z1, _LERP_HINT)]
    if n0 < SLERP_EPS or n1 < SLERP_EPS:
        return out
    cos = max(-1.0, min(1.0, float(torch.dot(z0, z1)) / (n0 * n1)))
    if 1 - abs(cos) < SLERP_EPS:
        return out
    omega = math.acos(cos)
    u0, u1 = _unit(z0), _unit(z1)
    unit_path = _slerp_formula(u0, u1, t, omega)
    out += [
        (
            unit_path,
            "the path was normalised to the unit sphere: interpolate z0 and z1 themselves, not their directions (the codes keep their norms)",
        ),
        (
            unit_path * ((1 - t) * n0 + t * n1),
            "the directions were slerped and the norm interpolated linearly: the formula combines z0 and z1 themselves, sin((1−t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1",
        ),
        (
            _slerp_formula(z0, z1, t, math.acos(max(-1.0, min(1.0, float(torch.dot(z0, z1))))))
            if abs(float(torch.dot(z0, z1))) < 1 - 1e-9
            else None,
            "Ω was taken from the dot product of the codes themselves: cos Ω = z0·z1 / (‖z0‖ ‖z1‖)",
        ),
        (
            torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1,
            "both weights are divided by sin Ω: sin((1−t)Ω)/sin Ω and sin(tΩ)/sin Ω",
        ),
        (
            _slerp_formula(z0, z1, 1 - t, omega),
            "the weights are swapped: at t = 0 the path is at z0, so z0's weight is sin((1−t)Ω)/sin Ω",
        ),
        (
            _slerp_formula(z0, z1, t, omega / 2),
            "Ω is the whole angle between the codes, arccos of the cosine (not half of it)",
        ),
        (
            _slerp_formula(
                z0, z1, torch.arange(steps, dtype=torch.float64).unsqueeze(1) / steps, omega
            ),
            "t must run from 0 to 1 inclusive (torch.linspace(0, 1, steps)): the last row is z1",
        ),
        (
            _slerp_formula(
                z0,
                z1,
                torch.linspace(0, 1, steps + 2, dtype=torch.float64)[1:-1].unsqueeze(1),
                omega,
            ),
            "t must include both endpoints (torch.linspace(0, 1, steps)): row 0 is z0, the last row is z1",
        ),
        (
            _slerp_formula(
                z0, z1, torch.arange(1, steps + 1, dtype=torch.float64).unsqueeze(1) / steps, omega
            ),
            "t must run from 0 to 1 inclusive (torch.linspace(0, 1, steps)): row 0 is z0",
        ),
    ]
    return out


def _codes_at_angle(g, d, degrees, n0, n1, dtype=torch.float32):
    """Two codes (D,) in ``dtype`` at an exact angle (exact in float64), with norms n0 and n1."""
    a = torch.randn(d, generator=g, dtype=torch.float64)
    b = torch.randn(d, generator=g, dtype=torch.float64)
    a = _unit(a)
    b = _unit(b - torch.dot(a, b) * a)
    w = math.radians(degrees)
    return (n0 * a).to(dtype), (n1 * (math.cos(w) * a + math.sin(w) * b)).to(dtype)


class Slerp(Check):
    """The path of ``widgets.logic.slerp`` (its lerp fallback and ε included), in z0's dtype
    and on its device; ValueError for steps < 2."""

    id = "ex10.slerp"
    function = "slerp"

    def cases(self, seed):
        g = _gen(seed)

        def pair(d, scale0=1.0, scale1=1.0, dtype=torch.float32):
            z0 = torch.randn(d, generator=g, dtype=torch.float64) * scale0
            z1 = torch.randn(d, generator=g, dtype=torch.float64) * scale1
            return z0.to(dtype), z1.to(dtype)

        def case(z0, z1, steps, **extra):
            return {"z0": z0, "z1": z1, "steps": steps, **extra}

        z0, z1 = pair(16, 1.0, 3.0)
        e0, e1 = _codes_at_angle(g, 8, 120.0, 4.0, 4.0)
        p0 = torch.randn(6, generator=g)
        near0, near1 = _codes_at_angle(g, 10, 2.5, 1.5, 2.0)  # 1 − cos Ω ≈ 1e-3: still slerp
        tiny = torch.randn(5, generator=g)
        tiny = tiny / tiny.norm() * 1e-7
        return [
            Case("D = 16, codes of different norms, 9 steps", case(z0, z1, 9)),
            Case("D = 2, steps = 2 (the endpoints only)", case(*pair(2, 2.0, 0.5), 2)),
            Case("D = 20, steps = 3 (the midpoint)", case(*pair(20), 3)),
            Case("codes of equal norm 4, 120° apart, 11 steps", case(e0, e1, 11)),
            Case(
                "parallel codes (z1 = 3·z0): the arc is undefined, the path is lerp",
                case(p0, 3 * p0, 6, fallback="parallel"),
            ),
            Case(
                "antiparallel codes (z1 = −0.5·z0): sin Ω = 0, the path is lerp",
                case(p0, -0.5 * p0, 5, fallback="antiparallel"),
            ),
            Case(
                "a zero code z0 = 0: the path is lerp", case(torch.zeros(6), p0, 4, fallback="zero")
            ),
            Case(
                "z0 of norm 1e-7 (below ε = 1e-6): the path is lerp",
                case(tiny, torch.randn(5, generator=g), 5, fallback="tiny"),
            ),
            Case(
                "codes 2.5° apart (1 − cos Ω ≈ 1e-3, far above ε): still slerp",
                case(near0, near1, 7),
            ),
            Case("float64 codes, D = 5, 8 steps", case(*pair(5, 2.0, 1.0, torch.float64), 8)),
            Case(_DEVICE_CASE, case(*pair(4), 5, device=True)),
            Case("steps = 1: a path needs both endpoints", case(*pair(3), 1, bad=True)),
            Case(
                "z0 of norm 2e-6 (above ε = 1e-6), z1 of norm 0.3, 90° apart: still slerp",
                case(*_codes_at_angle(g, 6, 90.0, 2e-6, 0.3), 7, short=True),
            ),
            Case(
                "float64 codes 179.99° apart (1 − |cos Ω| ≈ 1.5e-8, below ε): the path is lerp",
                case(
                    *_codes_at_angle(g, 7, 179.99, 2.0, 3.0, torch.float64),
                    6,
                    fallback="near_antiparallel",
                ),
            ),
        ]

    def run(self, fn, inputs):
        z0, z1 = copy_input(inputs["z0"]), copy_input(inputs["z1"])
        steps = inputs["steps"]
        if inputs.get("device"):
            try:
                return {"path": fn(z0.to(other_device()), z1.to(other_device()), steps)}
            except RuntimeError as error:
                if _META_ITEM not in str(error):
                    raise
                # the lerp fallback needs a number (float(cos)): right on a GPU
                return {"meta_unsupported": True}
        if inputs.get("bad"):
            try:
                path = fn(z0, z1, steps)
            except ValueError:
                return {"raised": True}
            return {"raised": False, "path": path}
        return {"path": fn(z0, z1, steps)}

    def explain_error(self, case, error):
        if case.inputs.get("bad") and "NotImplementedError" not in error:
            return (
                f"{case.name}: raised {error.split(':')[0]}: check steps yourself and raise a "
                "ValueError (a path from z0 to z1 needs at least 2 steps)"
            )
        return super().explain_error(case, error)

    def reference(self, case):
        i = case.inputs
        if i.get("bad"):
            return None
        return ref_slerp(i["z0"], i["z1"], i["steps"])

    def compare(self, case, out, expected):
        i = case.inputs
        z0, z1, steps = i["z0"], i["z1"], i["steps"]
        d = z0.shape[0]
        if i.get("bad"):
            if out.get("raised", {}).get("value"):
                return None
            return f"{case.name}: no ValueError: with steps < 2 there is no path from z0 to z1; raise a ValueError"
        if i.get("device"):
            if out.get("meta_unsupported", {}).get("value"):
                return None
            return tensor_problem(case, out, "path", shape=(steps, d), device=other_device())
        o = out.get("path", {"kind": "none"})
        problem = tensor_problem(case, out, "path", shape=(steps, d), what="a tensor (steps, D)")
        if problem:
            shape = tuple(o.get("shape", ())) if o["kind"] == "tensor" else None
            if shape in ((steps + 1, d), (steps - 1, d)):
                problem += ": one row per value of t, `steps` rows from t = 0 to t = 1 (torch.linspace(0, 1, steps))"
            elif shape == (d, steps):
                problem += ": one row per step, one column per latent dimension"
            return problem
        problem = tensor_problem(case, out, "path", dtype=_dtype(z0))
        if problem:
            return problem
        got = o["value"].double()
        scale = max(1.0, float(z0.double().abs().max()), float(z1.double().abs().max()))
        tol = {"rtol": 1e-5, "atol": 2e-6 * scale}
        if z0.dtype == torch.float64:  # float64 codes: a float64-accurate path
            if close(got, expected, rtol=1e-9, atol=1e-9 * scale):
                return None
            if close(got, expected, **tol):
                return (
                    f"{case.name}: the path is float64 but only as accurate as float32 (off by "
                    f"{fmt(float((got - expected).abs().max()))}): compute in the codes' dtype, "
                    "t included (torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device))"
                )
        if close(got, expected, **tol):
            return None
        fallback = _FALLBACK_HINTS.get(i.get("fallback"))
        if not bool(torch.isfinite(got).all()):
            why = fallback or (
                "cos Ω = z0·z1 / (‖z0‖ ‖z1‖), clamped to [−1, 1] before arccos; when a code "
                "is near 0 or the codes are (anti)parallel, return lerp"
            )
            return f"{case.name}: the path has NaN or inf: {why}"
        if fallback:
            return f"{case.name}: the path is not lerp: {fallback}"
        ends = torch.stack([got[0], got[-1]])
        want_ends = torch.stack([z0.double(), z1.double()])
        end_hint = None
        if not close(ends, want_ends, **tol):
            end_hint = "row 0 must be z0 and the last row z1 (t from 0 to 1 inclusive: torch.linspace(0, 1, steps))"
        hint = diagnose(got, _slerp_variants(z0, z1, steps), **tol)
        if hint == _LERP_HINT and i.get("short"):
            hint = _SHORT_HINT
        elif hint == _LERP_HINT and 1 - abs(_cos(z0, z1)) > 100 * SLERP_EPS:
            hint = (
                f"that is lerp: 1 − |cos Ω| = {fmt(1 - abs(_cos(z0, z1)))} is far above ε = 1e-6, so "
                "the path is still the arc (fall back to lerp only when 1 − |cos Ω| < 1e-6, with "
                "cos Ω = z0·z1 / (‖z0‖ ‖z1‖))"
            )
        k = int((got - expected).abs().amax(1).argmax())
        return (
            f"{case.name}: row {k} (t = {fmt(k / (steps - 1))}) is off by {fmt(float((got[k] - expected[k]).abs().max()))}: "
            + (
                hint
                or end_hint
                or "slerp(t) = sin((1−t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1 with cos Ω = z0·z1 / (‖z0‖ ‖z1‖); "
                "lerp when a norm or 1 − |cos Ω| is below ε = 1e-6"
            )
        )


register(Slerp())


# ============================================================================ fixed_loss
_GRAD_NAMES = ("logits", "mu", "logvar")


class FixedLoss(Check):
    """The build/debug task: the negative ELBO (reconstruction summed over pixels, KL summed
    over latent dimensions, both averaged over the batch) in place of the public loss that
    averages the reconstruction over pixels; value and gradients against ``losses.elbo``."""

    id = "ex10.fixed_loss"
    function = "fixed_loss"

    def cases(self, seed):
        g = _gen(seed)

        def batch(b, d, shape=(1, 6, 6), dtype=torch.float32, scale=2.0, grey=False):
            x = torch.rand(b, *shape, generator=g)
            x = x if grey else (x < 0.3).float()
            return {
                "x": x.to(dtype),
                "logits": torch.randn(b, *shape, generator=g, dtype=dtype) * scale,
                "mu": torch.randn(b, d, generator=g, dtype=dtype)
                * torch.linspace(0.05, 2, d, dtype=dtype),
                "logvar": torch.randn(b, d, generator=g, dtype=dtype) * 0.5 - 0.3,
            }

        wide = batch(6, 6)
        wide["logvar"] = torch.linspace(-15.0, 12.0, 36).reshape(6, 6)
        return [
            Case("(16, 1, 6, 6) binary images, D = 8", batch(16, 8)),
            Case("(8, 1, 28, 28) digits-sized images (P = 784), D = 16", batch(8, 16, (1, 28, 28))),
            Case("flat (10, 20) data, D = 4", batch(10, 4, (20,))),
            Case("non-square (6, 1, 5, 7) images, D = 3", batch(6, 3, (1, 5, 7))),
            Case("a batch of 1, D = 6", batch(1, 6)),
            Case(
                "grey levels in [0, 1] (as the public code trains on), D = 5",
                batch(12, 5, grey=True),
            ),
            Case("float64, D = 9", batch(7, 9, dtype=torch.float64)),
            Case(
                "logits up to ±150 (sigmoid rounds to 0 or 1 in float32)",
                {**batch(8, 4, scale=40.0), "extreme": True},
            ),
            Case("logvar from −15 to 12 (very narrow and very wide posteriors)", wide),
            Case(_DEVICE_CASE, {**batch(4, 4), "device": True}),
            Case(
                "evaluation under torch.no_grad(): inputs that need no gradients",
                {**batch(5, 4), "no_grad": True},
            ),
        ]

    def run(self, fn, inputs):
        t = {k: copy_input(inputs[k]) for k in ("x", *_GRAD_NAMES)}
        if inputs.get("device"):
            t = {k: v.to(other_device()) for k, v in t.items()}
            try:
                return {"loss": fn(t["x"], t["logits"], t["mu"], t["logvar"])}
            except RuntimeError as error:
                if _META_ITEM not in str(error):
                    raise
                return {
                    "meta_unsupported": True
                }  # argument validation with .item(): right on a GPU
        if inputs.get("no_grad"):  # as an evaluation loop calls it: autograd allows in-place edits
            with torch.no_grad():
                return {"loss": fn(t["x"], t["logits"], t["mu"], t["logvar"])}
        for k in _GRAD_NAMES:
            t[k].requires_grad_(True)
        loss = fn(t["x"], t["logits"], t["mu"], t["logvar"])
        return {"loss": loss, **loss_gradients(loss, t, _GRAD_NAMES)}

    def explain_error(self, case, error):
        msg = super().explain_error(case, error)
        if "must match the size" in error:
            msg += PER_EXAMPLE_SUM_HINT
        return msg

    def reference(self, case):
        i = case.inputs
        t = {k: i[k].double().clone().requires_grad_(k != "x") for k in ("x", *_GRAD_NAMES)}
        loss = ref_fixed_loss(t["x"], t["logits"], t["mu"], t["logvar"])
        grads = torch.autograd.grad(loss, [t[k] for k in _GRAD_NAMES])
        return {
            "loss": loss.detach(),
            **{f"grad_{k}": gk for k, gk in zip(_GRAD_NAMES, grads, strict=True)},
        }

    def compare(self, case, out, expected):
        i = case.inputs
        b = i["x"].shape[0]
        if i.get("device"):
            if out.get("meta_unsupported", {}).get("value"):
                return None
            return tensor_problem(case, out, "loss", shape=(), device=other_device())
        lo = out.get("loss", {"kind": "none"})
        problem = tensor_problem(case, out, "loss", shape=(), what="a 0-d tensor")
        if problem:
            if lo["kind"] == "number":
                problem += (
                    ": return the tensor (no .item() or float()) so the loss can be backpropagated"
                )
            elif lo["kind"] == "tensor" and tuple(lo["shape"]) == (b,):
                problem += ": that is one value per example: average over the batch"
            elif lo["kind"] == "tensor":
                problem += ": sum over pixels and latent dimensions, then average over the batch"
            return problem
        problem = tensor_problem(case, out, "loss", dtype=_dtype(i["x"]))
        if problem:
            return problem
        got = lo["value"].double()
        if not math.isfinite(float(got)):
            if i.get("extreme"):
                return (
                    f"{case.name}: the loss is inf or NaN: log(sigmoid(l)) reaches log 0 for large "
                    "logits; compute the Bernoulli log-likelihood from the logits stably "
                    "(F.binary_cross_entropy_with_logits, or x·l − softplus(l))"
                )
            return (
                f"{case.name}: the loss is inf or NaN: is there a log of logvar, or of a "
                "probability that can be 0? logvar = log σ² is any real number (σ² = exp(logvar)), "
                "and the Bernoulli log-likelihood is stable from the logits"
            )
        tol = {"rtol": 1e-5, "atol": 1e-4}
        if not close(got, expected["loss"], **tol):
            return (
                f"{case.name}: the loss is {fmt(float(got))}, expected {fmt(float(expected['loss']))}: "
                + (
                    diagnose(got, _fixed_loss_variants(i), **tol)
                    or "−(1/B) Σ_b Σ_pixels log p(x_b|z_b) + (1/B) Σ_b ½ Σ_j (μ² + σ² − 1 − log σ²), nats per example"
                )
            )
        if i.get("no_grad"):
            return None
        if not lo["requires_grad"]:
            return (
                f"{case.name}: the loss is not connected to logits, mu and logvar in the autograd "
                "graph (no .item(), torch.tensor(...) or torch.no_grad() around it)"
            )
        for k in _GRAD_NAMES:
            gk = _values(out, f"grad_{k}")
            if gk is None or not close(gk.double(), expected[f"grad_{k}"], rtol=1e-4, atol=1e-7):
                return (
                    f"{case.name}: the loss has the right value but the wrong gradient with "
                    f"respect to {k}: compute every term from the inputs with torch operations "
                    "(no .detach() on a term the model must learn from)"
                )
        return None


def _fixed_loss_variants(i) -> list[tuple[torch.Tensor, str]]:
    """Plausible wrong losses (0-d, float64) for the inputs of a case, with their hints."""
    x, logits = i["x"].double(), i["logits"].double()
    mu, logvar = i["mu"].double(), i["logvar"].double()
    b = x.shape[0]
    pixels = x[0].numel()
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(b, -1)
    nll = bce.sum(1)  # (B,) −log p(x|z), nats per example
    kl_dims = gaussian_kl_per_dim(mu, logvar)
    kl = kl_dims.sum(1)
    lv = logvar.clamp(max=300)
    kl_logstd = 0.5 * (mu**2 + (2 * lv).exp() - 1 - 2 * lv).sum(1)
    kl_var = 0.5 * (mu**2 + logvar - 1 - logvar.clamp(min=1e-300).log()).sum(1)
    kl_no1 = 0.5 * (mu**2 + logvar.exp() - logvar).sum(1)
    mean_px = bce.mean()  # F.binary_cross_entropy_with_logits' default reduction
    probs = torch.sigmoid(logits).reshape(b, -1)
    probs_in_dtype = torch.sigmoid(i["logits"]).reshape(b, -1)  # float32 rounds to 0 or 1
    bce_probs = (
        F.binary_cross_entropy(probs_in_dtype, i["x"].reshape(b, -1), reduction="none")
        .double()
        .sum(1)
    )
    mse = ((probs - x.reshape(b, -1)) ** 2).sum(1)
    mean_hint = (
        "the reconstruction is a mean over pixels (F.binary_cross_entropy_with_logits' default "
        "reduction='mean'), the public loss's bug: sum −log p(x|z) over each example's pixels"
    )
    out = [
        (mean_px + kl.mean(), mean_hint + " (the KL term was already right)"),
        (mean_px + kl_dims.mean(), mean_hint + ", and sum the KL over the latent dimensions"),
        (
            mean_px * x.shape[-1] + kl.mean(),
            "multiplying the pixel mean by the image's width is not the sum over its pixels: "
            f"each example has P = {pixels} pixels",
        ),
        (
            mean_px * 784 + kl.mean(),
            f"784 is the pixel count of an MNIST digit only; these examples have P = {pixels} "
            "pixels: sum over each example's pixels (or multiply the mean by x[0].numel())",
        ),
        (nll.sum() + kl.sum(), "the loss is summed over the batch: average it (nats per example)"),
        (
            nll.sum() + kl.mean(),
            "the reconstruction is summed over the batch: average it, like the KL",
        ),
        (
            nll.mean() + kl.sum(),
            "the KL is summed over the batch: average it, like the reconstruction",
        ),
        (
            nll.mean() + kl_dims.mean(1).mean(),
            "the KL is averaged over the latent dimensions: sum it over them (a mean divides it by D, a KL weight of 1/D)",
        ),
        (
            nll.mean() - kl.mean(),
            "sign: the KL is added to the negative log-likelihood (it is a cost)",
        ),
        (
            -(nll.mean() + kl.mean()),
            "the loss to minimise is the negative ELBO: −log p(x|z) + KL, a positive number",
        ),
        (
            -nll.mean() + kl.mean(),
            "sign: the loss is −log p(x|z), i.e. plus the binary cross-entropy",
        ),
        (nll.mean() + kl_logstd.mean(), "logvar is log σ², not log σ: the variance is exp(logvar)"),
        (nll.mean() + kl_var.mean(), "logvar is log σ²: the variance is exp(logvar), not logvar"),
        (nll.mean() + 2 * kl.mean(), "the Gaussian KL has a factor ½: ½ Σ (μ² + σ² − 1 − log σ²)"),
        (
            nll.mean() + kl_no1.mean(),
            "the Gaussian KL is ½ Σ (μ² + σ² − 1 − log σ²): the −1 is missing",
        ),
        (nll.mean(), "the KL term is missing"),
        (kl.mean(), "the reconstruction term is missing"),
        (
            bce_probs.mean() + kl.mean(),
            "binary cross-entropy on sigmoid probabilities clamps log 0 at −100: compute it "
            "from the logits (F.binary_cross_entropy_with_logits), exact for any logit",
        ),
        (
            mse.mean() + kl.mean(),
            "the decoder is Bernoulli: its −log p(x|z) is the binary cross-entropy with the logits, not a squared error",
        ),
    ]
    swapped = F.binary_cross_entropy_with_logits(x, logits, reduction="none").reshape(b, -1)
    out.append(
        (
            swapped.sum(1).mean() + kl.mean(),
            "F.binary_cross_entropy_with_logits(input, target) takes the logits first and the data second",
        )
    )
    return out


register(FixedLoss())


# ============================================================================ effective_beta
_COMBOS = [(r, k) for r in REDUCTIONS for k in REDUCTIONS]


def _beta_hint(p, d, r, k, got) -> str | None:
    """Why ``got`` is a plausible wrong β_eff for reductions (r, k) with P = p, D = d."""

    def near(v):
        return math.isclose(got, v, rel_tol=1e-6)

    want = ref_effective_beta(p, d, r, k)
    ratio = got / want
    explained = [p, d, p * d, p / d, d / p, p**2, d**2]  # factors a wrong reduction would give
    if (
        math.isfinite(ratio)
        and ratio > 1.5
        and abs(ratio - round(ratio)) < 1e-9
        and not any(math.isclose(ratio, e, rel_tol=1e-9) for e in explained)
    ):
        return (
            f"an extra factor {round(ratio)}: both terms are averaged over the same batch, so the "
            "batch size cancels; only the reductions over pixels and over latent dimensions change "
            "the weight"
        )
    if (r, k) == ("sum", "sum"):
        return "summing both terms is the ELBO itself: β_eff = 1"
    if (r, k) == ("mean", "sum"):
        if near(1 / p):
            return "dividing the reconstruction by P weighs the KL P times more relative to it (divide the whole loss by 1/P): P, not 1/P"
        if near(1.0):
            return "the mean over pixels is not a harmless rescaling: it divides the reconstruction by P but not the KL"
    if (r, k) == ("sum", "mean"):
        if near(d):
            return "a mean over the D latent dimensions divides the KL by D: a weight 1/D, not D"
        if near(1.0):
            return "the mean over latent dimensions is not a harmless rescaling: it divides the KL by D"
    if (r, k) == ("mean", "mean"):
        if near(d / p):
            return "upside down: the reconstruction is divided by P, the KL by D, so relative to the reconstruction the KL weighs P/D"
        if near(p * d) or near(1 / (p * d)):
            return "the two means act on different terms: the KL's weight relative to the reconstruction's is (1/D)/(1/P)"
        if near(1.0):
            return "the two means do not cancel: one divides by P, the other by D"
        if near(p):
            return "the mean over the latent dimensions divides the KL by D as well"
        if near(1 / d):
            return "the mean over pixels divides the reconstruction by P as well"
    return None


def _names_the_argument(message: str, inputs: dict) -> bool:
    """Whether a ValueError's ``message`` says which argument is wrong, leniently: the
    argument's name or a word for it, or (for a reduction) the accepted or offending value."""
    low = message.lower()
    if inputs["bad"] == "an unknown reduction":
        value = inputs["rec"] if inputs["rec"] not in REDUCTIONS else inputs["kl"]
        return any(w in low for w in ("reduction", "sum", "mean", str(value).lower()))
    if inputs["bad"] == "pixels < 1":
        return any(w in low for w in ("pixel", "size")) or bool(re.search(r"\bP\b", message))
    return any(w in low for w in ("latent", "dim", "size")) or bool(re.search(r"\bD\b", message))


class EffectiveBeta(Check):
    """A derivation: loss = a·(−log p(x|z)) + b·KL with a = 1 or 1/P, b = 1 or 1/D has the
    minimisers of −log p + (b/a)·KL, so β_eff = b/a: 1, P, 1/D or P/D."""

    id = "ex10.effective_beta"
    function = "effective_beta"

    def cases(self, seed):
        g = _gen(seed)
        p = int(torch.randint(30, 5000, (1,), generator=g))
        d = int(torch.randint(2, 200, (1,), generator=g))
        while d == p:
            d += 1

        def bad(p_, d_, r, k, what):
            return {"pixels": p_, "latent_dim": d_, "rec": r, "kl": k, "bad": what}

        return [
            Case("P = 784 pixels, D = 16 latent dimensions", {"pixels": 784, "latent_dim": 16}),
            Case("P = 3072 (32×32×3), D = 128", {"pixels": 3072, "latent_dim": 128}),
            Case("P = 64 (8×8 digits), D = 2", {"pixels": 64, "latent_dim": 2}),
            Case("P = 1, D = 1", {"pixels": 1, "latent_dim": 1}),
            Case(
                "P = 10, D = 40 (more latent dimensions than pixels)",
                {"pixels": 10, "latent_dim": 40},
            ),
            Case(f"P = {p}, D = {d}", {"pixels": p, "latent_dim": d}),
            Case(
                "rec_reduction = 'none' (torch's third reduction)",
                bad(784, 16, "none", "sum", "an unknown reduction"),
            ),
            Case(
                "kl_reduction = 'batchmean' (a reduction of F.kl_div)",
                bad(784, 16, "sum", "batchmean", "an unknown reduction"),
            ),
            Case("pixels = 0", bad(0, 16, "mean", "sum", "pixels < 1")),
            Case("latent_dim = 0", bad(784, 0, "sum", "mean", "latent_dim < 1")),
        ]

    def run(self, fn, inputs):
        if inputs.get("bad"):
            try:
                value = fn(inputs["pixels"], inputs["latent_dim"], inputs["rec"], inputs["kl"])
            except ValueError as error:
                return {"raised": True, "message": str(error)[:200]}
            return {"raised": False, "value": value}
        return {f"{r}/{k}": fn(inputs["pixels"], inputs["latent_dim"], r, k) for r, k in _COMBOS}

    def explain_error(self, case, error):
        if case.inputs.get("bad") and "NotImplementedError" not in error:
            return (
                f"{case.name}: raised {error.split(':')[0]}: check the arguments yourself and raise "
                f"a ValueError that names the problem ({case.inputs['bad']})"
            )
        return super().explain_error(case, error)

    def reference(self, case):
        i = case.inputs
        if i.get("bad"):
            return None
        return {
            f"{r}/{k}": ref_effective_beta(i["pixels"], i["latent_dim"], r, k) for r, k in _COMBOS
        }

    def compare(self, case, out, expected):
        i = case.inputs
        if i.get("bad"):
            if not out.get("raised", {}).get("value"):
                return (
                    f"{case.name}: no ValueError: {i['bad']} is not a loss whose minimisers you can "
                    "compare; raise a ValueError that says so (reductions are 'sum' or 'mean', "
                    "pixels and latent_dim >= 1)"
                )
            message = out.get("message", {}).get("value", "")
            if not message.strip():
                return f"{case.name}: the ValueError has no message: say what is wrong with which argument"
            if not _names_the_argument(message, i):
                return (
                    f"{case.name}: the ValueError says {message!r}, not which argument is wrong: "
                    'name it and the problem (e.g. "latent_dim must be >= 1, got 0"), so the '
                    "caller knows what to fix"
                )
            return None
        p, d = i["pixels"], i["latent_dim"]
        for r, k in _COMBOS:
            key = f"{r}/{k}"
            where = Case(f"{case.name}, rec_reduction={r!r}, kl_reduction={k!r}", {})
            o = out.get(key, {"kind": "none"})
            problem = _number_problem(where, o, "β_eff")
            if problem:
                return problem
            got, want = float(o["value"]), expected[key]
            if math.isclose(got, want, rel_tol=1e-9, abs_tol=0.0):
                continue
            hint = _beta_hint(p, d, r, k, got)
            return f"{where.name}: β_eff = {fmt(got)}, expected {fmt(want)}: " + (
                hint
                or "write the loss as a·(−log p(x|z)) + b·KL with a, b from the reductions; dividing by a > 0 keeps the minimisers, so β_eff = b / a"
            )
        return None


register(EffectiveBeta())


# ============================================================================ predict, then run
class PredictMeanReductionUnits(ChoiceCheck):
    """Predict-then-run: MLPVAE(latent_dim=16), 4 epochs on the bundled digits with the public
    loss (reconstruction averaged over pixels, KL summed): 0 of 16 units stay active over seeds
    0–2 (largest Var(μ) below 1e-4 against the threshold 0.01), while the negative ELBO keeps 16
    (see tests/test_grading_ex10.py)."""

    id = "ex10.predict_mean_reduction_units"
    function = "prediction_active_units"
    choices = (
        "all 16, as with the fixed loss",
        "most of them (9 to 15)",
        "a few (1 to 8)",
        "none (0 of 16)",
    )
    answer = "none (0 of 16)"
    _why = (
        "the mean over P = 784 pixels divides the reconstruction by 784 but leaves the KL alone: "
        "relative to the ELBO the KL weighs β_eff = 784 (task 4)"
    )
    hints = {
        "all 16, as with the fixed loss": _why + ", and a unit is kept only if what it tells the "
        "decoder is worth 784 times its KL. Count the active units in both runs below",
        "most of them (9 to 15)": _why + ": even the most useful unit must save the decoder "
        "hundreds of nats per nat of KL. Count the active units in both runs below",
        "a few (1 to 8)": _why + ": a unit that carries one nat must save the decoder 784 nats of "
        "reconstruction, more than the whole image costs. Count the active units below",
    }


register(PredictMeanReductionUnits())


# ============================================================================ diagnose the logs
RUNS = ("A", "B", "C")
#: the columns of the logs, as the learner names them in diagnosis["signs"]
SIGNS = ("loss", "KL", "active", "I_q", "recon")
_COLLAPSED, _RECOVERED = "B", "C"
_RIGHT_SIGNS = frozenset({"KL", "active", "I_q", "recon"})

_RUN_HINTS = {
    (
        "collapsed",
        "A",
    ): "run A's KL grows to 13.9 nats, all 16 units are active and I_q reaches 6.17 nats: "
    "its codes are used. Find the run whose code tells nothing about its input at the end of training",
    (
        "collapsed",
        "C",
    ): "run C's KL, active units and I_q were near zero in epochs 2–4 only; read on: by "
    "epoch 15 it has 16 active units and 4.6 nats of KL. A collapse is judged at the end of training, "
    "not from a few early epochs",
    (
        "recovered",
        "A",
    ): "run A had one quiet epoch at the very start (every VAE first learns the average "
    "digit) and never lost its code again. Find the run whose units all went inactive for several "
    "epochs and then came back",
    (
        "recovered",
        "B",
    ): "run B never recovers: its KL stays at 0.000 and no unit becomes active in 15 epochs",
}
_SIGN_HINTS = {
    "loss": "the training loss is whatever each run minimised, in that objective's own units (run B's "
    "is a mean over pixels, about 0.27), so it cannot be compared across runs, and a low loss says "
    "nothing about whether z is used; leave it out",
    "KL": "the test KL is 0.000 nats in every epoch: q(z|x) is the prior for every digit, so z cannot "
    "depend on x",
    "active": "0 of 16 units are active in every epoch: no posterior mean moves with the input",
    "I_q": "I_q(x; z) stays at 0.03 nats, the estimator's noise level, while a used code reaches "
    "several nats (its ceiling here is log 500 = 6.21)",
    "recon": "the reconstruction stays at −208 to −210 nats from epoch 2 on, what a decoder that ignores z scores "
    "(the pixel frequencies: −207.1 nats): the decoder gets nothing from z",
}


class DiagnoseLogs(Check):
    """A graded reading of three runs' logs: ``diagnosis = {"collapsed": run, "recovered":
    run, "signs": set of column names}``; every part must be right."""

    id = "ex10.diagnose_logs"
    function = "diagnosis"
    value_task = True

    def cases(self, seed):
        return [Case("your diagnosis", {})]

    def run(self, fn, inputs):
        value = fn()
        if not isinstance(value, dict):
            return {"not_dict": value}
        out = {"keys": "\n".join(sorted(str(k) for k in value))}
        for key in ("collapsed", "recovered"):
            if key in value:
                out[key] = value[key]
        signs = value.get("signs")
        if isinstance(signs, (set, frozenset, list, tuple)):
            items = list(signs)
            out["signs"] = "\n".join(sorted({str(s) for s in items}))
            out["signs_not_text"] = any(not isinstance(s, str) for s in items)
        elif "signs" in value:
            out["signs_other"] = signs
        return out

    def reference(self, case):
        return {"collapsed": _COLLAPSED, "recovered": _RECOVERED, "signs": _RIGHT_SIGNS}

    def compare(self, case, out, expected):
        runs = " / ".join(f'"{r}"' for r in RUNS)
        names = ", ".join(f'"{s}"' for s in SIGNS)
        shape = (
            'diagnosis must be a dict {"collapsed": run, "recovered": run, "signs": {column, ...}} '
            f"with runs among {runs} and columns among {names}"
        )
        if "not_dict" in out:
            got = out["not_dict"]
            kind = got.get("type", got["kind"])
            return f"{shape}; got {kind}"
        keys = set(out.get("keys", {}).get("value", "").split("\n")) - {""}
        missing = [k for k in ("collapsed", "recovered", "signs") if k not in keys]
        if missing:
            return f"{shape}; the key {missing[0]!r} is missing"
        problems = []
        for key in ("collapsed", "recovered"):
            o = out.get(key, {"kind": "none"})
            if o["kind"] != "text" or o["value"] not in RUNS:
                got = repr(o["value"]) if o["kind"] == "text" else o.get("type", o["kind"])
                return f'diagnosis["{key}"] must be one of {runs}, got {got}'
            if o["value"] != expected[key]:
                problems.append(
                    f'diagnosis["{key}"] = "{o["value"]}": ' + _RUN_HINTS[(key, o["value"])]
                )
        if "signs_other" in out or "signs" not in out:
            got = out.get("signs_other", {"kind": "none"})
            kind = repr(got["value"]) if got["kind"] == "text" else got.get("type", got["kind"])
            return f'diagnosis["signs"] must be a set of column names among {names}, e.g. {{"KL"}}; got {kind}'
        if out.get("signs_not_text", {}).get("value"):
            return f'diagnosis["signs"] must hold column names (strings) among {names}'
        signs = set(out["signs"]["value"].split("\n")) - {""}
        unknown = sorted(signs - set(SIGNS))
        if unknown:
            return f'diagnosis["signs"] holds {unknown[0]!r}, which is not a column: use names among {names}, exactly as written'
        for sign in SIGNS:
            right = sign in expected["signs"]
            if right and sign not in signs:
                problems.append(
                    f'diagnosis["signs"] misses a sign of the collapse: {_SIGN_HINTS[sign]}'
                )
            elif not right and sign in signs:
                problems.append(f'diagnosis["signs"] holds "{sign}": {_SIGN_HINTS[sign]}')
        if not problems:
            return None
        more = (
            f" [{len(problems) - 1} more part{'s' if len(problems) > 2 else ''} wrong]"
            if len(problems) > 1
            else ""
        )
        return problems[0] + more


register(DiagnoseLogs())
