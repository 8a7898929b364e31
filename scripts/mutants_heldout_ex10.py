"""A held-out batch of plausible wrong answers ("mutants") to the ex10 tasks (common issues).

Written from the exercise contracts only (the markdown, task statements and stub docstrings
of ``exercises/ex10_common_issues.ipynb``, and the package functions they name:
``vae_course.diagnostics.sharpness``, ``vae_course.widgets.logic.slerp``/``lerp``,
``vae_course.losses.elbo``/``gaussian_kl_per_dim``), without reading the ex10 checks, their
tests or the solution notebook, to measure whether the checks catch mistakes their author did
not think of. Every mutant violates its task's contract.

    python scripts/mutants_heldout_ex10.py            # run every mutant with seeds 11 and 12
    python scripts/mutants_heldout_ex10.py --sanity   # the solutions (and ALTERNATIVES) must pass

A mutant is *killed* when its check fails for both seeds. ``MUTANTS`` holds
(task, function, what is wrong) for the four function tasks; ``VALUE_MUTANTS`` holds
(task, name, value, what is wrong) for the two answer variables (``prediction_active_units``
and ``diagnosis``), which are graded as values, not called. ``SOLUTIONS`` holds right answers
written here from the contracts (one per task); ``--sanity`` also runs ``ALTERNATIVES`` and
``VALUE_ALTERNATIVES``, right answers written differently, which must pass too.

Result (first run, seeds 11 and 12, and the same with seeds 1 and 2): 103 of 109 killed
(87 functions, 22 values); all 6 solutions and 12 other right answers pass (10 functions, 2
values). The survivors, all genuine wrong answers:

* sl_threshold_on_sin: the (anti)parallel fallback tested as sin Ω < ε, i.e.
  1 − |cos Ω| < ε²/2: near-antiparallel codes with 1 − |cos Ω| ≈ 1e-8 get slerp with
  sin Ω ≈ 1e-4, a path thousands of times longer than the codes. The only antiparallel case was
  float32 z1 = −0.5·z0, whose rounded cosine lands on −1 for some seeds (killed with seeds 0, 7,
  123, not with 11, 12 or 1, 2);
* sl_norm_squared_threshold, sl_norm_product_threshold: the zero-code fallback tested on ‖z‖²
  or on ‖z0‖·‖z1‖: a code of norm 1e-6 to 1e-3 is taken for zero (no case had a short code
  above ε);
* sl_t_float32: t from torch.linspace in the default float32 for float64 codes: a float64 path
  of float32 accuracy (1e-7 off, inside the check's float32 tolerance);
* fl_inplace_exp: exp_() on logvar when it needs no gradient (as under torch.no_grad() in an
  evaluation loop): the caller's logvar becomes σ². Every case handed in tensors that required
  gradients, where autograd refuses an in-place edit of a leaf;
* eb_vague_message: ValueError("invalid arguments"): the contract asks for a message that says
  which argument is wrong; the check only asked for a non-empty message.

Fixes in vae_course/grading/ex10.py: slerp gained a float64 case 179.99° apart (1 − |cos Ω| ≈
1.5e-8, lerp), a case with a code of norm 2e-6 (above ε: the arc) and float64-tight paths for
float64 codes; fixed_loss a case under torch.no_grad() with inputs that need no gradients;
effective_beta's ValueError must name the argument (leniently: its name, a word for it, or the
reduction's value). Each with a hint; each survivor is a case in tests/test_grading_ex10.py.
Now 109 of 109 are killed with seeds 11 and 12, and with seeds 1 and 2 (a strict test in
tests/test_grading_builders.py). The whole batch runs in 6 to 20 s here.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F

from vae_course.grading.mutants import judge, report, sanity_alternatives

SEEDS = (11, 12)
EPS = 1e-6


# =============================================================================== solutions
# Written from the contracts (math, torch and F are the exercise notebook's imports).
def sharpness(images):
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images must have one channel, got {images.shape[1]}")
        images = images[:, 0]
    if images.dim() != 3 or images.shape[1] < 2 or images.shape[2] < 2:
        raise ValueError(f"images must be (N, 1, H, W) or (N, H, W), H, W >= 2; got {images.shape}")
    dx = images[:, :-1, 1:] - images[:, :-1, :-1]
    dy = images[:, 1:, :-1] - images[:, :-1, :-1]
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2))


def slerp(z0, z1, steps):
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device).unsqueeze(1)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return (1 - t) * z0 + t * z1
    cos = torch.dot(z0, z1) / (n0 * n1)
    if 1 - cos.abs() < EPS:
        return (1 - t) * z0 + t * z1
    omega = torch.arccos(cos.clamp(-1, 1))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def fixed_loss(x, logits, mu, logvar):
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(len(x), -1)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar)
    return (rec.sum(1) + kl.sum(1)).mean()


def effective_beta(pixels, latent_dim, rec_reduction, kl_reduction):
    # L = a·Σ_p(−log p) + b·Σ_j KL_j with a = 1 (sum) or 1/P (mean), b = 1 or 1/D; dividing
    # by a > 0 keeps the minimisers: Σ_p(−log p) + (b/a)·Σ_j KL_j, so β_eff = b/a.
    for name, value in (("rec_reduction", rec_reduction), ("kl_reduction", kl_reduction)):
        if value not in ("sum", "mean"):
            raise ValueError(f"{name} must be 'sum' or 'mean', got {value!r}")
    if pixels < 1:
        raise ValueError(f"pixels must be >= 1, got {pixels}")
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
    beta = 1.0
    if rec_reduction == "mean":
        beta *= pixels
    if kl_reduction == "mean":
        beta /= latent_dim
    return float(beta)


PREDICTION = "none (0 of 16)"
DIAGNOSIS = {"collapsed": "B", "recovered": "C", "signs": {"KL", "active", "I_q", "recon"}}

SOLUTIONS = {
    "ex10.sharpness": sharpness,
    "ex10.slerp": slerp,
    "ex10.fixed_loss": fixed_loss,
    "ex10.effective_beta": effective_beta,
    "ex10.predict_mean_reduction_units": PREDICTION,
    "ex10.diagnose_logs": DIAGNOSIS,
}


# ---------------------------------------------------------------- shared pieces for mutants
def _stack(images):
    """(N, H, W) from (N, 1, H, W) or (N, H, W), with the contract's ValueErrors."""
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError("images must have one channel")
        images = images[:, 0]
    if images.dim() != 3 or min(images.shape[1:]) < 2:
        raise ValueError("images must be (N, 1, H, W) or (N, H, W) with H, W >= 2")
    return images


def _grid(x):
    """dx, dy on the (H-1) x (W-1) grid."""
    return x[:, :-1, 1:] - x[:, :-1, :-1], x[:, 1:, :-1] - x[:, :-1, :-1]


def _ts(z, steps):
    return torch.linspace(0, 1, steps, dtype=z.dtype, device=z.device).unsqueeze(1)


def _lerp(z0, z1, t):
    return (1 - t) * z0 + t * z1


def _arc(z0, z1, t, omega):
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def _rec(x, logits):
    """(B,) −Σ_pixels log p(x|z)."""
    return (
        F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(len(x), -1).sum(1)
    )


def _kl(mu, logvar):
    """(B,) KL summed over the latent dimensions."""
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)


def _checked(pixels, latent_dim, rec_reduction, kl_reduction):
    for name, value in (("rec_reduction", rec_reduction), ("kl_reduction", kl_reduction)):
        if value not in ("sum", "mean"):
            raise ValueError(f"{name} must be 'sum' or 'mean', got {value!r}")
    if pixels < 1:
        raise ValueError(f"pixels must be >= 1, got {pixels}")
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")


# ======================================================================= other right answers
def sh_right_diff_hypot(images):
    # torch.diff along each axis, cropped to the common grid; dx/dy named the other way round
    # (the magnitude is symmetric), torch.hypot for the root
    if images.dim() == 4 and images.shape[1] == 1:
        images = images.squeeze(1)
    if images.dim() != 3 or images.shape[-2] < 2 or images.shape[-1] < 2:
        raise ValueError(f"expected (N, 1, H, W) or (N, H, W) with H, W >= 2, got {images.shape}")
    down = torch.diff(images, dim=1)[:, :, :-1]  # (N, H-1, W-1)
    right = torch.diff(images, dim=2)[:, :-1, :]  # (N, H-1, W-1)
    return torch.hypot(down, right).flatten(1).mean(1)


def sh_right_conv(images):
    # the two differences as a 2x2 convolution with two output channels
    x = _stack(images).unsqueeze(1)
    kernels = torch.tensor(
        [[[[-1.0, 1.0], [0.0, 0.0]]], [[[-1.0, 0.0], [1.0, 0.0]]]],
        dtype=x.dtype,
        device=x.device,
    )
    d = F.conv2d(x, kernels)  # (N, 2, H-1, W-1): dx, dy
    return d.pow(2).sum(1).sqrt().mean(dim=(1, 2))


def sl_right_python_angle(z0, z1, steps):
    # the angle as a Python float (math.acos), coefficients broadcast from a column of t
    if steps < 2:
        raise ValueError("slerp needs steps >= 2")
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype, device=z0.device)[:, None]
    n0, n1 = float(torch.linalg.vector_norm(z0)), float(torch.linalg.vector_norm(z1))
    if min(n0, n1) < 1e-6:
        return torch.lerp(z0.expand(steps, -1), z1.expand(steps, -1), t)
    c = float(z0 @ z1) / (n0 * n1)
    if 1 - abs(c) < 1e-6:
        return torch.lerp(z0.expand(steps, -1), z1.expand(steps, -1), t)
    omega = math.acos(max(-1.0, min(1.0, c)))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / math.sin(omega)


def sl_right_atan2(z0, z1, steps):
    # Ω = atan2(‖z0‖‖z1‖ sin Ω, z0·z1) from the rejection of z1 on z0; rows built one by one
    if steps < 2:
        raise ValueError("steps < 2")
    n0, n1 = z0.norm(), z1.norm()
    ts = [k / (steps - 1) for k in range(steps)]
    if n0 < 1e-6 or n1 < 1e-6 or 1 - (z0 @ z1 / (n0 * n1)).abs() < 1e-6:
        return torch.stack([(1 - t) * z0 + t * z1 for t in ts])
    u0 = z0 / n0
    rejection = z1 - (z1 @ u0) * u0
    omega = torch.atan2(rejection.norm() * n0, z0 @ z1)
    s = torch.sin(omega)
    return torch.stack(
        [torch.sin((1 - t) * omega) / s * z0 + torch.sin(t * omega) / s * z1 for t in ts]
    )


def fl_right_package_elbo(x, logits, mu, logvar):
    # the package's loss with β = 1, no free bits, is the batch mean of −ELBO
    from vae_course.losses import elbo

    return elbo(x, logits, mu, logvar)["loss"]


def fl_right_softplus(x, logits, mu, logvar):
    # −log p(x|z) = softplus(l) − x·l per pixel; KL with σ² as exp(logvar)
    nll = (F.softplus(logits) - x * logits).flatten(1).sum(1)
    var = torch.exp(logvar)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - var, dim=1)
    return torch.mean(nll + kl)


def fl_right_mean_times_pixels(x, logits, mu, logvar):
    # the public loss with its mean over the B·P values scaled back by P = values per example
    pixels = x[0].numel()
    bce = F.binary_cross_entropy_with_logits(logits, x) * pixels
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1).mean()
    return bce + kld


def fl_right_distributions(x, logits, mu, logvar):
    # torch.distributions: Bernoulli(logits=…) log-prob, Normal(μ, σ) against Normal(0, 1)
    from torch.distributions import Bernoulli, Normal, kl_divergence

    log_px = Bernoulli(logits=logits, validate_args=False).log_prob(x).flatten(1).sum(1)
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return (kl_divergence(q, p).sum(1) - log_px).mean()


def eb_right_exponents(pixels, latent_dim, rec_reduction, kl_reduction):
    # β_eff = P^[r = mean] / D^[k = mean]
    allowed = {"sum", "mean"}
    if rec_reduction not in allowed:
        raise ValueError(f"unknown rec_reduction {rec_reduction!r}: use 'sum' or 'mean'")
    if kl_reduction not in allowed:
        raise ValueError(f"unknown kl_reduction {kl_reduction!r}: use 'sum' or 'mean'")
    if not pixels >= 1:
        raise ValueError(f"pixels must be at least 1, got {pixels}")
    if not latent_dim >= 1:
        raise ValueError(f"latent_dim must be at least 1, got {latent_dim}")
    return float(pixels ** (rec_reduction == "mean") / latent_dim ** (kl_reduction == "mean"))


def eb_right_factor_table(pixels, latent_dim, rec_reduction, kl_reduction):
    # the factors a (in front of Σ_p) and b (in front of Σ_j) looked up after validation
    if pixels < 1 or latent_dim < 1:
        bad = "pixels" if pixels < 1 else "latent_dim"
        raise ValueError(f"{bad} must be >= 1")
    a_of = {"sum": 1.0, "mean": 1.0 / pixels}
    b_of = {"sum": 1.0, "mean": 1.0 / latent_dim}
    if rec_reduction not in a_of:
        raise ValueError(f"rec_reduction must be 'sum' or 'mean', not {rec_reduction!r}")
    if kl_reduction not in b_of:
        raise ValueError(f"kl_reduction must be 'sum' or 'mean', not {kl_reduction!r}")
    return b_of[kl_reduction] / a_of[rec_reduction]


ALTERNATIVES = [
    ("ex10.sharpness", sh_right_diff_hypot),
    ("ex10.sharpness", sh_right_conv),
    ("ex10.slerp", sl_right_python_angle),
    ("ex10.slerp", sl_right_atan2),
    ("ex10.fixed_loss", fl_right_package_elbo),
    ("ex10.fixed_loss", fl_right_softplus),
    ("ex10.fixed_loss", fl_right_mean_times_pixels),
    ("ex10.fixed_loss", fl_right_distributions),
    ("ex10.effective_beta", eb_right_exponents),
    ("ex10.effective_beta", eb_right_factor_table),
]

# (task, name, value): right answers to the value tasks written differently
VALUE_ALTERNATIVES = [
    (
        "ex10.diagnose_logs",
        "frozenset_keys_reordered",
        {"signs": frozenset({"recon", "I_q", "active", "KL"}), "recovered": "C", "collapsed": "B"},
    ),
    (
        "ex10.diagnose_logs",
        "dict_call_set_from_list",
        # dict() with keywords, the set built from a list
        dict(collapsed="B", recovered="C", signs=set(["KL", "active", "I_q", "recon"])),
    ),
]


# ==================================================================== mutants: sharpness
def sh_misaligned_crop(images):
    # each difference on its own full grid, then cropped at the other end: dx on rows 1..H-1
    x = _stack(images)
    dx = x[:, :, 1:] - x[:, :, :-1]  # (N, H, W-1)
    dy = x[:, 1:, :] - x[:, :-1, :]  # (N, H-1, W)
    return torch.sqrt(dx[:, 1:, :] ** 2 + dy[:, :, 1:] ** 2).mean(dim=(1, 2))


def sh_separate_means(images):
    x = _stack(images)
    dx = x[:, :, 1:] - x[:, :, :-1]
    dy = x[:, 1:, :] - x[:, :-1, :]
    return dx.abs().mean(dim=(1, 2)) + dy.abs().mean(dim=(1, 2))


def sh_l1(images):
    dx, dy = _grid(_stack(images))
    return (dx.abs() + dy.abs()).mean(dim=(1, 2))


def sh_no_sqrt(images):
    dx, dy = _grid(_stack(images))
    return (dx**2 + dy**2).mean(dim=(1, 2))


def sh_rms(images):
    dx, dy = _grid(_stack(images))
    return torch.sqrt((dx**2 + dy**2).mean(dim=(1, 2)))


def sh_central_differences(images):
    x = _stack(images)
    gy, gx = torch.gradient(x, dim=(1, 2))
    return torch.sqrt(gx**2 + gy**2).mean(dim=(1, 2))


def sh_replicate_pad(images):
    # pad the last row and column so both differences exist everywhere: mean over H x W
    x = _stack(images)
    p = F.pad(x.unsqueeze(1), (0, 1, 0, 1), mode="replicate").squeeze(1)
    dx = p[:, :-1, 1:] - p[:, :-1, :-1]
    dy = p[:, 1:, :-1] - p[:, :-1, :-1]
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2))


def sh_sum(images):
    dx, dy = _grid(_stack(images))
    return torch.sqrt(dx**2 + dy**2).sum(dim=(1, 2))


def sh_batch_mean(images):
    dx, dy = _grid(_stack(images))
    return torch.sqrt(dx**2 + dy**2).mean()


def sh_float32(images):
    dx, dy = _grid(_stack(images))
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2)).float()


def sh_cpu(images):
    dx, dy = _grid(_stack(images).cpu())
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2))


def sh_squeeze_all(images):
    x = images.squeeze()  # also drops N = 1
    if x.dim() != 3 or min(x.shape[1:]) < 2:
        raise ValueError("images must be (N, 1, H, W) or (N, H, W) with H, W >= 2")
    dx, dy = _grid(x)
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2))


def sh_colour_averaged(images):
    x = images.mean(dim=1) if images.dim() == 4 else images  # (N, 3, H, W) accepted
    if x.dim() != 3 or min(x.shape[1:]) < 2:
        raise ValueError("H and W must be >= 2")
    dx, dy = _grid(x)
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2))


def sh_no_size_check(images):
    x = images[:, 0] if images.dim() == 4 else images
    if images.dim() == 4 and images.shape[1] != 1:
        raise ValueError("one channel only")
    dx, dy = _grid(x)  # H or W = 1: an empty grid, a NaN mean
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2))


def sh_assert(images):
    assert images.dim() in (3, 4), "images must be 3-d or 4-d"
    x = images[:, 0] if images.dim() == 4 else images
    assert images.dim() == 3 or images.shape[1] == 1, "one channel only"
    assert min(x.shape[1:]) >= 2, "H, W >= 2"
    dx, dy = _grid(x)
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2))


def sh_eps_in_sqrt(images):
    dx, dy = _grid(_stack(images))
    return torch.sqrt(dx**2 + dy**2 + 1e-8).mean(dim=(1, 2))  # "for a finite gradient"


def sh_max_component(images):
    dx, dy = _grid(_stack(images))
    return torch.maximum(dx.abs(), dy.abs()).mean(dim=(1, 2))


def sh_roll_wraparound(images):
    x = _stack(images)
    dx = torch.roll(x, -1, dims=2) - x
    dy = torch.roll(x, -1, dims=1) - x
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2))


def sh_divides_by_hw(images):
    x = _stack(images)
    dx, dy = _grid(x)
    return torch.sqrt(dx**2 + dy**2).sum(dim=(1, 2)) / (x.shape[1] * x.shape[2])


def sh_dx_only(images):
    dx, _ = _grid(_stack(images))
    return dx.abs().mean(dim=(1, 2))


def sh_inplace_centre(images):
    x = _stack(images)
    x -= x.mean(dim=(1, 2), keepdim=True)  # centres the caller's images (the score is shift-free)
    dx, dy = _grid(x)
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2))


def sh_contrast_normalised(images):
    x = _stack(images)
    lo = x.amin(dim=(1, 2), keepdim=True)
    hi = x.amax(dim=(1, 2), keepdim=True)
    dx, dy = _grid((x - lo) / (hi - lo))  # a constant image: 0/0
    return torch.sqrt(dx**2 + dy**2).mean(dim=(1, 2))


def sh_keeps_channel(images):
    x = images if images.dim() == 4 else images.unsqueeze(1)
    if x.shape[1] != 1 or min(x.shape[2:]) < 2:
        raise ValueError("images must be (N, 1, H, W) or (N, H, W) with H, W >= 2")
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return torch.sqrt(dx**2 + dy**2).mean(dim=(-2, -1))  # (N, 1)


# ======================================================================== mutants: slerp
def sl_arange_grid(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = (torch.arange(steps, dtype=z0.dtype, device=z0.device) / steps).unsqueeze(1)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_grid_from_one(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = (torch.arange(1, steps + 1, dtype=z0.dtype, device=z0.device) / steps).unsqueeze(1)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_no_parallel_fallback(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_parallel_without_abs(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos < EPS:  # antiparallel codes go through
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_threshold_on_sin(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    omega = torch.arccos((z0 @ z1 / (n0 * n1)).clamp(-1, 1))
    if torch.sin(omega) < EPS:  # sin Ω < ε is 1 − |cos Ω| < ε²/2, not < ε
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, omega)


def sl_eps_1e3(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < 1e-3 or n1 < 1e-3:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos.abs() < 1e-3:  # "a safer" threshold
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_norm_squared_threshold(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    if z0 @ z0 < EPS or z1 @ z1 < EPS:  # the squared norm against ε
        return _lerp(z0, z1, t)
    n0, n1 = z0.norm(), z1.norm()
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_norm_product_threshold(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 * n1 < EPS:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_no_norm_check(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    cos = z0 @ z1 / (z0.norm() * z1.norm())  # 0/0 for a zero code
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_unit_sphere(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    u0, u1 = z0 / n0, z1 / n1  # normalised, never scaled back
    cos = u0 @ u1
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    return _arc(u0, u1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_norm_interpolated(z0, z1, steps):
    # slerp of the directions times a linearly interpolated norm
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    u0, u1 = z0 / n0, z1 / n1
    cos = u0 @ u1
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    return _arc(u0, u1, t, torch.arccos(cos.clamp(-1, 1))) * ((1 - t) * n0 + t * n1)


def sl_unnormalised_cos(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    cos = (z0 @ z1).clamp(-1, 1)  # the dot product, not divided by the norms
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, torch.arccos(cos))


def sl_weights_swapped(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    omega = torch.arccos(cos.clamp(-1, 1))
    return (torch.sin(t * omega) * z0 + torch.sin((1 - t) * omega) * z1) / torch.sin(omega)


def sl_package_float32(z0, z1, steps):
    from vae_course.widgets.logic import slerp as package_slerp

    return package_slerp(z0, z1, steps)  # works in float32 (and on the CPU)


def sl_cpu(z0, z1, steps):
    return slerp(z0.cpu(), z1.cpu(), steps)


def sl_t_float32(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = torch.linspace(0, 1, steps, device=z0.device).unsqueeze(1)  # default dtype, float32
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_no_steps_check(z0, z1, steps):
    t = _ts(z0, steps)  # steps = 1 gives t = [0], steps = 0 an empty path
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_rejects_two_steps(z0, z1, steps):
    if steps <= 2:
        raise ValueError("steps must be > 2")
    return slerp(z0, z1, steps)


def sl_assert_steps(z0, z1, steps):
    assert steps >= 2, "steps must be >= 2"
    return slerp(z0, z1, max(steps, 2))


def sl_transposed(z0, z1, steps):
    return slerp(z0, z1, steps).T  # (D, steps)


def sl_inplace_normalise(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    z0 /= n0  # normalises the caller's codes
    z1 /= n1
    cos = z0 @ z1
    if 1 - cos.abs() < EPS:
        return _lerp(z0 * n0, z1 * n1, t)
    return _arc(z0 * n0, z1 * n1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_always_lerp(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    return _lerp(z0, z1, _ts(z0, steps))


def sl_parallel_repeats_z0(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos.abs() < EPS:
        return z0.repeat(steps, 1)  # "no angle, nothing to interpolate"
    return _arc(z0, z1, t, torch.arccos(cos.clamp(-1, 1)))


def sl_divides_by_omega(z0, z1, steps):
    if steps < 2:
        raise ValueError("steps must be >= 2")
    t = _ts(z0, steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < EPS or n1 < EPS:
        return _lerp(z0, z1, t)
    cos = z0 @ z1 / (n0 * n1)
    if 1 - cos.abs() < EPS:
        return _lerp(z0, z1, t)
    omega = torch.arccos(cos.clamp(-1, 1))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / omega


# =================================================================== mutants: fixed_loss
def fl_public_loss(x, logits, mu, logvar):
    bce = F.binary_cross_entropy_with_logits(logits, x)
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1).mean()
    return bce + kld


def fl_rec_summed_over_batch(x, logits, mu, logvar):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")  # over B too
    return bce + _kl(mu, logvar).mean()


def fl_no_batch_mean(x, logits, mu, logvar):
    return _rec(x, logits).sum() + _kl(mu, logvar).sum()


def fl_kl_mean_over_dims(x, logits, mu, logvar):
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean(1)
    return (_rec(x, logits) + kl).mean()


def fl_kl_no_half(x, logits, mu, logvar):
    kl = (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    return (_rec(x, logits) + kl).mean()


def fl_kl_logvar_sign(x, logits, mu, logvar):
    kl = 0.5 * (mu**2 + logvar.exp() - 1 + logvar).sum(1)
    return (_rec(x, logits) + kl).mean()


def fl_logvar_as_logstd(x, logits, mu, logvar):
    kl = 0.5 * (mu**2 + torch.exp(2 * logvar) - 1 - 2 * logvar).sum(1)
    return (_rec(x, logits) + kl).mean()


def fl_sigmoid_then_bce(x, logits, mu, logvar):
    rec = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").reshape(len(x), -1)
    return (rec.sum(1) + _kl(mu, logvar)).mean()


def fl_log_of_sigmoid(x, logits, mu, logvar):
    p = torch.sigmoid(logits)
    nll = -(x * torch.log(p) + (1 - x) * torch.log(1 - p))
    return (nll.reshape(len(x), -1).sum(1) + _kl(mu, logvar)).mean()


def fl_sum_dim1_only(x, logits, mu, logvar):
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(
        1
    )  # images: (B, H, W)
    return rec.mean() + _kl(mu, logvar).mean()


def fl_hardcoded_784(x, logits, mu, logvar):
    return F.binary_cross_entropy_with_logits(logits, x) * 784 + _kl(mu, logvar).mean()


def fl_times_shape1(x, logits, mu, logvar):
    # the mean over pixels scaled back by x.shape[1]: 1 for (B, 1, 28, 28) images
    return F.binary_cross_entropy_with_logits(logits, x) * x.shape[1] + _kl(mu, logvar).mean()


def fl_float32(x, logits, mu, logvar):
    return fixed_loss(x.float(), logits.float(), mu.float(), logvar.float())


def fl_cpu(x, logits, mu, logvar):
    return fixed_loss(x, logits, mu, logvar).cpu()


def fl_per_example(x, logits, mu, logvar):
    return _rec(x, logits) + _kl(mu, logvar)  # (B,), not averaged


def fl_returns_elbo(x, logits, mu, logvar):
    return (-_rec(x, logits) - _kl(mu, logvar)).mean()


def fl_kl_detached(x, logits, mu, logvar):
    return (_rec(x, logits) + _kl(mu, logvar).detach()).mean()


def fl_bce_arguments_swapped(x, logits, mu, logvar):
    rec = F.binary_cross_entropy_with_logits(x, logits, reduction="none").reshape(len(x), -1)
    return (rec.sum(1) + _kl(mu, logvar)).mean()


def fl_squared_error(x, logits, mu, logvar):
    rec = ((torch.sigmoid(logits) - x) ** 2).reshape(len(x), -1).sum(1)
    return (rec + _kl(mu, logvar)).mean()


def fl_inplace_exp(x, logits, mu, logvar):
    var = logvar.detach().exp_() if not logvar.requires_grad else logvar.exp()
    # .exp_() on the caller's tensor when it needs no gradient: logvar now holds σ²
    kl = 0.5 * (mu**2 + var - 1 - torch.log(var)).sum(1)
    return (_rec(x, logits) + kl).mean()


def fl_normal_scale_is_variance(x, logits, mu, logvar):
    from torch.distributions import Normal, kl_divergence

    q = Normal(mu, logvar.exp())  # the scale is σ = exp(logvar / 2), not σ² = exp(logvar)
    kl = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(1)
    return (_rec(x, logits) + kl).mean()


def fl_clamped_logvar(x, logits, mu, logvar):
    return fixed_loss(x, logits, mu, logvar.clamp(-10, 10))  # "for stability"


def fl_rewrapped(x, logits, mu, logvar):
    value = fixed_loss(x, logits, mu, logvar).item()
    return torch.tensor(value, dtype=x.dtype, device=x.device)  # no graph, no gradients


# =============================================================== mutants: effective_beta
def eb_inverse(pixels, latent_dim, rec_reduction, kl_reduction):
    _checked(pixels, latent_dim, rec_reduction, kl_reduction)
    a = 1 / pixels if rec_reduction == "mean" else 1.0
    b = 1 / latent_dim if kl_reduction == "mean" else 1.0
    return a / b


def eb_mean_mean_is_one(pixels, latent_dim, rec_reduction, kl_reduction):
    _checked(pixels, latent_dim, rec_reduction, kl_reduction)
    if rec_reduction == kl_reduction:
        return 1.0  # "both means: the factors cancel"
    return float(pixels) if rec_reduction == "mean" else 1.0 / latent_dim


def eb_mean_mean_product(pixels, latent_dim, rec_reduction, kl_reduction):
    _checked(pixels, latent_dim, rec_reduction, kl_reduction)
    if rec_reduction == "mean" and kl_reduction == "mean":
        return float(pixels * latent_dim)
    return (
        float(pixels)
        if rec_reduction == "mean"
        else (1.0 / latent_dim if kl_reduction == "mean" else 1.0)
    )


def eb_sum_mean_is_d(pixels, latent_dim, rec_reduction, kl_reduction):
    _checked(pixels, latent_dim, rec_reduction, kl_reduction)
    beta = float(pixels) if rec_reduction == "mean" else 1.0
    if kl_reduction == "mean":
        beta *= latent_dim  # a mean over D weighs the KL up, it thinks
    return beta


def eb_ignores_kl_reduction(pixels, latent_dim, rec_reduction, kl_reduction):
    _checked(pixels, latent_dim, rec_reduction, kl_reduction)
    return float(pixels) if rec_reduction == "mean" else 1.0


def eb_ignores_rec_reduction(pixels, latent_dim, rec_reduction, kl_reduction):
    _checked(pixels, latent_dim, rec_reduction, kl_reduction)
    return 1.0 / latent_dim if kl_reduction == "mean" else 1.0


def eb_returns_int(pixels, latent_dim, rec_reduction, kl_reduction):
    _checked(pixels, latent_dim, rec_reduction, kl_reduction)
    beta = pixels if rec_reduction == "mean" else 1
    return beta // latent_dim if kl_reduction == "mean" else beta  # integer arithmetic


def eb_no_reduction_check(pixels, latent_dim, rec_reduction, kl_reduction):
    if pixels < 1 or latent_dim < 1:
        raise ValueError("pixels and latent_dim must be >= 1")
    beta = 1.0 if rec_reduction == "sum" else float(pixels)  # anything else taken as a mean
    return beta if kl_reduction == "sum" else beta / latent_dim


def eb_keyerror(pixels, latent_dim, rec_reduction, kl_reduction):
    if pixels < 1:
        raise ValueError(f"pixels must be >= 1, got {pixels}")
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
    a = {"sum": 1.0, "mean": 1.0 / pixels}[rec_reduction]  # KeyError for another reduction
    b = {"sum": 1.0, "mean": 1.0 / latent_dim}[kl_reduction]
    return b / a


def eb_rejects_one_pixel(pixels, latent_dim, rec_reduction, kl_reduction):
    if pixels <= 1 or latent_dim <= 1:
        raise ValueError("pixels and latent_dim must be > 1")
    return effective_beta(pixels, latent_dim, rec_reduction, kl_reduction)


def eb_no_size_check(pixels, latent_dim, rec_reduction, kl_reduction):
    for value in (rec_reduction, kl_reduction):
        if value not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {value!r}")
    beta = float(pixels) if rec_reduction == "mean" else 1.0
    return beta / latent_dim if kl_reduction == "mean" else beta


def eb_accepts_zero(pixels, latent_dim, rec_reduction, kl_reduction):
    for value in (rec_reduction, kl_reduction):
        if value not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {value!r}")
    if pixels < 0 or latent_dim < 0:  # 0 passes
        raise ValueError("pixels and latent_dim must not be negative")
    beta = float(pixels) if rec_reduction == "mean" else 1.0
    return beta / latent_dim if kl_reduction == "mean" else beta


def eb_assert(pixels, latent_dim, rec_reduction, kl_reduction):
    assert rec_reduction in ("sum", "mean"), "rec_reduction must be sum or mean"
    assert kl_reduction in ("sum", "mean"), "kl_reduction must be sum or mean"
    assert pixels >= 1 and latent_dim >= 1, "pixels and latent_dim must be >= 1"
    return effective_beta(pixels, latent_dim, rec_reduction, kl_reduction)


def eb_vague_message(pixels, latent_dim, rec_reduction, kl_reduction):
    if (
        rec_reduction not in ("sum", "mean")
        or kl_reduction not in ("sum", "mean")
        or pixels < 1
        or latent_dim < 1
    ):
        raise ValueError("invalid arguments")
    return effective_beta(pixels, latent_dim, rec_reduction, kl_reduction)


def eb_accepts_none(pixels, latent_dim, rec_reduction, kl_reduction):
    # torch's reduction="none" followed by .sum() is a sum, so "none" is taken as "sum"
    rec_reduction = "sum" if rec_reduction == "none" else rec_reduction
    kl_reduction = "sum" if kl_reduction == "none" else kl_reduction
    return effective_beta(pixels, latent_dim, rec_reduction, kl_reduction)


def eb_returns_tensor(pixels, latent_dim, rec_reduction, kl_reduction):
    return torch.tensor(effective_beta(pixels, latent_dim, rec_reduction, kl_reduction))


def eb_swapped_sizes(pixels, latent_dim, rec_reduction, kl_reduction):
    _checked(pixels, latent_dim, rec_reduction, kl_reduction)
    beta = float(latent_dim) if rec_reduction == "mean" else 1.0  # P and D mixed up
    return beta / pixels if kl_reduction == "mean" else beta


# ===================================================================== mutants: the values
def _diag(collapsed="B", recovered="C", signs=("KL", "active", "I_q", "recon")):
    return {"collapsed": collapsed, "recovered": recovered, "signs": set(signs)}


VALUE_MUTANTS = [
    (
        "ex10.predict_mean_reduction_units",
        "all_16",
        "all 16, as with the fixed loss",
        "β_eff = 784 changes nothing",
    ),
    ("ex10.predict_mean_reduction_units", "most", "most of them (9 to 15)", "a few units lost"),
    ("ex10.predict_mean_reduction_units", "a_few", "a few (1 to 8)", "a few units survive β = 784"),
    (
        "ex10.predict_mean_reduction_units",
        "none_short",
        "none",
        "not one of the choices as written",
    ),
    ("ex10.predict_mean_reduction_units", "zero_int", 0, "the number 0, not the string"),
    (
        "ex10.predict_mean_reduction_units",
        "none_capital",
        "None (0 of 16)",
        "capitalised: not exactly a choice",
    ),
    ("ex10.predict_mean_reduction_units", "unset", None, "left as None"),
    ("ex10.diagnose_logs", "early_epochs", _diag("C", "B"), "C judged by its epochs 2-4"),
    ("ex10.diagnose_logs", "recovered_A", _diag("B", "A"), "A's first epoch read as a collapse"),
    ("ex10.diagnose_logs", "same_run_twice", _diag("B", "B"), "B both collapsed and recovered"),
    ("ex10.diagnose_logs", "no_recovery", _diag("B", None), "no run recovered"),
    ("ex10.diagnose_logs", "lowercase_runs", _diag("b", "c"), "runs in lowercase"),
    (
        "ex10.diagnose_logs",
        "signs_with_loss",
        _diag(signs=("loss", "KL", "active", "I_q", "recon")),
        "the tiny loss read as a sign",
    ),
    (
        "ex10.diagnose_logs",
        "signs_no_recon",
        _diag(signs=("KL", "active", "I_q")),
        "recon at the no-z floor missed",
    ),
    ("ex10.diagnose_logs", "signs_no_iq", _diag(signs=("KL", "active", "recon")), "I_q missed"),
    ("ex10.diagnose_logs", "signs_kl_active", _diag(signs=("KL", "active")), "only KL and active"),
    ("ex10.diagnose_logs", "signs_iq_only", _diag(signs=("I_q",)), "only I_q"),
    (
        "ex10.diagnose_logs",
        "signs_lowercase",
        _diag(signs=("kl", "active", "i_q", "recon")),
        "column names in lowercase",
    ),
    (
        "ex10.diagnose_logs",
        "signs_string",
        {"collapsed": "B", "recovered": "C", "signs": "KL, active, I_q, recon"},
        "signs one string",
    ),
    (
        "ex10.diagnose_logs",
        "tuple",
        ("B", "C", {"KL", "active", "I_q", "recon"}),
        "a tuple, not a dict",
    ),
    (
        "ex10.diagnose_logs",
        "key_typo",
        {"collapse": "B", "recovered": "C", "signs": {"KL", "active", "I_q", "recon"}},
        "key 'collapse'",
    ),
    ("ex10.diagnose_logs", "signs_loss_only", _diag(signs=("loss",)), "only the loss"),
]


MUTANTS = [
    ("ex10.sharpness", sh_misaligned_crop, "dx and dy cropped at opposite ends: misaligned grid"),
    ("ex10.sharpness", sh_separate_means, "mean |dx| + mean |dy| on their own full grids"),
    ("ex10.sharpness", sh_l1, "|dx| + |dy| instead of the Euclidean magnitude"),
    ("ex10.sharpness", sh_no_sqrt, "mean of dx² + dy², no root"),
    ("ex10.sharpness", sh_rms, "root of the mean, not mean of the roots"),
    ("ex10.sharpness", sh_central_differences, "torch.gradient: central differences, full grid"),
    ("ex10.sharpness", sh_replicate_pad, "replicate-padded: mean over H x W"),
    ("ex10.sharpness", sh_sum, "sum over the grid, not the mean"),
    ("ex10.sharpness", sh_batch_mean, "one number for the batch"),
    ("ex10.sharpness", sh_float32, "float32 for float64 images (the package's .float())"),
    ("ex10.sharpness", sh_cpu, "result on the CPU"),
    ("ex10.sharpness", sh_squeeze_all, "squeeze(): a batch of 1 loses its N"),
    ("ex10.sharpness", sh_colour_averaged, "colour images averaged over channels, no ValueError"),
    ("ex10.sharpness", sh_no_size_check, "H or W = 1: NaN instead of ValueError"),
    ("ex10.sharpness", sh_assert, "AssertionError instead of ValueError"),
    ("ex10.sharpness", sh_eps_in_sqrt, "sqrt(… + 1e-8): a constant image scores 1e-4"),
    ("ex10.sharpness", sh_max_component, "max(|dx|, |dy|)"),
    ("ex10.sharpness", sh_roll_wraparound, "torch.roll: wrap-around differences"),
    ("ex10.sharpness", sh_divides_by_hw, "sum over the grid / (H·W)"),
    ("ex10.sharpness", sh_dx_only, "horizontal differences only"),
    ("ex10.sharpness", sh_inplace_centre, "centres the caller's images in place"),
    ("ex10.sharpness", sh_contrast_normalised, "contrast-normalised: 0/0 for a constant image"),
    ("ex10.sharpness", sh_keeps_channel, "shape (N, 1), not (N,)"),
    ("ex10.slerp", sl_arange_grid, "t = k/steps: the last row is not z1"),
    ("ex10.slerp", sl_grid_from_one, "t = (k+1)/steps: row 0 is not z0"),
    ("ex10.slerp", sl_no_parallel_fallback, "no fallback for (anti)parallel codes"),
    ("ex10.slerp", sl_parallel_without_abs, "1 − cos < ε: antiparallel codes not caught"),
    ("ex10.slerp", sl_threshold_on_sin, "sin Ω < ε instead of 1 − |cos Ω| < ε"),
    ("ex10.slerp", sl_eps_1e3, "ε = 1e-3 for both fallbacks"),
    ("ex10.slerp", sl_norm_squared_threshold, "‖z‖² < ε instead of ‖z‖ < ε"),
    ("ex10.slerp", sl_norm_product_threshold, "‖z0‖·‖z1‖ < ε instead of each norm"),
    ("ex10.slerp", sl_no_norm_check, "no zero-code fallback: 0/0"),
    ("ex10.slerp", sl_unit_sphere, "interpolates the normalised codes, never rescaled"),
    ("ex10.slerp", sl_norm_interpolated, "slerp of directions × lerp of norms"),
    ("ex10.slerp", sl_unnormalised_cos, "cos Ω = z0·z1, not divided by the norms"),
    ("ex10.slerp", sl_weights_swapped, "sin(tΩ) on z0, sin((1−t)Ω) on z1"),
    ("ex10.slerp", sl_package_float32, "the package's slerp: float32"),
    ("ex10.slerp", sl_cpu, "result on the CPU"),
    ("ex10.slerp", sl_t_float32, "t in float32 for float64 codes"),
    ("ex10.slerp", sl_no_steps_check, "no ValueError for steps < 2"),
    ("ex10.slerp", sl_rejects_two_steps, "ValueError for steps = 2"),
    ("ex10.slerp", sl_assert_steps, "AssertionError instead of ValueError"),
    ("ex10.slerp", sl_transposed, "(D, steps), not (steps, D)"),
    ("ex10.slerp", sl_inplace_normalise, "normalises the caller's codes in place"),
    ("ex10.slerp", sl_always_lerp, "always lerp"),
    ("ex10.slerp", sl_parallel_repeats_z0, "parallel codes: z0 repeated, not lerp"),
    ("ex10.slerp", sl_divides_by_omega, "divides by Ω, not sin Ω"),
    ("ex10.fixed_loss", fl_public_loss, "the public loss itself: BCE averaged over pixels"),
    ("ex10.fixed_loss", fl_rec_summed_over_batch, "BCE summed over the batch too, KL averaged"),
    ("ex10.fixed_loss", fl_no_batch_mean, "both terms summed over the batch"),
    ("ex10.fixed_loss", fl_kl_mean_over_dims, "KL averaged over the latent dimensions"),
    ("ex10.fixed_loss", fl_kl_no_half, "KL without the ½"),
    ("ex10.fixed_loss", fl_kl_logvar_sign, "KL with + log σ²"),
    ("ex10.fixed_loss", fl_logvar_as_logstd, "logvar read as log σ"),
    ("ex10.fixed_loss", fl_sigmoid_then_bce, "sigmoid then BCE: clamped at extreme logits"),
    ("ex10.fixed_loss", fl_log_of_sigmoid, "log(sigmoid): inf at extreme logits"),
    ("ex10.fixed_loss", fl_sum_dim1_only, ".sum(1) without flatten: images not summed"),
    ("ex10.fixed_loss", fl_hardcoded_784, "mean BCE × 784: right for MNIST only"),
    ("ex10.fixed_loss", fl_times_shape1, "mean BCE × x.shape[1]"),
    ("ex10.fixed_loss", fl_float32, "float32 for float64 inputs"),
    ("ex10.fixed_loss", fl_cpu, "result on the CPU"),
    ("ex10.fixed_loss", fl_per_example, "(B,) per example, not the batch mean"),
    ("ex10.fixed_loss", fl_returns_elbo, "returns the ELBO, not its negative"),
    ("ex10.fixed_loss", fl_kl_detached, "KL detached: no gradient to mu, logvar"),
    ("ex10.fixed_loss", fl_bce_arguments_swapped, "BCE-with-logits(x, logits): swapped"),
    ("ex10.fixed_loss", fl_squared_error, "squared error on sigmoid(logits)"),
    ("ex10.fixed_loss", fl_inplace_exp, "logvar.exp_(): the caller's logvar overwritten"),
    ("ex10.fixed_loss", fl_normal_scale_is_variance, "Normal(mu, exp(logvar)): σ² as the scale"),
    ("ex10.fixed_loss", fl_clamped_logvar, "logvar clamped to ±10"),
    ("ex10.fixed_loss", fl_rewrapped, "torch.tensor(loss.item()): no gradient"),
    ("ex10.effective_beta", eb_inverse, "a/b: the reciprocal of β_eff"),
    ("ex10.effective_beta", eb_mean_mean_is_one, "mean/mean taken as 1"),
    ("ex10.effective_beta", eb_mean_mean_product, "mean/mean taken as P·D"),
    ("ex10.effective_beta", eb_sum_mean_is_d, "a mean over D multiplies β by D"),
    ("ex10.effective_beta", eb_ignores_kl_reduction, "ignores kl_reduction"),
    ("ex10.effective_beta", eb_ignores_rec_reduction, "ignores rec_reduction"),
    ("ex10.effective_beta", eb_returns_int, "integer arithmetic: an int"),
    ("ex10.effective_beta", eb_no_reduction_check, "an unknown reduction taken as a mean"),
    ("ex10.effective_beta", eb_keyerror, "KeyError for an unknown reduction"),
    ("ex10.effective_beta", eb_rejects_one_pixel, "ValueError for P = 1 or D = 1"),
    ("ex10.effective_beta", eb_no_size_check, "no check of pixels, latent_dim"),
    ("ex10.effective_beta", eb_accepts_zero, "pixels = 0, latent_dim = 0 accepted"),
    ("ex10.effective_beta", eb_assert, "AssertionError instead of ValueError"),
    ("ex10.effective_beta", eb_vague_message, "ValueError that does not name the argument"),
    ("ex10.effective_beta", eb_accepts_none, "reduction 'none' taken as 'sum'"),
    ("ex10.effective_beta", eb_returns_tensor, "a 0-d tensor, not a Python float"),
    ("ex10.effective_beta", eb_swapped_sizes, "P and D mixed up"),
]


# ==================================================================================== main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    batch = [m[:2] for m in MUTANTS] + [(task, value) for task, _, value, _ in VALUE_MUTANTS]
    status = report(batch, SOLUTIONS, SEEDS, argv)
    if "--sanity" in argv:
        status = max(status, sanity_alternatives(ALTERNATIVES, SEEDS))
        bad = []
        for task, name, value in VALUE_ALTERNATIVES:
            _, results = judge(task, value, SEEDS)
            ok = all(r.passed for r in results)
            msg = next((r.message for r in results if not r.passed), "")
            print(f"{'ok    ' if ok else 'FAILED'} {task:36s} {name:28s} {msg[:150]}")
            if not ok:
                bad.append(f"{task}:{name}")
        print(
            f"{len(VALUE_ALTERNATIVES) - len(bad)} of {len(VALUE_ALTERNATIVES)} other right values pass"
        )
        status = max(status, 1 if bad else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
