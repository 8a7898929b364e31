"""Checks of exercise set ``ex12_vae_vs_ae_vs_gan`` (notebook 12, VAE vs AE vs GAN).

Tasks (function or answer the learner writes → check id):

* ``frechet_distance(mean1, cov1, mean2, cov2)`` → ``ex12.frechet_distance`` (the Fréchet
  distance between two Gaussians, FID's formula: a 0-d float64 tensor ≥ 0)
* ``optimal_discriminator(p_data, p_g)`` → ``ex12.optimal_discriminator`` (a derivation: the best
  discriminator D* = p_data/(p_data + p_g) of two discrete distributions, ½ where both are 0, and
  its loss 2 log 2 − 2 JSD in nats)
* ``class_balance(predicted, n_classes)`` → ``ex12.class_balance`` (the entropy of the predicted
  labels' histogram in bits, and the share of the most common class)
* ``code_gaussian_samples(codes, n, generator)`` → ``ex12.code_gaussian_samples`` (the build task:
  the autoencoder's sampler, n draws from the Gaussian fitted to its codes)
* ``prediction_real_frechet`` → ``ex12.predict_real_frechet`` (predict-then-run: the Fréchet
  distance between 1,000 real training digits and the 1,000 real test digits)

References: the course package (``scores.frechet_distance``, the class entropy and largest class
of ``comparison.sample_quality``, ``models.autoencoder.fit_code_gaussian`` with the draw of
``comparison.draw_samples``); ``ref_optimal_discriminator`` is the closed form, checked in
``tests/test_grading_ex12.py`` against SciPy's Jensen–Shannon distance and
:func:`vae_course.models.gan.discriminator_loss`.
"""

from __future__ import annotations

import math

import torch

from ..models.autoencoder import fit_code_gaussian
from ..scores import frechet_distance as package_frechet_distance
from .checks import (
    Case,
    Check,
    ChoiceCheck,
    close,
    copy_input,
    fmt,
    generator_problem,
    generator_runs,
    register,
    tensor_problem,
)
from .checks import dtype_name as _dtype
from .checks import seeded_generator as _gen
from .ex04 import other_device
from .ex11 import _bad_call_error, _raised, _scalar, _two

__all__ = [
    "FrechetDistance",
    "OptimalDiscriminator",
    "ClassBalance",
    "CodeGaussianSamples",
    "PredictRealFrechet",
    "ref_frechet_distance",
    "ref_optimal_discriminator",
    "ref_class_balance",
    "ref_code_gaussian_samples",
    "JITTER",
    "REAL_FRECHET",
]

_DEVICE_CASE = "inputs on another device (meta, a stand-in for a GPU)"
_META_ITEM = "cannot be called on meta tensors"  # .item()/float()/bool() of a meta tensor
_LN2 = math.log(2.0)
_F64 = torch.float64

#: the jitter added to the codes' covariance before its Cholesky factor (as fit_code_gaussian)
JITTER = 1e-5


# ============================================================================ references
def ref_frechet_distance(mean1, cov1, mean2, cov2) -> torch.Tensor:
    """0-d float64 CPU tensor: :func:`vae_course.scores.frechet_distance` (float64 arithmetic,
    tr (C1 C2)^{1/2} from the eigenvalues of the symmetric C1^{1/2} C2 C1^{1/2}, clamped at 0)."""
    return torch.tensor(package_frechet_distance(mean1, cov1, mean2, cov2), dtype=_F64)


def ref_optimal_discriminator(
    p_data: torch.Tensor, p_g: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(D* (K,), loss 0-d), float64 on the CPU, for distributions p_data, p_g over K outcomes.

    D* = p_data / (p_data + p_g), and ½ where both are 0; loss = −Σ p_data log D* − Σ p_g
    log(1 − D*) in nats (0·log 0 = 0), which equals 2 log 2 − 2 JSD(p_data ‖ p_g).
    """
    if p_data.dim() != 1 or tuple(p_data.shape) != tuple(p_g.shape):
        raise ValueError(
            f"p_data and p_g must both have shape (K,), got {tuple(p_data.shape)} and "
            f"{tuple(p_g.shape)}"
        )
    p, q = p_data.detach().to("cpu", _F64), p_g.detach().to("cpu", _F64)
    total = p + q
    seen = total > 0
    safe = torch.where(seen, total, torch.ones_like(total))
    d_star = torch.where(seen, p / safe, torch.full_like(p, 0.5))
    d_fake = torch.where(seen, q / safe, torch.full_like(q, 0.5))  # 1 − D*, without cancellation
    loss = -(torch.special.xlogy(p, d_star).sum() + torch.special.xlogy(q, d_fake).sum())
    return d_star, loss


def ref_class_balance(predicted: torch.Tensor, n_classes: int) -> tuple[float, float]:
    """(entropy of the label histogram in bits, share of the most common class), as the
    ``class_entropy`` and ``largest_class`` of :func:`vae_course.comparison.sample_quality`."""
    labels = predicted.detach().to("cpu").long()
    if labels.dim() != 1 or labels.numel() == 0:
        raise ValueError(f"predicted must be a non-empty (N,) tensor, got {tuple(labels.shape)}")
    if int(labels.min()) < 0 or int(labels.max()) >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes})")
    counts = torch.bincount(labels, minlength=n_classes).double()
    p = counts / counts.sum()
    nz = p[p > 0]
    return max(0.0, float(-(nz * torch.log2(nz)).sum())), float(p.max())


def ref_code_gaussian_samples(
    codes: torch.Tensor, n: int, generator: torch.Generator
) -> torch.Tensor:
    """(n, D) float32: mean + ε Lᵀ with (mean, L) = ``fit_code_gaussian(codes)`` (unbiased
    covariance + 1e-5·I) and ε = ``torch.randn(n, D, generator=generator, dtype=float64)``, as
    :func:`vae_course.comparison.draw_samples` draws the autoencoder's codes."""
    mean, chol = fit_code_gaussian(codes.detach().to("cpu", _F64), jitter=JITTER)
    eps = torch.randn(int(n), codes.shape[1], generator=generator, dtype=_F64)
    return (mean + eps @ chol.T).float()


# ============================================================================ shared helpers
def _zero_d(
    case: Case, out: dict, key: str, name: str, dtype: str
) -> tuple[torch.Tensor | None, str | None]:
    """The value of the 0-d tensor output ``key`` (called ``name`` in messages) of ``dtype``, or
    a message what is wrong."""
    o = out.get(key, {"kind": "none"})
    if o["kind"] == "number":
        return None, (
            f"{case.name}: expected {name} as a 0-d torch tensor, got a Python "
            f"{o.get('type', 'number')}: keep it a tensor (no .item() or float()), on the inputs' "
            "device"
        )
    problem = tensor_problem(case, out, key, what=f"{name} as a 0-d tensor")
    if problem:
        return None, problem
    if tuple(o["shape"]) != ():
        return None, (
            f"{case.name}: expected {name} as a 0-d tensor (shape ()), got shape "
            f"{tuple(o['shape'])}: .sum() and .trace() give 0-d tensors; don't keep dimensions"
        )
    if o["dtype"].startswith("complex"):
        return None, (
            f"{case.name}: {name} is complex ({o['dtype']}): C1 C2 is not symmetric, so its "
            "eigenvalues (torch.linalg.eigvals) come back complex; take the eigenvalues of the "
            "symmetric C1^{1/2} C2 C1^{1/2} (same eigenvalues, real, with eigvalsh)"
        )
    if o["dtype"] != dtype:
        return None, (
            f"{case.name}: expected {name} in {dtype}, got {o['dtype']}"
            + (
                ": compute in float64 (.double() the inputs first): the traces cancel, and "
                "float32 keeps only about 7 digits"
                if dtype == "float64"
                else ": keep the inputs' dtype"
            )
        )
    if o["device"] != "cpu":
        return None, f"{case.name}: {name} is on {o['device']}, the inputs were on the CPU"
    return o["value"].double().reshape(()), None


# ============================================================================ frechet_distance
def _sym(c: torch.Tensor) -> torch.Tensor:
    return (c + c.T) / 2


def _psd_sqrt(c: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(_sym(c))
    return (v * w.clamp(min=0).sqrt()) @ v.T


def _frechet_parts(m1, c1, m2, c2) -> dict[str, torch.Tensor]:
    m1, c1, m2, c2 = (t.detach().to("cpu", _F64) for t in (m1, c1, m2, c2))
    r1 = _psd_sqrt(c1)
    tr_sqrt = torch.linalg.eigvalsh(_sym(r1 @ c2 @ r1)).clamp(min=0).sqrt().sum()
    return {
        "m1": m1,
        "m2": m2,
        "c1": c1,
        "c2": c2,
        "mean": (m1 - m2).pow(2).sum(),
        "t1": c1.trace(),
        "t2": c2.trace(),
        "s": tr_sqrt,
        "r1": r1,
        "r2": _psd_sqrt(c2),
    }


def _frechet_scale(p: dict) -> float:
    """The size of the terms that cancel: ‖m1 − m2‖² + tr C1 + tr C2 (> 0 unless all vanish)."""
    return float(p["mean"] + p["t1"] + p["t2"])


def _frechet_variants(p: dict) -> list[tuple[torch.Tensor | None, str]]:
    """Plausible wrong distances (0-d float64), each with its hint."""
    mt, t1, t2, s = p["mean"], p["t1"], p["t2"], p["s"]
    c1, c2, r1, r2 = p["c1"], p["c2"], p["r1"], p["r2"]
    d2 = (mt + t1 + t2 - 2 * s).clamp(min=0)
    diag = c1.diagonal().clamp(min=0).sqrt() - c2.diagonal().clamp(min=0).sqrt()
    lower = torch.linalg.eigvalsh(c1 @ c2).clamp(min=0).sqrt().sum()  # eigh reads one triangle
    prod_trace = torch.trace(c1 @ c2).clamp(min=0).sqrt()
    return [
        (
            mt + t1 + t2 - s,
            "the cross term is −2 tr((C1 C2)^{1/2}): the factor 2 is missing (two equal "
            "Gaussians must be at distance 0)",
        ),
        (
            mt + diag.pow(2).sum(),
            "that is the elementwise square root of C1·C2 (only the diagonals reach the trace): "
            "right for diagonal covariances only; (C1 C2)^{1/2} is a matrix square root, "
            "tr (C1 C2)^{1/2} = Σ √λ over the eigenvalues λ of C1 C2",
        ),
        (
            mt + t1 + t2 - 2 * torch.trace(r1 @ r2),
            "tr(C1^{1/2} C2^{1/2}) equals tr((C1 C2)^{1/2}) only when the covariances commute "
            "(e.g. both diagonal): tr (C1 C2)^{1/2} = Σ √λ over the eigenvalues λ of C1 C2, which "
            "are those of the symmetric C1^{1/2} C2 C1^{1/2}",
        ),
        (
            (t1 + t2 - 2 * s).clamp(min=0),
            "the mean term ‖m1 − m2‖² is missing: two Gaussians with the same covariance and "
            "different means are not at distance 0",
        ),
        (
            d2.sqrt(),
            "that is the square root of the Fréchet distance (the 2-Wasserstein distance W₂): "
            "FID's d² = ‖m1 − m2‖² + tr(C1 + C2 − 2 (C1 C2)^{1/2}) is its square; don't take the "
            "root",
        ),
        (
            mt.sqrt() + t1 + t2 - 2 * s,
            "the mean term is the squared distance ‖m1 − m2‖², not ‖m1 − m2‖",
        ),
        (
            (p["m1"] - p["m2"]).sum().pow(2) + t1 + t2 - 2 * s,
            "‖m1 − m2‖² sums the squares of the differences, not the square of their sum",
        ),
        (
            mt + t1 + t2 - 2 * prod_trace,
            "√tr(C1 C2) is not tr((C1 C2)^{1/2}): a matrix square root acts on the eigenvalues, "
            "tr (C1 C2)^{1/2} = Σ √λ over the eigenvalues λ of C1 C2",
        ),
        (
            mt + t1 + t2 + 2 * s,
            "sign of the cross term: d² = ‖m1 − m2‖² + tr(C1 + C2 − 2 (C1 C2)^{1/2})",
        ),
        (
            mt + t1 + t2 - 2 * lower,
            "C1 C2 is not symmetric, and eigh/eigvalsh read only one triangle of a matrix: use the "
            "symmetric C1^{1/2} C2 C1^{1/2} (same eigenvalues as C1 C2)",
        ),
        (
            d2 / 2,
            "a factor ½ too many: d² = ‖m1 − m2‖² + tr(C1 + C2 − 2 (C1 C2)^{1/2})",
        ),
    ]


class FrechetDistance(Check):
    """d² = ‖m1 − m2‖² + tr(C1 + C2 − 2 (C1 C2)^{1/2}) as ``scores.frechet_distance``: a 0-d
    float64 tensor ≥ 0 on the inputs' device; ValueError for shapes that do not fit."""

    id = "ex12.frechet_distance"
    function = "frechet_distance"

    def cases(self, seed):
        g = _gen(seed)

        def cov(d, rank=None, scale=1.0):
            r = d if rank is None else rank
            spread = 0.3 + 1.7 * torch.rand(r, generator=g, dtype=_F64)
            a = torch.randn(d, r, generator=g, dtype=_F64) * spread / math.sqrt(r)
            return _sym(a @ a.T) * scale

        def mean(d, scale=1.0):
            return torch.randn(d, generator=g, dtype=_F64) * scale

        def stats(x):
            m = x.mean(0)
            c = (x - m).T @ (x - m) / (x.shape[0] - 1)
            return m, _sym(c)

        def pair(d, **kw):
            return {"mean1": mean(d), "cov1": cov(d, **kw), "mean2": mean(d), "cov2": cov(d, **kw)}

        m, c = mean(8), cov(8)
        one = {
            "mean1": torch.tensor([0.5], dtype=_F64),
            "cov1": torch.tensor([[4.0]], dtype=_F64),
            "mean2": torch.tensor([-1.0], dtype=_F64),
            "cov2": torch.tensor([[0.25]], dtype=_F64),
        }
        a, b = (
            0.1 + 3 * torch.rand(5, generator=g, dtype=_F64),
            0.1 + 3 * torch.rand(5, generator=g, dtype=_F64),
        )
        q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=_F64))
        ca, cb = (
            0.2 + 2 * torch.rand(4, generator=g, dtype=_F64),
            0.2 + 2 * torch.rand(4, generator=g, dtype=_F64),
        )
        # 128 "features" of two samples of one distribution, of 50 and 1,000 images: the first
        # covariance has rank 49 (fewer images than features), as with few samples in notebook 12
        mix = torch.randn(128, 128, generator=g, dtype=_F64) * (
            0.2 + torch.rand(128, generator=g, dtype=_F64)
        )
        centre = torch.rand(128, generator=g, dtype=_F64) * 2
        m50, c50 = stats(torch.randn(50, 128, generator=g, dtype=_F64) @ mix + centre)
        m1k, c1k = stats(torch.randn(1000, 128, generator=g, dtype=_F64) @ mix + centre)
        f32 = pair(10)
        f32 = {k: v.float() for k, v in f32.items()}
        near = {"mean1": mean(12), "cov1": cov(12, scale=50.0)}
        near["mean2"] = near["mean1"] + 0.05 * mean(12)
        near["cov2"] = _sym(near["cov1"] + 0.5 * cov(12))
        near = {k: v.float() for k, v in near.items()}
        return [
            Case("D = 6, covariances that do not commute", pair(6)),
            Case(
                "two equal Gaussians (distance 0), D = 8",
                {"mean1": m, "cov1": c, "mean2": m.clone(), "cov2": c.clone()},
            ),
            Case("D = 1: N(0.5, 2²) and N(−1, 0.5²)", one),
            Case(
                "diagonal covariances (they commute), D = 5",
                {"mean1": mean(5), "cov1": torch.diag(a), "mean2": mean(5), "cov2": torch.diag(b)},
            ),
            Case(
                "covariances with common eigenvectors (they commute), not diagonal, D = 4",
                {
                    "mean1": mean(4),
                    "cov1": _sym(q @ torch.diag(ca) @ q.T),
                    "mean2": mean(4),
                    "cov2": _sym(q @ torch.diag(cb) @ q.T),
                },
            ),
            Case(
                "rank-deficient covariances, D = 7 of ranks 2 and 3",
                {
                    "mean1": mean(7),
                    "cov1": cov(7, rank=2),
                    "mean2": mean(7),
                    "cov2": cov(7, rank=3),
                    "rtol": 1e-7,
                },
            ),
            Case(
                "128 features of 50 and of 1,000 samples of one distribution (the first "
                "covariance is singular: rank 49)",
                {"mean1": m50, "cov1": c50, "mean2": m1k, "cov2": c1k, "rtol": 1e-7},
            ),
            Case(
                "a point mass (covariance 0) against a Gaussian, D = 5",
                {
                    "mean1": mean(5),
                    "cov1": torch.zeros(5, 5, dtype=_F64),
                    "mean2": mean(5),
                    "cov2": cov(5),
                },
            ),
            Case("float32 inputs, D = 10", f32),
            Case("float32 inputs, two close Gaussians with traces near 300, D = 12", near),
            Case(
                "large values: means near 1e4, covariances near 1e8, D = 6",
                {
                    "mean1": mean(6, 1e4),
                    "cov1": cov(6, scale=1e8),
                    "mean2": mean(6, 1e4),
                    "cov2": cov(6, scale=1e8),
                },
            ),
            Case(
                "small values: means near 1e-4, covariances near 1e-8, D = 6",
                {
                    "mean1": mean(6, 1e-4),
                    "cov1": cov(6, scale=1e-8),
                    "mean2": mean(6, 1e-4),
                    "cov2": cov(6, scale=1e-8),
                },
            ),
            Case(_DEVICE_CASE, {**pair(3), "device": True}),
            Case(
                "means of lengths 3 and 4",
                {"mean1": mean(3), "cov1": cov(3), "mean2": mean(4), "cov2": cov(4), "bad": True},
            ),
            Case(
                "cov1 of shape (3, 4), not square",
                {
                    "mean1": mean(3),
                    "cov1": torch.randn(3, 4, generator=g, dtype=_F64),
                    "mean2": mean(3),
                    "cov2": cov(3),
                    "bad": True,
                },
            ),
            Case(
                "cov2 (4, 4) for means of length 3",
                {"mean1": mean(3), "cov1": cov(3), "mean2": mean(3), "cov2": cov(4), "bad": True},
            ),
            Case(
                "mean1 of shape (1, 3), mean2 (3,): broadcasting would hide the mistake",
                {
                    "mean1": mean(3)[None],
                    "cov1": cov(3),
                    "mean2": mean(3),
                    "cov2": cov(3),
                    "bad": True,
                },
            ),
        ]

    _NAMES = ("mean1", "cov1", "mean2", "cov2")

    def run(self, fn, inputs):
        args = [copy_input(inputs[k]) for k in self._NAMES]
        if inputs.get("bad"):
            return _raised(fn, *args)
        if inputs.get("device"):
            try:
                return {"value": fn(*(a.to(other_device()) for a in args))}
            except (RuntimeError, NotImplementedError) as error:
                text = str(error)
                if _META_ITEM not in text and "'Meta' backend" not in text:
                    raise
                # a value test (.item(), a check of symmetry) runs on a GPU, only not on meta
                # tensors, which hold no values; so does a linear-algebra routine meta lacks
                return {"meta_unsupported": True}
        return {"value": fn(*args)}

    def explain_error(self, case, error):
        if case.inputs.get("bad") and "NotImplementedError" not in error:
            return _bad_call_error(case, error, "means (D,) of one length D and covariances (D, D)")
        low = error.lower()
        if "cholesky" in low or "positive-definite" in low or "positive definite" in low:
            return (
                f"{case.name}: raised {error}: covariances are only positive semi-definite "
                "(a point mass, or fewer samples than features), so a Cholesky factor may not "
                "exist; use eigh and clamp the eigenvalues at 0 before their square roots"
            )
        return super().explain_error(case, error)

    def reference(self, case):
        i = case.inputs
        if i.get("bad"):
            return None
        return ref_frechet_distance(*(i[k] for k in self._NAMES))

    def compare(self, case, out, expected):
        i = case.inputs
        if i.get("bad"):
            if out.get("raised", {}).get("value"):
                return None
            return (
                f"{case.name}: no ValueError: the means must be (D,) of one length D and both "
                "covariances (D, D); check the shapes and raise a ValueError that says what is "
                "wrong (broadcasting would silently give a number)"
            )
        if i.get("device"):
            if out.get("meta_unsupported", {}).get("value"):
                return None
            return tensor_problem(
                case, out, "value", shape=(), dtype="float64", device=other_device()
            )
        got, problem = _zero_d(case, out, "value", "the distance", "float64")
        if problem:
            return problem
        if not bool(torch.isfinite(got)):
            return (
                f"{case.name}: the distance is {float(got)}: with singular covariances (a point "
                "mass, fewer samples than features) some eigenvalues of C1 C2 are 0 and come out "
                "as tiny negatives or complex numbers by rounding; take the eigenvalues of the "
                "symmetric C1^{1/2} C2 C1^{1/2} (eigvalsh) and clamp them at 0 before the square "
                "root"
            )
        if float(got) < 0:
            return (
                f"{case.name}: the distance is negative ({fmt(float(got))}): a Fréchet distance "
                "is ≥ 0; rounding can make the exact 0 of equal Gaussians a tiny negative "
                "number, so clamp the result at 0"
            )
        parts = _frechet_parts(*(i[k] for k in self._NAMES))
        scale = _frechet_scale(parts)
        rtol = i.get("rtol", 1e-9)
        want = float(expected)
        if abs(float(got) - want) <= rtol * scale + 1e-300:
            return None
        if abs(float(got) - want) <= 1e-5 * scale and rtol < 1e-6:
            return (
                f"{case.name}: d² = {_two(float(got), want)[0]}, expected "
                f"{_two(float(got), want)[1]}: only as accurate as float32 arithmetic; convert "
                "the inputs to float64 first (.double()): the traces cancel, so rounding errors "
                "of the large terms land on the small difference"
            )
        hint = None
        for value, h in _frechet_variants(parts):
            if value is not None and abs(float(value) - float(got)) <= 1e-6 * scale:
                hint = h
                break
        g_d, e_d = _two(float(got), want)
        return f"{case.name}: d² = {g_d}, expected {e_d}: " + (
            hint
            or "d² = ‖m1 − m2‖² + tr C1 + tr C2 − 2 tr (C1 C2)^{1/2}, with tr (C1 C2)^{1/2} = Σ √λ "
            "over the eigenvalues λ ≥ 0 of C1 C2"
        )


register(FrechetDistance())


# ============================================================================ optimal_discriminator
def _od_variants(p: torch.Tensor, q: torch.Tensor) -> dict[str, list[tuple[torch.Tensor, str]]]:
    """Plausible wrong D* (K,) and losses (0-d), float64, each with its hint."""
    p, q = p.double(), q.double()
    total = p + q
    seen = total > 0
    safe = torch.where(seen, total, torch.ones_like(total))
    d_star = torch.where(seen, p / safe, torch.full_like(p, 0.5))
    d_fake = torch.where(seen, q / safe, torch.full_like(q, 0.5))
    loss = -(torch.special.xlogy(p, d_star).sum() + torch.special.xlogy(q, d_fake).sum())
    jsd = math.log(2) - loss / 2
    zeros_hint = (
        "the convention for an outcome where p_data and p_g are both 0 is D* = ½ (no evidence "
        "either way; every D is optimal there): use torch.where"
    )
    d_variants = [
        (
            d_fake,
            "D* is the probability that x is *real*: p_data/(p_data + p_g), not p_g/(p_data + p_g)",
        ),
        (
            torch.full_like(p, 0.5),
            "½ is D* only where p_data = p_g: minimise −p_data log D − p_g log(1 − D) for each "
            "outcome (set the derivative in D to 0)",
        ),
        (p, "p_data alone is not D*: minimise −p_data log D − p_g log(1 − D) outcome by outcome"),
        (
            torch.where(q > 0, p / q.clamp(min=1e-300), torch.full_like(p, math.inf)),
            "that is the density ratio p_data/p_g: D* = p_data/(p_data + p_g)",
        ),
        (torch.where(seen, d_star, torch.zeros_like(p)), zeros_hint),
        (torch.where(seen, d_star, torch.ones_like(p)), zeros_hint),
    ]
    swapped = -(torch.special.xlogy(p, d_fake).sum() + torch.special.xlogy(q, d_star).sum())
    loss_variants = [
        (loss / _LN2, "that is the loss in bits (log base 2): the loss is in nats (natural log)"),
        (
            torch.tensor(2 * math.log(2), dtype=_F64),
            "2 log 2 is the loss at D = ½ everywhere: evaluate it at D*",
        ),
        (-loss, "sign: the loss −Σ p_data log D* − Σ p_g log(1 − D*) is ≥ 0"),
        (jsd, "that is JSD(p_data ‖ p_g) itself: the loss at D* is 2 log 2 − 2 JSD"),
        (2 * jsd, "that is 2 JSD: the loss at D* is 2 log 2 − 2 JSD"),
        (
            math.log(2) - jsd,
            "a factor 2 is missing: the loss at D* is 2 log 2 − 2 JSD (a sum over the data's and "
            "the generator's terms)",
        ),
        (
            loss / len(p),
            "that is the mean over the K outcomes: the expectation is a sum weighted by p",
        ),
        (swapped, "the loss was evaluated at p_g/(p_data + p_g): D* is the probability of *real*"),
    ]
    return {"d": d_variants, "loss": loss_variants}


class OptimalDiscriminator(Check):
    """A derivation: D* = p_data/(p_data + p_g) (½ where both are 0) and its loss −Σ p_data
    log D* − Σ p_g log(1 − D*) = 2 log 2 − 2 JSD in nats; both in the inputs' dtype and on
    their device; ValueError unless both are (K,)."""

    id = "ex12.optimal_discriminator"
    function = "optimal_discriminator"

    def cases(self, seed):
        g = _gen(seed)

        def dist(k, scale=1.5, dtype=_F64):
            return torch.softmax(torch.randn(k, generator=g, dtype=_F64) * scale, 0).to(dtype)

        def masked(k, mask):
            p = torch.rand(k, generator=g, dtype=_F64) + 0.05
            p = p * torch.tensor(mask, dtype=_F64)
            return p / p.sum()

        same = dist(10)
        tiny_p, tiny_q = dist(6), dist(6)
        tiny_p[:2] = 1e-30
        tiny_q[:2] = 1e-30  # two outcomes both distributions barely use: D* ≈ ½ there
        tiny_p, tiny_q = tiny_p / tiny_p.sum(), tiny_q / tiny_q.sum()
        collapse = torch.zeros(10, dtype=_F64)
        collapse[int(torch.randint(10, (1,), generator=g))] = 1.0
        return [
            Case("K = 10, both positive everywhere", {"p_data": dist(10), "p_g": dist(10)}),
            Case("p_data = p_g (D* = ½ everywhere)", {"p_data": same, "p_g": same.clone()}),
            Case(
                "disjoint supports (the discriminator is always right), K = 6",
                {"p_data": masked(6, [1, 1, 1, 0, 0, 0]), "p_g": masked(6, [0, 0, 0, 1, 1, 1])},
            ),
            Case(
                "zeros: outcomes only the data has, only the generator has, and neither has, K = 8",
                {
                    "p_data": masked(8, [1, 1, 1, 1, 0, 0, 0, 1]),
                    "p_g": masked(8, [1, 0, 1, 0, 1, 1, 0, 1]),
                },
            ),
            Case(
                "K = 1 (a single outcome)",
                {"p_data": torch.ones(1, dtype=_F64), "p_g": torch.ones(1, dtype=_F64)},
            ),
            Case(
                "a collapsed generator: all its mass on one outcome, K = 10",
                {"p_data": dist(10, scale=0.5), "p_g": collapse},
            ),
            Case(
                "float32, K = 50",
                {"p_data": dist(50, dtype=torch.float32), "p_g": dist(50, dtype=torch.float32)},
            ),
            Case(
                "tiny probabilities (1e-30) on some outcomes, K = 6",
                {"p_data": tiny_p, "p_g": tiny_q},
            ),
            Case(
                _DEVICE_CASE,
                {"p_data": dist(5).float(), "p_g": dist(5).float(), "device": True},
            ),
            Case(
                "p_data (5,) and p_g (6,)",
                {"p_data": dist(5), "p_g": dist(6), "bad": True},
            ),
            Case(
                "p_data (4,) and p_g (4, 1): broadcasting would hide the mistake",
                {"p_data": dist(4), "p_g": dist(4)[:, None], "bad": True},
            ),
        ]

    def run(self, fn, inputs):
        p, q = copy_input(inputs["p_data"]), copy_input(inputs["p_g"])
        if inputs.get("bad"):
            return _raised(fn, p, q)
        if inputs.get("device"):
            try:
                value = fn(p.to(other_device()), q.to(other_device()))
            except RuntimeError as error:
                if _META_ITEM not in str(error):
                    raise
                return {"meta_unsupported": True}
        else:
            value = fn(p, q)
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return {"d_star": value[0], "loss": value[1]}
        return {"whole": value}

    def explain_error(self, case, error):
        if case.inputs.get("bad") and "NotImplementedError" not in error:
            return _bad_call_error(case, error, "p_data and p_g must both have shape (K,)")
        return super().explain_error(case, error)

    def reference(self, case):
        i = case.inputs
        if i.get("bad"):
            return None
        return ref_optimal_discriminator(i["p_data"], i["p_g"])

    def compare(self, case, out, expected):
        i = case.inputs
        if i.get("bad"):
            if out.get("raised", {}).get("value"):
                return None
            return (
                f"{case.name}: no ValueError: p_data and p_g must both be (K,), over the same K "
                "outcomes; compare their shapes and raise a ValueError that says what is wrong"
            )
        if "whole" in out:
            o = out["whole"]
            kind = (
                f"a tensor of shape {tuple(o['shape'])}"
                if o["kind"] == "tensor"
                else o.get("type", o["kind"])
            )
            if o["kind"] == "none":
                kind = "None (did you forget to return it?)"
            return f"{case.name}: expected a tuple (D_star, loss), got {kind}"
        p, q = i["p_data"], i["p_g"]
        k = p.shape[0]
        dtype = _dtype(p)
        if i.get("device"):
            if out.get("meta_unsupported", {}).get("value"):
                return None
            return tensor_problem(
                case, out, "d_star", shape=(k,), dtype=dtype, device=other_device()
            ) or tensor_problem(case, out, "loss", shape=(), dtype=dtype, device=other_device())
        problem = tensor_problem(case, out, "d_star", shape=(k,), what="D_star as a tensor (K,)")
        if problem:
            return problem
        problem = tensor_problem(case, out, "d_star", dtype=dtype, device="cpu")
        if problem:
            return problem
        want_d, want_loss = expected
        got_d = out["d_star"]["value"].double()
        both_zero = (p.double() + q.double()) == 0
        tol = {"rtol": 1e-9, "atol": 1e-12} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-6}
        if not bool(torch.isfinite(got_d).all()):
            if bool(both_zero.any()) and not bool(torch.isfinite(got_d[both_zero]).any()):
                return (
                    f"{case.name}: D* is NaN where p_data and p_g are both 0 (0/0): the convention "
                    "there is D* = ½ (every D is optimal); use torch.where"
                )
            return f"{case.name}: D* has NaN or inf: D* = p_data/(p_data + p_g) lies in [0, 1]"
        if not close(got_d, want_d, **tol):
            variants = _od_variants(p, q)["d"]
            hint = next((h for v, h in variants if close(got_d, v, **tol)), None)
            if hint is None and bool(close(got_d[~both_zero], want_d[~both_zero], **tol)):
                hint = variants[-1][1]
            if hint is None and bool((p.double() < 1e-20).any()):
                hint = (
                    "with tiny probabilities an ε added to p_data + p_g changes D*: divide by "
                    "p_data + p_g itself and handle the outcomes where both are 0 with torch.where"
                )
            j = int((got_d - want_d).abs().argmax())
            g_j, e_j = _two(float(got_d[j]), float(want_d[j]))
            return f"{case.name}: D*[{j}] = {g_j}, expected {e_j}: " + (
                hint
                or "minimise −p_data log D − p_g log(1 − D) for each outcome: D* = p_data/(p_data "
                "+ p_g)"
            )
        got_loss, problem = _zero_d(case, out, "loss", "the loss", dtype)
        if problem:
            return problem
        if not bool(torch.isfinite(got_loss)):
            return (
                f"{case.name}: the loss is {float(got_loss)}: an outcome with p_data = 0 has "
                "D* = 0 and log D* = −inf, but it is weighted by p_data = 0, and 0·log 0 = 0; "
                "skip those terms (with torch.where, or torch.special.xlogy, which is 0 where its "
                "first argument is 0); likewise for p_g and log(1 − D*)"
            )
        if close(got_loss, want_loss, **tol):
            return None
        hint = next(
            (
                h
                for v, h in _od_variants(p, q)["loss"]
                if close(got_loss, torch.as_tensor(v), **tol)
            ),
            None,
        )
        g_l, e_l = _two(float(got_loss), float(want_loss))
        return f"{case.name}: loss = {g_l} nats, expected {e_l}: " + (
            hint or "loss = −Σ p_data log D* − Σ p_g log(1 − D*), natural logs, with 0·log 0 = 0"
        )


register(OptimalDiscriminator())


# ============================================================================ class_balance
def _balance_variants(labels: torch.Tensor, n_classes: int) -> dict[str, list[tuple[float, str]]]:
    counts = torch.bincount(labels.long(), minlength=n_classes).double()
    n = counts.sum()
    p = counts / n
    nz = p[p > 0]
    h = float(-(nz * torch.log2(nz)).sum())
    present = int((counts > 0).sum())
    q = counts / n_classes
    qz = q[q > 0]
    normalised = (
        "that is the entropy divided by log₂ of the number of classes (a normalised entropy, "
        "in [0, 1]): return the entropy itself, in bits"
    )
    tenfold = normalised + " (for 10 classes this is also the entropy with log₁₀: use log₂)"
    ent = [
        (
            h / math.log2(n_classes) if n_classes > 1 else None,
            tenfold if n_classes == 10 else normalised,
        ),
        (h / math.log2(present) if present > 1 else None, normalised),
        (h * _LN2, "that is the entropy in nats: in bits use log₂ (bits = nats / ln 2)"),
        (h * math.log10(2), "that is the entropy with log₁₀: in bits use log₂"),
        (
            float(-(qz * torch.log2(qz)).sum()),
            "the histogram's probabilities are counts / N (the number of labels), not counts / "
            "n_classes",
        ),
        (float(2**h), "that is the perplexity 2^H: return the entropy H itself, in bits"),
        (
            float(1 - (p**2).sum()),
            "that is the Gini impurity 1 − Σ p²: the entropy is −Σ p log₂ p over the classes",
        ),
        (-h, "sign: the entropy −Σ p log₂ p is ≥ 0"),
        (
            float(-(counts[counts > 0] * torch.log2(counts[counts > 0])).sum()),
            "use probabilities p = counts / N in −Σ p log₂ p, not the counts",
        ),
        (
            math.log2(present) if present > 0 else None,
            "log₂ of the number of classes present is the entropy only when they are equally common: −Σ p log₂ p",
        ),
    ]
    big = [
        (
            float(counts.max()),
            "that is the count of the most common class: return its share, count / N",
        ),
        (
            float(counts.argmax()),
            "that is the most common class itself: return its share of the labels",
        ),
        (
            float(p[p > 0].min()),
            "that is the share of the least common class present: return the largest share",
        ),
        (
            1.0 / present if present else None,
            "1 / (classes present) is the share only for a balanced set: return the most common class's count / N",
        ),
    ]
    return {"entropy": ent, "largest": big}


def _num_close(a: float, b: float | None, tol: float = 1e-6) -> bool:
    return b is not None and math.isfinite(a) and abs(a - b) <= tol * max(1.0, abs(b))


class ClassBalance(Check):
    """(entropy of the label histogram in bits, largest class share), as ``class_entropy`` and
    ``largest_class`` of ``comparison.sample_quality``: two numbers, the entropy +0.0 (never
    −0.0) for one class; ValueError for an empty tensor or a label outside [0, n_classes)."""

    id = "ex12.class_balance"
    function = "class_balance"

    def cases(self, seed):
        g = _gen(seed)

        def labels(n, probs, dtype=torch.int64):
            p = torch.as_tensor(probs, dtype=_F64)
            return torch.multinomial(p, n, replacement=True, generator=g).to(dtype)

        skew = torch.softmax(torch.randn(10, generator=g, dtype=_F64), 0)
        balanced = torch.arange(10).repeat_interleave(50)[torch.randperm(500, generator=g)]
        two = torch.tensor([2] * 60 + [7] * 40)[torch.randperm(100, generator=g)]
        pair = torch.tensor([0, 1] * 20)[torch.randperm(40, generator=g)]
        one_class = torch.full((25,), int(torch.randint(10, (1,), generator=g)))
        return [
            Case(
                "1,000 labels of 10 classes, unevenly",
                {"predicted": labels(1000, skew), "n_classes": 10},
            ),
            Case(
                "every label the same class (entropy 0)", {"predicted": one_class, "n_classes": 10}
            ),
            Case(
                "balanced: 50 labels of each of 10 classes",
                {"predicted": balanced, "n_classes": 10},
            ),
            Case(
                "only classes 2 and 7 of 10 appear (60 and 40 labels)",
                {"predicted": two, "n_classes": 10},
            ),
            Case("2 classes, 20 labels each (1 bit)", {"predicted": pair, "n_classes": 2}),
            Case(
                "n_classes = 3, class 2 never predicted",
                {"predicted": labels(30, [0.7, 0.3, 0.0]), "n_classes": 3},
            ),
            Case("a single label", {"predicted": torch.tensor([4]), "n_classes": 10}),
            Case(
                "100,000 labels of 10 classes",
                {"predicted": labels(100_000, skew.flip(0)), "n_classes": 10},
            ),
            Case(
                "int32 labels",
                {"predicted": labels(200, skew, dtype=torch.int32), "n_classes": 10},
            ),
            Case(
                "n_classes = 1,000, 300 labels (most classes empty)",
                {"predicted": torch.randint(0, 1000, (300,), generator=g), "n_classes": 1000},
            ),
            Case(
                "a label 10 with n_classes = 10 (labels lie in [0, 10))",
                {"predicted": torch.tensor([0, 3, 10, 2]), "n_classes": 10, "bad": True},
            ),
            Case(
                "a label −1",
                {"predicted": torch.tensor([0, -1, 2]), "n_classes": 10, "bad": True},
            ),
            Case(
                "no labels (an empty tensor)",
                {"predicted": torch.zeros(0, dtype=torch.long), "n_classes": 10, "bad": True},
            ),
        ]

    def run(self, fn, inputs):
        predicted = copy_input(inputs["predicted"])
        if inputs.get("bad"):
            return _raised(fn, predicted, inputs["n_classes"])
        value = fn(predicted, inputs["n_classes"])
        if isinstance(value, (tuple, list)) and len(value) == 2:
            return {"entropy": value[0], "largest": value[1]}
        return {"whole": value}

    def explain_error(self, case, error):
        if case.inputs.get("bad") and "NotImplementedError" not in error:
            return _bad_call_error(case, error, "at least one label, every label in [0, n_classes)")
        return super().explain_error(case, error)

    def reference(self, case):
        i = case.inputs
        if i.get("bad"):
            return None
        return ref_class_balance(i["predicted"], i["n_classes"])

    def compare(self, case, out, expected):
        i = case.inputs
        if i.get("bad"):
            if out.get("raised", {}).get("value"):
                return None
            return (
                f"{case.name}: no ValueError: the labels must be a non-empty (N,) tensor of "
                "integers in [0, n_classes); check them and raise a ValueError that says what is "
                "wrong (a label n_classes would silently add a class, −1 would fail or wrap around)"
            )
        if "whole" in out:
            o = out["whole"]
            kind = (
                f"a tensor of shape {tuple(o['shape'])}"
                if o["kind"] == "tensor"
                else o.get("type", o["kind"])
            )
            if o["kind"] == "none":
                kind = "None (did you forget to return it?)"
            return f"{case.name}: expected a tuple of two numbers (entropy_bits, largest_share), got {kind}"
        got_h, problem = _scalar(case, out["entropy"], "entropy_bits")
        if problem:
            return problem
        got_b, problem = _scalar(case, out["largest"], "largest_share")
        if problem:
            return problem
        want_h, want_b = expected
        ok_h, ok_b = _num_close(got_h, want_h), _num_close(got_b, want_b)
        if ok_h and ok_b:
            if got_h == 0 and math.copysign(1.0, got_h) < 0:
                return (
                    f"{case.name}: the entropy is −0.0: one class gives −(1·log₂ 1) = −0.0; "
                    "return +0.0: add 0.0 (−0.0 + 0.0 is +0.0); max(h, 0.0) keeps h = −0.0, "
                    "since −0.0 == 0.0 and max returns its first argument on a tie"
                )
            return None
        if _num_close(got_h, want_b) and _num_close(got_b, want_h):
            return f"{case.name}: the two values are swapped: return (entropy_bits, largest_share)"
        if not math.isfinite(got_h):
            return (
                f"{case.name}: the entropy is {got_h}: a class that never occurs has p = 0, and "
                "0·log 0 = 0; leave empty classes out of the sum"
            )
        variants = _balance_variants(i["predicted"], i["n_classes"])
        if not ok_h:
            hint = next((h for v, h in variants["entropy"] if _num_close(got_h, v)), None)
            g_h, e_h = _two(got_h, want_h)
            return f"{case.name}: entropy {g_h} bits, expected {e_h}: " + (
                hint
                or "histogram the labels over the n_classes classes, p = counts / N, then −Σ p "
                "log₂ p over the classes with p > 0"
            )
        hint = next((h for v, h in variants["largest"] if _num_close(got_b, v)), None)
        g_b, e_b = _two(got_b, want_b)
        return f"{case.name}: largest share {g_b}, expected {e_b}: " + (
            hint or "the share of the most common class: its count / N"
        )


register(ClassBalance())


# ============================================================================ code_gaussian_samples
def _cgs_parts(codes: torch.Tensor) -> dict[str, torch.Tensor]:
    c = codes.detach().to("cpu", _F64)
    n = c.shape[0]
    mean = c.mean(0)
    centred = c - mean
    cov = centred.T @ centred / (n - 1)
    eye = torch.eye(c.shape[1], dtype=_F64)
    return {
        "mean": mean,
        "cov": _sym(cov),
        "biased": _sym(cov * (n - 1) / n),
        "eye": eye,
        "raw": c.T @ c / (n - 1),
    }


def _chol(m: torch.Tensor) -> torch.Tensor | None:
    factor, info = torch.linalg.cholesky_ex(m)
    return factor if int(info) == 0 else None


def _cgs_variants(
    codes: torch.Tensor, n: int, gen_seed: int
) -> list[tuple[torch.Tensor | None, str]]:
    """Plausible wrong draws (n, D) float64 made with the same generator seed, with hints."""
    d = codes.shape[1]
    p = _cgs_parts(codes)
    mean, cov, eye = p["mean"], p["cov"], p["eye"]
    eps = torch.randn(n, d, generator=_gen(gen_seed), dtype=_F64)
    chol = _chol(cov + JITTER * eye)
    w, v = torch.linalg.eigh(cov + JITTER * eye)
    sym_root = (v * w.clamp(min=0).sqrt()) @ v.T
    eps_t = torch.randn(d, n, generator=_gen(gen_seed), dtype=_F64).T
    eps32 = torch.randn(n, d, generator=_gen(gen_seed)).double()
    out: list[tuple[torch.Tensor | None, str]] = [
        (
            eps,
            "those are draws from N(0, I): draw from the Gaussian fitted to the codes, mean + L ε",
        ),
        (
            mean + eps,
            "the covariance is missing: mean + L ε with L the Cholesky factor of the codes' "
            "covariance",
        ),
        (
            mean + eps * (cov.diagonal() + JITTER).sqrt(),
            "only the variances were used (a diagonal covariance): the codes are correlated; use "
            "the Cholesky factor of the full covariance matrix",
        ),
        (
            mean + eps * cov.diagonal().sqrt(),
            "only the variances were used (a diagonal covariance): the codes are correlated; use "
            "the Cholesky factor of the full covariance matrix",
        ),
        (
            mean + eps @ (cov + JITTER * eye).clamp(min=0).sqrt().T,
            "that is the elementwise square root of the covariance: the factor L must satisfy "
            "L Lᵀ = Σ (torch.linalg.cholesky)",
        ),
        (
            mean + eps @ cov.clamp(min=0).sqrt().T,
            "that is the elementwise square root of the covariance: the factor L must satisfy "
            "L Lᵀ = Σ (torch.linalg.cholesky)",
        ),
        (
            mean + eps @ (cov + JITTER * eye).T,
            "ε was multiplied by the covariance Σ itself: multiply by its Cholesky factor L "
            "(L Lᵀ = Σ), the matrix analogue of a standard deviation",
        ),
        (
            mean + eps_t @ chol.T if chol is not None else None,
            "draw ε as torch.randn(n, D, generator=generator, dtype=torch.float64), one row per "
            "sample (not (D, n) transposed: the same numbers land in other places)",
        ),
        (
            mean + eps32 @ chol.T if chol is not None else None,
            "draw ε in float64 (dtype=torch.float64 in torch.randn): a float32 draw gives other "
            "numbers from the same generator",
        ),
        (
            mean + eps @ sym_root,
            "that is the symmetric square root of Σ: right in distribution, but the contract "
            "fixes L as the Cholesky factor (lower triangular, L Lᵀ = Σ), so the draws can be "
            "compared exactly",
        ),
    ]
    if chol is not None:
        out += [
            (eps @ chol.T, "the mean of the codes is missing: z = mean + L ε"),
            (
                mean + eps @ chol,
                "z = mean + L ε for a column ε; for rows ε (n, D) that is ε Lᵀ, not ε L",
            ),
        ]
    biased = _chol(p["biased"] + JITTER * eye)
    if biased is not None:
        out.append(
            (
                mean + eps @ biased.T,
                "that covariance divides by N: use the unbiased one, which divides by N − 1 "
                "(torch.cov's default)",
            )
        )
    bare = _chol(cov)
    if bare is not None:
        out.append(
            (
                mean + eps @ bare.T,
                f"add the jitter {JITTER:g}·I to the covariance before its Cholesky factor, as the "
                "contract says",
            )
        )
    raw = _chol(p["raw"] + JITTER * eye)
    if raw is not None:
        out.append(
            (
                mean + eps @ raw.T,
                "the covariance centres the codes first: Σ = (codes − mean)ᵀ (codes − mean) / (N − 1)",
            )
        )
    for scale in (1e-6, 1e-4, 1e-3):
        j = _chol(cov + scale * eye)
        if j is not None:
            out.append((mean + eps @ j.T, f"the jitter is {JITTER:g}·I, exactly"))
    return out


def _mc_problem(case: Case, z: torch.Tensor, codes: torch.Tensor) -> str | None:
    """None when the draws z (n, D) have the fitted Gaussian's mean and covariance within 6
    standard errors, else what differs."""
    p = _cgs_parts(codes)
    mean, cov = p["mean"], p["cov"] + JITTER * p["eye"]
    n = z.shape[0]
    z = z.double()
    se_mean = (cov.diagonal() / n).sqrt()
    if bool(((z.mean(0) - mean).abs() > 6 * se_mean + 1e-9).any()):
        return "mean"
    var = cov.diagonal()
    se_cov = ((var[:, None] * var[None, :] + cov**2) / n).sqrt()
    if bool(((torch.cov(z.T) - cov).abs() > 6 * se_cov + 1e-9).any()):
        return "cov"
    return None


class CodeGaussianSamples(Check):
    """The build task: n draws mean + ε Lᵀ from the Gaussian fitted to codes (N, D) (unbiased
    covariance + 1e-5·I, L its Cholesky factor), ε = torch.randn(n, D, generator=generator,
    dtype=float64), returned float32 (n, D) on the CPU: exactly the package's draw;
    ValueError for codes that are not (N, D) with N ≥ 2."""

    id = "ex12.code_gaussian_samples"
    function = "code_gaussian_samples"

    def cases(self, seed):
        g = _gen(seed)

        def codes(n, d, offset=2.0, scale=1.0, dtype=torch.float32):
            mix = torch.randn(d, d, generator=g, dtype=_F64) * (
                0.2 + torch.rand(d, generator=g, dtype=_F64)
            )
            centre = offset * torch.randn(d, generator=g, dtype=_F64)
            return ((torch.randn(n, d, generator=g, dtype=_F64) @ mix) * scale + centre).to(dtype)

        s = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        dead = codes(100, 6)
        dead[:, 2] = 0.75  # a code dimension the autoencoder never uses
        strong = torch.randn(30, 1, generator=g, dtype=_F64)
        strong = torch.cat(
            [strong, 2 * strong + 0.3 * torch.randn(30, 3, generator=g, dtype=_F64)], 1
        )
        return [
            Case(
                "20,000 draws, D = 3 (their mean and covariance)",
                {"codes": codes(400, 3), "n": 20_000, "gen_seed": s + 8, "mc": True},
            ),
            Case(
                "500 correlated codes, D = 5, n = 64",
                {"codes": codes(500, 5), "n": 64, "gen_seed": s},
            ),
            Case(
                "30 strongly correlated codes, D = 4, n = 200 (N − 1 or N matters)",
                {"codes": (strong + 1.0).float(), "n": 200, "gen_seed": s + 1},
            ),
            Case(
                "a code dimension that never changes, D = 6 (the jitter makes L exist)",
                {"codes": dead, "n": 50, "gen_seed": s + 2},
            ),
            Case(
                "fewer codes than dimensions: N = 8, D = 20 (a singular covariance)",
                {"codes": codes(8, 20), "n": 10, "gen_seed": s + 3},
            ),
            Case(
                "float64 codes, D = 3, n = 100",
                {"codes": codes(200, 3, dtype=_F64), "n": 100, "gen_seed": s + 4},
            ),
            Case("n = 1, D = 8", {"codes": codes(60, 8), "n": 1, "gen_seed": s + 5}),
            Case(
                "codes with a spread of 0.01 (the jitter is a tenth of their variance), D = 4",
                {"codes": codes(300, 4, offset=0.5, scale=0.01), "n": 40, "gen_seed": s + 6},
            ),
            Case(
                "large codes: spread 1,000 around ±5,000, D = 3",
                {
                    "codes": codes(300, 3, offset=5000.0, scale=1000.0, dtype=_F64),
                    "n": 40,
                    "gen_seed": s + 7,
                },
            ),
            Case(
                "the same generator seed twice (torch's global state moved between) and another seed",
                {"codes": codes(80, 4), "n": 16, "gen_seed": s + 9, "generator": True},
            ),
            Case(
                "a single code (1, 5): no covariance",
                {"codes": codes(1, 5), "n": 4, "gen_seed": 0, "bad": True},
            ),
            Case(
                "codes of shape (40,), not (N, D)",
                {"codes": codes(40, 1)[:, 0], "n": 4, "gen_seed": 0, "bad": True},
            ),
        ]

    def run(self, fn, inputs):
        codes, n = copy_input(inputs["codes"]), inputs["n"]
        if inputs.get("bad"):
            return _raised(fn, codes, n, _gen(inputs["gen_seed"]))
        if inputs.get("generator"):
            return generator_runs(lambda gen: fn(codes, n, gen), inputs["gen_seed"])
        return {"value": fn(codes, n, _gen(inputs["gen_seed"]))}

    def explain_error(self, case, error):
        if case.inputs.get("bad") and "NotImplementedError" not in error:
            return _bad_call_error(case, error, "codes must be (N, D) with N ≥ 2")
        low = error.lower()
        if "cholesky" in low or "positive-definite" in low or "positive definite" in low:
            return (
                f"{case.name}: raised {error}: the covariance of these codes is singular; add "
                f"the jitter {JITTER:g}·I before the Cholesky factor, as the contract says"
            )
        return super().explain_error(case, error)

    def reference(self, case):
        i = case.inputs
        if i.get("bad"):
            return None
        if i.get("generator"):
            g = i["gen_seed"]
            return {
                "first": ref_code_gaussian_samples(i["codes"], i["n"], _gen(g)),
                "other": ref_code_gaussian_samples(i["codes"], i["n"], _gen(g + 7919)),
            }
        return ref_code_gaussian_samples(i["codes"], i["n"], _gen(i["gen_seed"]))

    def compare(self, case, out, expected):
        i = case.inputs
        codes, n = i["codes"], i["n"]
        if i.get("bad"):
            if out.get("raised", {}).get("value"):
                return None
            return (
                f"{case.name}: no ValueError: fitting a mean and a covariance needs codes (N, D) "
                "with N ≥ 2; check the shape and raise a ValueError that says what is wrong"
            )
        d = codes.shape[1]
        name = "first" if i.get("generator") else "value"
        problem = tensor_problem(case, out, name, shape=(n, d), what="a tensor (n, D)")
        if problem:
            return problem
        o = out[name]
        if o["dtype"] != "float32":
            return (
                f"{case.name}: expected float32 draws (what a decoder takes), got {o['dtype']}: "
                "compute in float64, then .float() the result"
            )
        if o["device"] != "cpu":
            return f"{case.name}: the draws are on {o['device']}: return them on the CPU"
        got = o["value"]
        if not bool(torch.isfinite(got).all()):
            return (
                f"{case.name}: the draws contain NaN or inf: L must be the Cholesky factor of "
                f"Σ + {JITTER:g}·I (torch.linalg.cholesky); an elementwise square root of Σ is NaN "
                "wherever two code dimensions are negatively correlated"
            )
        if i.get("generator"):
            problem = generator_problem(case, out, what="draws")
            if problem:
                return problem
            expected = expected["first"]
        spread = float(_cgs_parts(codes)["cov"].diagonal().max().clamp(min=JITTER).sqrt())
        tol = {"rtol": 1e-6, "atol": 1e-6 * spread}
        if close(got, expected, **tol):
            return None
        hint = next(
            (
                h
                for v, h in _cgs_variants(codes, n, i["gen_seed"])
                if v is not None and close(got, v.float(), **tol)
            ),
            None,
        )
        near = float((got.double() - expected.double()).abs().max()) <= 1e-3 * spread
        if hint is None and near:
            hint = (
                "the draws are close to the expected ones but not equal: check the jitter "
                f"({JITTER:g}·I), the unbiased covariance (N − 1) and float64 arithmetic"
            )
        if hint is None and i.get("mc"):
            what = _mc_problem(case, got, codes)
            if what is None:
                hint = (
                    "the draws have the right mean and covariance, but they are not the "
                    "prescribed draws: make one call torch.randn(n, D, generator=generator, "
                    "dtype=torch.float64) and return mean + ε Lᵀ with L the Cholesky factor"
                )
            elif what == "mean":
                hint = "the draws' mean is not the codes' mean"
            else:
                hint = "the draws' covariance is not the codes' covariance (+ jitter)"
        k, j = divmod(int((got.double() - expected.double()).abs().argmax()), d)
        g_v, e_v = _two(float(got[k, j]), float(expected[k, j]))
        return f"{case.name}: draw {k}, dimension {j} is {g_v}, expected {e_v}: " + (
            hint
            or "fit mean and Σ (unbiased, + 1e-5·I) in float64, L = cholesky(Σ), "
            "ε = torch.randn(n, D, generator=generator, dtype=torch.float64), z = mean + ε Lᵀ"
        )


register(CodeGaussianSamples())


# ============================================================================ predict, then run
#: Fréchet distance (classifier features) between n real training digits (chosen with
#: torch.randperm(4000, generator seeded s)[:n]) and the 1,000 real grey test digits, for the
#: classifier train_digit_classifier(grey.x_train, grey.y_train, epochs=3) (seed 0, trained on one
#: intra-op thread, CPU); keys (s, n). Rerun in tests/test_grading_ex12.py.
REAL_FRECHET = {
    (0, 100): 36.96,
    (0, 300): 7.79,
    (0, 1000): 4.39,
    (1, 100): 29.70,
    (1, 300): 10.94,
    (1, 1000): 4.92,
    (2, 100): 35.83,
    (2, 300): 10.95,
    (2, 1000): 4.46,
}


class PredictRealFrechet(ChoiceCheck):
    """Predict-then-run: the Fréchet distance between 1,000 real training digits and the 1,000
    real test digits in the digit classifier's features is 4.4, 4.9 and 4.5 for the digit choices
    of seeds 0, 1 and 2 (``REAL_FRECHET``, rerun in tests/test_grading_ex12.py)."""

    id = "ex12.predict_real_frechet"
    function = "prediction_real_frechet"
    choices = (
        "about 0: the same distribution gives distance 0",
        "small but clearly above 0 (finite samples: both estimates of the mean and covariance are noisy)",
        "about as large as the VAE's samples",
    )
    answer = "small but clearly above 0 (finite samples: both estimates of the mean and covariance are noisy)"
    _measured = (
        "1,000 real training digits are at d² = 4.4, 4.9 and 4.5 from the 1,000 real test digits "
        "(digits chosen with seeds 0, 1 and 2), against 117 to 147 for the VAE's samples in "
        "notebook 12 (30 epochs, seeds 0 to 2). "
    )
    hints = {
        "about 0: the same distribution gives distance 0": _measured
        + "One distribution gives 0 only with its true mean and covariance; from 1,000 images "
        "each, the estimates of 128 means and of the 128 × 128 covariance are noisy, and the noise "
        "adds to d² instead of cancelling (d² ≥ 0). With fewer images the floor rises: 30 to 37 "
        "for 100 digits. Run the cell below",
        "about as large as the VAE's samples": _measured
        + "Real digits differ from real digits only by sampling noise; the VAE's samples differ "
        "in what the classifier's features see (notebook 12: they are blurrier than real "
        "digits). The floor is small, but every generator must be read against it, with the "
        "same number of images. Run the cell below",
    }


register(PredictRealFrechet())
