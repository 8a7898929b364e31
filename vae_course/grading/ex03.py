"""Checks of exercise set ``ex03_reparameterization`` (notebook 03).

Tasks (function the learner writes → check id):

* ``reparameterized_sample(mu, logvar, eps)`` → ``ex03.reparameterized_sample``
* ``score_function_gradient(f, mu, logvar, eps, baseline=0.0)`` → ``ex03.score_function_gradient``
* ``reparameterization_gradient(f, mu, logvar, eps)`` → ``ex03.reparameterization_gradient``
* ``mean_and_se(samples)`` → ``ex03.mean_and_se``
* ``exp_expectation_gradient(mu, logvar)`` → ``ex03.exp_expectation_gradient`` (a derivation)

The noise ``eps`` is an input, so the gradient estimators are deterministic and compared
per sample. The test functions ``f`` are chosen by name (inputs must be plain data) from
:data:`TEST_FUNCTIONS`. References: :func:`vae_course.estimators.mean_and_se` and the
gradients' closed forms (score ``∇ log q``) or autograd through ``z = mu + σ·eps``.
"""

from __future__ import annotations

import math

import torch

from ..estimators import mean_and_se as ref_mean_and_se
from .checks import Case, Check, ChoiceCheck, close, copy_input, diagnose, register, tensor_problem
from .checks import dtype_name as _dtype
from .checks import output_tensor as _values
from .checks import seeded_generator as _gen
from .checks import worst_element as _worst

__all__ = [
    "TEST_FUNCTIONS",
    "ReparameterizedSample",
    "ScoreFunctionGradient",
    "ReparameterizationGradient",
    "MeanAndSE",
    "ExpExpectationGradient",
    "ref_reparameterized_sample",
    "ref_exp_expectation_gradient",
]


def _square(z):
    return (z**2).sum(-1)


def _cos(z):
    return torch.cos(2 * z).sum(-1) + z[..., 0]


def _softplus(z):
    return torch.nn.functional.softplus(z).sum(-1)


def _step(z):
    return (z > 0.5).to(z.dtype).sum(-1)


#: f(z): (n, d) -> (n,), by name. "step" has zero gradient almost everywhere.
TEST_FUNCTIONS = {
    "sum of z²": _square,
    "cos(2z) + z₀": _cos,
    "softplus(z)": _softplus,
    "step (z > 0.5)": _step,
}


def ref_reparameterized_sample(mu, logvar, eps):
    """z = mu + exp(logvar / 2) · eps."""
    return mu + torch.exp(0.5 * logvar) * eps


def _grad_inputs(g, n, D, dtype=torch.float64, scale=1.0):
    mu = torch.randn(D, generator=g, dtype=dtype) * scale
    logvar = torch.randn(D, generator=g, dtype=dtype) * 0.7
    eps = torch.randn(n, D, generator=g, dtype=dtype)
    return {"mu": mu, "logvar": logvar, "eps": eps}


def _grad_pair(res):
    if isinstance(res, (tuple, list)) and len(res) == 2:
        return {"grad_mu": res[0], "grad_logvar": res[1]}
    return {"grad_mu": res, "single": True}


def _pair_problem(case, out, n, D, dtype):
    if out.get("single", {}).get("value"):
        o = out["grad_mu"]
        got = (
            f"one tensor {tuple(o['shape'])}" if o["kind"] == "tensor" else o.get("type", o["kind"])
        )
        return (
            f"{case.name}: expected a pair (grad_mu, grad_logvar), got {got}: return both, "
            "in this order"
        )
    for name in ("grad_mu", "grad_logvar"):
        o = out.get(name, {})
        problem = tensor_problem(case, out, name, shape=(n, D), what=f"{name} as a tensor")
        if problem:
            if o.get("kind") == "tensor" and tuple(o["shape"]) == (D,):
                problem += (
                    ": return one gradient per sample, (n, d), not their mean: the "
                    "spread of the samples is what we compare next"
                )
            return problem
        problem = tensor_problem(case, out, name, dtype=dtype)
        if problem:
            return problem
    return None


# ============================================================================ sample
class ReparameterizedSample(Check):
    id = "ex03.reparameterized_sample"
    function = "reparameterized_sample"

    def cases(self, seed):
        g = _gen(seed)

        def triple(*shape, dtype=torch.float32):
            return {
                "mu": torch.randn(*shape, generator=g, dtype=dtype) * 2,
                "logvar": torch.rand(*shape, generator=g, dtype=dtype) * 6 - 3,
                "eps": torch.randn(*shape, generator=g, dtype=dtype),
            }

        k_samples = triple(3, 4)
        k_samples["eps"] = torch.randn(5, 3, 4, generator=g)
        return [
            Case("batch of 64, d=20", triple(64, 20)),
            Case("batch of 1", triple(1, 5)),
            Case("K=5 samples per example: eps (5, B, d), mu (B, d)", k_samples),
            Case("float64 input", triple(6, 3, dtype=torch.float64)),
            Case("logvar = 0 (σ = 1)", {**triple(4, 2), "logvar": torch.zeros(4, 2)}),
        ]

    def run(self, fn, inputs):
        mu = copy_input(inputs["mu"]).requires_grad_(True)
        logvar = copy_input(inputs["logvar"]).requires_grad_(True)
        torch.manual_seed(4321)
        z = fn(mu, logvar, inputs["eps"])  # eps must be left unchanged (checked after the call)
        out = {"z": z}
        if isinstance(z, torch.Tensor) and z.requires_grad:
            g_mu, g_lv = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
            out["grad_mu"], out["grad_logvar"] = g_mu, g_lv
        torch.manual_seed(4321)
        with torch.no_grad():
            out["z_neg"] = fn(mu, logvar, -inputs["eps"])
        return out

    def reference(self, case):
        i = case.inputs
        return ref_reparameterized_sample(i["mu"].double(), i["logvar"].double(), i["eps"].double())

    def compare(self, case, out, expected):
        i = case.inputs
        mu, lv, eps = i["mu"].double(), i["logvar"].double(), i["eps"].double()
        problem = tensor_problem(case, out, "z", shape=tuple(expected.shape))
        problem = problem or tensor_problem(case, out, "z", dtype=_dtype(i["mu"]))
        if problem:
            return problem
        z = out["z"]["value"].double()
        tol = {"rtol": 1e-5, "atol": 1e-5}
        if not close(z, expected, **tol):
            if not torch.isfinite(z).all():
                return f"{case.name}: z contains NaN/inf"
            z_neg = _values(out, "z_neg")
            if z_neg is not None and torch.equal(z_neg.double(), z):
                return (
                    f"{case.name}: z does not depend on eps: use the eps given "
                    "(don't draw your own noise), z = mu + σ·eps"
                )
            if close(z, mu.expand_as(z), **tol):
                return f"{case.name}: z equals mu: add the noise σ·eps"
            hint = diagnose(
                z,
                [
                    (
                        mu + torch.exp(lv) * eps,
                        "did you use logvar as log-std? σ = exp(logvar / 2)",
                    ),
                    (mu + lv * eps, "logvar is not σ: σ = exp(logvar / 2)"),
                    (mu + torch.exp(0.5 * lv), "eps is missing: z = mu + σ·eps"),
                    (mu + torch.exp(0.5 * lv) + eps, "σ multiplies eps; it is not added"),
                    (eps + mu * torch.exp(0.5 * lv), "σ scales the noise, not the mean"),
                    (mu - torch.exp(0.5 * lv) * eps, "wrong sign: z = mu + σ·eps"),
                ],
                **tol,
            )
            k, g, e = _worst(z, expected)
            return f"{case.name}: element {k} of z is {g}, expected {e}: " + (
                hint or "z = mu + exp(logvar / 2) · eps"
            )
        if not out["z"]["requires_grad"]:
            return (
                f"{case.name}: z is not connected to mu and logvar in the autograd graph: "
                "no .detach(), torch.no_grad() or torch.normal; gradients must flow "
                "through the sample"
            )
        g_lv = _values(out, "grad_logvar")
        want = (0.5 * torch.exp(0.5 * lv) * eps).sum(0) if eps.dim() > mu.dim() else None
        if want is None:
            want = 0.5 * torch.exp(0.5 * lv) * eps
        if g_lv is None or not close(g_lv, want, rtol=1e-4, atol=1e-5):
            return (
                f"{case.name}: the values of z are right but ∂z/∂logvar is wrong: "
                "compute σ from logvar with differentiable torch operations"
            )
        return None


# ============================================================================ gradients
def _ref_score(f, mu, logvar, eps, baseline=0.0):
    """Per-sample score-function gradients, in closed form: (f(z) − b)·∇ log q(z)."""
    sigma = torch.exp(0.5 * logvar)
    z = mu + sigma * eps
    fz = (f(z) - baseline).unsqueeze(-1)
    return fz * eps / sigma, fz * 0.5 * (eps**2 - 1)


def _ref_pathwise(f, mu, logvar, eps, sigma_pow=0.5):
    """Per-sample pathwise gradients ∇f(z)·∂z/∂(mu, logvar) for z = mu + exp(p·logvar)·eps.

    p = ½ is the right parameterization (σ = exp(logvar / 2)); p = 1 is the log-std mistake.
    """
    scale = torch.exp(sigma_pow * logvar)
    z = (mu + scale * eps).detach().requires_grad_(True)
    (df,) = torch.autograd.grad(f(z).sum(), z, allow_unused=True)
    if df is None:
        df = torch.zeros_like(z)
    return df, df * sigma_pow * scale * eps


class ScoreFunctionGradient(Check):
    id = "ex03.score_function_gradient"
    function = "score_function_gradient"

    def cases(self, seed):
        g = _gen(seed)
        return [
            Case("f = sum of z², n=50 samples, d=3", {**_grad_inputs(g, 50, 3), "f": "sum of z²"}),
            Case("f = cos(2z) + z₀, d=2", {**_grad_inputs(g, 20, 2), "f": "cos(2z) + z₀"}),
            Case(
                "f = step (z > 0.5), not differentiable",
                {**_grad_inputs(g, 30, 4), "f": "step (z > 0.5)"},
            ),
            Case(
                "with a baseline b = 2.5",
                {**_grad_inputs(g, 40, 3), "f": "sum of z²", "baseline": 2.5},
            ),
            Case("one sample, d=1", {**_grad_inputs(g, 1, 1), "f": "softplus(z)"}),
        ]

    def run(self, fn, inputs):
        f = TEST_FUNCTIONS[inputs["f"]]
        args = (copy_input(inputs["mu"]), copy_input(inputs["logvar"]), copy_input(inputs["eps"]))
        if "baseline" in inputs:
            res = fn(f, *args, baseline=inputs["baseline"])
        else:
            res = fn(f, *args)
        return _grad_pair(res)

    def reference(self, case):
        i = case.inputs
        return _ref_score(
            TEST_FUNCTIONS[i["f"]], i["mu"], i["logvar"], i["eps"], i.get("baseline", 0.0)
        )

    def compare(self, case, out, expected):
        i = case.inputs
        f = TEST_FUNCTIONS[i["f"]]
        mu, lv, eps, b = i["mu"], i["logvar"], i["eps"], i.get("baseline", 0.0)
        n, D = eps.shape
        problem = _pair_problem(case, out, n, D, _dtype(mu))
        if problem:
            return problem
        gm, gl = out["grad_mu"]["value"].double(), out["grad_logvar"]["value"].double()
        want_m, want_l = expected
        tol = {"rtol": 1e-6, "atol": 1e-8}
        m_ok, l_ok = close(gm, want_m, **tol), close(gl, want_l, **tol)
        if m_ok and l_ok:
            return None
        sigma = torch.exp(0.5 * lv)
        z = mu + sigma * eps
        fz = f(z).unsqueeze(-1)
        path_m, path_l = _ref_pathwise(f, mu, lv, eps)
        log_q = (-0.5 * (math.log(2 * math.pi) + lv + eps**2)).sum(-1, keepdim=True)
        through_f = (
            "f(z) was differentiated too: the score-function estimator treats f as a "
            "black box; draw z under torch.no_grad() (or detach it) and differentiate "
            "only log q(z)"
        )
        common = [
            ((want_m + path_m, want_l + path_l), through_f),
            ((want_m + path_m * log_q, want_l + path_l * log_q), through_f),
            ((path_m * log_q, path_l * log_q - 0.5 * fz), through_f),
            (
                _ref_score(f, mu, lv, eps, 0.0) if b else None,
                "the baseline is ignored: use (f(z) − baseline)",
            ),
            (
                _ref_score(f, mu, lv, eps, -b) if b else None,
                "the baseline is added: subtract it, (f(z) − baseline)",
            ),
            ((-want_m, -want_l), "wrong sign: ∇ log q(z) = +(z − mu)/σ² for the mean"),
            (
                (want_m.mean(0).expand_as(want_m), want_l.mean(0).expand_as(want_l)),
                "every row is the mean over samples: return one gradient per sample",
            ),
        ]
        for pair, hint in common:
            if pair is not None and close(gm, pair[0], **tol) and close(gl, pair[1], **tol):
                return f"{case.name}: {hint}"
        if not m_ok:
            hint = diagnose(
                gm,
                [
                    (eps / sigma, "f(z) is missing: the estimator is (f(z) − b)·∇ log q(z)"),
                    (fz * eps, "∇_mu log q(z) = (z − mu)/σ², divided by σ², not σ"),
                    (fz * eps / sigma**2, "∇_mu log q(z) = (z − mu)/σ², with z − mu = σ·eps"),
                    (fz * (z - mu), "∇_mu log q(z) = (z − mu)/σ²: divide by σ² = exp(logvar)"),
                ],
                **tol,
            )
            k, g, e = _worst(gm, want_m)
            return f"{case.name}: grad_mu element {k} (sample {k // D}) is {g}, expected {e}: " + (
                hint or "per sample, (f(z) − baseline)·(z − mu)/σ²"
            )
        hint = diagnose(
            gl,
            [
                (
                    fz * (eps**2 - 1),
                    "∇_logvar log q(z) = ½((z − mu)²/σ² − 1): the factor ½ is missing (that "
                    "is the gradient with respect to log σ; logvar is log σ²)",
                ),
                (fz * 0.5 * eps**2, "∇_logvar log q(z) = ½((z − mu)²/σ² − 1): the −1 is missing"),
                (0.5 * (eps**2 - 1), "f(z) is missing: the estimator is (f(z) − b)·∇ log q(z)"),
            ],
            **tol,
        )
        k, g, e = _worst(gl, want_l)
        return f"{case.name}: grad_logvar element {k} (sample {k // D}) is {g}, expected {e}: " + (
            hint or "per sample, (f(z) − baseline)·½((z − mu)²/σ² − 1)"
        )


class ReparameterizationGradient(Check):
    id = "ex03.reparameterization_gradient"
    function = "reparameterization_gradient"
    uses = ("reparameterized_sample",)

    def references(self):
        return {"reparameterized_sample": ref_reparameterized_sample}

    def cases(self, seed):
        g = _gen(seed)
        return [
            Case("f = sum of z², n=50 samples, d=3", {**_grad_inputs(g, 50, 3), "f": "sum of z²"}),
            Case("f = cos(2z) + z₀, d=2", {**_grad_inputs(g, 20, 2), "f": "cos(2z) + z₀"}),
            Case("f = softplus(z), d=4", {**_grad_inputs(g, 30, 4), "f": "softplus(z)"}),
            Case("one sample, d=1", {**_grad_inputs(g, 1, 1), "f": "sum of z²"}),
            Case(
                "float32 input",
                {**_grad_inputs(g, 10, 2, dtype=torch.float32), "f": "cos(2z) + z₀"},
            ),
        ]

    def run(self, fn, inputs):
        f = TEST_FUNCTIONS[inputs["f"]]
        args = (copy_input(inputs["mu"]), copy_input(inputs["logvar"]), copy_input(inputs["eps"]))
        return _grad_pair(fn(f, *args))

    def reference(self, case):
        i = case.inputs
        f = TEST_FUNCTIONS[i["f"]]
        return _ref_pathwise(f, i["mu"].double(), i["logvar"].double(), i["eps"].double())

    def compare(self, case, out, expected):
        i = case.inputs
        f = TEST_FUNCTIONS[i["f"]]
        mu, lv, eps = i["mu"].double(), i["logvar"].double(), i["eps"].double()
        n, D = eps.shape
        problem = _pair_problem(case, out, n, D, _dtype(i["mu"]))
        if problem:
            return problem
        gm, gl = out["grad_mu"]["value"].double(), out["grad_logvar"]["value"].double()
        want_m, want_l = expected
        tol = {"rtol": 1e-4, "atol": 1e-5} if i["mu"].dtype == torch.float32 else {}
        tol = tol or {"rtol": 1e-6, "atol": 1e-8}
        m_ok, l_ok = close(gm, want_m, **tol), close(gl, want_l, **tol)
        if m_ok and l_ok:
            return None
        std_m, std_l = _ref_pathwise(f, mu, lv, eps, sigma_pow=1.0)
        if close(gm, std_m, **tol) and close(gl, std_l, **tol):
            return (
                f"{case.name}: z = mu + exp(logvar)·eps uses logvar as log-std: σ = exp(logvar / 2)"
            )
        if close(gm, want_m.mean(0).expand_as(gm), **tol):
            return (
                f"{case.name}: every row is the mean over samples: return one gradient per sample"
            )
        if not m_ok:
            hint = diagnose(
                gm,
                [(-want_m, "wrong sign"), (torch.zeros_like(gm), "no gradient reached mu")],
                **tol,
            )
            k, g, e = _worst(gm, want_m)
            return f"{case.name}: grad_mu element {k} (sample {k // D}) is {g}, expected {e}: " + (
                hint or "per sample, ∂f(z)/∂mu = ∇f(z) at z = mu + σ·eps"
            )
        sigma = torch.exp(0.5 * lv)
        hint = diagnose(
            gl,
            [
                (want_m, "this is ∇f(z); the chain rule adds ∂z/∂logvar = ½ σ·eps"),
                (want_m * sigma * eps, "∂z/∂logvar = ½ σ·eps: the factor ½ is missing"),
                (want_m * 0.5 * eps, "∂z/∂logvar = ½ σ·eps: σ is missing"),
                (torch.zeros_like(gl), "no gradient reached logvar: build z from logvar"),
            ],
            **tol,
        )
        k, g, e = _worst(gl, want_l)
        return f"{case.name}: grad_logvar element {k} (sample {k // D}) is {g}, expected {e}: " + (
            hint or "per sample, ∇f(z)·½σ·eps (autograd through z = mu + σ·eps)"
        )

    def explain_error(self, case, error):
        msg = super().explain_error(case, error)
        if "does not require grad" in error or "not have a grad_fn" in error:
            msg += (
                ": mu and logvar need requires_grad=True (use detached copies, "
                "mu.detach().expand(n, -1).clone().requires_grad_()) and z must be built "
                "from them"
            )
        return msg


# ============================================================================ mean and SE
class MeanAndSE(Check):
    id = "ex03.mean_and_se"
    function = "mean_and_se"

    def cases(self, seed):
        g = _gen(seed)
        return [
            Case("1000 samples of 3 values", {"s": torch.randn(1000, 3, generator=g) * 2 + 1}),
            Case("5 samples (where n − 1 vs n matters)", {"s": torch.randn(5, 4, generator=g)}),
            Case("2 samples", {"s": torch.randn(2, 1, generator=g)}),
            Case(
                "1-D input: 200 scalar samples",
                {"s": torch.randn(200, generator=g, dtype=torch.float64)},
            ),
            Case("float64, (50, 2, 3) samples", {"s": torch.randn(50, 2, 3, generator=g).double()}),
            Case(  # E[s²] − E[s]² cancels catastrophically here: compute the spread directly
                "a large mean (1e8) and a small spread, float64",
                {"s": (1e8 + torch.randn(100, 2, generator=g, dtype=torch.float64))},
            ),
        ]

    def run(self, fn, inputs):
        res = fn(copy_input(inputs["s"]))
        if isinstance(res, (tuple, list)) and len(res) == 2:
            return {"mean": res[0], "se": res[1]}
        return {"mean": res, "single": True}

    def reference(self, case):
        return ref_mean_and_se(case.inputs["s"].double(), dim=0)

    def compare(self, case, out, expected):
        s = case.inputs["s"]
        n = s.shape[0]
        if out.get("single", {}).get("value"):
            return f"{case.name}: expected a pair (mean, se): return both, in this order"
        for name in ("mean", "se"):
            problem = tensor_problem(case, out, name, shape=tuple(s.shape[1:]))
            if problem:
                o = out.get(name, {})
                if o.get("kind") == "tensor" and tuple(o["shape"]) in ((), (1,)):
                    problem += ": reduce over the samples (dim=0) only"
                return problem
            problem = tensor_problem(case, out, name, dtype=_dtype(s))
            if problem:
                return problem
        mean, se = out["mean"]["value"].double(), out["se"]["value"].double()
        want_mean, want_se = expected
        tol = {"rtol": 1e-5, "atol": 1e-6}
        if not close(mean, want_mean, **tol):
            k, g, e = _worst(mean, want_mean)
            return f"{case.name}: mean element {k} is {g}, expected {e}: average over dim=0"
        if close(se, want_se, **tol):
            return None
        s64 = s.double()
        sd = s64.std(0)
        hint = diagnose(
            se,
            [
                (
                    sd,
                    "this is the standard deviation of the samples; the SE of their mean "
                    "divides it by √n",
                ),
                (want_se**2, "this is the variance of the mean; the SE is its square root"),
                (
                    s64.std(0, correction=0) / math.sqrt(n),
                    "use the sample standard deviation with n − 1 (torch's default, "
                    "correction=1), so the SE is not biased low for small n",
                ),
                (sd / n, "divide the standard deviation by √n, not n"),
                (s64.var(0) / math.sqrt(n), "use the standard deviation, not the variance"),
            ],
            **tol,
        )
        k, g, e = _worst(se, want_se)
        return f"{case.name}: se element {k} is {g}, expected {e}: " + (
            hint or "SE = std(samples, dim=0) / √n"
        )


# ============================================================================ derivation: exact gradient
def ref_exp_expectation_gradient(mu, logvar):
    """Exact ∇ of E_{z ~ N(mu, σ²)}[Σ_j exp(z_j)] = Σ_j exp(mu_j + σ_j²/2) (a log-normal mean).

    Returns (∂/∂mu, ∂/∂logvar), each the shape of ``mu``: ``m`` and ``m σ² / 2`` with
    ``m = exp(mu + σ²/2)`` (σ² = exp(logvar), so ∂σ²/∂logvar = σ²). Checked against a
    pathwise Monte Carlo estimate in ``tests/test_grading_derivations.py``.
    """
    var = torch.exp(logvar)
    m = torch.exp(mu + 0.5 * var)
    return m, 0.5 * m * var


class ExpExpectationGradient(Check):
    """A derivation: the exact gradient that the estimators of this set estimate."""

    id = "ex03.exp_expectation_gradient"
    function = "exp_expectation_gradient"

    def cases(self, seed):
        g = _gen(seed)

        def pair(*shape, dtype=torch.float64):
            return {
                "mu": torch.randn(*shape, generator=g, dtype=dtype),
                "logvar": torch.randn(*shape, generator=g, dtype=dtype),
            }

        return [
            Case("batch of 6, d=3", pair(6, 3)),
            Case("batch of 1, d=5", pair(1, 5)),
            Case("σ² = 1 (logvar = 0)", {**pair(4, 2), "logvar": torch.zeros(4, 2)}),
            Case(
                "a wide range of σ² (logvar from −6 to 2)",
                # uniform on [-6, 2] as the name says: randn * 2 reached logvar 7.3 at seed
                # 130, where exp(mu + σ²/2) overflows float64 and inf == inf was judged wrong
                {
                    **pair(8, 4),
                    "logvar": torch.rand(8, 4, generator=g, dtype=torch.float64) * 8 - 6,
                },
            ),
            Case("float32 inputs", pair(5, 2, dtype=torch.float32)),
        ]

    def run(self, fn, inputs):
        res = fn(copy_input(inputs["mu"]), copy_input(inputs["logvar"]))
        if isinstance(res, (tuple, list)) and len(res) == 2:
            return {"grad_mu": res[0], "grad_logvar": res[1]}
        return {"grad_mu": res, "single": True}

    def reference(self, case):
        i = case.inputs
        return ref_exp_expectation_gradient(i["mu"].double(), i["logvar"].double())

    def compare(self, case, out, expected):
        i = case.inputs
        mu, lv = i["mu"].double(), i["logvar"].double()
        if out.get("single", {}).get("value"):
            return f"{case.name}: expected a pair (grad_mu, grad_logvar): return both"
        for name in ("grad_mu", "grad_logvar"):
            problem = tensor_problem(case, out, name, shape=tuple(mu.shape))
            problem = problem or tensor_problem(case, out, name, dtype=_dtype(i["mu"]))
            if problem:
                return problem
        g_mu, g_lv = out["grad_mu"]["value"].double(), out["grad_logvar"]["value"].double()
        want_mu, want_lv = expected
        tol = {"rtol": 1e-4, "atol": 1e-6}
        var, m = lv.exp(), want_mu
        if close(g_mu, want_lv, **tol) and close(g_lv, want_mu, **tol):
            return f"{case.name}: the two gradients are swapped: return (∂/∂mu, ∂/∂logvar)"
        if not close(g_mu, want_mu, **tol):
            hint = diagnose(
                g_mu,
                [
                    (
                        mu.exp(),
                        "E[exp(z)] is not exp(mu): the spread adds to it, "
                        "E[exp(z)] = exp(mu + σ²/2) (complete the square in the integral)",
                    ),
                    (torch.exp(mu + var), "E[exp(z)] = exp(mu + σ²/2): the exponent has σ²/2"),
                    (torch.exp(mu + 0.5 * var.sqrt()), "the exponent has the variance σ², not σ"),
                ],
                **tol,
            )
            k, gv, e = _worst(g_mu, want_mu)
            return f"{case.name}: ∂/∂mu element {k} is {gv}, expected {e}: " + (
                hint or "write E[exp(z)] in closed form first, then differentiate"
            )
        if close(g_lv, want_lv, **tol):
            return None
        hint = diagnose(
            g_lv,
            [
                (
                    0.5 * m,
                    "that is ∂/∂σ²; the parameter is logvar, and ∂σ²/∂logvar = σ² "
                    "(chain rule): multiply by σ²",
                ),
                (m * var.sqrt(), "that is ∂/∂σ; the parameter is logvar = log σ²"),
                (m * var, "the exponent is mu + σ²/2, so the derivative has the factor ½"),
                (torch.zeros_like(m), "the expectation depends on σ² too"),
            ],
            **tol,
        )
        k, gv, e = _worst(g_lv, want_lv)
        return f"{case.name}: ∂/∂logvar element {k} is {gv}, expected {e}: " + (
            hint or "differentiate exp(mu + exp(logvar)/2) with respect to logvar"
        )


for _c in (
    ReparameterizedSample(),
    ScoreFunctionGradient(),
    ReparameterizationGradient(),
    MeanAndSE(),
    ExpExpectationGradient(),
):
    register(_c)


class PredictSpread(ChoiceCheck):
    """Predict-then-run: which per-sample gradients are more spread out."""

    id = "ex03.predict_spread"
    function = "prediction_spread"
    choices = ("score function", "reparameterization", "about the same")
    answer = "score function"
    hints = {
        "reparameterization": "the pathwise gradient uses only the slope of f at each sample, "
        "while the other estimator multiplies the whole value f(z) by a noisy score",
        "about the same": "both are unbiased, but that says nothing about their spread: "
        "notebook 03, section 4 measures it",
    }


register(PredictSpread())
