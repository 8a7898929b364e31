"""Checks of exercise set ``ex11_applications`` (notebook 11, applications).

Tasks (function or answer the learner writes → check id):

* ``kl_bits(mu, logvar)`` → ``ex11.kl_bits`` (the rate of a VAE code, in bits)
* ``midpoint_norms(r0, r1, omega)`` → ``ex11.midpoint_norms`` (a derivation: the norms of the
  t = ½ points of lerp and slerp between codes of norms r0, r1 at an angle Ω)
* ``auroc(scores, labels)`` → ``ex11.auroc`` (P(S₊ > S₋) + ½ P(S₊ = S₋))
* ``entropy_code_bits(symbols, reference, bits)`` → ``ex11.entropy_code_bits`` (the build task:
  the ideal code length of quantized codes under add-½ smoothed per-dimension histograms)
* ``prediction_rotated_auroc`` → ``ex11.predict_rotated_auroc`` (predict-then-run: how well
  −IWAE₁₀ tells digits rotated by 180° from upright ones)

References: the course package (``compression.kl_bits``, ``compression.entropy_code_bits``,
``scores.auroc``); ``ref_midpoint_norms`` is the closed form, checked in
``tests/test_grading_ex11.py`` against the midpoints of :func:`vae_course.widgets.logic.lerp`
and :func:`~vae_course.widgets.logic.slerp` on constructed codes.
"""

from __future__ import annotations

import math

import torch

from ..compression import entropy_code_bits as package_entropy_code_bits
from ..compression import kl_bits as package_kl_bits
from ..scores import auroc as package_auroc
from .checks import (
    Case,
    Check,
    ChoiceCheck,
    close,
    copy_input,
    diagnose,
    fmt,
    register,
    tensor_problem,
)
from .checks import dtype_name as _dtype
from .checks import seeded_generator as _gen
from .ex04 import other_device

__all__ = [
    "KLBits",
    "MidpointNorms",
    "Auroc",
    "EntropyCodeBits",
    "PredictRotatedAuroc",
    "ref_kl_bits",
    "ref_midpoint_norms",
    "ref_auroc",
    "ref_entropy_code_bits",
    "ROTATED_AUROCS",
]

_DEVICE_CASE = "inputs on another device (meta, a stand-in for a GPU)"
_META_ITEM = "cannot be called on meta tensors"  # .item()/float()/bool() of a meta tensor
_LN2 = math.log(2.0)


# ============================================================================ references
def ref_kl_bits(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """(B,) float64: :func:`vae_course.compression.kl_bits` computed in float64."""
    if tuple(mu.shape) != tuple(logvar.shape):
        raise ValueError(f"mu and logvar differ in shape: {tuple(mu.shape)}, {tuple(logvar.shape)}")
    return package_kl_bits(mu.double(), logvar.double())


def ref_midpoint_norms(r0: float, r1: float, omega: float) -> tuple[float, float]:
    """(‖lerp(½)‖, ‖slerp(½)‖) for codes of norms r0, r1 > 0 at an angle 0 < omega < π.

    lerp(½) = (z0 + z1)/2, and ‖z0 + z1‖² = r0² + r1² + 2 r0 r1 cos Ω; slerp(½) puts the weight
    sin(Ω/2)/sin Ω = 1/(2 cos(Ω/2)) on each code, so it is (z0 + z1)/(2 cos(Ω/2)).
    """
    for name, r in (("r0", r0), ("r1", r1)):
        if not (math.isfinite(r) and r > 0):
            raise ValueError(f"{name} must be a norm > 0, got {r}")
    if not 0 < omega < math.pi:
        raise ValueError(f"omega must be an angle in radians with 0 < omega < pi, got {omega}")
    chord = math.sqrt(r0 * r0 + r1 * r1 + 2 * r0 * r1 * math.cos(omega))  # ‖z0 + z1‖
    return chord / 2, chord / (2 * math.cos(omega / 2))


def ref_auroc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """:func:`vae_course.scores.auroc` (ranks with averaged ties, float64)."""
    return package_auroc(scores, labels)


def ref_entropy_code_bits(
    symbols: torch.Tensor, reference: torch.Tensor, bits: int
) -> torch.Tensor:
    """(B,) float64: :func:`vae_course.compression.entropy_code_bits`."""
    return package_entropy_code_bits(symbols, reference, bits)


# ============================================================================ shared helpers
def _raised(fn, *args) -> dict:
    """Run-side of a case that must raise ValueError."""
    try:
        value = fn(*args)
    except ValueError:
        return {"raised": True}
    return {"raised": False, "value": value}


def _bad_call_error(case: Case, error: str, what: str) -> str:
    return (
        f"{case.name}: raised {error.split(':')[0]}: check the arguments yourself and raise a "
        f"ValueError that says what is wrong ({what})"
    )


def _two(got: float, want: float) -> tuple[str, str]:
    """``got`` and ``want`` formatted with as many digits as it takes to tell them apart."""
    for digits in (4, 6, 8, 10, 12):
        a, b = f"{got:.{digits}g}", f"{want:.{digits}g}"
        if a != b:
            return a, b
    return repr(got), repr(want)


def _scalar(case: Case, o: dict, name: str) -> tuple[float | None, str | None]:
    """A number from a Python float/int or a 0-d (or one-element) tensor, else a message."""
    if o["kind"] == "number" and o.get("type") != "bool":
        return float(o["value"]), None
    if o["kind"] == "tensor" and math.prod(o["shape"]) == 1:
        if o.get("value") is None:
            return None, f"{case.name}: {name} has no value (a meta tensor): return a number"
        return float(o["value"].double().reshape(())), None
    if o["kind"] == "tensor":
        return None, (
            f"{case.name}: expected {name} as one number, got a tensor of shape {tuple(o['shape'])}"
        )
    got = "None (did you forget to return it?)" if o["kind"] == "none" else o.get("type", o["kind"])
    return None, f"{case.name}: expected {name} as a Python float, got {got}"


# ============================================================================ kl_bits
def _kl_bits_variants(mu: torch.Tensor, logvar: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """Plausible wrong rates (B,), float64, each with its hint."""
    mu, lv = mu.double(), logvar.double()
    d = mu.shape[1]
    nats = 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(1)
    bits = nats / _LN2
    with torch.no_grad():
        out = [
            (
                nats,
                "that is the KL in nats: a rate in bits is the KL divided by ln 2 (1 bit = ln 2 nats)",
            ),
            (nats * _LN2, "multiplied by ln 2: 1 bit = ln 2 nats, so bits = nats / ln 2"),
            (
                nats.clamp(min=1e-300).log2(),
                "log₂ of the KL is not the KL in bits: changing units is a division, bits = nats / ln 2",
            ),
            (
                nats / math.log(10),
                "divided by ln 10 (that is in decimal digits): bits = nats / ln 2",
            ),
            (
                0.5 * (mu**2 + lv.exp() - 1 - lv / _LN2).sum(1),
                "log₂ σ² inside the formula mixes units: logvar is ln σ²; compute the whole KL in "
                "nats, then divide it by ln 2",
            ),
            (
                bits / d,
                "that is the mean over the D latent dimensions: the code's rate is the sum over "
                "its dimensions",
            ),
            (
                0.5 * (mu**2 + (2 * lv).exp() - 1 - 2 * lv).sum(1) / _LN2,
                "logvar is log σ², not log σ: the variance is exp(logvar)",
            ),
            (
                0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv).sum(1) / _LN2,
                "exp(logvar / 2) is σ, not σ²: the variance is exp(logvar)",
            ),
            (
                0.5 * (mu**2 + lv**2 - 1 - (lv**2).clamp(min=1e-300).log()).sum(1) / _LN2,
                "logvar is log σ², not σ: the variance is exp(logvar), and log σ² is logvar itself",
            ),
            (
                0.5 * (mu**2 + (2 * lv).exp() - 1 - lv).sum(1) / _LN2,
                "that is σ⁴: the variance σ² is exp(logvar) itself, not its square",
            ),
            (
                0.5 * (mu**2 + lv.exp() - lv).sum(1) / _LN2,
                "the −1 is missing: KL = ½ Σ (μ² + σ² − 1 − log σ²), which is 0 for q = p",
            ),
            (-bits, "sign: a KL is never negative; KL = ½ Σ (μ² + σ² − 1 − log σ²)"),
            (
                0.5 * (mu**2 + lv.exp() - 1 + lv).sum(1) / _LN2,
                "sign of the log σ² term: KL = ½ Σ (μ² + σ² − 1 − log σ²)",
            ),
            (2 * bits, "a factor ½ is missing: KL = ½ Σ (μ² + σ² − 1 − log σ²)"),
            (bits / 2, "a factor ½ too many: KL = ½ Σ (μ² + σ² − 1 − log σ²)"),
            (
                0.5 * (lv.exp() - 1 - lv).sum(1) / _LN2,
                "the μ² term is missing: KL = ½ Σ (μ² + σ² − 1 − log σ²)",
            ),
            (
                0.5 * (mu.abs() + lv.exp() - 1 - lv).sum(1) / _LN2,
                "μ enters squared: KL = ½ Σ (μ² + σ² − 1 − log σ²)",
            ),
            (
                0.5 * (mu + lv.exp() - 1 - lv).sum(1) / _LN2,
                "μ enters squared: KL = ½ Σ (μ² + σ² − 1 − log σ²)",
            ),
        ]
    return out


class KLBits(Check):
    """KL(N(μ, diag σ²) ‖ N(0, I)) per example in bits, as ``compression.kl_bits``: (B,), in
    mu's dtype and on its device; ValueError when mu and logvar differ in shape."""

    id = "ex11.kl_bits"
    function = "kl_bits"

    def cases(self, seed):
        g = _gen(seed)

        def pair(b, d, dtype=torch.float32, mu_scale=1.0, lv=(-4.0, 1.0)):
            mu = torch.randn(b, d, generator=g, dtype=torch.float64) * mu_scale
            logvar = lv[0] + (lv[1] - lv[0]) * torch.rand(b, d, generator=g, dtype=torch.float64)
            return {"mu": mu.to(dtype), "logvar": logvar.to(dtype)}

        prior = pair(6, 5)
        prior["mu"][:3] = 0.0
        prior["logvar"][:3] = 0.0  # the first three posteriors are the prior: 0 bits
        extreme = pair(6, 6, mu_scale=20.0)
        extreme["logvar"] = torch.linspace(-15.0, 12.0, 36).reshape(6, 6)
        return [
            Case("(32, 20) posteriors", pair(32, 20)),
            Case("a batch of 1, D = 8", pair(1, 8)),
            Case("D = 1, (10, 1)", pair(10, 1)),
            Case("three posteriors equal to the prior (0 bits) among six, D = 5", prior),
            Case("float64, (7, 9)", pair(7, 9, torch.float64, mu_scale=2.0)),
            Case(
                "extreme posteriors: μ up to about ±50, logvar from −15 to 12",
                {**extreme, "extreme": True},
            ),
            Case(_DEVICE_CASE, {**pair(4, 3), "device": True}),
            Case(
                "mu (4, 3) and logvar (4, 5): shapes differ",
                {
                    "mu": torch.randn(4, 3, generator=g),
                    "logvar": torch.randn(4, 5, generator=g),
                    "bad": True,
                },
            ),
            Case(
                "mu (4, 6) and logvar (6, 4): as many numbers, another shape",
                {
                    "mu": torch.randn(4, 6, generator=g),
                    "logvar": torch.randn(6, 4, generator=g),
                    "bad": True,
                },
            ),
            Case(
                "mu (5, 4) and logvar (4,): broadcasting would hide the mistake",
                {
                    "mu": torch.randn(5, 4, generator=g),
                    "logvar": torch.randn(4, generator=g),
                    "bad": True,
                },
            ),
        ]

    def run(self, fn, inputs):
        mu, logvar = copy_input(inputs["mu"]), copy_input(inputs["logvar"])
        if inputs.get("bad"):
            return _raised(fn, mu, logvar)
        if inputs.get("device"):
            try:
                return {"value": fn(mu.to(other_device()), logvar.to(other_device()))}
            except RuntimeError as error:
                if _META_ITEM not in str(error):
                    raise
                # a value test (.item(), e.g. torch.distributions' argument validation) runs on
                # a GPU, only not on meta tensors, which hold no values
                return {"meta_unsupported": True}
        return {"value": fn(mu, logvar)}

    def explain_error(self, case, error):
        if case.inputs.get("bad") and "NotImplementedError" not in error:
            return _bad_call_error(case, error, "mu and logvar must have the same shape (B, D)")
        return super().explain_error(case, error)

    def reference(self, case):
        if case.inputs.get("bad"):
            return None
        return ref_kl_bits(case.inputs["mu"], case.inputs["logvar"])

    def compare(self, case, out, expected):
        i = case.inputs
        mu = i["mu"]
        if i.get("bad"):
            if out.get("raised", {}).get("value"):
                return None
            return (
                f"{case.name}: no ValueError: a mu and a logvar of different shapes are a bug in "
                "the caller; compare mu.shape with logvar.shape and raise a ValueError that says so "
                "(broadcasting would silently give a number)"
            )
        b = mu.shape[0]
        if i.get("device"):
            if out.get("meta_unsupported", {}).get("value"):
                return None
            return tensor_problem(
                case, out, "value", shape=(b,), dtype=_dtype(mu), device=other_device()
            )
        o = out.get("value", {"kind": "none"})
        problem = tensor_problem(case, out, "value", shape=(b,), what="a tensor of shape (B,)")
        if problem:
            shape = tuple(o.get("shape", ())) if o["kind"] == "tensor" else None
            if o["kind"] == "number" or shape == ():
                problem += (
                    ": that is one number for the whole batch; return one rate per example "
                    "(sum over the latent dimensions only, no mean or sum over the batch)"
                )
            elif shape == (mu.shape[1],):
                problem += (
                    ": that was summed over the batch: sum over dimension 1 (the latent dimensions)"
                )
            elif shape is not None and len(shape) == 2:
                problem += ": sum over the D latent dimensions (dimension 1), one value per example"
            return problem
        problem = tensor_problem(case, out, "value", dtype=_dtype(mu))
        if problem:
            return problem
        got = o["value"].double()
        if not bool(torch.isfinite(got).all()):
            return (
                f"{case.name}: the result has NaN or inf: logvar = log σ² is any real number "
                "(the variance is exp(logvar)); no log of logvar or of a variance that can be 0"
            )
        if mu.dtype == torch.float64:
            if close(got, expected, rtol=1e-10, atol=1e-10):
                return None
            if close(got, expected, rtol=1e-5, atol=1e-5):
                return (
                    f"{case.name}: float64 inputs but a result only as accurate as float32: "
                    "compute in the inputs' dtype (no .float() on the way)"
                )
        elif close(got, expected, rtol=2e-5, atol=2e-5):
            return None
        k = int((got - expected).abs().argmax())
        hint = diagnose(got, _kl_bits_variants(mu, i["logvar"]), rtol=2e-5, atol=2e-5)
        g_k, e_k = _two(float(got[k]), float(expected[k]))
        return f"{case.name}: example {k} costs {g_k} bits, expected {e_k}: " + (
            hint
            or "KL = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²) nats with σ² = exp(logvar), summed over "
            "the latent dimensions, then divided by ln 2"
        )


register(KLBits())


# ============================================================================ midpoint_norms
_MIDPOINT_BAD = "r0, r1 > 0 and 0 < omega < π (radians)"


def _lerp_variants(r0, r1, om) -> list[tuple[float, str]]:
    """Plausible wrong ‖lerp(½)‖ values with their hints."""
    half = "r·cos(Ω/2) holds for equal norms only: expand ‖(z0 + z1)/2‖² = (r0² + r1² + 2 r0 r1 cos Ω)/4"
    c = r0 * r0 + r1 * r1 + 2 * r0 * r1 * math.cos(om)
    out = [
        ((r0 + r1) / 2 * math.cos(om / 2), half),
        (math.sqrt(r0 * r1) * math.cos(om / 2), half),
        (r0 * math.cos(om / 2), half),
        (r1 * math.cos(om / 2), half),
        (
            (r0 + r1) / 2 * math.cos(om),
            "cos Ω where the half angle belongs: for equal norms the midpoint has norm r·cos(Ω/2); "
            "in general ½√(r0² + r1² + 2 r0 r1 cos Ω)",
        ),
        (
            0.5 * math.sqrt(max(r0 * r0 + r1 * r1 + 2 * r0 * r1 * math.cos(om / 2), 0.0)),
            "the law of cosines takes the whole angle Ω between the codes: ‖z0 + z1‖² = r0² + r1² + 2 r0 r1 cos Ω",
        ),
        (
            0.5 * math.sqrt(max(r0 * r0 + r1 * r1 - 2 * r0 * r1 * math.cos(om), 0.0)),
            "that is half the distance ‖z0 − z1‖: the midpoint is (z0 + z1)/2, whose squared norm has + 2 r0 r1 cos Ω",
        ),
        (math.sqrt(c), "the midpoint is (z0 + z1)/2: halve ‖z0 + z1‖"),
        (c / 4, "that is the squared norm: take the square root"),
        (
            (r0 + r1) / 2,
            "that is the mean of the norms: the straight line cuts the corner, ‖(z0 + z1)/2‖ < (r0 + r1)/2",
        ),
    ]
    deg = math.radians(om)
    cd = r0 * r0 + r1 * r1 + 2 * r0 * r1 * math.cos(deg)
    out.append((0.5 * math.sqrt(cd), "omega is in radians already: don't convert it from degrees"))
    return out


def _slerp_variants(r0, r1, om) -> list[tuple[float, str]]:
    """Plausible wrong ‖slerp(½)‖ values with their hints."""
    c = math.sqrt(r0 * r0 + r1 * r1 + 2 * r0 * r1 * math.cos(om))
    equal = (
        "slerp keeps the norm only when r0 = r1: at t = ½ both weights are sin(Ω/2)/sin Ω = "
        "1/(2 cos(Ω/2)), so slerp(½) = (z0 + z1)/(2 cos(Ω/2))"
    )
    out = [
        ((r0 + r1) / 2, equal),
        (math.sqrt(r0 * r1), equal),
        (math.sqrt((r0 * r0 + r1 * r1) / 2), equal),
        (r0, equal),
        (r1, equal),
        (
            c / (2 * math.cos(om)) if math.cos(om) != 0 else None,
            "the half angle: sin(Ω/2)/sin Ω = 1/(2 cos(Ω/2)), not 1/(2 cos Ω)",
        ),
        (
            c / (2 * math.sin(om / 2)),
            "sin(Ω/2)/sin Ω = sin(Ω/2)/(2 sin(Ω/2) cos(Ω/2)) = 1/(2 cos(Ω/2)): cos, not sin",
        ),
        (
            c * math.sin(om / 2),
            "each weight is sin(Ω/2)/sin Ω: divide by sin Ω",
        ),
        (
            c / 2,
            "that is lerp's midpoint: slerp's weights at t = ½ are sin(Ω/2)/sin Ω = 1/(2 cos(Ω/2)), not ½",
        ),
        (
            (r0 + r1) / 2 / math.cos(om / 2),
            "(r0 + r1)/(2 cos(Ω/2)) takes ‖z0 + z1‖ as r0 + r1: use ‖z0 + z1‖ = √(r0² + r1² + 2 r0 r1 cos Ω)",
        ),
        (
            (r0 + r1) / 2 * math.cos(om / 2),
            "slerp(½) = (z0 + z1)/(2 cos(Ω/2)): divide ‖z0 + z1‖ by 2 cos(Ω/2), don't multiply",
        ),
    ]
    deg = math.radians(om)
    cd = math.sqrt(r0 * r0 + r1 * r1 + 2 * r0 * r1 * math.cos(deg))
    out.append(
        (cd / (2 * math.cos(deg / 2)), "omega is in radians already: don't convert it from degrees")
    )
    return out


def _near(a: float, b: float | None) -> bool:
    return b is not None and math.isfinite(a) and math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-9)


class MidpointNorms(Check):
    """A derivation: ‖lerp(½)‖ = ½√(r0² + r1² + 2 r0 r1 cos Ω) and ‖slerp(½)‖ = √(r0² + r1² +
    2 r0 r1 cos Ω) / (2 cos(Ω/2)) (r cos(Ω/2) and r for equal norms); a tuple of two numbers;
    ValueError outside r0, r1 > 0, 0 < Ω < π."""

    id = "ex11.midpoint_norms"
    function = "midpoint_norms"

    def cases(self, seed):
        g = _gen(seed)
        u = torch.rand(4, 3, generator=g, dtype=torch.float64)
        random = [
            (0.1 + 9.9 * float(a), 0.1 + 9.9 * float(b), 0.05 + 3.0 * float(c)) for a, b, c in u
        ]
        return [
            Case("equal norms 4, Ω = π/2", {"triples": [(4.0, 4.0, math.pi / 2)]}),
            Case("norms 1 and 3, Ω = 1 rad", {"triples": [(1.0, 3.0, 1.0)]}),
            Case("norms 2.5 and 0.5, Ω = 2.5 rad (obtuse)", {"triples": [(2.5, 0.5, 2.5)]}),
            Case("equal norms 1, Ω = 3.1 rad (nearly opposite)", {"triples": [(1.0, 1.0, 3.1)]}),
            Case("norms 1 and 2, Ω = 3.0 rad (nearly opposite)", {"triples": [(1.0, 2.0, 3.0)]}),
            Case("integer arguments r0 = r1 = 3, Ω = 1", {"triples": [(3, 3, 1)]}),
            Case("norms 0.7 and 5, Ω = 0.2 rad (nearly parallel)", {"triples": [(0.7, 5.0, 0.2)]}),
            Case("four random norms and angles", {"triples": random}),
            Case("r0 = 0 (a zero code has no direction)", {"bad": (0.0, 1.0, 1.0)}),
            Case("r1 = −1", {"bad": (1.0, -1.0, 1.0)}),
            Case("omega = 0", {"bad": (1.0, 2.0, 0.0)}),
            Case("omega = π (opposite codes: the arc is undefined)", {"bad": (1.0, 2.0, math.pi)}),
            Case("omega = −0.5", {"bad": (1.0, 1.0, -0.5)}),
            Case("omega = 90 (degrees, not radians)", {"bad": (1.0, 1.0, 90.0)}),
        ]

    def run(self, fn, inputs):
        if "bad" in inputs:
            return _raised(fn, *inputs["bad"])
        out = {}
        for k, triple in enumerate(inputs["triples"]):
            value = fn(*triple)
            pair = None
            if isinstance(value, (tuple, list)) and len(value) == 2:
                pair = value
            elif isinstance(value, torch.Tensor) and tuple(value.shape) == (2,):
                pair = (value[0], value[1])
            if pair is None:
                out[f"whole{k}"] = value
            else:
                out[f"lerp{k}"], out[f"slerp{k}"] = pair
        return out

    def explain_error(self, case, error):
        if "bad" in case.inputs and "NotImplementedError" not in error:
            return _bad_call_error(case, error, _MIDPOINT_BAD)
        return super().explain_error(case, error)

    def reference(self, case):
        if "bad" in case.inputs:
            return None
        return [ref_midpoint_norms(*t) for t in case.inputs["triples"]]

    def compare(self, case, out, expected):
        i = case.inputs
        if "bad" in i:
            if out.get("raised", {}).get("value"):
                return None
            return (
                f"{case.name}: no ValueError: the formulas need {_MIDPOINT_BAD}; check the "
                "arguments and raise a ValueError that says which is out of range"
            )
        for k, (triple, (want_l, want_s)) in enumerate(zip(i["triples"], expected, strict=True)):
            r0, r1, om = triple
            where = (
                case.name
                if len(expected) == 1
                else f"{case.name}, r0 = {fmt(r0)}, r1 = {fmt(r1)}, Ω = {fmt(om)}"
            )
            if f"whole{k}" in out:
                o = out[f"whole{k}"]
                kind = (
                    o.get("type", o["kind"])
                    if o["kind"] != "tensor"
                    else f"a tensor of shape {tuple(o['shape'])}"
                )
                if o["kind"] == "none":
                    kind = "None (did you forget to return it?)"
                return (
                    f"{where}: expected a tuple of two numbers (lerp_norm, slerp_norm), got {kind}"
                )
            got = []
            for name in ("lerp", "slerp"):
                value, problem = _scalar(Case(where), out[f"{name}{k}"], f"{name}_norm")
                if problem:
                    return problem
                got.append(value)
            got_l, got_s = got
            ok_l, ok_s = _near(got_l, want_l), _near(got_s, want_s)
            if ok_l and ok_s:
                continue
            if _near(got_l, want_s) and _near(got_s, want_l):
                return f"{where}: the two values are swapped: return (lerp_norm, slerp_norm)"
            if not ok_l:
                hint = next((h for v, h in _lerp_variants(r0, r1, om) if _near(got_l, v)), None)
                g_l, e_l = _two(got_l, want_l)
                return f"{where}: lerp_norm = {g_l}, expected {e_l}: " + (
                    hint or "lerp(½) = (z0 + z1)/2; expand ‖z0 + z1‖² with z0·z1 = r0 r1 cos Ω"
                )
            hint = next((h for v, h in _slerp_variants(r0, r1, om) if _near(got_s, v)), None)
            g_s, e_s = _two(got_s, want_s)
            return f"{where}: slerp_norm = {g_s}, expected {e_s}: " + (
                hint
                or "at t = ½ both slerp weights are sin(Ω/2)/sin Ω: write slerp(½) as a multiple "
                "of z0 + z1 and simplify with sin Ω = 2 sin(Ω/2) cos(Ω/2)"
            )
        return None


register(MidpointNorms())


# ============================================================================ auroc
def _pair_counts(scores: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, int, int]:
    """(#pairs with S₊ > S₋, #pairs with S₊ = S₋, n₊, n₋) in float64, by sorting."""
    s = scores.double()
    y = labels.double() == 1
    pos, neg = s[y], torch.sort(s[~y]).values
    below = torch.searchsorted(neg, pos, right=False).double()  # negatives strictly below
    at_or_below = torch.searchsorted(neg, pos, right=True).double()
    return float(below.sum()), float((at_or_below - below).sum()), len(pos), len(neg)


def _auroc_variants(scores, labels, want) -> list[tuple[float | None, str]]:
    """Plausible wrong AUROCs for a case, each with its hint."""
    greater, ties, n_pos, n_neg = _pair_counts(scores, labels)
    pairs = n_pos * n_neg
    n = n_pos + n_neg
    s = scores.double()
    y = labels.double()
    tie_hint = (
        "a tie between a positive and a negative counts ½: P(S₊ > S₋) + ½·P(S₊ = S₋) "
        "(with ranks: give tied scores their average rank)"
    )
    out: list[tuple[float | None, str]] = []
    if want < 0.5:
        out.append(
            (
                1 - want,
                "don't flip an AUROC below ½: it says the positives score *lower* than the "
                "negatives, and that is the finding",
            )
        )
    if ties:
        out += [
            (greater / pairs, tie_hint),
            ((greater + ties) / pairs, "a tie counts ½, not 1: P(S₊ > S₋) + ½·P(S₊ = S₋)"),
        ]
    out += [
        (
            1 - want,
            "the direction is reversed: label 1 marks the positives (the anomalies) and a higher "
            "score should mean more anomalous; count the pairs where the positive scores higher",
        ),
        (
            want * pairs,
            f"that is the count U (the Mann–Whitney statistic): divide by the n₊·n₋ = {pairs} "
            "positive–negative pairs",
        ),
        (
            greater + 0.5 * ties,
            f"that is the count U: divide by the n₊·n₋ = {pairs} positive–negative pairs",
        ),
        (want * pairs / n**2, "normalise by the n₊·n₋ positive–negative pairs, not by N²"),
        (
            want * pairs / (n * (n - 1) / 2),
            "normalise by the n₊·n₋ positive–negative pairs, not by all N(N−1)/2 pairs",
        ),
        (want * pairs / (n * (n - 1)), "normalise by the n₊·n₋ positive–negative pairs"),
    ]
    ranks_sum = want * pairs + n_pos * (n_pos + 1) / 2
    out.append(
        (
            (ranks_sum - n_neg * (n_neg + 1) / 2) / pairs,
            "from the positives' rank sum R₊ subtract n₊(n₊ + 1)/2, its smallest possible value: "
            "U = R₊ − n₊(n₊ + 1)/2",
        )
    )
    for thr in (float(s.median()), float(s.mean()), 0.0, 0.5):
        acc = float(((s > thr).double() == y).double().mean())
        out.append(
            (
                acc,
                "that is an accuracy at one threshold: the AUROC compares every positive with "
                "every negative (all thresholds at once)",
            )
        )
    return out


class Auroc(Check):
    """P(S₊ > S₋) + ½ P(S₊ = S₋) as ``scores.auroc`` (equal to scikit-learn's roc_auc_score),
    a number; ValueError when the shapes differ or a class is absent."""

    id = "ex11.auroc"
    function = "auroc"

    def cases(self, seed):
        g = _gen(seed)

        def labelled(n_pos, n_neg, shift, dtype=torch.float32, label_dtype=torch.int64):
            s = torch.randn(n_pos + n_neg, generator=g, dtype=torch.float64)
            y = torch.cat([torch.ones(n_pos), torch.zeros(n_neg)])
            perm = torch.randperm(n_pos + n_neg, generator=g)
            s, y = s[perm], y[perm]
            s = s + shift * y
            return {"scores": s.to(dtype), "labels": y.to(label_dtype)}

        sep = labelled(30, 50, 0.0)
        sep["scores"] = sep["scores"].abs() + 5.0 * sep["labels"].float()  # every positive above
        rev = labelled(20, 40, 0.0)
        rev["scores"] = rev["scores"].abs() - 5.0 * rev["labels"].float()  # every positive below
        ints = labelled(60, 90, 0.0, label_dtype=torch.float32)
        ints["scores"] = (
            torch.randint(0, 5, (150,), generator=g) + (ints["labels"] > 0) * 1
        ).float()
        y_big = (torch.rand(5000, generator=g) < 0.2).long()
        big = torch.randn(5000, generator=g, dtype=torch.float64) + 0.7 * y_big
        one = labelled(1, 40, 0.0)
        fine = labelled(40, 40, 0.0, dtype=torch.float64)
        # differences of 0.01 to 0.2 around 1e8: all equal in float32 (whose spacing there is 8)
        fine["scores"] = 1e8 + 0.01 * torch.round(5 * fine["scores"] + 10 * fine["labels"])
        wide = labelled(25, 25, 0.0, dtype=torch.float64)
        wide["scores"] = wide["scores"] * 1e30
        wide["scores"][:6] = 1e30  # a few ties at an extreme value
        return [
            Case("80 scores, positives shifted up by 1", labelled(30, 50, 1.0)),
            Case(
                "scores [0.1, 0.4, 0.35, 0.8], labels [0, 0, 1, 1]",
                {
                    "scores": torch.tensor([0.1, 0.4, 0.35, 0.8]),
                    "labels": torch.tensor([0, 0, 1, 1]),
                },
            ),
            Case("every positive scores above every negative", sep),
            Case("every positive scores below every negative", rev),
            Case(
                "all scores equal (every pair is a tie)",
                {"scores": torch.full((12,), 3.0), "labels": torch.tensor([0, 1] * 6)},
            ),
            Case(
                "scores [1, 1, 2, 2], labels [0, 1, 0, 1] (ties across the classes)",
                {
                    "scores": torch.tensor([1.0, 1.0, 2.0, 2.0]),
                    "labels": torch.tensor([0, 1, 0, 1]),
                },
            ),
            Case("integer scores 0-5 (many ties), float labels 0. and 1.", ints),
            Case("one positive among 40 negatives", one),
            Case("float64 scores 1e8 + multiples of 0.01 (all equal in float32)", fine),
            Case("float64 scores up to ±1e30, some tied at 1e30", wide),
            Case(
                "5,000 scores (about 1,000 positives): vectorise",
                {"scores": big, "labels": y_big},
            ),
            Case(
                "only negatives (labels all 0): the AUROC is undefined",
                {
                    "scores": torch.randn(10, generator=g),
                    "labels": torch.zeros(10, dtype=torch.long),
                    "bad": True,
                },
            ),
            Case(
                "only positives (labels all 1)",
                {
                    "scores": torch.randn(7, generator=g),
                    "labels": torch.ones(7, dtype=torch.long),
                    "bad": True,
                },
            ),
            Case(
                "scores (10,) and labels (9,)",
                {
                    "scores": torch.randn(10, generator=g),
                    "labels": torch.tensor([0, 1] * 4 + [1]),
                    "bad": True,
                },
            ),
            Case(
                "scores (8,) and labels (8, 1)",
                {
                    "scores": torch.randn(8, generator=g),
                    "labels": torch.tensor([0, 1] * 4).reshape(8, 1),
                    "bad": True,
                },
            ),
        ]

    def run(self, fn, inputs):
        scores, labels = copy_input(inputs["scores"]), copy_input(inputs["labels"])
        if inputs.get("bad"):
            return _raised(fn, scores, labels)
        return {"value": fn(scores, labels)}

    def explain_error(self, case, error):
        if case.inputs.get("bad") and "NotImplementedError" not in error:
            return _bad_call_error(
                case, error, "scores and labels need the same shape (N,) and both classes"
            )
        return super().explain_error(case, error)

    def reference(self, case):
        if case.inputs.get("bad"):
            return None
        return ref_auroc(case.inputs["scores"], case.inputs["labels"])

    def compare(self, case, out, expected):
        i = case.inputs
        if i.get("bad"):
            if out.get("raised", {}).get("value"):
                return None
            return (
                f"{case.name}: no ValueError: the AUROC needs scores and labels of the same shape "
                "(N,) with at least one positive and one negative; raise a ValueError that says "
                "what is wrong"
            )
        got, problem = _scalar(case, out.get("value", {"kind": "none"}), "the AUROC")
        if problem:
            return problem
        if not math.isfinite(got):
            return f"{case.name}: the AUROC is {got}: count pairs, and divide by n₊·n₋ > 0"
        if abs(got - expected) <= 1e-6:
            return None
        scores, labels = i["scores"], i["labels"]
        if scores.dtype == torch.float64:
            s32 = scores.float().double()
            if abs(got - ref_auroc(s32, labels)) <= 1e-6:
                return (
                    f"{case.name}: AUROC {fmt(got)}, expected {fmt(expected)}: the scores were "
                    "rounded to float32, which ties scores that differ: compare them in their own "
                    "dtype"
                )
        variants = _auroc_variants(scores, labels, expected)
        hint = next((h for v, h in variants if v is not None and abs(got - v) <= 1e-6), None)
        greater, ties, n_pos, n_neg = _pair_counts(scores, labels)
        if hint is None and ties:
            lo, hi = greater / (n_pos * n_neg), (greater + ties) / (n_pos * n_neg)
            if lo - 1e-9 <= got <= hi + 1e-9:
                hint = (
                    "tied pairs were counted as a win or a loss by their order: a tie counts ½ "
                    "(give tied scores their average rank)"
                )
        g_a, e_a = _two(got, expected)
        return f"{case.name}: AUROC {g_a}, expected {e_a}: " + (
            hint
            or "over all n₊·n₋ pairs of a positive (label 1) and a negative (label 0): 1 when the "
            "positive scores higher, ½ for a tie, 0 otherwise; the AUROC is the mean"
        )


register(Auroc())


# ============================================================================ entropy_code_bits
def _costs(log_p: torch.Tensor, symbols: torch.Tensor) -> torch.Tensor:
    """−Σ_d log_p[d, symbols[b, d]]: (B,) from per-dimension log-probabilities (D, k)."""
    return -log_p.gather(1, symbols.t().long()).t().sum(1)


def _entropy_variants(symbols, reference, bits) -> list[tuple[torch.Tensor, str]]:
    """Plausible wrong code lengths (B,), float64, each with its hint."""
    k = 2**bits
    d = symbols.shape[1]

    def counts(rows):
        c = torch.zeros(d, k, dtype=torch.float64)
        c.scatter_add_(1, rows.t().long(), torch.ones(rows.t().shape, dtype=torch.float64))
        return c

    c = counts(reference)
    m = reference.shape[0]

    def per_dim(cnt, total=None):
        total = cnt.sum(1, keepdim=True) if total is None else total
        with torch.no_grad():
            return torch.log2(cnt / total)

    want = _costs(per_dim(c + 0.5), symbols)
    pooled = c.sum(0, keepdim=True) + 0.5
    pooled_lp = torch.log2(pooled / pooled.sum()).expand(d, k)
    only_unseen = torch.where(c == 0, torch.full_like(c, 0.5), c)
    own = counts(symbols) + 0.5
    both = counts(torch.cat([reference, symbols])) + 0.5
    src = "fit the histograms on reference (the training codes): the receiver has no copy of the rows being coded"
    return [
        (_costs(per_dim(c + 1.0), symbols), "add ½ to every count (add-½ smoothing), not 1"),
        (
            _costs(
                per_dim(c + 0.5, total=torch.full((d, 1), float(m), dtype=torch.float64)), symbols
            ),
            f"after adding ½ to each of the 2^bits counts, divide by their new total M + 2^bits/2 "
            f"(here {m} + {k}/2), so each dimension's probabilities sum to 1",
        ),
        (
            _costs(
                per_dim(c + 0.5, total=torch.full((d, 1), float(m + k), dtype=torch.float64)),
                symbols,
            ),
            f"the smoothed counts sum to M + 2^bits/2 = {m} + {k}/2, not M + 2^bits",
        ),
        (
            _costs(per_dim(c), symbols),
            "without smoothing an unseen symbol has probability 0: add ½ to every one of the "
            "2^bits counts",
        ),
        (
            _costs(per_dim(only_unseen), symbols),
            "add ½ to every count, seen or not, not only to the empty bins",
        ),
        (_costs(per_dim(own), symbols), src),
        (_costs(per_dim(both), symbols), src),
        (want * _LN2, "code lengths in bits: −log₂ p, not the natural log"),
        (want * math.log10(2), "code lengths in bits: −log₂ p, not log₁₀"),
        (
            _costs(pooled_lp, symbols),
            "one histogram per latent dimension (reference[:, d] for dimension d), not one "
            "shared by all dimensions",
        ),
        (want / d, "that is the mean over the D dimensions: a row's code length is their sum"),
        (-want, "sign: a code length is −log₂ p ≥ 0"),
        (
            torch.full_like(want, float(bits * d)),
            "that is the fixed-length cost, bits·D: the entropy code gives frequent symbols "
            "shorter codes, −log₂ p_d(s) from the histogram",
        ),
    ]


class EntropyCodeBits(Check):
    """The build task: Σ_d −log₂ p_d(symbols[b, d]) with p_d the add-½ histogram of
    reference[:, d], as ``compression.entropy_code_bits``: (B,) float64; ValueError for
    different D or symbols outside [0, 2^bits)."""

    id = "ex11.entropy_code_bits"
    function = "entropy_code_bits"

    def cases(self, seed):
        g = _gen(seed)

        def skewed(m, d, bits, unseen_from=None):
            """(m, d) symbols, each dimension with its own skewed distribution."""
            k = 2**bits
            logits = torch.randn(d, k, generator=g, dtype=torch.float64) * 1.5
            if unseen_from is not None:
                logits[:, unseen_from:] = -math.inf  # symbols the reference never uses
            probs = torch.softmax(logits, dim=1)
            return torch.multinomial(probs, m, replacement=True, generator=g).t().contiguous()

        def sample(b, d, bits):
            return torch.randint(0, 2**bits, (b, d), generator=g)

        ref = skewed(400, 5, 2, unseen_from=3)  # symbol 3 never appears in the reference
        ref4 = skewed(300, 6, 4, unseen_from=10)
        codes = skewed(1000, 3, 8)
        return [
            Case(
                "bits = 2, D = 5, reference of 400 rows without symbol 3, 30 rows to code",
                {"symbols": sample(30, 5, 2), "reference": ref, "bits": 2},
            ),
            Case(
                "bits = 4, D = 6: symbols 10-15 never appear in the reference",
                {"symbols": sample(20, 6, 4), "reference": ref4, "bits": 4},
            ),
            Case(
                "bits = 1, D = 20",
                {"symbols": sample(12, 20, 1), "reference": skewed(200, 20, 1), "bits": 1},
            ),
            Case(
                "bits = 8, D = 3, reference of 50 rows (most of the 256 symbols unseen)",
                {"symbols": codes[:16], "reference": codes[500:550], "bits": 8},
            ),
            Case(
                "a single row to code, D = 4",
                {"symbols": sample(1, 4, 3), "reference": skewed(100, 4, 3), "bits": 3},
            ),
            Case(
                "a reference of one row, D = 4",
                {"symbols": sample(6, 4, 2), "reference": sample(1, 4, 2), "bits": 2},
            ),
            Case("D = 1", {"symbols": sample(9, 1, 3), "reference": skewed(64, 1, 3), "bits": 3}),
            Case(
                "bits = 12, D = 2 (4,096 symbols per dimension)",
                {"symbols": sample(10, 2, 12), "reference": skewed(500, 2, 12), "bits": 12},
            ),
            Case(
                "the reference rows themselves, bits = 2, D = 5",
                {"symbols": ref[:25].clone(), "reference": ref, "bits": 2},
            ),
            Case(
                "symbols (4, 3) and reference (10, 4): D differs",
                {"symbols": sample(4, 3, 2), "reference": sample(10, 4, 2), "bits": 2, "bad": True},
            ),
            Case(
                "a symbol 4 with bits = 2 (symbols lie in [0, 4))",
                {
                    "symbols": torch.tensor([[0, 1, 4], [2, 3, 1]]),
                    "reference": sample(10, 3, 2),
                    "bits": 2,
                    "bad": True,
                },
            ),
            Case(
                "a symbol −1",
                {
                    "symbols": torch.tensor([[0, -1, 2], [2, 3, 1]]),
                    "reference": sample(10, 3, 2),
                    "bits": 2,
                    "bad": True,
                },
            ),
            Case(
                "a reference symbol 8 with bits = 3",
                {
                    "symbols": sample(3, 2, 3),
                    "reference": torch.tensor([[0, 1], [8, 2], [3, 3]]),
                    "bits": 3,
                    "bad": True,
                },
            ),
        ]

    def run(self, fn, inputs):
        symbols, reference = copy_input(inputs["symbols"]), copy_input(inputs["reference"])
        if inputs.get("bad"):
            return _raised(fn, symbols, reference, inputs["bits"])
        return {"value": fn(symbols, reference, inputs["bits"])}

    def explain_error(self, case, error):
        if case.inputs.get("bad") and "NotImplementedError" not in error:
            return _bad_call_error(
                case,
                error,
                "symbols and reference need the same D, and every symbol must lie in [0, 2^bits)",
            )
        return super().explain_error(case, error)

    def reference(self, case):
        i = case.inputs
        if i.get("bad"):
            return None
        return ref_entropy_code_bits(i["symbols"], i["reference"], i["bits"])

    def compare(self, case, out, expected):
        i = case.inputs
        if i.get("bad"):
            if out.get("raised", {}).get("value"):
                return None
            return (
                f"{case.name}: no ValueError: symbols (B, D) and reference (M, D) must have the same "
                "D and hold integers in [0, 2^bits); check them and raise a ValueError that says what "
                "is wrong (a symbol outside the range has no bin, and −1 would silently index the last)"
            )
        b = i["symbols"].shape[0]
        o = out.get("value", {"kind": "none"})
        problem = tensor_problem(case, out, "value", shape=(b,), what="a tensor of shape (B,)")
        if problem:
            shape = tuple(o.get("shape", ())) if o["kind"] == "tensor" else None
            if o["kind"] == "number" or shape == ():
                problem += ": one code length per row of symbols, not one for the batch"
            elif shape is not None and len(shape) == 2:
                problem += ": sum −log₂ p_d(s) over the D dimensions of each row"
            elif shape == (i["symbols"].shape[1],):
                problem += ": that is one value per dimension: sum over the D dimensions of each row instead"
            return problem
        if o["dtype"] != "float64":
            return (
                f"{case.name}: expected dtype float64, got {o['dtype']}: compute the counts and "
                "probabilities in float64 (counts.double())"
            )
        got = o["value"].double()
        if not bool(torch.isfinite(got).all()):
            return (
                f"{case.name}: the code length is inf or NaN: a symbol that never appears in the "
                "reference gets probability 0; add ½ to every one of the 2^bits counts first"
            )
        if close(got, expected, rtol=1e-9, atol=1e-9):
            return None
        hint = diagnose(
            got, _entropy_variants(i["symbols"], i["reference"], i["bits"]), rtol=1e-7, atol=1e-7
        )
        k = int((got - expected).abs().argmax())
        g_k, e_k = _two(float(got[k]), float(expected[k]))
        return f"{case.name}: row {k} costs {g_k} bits, expected {e_k}: " + (
            hint
            or "p_d(s) = (count of s in reference[:, d] + ½) / (M + 2^bits/2); a row costs "
            "Σ_d −log₂ p_d(symbols[b, d])"
        )


register(EntropyCodeBits())


# ============================================================================ predict, then run
#: AUROC of −IWAE₁₀ for 300 test digits rotated by 180° against the 1,000 upright test digits, for
#: train_vae(epochs=5, seed=s), s = 0, 1, 2 (one intra-op thread, CPU; see tests/test_grading_ex11.py)
ROTATED_AUROCS = {0: 0.641, 1: 0.643, 2: 0.659}


class PredictRotatedAuroc(ChoiceCheck):
    """Predict-then-run: the chapter's VAE (train_vae, 5 epochs, all classes) scores 300 test
    digits rotated by 180° against the 1,000 upright ones with −IWAE₁₀; the AUROC is 0.64, 0.64
    and 0.66 for seeds 0, 1 and 2 (``ROTATED_AUROCS``, rerun in tests/test_grading_ex11.py)."""

    id = "ex11.predict_rotated_auroc"
    function = "prediction_rotated_auroc"
    choices = (
        "above 0.9: flagged almost always",
        "between 0.5 and 0.9: better than chance, far from reliable",
        "below 0.5: they look more likely than real digits",
    )
    answer = "between 0.5 and 0.9: better than chance, far from reliable"
    _measured = (
        "the experiment gives an AUROC of 0.64, 0.64 and 0.66 for training seeds 0, 1 and 2. "
    )
    hints = {
        "above 0.9: flagged almost always": _measured
        + "A likelihood compares pixels, not meaning: a rotated digit costs about 21 nats more "
        "than the same digit upright, but upright digits already spread by about 45 nats (one "
        "standard deviation), mostly with how much ink they have. A rotated 1 is still one thin "
        "stroke and scores lower than most real digits; a rotated 6 reads as a 9 and scores "
        "lower than the upright 6s. Run the cell below",
        "below 0.5: they look more likely than real digits": _measured
        + "Blank pages and single strokes look more likely than digits because they are simpler "
        "(notebook 11, §4); a rotated digit has exactly the ink of the digit it came from, and "
        "most rotated shapes are strokes the decoder never learned to draw: on average a rotated "
        "digit costs about 21 nats more than the same digit upright. Only the rotated 1s (one "
        "stroke) score below most real digits. Run the cell below",
    }


register(PredictRotatedAuroc())
