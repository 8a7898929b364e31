"""Checks of exercise set ``ex01_latent_variable_models`` (notebook 01).

Tasks (function the learner writes → check id):

* ``sample_linear_gaussian(W, b, x_var, n, generator=None)`` → ``ex01.sample_linear_gaussian``
* ``log_mean_exp(a, dim=0)`` → ``ex01.log_mean_exp``
* ``naive_mc_log_px(model, x, k, generator=None)`` → ``ex01.naive_mc_log_px``
* ``ppca_log_marginal(x, W, b, x_var)`` → ``ex01.ppca_log_marginal``
* ``linear_gaussian_posterior(x, W, b, x_var)`` → ``ex01.linear_gaussian_posterior`` (a derivation)

References are the course's own implementations (:mod:`vae_course.toy`,
:mod:`vae_course.losses`). Random outputs are judged by statistics whose tolerances come
from standard errors (≥ 5 SE, so a right answer fails less than once in a million runs),
and by repeatability with a seeded ``torch.Generator``.
"""

from __future__ import annotations

import math

import torch

from ..distributions import LOG_2PI
from ..losses import log_mean_exp as ref_log_mean_exp
from ..toy import LinearGaussian
from .checks import (
    Case,
    Check,
    ChoiceCheck,
    RecordingModel,
    close,
    copy_input,
    diagnose,
    draw_count_problem,
    draw_counts,
    fmt,
    generator_problem,
    generator_runs,
    independence_problem,
    normal_tail_problem,
    register,
    tensor_problem,
)
from .checks import dtype_name as _dtype
from .checks import output_tensor as _values
from .checks import seeded_generator as _gen
from .checks import worst_element as _worst

__all__ = [
    "SampleLinearGaussian",
    "LogMeanExp",
    "NaiveMCLogPx",
    "PPCALogMarginal",
    "LinearGaussianPosterior",
]


def _model_params(g, data_dim, latent_dim, x_var, dtype=torch.float64):
    W = torch.randn(data_dim, latent_dim, generator=g, dtype=dtype) / math.sqrt(latent_dim)
    b = torch.randn(data_dim, generator=g, dtype=dtype)
    return {"W": W, "b": b, "x_var": float(x_var)}


def _pair(out):
    """Split a returned ``(x, z)`` pair into two outputs (only ``x`` if it is not a pair)."""
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return {"x": out[0], "z": out[1]}
    return {"x": out}


# ============================================================================ sampling
class SampleLinearGaussian(Check):
    id = "ex01.sample_linear_gaussian"
    function = "sample_linear_gaussian"

    def cases(self, seed):
        g = _gen(seed)
        cases = [
            Case(
                "20000 samples, D=3, d=2, σ²=0.25",
                {**_model_params(g, 3, 2, 0.25), "n": 20_000, "stats": True},
            ),
            Case(
                "20000 samples, D=4, d=1, σ²=2",
                {**_model_params(g, 4, 1, 2.0), "n": 20_000, "stats": True},
            ),
            Case("n = 1", {**_model_params(g, 3, 2, 0.5), "n": 1}),
            Case(
                "float32 W and b (D=5, d=3)",
                {**_model_params(g, 5, 3, 0.1, dtype=torch.float32), "n": 7},
            ),
        ]
        for i, c in enumerate(cases):
            c.inputs["seed"] = int(seed) + i
            c.inputs["gen_seed"] = int(seed) * 7 + 1000 + i
        return cases

    def run(self, fn, inputs):
        def call(gen):
            return fn(
                copy_input(inputs["W"]),
                copy_input(inputs["b"]),
                inputs["x_var"],
                inputs["n"],
                generator=gen,
            )

        runs = generator_runs(call, inputs["gen_seed"])
        out = _pair(runs["first"])
        if "z" in out:
            for key in ("again", "other"):
                if isinstance(runs[key], (tuple, list)) and len(runs[key]) == 2:
                    out[f"x_{key}"] = runs[key][0]
        return out

    def compare(self, case, out, expected):
        inp = case.inputs
        W, b, x_var, n = inp["W"], inp["b"], inp["x_var"], inp["n"]
        D, d = W.shape
        if "z" not in out:
            o = out.get("x", {})
            got = "None" if o.get("kind") == "none" else o.get("type", o.get("kind"))
            if o.get("kind") == "tensor":
                got = f"one tensor of shape {tuple(o['shape'])}"
            return f"{case.name}: expected a pair (x, z), got {got}: return x, z (in this order)"
        ox, oz = out["x"], out["z"]
        if (
            ox.get("kind") == "tensor"
            and oz.get("kind") == "tensor"
            and tuple(ox["shape"]) == (n, d)
            and tuple(oz["shape"]) == (n, D)
        ):
            return f"{case.name}: x and z are swapped: return (x, z), x of shape (n, D) first"
        dtype = _dtype(W)
        problem = tensor_problem(case, out, "z", shape=(n, d), what="a tensor z of latent codes")
        problem = problem or tensor_problem(case, out, "x", shape=(n, D), what="a tensor x of data")
        problem = problem or tensor_problem(case, out, "z", dtype=dtype)
        problem = problem or tensor_problem(case, out, "x", dtype=dtype)
        if problem:
            return problem
        x, z = ox["value"].double(), oz["value"].double()
        if not (torch.isfinite(x).all() and torch.isfinite(z).all()):
            return f"{case.name}: the samples contain NaN/inf"
        problem = generator_problem(case, out, names=("x", "x_again", "x_other"))
        if problem:
            return problem
        if not inp.get("stats"):
            return None
        W64, b64 = W.double(), b.double()
        # z ~ N(0, I)
        zm, zs = z.mean(0), z.std(0)
        if float(zm.abs().max()) > 6 / math.sqrt(n) or float((zs - 1).abs().max()) > 0.05:
            hint = "draw z from the prior N(0, I) with torch.randn"
            if float(z.min()) >= 0 and float((zm - 0.5).abs().max()) < 0.05:
                hint = "z looks uniform on [0, 1): use torch.randn, not torch.rand"
            return (
                f"{case.name}: z has mean {fmt(float(zm.mean()))} and std {fmt(float(zs.mean()))}, "
                f"expected 0 and 1: {hint}"
            )
        problem = independence_problem(
            case, z, what="the latent code", across="latent dimensions"
        ) or normal_tail_problem(case, z, what="z")
        if problem:
            return problem
        # x | z ~ N(W z + b, σ² I): the residual is pure noise with variance σ²
        r = x - z @ W64.T - b64
        rm, rv = r.mean(0), r.var(0)
        rel_se = math.sqrt(2.0 / n)
        if float((rv / x_var - 1).abs().max()) > 6 * rel_se:
            got = float(rv.mean())
            if got < 1e-8 * x_var:
                hint = "x = W z + b has no observation noise: add noise of variance σ² = x_var"
            elif abs(got / x_var**2 - 1) < 6 * rel_se:
                hint = (
                    "x_var is the variance σ², not the standard deviation: "
                    "scale the noise by sqrt(x_var)"
                )
            elif abs(got / math.sqrt(x_var) - 1) < 6 * rel_se:
                hint = "the noise is scaled by x_var**0.25; its standard deviation is sqrt(x_var)"
            elif got > x_var * (1 + 6 * rel_se) and float((x.mean(0) - b64).abs().max()) < 0.1:
                hint = (
                    "x does not come from the z you return: make x from that same z "
                    "(draw z first, then x given z)"
                )
            else:
                hint = "x given z must be N(W z + b, σ² I) with σ² = x_var"
            return (
                f"{case.name}: x − (W z + b) has variance {fmt(got)}, expected σ² = {fmt(x_var)}: "
                + hint
            )
        if float(rm.abs().max()) > 6 * math.sqrt(x_var / n):
            if float((rm + b64).abs().max()) < 6 * math.sqrt(x_var / n):
                return f"{case.name}: the mean of x given z misses the offset b: E[x|z] = W z + b"
            return (
                f"{case.name}: x − (W z + b) has mean {fmt(float(rm.mean()))}, expected 0: "
                "the observation noise must have mean zero"
            )
        problem = independence_problem(
            case, r / math.sqrt(x_var), what="the observation noise", across="pixels"
        )
        if problem:
            return problem
        c = (z - zm).T @ (r - rm) / n / math.sqrt(x_var)
        if float(c.abs().max()) > 6 / math.sqrt(n):
            return (
                f"{case.name}: the noise in x is correlated with z: "
                "draw it independently of z (its own torch.randn call)"
            )
        return None

    def explain_error(self, case, error):
        msg = super().explain_error(case, error)
        if "dtype" in error or "Double" in error or "Float" in error:
            msg += (
                ": create z and the noise in W's dtype (dtype=W.dtype), so float64 models "
                "stay float64"
            )
        elif "shape" in error or "size" in error:
            msg += (
                ": W is (D, d) and a batch of z is (n, d), so the means W z + b of a batch "
                "are z @ W.T + b, of shape (n, D)"
            )
        return msg


# ============================================================================ log_mean_exp
class LogMeanExp(Check):
    id = "ex01.log_mean_exp"
    function = "log_mean_exp"

    def cases(self, seed):
        g = _gen(seed)

        def rnd(*shape, scale=3.0, shift=0.0, dtype=torch.float32):
            return torch.randn(*shape, generator=g, dtype=dtype) * scale + shift

        return [
            Case("K=100 log-weights of 8 examples, dim=0", {"a": rnd(100, 8), "dim": 0}),
            Case("dim=1 (B=5, K=50)", {"a": rnd(5, 50), "dim": 1}),
            Case("dim=-1 on a (K=3, B=4, C=6) tensor", {"a": rnd(3, 4, 6), "dim": -1}),
            Case("values around +1000 (exp overflows)", {"a": rnd(20, 4, shift=1000.0), "dim": 0}),
            Case(
                "values around −1000 (exp underflows)", {"a": rnd(30, 3, shift=-1000.0), "dim": 0}
            ),
            Case("K=1", {"a": rnd(1, 6), "dim": 0}),
            Case("float64 input", {"a": rnd(40, 3, dtype=torch.float64), "dim": 0}),
            Case(
                "slices 2000 apart (one near +1000, one near −1000), dim=1",
                {"a": torch.stack([rnd(30, shift=1000.0), rnd(30, shift=-1000.0)]), "dim": 1},
            ),
        ]

    def run(self, fn, inputs):
        return {"lme": fn(inputs["a"], dim=inputs["dim"])}  # unchanged: checked after the call

    def reference(self, case):
        return ref_log_mean_exp(case.inputs["a"].double(), dim=case.inputs["dim"])

    def compare(self, case, out, expected):
        a, dim = case.inputs["a"], case.inputs["dim"]
        k = a.shape[dim]
        want_shape = tuple(expected.shape)
        o = out.get("lme", {})
        problem = tensor_problem(case, out, "lme", shape=want_shape)
        if problem:
            if o.get("kind") == "tensor":
                if tuple(o["shape"]) in ((), (1,)):
                    problem += f": reduce over dim={dim} only, not over every element"
                elif len(o["shape"]) == a.dim():
                    problem += f": the dimension dim={dim} should be reduced away (keepdim=False)"
                else:
                    problem += f": reduce over the dimension given by dim (here {dim})"
            return problem
        problem = tensor_problem(case, out, "lme", dtype=_dtype(a))
        if problem:
            return problem
        got = o["value"].double()
        tol = {"rtol": 1e-5, "atol": 1e-4} if a.dtype == torch.float32 else {}
        if close(got, expected, **(tol or {"rtol": 1e-9, "atol": 1e-9})):
            return None
        a64 = a.double()
        if not torch.isfinite(got).all():
            return (
                f"{case.name}: got inf/NaN where the answer is finite: exp overflows (or "
                "underflows to log 0) for large |values|; subtract the maximum before "
                "exponentiating, or use torch.logsumexp"
            )
        log_k = math.log(k)
        variants = [
            (
                expected + log_k,
                f"missing −log K: your estimate is log K = {fmt(log_k)} nats too high; "
                "a mean divides the sum by K",
            ),
            (
                a64.mean(dim),
                "this is the mean of the log values, which is ≤ the log of the mean "
                "(Jensen): exponentiate, average, then take the log, stably",
            ),
            (
                a64.amax(dim),
                "this is only the maximum; add the log of the mean of exp(a − max)",
            ),
            (expected - log_k, "log K was subtracted twice"),
        ]
        other = a.shape[0] if dim not in (0, -a.dim()) else a.shape[-1]
        if other != k:
            variants.append(
                (
                    expected + log_k - math.log(other),
                    f"you divided by the size of another dimension ({other}) instead of "
                    f"K = {k}, the size of dim={dim}",
                )
            )
        hint = diagnose(got, variants, rtol=1e-5, atol=1e-4)
        diff = (got - expected).abs().reshape(-1)
        worst = int(diff.argmax())
        return (
            f"{case.name}: element {worst} is {fmt(float(got.reshape(-1)[worst]))}, expected "
            f"{fmt(float(expected.reshape(-1)[worst]))}: "
            + (hint or "compute log((1/K) Σ_k exp(a_k)) along dim, stably")
        )


# ============================================================================ naive MC
_K_REF = 50_000  # prior samples behind the reference's standard error ...
_REF_VALUES = 1_000_000  # ... at most this many values of x per sample batch


class NaiveMCLogPx(Check):
    id = "ex01.naive_mc_log_px"
    function = "naive_mc_log_px"
    uses = ("log_mean_exp",)

    def references(self):
        return {"log_mean_exp": ref_log_mean_exp}

    def cases(self, seed):
        g = _gen(seed)

        def case(D, d, x_var, B, k, far=False, scale=1.0):
            params = _model_params(g, D, d, x_var)
            params["W"] = params["W"] * scale
            model = LinearGaussian(params["W"], params["b"], params["x_var"])
            x, _ = model.sample(B, generator=g)
            if far:  # data a little away from the typical set: a real Jensen gap
                x = x + 1.5 * torch.sign(torch.randn(B, D, generator=g, dtype=x.dtype))
            return {**params, "x": x, "k": k}

        cases = [
            Case("K=2000 prior samples, 6 examples, D=3, d=2", case(3, 2, 1.0, 6, 2000, True)),
            Case("K=500, D=5, d=1, σ²=0.5", case(5, 1, 0.5, 4, 500, True)),
            Case("batch of 1, K=1000", case(2, 2, 1.0, 1, 1000, True)),
            Case(
                "D=200, σ²=100: log p(x|z) ≈ −750, where exp underflows to 0",
                case(200, 2, 100.0, 3, 500, scale=3.0),
            ),
        ]
        for i, c in enumerate(cases):
            c.inputs["seed"] = int(seed) + i
            c.inputs["gen_seed"] = int(seed) * 7 + 2000 + i
        return cases

    def run(self, fn, inputs):
        model = LinearGaussian(inputs["W"], inputs["b"], inputs["x_var"])
        recorders = []

        def call(gen):  # the model records every z given to log_likelihood
            recorder = RecordingModel(model, {"log_likelihood": "z"})
            recorders.append(recorder)
            return fn(recorder, copy_input(inputs["x"]), inputs["k"], generator=gen)

        runs = generator_runs(call, inputs["gen_seed"])
        z_seen = recorders[0].recorded["log_likelihood"]
        return {
            "est": runs["first"],
            "again": runs["again"],
            "other": runs["other"],
            "draws": draw_counts(z_seen, inputs["W"].shape[1]),
        }

    def reference(self, case):
        """Exact log p(x), the standard error of a K-sample estimate, and the wrong answers."""
        inp = case.inputs
        model = LinearGaussian(inp["W"], inp["b"], inp["x_var"])
        x, k = inp["x"], inp["k"]
        exact = model.log_marginal(x)
        g = _gen(inp["gen_seed"] + 99)
        n_ref = max(5_000, min(_K_REF, _REF_VALUES // x.numel()))
        z = model.sample_prior(n_ref * x.shape[0], g).reshape(n_ref, x.shape[0], -1)
        ll = model.log_likelihood(x, z)  # (K_ref, B)
        lj = ll + model.log_prior(z)
        # delta method: sd of log(mean w) ≈ sd(w) / (mean(w) sqrt(K))
        w = torch.exp(ll - torch.logsumexp(ll, 0) + math.log(n_ref))
        se = w.std(0) / math.sqrt(k)
        bias = 0.5 * se**2  # E[log mean] ≈ log p(x) − Var/(2K)
        mean_ll = ll.mean(0)
        return {
            "exact": exact,
            "tol": 6 * se + bias + 1e-6,
            "mean_ll": mean_ll,
            "mean_ll_tol": 6 * ll.std(0) / math.sqrt(k) + 1e-6,
            "joint": ref_log_mean_exp(lj, dim=0),
            "joint_tol": 6
            * torch.exp(lj - torch.logsumexp(lj, 0) + math.log(n_ref)).std(0)
            / math.sqrt(k)
            + 1e-3,
        }

    def compare(self, case, out, expected):
        x, k = case.inputs["x"], case.inputs["k"]
        B = x.shape[0]
        o = out.get("est", {})
        problem = tensor_problem(case, out, "est", shape=(B,))
        if problem:
            if o.get("kind") == "tensor":
                if tuple(o["shape"]) == (k, B):
                    problem += ": average over the K samples (dim=0) with log_mean_exp"
                elif tuple(o["shape"]) in ((), (1,)) and B > 1:
                    problem += ": return one estimate per example, don't reduce over the batch"
            return problem
        problem = tensor_problem(case, out, "est", dtype=_dtype(x))
        if problem:
            return problem
        got = o["value"].double()
        if not torch.isfinite(got).all():
            return (
                f"{case.name}: got NaN/inf: exponentiating log-likelihoods underflows; "
                "stay in log space with log_mean_exp"
            )
        problem = generator_problem(case, out, what="estimates", names=("est", "again", "other"))
        problem = problem or draw_count_problem(
            case, _values(out, "draws"), k=case.inputs["k"], batch=B
        )
        if problem:
            return problem
        exact, tol = expected["exact"], expected["tol"]
        err = got - exact
        if bool((err.abs() <= tol).all()):
            return None
        log_k = math.log(k)
        if bool(((err - log_k).abs() <= tol).all()):
            hint = (
                f"missing −log K: your estimate is log K = {fmt(log_k)} nats too high; "
                "average the likelihoods, don't sum them"
            )
        elif bool(((got - expected["mean_ll"]).abs() <= expected["mean_ll_tol"]).all()):
            hint = (
                "you averaged the log-likelihoods log p(x|z_i): that is E[log p(x|z)], "
                "below log p(x) by Jensen's inequality; average the likelihoods p(x|z_i) "
                "themselves, in log space (log_mean_exp)"
            )
        elif bool(((got - expected["joint"]).abs() <= expected["joint_tol"]).all()):
            hint = (
                "you averaged p(x, z) = p(x|z) p(z): z already comes from the prior, "
                "so the prior must not be multiplied in again; average p(x|z_i)"
            )
        elif bool((err < -tol).all()):
            hint = "too low for every example: are the z drawn from the prior N(0, I)?"
        else:
            hint = (
                "draw K·B latent codes z ~ p(z), evaluate model.log_likelihood(x, z) for "
                "z of shape (K, B, d), and take log_mean_exp over the K samples"
            )
        i = int((err.abs() - tol).argmax())
        return (
            f"{case.name}: estimate for example {i} is {fmt(float(got[i]))} nats, but "
            f"log p(x) = {fmt(float(exact[i]))} (a {k}-sample estimate should be within "
            f"{fmt(float(tol[i]))}): {hint}"
        )


# ============================================================================ exact marginal
class PPCALogMarginal(Check):
    id = "ex01.ppca_log_marginal"
    function = "ppca_log_marginal"

    def cases(self, seed):
        g = _gen(seed)

        def case(D, d, x_var, B, dtype=torch.float64):
            p = _model_params(g, D, d, x_var)
            model = LinearGaussian(p["W"], p["b"], p["x_var"])
            x, _ = model.sample(B, generator=g)
            x = x + 0.5 * torch.randn(x.shape, generator=g, dtype=x.dtype)
            return {"x": x.to(dtype), "W": p["W"].to(dtype), "b": p["b"].to(dtype), "x_var": x_var}

        return [
            Case("batch of 8, D=4, d=2, σ²=0.5", case(4, 2, 0.5, 8)),
            Case("one latent dimension (D=3, d=1), σ²=2", case(3, 1, 2.0, 5)),
            Case("batch of 1", case(4, 3, 1.0, 1)),
            Case("D=30, d=3, small noise σ²=0.05", case(30, 3, 0.05, 6)),
            Case("float32 inputs", case(5, 2, 0.3, 4, dtype=torch.float32)),
        ]

    def run(self, fn, inputs):
        i = inputs
        return {"lp": fn(copy_input(i["x"]), copy_input(i["W"]), copy_input(i["b"]), i["x_var"])}

    def reference(self, case):
        i = case.inputs
        return LinearGaussian(i["W"].double(), i["b"].double(), i["x_var"]).log_marginal(
            i["x"].double()
        )

    def _variants(self, case, expected):
        i = case.inputs
        x, W, b, s2 = i["x"].double(), i["W"].double(), i["b"].double(), i["x_var"]
        D = W.shape[0]

        def parts(cov, centre=b):
            chol = torch.linalg.cholesky(cov)
            diff = (x - centre).T
            maha = (torch.linalg.solve_triangular(chol, diff, upper=False) ** 2).sum(0)
            logdet = 2.0 * torch.log(torch.diagonal(chol)).sum()
            return maha, logdet

        eye = torch.eye(D, dtype=W.dtype)
        cov = W @ W.T + s2 * eye
        maha, logdet = parts(cov)
        const = D * LOG_2PI

        def lp(maha_, logdet_):
            return -0.5 * (const + logdet_ + maha_)

        return [
            (-expected, "wrong sign: a log-density is −½(D log 2π + log det C + Mahalanobis)"),
            (
                lp(*parts(W @ W.T + s2**2 * eye)),
                "x_var is the variance σ², not the standard deviation: C = W Wᵀ + σ² I "
                "with σ² = x_var",
            ),
            (
                lp(*parts(W @ W.T + math.sqrt(s2) * eye)),
                "x_var is already the variance σ²: don't take its square root",
            ),
            (lp(*parts(cov, centre=torch.zeros_like(b))), "the offset b is missing: x − b"),
            (expected + 0.5 * const, "the constant −(D/2) log 2π is missing"),
            (expected + 0.5 * logdet, "the −½ log det C term is missing"),
            (expected - 0.5 * logdet, "log det C needs the factor ½"),
            (expected - 0.5 * maha, "the Mahalanobis term (x − b)ᵀ C⁻¹ (x − b) needs the factor ½"),
            (
                expected + 0.5 * maha - 0.5 * (x - b).pow(2).sum(1),
                "the quadratic term needs the inverse covariance: (x − b)ᵀ C⁻¹ (x − b)",
            ),
        ]

    def compare(self, case, out, expected):
        x = case.inputs["x"]
        B, D = x.shape
        o = out.get("lp", {})
        problem = tensor_problem(case, out, "lp", shape=(B,))
        if problem:
            if o.get("kind") == "tensor":
                if tuple(o["shape"]) == (B, D):
                    problem += (
                        ": the marginal is one D-dimensional Gaussian, not D independent ones; "
                        "return one log-density per example"
                    )
                elif tuple(o["shape"]) in ((), (1,)) and B > 1:
                    problem += ": return one log p(x) per example, don't sum over the batch"
                elif len(o["shape"]) == 2 and o["shape"][0] == o["shape"][1] == B:
                    problem += (
                        ": you computed (x − b)ᵀ C⁻¹ (x − b) for every pair of examples; "
                        "keep only one quadratic form per example"
                    )
            return problem
        problem = tensor_problem(case, out, "lp", dtype=_dtype(x))
        if problem:
            return problem
        got = o["value"].double()
        tol = (
            {"rtol": 1e-4, "atol": 1e-3}
            if x.dtype == torch.float32
            else {"rtol": 1e-7, "atol": 1e-7}
        )
        if close(got, expected, **tol):
            return None
        if not torch.isfinite(got).all():
            return (
                f"{case.name}: got NaN/inf: W Wᵀ alone is singular when d < D; the "
                "covariance of x is C = W Wᵀ + σ² I"
            )
        hint = diagnose(got, self._variants(case, expected), rtol=1e-4, atol=1e-3)
        worst = int((got - expected).abs().argmax())
        return (
            f"{case.name}: log p(x) of example {worst} is {fmt(float(got[worst]))} nats, "
            f"expected {fmt(float(expected[worst]))}: "
            + (hint or "p(x) = N(x; b, C) with C = W Wᵀ + σ² I; compare term by term")
        )

    def explain_error(self, case, error):
        msg = super().explain_error(case, error)
        low = error.lower()
        if "cholesky" in low or "singular" in low or "positive-definite" in low:
            msg += ": W Wᵀ alone is singular when d < D; the covariance is W Wᵀ + σ² I"
        elif "shape" in low or "size" in low or "dimension" in low:
            msg += ": W is (D, d), so the covariance of x is W Wᵀ + σ² I, a (D, D) matrix"
        return msg


# ============================================================================ derivation: posterior
class LinearGaussianPosterior(Check):
    """A derivation: p(z|x) of the linear-Gaussian model, by completing the square.

    Reference: :meth:`vae_course.toy.LinearGaussian.posterior` (tested against Bayes' rule
    in ``tests/test_toy.py``).
    """

    id = "ex01.linear_gaussian_posterior"
    function = "linear_gaussian_posterior"

    def cases(self, seed):
        g = _gen(seed)

        def case(D, d, x_var, B, dtype=torch.float64):
            p = _model_params(g, D, d, x_var)
            x, _ = LinearGaussian(p["W"], p["b"], p["x_var"]).sample(B, generator=g)
            return {"x": x.to(dtype), "W": p["W"].to(dtype), "b": p["b"].to(dtype), "x_var": x_var}

        return [
            Case("batch of 5, D=4, d=2, σ²=0.5", case(4, 2, 0.5, 5)),
            Case("one latent dimension (D=3, d=1), σ²=2", case(3, 1, 2.0, 4)),
            Case("batch of 1, D=6, d=3, σ²=0.1", case(6, 3, 0.1, 1)),
            Case(
                "σ² = 50: the data says little, the posterior is near the prior",
                case(4, 2, 50.0, 3),
            ),
            Case("float32 inputs", case(5, 2, 0.3, 4, dtype=torch.float32)),
        ]

    def run(self, fn, inputs):
        i = inputs
        res = fn(copy_input(i["x"]), copy_input(i["W"]), copy_input(i["b"]), i["x_var"])
        if isinstance(res, (tuple, list)) and len(res) == 2:
            return {"mean": res[0], "cov": res[1]}
        return {"mean": res, "single": True}

    def reference(self, case):
        i = case.inputs
        model = LinearGaussian(i["W"].double(), i["b"].double(), i["x_var"])
        return model.posterior(i["x"].double())

    def compare(self, case, out, expected):
        i = case.inputs
        x, W, b, s2 = i["x"].double(), i["W"].double(), i["b"].double(), i["x_var"]
        B, d = x.shape[0], W.shape[1]
        if out.get("single", {}).get("value"):
            return f"{case.name}: expected a pair (mean, cov): return both, in this order"
        problem = tensor_problem(case, out, "mean", shape=(B, d), what="a (B, d) tensor of means")
        problem = problem or tensor_problem(
            case, out, "cov", shape=(d, d), what="a (d, d) covariance matrix"
        )
        for name in ("mean", "cov"):
            problem = problem or tensor_problem(case, out, name, dtype=_dtype(i["x"]))
        if problem:
            return problem
        mean, cov = out["mean"]["value"].double(), out["cov"]["value"].double()
        want_mean, want_cov = expected
        tol = {"rtol": 1e-4, "atol": 1e-5}
        eye = torch.eye(d, dtype=W.dtype)
        WtW = W.T @ W
        if not close(cov, want_cov, **tol):
            hint = diagnose(
                cov,
                [
                    (torch.linalg.inv(eye + WtW), "σ² is missing: the precision is I + WᵀW / σ²"),
                    (
                        torch.linalg.inv(WtW / s2),
                        "the prior's precision I is missing: p(z) = N(0, I) adds I to WᵀW / σ²",
                    ),
                    (
                        torch.linalg.inv(WtW + s2 * eye),
                        "this is M⁻¹ with M = WᵀW + σ² I; the posterior covariance is σ² M⁻¹",
                    ),
                    (eye + WtW / s2, "this is the precision; the covariance is its inverse"),
                    (
                        torch.linalg.inv(eye + WtW / s2**2),
                        "x_var is the variance σ², not the standard deviation",
                    ),
                ],
                **tol,
            )
            k, gv, e = _worst(cov, want_cov)
            return f"{case.name}: cov element {k} is {gv}, expected {e}: " + (
                hint or "collect the terms quadratic in z in log p(x|z) + log p(z)"
            )
        if close(mean, want_mean, **tol):
            return None
        hint = diagnose(
            mean,
            [
                (x @ W @ want_cov / s2, "the offset b is missing: the data term is x − b"),
                ((x - b) @ W @ want_cov, "the mean needs the factor 1/σ²: Σ Wᵀ (x − b) / σ²"),
                ((x - b) @ W / s2, "the mean is Σ Wᵀ (x − b) / σ², with the covariance Σ"),
                ((x - b) @ torch.linalg.pinv(W).T, "that inverts W and ignores the prior"),
            ],
            **tol,
        )
        k, gv, e = _worst(mean, want_mean)
        return f"{case.name}: mean element {k} is {gv}, expected {e}: " + (
            hint or "collect the terms linear in z and complete the square"
        )


for _c in (
    SampleLinearGaussian(),
    LogMeanExp(),
    NaiveMCLogPx(),
    PPCALogMarginal(),
    LinearGaussianPosterior(),
):
    register(_c)


class PredictNaiveMC(ChoiceCheck):
    """Predict-then-run: the naive estimate with d = 20 and a sharp likelihood."""

    id = "ex01.predict_naive_mc"
    function = "prediction_naive_mc"
    choices = ("about right", "too high", "too low")
    answer = "too low"
    hints = {
        "about right": "almost no prior sample explains x when d is large and the likelihood "
        "sharp, so even 10,000 samples miss most of p(x)",
        "too high": "the average of p(x|z) is unbiased for p(x), but its log is biased (Jensen's "
        "inequality for a concave log): which way?",
    }


register(PredictNaiveMC())
