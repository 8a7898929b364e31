"""Checks of exercise set ``ex04_vae`` (notebook 04, the full VAE).

Tasks (function the learner writes → check id):

* ``reparameterize(mu, logvar)`` → ``ex04.reparameterize``
* ``gaussian_kl(mu, logvar)`` → ``ex04.gaussian_kl``
* ``bernoulli_log_likelihood(x, logits)`` → ``ex04.bernoulli_log_likelihood``
* ``vae_loss(x, x_logits, mu, logvar, beta=1.0)`` → ``ex04.vae_loss``
* ``train_step(model, optimizer, x, beta=1.0)`` → ``ex04.train_step``
* ``sample_prior(model, n, temperature=1.0)`` → ``ex04.sample_prior``
* ``optimal_decoder_logvar(x, x_mean)`` → ``ex04.optimal_decoder_logvar`` (a derivation)
* ``Encoder`` / ``Decoder`` classes → ``ex04.encoder`` / ``ex04.decoder`` (build tasks)

References are the course's own implementations (:mod:`vae_course.losses`,
:mod:`vae_course.models`); messages name the symptom and a likely cause.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import bernoulli_log_likelihood as ref_bernoulli
from ..losses import elbo as ref_elbo
from ..losses import gaussian_kl as ref_kl
from ..models import MLPVAE
from .checks import (
    Case,
    Check,
    ChoiceCheck,
    close,
    copy_input,
    diagnose,
    fmt,
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
    "Reparameterize",
    "GaussianKL",
    "BernoulliLogLikelihood",
    "VAELoss",
    "TrainStep",
    "SamplePrior",
    "OptimalDecoderLogvar",
    "ref_optimal_decoder_logvar",
    "FixedNoiseVAE",
    "LatentProbe",
    "other_device",
]


def other_device() -> str:
    """The device standing in for a GPU in device checks: always ``meta``.

    ``meta`` tensors have shapes but no data; mixing them with CPU tensors raises the
    same "expected device" error a GPU tensor would, so hard-coded devices are caught on
    any machine, identically in the notebook, the grading child and the parent (a real
    GPU would cost a CUDA context per submission and does not start under the grader's
    address-space limit).
    """
    return "meta"


def ref_vae_loss(x, x_logits, mu, logvar, beta=1.0):
    """Reference of the ``vae_loss`` task: mean over the batch of −log p(x|z) + β·KL."""
    return ref_elbo(x, x_logits, mu, logvar, beta=beta)["loss"]


# ============================================================================ reparameterize
class Reparameterize(Check):
    id = "ex04.reparameterize"
    function = "reparameterize"

    def cases(self, seed):
        g = _gen(seed)

        def pair(*shape, dtype=torch.float32):
            mu = torch.randn(*shape, generator=g, dtype=dtype) * 2
            logvar = torch.rand(*shape, generator=g, dtype=dtype) * 5 - 3
            return mu, logvar

        n = 10_000
        mu_big = torch.tensor([1.5, -2.0, 0.0]).expand(n, 3).clone()
        lv_big = torch.tensor([math.log(4.0), math.log(0.25), 0.0]).expand(n, 3).clone()
        cases = [
            Case("batch of 64, d=20", dict(zip(("mu", "logvar"), pair(64, 20), strict=True))),
            Case("batch of 1", dict(zip(("mu", "logvar"), pair(1, 5), strict=True))),
            Case(
                "3-D input (K=3, B=5, d=4)", dict(zip(("mu", "logvar"), pair(3, 5, 4), strict=True))
            ),
            Case(
                "float64 input",
                dict(zip(("mu", "logvar"), pair(8, 3, dtype=torch.float64), strict=True)),
            ),
            Case(
                f"{n} samples with σ = (2, 0.5, 1)", {"mu": mu_big, "logvar": lv_big, "stats": True}
            ),
            Case(
                "inputs on another device (meta, a stand-in for a GPU)",
                {"device": True, "shape": (8, 4)},
            ),
        ]
        for i, c in enumerate(cases):
            c.inputs["seed"] = int(seed) + i
        return cases

    def run(self, fn, inputs):
        if inputs.get("device"):
            dev = other_device()
            mu = torch.zeros(inputs["shape"], device=dev)
            logvar = torch.zeros(inputs["shape"], device=dev)
            return {"z": fn(mu, logvar)}
        mu = copy_input(inputs["mu"]).requires_grad_(True)
        logvar = copy_input(inputs["logvar"]).requires_grad_(True)
        z = fn(mu, logvar)
        out = {"z": z}
        if isinstance(z, torch.Tensor) and z.requires_grad and z.shape == mu.shape:
            g_mu, g_lv = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True)
            out["grad_mu"], out["grad_logvar"] = g_mu, g_lv
        return out

    def compare(self, case, out, expected):
        inp = case.inputs
        if inp.get("device"):
            return tensor_problem(case, out, "z", shape=inp["shape"], device=other_device())
        mu, logvar = inp["mu"], inp["logvar"]
        dtype = str(mu.dtype).replace("torch.", "")
        problem = tensor_problem(case, out, "z", shape=mu.shape, dtype=dtype)
        if problem:
            if out["z"].get("kind") == "tensor" and tuple(out["z"]["shape"])[-1:] == (
                2 * mu.shape[-1],
            ):
                problem += ": return one z per mean (same shape as mu), not mu and logvar joined"
            return problem
        z = out["z"]["value"].double()
        if not torch.isfinite(z).all():
            return f"{case.name}: z contains NaN/inf"
        mu64, lv64 = mu.double(), logvar.double()
        if close(z, mu64, rtol=0, atol=1e-12):
            return f"{case.name}: z equals mu: add the noise σ·ε with ε ~ N(0, I)"
        if not out["z"]["requires_grad"]:
            return (
                f"{case.name}: z does not depend on mu and logvar in the autograd graph: "
                "build z from them with differentiable operations (no .detach(), "
                "torch.no_grad(), .item() or torch.normal(mu, std)) so the encoder can learn"
            )
        g_mu, g_lv = _values(out, "grad_mu"), _values(out, "grad_logvar")
        if g_mu is None or not close(g_mu, torch.ones_like(mu)):
            return (
                f"{case.name}: ∂z/∂mu should be 1 for every element: the mean must enter z "
                "as a plain sum, z = mu + (noise term); sampling functions like "
                "torch.normal do not pass gradients"
            )
        want = 0.5 * (z - mu64)
        if g_lv is None or not close(g_lv, want, rtol=1e-3, atol=1e-4):
            hint = (
                diagnose(
                    g_lv,
                    [
                        (
                            z - mu64,
                            "z's spread is exp(logvar), the variance — did you use logvar as "
                            "log-std? σ = exp(logvar / 2)",
                        ),
                        (
                            (z - mu64) / lv64,
                            "logvar is used directly as σ; σ = exp(logvar / 2)",
                        ),
                    ],
                    rtol=1e-3,
                    atol=1e-4,
                )
                if g_lv is not None
                else "no gradient reaches logvar"
            )
            return f"{case.name}: ∂z/∂logvar is wrong: " + (
                hint or "the noise must be scaled by σ = exp(logvar / 2)"
            )
        if inp.get("stats"):
            eps = (z - mu64) / torch.exp(0.5 * lv64)
            if float(eps.std(dim=0).max()) < 1e-6:
                if float(eps.abs().max()) < 1e-6:
                    return f"{case.name}: z equals mu: add the noise σ·ε"
                return (
                    f"{case.name}: every example got the same ε: draw a fresh ε for every "
                    "element (same shape as mu)"
                )
            m, s = eps.mean(0), eps.std(0)
            if float(m.abs().max()) > 0.05 or float((s - 1).abs().max()) > 0.05:
                hint = "ε must be standard normal (torch.randn_like(mu))"
                if float((m - 0.5).abs().max()) < 0.05 and float(eps.min()) >= -1e-6:
                    hint = "ε looks uniform on [0, 1): use torch.randn_like, not torch.rand_like"
                return (
                    f"{case.name}: (z − mu)/σ has mean {fmt(float(m.mean()))} and std "
                    f"{fmt(float(s.mean()))}, expected 0 and 1: {hint}"
                )
            return independence_problem(
                case, eps, what="ε", across="latent dimensions"
            ) or normal_tail_problem(case, eps, what="ε = (z − mu)/σ")
        return None


# ============================================================================ gaussian_kl
class GaussianKL(Check):
    id = "ex04.gaussian_kl"
    function = "gaussian_kl"

    def cases(self, seed):
        g = _gen(seed)

        def pair(b, d, scale=2.0, dtype=torch.float32):
            mu = torch.randn(b, d, generator=g, dtype=dtype) * scale
            logvar = torch.randn(b, d, generator=g, dtype=dtype) * scale
            return {"mu": mu, "logvar": logvar}

        extreme = {
            "mu": torch.tensor([[50.0, -50.0, 0.0, 1e-3], [0.0, 0.0, 0.0, 0.0]]),
            "logvar": torch.tensor([[-20.0, 8.0, 0.0, -1e-3], [10.0, -30.0, 0.0, 0.0]]),
        }
        return [
            Case("batch of 64, d=20", pair(64, 20)),
            Case("batch of 1", pair(1, 5)),
            Case("one latent dimension (B=7, d=1)", pair(7, 1)),
            Case(
                "q equal to the prior (mu=0, logvar=0)",
                {"mu": torch.zeros(4, 3), "logvar": torch.zeros(4, 3)},
            ),
            Case("extreme values (|mu| = 50, logvar from -30 to 10)", extreme),
            Case("float64 input", pair(6, 3, dtype=torch.float64)),
        ]

    def run(self, fn, inputs):
        return {"kl": fn(copy_input(inputs["mu"]), copy_input(inputs["logvar"]))}

    def reference(self, case):
        return ref_kl(case.inputs["mu"], case.inputs["logvar"])

    def compare(self, case, out, expected):
        mu, logvar = case.inputs["mu"], case.inputs["logvar"]
        b, d = mu.shape
        o = out.get("kl", {})
        problem = tensor_problem(case, out, "kl", shape=(b,))
        if problem:
            if o.get("kind") == "tensor":
                if tuple(o["shape"]) == (b, d):
                    problem += ": sum the KL over latent dimensions (dim=1)"
                elif tuple(o["shape"]) in ((), (1,)):
                    problem += ": return one KL per example; sum over dim=1 only, not the batch"
            return problem
        dtype = str(mu.dtype).replace("torch.", "")
        problem = tensor_problem(case, out, "kl", dtype=dtype)
        if problem:
            return problem
        got = o["value"].double()
        exp = expected.double()
        if close(got, exp, rtol=1e-4, atol=1e-4):
            return None
        if not torch.isfinite(got).all():
            return (
                f"{case.name}: got NaN/inf where the KL is finite: use exp(logvar) for σ² and "
                "logvar itself for log σ² (never log(exp(...)) or a division by σ)"
            )
        mu64, lv64 = mu.double(), logvar.double()
        log_std_as_lv = 0.5 * (mu64**2 + torch.exp(2 * lv64) - 1 - 2 * lv64).sum(1)
        hint = diagnose(
            got,
            [
                (-exp, "wrong sign: a KL divergence is never negative"),
                (2 * exp, "twice the KL: you dropped the factor 1/2"),
                (exp / d, "you averaged over latent dimensions; sum them"),
                (exp + 0.5 * d, "the −1 inside the sum is missing (the KL of q = p is 0)"),
                (exp - 0.5 * (mu64**2).sum(1), "the μ² term is missing"),
                (log_std_as_lv, "did you use logvar as log-std? σ² = exp(logvar)"),
            ],
        )
        worst = int((got - exp).abs().argmax())
        return f"{case.name}: KL of example {worst} is {fmt(float(got[worst]))} nats, expected " + (
            f"{fmt(float(exp[worst]))}: "
            + (hint or "compare your formula term by term with the notebook's")
        )


# ============================================================================ bernoulli
class BernoulliLogLikelihood(Check):
    id = "ex04.bernoulli_log_likelihood"
    function = "bernoulli_log_likelihood"

    def cases(self, seed):
        g = _gen(seed)
        shape = (16, 1, 28, 28)
        x_bin = (torch.rand(shape, generator=g) < 0.3).float()
        x_cont = torch.rand(shape, generator=g)
        logits = torch.randn(shape, generator=g) * 3
        ext_x = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.5, 1.0]])
        # beyond ±100: a probability-space BCE clamps each log at −100 and is wrong here
        ext_l = torch.tensor([[-150.0, 150.0, 150.0, -150.0, 150.0, 0.0]])
        return [
            Case("binary MNIST-shaped batch (16, 1, 28, 28)", {"x": x_bin, "logits": logits}),
            Case("grey values in [0, 1]", {"x": x_cont, "logits": logits.flip(0)}),
            Case("batch of 1", {"x": x_bin[:1], "logits": logits[:1]}),
            Case(
                "flat input (B, 784)",
                {"x": x_bin[:4].reshape(4, 784), "logits": logits[:4].reshape(4, 784)},
            ),
            Case(
                "extreme logits ±150",
                {"x": ext_x.expand(3, 6).clone(), "logits": ext_l.expand(3, 6).clone()},
            ),
            Case("float64 input", {"x": x_cont[:2].double(), "logits": logits[:2].double()}),
        ]

    def run(self, fn, inputs):
        return {"ll": fn(copy_input(inputs["x"]), copy_input(inputs["logits"]))}

    def reference(self, case):
        return ref_bernoulli(case.inputs["x"], case.inputs["logits"])

    def compare(self, case, out, expected):
        x, logits = case.inputs["x"], case.inputs["logits"]
        b = x.shape[0]
        o = out.get("ll", {})
        problem = tensor_problem(case, out, "ll", shape=(b,))
        if problem:
            if o.get("kind") == "tensor":
                if tuple(o["shape"]) in ((), (1,)) and b > 1:
                    problem += ": return one value per example; sum over pixels, not the batch"
                elif len(o["shape"]) > 1:
                    problem += ": sum over every pixel dimension (all but the batch dimension)"
            return problem
        problem = tensor_problem(case, out, "ll", dtype=str(x.dtype).replace("torch.", ""))
        if problem:
            return problem
        got, exp = o["value"].double(), expected.double()
        if close(got, exp, rtol=1e-4, atol=1e-3):
            return None
        if not torch.isfinite(got).all():
            if logits.abs().max() >= 100:
                hint = (
                    "sigmoid then log underflows for large |logits|; compute it from the "
                    "logits directly (F.binary_cross_entropy_with_logits, or x·l − softplus(l))"
                )
            else:
                hint = "logits are unbounded reals, not probabilities: don't take their log"
            return f"{case.name}: got NaN/inf: {hint}"
        x64, l64 = x.double(), logits.double()
        per_px = exp / x[0].numel()
        twice = (
            -F.binary_cross_entropy_with_logits(torch.sigmoid(l64), x64, reduction="none")
            .reshape(b, -1)
            .sum(1)
        )
        hint = diagnose(
            got,
            [
                (
                    -exp,
                    "wrong sign: this is the BCE loss; the log-likelihood is its negative (≤ 0)",
                ),
                (per_px, "you averaged over pixels; sum them (nats per example)"),
                (exp * b, "summed over the batch too; keep one value per example"),
                (twice, "sigmoid applied twice: pass the raw logits to the with-logits loss"),
            ],
            rtol=1e-4,
            atol=1e-3,
        )
        worst = int((got - exp).abs().argmax())
        return (
            f"{case.name}: log-likelihood of example {worst} is {fmt(float(got[worst]))} nats, "
            f"expected {fmt(float(exp[worst]))}: "
            + (hint or "sum x·log p + (1 − x)·log(1 − p) over pixels, with p = sigmoid(logits)")
        )


# ============================================================================ vae_loss
class VAELoss(Check):
    id = "ex04.vae_loss"
    function = "vae_loss"
    uses = ("gaussian_kl", "bernoulli_log_likelihood")

    def references(self):
        return {"gaussian_kl": ref_kl, "bernoulli_log_likelihood": ref_bernoulli}

    def cases(self, seed):
        g = _gen(seed)

        def batch(b, beta):
            return {
                "x": (torch.rand(b, 1, 28, 28, generator=g) < 0.3).float(),
                "x_logits": torch.randn(b, 1, 28, 28, generator=g) * 2,
                "mu": torch.randn(b, 8, generator=g),
                "logvar": torch.randn(b, 8, generator=g) * 0.5,
                "beta": beta,
            }

        extreme = batch(8, 2.0)  # confident logits (sigmoid rounds to 1 in float32) and wide logvar
        extreme["x_logits"] = extreme["x_logits"] * 20
        extreme["logvar"] = torch.linspace(-9.0, 7.0, 8 * 8).reshape(8, 8)
        return [
            Case("batch of 32, beta=1", batch(32, 1.0)),
            Case("beta=4", batch(16, 4.0)),
            Case("beta=0", batch(16, 0.0)),
            Case("beta=0.5, batch of 1", batch(1, 0.5)),
            Case("logits up to ±100 and logvar from −9 to 7, beta=2", extreme),
        ]

    def run(self, fn, inputs):
        t = {  # copies: an in-place edit (even under no_grad) is caught after the call
            k: copy_input(inputs[k]).requires_grad_(k != "x")
            for k in ("x", "x_logits", "mu", "logvar")
        }
        loss = fn(t["x"], t["x_logits"], t["mu"], t["logvar"], beta=inputs["beta"])
        out = {"loss": loss}
        if isinstance(loss, torch.Tensor) and loss.requires_grad and loss.dim() == 0:
            grads = torch.autograd.grad(
                loss, (t["x_logits"], t["mu"], t["logvar"]), allow_unused=True
            )
            out.update(zip(("grad_x_logits", "grad_mu", "grad_logvar"), grads, strict=True))
        return out

    def _ref_grads(self, case):
        """The reference loss's gradients (a detached term would change these, not the value)."""
        i = case.inputs
        t = {k: i[k].double().clone().requires_grad_(True) for k in ("x_logits", "mu", "logvar")}
        rec = ref_bernoulli(i["x"].double(), t["x_logits"])
        loss = (-rec + float(i["beta"]) * ref_kl(t["mu"], t["logvar"])).mean()
        return dict(
            zip(
                ("grad_x_logits", "grad_mu", "grad_logvar"),
                torch.autograd.grad(loss, (t["x_logits"], t["mu"], t["logvar"])),
                strict=True,
            )
        )

    def _parts(self, case):
        i = case.inputs
        rec = ref_bernoulli(i["x"], i["x_logits"]).double()
        kl = ref_kl(i["mu"], i["logvar"]).double()
        return rec, kl, float(i["beta"])

    def reference(self, case):
        rec, kl, beta = self._parts(case)
        return (-rec + beta * kl).mean()

    def compare(self, case, out, expected):
        o = out.get("loss", {})
        b = case.inputs["x"].shape[0]
        problem = tensor_problem(case, out, "loss", shape=(), what="a scalar tensor")
        if problem:
            if o.get("kind") == "number":
                problem += (
                    ": don't call .item() or float(); return the tensor so loss.backward() works"
                )
            elif o.get("kind") == "tensor" and tuple(o["shape"]) == (b,):
                problem += ": average over the batch to get one scalar loss"
            return problem
        if not o["requires_grad"]:
            return (
                f"{case.name}: the loss is not connected to x_logits, mu and logvar in the "
                "autograd graph (no .detach(), .item() or torch.tensor(...) on the way)"
            )
        got = o["value"].double()
        if close(got, expected, rtol=1e-4, atol=1e-3):
            for name, ref in self._ref_grads(case).items():
                g = _values(out, name)
                if g is None or not close(g.double(), ref, rtol=1e-3, atol=1e-6):
                    return (
                        f"{case.name}: the loss has the right value but the wrong gradient with "
                        f"respect to {name[5:]}: part of it is cut from the graph (no .detach(), "
                        ".item() or torch.no_grad() inside the loss)"
                    )
            return None
        rec, kl, beta = self._parts(case)
        hint = diagnose(
            got,
            [
                (-expected, "wrong sign: return the *negative* ELBO, the quantity to minimise"),
                ((-rec + kl).mean(), "beta has no effect: weight the KL term by beta"),
                ((-beta * rec + kl).mean(), "beta multiplies the KL term, not the reconstruction"),
                ((-rec - beta * kl).mean(), "the KL term is a penalty: add β·KL to −log p(x|z)"),
                ((rec - beta * kl).mean(), "this is the ELBO itself; the loss is its negative"),
                ((-rec + beta * kl).sum(), "you summed over the batch; take the mean"),
            ],
            rtol=1e-4,
            atol=1e-3,
        )
        return (
            f"{case.name}: loss is {fmt(float(got))}, expected {fmt(float(expected))}: "
            + (hint or "mean over the batch of −log p(x|z) + β·KL, in nats")
            + " (checked with the course's gaussian_kl and bernoulli_log_likelihood in place of yours)"
        )


# ============================================================================ train_step
class FixedNoiseVAE(MLPVAE):
    """An MLPVAE whose sampling noise ε is fixed, so a training step is deterministic.

    ``forward`` uses ``z = mu + exp(logvar / 2) · noise[:B]``: however often a learner's
    step calls the model, it sees the same z.
    """

    noise: torch.Tensor | None = None

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * self.noise[: mu.shape[0]].to(mu)
        return {"x_logits": self.decode(z), "mu": mu, "logvar": logvar, "z": z}


_STEP_CONFIG = {"latent_dim": 3, "hidden_dims": (16,), "image_shape": (1, 6, 6)}
_STEP_LR = 0.1
_STEP_COUNT = 2


def _step_model(inputs) -> tuple[FixedNoiseVAE, torch.optim.Optimizer]:
    model = FixedNoiseVAE(**_STEP_CONFIG)
    model.load_state_dict(inputs["state"])
    model.noise = inputs["noise"].clone()
    return model, torch.optim.SGD(model.parameters(), lr=_STEP_LR)


def _flat_params(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _ref_steps(inputs, *, zero_grad=True, step=True, use_beta=True):
    model, opt = _step_model(inputs)
    losses = []
    for _ in range(_STEP_COUNT):
        x = inputs["x"]
        out = model(x)
        beta = inputs["beta"] if use_beta else 1.0
        loss = ref_vae_loss(x, out["x_logits"], out["mu"], out["logvar"], beta=beta)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        if step:
            opt.step()
        losses.append(loss.item())
    return losses, _flat_params(model)


class TrainStep(Check):
    id = "ex04.train_step"
    function = "train_step"
    uses = ("vae_loss",)

    def references(self):
        return {"vae_loss": ref_vae_loss}

    def cases(self, seed):
        g = _gen(seed)
        torch_state = torch.random.get_rng_state()
        try:
            torch.manual_seed(int(seed) % (2**63))
            state = {k: v.clone() for k, v in MLPVAE(**_STEP_CONFIG).state_dict().items()}
        finally:
            torch.random.set_rng_state(torch_state)

        def case(b, beta):
            return {
                "state": state,
                "x": torch.rand(b, *_STEP_CONFIG["image_shape"], generator=g),
                "noise": torch.randn(b, _STEP_CONFIG["latent_dim"], generator=g),
                "beta": beta,
            }

        return [
            Case("two steps on a batch of 8, beta=1 (SGD, lr=0.1)", case(8, 1.0)),
            Case("two steps, beta=3", case(8, 3.0)),
            Case("two steps on a batch of 1", case(1, 1.0)),
        ]

    def run(self, fn, inputs):
        model, opt = _step_model(inputs)
        out = {}
        for i in range(_STEP_COUNT):
            out[f"loss_{i + 1}"] = fn(model, opt, copy_input(inputs["x"]), beta=inputs["beta"])
        out["params"] = _flat_params(model)
        return out

    def reference(self, case):
        return _ref_steps(case.inputs)

    def compare(self, case, out, expected):
        losses, params = expected
        got_losses = []
        for i in range(1, _STEP_COUNT + 1):
            o = out.get(f"loss_{i}", {"kind": "none"})
            if o["kind"] == "tensor":  # the docstring promises a Python float
                return (
                    f"{case.name}: step {i} returned a tensor of shape {tuple(o['shape'])}: "
                    "return the loss as a Python float (loss.item()), so no graph is kept alive"
                )
            if o["kind"] == "number":
                got_losses.append(o["value"])
            else:
                kind = (
                    "None (did you forget to return it?)"
                    if o["kind"] == "none"
                    else o.get("type", o.get("shape"))
                )
                return (
                    f"{case.name}: step {i} should return the loss as a float (loss.item()), "
                    f"got {kind}"
                )
        p = _values(out, "params")
        if p is None or p.shape != params.shape:
            return f"{case.name}: the model's parameters could not be read back after the steps"

        def same(ls, ps):
            return all(
                math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-3)
                for a, b in zip(got_losses, ls, strict=True)
            ) and close(p, ps, rtol=1e-4, atol=1e-5)

        if same(losses, params):
            return None
        variants = [
            (
                {"step": False},
                "the parameters did not change: call optimizer.step() after backward",
            ),
            (
                {"zero_grad": False},
                "gradients accumulate across steps: call optimizer.zero_grad() every step",
            ),
        ]
        if case.inputs["beta"] != 1.0:
            variants.append(({"use_beta": False}, "beta is ignored: pass beta to vae_loss"))
        for kwargs, hint in variants:
            if same(*_ref_steps(case.inputs, **kwargs)):
                return f"{case.name}: {hint}"
        for i, (got, want) in enumerate(zip(got_losses, losses, strict=True), start=1):
            if not math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-3):
                return (
                    f"{case.name}: step {i} returned loss {fmt(got)}, expected {fmt(want)}: "
                    "return this batch's vae_loss (with beta), computed before the update"
                )
        return (
            f"{case.name}: the parameters after {_STEP_COUNT} steps differ from the reference: "
            "one step is zero_grad → forward (model(x)) → vae_loss → backward → step"
        )


# ============================================================================ sample_prior
class LatentProbe(nn.Module):
    """A stand-in decoder for checking samplers: its logits are z itself.

    Has what ``sample_prior`` may use: ``latent_dim``, ``decode(z)`` (returns logits of
    shape (n, 1, 1, latent_dim)) and parameters on the model's device.
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.image_shape = (1, 1, self.latent_dim)
        self.anchor = nn.Parameter(torch.zeros(()))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != self.latent_dim:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"expected z of shape (n, {self.latent_dim}), got {got}")
        return (z + self.anchor).reshape(z.shape[0], *self.image_shape)


class SamplePrior(Check):
    id = "ex04.sample_prior"
    function = "sample_prior"

    def cases(self, seed):
        return [
            Case("10000 samples, temperature 1", {"n": 10_000, "d": 4, "t": 1.0, "seed": seed}),
            Case(
                "10000 samples, temperature 0.5", {"n": 10_000, "d": 3, "t": 0.5, "seed": seed + 1}
            ),
            Case("n = 1", {"n": 1, "d": 5, "t": 1.0, "seed": seed + 2}),
            Case(
                "model on another device (meta, a stand-in for a GPU)",
                {"n": 6, "d": 2, "t": 1.0, "seed": seed + 3, "device": True},
            ),
        ]

    def run(self, fn, inputs):
        probe = LatentProbe(inputs["d"])
        dev = other_device() if inputs.get("device") else "cpu"
        probe = probe.to(dev)
        return {"x": fn(probe, inputs["n"], temperature=inputs["t"])}

    def compare(self, case, out, expected):
        n, d, t = case.inputs["n"], case.inputs["d"], case.inputs["t"]
        dev = other_device() if case.inputs.get("device") else "cpu"  # never the child's word
        o = out.get("x", {})
        problem = tensor_problem(
            case, out, "x", shape=(n, 1, 1, d), device=dev, what="a tensor of images"
        )
        if problem:
            if o.get("kind") == "tensor" and tuple(o["shape"]) == (n, d):
                problem += (
                    ": return the decoded images, model.decode(z) (passed through sigmoid), not z"
                )
            return problem
        if o["requires_grad"]:
            return f"{case.name}: the samples carry an autograd graph: sample under torch.no_grad()"
        if dev == "meta":
            return None
        x = o["value"].double()
        if not torch.isfinite(x).all() or float(x.min()) < 0 or float(x.max()) > 1:
            return (
                f"{case.name}: values outside [0, 1]: return probabilities, "
                "torch.sigmoid(model.decode(z)), not logits"
            )
        z = torch.logit(x.clamp(1e-12, 1 - 1e-12)).reshape(n, d)
        if n < 100:
            return None
        if float(z.std(0).max()) < 1e-6:
            return f"{case.name}: every sample is the same: draw a fresh z for every sample"
        m, s = float(z.mean()), float(z.std(0).mean())
        if abs(m) > 0.05 * max(t, 0.2) + 0.03 or abs(s - t) > 0.05 * t:
            if float(z.min()) >= -1e-4 and abs(m - t / 2) < 0.05:
                hint = "z looks uniform: draw from the standard normal prior (torch.randn)"
            elif abs(s - t * t) < 0.05 * t and t != 1:
                hint = "scale ε by the temperature itself (a standard deviation), not its square"
            elif abs(s - 1) < 0.05 and t != 1:
                hint = "the temperature is ignored: z = temperature · ε"
            else:
                hint = "z must be drawn from N(0, temperature² I)"
            return (
                f"{case.name}: the latent codes have mean {fmt(m)} and std {fmt(s)}, "
                f"expected 0 and {fmt(t)}: {hint}"
            )
        return independence_problem(
            case, z / t, what="the latent codes", across="latent dimensions"
        ) or normal_tail_problem(case, z / t, what="z / temperature")


# ============================================================================ derivation: σ²
def ref_optimal_decoder_logvar(x, x_mean):
    """log σ²* maximising Σ_i log N(x_i; mean_i, σ²) over one σ² per example: (B,).

    Setting the derivative in σ² to zero gives σ²* = (1/D) Σ_i (x_i − mean_i)², the mean
    squared error per value. Checked for stationarity and a maximum with autograd in
    ``tests/test_grading_derivations.py``.
    """
    err = (x - x_mean).reshape(x.shape[0], -1)
    return torch.log(err.pow(2).mean(dim=1))


class OptimalDecoderLogvar(Check):
    """A derivation: the decoder variance an ELBO would learn for fixed reconstructions."""

    id = "ex04.optimal_decoder_logvar"
    function = "optimal_decoder_logvar"

    def cases(self, seed):
        g = _gen(seed)

        def pair(*shape, dtype=torch.float32, spread=0.2):
            x = torch.rand(*shape, generator=g, dtype=dtype)
            return {"x": x, "x_mean": x + spread * torch.randn(*shape, generator=g, dtype=dtype)}

        return [
            Case("batch of 8 images (8, 1, 28, 28)", pair(8, 1, 28, 28)),
            Case("batch of 1, flat (1, 784)", pair(1, 784)),
            Case("3 examples of 5 values, float64", pair(3, 5, dtype=torch.float64)),
            Case(
                "a wide range of errors per example",
                {
                    "x": torch.zeros(3, 50),
                    "x_mean": torch.randn(3, 50, generator=g)
                    * torch.tensor([[0.01], [1.0], [30.0]]),
                },
            ),
        ]

    def run(self, fn, inputs):
        return {"logvar": fn(copy_input(inputs["x"]), copy_input(inputs["x_mean"]))}

    def reference(self, case):
        i = case.inputs
        return ref_optimal_decoder_logvar(i["x"].double(), i["x_mean"].double())

    def compare(self, case, out, expected):
        i = case.inputs
        x, m = i["x"].double(), i["x_mean"].double()
        B = x.shape[0]
        o = out.get("logvar", {})
        problem = tensor_problem(case, out, "logvar", shape=(B,))
        if problem and o.get("kind") == "tensor":
            if tuple(o["shape"]) == tuple(x.shape) or (len(o["shape"]) == 2 and o["shape"][0] == B):
                problem += ": one σ² is shared by all the values of an example: average over them"
            elif tuple(o["shape"]) in ((), (1,)) and B > 1:
                problem += ": return one log σ² per example, don't average over the batch"
        problem = problem or tensor_problem(case, out, "logvar", dtype=_dtype(i["x"]))
        if problem:
            return problem
        got = o["value"].double()
        tol = {"rtol": 1e-4, "atol": 1e-5}
        if close(got, expected, **tol):
            return None
        sq = (x - m).reshape(B, -1).pow(2)
        hint = diagnose(
            got,
            [
                (
                    torch.log(sq.sum(1)),
                    "that is the log of the *summed* squared error; setting the derivative "
                    "to zero gives D σ² = Σ_i (x_i − mean_i)², so σ² is the mean",
                ),
                (0.5 * expected, "that is log σ; return log σ² (the variance)"),
                (expected.exp(), "that is σ² itself; return its log"),
                (
                    torch.log(sq.mean()).expand(B),
                    "each example has its own σ²: average over the values of one example only",
                ),
                (
                    torch.log((x - m).reshape(B, -1).abs().mean(1)),
                    "a Gaussian's σ² comes from squared errors, not absolute ones",
                ),
                (
                    torch.log((x - m).reshape(B, -1).var(1)),
                    "that subtracts the mean error: σ² is the mean of (x − mean)² itself",
                ),
            ],
            **tol,
        )
        k, gv, e = _worst(got, expected)
        return f"{case.name}: log σ² of example {k} is {gv}, expected {e}: " + (
            hint or "write Σ_i log N(x_i; mean_i, σ²), differentiate in σ², set to zero"
        )


for _c in (
    Reparameterize(),
    GaussianKL(),
    BernoulliLogLikelihood(),
    VAELoss(),
    TrainStep(),
    SamplePrior(),
    OptimalDecoderLogvar(),
):
    register(_c)


class PredictMeanReduction(ChoiceCheck):
    """Predict-then-run: a loss that averages over pixels but sums the KL."""

    id = "ex04.predict_mean_reduction"
    function = "prediction_mean_reduction"
    choices = ("it grows", "it stays about the same", "it collapses to near zero")
    answer = "it collapses to near zero"
    hints = {
        "it grows": "dividing the reconstruction term by 784 makes every nat of KL 784 times "
        "more expensive relative to it",
        "it stays about the same": "the mean over pixels is the sum divided by 784: the same "
        "objective as beta = 784 (notebook 04, section 9)",
    }


register(PredictMeanReduction())


# ----------------------------------------------------------------------------- build task
def _mlp_params(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


class _BuildCheck(Check):
    """Build a module of the guide's VAE; checked by structure, not by values (random init).

    Every case builds the learner's class for latent dimension ``d``, counts parameters,
    runs a forward pass, probes for a nonlinearity (a ReLU-free network is linear, so
    ``f(2v) − f(0) = 2 (f(v) − f(0))``), and builds a second copy on the ``meta`` device
    (the stand-in for a GPU) to check nothing is pinned to the CPU.
    """

    sizes: tuple = ()

    def cases(self, seed: int) -> list[Case]:
        g = torch.Generator().manual_seed(seed)
        return [
            Case(f"d={d}, batch of {b}", {"d": d, "v": self.make_input(g, b, d), "seed": seed})
            for d, b in ((20, 16), (2, 1), (5, 3))
        ]

    def reference(self, case: Case):
        d = case.inputs["d"]
        return {"n_params": _mlp_params(self.layer_sizes(d)), "d": d}

    def _linear_gap(self, module, v):
        with torch.no_grad():
            f0 = self.first(module(torch.zeros_like(v)))
            f1, f2 = self.first(module(v)), self.first(module(2 * v))
        scale = float((f1 - f0).abs().max()) + 1e-12
        return float((f2 - f0 - 2 * (f1 - f0)).abs().max()) / scale  # 0 (to rounding) if linear

    def layer_weights(self, module) -> dict:
        """Run-side: the learner's ``nn.Linear`` weights in order, as outputs ``w0, b0, ...``."""
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        res = {}
        for i, lin in enumerate(linears[:6]):
            res[f"w{i}"] = lin.weight
            res[f"b{i}"] = lin.bias if lin.bias is not None else torch.zeros(lin.out_features)
        return res

    def guide_layers(self, out, d):
        """The learner's weights arranged as the guide's three layers, or None.

        Two heads (a mu layer and a logvar layer) are one 2d-output layer in two halves.
        """
        ws = []
        i = 0
        while f"w{i}" in out and out[f"w{i}"].get("kind") == "tensor":
            ws.append((out[f"w{i}"]["value"], out[f"b{i}"]["value"]))
            i += 1
        sizes = self.layer_sizes(d)
        if len(ws) == 4 and tuple(ws[2][0].shape) == tuple(ws[3][0].shape) == (d, sizes[2]):
            ws = [ws[0], ws[1], (torch.cat([ws[2][0], ws[3][0]]), torch.cat([ws[2][1], ws[3][1]]))]
        want = [(b, a) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        if len(ws) != 3 or [tuple(w.shape) for w, _ in ws] != want:
            return None
        return ws

    @staticmethod
    def guide_forward(layers, v):
        """Linear → ReLU → Linear → ReLU → Linear with the given weights (parent side)."""
        h = v.flatten(1).double()
        for i, (w, b) in enumerate(layers):
            h = h @ w.double().T + b.double()
            if i < len(layers) - 1:
                h = torch.relu(h)
        return h

    def common(self, case, out, expected):
        n = out.get("n_params", {}).get("value")
        if n != expected["n_params"]:
            return (
                f"{case.name}: expected {expected['n_params']:,} parameters "
                f"({'-'.join(map(str, self.layer_sizes(expected['d'])))} with biases), got "
                f"{'none' if n is None else f'{int(n):,}'}: check the layer sizes"
            )
        gap = out.get("linear_gap", {}).get("value")
        if gap is not None and gap < 1e-3:
            return f"{case.name}: the network is linear in its input: put a ReLU after each hidden layer"
        return None


class EncoderCheck(_BuildCheck):
    id = "ex04.encoder"
    function = "Encoder"

    @staticmethod
    def layer_sizes(d):
        return (784, 512, 256, 2 * d)

    @staticmethod
    def make_input(g, b, d):
        return torch.rand(b, 1, 28, 28, generator=g)

    @staticmethod
    def first(out):
        return out[0] if isinstance(out, (tuple, list)) else out

    def run(self, fn, inputs):
        d, x = inputs["d"], inputs["v"]
        enc = fn(latent_dim=d)
        out = enc(x)
        res = {
            "n_params": sum(p.numel() for p in enc.parameters()),
            "pair": isinstance(out, (tuple, list)) and len(out) == 2,
        }
        if res["pair"]:
            res["mu"], res["logvar"] = out
            res["flat_mu"] = enc(x.flatten(1))[0]
            res["linear_gap"] = self._linear_gap(enc, x)
            meta = fn(latent_dim=d).to("meta")
            res["meta_mu"] = meta(x.to("meta"))[0]
            res.update(self.layer_weights(enc))
        return res

    def compare(self, case, out, expected):
        d, b = case.inputs["d"], case.inputs["v"].shape[0]
        if not out.get("pair", {}).get("value"):
            return f"{case.name}: forward must return a pair (mu, logvar), each of shape ({b}, {d})"
        for name in ("mu", "logvar"):
            problem = tensor_problem(case, out, name, shape=(b, d))
            if problem:
                return problem + (
                    ": split the last layer's 2d outputs in two (e.g. .chunk(2, dim=1))"
                    if "shape" in problem
                    else ""
                )
        if out.get("flat_mu", {}).get("shape") != (b, d):
            return f"{case.name}: a flat (B, 784) input must work too: flatten x inside forward"
        if not torch.allclose(out["flat_mu"]["value"], out["mu"]["value"], atol=1e-5):
            return f"{case.name}: (B, 1, 28, 28) and (B, 784) inputs give different codes: flatten x, don't reshape it"
        meta = out.get("meta_mu", {})
        if meta.get("device") != "meta" or meta.get("shape") != (b, d):
            return f"{case.name}: on another device the encoder must still work: create layers in __init__, no fixed-device tensors in forward"
        problem = self.common(case, out, expected)
        layers = None if problem else self.guide_layers(out, d)
        if layers is None:
            return problem
        want = self.guide_forward(layers, case.inputs["v"])
        got = torch.cat([out["mu"]["value"], out["logvar"]["value"]], dim=1).double()
        swapped = torch.cat([got[:, d:], got[:, :d]], dim=1)
        if close(got, want, rtol=1e-3, atol=1e-4) or close(swapped, want, rtol=1e-3, atol=1e-4):
            return None
        if float(got.min()) >= 0:
            return (
                f"{case.name}: mu and logvar are never negative: no activation after the "
                "last layer (logvar = log σ² is negative whenever σ < 1)"
            )
        return (
            f"{case.name}: with your layers' own weights, 784 → 512 → ReLU → 256 → ReLU → "
            "2d gives different codes: follow each hidden layer by a ReLU (without it two "
            "layers collapse into one linear map), and nothing after the last"
        )


class DecoderCheck(_BuildCheck):
    id = "ex04.decoder"
    function = "Decoder"

    @staticmethod
    def layer_sizes(d):
        return (d, 256, 512, 784)

    @staticmethod
    def make_input(g, b, d):
        return 3 * torch.randn(b, d, generator=g)

    @staticmethod
    def first(out):
        return out

    def run(self, fn, inputs):
        d, z = inputs["d"], inputs["v"]
        dec = fn(latent_dim=d)
        out = dec(z)
        res = {"n_params": sum(p.numel() for p in dec.parameters()), "logits": out}
        if isinstance(out, torch.Tensor):
            res["linear_gap"] = self._linear_gap(dec, z)
            res["meta_out"] = fn(latent_dim=d).to("meta")(z.to("meta"))
            res.update(self.layer_weights(dec))
        return res

    def compare(self, case, out, expected):
        b = case.inputs["v"].shape[0]
        problem = tensor_problem(case, out, "logits", shape=(b, 1, 28, 28))
        if problem:
            return problem + (
                ": reshape the 784 outputs to (B, 1, 28, 28)" if "shape" in problem else ""
            )
        v = out["logits"]["value"]
        if v.min() >= 0 and v.max() <= 1:
            return f"{case.name}: every output is in [0, 1]: return logits, no sigmoid at the end"
        meta = out.get("meta_out", {})
        if meta.get("device") != "meta" or meta.get("shape") != (b, 1, 28, 28):
            return f"{case.name}: on another device the decoder must still work: create layers in __init__, no fixed-device tensors in forward"
        problem = self.common(case, out, expected)
        layers = None if problem else self.guide_layers(out, case.inputs["d"])
        if layers is None:
            return problem
        want = self.guide_forward(layers, case.inputs["v"])
        if close(v.reshape(b, -1).double(), want, rtol=1e-3, atol=1e-4):
            return None
        return (
            f"{case.name}: with your layers' own weights, d → 256 → ReLU → 512 → ReLU → 784 "
            "gives different logits: follow each hidden layer by a ReLU, and nothing after "
            "the last (the loss applies the sigmoid)"
        )


register(EncoderCheck())
register(DecoderCheck())
