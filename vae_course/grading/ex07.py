"""Checks of exercise set ``ex07_hierarchical`` (notebook 07, the hierarchical VAE).

Tasks (function the learner writes → check id):

* ``merge_gaussians(mu_a, logvar_a, mu_b, logvar_b)`` → ``ex07.merge_gaussians``
* ``level_kl(mu_q, logvar_q, mu_p, logvar_p)`` → ``ex07.level_kl``
* ``ancestral_sample(model, eps2, eps1)`` → ``ex07.ancestral_sample``
* ``prediction_top_level`` → ``ex07.predict_top_level`` (predict-then-run)

References: :func:`vae_course.models.precision_weighted_merge`,
:func:`vae_course.losses.gaussian_kl_between` and the top-down sampling of
:class:`vae_course.models.HierarchicalVAE`, with the noise given as inputs so that a right
answer is deterministic.
"""

from __future__ import annotations

import torch

from ..losses import gaussian_kl_between as ref_kl_between
from ..models import HierarchicalVAE
from ..models import precision_weighted_merge as ref_merge
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
from .checks import output_tensor as _values
from .checks import seeded_generator as _gen
from .ex04 import other_device

__all__ = ["MergeGaussians", "LevelKL", "AncestralSample", "PredictTopLevel"]


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


def _gaussians(g, shape, dtype=torch.float64, spread=1.0):
    return {
        "mu_a": torch.randn(*shape, generator=g, dtype=dtype),
        "logvar_a": torch.randn(*shape, generator=g, dtype=dtype) * spread,
        "mu_b": torch.randn(*shape, generator=g, dtype=dtype),
        "logvar_b": torch.randn(*shape, generator=g, dtype=dtype) * spread,
    }


# ============================================================================ the merge
def _merge_grad(res, args) -> torch.Tensor | None:
    """Gradient of Σ mu + Σ 0.5·logvar w.r.t. the four inputs, concatenated (None if cut)."""
    mu, logvar = res
    if not (isinstance(mu, torch.Tensor) and isinstance(logvar, torch.Tensor)):
        return None
    if not (mu.requires_grad and logvar.requires_grad):
        return None
    grads = torch.autograd.grad(
        mu.sum() + 0.5 * logvar.sum(), args, allow_unused=True, retain_graph=True
    )
    if any(g is None for g in grads):
        return None
    return torch.cat([g.reshape(-1) for g in grads]).detach()


class MergeGaussians(Check):
    id = "ex07.merge_gaussians"
    function = "merge_gaussians"

    def cases(self, seed):
        g = _gen(seed)
        equal = _gaussians(g, (3, 4))
        equal["mu_b"], equal["logvar_b"] = equal["mu_a"].clone(), equal["logvar_a"].clone()
        sure = _gaussians(g, (4, 3))
        sure["logvar_a"] = torch.full((4, 3), -6.0, dtype=torch.float64)  # a very sure estimate
        return [
            Case("batch of 5, d=3", _gaussians(g, (5, 3))),
            Case("batch of 1, d=6, widely different variances", _gaussians(g, (1, 6), spread=2.0)),
            Case("two equal Gaussians", equal),
            Case("a very certain first Gaussian (σ² = e⁻⁶)", sure),
            Case("float32 inputs", _gaussians(g, (4, 2), dtype=torch.float32)),
            Case(
                "inputs that need gradients (the model trains through the merge)",
                {**_gaussians(g, (3, 2)), "grad": True},
            ),
        ]

    _KEYS = ("mu_a", "logvar_a", "mu_b", "logvar_b")

    def run(self, fn, inputs):
        args = [copy_input(inputs[k]) for k in self._KEYS]
        if inputs.get("grad"):
            args = [a.requires_grad_(True) for a in args]
        res = fn(*args)
        if isinstance(res, (tuple, list)) and len(res) == 2:
            out = {"mu": res[0], "logvar": res[1]}
            if inputs.get("grad"):
                out["grad"] = _merge_grad(res, args)
            return out
        return {"mu": res, "single": True}

    def reference(self, case):
        args = [case.inputs[k].double().clone().requires_grad_(True) for k in self._KEYS]
        mu, logvar = ref_merge(*args)
        return {
            "mu": mu.detach(),
            "logvar": logvar.detach(),
            "grad": _merge_grad((mu, logvar), args),
        }

    def compare(self, case, out, expected):
        i = {k: v.double() for k, v in case.inputs.items() if isinstance(v, torch.Tensor)}
        if out.get("single", {}).get("value"):
            return f"{case.name}: expected a pair (mu, logvar): return both"
        shape = tuple(case.inputs["mu_a"].shape)
        for name in ("mu", "logvar"):
            problem = tensor_problem(case, out, name, shape=shape)
            problem = problem or tensor_problem(case, out, name, dtype=_dtype(case.inputs["mu_a"]))
            if problem:
                return problem
        mu, logvar = _values(out, "mu").double(), _values(out, "logvar").double()
        ok_mu = close(mu, expected["mu"], rtol=1e-4, atol=1e-5)
        ok_lv = close(logvar, expected["logvar"], rtol=1e-4, atol=1e-5)
        if ok_mu and ok_lv:
            if case.inputs.get("grad"):
                g = _values(out, "grad")
                if g is None or not close(g.double(), expected["grad"], rtol=1e-4, atol=1e-6):
                    return (
                        f"{case.name}: the values are right but no gradient flows back to the "
                        "inputs (no torch.no_grad(), .detach() or .item() inside: the model "
                        "learns through the merge)"
                    )
            return None
        va, vb = torch.exp(i["logvar_a"]), torch.exp(i["logvar_b"])
        want_var = torch.exp(expected["logvar"])
        if not ok_lv:
            hint = diagnose(
                logvar,
                [
                    (want_var, "you returned the variance σ²; return its log, log σ²"),
                    (torch.log(va + vb), "variances do not add: precisions (1/σ²) do"),
                    (0.5 * expected["logvar"], "that is log σ; return log σ² (the log variance)"),
                    (
                        (i["logvar_a"] + i["logvar_b"]) / 2,
                        "the merged log-variance is not the "
                        "average of the two: precisions (1/σ²) add",
                    ),
                ],
                rtol=1e-4,
                atol=1e-5,
            )
            return f"{case.name}: logvar is wrong: " + (
                hint or "1/σ² = 1/σ_a² + 1/σ_b², returned as log σ²"
            )
        hint = diagnose(
            mu,
            [
                (
                    (i["mu_a"] + i["mu_b"]) / 2,
                    "the plain average ignores how sure each estimate "
                    "is: weight each mean by its precision 1/σ²",
                ),
                (
                    (i["mu_a"] * va + i["mu_b"] * vb) / (va + vb),
                    "the weights are swapped: the surer Gaussian (smaller σ²) must count more",
                ),
                (
                    i["mu_a"] / va + i["mu_b"] / vb,
                    "multiply the precision-weighted sum by the "
                    "merged variance σ² (normalise the weights)",
                ),
            ],
            rtol=1e-4,
            atol=1e-5,
        )
        return f"{case.name}: mu is wrong: " + (
            hint or "μ = σ² (μ_a/σ_a² + μ_b/σ_b²), with σ² the merged variance"
        )


register(MergeGaussians())


# ============================================================================ the level KL
class LevelKL(Check):
    id = "ex07.level_kl"
    function = "level_kl"

    def cases(self, seed):
        g = _gen(seed)

        def qp(b, d, dtype=torch.float64):
            q = _gaussians(g, (b, d), dtype=dtype)
            return {
                "mu_q": q["mu_a"],
                "logvar_q": q["logvar_a"],
                "mu_p": q["mu_b"],
                "logvar_p": q["logvar_b"],
            }

        same = qp(3, 4)
        same["mu_p"], same["logvar_p"] = same["mu_q"].clone(), same["logvar_q"].clone()
        std = qp(4, 3)
        std["mu_p"], std["logvar_p"] = (
            torch.zeros(4, 3, dtype=torch.float64),
            torch.zeros(4, 3, dtype=torch.float64),
        )
        return [
            Case("batch of 6, d=4", qp(6, 4)),
            Case("batch of 1, d=8", qp(1, 8)),
            Case("q equal to p (the KL is 0)", same),
            Case("p = N(0, I) (the one-level KL)", std),
            Case("float32 inputs", qp(5, 2, dtype=torch.float32)),
        ]

    def run(self, fn, inputs):
        return {
            "kl": fn(*(copy_input(inputs[k]) for k in ("mu_q", "logvar_q", "mu_p", "logvar_p")))
        }

    def reference(self, case):
        i = {k: v.double() for k, v in case.inputs.items() if isinstance(v, torch.Tensor)}
        return ref_kl_between(i["mu_q"], i["logvar_q"], i["mu_p"], i["logvar_p"]).sum(1)

    def compare(self, case, out, expected):
        i = {k: v.double() for k, v in case.inputs.items() if isinstance(v, torch.Tensor)}
        b, d = i["mu_q"].shape
        o = out.get("kl", {})
        problem = tensor_problem(case, out, "kl", shape=(b,))
        if problem:
            if o.get("kind") == "tensor" and tuple(o["shape"]) == (b, d):
                problem += ": sum over the latent dimensions, one KL per example"
            elif o.get("kind") == "tensor" and tuple(o["shape"]) == ():
                problem += ": keep one KL per example (no mean or sum over the batch)"
            return problem
        problem = tensor_problem(case, out, "kl", dtype=_dtype(case.inputs["mu_q"]))
        if problem:
            return problem
        got = _values(out, "kl").double()
        if close(got, expected, rtol=1e-4, atol=1e-5):
            return None
        reverse = ref_kl_between(i["mu_p"], i["logvar_p"], i["mu_q"], i["logvar_q"]).sum(1)
        zero = torch.zeros_like(i["mu_q"])
        to_std = ref_kl_between(i["mu_q"], i["logvar_q"], zero, zero).sum(1)
        sq, sp = torch.exp(i["logvar_q"]), torch.exp(i["logvar_p"])
        std_as_var = (
            0.5
            * (2 * i["logvar_p"] - 2 * i["logvar_q"] + (sq + (i["mu_q"] - i["mu_p"]) ** 2) / sp - 1)
        ).sum(1)
        hint = diagnose(
            got,
            [
                (reverse, "that is KL(p ‖ q): the ELBO needs KL(q ‖ p), the posterior first"),
                (to_std, "that is the KL to N(0, I): here the prior is N(mu_p, σ_p²), given z₂"),
                (-expected, "wrong sign: a KL is never negative"),
                (std_as_var, "log σ² is already the log variance: log σ_p² − log σ_q², not twice"),
            ],
            rtol=1e-4,
            atol=1e-5,
        )
        where = int((got - expected).abs().argmax())
        return (
            f"{case.name}: example {where} has KL {fmt(float(got[where]))}, expected "
            f"{fmt(float(expected[where]))}: "
            + (hint or "½ Σ_j (log σ_p² − log σ_q² + (σ_q² + (μ_q − μ_p)²)/σ_p² − 1)")
        )


register(LevelKL())


# ============================================================================ sampling top-down
_CFG = {"latent_dims": (3, 2), "hidden_dims": (12,), "top_hidden": 8, "image_shape": (1, 5, 5)}


def _model(inputs) -> HierarchicalVAE:
    torch.manual_seed(int(inputs["model_seed"]))
    return HierarchicalVAE(**_CFG).eval()


class AncestralSample(Check):
    id = "ex07.ancestral_sample"
    function = "ancestral_sample"

    def cases(self, seed):
        g = _gen(seed)

        def case(n):
            return {
                "eps2": torch.randn(n, 2, generator=g),
                "eps1": torch.randn(n, 3, generator=g),
                "model_seed": int(torch.randint(0, 2**30, (1,), generator=g)),
            }

        return [
            Case("8 samples", case(8)),
            Case("one sample", case(1)),
            Case("20 samples", case(20)),
            Case(
                "model and noise on another device (meta, a stand-in for a GPU)",
                {**case(3), "device": True},
            ),
        ]

    def run(self, fn, inputs):
        model = _model(inputs)
        eps2, eps1 = copy_input(inputs["eps2"]), copy_input(inputs["eps1"])
        if inputs.get("device"):
            dev = other_device()
            model, eps2, eps1 = model.to(dev), eps2.to(dev), eps1.to(dev)
        with torch.no_grad():
            return {"x": fn(model, eps2, eps1)}

    def _parts(self, inputs):
        model = _model(inputs)
        with torch.no_grad():
            z2 = inputs["eps2"]
            mu, logvar = model.prior_z1(z2)
            return model, z2, mu, logvar

    def reference(self, case):
        if case.inputs.get("device"):
            return None
        model, _, mu, logvar = self._parts(case.inputs)
        with torch.no_grad():
            z1 = mu + torch.exp(0.5 * logvar) * case.inputs["eps1"]
            return torch.sigmoid(model.decode(z1))

    def compare(self, case, out, expected):
        n = case.inputs["eps2"].shape[0]
        if case.inputs.get("device"):
            return tensor_problem(case, out, "x", shape=(n, 1, 5, 5), device=other_device())
        problem = tensor_problem(case, out, "x", shape=(n, 1, 5, 5))
        if problem:
            return problem
        got = _values(out, "x").double()
        want = expected.double()
        if close(got, want, rtol=1e-4, atol=1e-5):
            return None
        model, z2, mu, logvar = self._parts(case.inputs)
        eps1 = case.inputs["eps1"]
        with torch.no_grad():
            variants = [
                (
                    torch.logit(want.clamp(1e-12, 1 - 1e-12)),
                    "return probabilities: apply torch.sigmoid to the decoder's logits",
                ),
                (
                    torch.sigmoid(model.decode(eps1)).double(),
                    "z₁ ignores z₂: z₁ comes from "
                    "p(z₁|z₂) = N(mu, σ²) given by model.prior_z1(z₂), not from N(0, I)",
                ),
                (
                    torch.sigmoid(model.decode(mu)).double(),
                    "z₁ is the prior's mean: add the noise, z₁ = mu + σ·eps1",
                ),
                (
                    torch.sigmoid(model.decode(mu + torch.exp(logvar) * eps1)).double(),
                    "σ = exp(½ log σ²), not exp(log σ²)",
                ),
                (
                    torch.sigmoid(model.decode(mu + logvar * eps1)).double(),
                    "logvar is log σ²: the standard deviation is exp(0.5 · logvar)",
                ),
            ]
        hint = diagnose(got, variants, rtol=1e-4, atol=1e-5)
        return f"{case.name}: the images differ from p(x|z₁) means by up to " + (
            f"{fmt(float((got - want).abs().max()))}: "
            + (
                hint
                or "z₂ = eps2; (mu, logvar) = model.prior_z1(z₂); z₁ = mu + σ·eps1; "
                "sigmoid(model.decode(z₁))"
            )
        )


register(AncestralSample())


# ============================================================================ predict, then run
class PredictTopLevel(ChoiceCheck):
    """Predict-then-run: how many top-level dimensions a two-level VAE uses without help."""

    id = "ex07.predict_top_level"
    function = "prediction_top_level"
    choices = (
        "most of its 8 dimensions carry information",
        "about half of them",
        "only a few of them, or none",
    )
    answer = "only a few of them, or none"
    hints = {
        "most of its 8 dimensions carry information": "the decoder reads z1 alone, so whatever "
        "z2 could tell it, z1 can tell it directly; early in training the KL pulls q(z2|x) onto "
        "its prior before z2 becomes useful (Sønderby et al. 2016). Count the dimensions below",
        "about half of them": "fewer: the decoder reads z1 alone, and the KL switches off a top "
        "dimension unless it pays for itself; count the dimensions below",
    }


register(PredictTopLevel())
