"""Checks of exercise set ``ex09_training_strategies`` (notebook 09, training strategies).

Tasks (function the learner writes → check id):

* ``cyclical_beta(step, total_steps, cycles, ratio)`` → ``ex09.cyclical_beta``
* ``free_bits_term(kl, nats, group_size=1)`` → ``ex09.free_bits_term``
* ``strategy_loss(x, logits, mu, logvar, beta, nats, group_size=1)`` → ``ex09.strategy_loss``
  (the build task: the loss a strategy minimises and the bound it reports)
* ``mutual_information(mu, logvar, z)`` → ``ex09.mutual_information``
* ``mi_linear_gaussian(a, s2)`` → ``ex09.mi_linear_gaussian`` (a derivation: I_q(x; z) of a
  linear-Gaussian encoder through its aggregate posterior)
* ``prediction_free_bits_dims`` → ``ex09.predict_free_bits_dims`` (predict-then-run)

References: the course package (``schedules.Cyclical.from_cycles``, ``losses.free_bits_kl``
and ``losses.elbo``); the mutual information is
:func:`vae_course.metrics.mutual_information_from_posteriors` with the draw ``z`` given
instead of drawn (``ref_mutual_information``, tested against it on the same draw in
``tests/test_grading_ex09.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..losses import FreeBits, elbo, free_bits_kl, gaussian_kl_per_dim
from ..schedules import Cyclical
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

__all__ = [
    "CyclicalBeta",
    "FreeBitsTerm",
    "StrategyLoss",
    "MutualInformation",
    "MILinearGaussian",
    "PredictFreeBitsDims",
    "ref_cyclical_beta",
    "ref_free_bits_term",
    "ref_strategy_loss",
    "ref_mutual_information",
    "ref_mi_linear_gaussian",
]

_DEVICE_CASE = "inputs on another device (meta, a stand-in for a GPU)"
_LOG2PI = math.log(2 * math.pi)


# ============================================================================ references
def ref_cyclical_beta(step: int, total_steps: int, cycles: int, ratio: float) -> float:
    """Fu et al.'s cyclical β at ``step`` (from 0): :meth:`Cyclical.from_cycles`."""
    return Cyclical.from_cycles(int(total_steps), int(cycles), float(ratio))(int(step))


def ref_free_bits_term(kl: torch.Tensor, nats: float, group_size: int = 1) -> torch.Tensor:
    """Σ_groups max(λ, Σ_{j ∈ group} mean_batch KL_j) from per-example KLs ``kl`` (B, D)."""
    return free_bits_kl(kl.mean(dim=0), FreeBits(float(nats), int(group_size)))


def ref_strategy_loss(x, logits, mu, logvar, beta, nats, group_size=1) -> dict:
    """``loss`` (−mean reconstruction + β·free-bits term) and ``elbo`` (B,), as losses.elbo."""
    terms = elbo(
        x, logits, mu, logvar, beta=float(beta), free_bits=FreeBits(float(nats), group_size)
    )
    return {"loss": terms["loss"], "elbo": terms["elbo"]}


def _log_components(mu, logvar, z):
    """(N, N) float64: log q(z_i | x_j) for every draw i and component j."""
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    d = mu.shape[1]
    dev = z[:, None, :] - mu[None, :, :]
    return -0.5 * (dev**2 / logvar.exp()[None]).sum(-1) - 0.5 * (d * _LOG2PI + logvar.sum(-1)[None])


def _neg_entropy(logvar) -> torch.Tensor:
    """(N,) float64: E_q(z|x_i)[log q(z|x_i)] = −½ Σ_k (log 2π + 1 + log σ²_ik)."""
    lv = logvar.double()
    return -0.5 * (lv.shape[1] * _LOG2PI + (1 + lv).sum(-1))


def ref_mutual_information(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> float:
    """I_q(x; z) in nats: mean exact negative entropy − mean log (1/N) Σ_j q(z_i | x_j)."""
    n = mu.shape[0]
    log_qz = torch.logsumexp(_log_components(mu, logvar, z), dim=1) - math.log(n)
    return float(_neg_entropy(logvar).mean() - log_qz.mean())


def ref_mi_linear_gaussian(a: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """I(x; z) for x ~ N(0, 1), z | x ~ N(a x, s²): ½ log(1 + a²/s²), nats."""
    return 0.5 * torch.log1p(a**2 / s2)


def _number_problem(case: Case, o: dict, name: str) -> str | None:
    """A Python number is expected (a float; an int such as 1 is fine)."""
    if o["kind"] == "tensor":
        return (
            f"{case.name}: expected a Python float, got a tensor of shape {tuple(o['shape'])}: "
            f"convert {name} with float(...) (it is a number to print, log and schedule)"
        )
    if o["kind"] != "number" or o.get("type") == "bool":
        got = (
            "None (did you forget to return it?)"
            if o["kind"] == "none"
            else o.get("type", o["kind"])
        )
        return f"{case.name}: expected a Python float, got {got}"
    return None


# ============================================================================ cyclical_beta
def _cycle_variants(t, m, r):
    """(name → β for steps 0..T−1) of plausible wrong schedules, float64, and their hints."""
    steps = torch.arange(t, dtype=torch.float64)
    length = math.ceil(t / m)
    ramp = r * length

    def hold(pos, width):
        return torch.clamp(pos / width, max=1.0)

    p = torch.remainder(steps, length)
    floor_len = max(t // m, 1)
    period = t / m
    out = [
        (
            hold(steps, r * t),
            "that is one warm-up over the first R·T steps: the ramp must repeat in each of "
            "the M cycles, each ⌈T/M⌉ steps long",
        ),
        (
            p / length,
            "β reaches 1 only at the end of each cycle: the ratio R is ignored; β rises "
            "during the first R of each cycle and then holds at 1",
        ),
        (
            hold(torch.remainder(steps, floor_len), r * floor_len),
            "cycles of ⌊T/M⌋ steps: round T/M up (⌈T/M⌉), otherwise there are more than M "
            "cycles and the last one is a stub",
        ),
        (
            hold(torch.remainder(steps, period), r * period),
            "the cycle length T/M is not a whole number of steps here: cycles last ⌈T/M⌉ "
            "steps, so every cycle starts on a step with β = 0",
        ),
        (
            hold(torch.remainder(steps + 1, length), ramp),
            "step counts from 0: β is 0 at step 0 and at the first step of every cycle "
            "(steps counted from 1 shift the schedule by one)",
        ),
        (
            hold(torch.remainder(steps - 1, length), ramp),
            "step counts from 0: β is 0 at step 0 and at the first step of every cycle "
            "(steps counted from 1 shift the schedule by one)",
        ),
        (
            hold(p, max(ramp - 1, 1e-12)),
            "off by one: β reaches 1 one step early; p steps into a cycle β is p / (R·⌈T/M⌉)",
        ),
        (
            hold(p + 1, ramp),
            "off by one: β must be 0 at the first step of each cycle, then rise by 1/(R·⌈T/M⌉) "
            "per step",
        ),
        (
            torch.clamp(p, max=max(math.ceil(ramp) - 1, 0)) / ramp,
            "β never reaches 1: after the first R of each cycle it must hold at exactly 1",
        ),
        (
            torch.where(p < ramp, p / ramp, torch.zeros_like(p)),
            "after the ramp β must hold at 1 for the rest of the cycle, not drop back to 0",
        ),
        (
            1 - hold(p, ramp),
            "β falls instead of rising: it starts each cycle at 0 and rises to 1",
        ),
        (
            hold(torch.remainder(steps, length + 1), r * (length + 1)),
            "cycles of ⌈T/M⌉ + 1 steps: each cycle lasts ⌈T/M⌉ steps, so cycle c starts at "
            "step c·⌈T/M⌉",
        ),
    ]
    return out


class CyclicalBeta(Check):
    """Every step 0..T−1 of a schedule, compared with the package's (⌈T/M⌉ in the ramp) or
    with Fu et al.'s formula as printed (T/M in the ramp): both are right."""

    id = "ex09.cyclical_beta"
    function = "cyclical_beta"

    def cases(self, seed):
        g = _gen(seed)
        t = int(torch.randint(60, 400, (1,), generator=g))
        m = int(torch.randint(2, 7, (1,), generator=g))
        r = round(float(0.2 + 0.7 * torch.rand(1, generator=g)), 3)
        return [
            Case("T = 400 steps, M = 4 cycles, R = 0.5", {"t": 400, "m": 4, "r": 0.5}),
            Case("T = 1001 (not a multiple of M = 4), R = 0.5", {"t": 1001, "m": 4, "r": 0.5}),
            Case("T = 600, M = 3, R = 0.25", {"t": 600, "m": 3, "r": 0.25}),
            Case("one cycle (M = 1), T = 320, R = 0.5", {"t": 320, "m": 1, "r": 0.5}),
            Case(
                "T = 10, M = 3 (cycles of 4 steps, the last one cut short), R = 0.5",
                {"t": 10, "m": 3, "r": 0.5},
            ),
            Case("T = 100, M = 5, R = 1 (the ramp fills the cycle)", {"t": 100, "m": 5, "r": 1.0}),
            Case("T = 12, M = 2, R = 0.3 (a ramp of 1.8 steps)", {"t": 12, "m": 2, "r": 0.3}),
            Case(f"T = {t}, M = {m}, R = {r}", {"t": t, "m": m, "r": r}),
        ]

    def run(self, fn, inputs):
        t, m, r = inputs["t"], inputs["m"], inputs["r"]
        values = []
        for step in range(t):
            b = fn(step, t, m, r)
            if isinstance(b, bool) or not isinstance(b, (int, float)):
                return {"bad": b, "bad_step": step}
            values.append(float(b))
        return {"betas": torch.tensor(values, dtype=torch.float64)}

    def reference(self, case):
        i = case.inputs
        return torch.tensor(
            [ref_cyclical_beta(s, i["t"], i["m"], i["r"]) for s in range(i["t"])],
            dtype=torch.float64,
        )

    def compare(self, case, out, expected):
        i = case.inputs
        t, m, r = i["t"], i["m"], i["r"]
        if "bad" in out:
            step = int(out["bad_step"]["value"])
            return _number_problem(Case(f"{case.name}, step {step}", {}), out["bad"], "β")
        got = out["betas"]["value"]
        tol = {"rtol": 0.0, "atol": 1e-6}
        length = math.ceil(t / m)
        steps = torch.arange(t, dtype=torch.float64)
        fu = torch.clamp(torch.remainder(steps, length) / (t / m) / r, max=1.0)
        if close(got, expected, **tol) or close(got, fu, **tol):
            return None
        if not bool(torch.isfinite(got).all()):
            return f"{case.name}: β is inf or NaN at some steps: R > 0 and ⌈T/M⌉ ≥ 1 are the only divisors"
        hint = diagnose(got, _cycle_variants(t, m, r), **tol)
        bad = int(((got - expected).abs() > 1e-6).nonzero()[0])
        c, p = divmod(bad, length)
        where = f"step {bad} (cycle {c}, {p} steps into it): β = {fmt(float(got[bad]))}, expected {fmt(float(expected[bad]))}"
        if hint is None:
            if p == 0:
                hint = "β is 0 at the first step of every cycle, which starts at step c·⌈T/M⌉"
            elif float(expected[bad]) == 1.0:
                hint = "after the first R of each cycle (R·⌈T/M⌉ steps) β holds at 1"
            else:
                hint = (
                    "during the first R of a cycle β rises linearly from 0, by 1/(R·⌈T/M⌉) per step"
                )
        return f"{case.name}: {where}: {hint}"


register(CyclicalBeta())


# ============================================================================ free_bits_term
def _kl_batch(g, b, means, dtype=torch.float32):
    """(B, D) positive per-example KLs whose batch means are exactly ``means`` (D,)."""
    means = torch.as_tensor(means, dtype=torch.float64)
    w = -torch.log(torch.rand(b, means.shape[0], generator=g, dtype=torch.float64))  # Exp(1)
    w = w / w.mean(0, keepdim=True)
    return (w * means).to(dtype)


def _group_means(g, d, group_size, nats, margin=0.08):
    """Per-dimension batch means whose group sums lie ≥ ``margin`` from λ (no ties), with
    groups below and above λ when there are several, and within a group above λ some
    dimensions below λ. Rejection sampling from ``g`` (deterministic per seed)."""
    n_groups = d // group_size
    for _ in range(10_000):
        means = 0.02 + torch.rand(d, generator=g, dtype=torch.float64) * 2.0 * nats / group_size
        low = torch.rand(n_groups, generator=g) < 0.5
        means = means.reshape(n_groups, group_size)
        means[low] *= 0.4
        if group_size > 1:  # one dimension above λ in a group: per-dimension floors differ
            k = int(torch.randint(0, group_size, (1,), generator=g))
            means[0, k] = nats * (1.1 + 0.5 * float(torch.rand(1, generator=g)))
        means = means.reshape(-1)
        sums = means.reshape(n_groups, group_size).sum(1)
        strided = means.reshape(group_size, n_groups).sum(0)
        if (sums - nats).abs().min() <= margin or (strided - nats).abs().min() <= margin:
            continue
        if n_groups == 1 or all(
            bool((v < nats).any()) and bool((v > nats).any()) for v in (sums, strided)
        ):
            return means
    raise RuntimeError("no KL means away from the floor were found")  # never for these cases


class FreeBitsTerm(Check):
    id = "ex09.free_bits_term"
    function = "free_bits_term"

    def cases(self, seed):
        g = _gen(seed)

        def case(b, d, nats, group_size, dtype=torch.float32, default=False):
            means = _group_means(g, d, group_size, nats) if nats > 0 else torch.rand(d, generator=g)
            return {
                "kl": _kl_batch(g, b, means, dtype),
                "nats": nats,
                "group_size": group_size,
                "default": default,
            }

        below = case(16, 6, 0.5, 2)
        below["kl"] = below["kl"] * 0.05  # every group far below λ: the floor alone
        return [
            Case(
                "B = 32, D = 8, λ = 0.25 nats per dimension (group_size = 1)", case(32, 8, 0.25, 1)
            ),
            Case("D = 16 in groups of 4, λ = 1 nat per group", case(24, 16, 1.0, 4)),
            Case("D = 12 in groups of 3, λ = 0.5, float64", case(20, 12, 0.5, 3, torch.float64)),
            Case("one group (group_size = D = 6), λ = 2", case(10, 6, 2.0, 6)),
            Case("group_size left at its default (1), λ = 0.3", case(16, 10, 0.3, 1, default=True)),
            Case("λ = 0 (no floor: the plain KL), groups of 2", case(8, 8, 0.0, 2)),
            Case("a batch of 1, D = 4 in groups of 2, λ = 0.5", case(1, 4, 0.5, 2)),
            Case("every group below its floor, D = 6 in groups of 2, λ = 0.5", below),
            Case(
                "D = 6 with group_size = 4 (does not divide D)",
                {**case(8, 6, 0.5, 1), "group_size": 4, "indivisible": True},
            ),
            Case(_DEVICE_CASE, {**case(8, 8, 0.5, 2), "device": True}),
        ]

    def run(self, fn, inputs):
        kl = copy_input(inputs["kl"])
        args = (inputs["nats"],) if inputs["default"] else (inputs["nats"], inputs["group_size"])
        if inputs.get("device"):
            return {"value": fn(kl.to(other_device()), *args)}
        if inputs.get("indivisible"):
            try:
                value = fn(kl, *args)
            except ValueError:
                return {"raised": True}
            return {"raised": False, "value": value}
        kl.requires_grad_(True)
        value = fn(kl, *args)
        out = {"value": value}
        if isinstance(value, torch.Tensor) and value.dim() == 0 and value.requires_grad:
            (grad,) = torch.autograd.grad(value, kl, allow_unused=True)
            out["grad"] = grad if grad is not None else torch.zeros_like(kl)
        return out

    def explain_error(self, case, error):
        msg = super().explain_error(case, error)
        if case.inputs.get("indivisible") and "NotImplementedError" not in error:
            return (
                f"{case.name}: raised {error.split(':')[0]}: check that group_size divides D "
                "yourself and raise a ValueError that says so (the caller should not have to "
                "decode a reshape error)"
            )
        return msg

    def reference(self, case):
        i = case.inputs
        if i.get("indivisible"):
            return None
        kl = i["kl"].double().clone().requires_grad_(True)
        value = ref_free_bits_term(kl, i["nats"], i["group_size"])
        (grad,) = torch.autograd.grad(value, kl, allow_unused=True)
        return {"value": value.detach(), "grad": grad if grad is not None else torch.zeros_like(kl)}

    def compare(self, case, out, expected):
        i = case.inputs
        b, d = i["kl"].shape
        gs, nats = i["group_size"], float(i["nats"])
        if i.get("indivisible"):
            if out.get("raised", {}).get("value"):
                return None
            return (
                f"{case.name}: no ValueError: D = {d} is not a multiple of group_size = {gs}, so "
                "the dimensions cannot form equal groups; raise a ValueError instead of "
                "dropping, padding or mixing dimensions"
            )
        o = out.get("value", {"kind": "none"})
        if i.get("device"):
            return tensor_problem(case, out, "value", shape=(), device=other_device())
        if o["kind"] == "number":
            return (
                f"{case.name}: expected a 0-d tensor, got a Python number: return the tensor "
                "(no .item() or float()) so the loss can be backpropagated"
            )
        problem = tensor_problem(case, out, "value", shape=(), what="a 0-d tensor")
        if problem:
            shape = tuple(o.get("shape", ())) if o["kind"] == "tensor" else None
            if shape == (d // gs,) or (shape == (d,) and gs == 1):
                problem += ": that is one value per group: sum over the groups"
            elif shape == (b,):
                problem += ": that is one value per example: free bits floor the batch mean"
            elif shape == (d,):
                problem += ": sum within groups, clamp each group, then sum over the groups"
            return problem
        problem = tensor_problem(case, out, "value", dtype=_dtype(i["kl"]))
        if problem:
            return problem
        got = o["value"].double()
        want = expected["value"]
        tol = {"rtol": 1e-5, "atol": 1e-6}
        if not close(got, want, **tol):
            kl = i["kl"].double()
            mean = kl.mean(0)
            groups = mean.reshape(-1, gs).sum(1)
            ex_groups = kl.reshape(b, -1, gs).sum(2)
            strided = mean.reshape(gs, -1).sum(0)
            n_groups = d // gs
            variants = [
                (
                    ex_groups.clamp(min=nats).sum(1).mean(),
                    "each example's KL was clamped before averaging: free bits floor the batch "
                    "mean of each group's KL (average over the batch first, then clamp)",
                ),
                (
                    mean.clamp(min=nats).sum(),
                    "each dimension was clamped at λ: sum the KL within each group of "
                    "group_size consecutive dimensions first, then clamp the group's total",
                ),
                (
                    mean.clamp(min=nats / gs).sum(),
                    "each dimension was clamped at λ/group_size: the floor applies to the "
                    "group's total KL, not to its dimensions one by one",
                ),
                (
                    groups.sum().clamp(min=nats * n_groups),
                    "the total KL was clamped at once: every group has its own floor λ",
                ),
                (
                    groups.sum(),
                    "no floor: every group has its own floor λ; a group whose batch-mean KL "
                    "is below λ contributes λ",
                ),
                (
                    groups.sum().clamp(min=nats),
                    "the total KL was clamped at λ: every group has its own floor λ",
                ),
                (
                    (groups - nats).clamp(min=0).sum(),
                    "max(KL − λ, 0) has the right gradient but not the right value: a group below "
                    "its floor contributes the constant λ, max(λ, KL_g)",
                ),
                (
                    groups.clamp(min=nats).mean(),
                    "that is the mean over the groups: sum the clamped groups",
                ),
                (
                    strided.clamp(min=nats).sum(),
                    "the groups must be consecutive dimensions (0..g−1, g..2g−1, …): "
                    "reshape the D dimensions to (D // group_size, group_size), not the "
                    "other way round",
                ),
                (
                    b * groups.clamp(min=nats).sum(),
                    "the KL was summed over the batch: average it (nats per example)",
                ),
                (
                    (b * groups).clamp(min=nats).sum(),
                    "the KL was summed over the batch: average it (nats per example)",
                ),
                (
                    ex_groups.clamp(min=nats).sum(),
                    "each example was clamped and the batch summed: average the KL over the "
                    "batch first, then clamp each group",
                ),
                (
                    groups.clamp(min=nats * gs).sum(),
                    "λ is the floor of a whole group (nats per group), not per dimension: "
                    "don't multiply it by group_size",
                ),
            ]
            hint = diagnose(got, variants, **tol)
            return f"{case.name}: the term is {fmt(float(got))}, expected {fmt(float(want))}: " + (
                hint or "Σ over groups of max(λ, the group's summed batch-mean KL)"
            )
        if not o["requires_grad"]:
            if float(expected["grad"].abs().max()) == 0:
                return None  # every group below its floor: a constant is right
            return (
                f"{case.name}: the result is not connected to kl in the autograd graph (no "
                ".item(), float(), torch.tensor(...) or torch.no_grad() around it)"
            )
        grad = _values(out, "grad")
        want_grad = expected["grad"]
        if grad is None or not close(grad.double(), want_grad, rtol=1e-5, atol=1e-7):
            below = ~(want_grad.abs().sum(0) > 0)
            if (
                grad is not None
                and bool(below.any())
                and float(grad.double()[:, below].abs().max()) > 0
            ):
                return (
                    f"{case.name}: the value is right but groups below their floor still get a "
                    "gradient: their contribution is the constant λ, so nothing may pull them "
                    "towards the prior (clamp, don't pass the gradient straight through)"
                )
            return (
                f"{case.name}: the value is right but the gradient is not: every entry of a "
                f"group above its floor has gradient 1/B = {fmt(1 / b)}, every entry of a "
                "group below it 0"
            )
        return None


register(FreeBitsTerm())


# ============================================================================ strategy_loss
_GRAD_NAMES = ("logits", "mu", "logvar")


class StrategyLoss(Check):
    """The build task: reconstruction, the KL per dimension, free bits and β put together,
    and the true ELBO reported beside the loss."""

    id = "ex09.strategy_loss"
    function = "strategy_loss"
    uses = ("free_bits_term",)

    def references(self):
        return {"free_bits_term": ref_free_bits_term}

    def cases(self, seed):
        g = _gen(seed)

        def batch(b, d, beta, nats, group_size, shape=(1, 6, 6), dtype=torch.float32, scale=2.0):
            x = (torch.rand(b, *shape, generator=g) < 0.3).to(dtype)
            return {
                "x": x,
                "logits": torch.randn(b, *shape, generator=g, dtype=dtype) * scale,
                "mu": torch.randn(b, d, generator=g, dtype=dtype)
                * torch.linspace(0.05, 2, d, dtype=dtype),
                "logvar": torch.randn(b, d, generator=g, dtype=dtype) * 0.5 - 0.3,
                "beta": beta,
                "nats": nats,
                "group_size": group_size,
            }

        extreme = batch(8, 4, 2.0, 0.25, 1, scale=40.0)  # sigmoid rounds to 0 or 1 in float32
        wide = batch(6, 6, 1.0, 0.25, 2)
        wide["logvar"] = torch.linspace(-15.0, 12.0, 36).reshape(6, 6)  # beyond any ±10 clamp
        return [
            Case(
                "(16, 1, 6, 6) images, D = 8, β = 1, λ = 0.25 per dimension",
                batch(16, 8, 1.0, 0.25, 1),
            ),
            Case("β = 0.3, λ = 1 nat per group of 4", batch(12, 8, 0.3, 1.0, 4)),
            Case("β = 0.5 without free bits (λ = 0)", batch(10, 6, 0.5, 0.0, 1)),
            Case(
                "flat (B, 20) data, β = 2, λ = 0.5 per group of 2",
                batch(9, 4, 2.0, 0.5, 2, shape=(20,)),
            ),
            Case("a batch of 1, β = 1, λ = 0.25", batch(1, 6, 1.0, 0.25, 1)),
            Case(
                "float64, β = 0.7, λ = 0.4 per group of 3",
                batch(7, 9, 0.7, 0.4, 3, dtype=torch.float64),
            ),
            Case("logits up to ±150 (sigmoid rounds to 0 or 1 in float32), β = 2", extreme),
            Case("logvar from −15 to 12 (very narrow and very wide posteriors)", wide),
            Case(_DEVICE_CASE, {**batch(4, 4, 1.0, 0.25, 1), "device": True}),
        ]

    def run(self, fn, inputs):
        t = {k: copy_input(inputs[k]) for k in ("x", "logits", "mu", "logvar")}
        args = (inputs["beta"], inputs["nats"], inputs["group_size"])
        if inputs.get("device"):
            t = {k: v.to(other_device()) for k, v in t.items()}
            try:
                res = fn(t["x"], t["logits"], t["mu"], t["logvar"], *args)
            except RuntimeError as error:
                if "cannot be called on meta tensors" not in str(error):
                    raise
                # torch.distributions validates its arguments with .item(): right on a GPU,
                # and a .item() in the loss itself is caught by the autograd cases
                return {"meta_unsupported": True}
            return res if isinstance(res, dict) else {"not_dict": True}
        for k in _GRAD_NAMES:
            t[k].requires_grad_(True)
        res = fn(t["x"], t["logits"], t["mu"], t["logvar"], *args)
        if not isinstance(res, dict):
            return {"not_dict": True, "type": res}
        out = {k: res.get(k) for k in ("loss", "elbo")}
        return {**out, **loss_gradients(out["loss"], t, _GRAD_NAMES)}

    def explain_error(self, case, error):
        msg = super().explain_error(case, error)
        if "must match the size" in error:
            msg += PER_EXAMPLE_SUM_HINT
        return msg

    def reference(self, case):
        i = case.inputs
        t = {k: i[k].double().clone().requires_grad_(k != "x") for k in ("x", *_GRAD_NAMES)}
        ref = ref_strategy_loss(
            t["x"], t["logits"], t["mu"], t["logvar"], i["beta"], i["nats"], i["group_size"]
        )
        grads = torch.autograd.grad(ref["loss"], [t[k] for k in _GRAD_NAMES])
        return {
            "loss": ref["loss"].detach(),
            "elbo": ref["elbo"].detach(),
            **{f"grad_{k}": gk for k, gk in zip(_GRAD_NAMES, grads, strict=True)},
        }

    def compare(self, case, out, expected):
        i = case.inputs
        b = i["x"].shape[0]
        if out.get("not_dict", {}).get("value"):
            return (
                f"{case.name}: expected a dict {{'loss': ..., 'elbo': ...}}, got "
                f"{out.get('type', {}).get('type', 'something else')}: return both, by name"
            )
        if i.get("device"):
            if out.get("meta_unsupported", {}).get("value"):
                return None
            for name, shape in (("loss", ()), ("elbo", (b,))):
                problem = tensor_problem(case, out, name, shape=shape, device=other_device())
                if problem:
                    return f"{name}: {problem}"
            return None
        lo, el = out.get("loss", {"kind": "none"}), out.get("elbo", {"kind": "none"})
        problem = tensor_problem(case, out, "loss", shape=(), what="a 0-d tensor")
        if problem:
            if lo["kind"] == "number":
                problem += ": return the tensor (no .item()) so the loss can be backpropagated"
            elif lo["kind"] == "tensor" and tuple(lo["shape"]) == (b,):
                problem += ": average over the batch"
            return "loss: " + problem
        problem = tensor_problem(case, out, "elbo", shape=(b,))
        if problem:
            if el["kind"] == "tensor" and tuple(el["shape"]) == ():
                problem += ": report the ELBO of every example (B,); don't average it"
            return "elbo: " + problem
        for name in ("loss", "elbo"):
            problem = tensor_problem(case, out, name, dtype=_dtype(i["x"]))
            if problem:
                return f"{name}: {problem}"

        x, logits = i["x"].double(), i["logits"].double()
        mu, logvar = i["mu"].double(), i["logvar"].double()
        beta, nats, gs = float(i["beta"]), float(i["nats"]), i["group_size"]
        pixels = x[0].numel()
        rec = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").reshape(b, -1).sum(1)
        kl_dims = gaussian_kl_per_dim(mu, logvar)
        kl = kl_dims.sum(1)
        fb = ref_free_bits_term(kl_dims, nats, gs)
        fb_ex = kl_dims.reshape(b, -1, gs).sum(2).clamp(min=nats).sum(1)
        kl_logstd = 0.5 * (mu**2 + (2 * logvar).exp() - 1 - 2 * logvar).sum(1)
        kl_var = 0.5 * (mu**2 + logvar - 1 - logvar.clamp(min=1e-300).log()).sum(1)
        kl_no1 = 0.5 * (mu**2 + logvar.exp() - logvar).sum(1)
        rec_hint = (
            "the reconstruction is a mean over pixels (F.binary_cross_entropy's default "
            "reduction='mean'): sum the log-likelihood over each example's pixels, nats per example"
        )

        got_elbo = el["value"].double()
        if not bool(torch.isfinite(got_elbo).all()) or not math.isfinite(float(lo["value"])):
            return (
                f"{case.name}: the result has inf or NaN: log(sigmoid(l)) reaches log 0 for large "
                "logits; compute the Bernoulli log-likelihood from the logits stably "
                "(F.binary_cross_entropy_with_logits with reduction='none', or x·l − softplus(l))"
            )
        tol = {"rtol": 1e-5, "atol": 1e-4}
        if not close(got_elbo, expected["elbo"], **tol):
            hint = diagnose(
                got_elbo,
                [
                    (
                        rec - beta * kl,
                        "the reported ELBO carries β: the bound is reconstruction − KL with weight 1, whatever β the loss uses",
                    ),
                    (
                        rec - fb_ex,
                        "the reported ELBO carries the free-bits floor: report the true bound, reconstruction − KL (the floor changes what is minimised, not what is measured)",
                    ),
                    (
                        rec - fb.expand(b),
                        "the reported ELBO carries the free-bits term: report the true bound, reconstruction − KL of each example",
                    ),
                    (
                        rec - beta * fb.expand(b),
                        "the reported ELBO carries β and the free-bits term: report reconstruction − KL of each example",
                    ),
                    (
                        rec - beta * fb_ex,
                        "the reported ELBO carries β and the free-bits floor: report reconstruction − KL of each example",
                    ),
                    (rec / pixels - kl, rec_hint),
                    (rec + kl, "the ELBO subtracts the KL: reconstruction − KL"),
                    (
                        -rec - kl,
                        "the reconstruction term is the log-likelihood, minus the binary cross-entropy",
                    ),
                    (
                        kl - rec,
                        "that is the negative ELBO: report reconstruction − KL (a number below 0)",
                    ),
                    (rec, "the KL is missing: the ELBO is reconstruction − KL"),
                    (
                        rec - kl.mean(),
                        "each example has its own KL: subtract the example's KL, not the batch mean",
                    ),
                    (
                        rec.mean() - kl,
                        "each example has its own reconstruction: don't average it over the batch",
                    ),
                    (rec - kl_logstd, "logvar is log σ², not log σ: the variance is exp(logvar)"),
                    (
                        rec - kl_no1,
                        "the Gaussian KL is ½ Σ (μ² + σ² − 1 − log σ²): the −1 is missing",
                    ),
                    (rec - 2 * kl, "the Gaussian KL has a factor ½"),
                    (rec - kl_var, "logvar is log σ²: the variance is exp(logvar), not logvar"),
                ],
                **tol,
            )
            return f"{case.name}: elbo is wrong: " + (
                hint
                or "the ELBO of each example is Σ_pixels log p(x|z) − KL(q(z|x) ‖ N(0, I)), β-free and unclamped"
            )
        got_loss = lo["value"].double()
        if not close(got_loss, expected["loss"], **tol):
            mrec = rec.mean()
            hint = diagnose(
                got_loss,
                [
                    (
                        -mrec + beta * kl.mean(),
                        "the loss ignores the free-bits floor: use free_bits_term (task 2) on the per-example KL per dimension",
                    ),
                    (
                        -mrec + kl.mean(),
                        "the loss ignores both β and the free-bits floor: −reconstruction + β·free-bits term",
                    ),
                    (-mrec + fb, "β is missing: the loss weighs the free-bits term by β"),
                    (-beta * mrec + fb, "β weighs the KL term, not the reconstruction"),
                    (beta * (-mrec + fb), "β weighs the KL term only, not the reconstruction"),
                    (-mrec / pixels + beta * fb, rec_hint),
                    (
                        mrec + beta * fb,
                        "sign: the loss to minimise is minus the log-likelihood plus β times the free-bits term",
                    ),
                    (
                        -mrec - beta * fb,
                        "sign: the free-bits term is added to the loss (it is a cost)",
                    ),
                    (
                        -rec.sum() + beta * fb,
                        "the reconstruction is summed over the batch: average it (nats per example, like the free-bits term)",
                    ),
                    (
                        b * (-mrec + beta * fb),
                        "the loss is summed over the batch: average it (nats per example)",
                    ),
                    (
                        -mrec + beta * fb_ex.mean(),
                        "the free bits were applied to each example: floor the batch-mean KL of each group (task 2)",
                    ),
                    (
                        -mrec + beta * kl_dims.mean(0).clamp(min=nats).sum(),
                        "each dimension was clamped at λ: with group_size > 1, clamp each group's total",
                    ),
                ],
                **tol,
            )
            return (
                f"{case.name}: loss is {fmt(float(got_loss))}, expected {fmt(float(expected['loss']))}: "
                + (
                    hint
                    or "−mean_B reconstruction + β · free_bits_term(per-example KL per dimension, λ, group_size)"
                )
            )
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


register(StrategyLoss())


# ============================================================================ mutual_information
class MutualInformation(Check):
    id = "ex09.mutual_information"
    function = "mutual_information"

    def cases(self, seed):
        g = _gen(seed)

        def case(n, d, mu_scale, lv_low, lv_high, dtype=torch.float32):
            mu = torch.randn(n, d, generator=g, dtype=torch.float64) * mu_scale
            logvar = lv_low + (lv_high - lv_low) * torch.rand(
                n, d, generator=g, dtype=torch.float64
            )
            z = mu + torch.exp(0.5 * logvar) * torch.randn(n, d, generator=g, dtype=torch.float64)
            return {"mu": mu.to(dtype), "logvar": logvar.to(dtype), "z": z.to(dtype)}

        ignore = case(100, 3, 0.0, 0.0, 0.0)
        near_zero = case(60, 4, 0.0, 0.0, 0.0)
        near_zero["z"] = near_zero["z"] * 0.1  # draws near the mean: the estimate is ≈ −d/2
        return [
            Case("N = 64 posteriors in d = 4, partly informative", case(64, 4, 1.0, -2.0, 0.0)),
            Case("N = 200, d = 2", case(200, 2, 1.5, -1.5, 0.5)),
            Case("codes that ignore x (every posterior N(0, I)), N = 100", ignore),
            Case(
                "codes that ignore x, on draws near 0 (this estimate is negative, about −d/2)",
                near_zero,
            ),
            Case(
                "codes that tell the examples apart (narrow, far apart), N = 50",
                case(50, 3, 8.0, -6.0, -4.0),
            ),
            Case("N = 5 well-separated posteriors", case(5, 2, 5.0, -3.0, -1.0)),
            Case("N = 2", case(2, 3, 1.0, -1.0, 0.0)),
            Case("float64, N = 80, d = 6", case(80, 6, 1.0, -3.0, 0.0, torch.float64)),
            Case(
                "wide posteriors in d = 20 (every density below 1e-45)",
                case(40, 20, 3.0, 8.0, 10.0),
            ),
            Case(
                "narrow posteriors in d = 20 (densities above 1e38)",
                case(40, 20, 0.3, -13.0, -11.0),
            ),
        ]

    def run(self, fn, inputs):
        def call():
            return fn(*(copy_input(inputs[k]) for k in ("mu", "logvar", "z")))

        first = call()
        torch.rand(17)  # move torch's global random state: the estimate must not draw
        return {"mi": first, "again": call()}

    def reference(self, case):
        i = case.inputs
        return ref_mutual_information(i["mu"], i["logvar"], i["z"])

    def _tolerance(self, case) -> float:
        i = case.inputs
        scale = 1.0 + float(_neg_entropy(i["logvar"]).abs().mean())
        return (1e-9 if i["mu"].dtype == torch.float64 else 2e-5) * scale

    def compare(self, case, out, expected):
        i = case.inputs
        o = out.get("mi", {"kind": "none"})
        problem = _number_problem(case, o, "the estimate")
        if problem:
            return problem
        got = float(o["value"])
        again = out.get("again", {}).get("value")
        tol = self._tolerance(case)
        if not math.isfinite(got):
            return (
                f"{case.name}: the estimate is {got}: the densities under- or overflow (exp of "
                "log-densities of hundreds of nats): stay with log-densities and combine the "
                "mixture with torch.logsumexp, minus log N"
            )
        if again is not None and not math.isclose(float(again), got, rel_tol=0, abs_tol=tol):
            return (
                f"{case.name}: two calls on the same inputs gave different estimates: use the z "
                "you are given (one draw per example); the estimate must not draw noise of its own"
            )
        if math.isclose(got, expected, rel_tol=0, abs_tol=tol):
            return None
        mu, lv, z = i["mu"].double(), i["logvar"].double(), i["z"].double()
        n, d = mu.shape
        comp = _log_components(mu, lv, z)
        negent = float(_neg_entropy(lv).mean())
        lse = torch.logsumexp(comp, dim=1)
        eye = torch.eye(n, dtype=torch.bool)
        others = torch.logsumexp(comp.masked_fill(eye, -math.inf), dim=1) if n > 1 else lse
        sampled = float(comp.diagonal().mean())
        var = lv.clamp(min=1e-300)
        as_var = _log_components(mu, var.log(), z)  # logvar read as the variance
        neg_as_var = float((-0.5 * (d * _LOG2PI + (1 + var.log()).sum(-1))).mean())
        as_std = _log_components(mu, 2 * lv, z)  # logvar read as log σ
        neg_as_std = float((-0.5 * (d * _LOG2PI + (1 + 2 * lv).sum(-1))).mean())
        dev = z[:, None, :] - mu[None, :, :]
        wrong_var = -0.5 * (dev**2 / lv.exp()[:, None, :]).sum(-1) - 0.5 * (
            d * _LOG2PI + lv.sum(-1)[:, None]
        )
        per_dim = (  # the mixture taken per dimension (as if q(z) factorised)
            -0.5 * dev**2 / lv.exp()[None] - 0.5 * (_LOG2PI + lv[None])
        )
        per_dim_lqz = (torch.logsumexp(per_dim, dim=1) - math.log(n)).sum(-1)
        logn = math.log(n)
        mi = expected
        variants = [
            (
                negent - float(lse.mean()),
                "the aggregate posterior is the average (1/N) Σ_j q(z|x_j): subtract log N after the log-sum-exp",
            ),
            (
                negent - float((others - math.log(n - 1)).mean()) if n > 1 else None,
                "the batch mixture includes every example's own posterior (j = i too): the reference sums over all N components",
            ),
            (
                negent - float((others - logn).mean()) if n > 1 else None,
                "the batch mixture includes every example's own posterior (j = i too): sum over all N components",
            ),
            (
                sampled - float(lse.mean()) + logn,
                "use the exact E[log q(z|x)] (minus the Gaussian entropy, −½ Σ (log 2π + 1 + log σ²)), not log q(z_i|x_i) at the one draw",
            ),
            (
                neg_as_var - float((torch.logsumexp(as_var, 1) - logn).mean()),
                "logvar is log σ²: the variance is exp(logvar), not logvar",
            ),
            (
                neg_as_std - float((torch.logsumexp(as_std, 1) - logn).mean()),
                "logvar is log σ², not log σ: the standard deviation is exp(logvar / 2)",
            ),
            (n * mi, "average over the N examples, not sum"),
            (
                negent - float(comp.mean(1).mean()),
                "log q(z_i) is the log of the mixture's density, the log of an average, not the average of the log-densities: use a log-sum-exp over the components",
            ),
            (
                negent - float((torch.logsumexp(comp, dim=0) - logn).mean()),
                "for each draw z_i, combine the N components j (the posteriors q(z_i|x_j)): the log-sum-exp runs over the components, not over the draws",
            ),
            (
                negent - float(per_dim_lqz.mean()),
                "the mixture is over the full d-dimensional Gaussians and does not factorise: sum the log-densities over the dimensions first, then take the log-sum-exp over the components",
            ),
            (
                negent - float((torch.logsumexp(wrong_var, 1) - logn).mean()),
                "component j's density q(z_i|x_j) uses x_j's mean and x_j's variance",
            ),
            (
                mi + d / 2,
                "the exact E[log q(z|x)] is −½ Σ (log 2π + 1 + log σ²): the +1 (E[ε²] = 1) is missing",
            ),
            (
                mi + d / 2 * _LOG2PI,
                "the constant −(d/2) log 2π belongs to both terms (or to neither)",
            ),
            (
                mi - d / 2 * _LOG2PI,
                "the constant −(d/2) log 2π belongs to both terms (or to neither)",
            ),
            (-mi, "the sign: I = E[log q(z|x)] − E[log q(z)]"),
            (mi / math.log(2), "the estimate is in nats (natural log), not bits"),
        ]
        hint = None
        for value, text in variants:
            if value is not None and math.isclose(got, value, rel_tol=1e-6, abs_tol=tol):
                hint = text
                break
        return f"{case.name}: I = {fmt(got)} nats, expected {fmt(expected)}: " + (
            hint
            or "mean over i of the exact E[log q(z|x_i)] minus log (1/N) Σ_j q(z_i|x_j), with log-densities"
        )


register(MutualInformation())


# ============================================================================ the derivation
class MILinearGaussian(Check):
    """A derivation: with x ~ N(0, 1) and q(z|x) = N(a x, s²), the aggregate posterior is
    N(0, a² + s²), so I_q(x; z) = H(z) − H(z|x) = ½ log(1 + a²/s²)."""

    id = "ex09.mi_linear_gaussian"
    function = "mi_linear_gaussian"

    def cases(self, seed):
        g = _gen(seed)

        def case(shape, dtype=torch.float32):
            a = (torch.randn(shape, generator=g) * 2).to(dtype)
            s2 = (0.05 + 3 * torch.rand(shape, generator=g)).to(dtype)
            return {"a": a, "s2": s2}

        return [
            Case("a and s² of shape (6,), some a < 0", case((6,))),
            Case("0-d tensors", case(())),
            Case(
                "a = 0 (z ignores x)",
                {"a": torch.zeros(4), "s2": torch.tensor([0.1, 0.5, 1.0, 4.0])},
            ),
            Case("a (3, 4) grid, float64", case((3, 4), torch.float64)),
            Case(
                "a²/s² from 1e-4 to 1e4",
                {
                    "a": torch.tensor([0.01, 0.3, 1.0, 3.0, 100.0]),
                    "s2": torch.tensor([1.0, 0.5, 2.0, 0.1, 1.0]),
                },
            ),
            Case(
                "s² = 1 (the prior's variance), a from −3 to 3",
                {"a": torch.linspace(-3, 3, 7), "s2": torch.ones(7)},
            ),
            Case(_DEVICE_CASE, {**case((5,)), "device": True}),
        ]

    def run(self, fn, inputs):
        a, s2 = copy_input(inputs["a"]), copy_input(inputs["s2"])
        if inputs.get("device"):
            a, s2 = a.to(other_device()), s2.to(other_device())
        return {"mi": fn(a, s2)}

    def reference(self, case):
        return ref_mi_linear_gaussian(case.inputs["a"].double(), case.inputs["s2"].double())

    def compare(self, case, out, expected):
        a, s2 = case.inputs["a"], case.inputs["s2"]
        if case.inputs.get("device"):
            return tensor_problem(case, out, "mi", shape=tuple(a.shape), device=other_device())
        problem = tensor_problem(case, out, "mi", shape=tuple(a.shape))
        if problem:
            o = out.get("mi", {})
            if o.get("kind") == "number":
                problem += ": compute with torch operations on the tensors (one value per entry)"
            return problem
        problem = tensor_problem(case, out, "mi", dtype=_dtype(a))
        if problem:
            return problem
        got = out["mi"]["value"].double()
        tol = {"rtol": 1e-5, "atol": 1e-6}
        if close(got, expected, **tol):
            return None
        a64, v = a.double(), s2.double()
        if not bool(torch.isfinite(got).all()):
            return (
                f"{case.name}: the result has NaN or inf: the variance of a·x is a²·Var(x) = a², "
                "not a (a may be negative), and s² > 0 everywhere"
            )
        r = a64**2 / v
        hint = diagnose(
            got,
            [
                (
                    0.5 * torch.log(a64**2 / v),
                    "the aggregate posterior's variance is a²·Var(x) + s² = a² + s²: the encoder's own noise s² adds to it",
                ),
                (
                    0.5 * (a64**2 + v - 1 - v.log()),
                    "that is the average KL to the prior N(0, 1), the rate, which bounds I_q from above; I_q measures against the aggregate posterior q(z) = N(0, a² + s²) instead",
                ),
                (
                    torch.log1p(r),
                    "the entropy of a Gaussian is ½ log(2πe σ²): a factor ½ is missing",
                ),
                (
                    0.25 * torch.log1p(r),
                    "H(z) − H(z|x) = ½ log(2πe(a² + s²)) − ½ log(2πe s²): one factor ½, not ¼",
                ),
                (0.5 * torch.log1p(a64.abs() / v), "the variance of a·x is a²·Var(x) = a², not a"),
                (
                    0.5 * torch.log1p(a64**2 / v**2),
                    "s2 is the variance s², not the standard deviation: don't square it again",
                ),
                (0.5 * torch.log1p(a64**2 / v.sqrt()), "s2 is already the variance s²"),
                (
                    0.5 * torch.log1p(v / a64**2),
                    "the ratio is upside down: more signal (larger a²) means more information",
                ),
                (0.5 * r, "that is the first-order approximation for small a²/s²: take the log"),
                (0.5 * torch.log1p(r) / math.log(2), "in nats (natural log), not bits"),
                (
                    0.5 * torch.log(a64**2 + v),
                    "that is H(z) without its constants: subtract H(z|x) = ½ log(2πe s²) and keep the same constants in both",
                ),
                (-0.5 * torch.log1p(r), "the sign: I = H(z) − H(z|x) ≥ 0"),
                (
                    0.5 * torch.log1p(a64**2 * v),
                    "divide by s²: the ratio of the aggregate variance a² + s² to the noise variance s²",
                ),
            ],
            **tol,
        )
        i = int((got - expected).abs().reshape(-1).argmax())
        return (
            f"{case.name}: at a = {fmt(float(a64.reshape(-1)[i]))}, s² = {fmt(float(v.reshape(-1)[i]))} "
            f"you give {fmt(float(got.reshape(-1)[i]))} nats, expected {fmt(float(expected.reshape(-1)[i]))}: "
            + (hint or "I = H(z) − H(z|x), with q(z) = N(0, a² + s²) and q(z|x) = N(a x, s²)")
        )


register(MILinearGaussian())


# ============================================================================ predict, then run
class PredictFreeBitsDims(ChoiceCheck):
    """Predict-then-run: how many of 64 latent dimensions end above 0.1 nats with free bits
    λ = 0.25 per dimension (the exercise's run: 784-512-256-64, 4 epochs; constant β = 1
    leaves 4–10, free bits 62–64, over seeds 0–5; see tests/test_grading_ex09.py)."""

    id = "ex09.predict_free_bits_dims"
    function = "prediction_free_bits_dims"
    choices = (
        "a quarter or fewer (16 or fewer), as with constant β = 1",
        "between a quarter and three quarters (17 to 48)",
        "more than three quarters (over 48)",
    )
    answer = "more than three quarters (over 48)"
    hints = {
        "a quarter or fewer (16 or fewer), as with constant β = 1": "free bits do not only stop "
        "the KL from pushing a dimension below λ: below its floor a dimension has no KL "
        "gradient at all, so the decoder's gradient alone moves it, and any use it finds costs "
        "nothing. Count the dimensions above 0.1 nats in both runs below",
        "between a quarter and three quarters (17 to 48)": "more: below λ = 0.25 nats a "
        "dimension costs nothing, so even a dimension the decoder barely uses drifts up towards "
        "its free budget. Count the dimensions above 0.1 nats in both runs below",
    }


register(PredictFreeBitsDims())
