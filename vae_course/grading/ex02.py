"""Checks of exercise set ``ex02_elbo`` (notebook 02, the ELBO).

Tasks (function the learner writes → check id):

* ``gaussian_log_likelihood(x, mean, logvar)`` → ``ex02.gaussian_log_likelihood``
* ``gaussian_kl_diag(mu_q, logvar_q, mu_p, logvar_p)`` → ``ex02.gaussian_kl_diag``
* ``log_weights(model, x, mu, logvar, eps)`` → ``ex02.log_weights``
* ``elbo_and_iwae(log_w)`` → ``ex02.elbo_and_iwae``
* ``linear_gaussian_elbo(x, W, b, x_var, mu, logvar)`` → ``ex02.linear_gaussian_elbo`` (a derivation)

The noise ``eps`` is an input, so every task is deterministic and compared exactly.
References: :mod:`vae_course.losses`, :mod:`vae_course.distributions`, :mod:`vae_course.toy`,
and ``torch.distributions`` for the KL between two diagonal Gaussians.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal, kl_divergence

from ..distributions import LOG_2PI, log_normal
from ..losses import gaussian_log_likelihood as ref_gaussian_ll
from ..losses import log_mean_exp as ref_log_mean_exp
from ..toy import LinearGaussian
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
from .checks import worst_element as _worst

__all__ = [
    "GaussianLogLikelihood",
    "GaussianKLDiag",
    "LogWeights",
    "ELBOAndIWAE",
    "LinearGaussianELBO",
]


def _tol(dtype: torch.dtype) -> dict:
    return {"rtol": 1e-5, "atol": 1e-3} if dtype == torch.float32 else {"rtol": 1e-8, "atol": 1e-8}


# ============================================================================ Gaussian log-lik
class GaussianLogLikelihood(Check):
    id = "ex02.gaussian_log_likelihood"
    function = "gaussian_log_likelihood"

    def cases(self, seed):
        g = _gen(seed)

        def data(*shape, dtype=torch.float32):
            x = torch.rand(*shape, generator=g, dtype=dtype)
            mean = torch.rand(*shape, generator=g, dtype=dtype)
            return x, mean

        x, m = data(16, 784)
        xi, mi = data(4, 1, 28, 28)
        xt, mt = data(6, 10)
        lv = torch.randn(6, 10, generator=g) * 2
        x1, m1 = data(1, 5, dtype=torch.float64)
        xd, md = data(3, 7, dtype=torch.float64)
        return [
            Case(
                "(B, 784) data, logvar a float (σ² = 0.1)",
                {"x": x, "mean": m, "logvar": math.log(0.1)},
            ),
            Case(
                "(B, 1, 28, 28) images, logvar = log(1/2) (what mse_loss assumes)",
                {"x": xi, "mean": mi, "logvar": math.log(0.5)},
            ),
            Case(
                "a tensor logvar, one per value, from −4 to 4", {"x": xt, "mean": mt, "logvar": lv}
            ),
            Case(
                "float64, batch of 1, logvar = 0 (σ = 1)",
                {"x": x1, "mean": m1, "logvar": 0.0},
            ),
            Case(
                "float64, a (D,) logvar tensor shared by the batch",
                {"x": xd, "mean": md, "logvar": torch.linspace(-2, 1, 7, dtype=torch.float64)},
            ),
        ]

    def run(self, fn, inputs):
        lv = inputs["logvar"]
        lv = copy_input(lv) if isinstance(lv, torch.Tensor) else lv
        return {"ll": fn(copy_input(inputs["x"]), copy_input(inputs["mean"]), lv)}

    def reference(self, case):
        i = case.inputs
        lv = i["logvar"]
        lv = lv.double() if isinstance(lv, torch.Tensor) else lv
        return ref_gaussian_ll(i["x"].double(), i["mean"].double(), lv)

    def compare(self, case, out, expected):
        x = case.inputs["x"]
        B = x.shape[0]
        o = out.get("ll", {})
        problem = tensor_problem(case, out, "ll", shape=(B,))
        if problem:
            if o.get("kind") == "tensor":
                if tuple(o["shape"]) == tuple(x.shape):
                    problem += ": sum the log-density over every non-batch dimension"
                elif tuple(o["shape"]) in ((), (1,)) and B > 1:
                    problem += ": return one value per example; don't reduce over the batch"
            return problem
        problem = tensor_problem(case, out, "ll", dtype=_dtype(x))
        if problem:
            return problem
        got = o["value"].double()
        if close(got, expected, **_tol(x.dtype)):
            return None
        if not torch.isfinite(got).all():
            return f"{case.name}: got NaN/inf where the log-density is finite"
        x64, m64 = x.double(), case.inputs["mean"].double()
        lv = case.inputs["logvar"]
        lv = (
            lv.double()
            if isinstance(lv, torch.Tensor)
            else torch.tensor(float(lv), dtype=x64.dtype)
        )
        lv = lv.expand_as(x64)
        sq = (x64 - m64) ** 2

        def per_example(t):
            return t.reshape(B, -1).sum(1)

        n = x[0].numel()
        variants = [
            (-expected, "wrong sign: this is the negative log-likelihood; return log p(x|z)"),
            (
                per_example(-0.5 * LOG_2PI - lv - sq / (2 * torch.exp(2 * lv))),
                "did you use logvar as log-std? σ² = exp(logvar), and log σ = logvar / 2",
            ),
            (
                expected + 0.5 * n * LOG_2PI,
                "the constant −½ log 2π (per value) is missing: it does not change the "
                "gradient, but log p(x|z) in nats needs it",
            ),
            (expected + 0.5 * per_example(lv), "the −½ log σ² term is missing"),
            (
                per_example(-0.5 * (LOG_2PI + lv) - sq / (2 * torch.exp(0.5 * lv))),
                "the squared error is divided by σ instead of σ² = exp(logvar)",
            ),
            (
                per_example(log_normal(x64, m64, 0.0)),
                "logvar is ignored: the variance is exp(logvar)",
            ),
            (expected / n, "you averaged over the values of each example; sum them"),
            (
                per_example(-0.5 * (LOG_2PI + lv + sq * torch.exp(-lv)) * 2),
                "twice the log-density: the whole expression has a factor ½",
            ),
        ]
        hint = diagnose(got, variants, rtol=1e-5, atol=1e-3)
        i, g, e = _worst(got, expected)
        return f"{case.name}: log p(x) of example {i} is {g} nats, expected {e}: " + (
            hint or "sum −½ (log 2π + log σ² + (x − mean)²/σ²) over every value of the example"
        )

    def explain_error(self, case, error):
        msg = super().explain_error(case, error)
        if "must be Tensor, not float" in error or "not float" in error:
            msg += (
                ": logvar may be a Python float; make it a tensor first, "
                "torch.as_tensor(logvar, dtype=x.dtype)"
            )
        return msg


# ============================================================================ KL of two Gaussians
def ref_kl_diag(mu_q, logvar_q, mu_p, logvar_p):
    """KL(N(mu_q, diag σ_q²) ‖ N(mu_p, diag σ_p²)) per example (B,), via torch.distributions."""
    q = Normal(mu_q.double(), torch.exp(0.5 * logvar_q.double()))
    p = Normal(mu_p.double(), torch.exp(0.5 * logvar_p.double()))
    return kl_divergence(q, p).sum(-1)


class GaussianKLDiag(Check):
    id = "ex02.gaussian_kl_diag"
    function = "gaussian_kl_diag"

    _NAMES = ("mu_q", "logvar_q", "mu_p", "logvar_p")

    def cases(self, seed):
        g = _gen(seed)

        def four(b, d, dtype=torch.float32, scale=1.5):
            return dict(
                zip(
                    self._NAMES,
                    (torch.randn(b, d, generator=g, dtype=dtype) * scale for _ in range(4)),
                    strict=True,
                )
            )

        std = four(5, 4)
        std["mu_p"], std["logvar_p"] = torch.zeros(5, 4), torch.zeros(5, 4)
        same = four(3, 6)
        same["mu_p"], same["logvar_p"] = same["mu_q"].clone(), same["logvar_q"].clone()
        extreme = {
            "mu_q": torch.tensor([[30.0, -30.0, 0.0], [0.0, 1.0, 2.0]]),
            "logvar_q": torch.tensor([[-15.0, 6.0, 0.0], [8.0, -8.0, 0.0]]),
            "mu_p": torch.tensor([[0.0, 0.0, 1.0], [0.0, -1.0, 2.0]]),
            "logvar_p": torch.tensor([[5.0, -5.0, 0.0], [-8.0, 8.0, 3.0]]),
        }
        return [
            Case("batch of 32, D=8", four(32, 8)),
            Case("p = N(0, I), the VAE's prior", std),
            Case("q equal to p", same),
            Case("batch of 1, D=1", four(1, 1)),
            Case("extreme values (|mu| = 30, logvar from −15 to 8)", extreme),
            Case("float64 input", four(4, 3, dtype=torch.float64)),
        ]

    def run(self, fn, inputs):
        return {"kl": fn(*(copy_input(inputs[k]) for k in self._NAMES))}

    def reference(self, case):
        return ref_kl_diag(*(case.inputs[k] for k in self._NAMES))

    def compare(self, case, out, expected):
        mq, lq, mp, lp = (case.inputs[k].double() for k in self._NAMES)
        b, d = mq.shape
        o = out.get("kl", {})
        problem = tensor_problem(case, out, "kl", shape=(b,))
        if problem:
            if o.get("kind") == "tensor":
                if tuple(o["shape"]) == (b, d):
                    problem += ": sum the KL over the latent dimensions (dim=1)"
                elif tuple(o["shape"]) in ((), (1,)):
                    problem += ": return one KL per example; sum over dim=1 only"
            return problem
        problem = tensor_problem(case, out, "kl", dtype=_dtype(case.inputs["mu_q"]))
        if problem:
            return problem
        got = o["value"].double()
        if close(got, expected, rtol=1e-4, atol=1e-4):
            return None
        if not torch.isfinite(got).all():
            return (
                f"{case.name}: got NaN/inf where the KL is finite: use exp(logvar) for σ² "
                "and logvar itself for log σ² (no log(exp(...)), no sqrt then square)"
            )
        vq, vp = lq.exp(), lp.exp()

        def kl(mq_, lq_, mp_, lp_, vq_, vp_, one=1.0, half=0.5):
            return (half * (lp_ - lq_ + (vq_ + (mq_ - mp_) ** 2) / vp_ - one)).sum(1)

        variants = [
            (-expected, "wrong sign: a KL divergence is never negative"),
            (
                kl(mp, lp, mq, lq, vp, vq),
                "this is KL(p ‖ q): the arguments are swapped; the KL is not symmetric, and "
                "the ELBO needs KL(q ‖ p), the expectation under q",
            ),
            (
                kl(mq, 2 * lq, mp, 2 * lp, (2 * lq).exp(), (2 * lp).exp()),
                "did you use logvar as log-std? σ² = exp(logvar)",
            ),
            (2 * expected, "twice the KL: the factor ½ is missing"),
            (expected + 0.5 * d, "the −1 inside the sum is missing (the KL of q = p is 0)"),
            (
                kl(mq, lq, mp, lp, vq, vp)
                - (0.5 * (mq - mp) ** 2 / vp).sum(1)
                + (0.5 * (mq - mp) ** 2 / vq).sum(1),
                "the squared mean difference is divided by σ_q²; it is divided by σ_p², "
                "the variance of the distribution the KL is measured against",
            ),
            (expected / d, "you averaged over latent dimensions; sum them"),
            (
                0.5 * (vq + mq**2 - 1 - lq).sum(1),
                "p is ignored: this is the KL to N(0, I); use mu_p and logvar_p",
            ),
            (
                kl(mq, lq, mp, lp, vq, vp) + (lq - lp).sum(1),
                "the log-variance term has the wrong sign: it is ½ (log σ_p² − log σ_q²)",
            ),
        ]
        hint = diagnose(got, variants, rtol=1e-4, atol=1e-4)
        i, g, e = _worst(got, expected)
        return f"{case.name}: KL of example {i} is {g} nats, expected {e}: " + (
            hint or "compare your formula term by term with the notebook's"
        )


# ============================================================================ log weights
def ref_log_weights(model, x, mu, logvar, eps):
    """log p(x, z_k) − log q(z_k|x) with z_k = mu + σ·eps_k: (K, B) nats."""
    z = mu + torch.exp(0.5 * logvar) * eps
    return model.log_joint(x, z) - log_normal(z, mu, logvar).sum(-1)


class LogWeights(Check):
    id = "ex02.log_weights"
    function = "log_weights"

    def cases(self, seed):
        g = _gen(seed)

        def case(D, d, x_var, B, K, near=True):
            W = torch.randn(D, d, generator=g, dtype=torch.float64) / math.sqrt(d)
            b = torch.randn(D, generator=g, dtype=torch.float64)
            model = LinearGaussian(W, b, x_var)
            x, _ = model.sample(B, generator=g)
            m, cov = model.posterior(x)
            if near:  # a diagonal q near the exact posterior
                mu = m + 0.1 * torch.randn(m.shape, generator=g, dtype=m.dtype)
                logvar = torch.log(torch.diagonal(cov)).expand_as(m).clone()
            else:
                mu = torch.randn(B, d, generator=g, dtype=torch.float64) * 2
                logvar = torch.randn(B, d, generator=g, dtype=torch.float64)
            eps = torch.randn(K, B, d, generator=g, dtype=torch.float64)
            return {"W": W, "b": b, "x_var": x_var, "x": x, "mu": mu, "logvar": logvar, "eps": eps}

        return [
            Case("K=5 samples, B=3, D=4, d=2, q near the posterior", case(4, 2, 0.5, 3, 5)),
            Case("K=1", case(3, 2, 1.0, 4, 1)),
            Case("q far from the posterior (K=8, B=2)", case(5, 3, 0.3, 2, 8, near=False)),
            Case("batch of 1, one latent dimension", case(3, 1, 2.0, 1, 6)),
        ]

    def _model(self, inputs):
        return LinearGaussian(inputs["W"], inputs["b"], inputs["x_var"])

    def run(self, fn, inputs):
        model = self._model(inputs)
        mu = copy_input(inputs["mu"]).requires_grad_(True)
        logvar = copy_input(inputs["logvar"]).requires_grad_(True)
        torch.manual_seed(1234)  # the same seed before both calls: noise the learner
        out = {"lw": fn(model, copy_input(inputs["x"]), mu, logvar, copy_input(inputs["eps"]))}
        lw = out["lw"]
        if isinstance(lw, torch.Tensor) and lw.requires_grad:
            g = torch.autograd.grad(lw.sum(), (mu, logvar), allow_unused=True)
            out["grad_mu"], out["grad_logvar"] = g
        torch.manual_seed(1234)  # draws themselves gives equal results for eps and −eps
        with torch.no_grad():
            out["lw_neg"] = fn(model, copy_input(inputs["x"]), mu, logvar, -inputs["eps"])
        return out

    def reference(self, case):
        i = case.inputs
        return ref_log_weights(self._model(i), i["x"], i["mu"], i["logvar"], i["eps"])

    def compare(self, case, out, expected):
        i = case.inputs
        K, B, d = i["eps"].shape
        o = out.get("lw", {})
        problem = tensor_problem(case, out, "lw", shape=(K, B))
        if problem:
            if o.get("kind") == "tensor":
                if tuple(o["shape"]) == (B,):
                    problem += (
                        ": return one log-weight per sample, (K, B); averaging them is the "
                        "next task"
                    )
                elif tuple(o["shape"]) == (K, B, d):
                    problem += ": sum log q(z|x) over the latent dimensions (the last one)"
            return problem
        problem = tensor_problem(case, out, "lw", dtype="float64")
        if problem:
            return problem
        got = o["value"].double()
        if close(got, expected, rtol=1e-8, atol=1e-8):
            if not o["requires_grad"]:
                return (
                    f"{case.name}: the log-weights are not connected to mu and logvar in "
                    "the autograd graph: build z = mu + σ·eps with differentiable "
                    "operations (no .detach(), no torch.no_grad()), so the ELBO can be trained"
                )
            mu = i["mu"].double().clone().requires_grad_(True)
            logvar = i["logvar"].double().clone().requires_grad_(True)
            ref = ref_log_weights(self._model(i), i["x"], mu, logvar, i["eps"])
            for name, r in zip(
                ("grad_mu", "grad_logvar"),
                torch.autograd.grad(ref.sum(), (mu, logvar)),
                strict=True,
            ):
                g = out.get(name, {}).get("value")
                if g is None or not close(g.double(), r, rtol=1e-6, atol=1e-8):
                    return (
                        f"{case.name}: the log-weights are right but their gradient with respect "
                        f"to {name[5:]} is not: part of the path from {name[5:]} is detached "
                        "(z must be built from mu and logvar with differentiable operations)"
                    )
            return None
        if not torch.isfinite(got).all():
            return f"{case.name}: got NaN/inf where the log-weights are finite"
        neg = out.get("lw_neg", {}).get("value")
        if neg is not None and K * B > 1 and torch.equal(neg.double(), got):
            return (
                f"{case.name}: the result does not depend on eps: build z = mu + σ·eps from "
                "the eps given (don't draw your own noise), so the estimate is repeatable"
            )
        model = self._model(i)
        x, mu, lv, eps = i["x"], i["mu"], i["logvar"], i["eps"]
        z = mu + torch.exp(0.5 * lv) * eps
        log_q = log_normal(z, mu, lv).sum(-1)
        log_lik, log_prior = model.log_likelihood(x, z), model.log_prior(z)
        z_std = mu + torch.exp(lv) * eps
        variants = [
            (
                ref_log_weights(model, x, mu, 2 * lv, eps),
                "did you use logvar as log-std? σ = exp(logvar / 2), in z and in log q",
            ),
            (
                model.log_joint(x, z_std) - log_normal(z_std, mu, lv).sum(-1),
                "z = mu + exp(logvar)·eps uses logvar as log-std: σ = exp(logvar / 2)",
            ),
            (
                log_lik - log_q,
                "log p(z) is missing: the weight is p(x, z)/q(z|x) = p(x|z) p(z)/q(z|x)",
            ),
            (log_lik + log_prior, "− log q(z|x) is missing: the weight divides by q(z|x)"),
            (log_lik + log_prior + log_q, "log q(z|x) has the wrong sign: subtract it"),
            (
                -expected,
                "wrong sign: log w = log p(x, z) − log q(z|x)",
            ),
            (log_lik, "only log p(x|z): add log p(z) and subtract log q(z|x)"),
            (
                expected - 0.5 * d * LOG_2PI,
                "log q(z|x) misses its constant −½ log 2π per latent dimension",
            ),
            (
                expected + 0.5 * d * LOG_2PI,
                "a constant −½ log 2π per latent dimension is missing (in log p(z))",
            ),
        ]
        hint = diagnose(got, variants, rtol=1e-6, atol=1e-6)
        k, g, e = _worst(got, expected)
        return (
            f"{case.name}: log-weight {k} (sample {k // B}, example {k % B}) is {g} nats, "
            f"expected {e}: "
            + (
                hint
                or "z = mu + exp(logvar/2)·eps, then log p(x|z) + log p(z) − log q(z|x), "
                "with the model's log_likelihood and log_prior"
            )
        )


# ============================================================================ ELBO and IWAE
class ELBOAndIWAE(Check):
    id = "ex02.elbo_and_iwae"
    function = "elbo_and_iwae"

    def cases(self, seed):
        g = _gen(seed)

        def lw(K, B, scale=2.0, shift=-50.0, dtype=torch.float32):
            return torch.randn(K, B, generator=g, dtype=dtype) * scale + shift

        return [
            Case("K=10 log-weights of 4 examples", {"log_w": lw(10, 4)}),
            Case("K=1 (ELBO and IWAE are equal)", {"log_w": lw(1, 5)}),
            Case("K=1000, B=2", {"log_w": lw(1000, 2, scale=3.0)}),
            Case(
                "log-weights around −1000 (exp underflows)",
                {"log_w": lw(20, 3, shift=-1000.0)},
            ),
            Case("float64 input", {"log_w": lw(50, 3, dtype=torch.float64)}),
        ]

    def run(self, fn, inputs):
        res = fn(copy_input(inputs["log_w"]))
        if isinstance(res, (tuple, list)) and len(res) == 2:
            return {"elbo": res[0], "iwae": res[1]}
        return {"elbo": res, "single": True}

    def reference(self, case):
        lw = case.inputs["log_w"].double()
        return lw.mean(0), ref_log_mean_exp(lw, dim=0)

    def compare(self, case, out, expected):
        lw = case.inputs["log_w"]
        K, B = lw.shape
        if out.get("single", {}).get("value"):
            o = out["elbo"]
            got = (
                o.get("type", o["kind"])
                if o["kind"] != "tensor"
                else f"one tensor {tuple(o['shape'])}"
            )
            return (
                f"{case.name}: expected a pair (elbo, iwae), got {got}: return both, in this order"
            )
        for name in ("elbo", "iwae"):
            o = out.get(name, {})
            problem = tensor_problem(case, out, name, shape=(B,), what=f"{name} as a tensor")
            if problem:
                if o.get("kind") == "tensor" and tuple(o["shape"]) in ((), (1,)) and B > 1:
                    problem += ": one value per example; average over the K samples (dim=0) only"
                elif o.get("kind") == "tensor" and tuple(o["shape"]) == (K,):
                    problem += ": the K samples are along dim=0; reduce over dim=0"
                return problem
            problem = tensor_problem(case, out, name, dtype=_dtype(lw))
            if problem:
                return problem
        elbo, iwae = out["elbo"]["value"].double(), out["iwae"]["value"].double()
        want_elbo, want_iwae = expected
        tol = _tol(lw.dtype)
        e_ok, i_ok = close(elbo, want_elbo, **tol), close(iwae, want_iwae, **tol)
        if e_ok and i_ok:
            return None
        if K > 1 and close(elbo, want_iwae, **tol) and close(iwae, want_elbo, **tol):
            return (
                f"{case.name}: elbo and iwae are swapped: the ELBO is the plain mean of the "
                "log-weights, IWAE the log of the mean weight (≥ the ELBO, by Jensen)"
            )
        lw64 = lw.double()
        log_k = math.log(K)
        if not e_ok:
            hint = diagnose(
                elbo,
                [
                    (
                        want_iwae,
                        "this is the IWAE estimate; the ELBO averages the log-weights themselves",
                    ),
                    (lw64.sum(0), "you summed the log-weights over the samples; average them"),
                ],
                **tol,
            )
            i, g, e = _worst(elbo, want_elbo)
            return f"{case.name}: elbo of example {i} is {g} nats, expected {e}: " + (
                hint or "the ELBO estimate is the mean of the K log-weights (dim=0)"
            )
        if not torch.isfinite(iwae).all():
            return (
                f"{case.name}: iwae is inf/NaN: exp of the log-weights underflows; "
                "use log_mean_exp (or torch.logsumexp(log_w, 0) − log K)"
            )
        hint = diagnose(
            iwae,
            [
                (
                    want_iwae + log_k,
                    f"missing −log K: your IWAE is log K = {fmt(log_k)} nats too high "
                    "(above log p(x) on average); average the weights, don't sum them",
                ),
                (want_elbo, "this is the ELBO; IWAE is the log of the mean weight, log_mean_exp"),
                (lw64.amax(0), "this is the largest log-weight; IWAE is log_mean_exp over dim=0"),
            ],
            **tol,
        )
        i, g, e = _worst(iwae, want_iwae)
        return f"{case.name}: iwae of example {i} is {g} nats, expected {e}: " + (
            hint or "IWAE_K = log (1/K) Σ_k exp(log w_k), computed stably"
        )


# ============================================================================ derivation: ELBO
def _kl_diag_same_dtype(mu_q, logvar_q, mu_p, logvar_p):
    return ref_kl_diag(mu_q, logvar_q, mu_p, logvar_p).to(mu_q.dtype)


class LinearGaussianELBO(Check):
    """A derivation: the ELBO of the linear-Gaussian model for a diagonal q, in closed form.

    E_q‖x − W z − b‖² = ‖x − W mu − b‖² + Σ_j σ_j² ‖W_:j‖², so the reconstruction term is the
    log-density at the mean *minus a variance term*. Reference:
    :meth:`vae_course.toy.LinearGaussian.elbo` (tested: ELBO + KL(q ‖ p(z|x)) = log p(x) and
    ELBO = log p(x) at the exact posterior, in ``tests/test_toy.py``).
    """

    id = "ex02.linear_gaussian_elbo"
    function = "linear_gaussian_elbo"
    uses = ("gaussian_log_likelihood", "gaussian_kl_diag")

    def references(self):
        return {
            "gaussian_log_likelihood": ref_gaussian_ll,
            "gaussian_kl_diag": _kl_diag_same_dtype,
        }

    def cases(self, seed):
        g = _gen(seed)

        def case(D, d, x_var, B, dtype=torch.float64, optimal=False):
            W = torch.randn(D, d, generator=g, dtype=torch.float64)
            b = torch.randn(D, generator=g, dtype=torch.float64)
            model = LinearGaussian(W, b, x_var)
            x, _ = model.sample(B, generator=g)
            if optimal:
                mu, logvar = model.optimal_diagonal_q(x)
            else:
                mu = torch.randn(B, d, generator=g, dtype=torch.float64)
                logvar = torch.randn(B, d, generator=g, dtype=torch.float64)
            inputs = {"x": x, "W": W, "b": b, "mu": mu, "logvar": logvar}
            return {**{k: v.to(dtype) for k, v in inputs.items()}, "x_var": x_var}

        return [
            Case("batch of 5, D=4, d=2, σ²=0.5, a random q", case(4, 2, 0.5, 5)),
            Case("one latent dimension (D=3, d=1), σ²=2", case(3, 1, 2.0, 4)),
            Case("the best diagonal q (D=6, d=3, σ²=0.2)", case(6, 3, 0.2, 3, optimal=True)),
            Case("batch of 1, D=10, d=4, σ²=0.05", case(10, 4, 0.05, 1)),
            Case("float32 inputs", case(5, 2, 0.3, 4, dtype=torch.float32)),
        ]

    _ARGS = ("x", "W", "b", "x_var", "mu", "logvar")

    def run(self, fn, inputs):
        args = [inputs[k] if k == "x_var" else copy_input(inputs[k]) for k in self._ARGS]
        return {"elbo": fn(*args)}

    def reference(self, case):
        i = case.inputs
        model = LinearGaussian(i["W"].double(), i["b"].double(), i["x_var"])
        return model.elbo(i["x"].double(), i["mu"].double(), i["logvar"].double())

    def compare(self, case, out, expected):
        i = case.inputs
        x, W, b, s2 = i["x"].double(), i["W"].double(), i["b"].double(), i["x_var"]
        mu, lv = i["mu"].double(), i["logvar"].double()
        B = x.shape[0]
        problem = tensor_problem(case, out, "elbo", shape=(B,))
        o = out.get("elbo", {})
        if problem and o.get("kind") == "tensor" and tuple(o["shape"]) in ((), (1,)) and B > 1:
            problem += ": return one ELBO per example, don't reduce over the batch"
        problem = problem or tensor_problem(case, out, "elbo", dtype=_dtype(i["x"]))
        if problem:
            return problem
        got = out["elbo"]["value"].double()
        tol = _tol(i["x"].dtype)
        if close(got, expected, **tol):
            return None
        at_mean = log_normal(x, mu @ W.T + b, math.log(s2)).sum(-1)
        var = lv.exp()
        trace = (var * (W**2).sum(0)).sum(-1) / (2 * s2)
        kl = ref_kl_diag(mu, lv, torch.zeros_like(mu), torch.zeros_like(lv))
        hint = diagnose(
            got,
            [
                (
                    at_mean - kl,
                    "this is log p(x | z = mu) − KL: the expectation over z ~ q also averages "
                    "‖x − W z − b‖², which adds Σ_j σ_j² ‖W_:j‖² to ‖x − W mu − b‖²",
                ),
                (at_mean - trace, "the −KL(q ‖ p(z)) term is missing"),
                (at_mean - trace + kl, "the KL is subtracted: ELBO = E_q[log p(x|z)] − KL"),
                (
                    at_mean - (var.sqrt() * (W**2).sum(0)).sum(-1) / (2 * s2) - kl,
                    "the variance term uses σ_j, not the variance σ_j² = exp(logvar)",
                ),
                (
                    at_mean - (var * (W**2).sum(0)).sum(-1) / 2 - kl,
                    "the variance term is divided by 2σ², like the squared error",
                ),
                (
                    at_mean - var.sum(-1) / (2 * s2) - kl,
                    "Var[W z] has diagonal Σ_j W_ij² σ_j²: the column norms ‖W_:j‖² weight σ_j²",
                ),
            ],
            **tol,
        )
        k, gv, e = _worst(got, expected)
        return f"{case.name}: the ELBO of example {k} is {gv} nats, expected {e}: " + (
            hint or "E_q[log p(x|z)] − KL(q ‖ N(0, I)), with E_q over z = mu + σ·ε"
        )


for _c in (
    GaussianLogLikelihood(),
    GaussianKLDiag(),
    LogWeights(),
    ELBOAndIWAE(),
    LinearGaussianELBO(),
):
    register(_c)


class PredictIWAE(ChoiceCheck):
    """Predict-then-run: the IWAE bound as the number of samples K grows."""

    id = "ex02.predict_iwae"
    function = "prediction_iwae"
    choices = ("rises towards log p(x)", "stays at the ELBO", "rises above log p(x)", "falls")
    answer = "rises towards log p(x)"
    hints = {
        "stays at the ELBO": "with K = 1 it is the ELBO, but averaging K weights before the log "
        "loses less to Jensen's inequality",
        "rises above log p(x)": "every IWAE_K is still a lower bound: the average of the weights "
        "is an unbiased estimate of p(x), and the log of it is biased down",
        "falls": "compare IWAE_1 = ELBO with larger K in notebook 02, section 4",
    }


register(PredictIWAE())
