"""Checks of exercise set ``ex06_cvae`` (notebook 06, the conditional VAE).

Tasks (function the learner writes → check id):

* ``one_hot(labels, n_classes)`` → ``ex06.one_hot``
* ``conditional_loss(model, x, labels, beta=1.0)`` → ``ex06.conditional_loss``
* ``analogy_grid(model, x, labels)`` → ``ex06.analogy_grid``
* ``prediction_probe`` → ``ex06.predict_probe`` (predict-then-run)

References: ``torch.nn.functional.one_hot``, :mod:`vae_course.losses` and
:func:`vae_course.models.analogy_grid`. The models are small :class:`ConditionalVAE`\\ s
rebuilt from a seed on both sides; the loss check's model draws its noise from a fixed
tensor, so a right answer is deterministic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import bernoulli_log_likelihood as ref_bernoulli
from ..losses import gaussian_kl as ref_kl
from ..models import ConditionalVAE
from ..models import analogy_grid as ref_analogy_grid
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

__all__ = ["OneHot", "ConditionalLoss", "AnalogyGrid", "PredictProbe", "FixedNoiseCVAE"]


# ============================================================================ one-hot
class OneHot(Check):
    id = "ex06.one_hot"
    function = "one_hot"

    def cases(self, seed):
        g = _gen(seed)
        return [
            Case("64 labels, 10 classes", {"y": torch.randint(0, 10, (64,), generator=g), "n": 10}),
            Case(
                "labels 0..2 of 5 classes (the largest class never occurs)",
                {"y": torch.randint(0, 3, (20,), generator=g), "n": 5},
            ),
            Case("one label", {"y": torch.tensor([7]), "n": 10}),
            Case(
                "labels on another device (meta, a stand-in for a GPU)", {"device": True, "n": 10}
            ),
        ]

    def run(self, fn, inputs):
        if inputs.get("device"):
            return {"v": fn(torch.zeros(4, dtype=torch.long, device=other_device()), inputs["n"])}
        return {"v": fn(copy_input(inputs["y"]), inputs["n"])}

    def reference(self, case):
        if case.inputs.get("device"):
            return None
        return F.one_hot(case.inputs["y"], case.inputs["n"]).float()

    def compare(self, case, out, expected):
        n = case.inputs["n"]
        if case.inputs.get("device"):
            return tensor_problem(case, out, "v", shape=(4, n), device=other_device())
        y = case.inputs["y"]
        o = out.get("v", {})
        problem = tensor_problem(case, out, "v", shape=(len(y), n))
        if problem:
            if o.get("kind") == "tensor" and tuple(o["shape"]) == (n, len(y)) and n != len(y):
                problem += ": one row per label (B, n_classes), not transposed"
            elif o.get("kind") == "tensor" and len(o["shape"]) == 2 and o["shape"][0] == len(y):
                problem += (
                    f": use n_classes = {n} columns, not the largest label + 1 (a batch need "
                    "not contain every class)"
                )
            return problem
        if o["dtype"] != "float32":
            return (
                f"{case.name}: expected float32 (it is concatenated to float images), got "
                f"{o['dtype']}: convert with .float()"
            )
        got = o["value"]
        if torch.equal(got, expected):
            return None
        if torch.equal(got, 1 - expected):
            return f"{case.name}: 1 marks the label's column and 0 every other one, not the reverse"
        return f"{case.name}: row i must be 1 in column labels[i] and 0 elsewhere"


# ============================================================================ conditional loss
class FixedNoiseCVAE(ConditionalVAE):
    """A ConditionalVAE whose sampling noise ε is fixed: ``model(x, labels)`` is deterministic."""

    noise: torch.Tensor | None = None

    def forward(self, x, labels=None):
        mu, logvar = self.encode(x, labels)
        z = mu + torch.exp(0.5 * logvar) * self.noise[: mu.shape[0]].to(mu)
        return {"x_logits": self.decode(z, labels), "mu": mu, "logvar": logvar, "z": z}


_CFG = {"n_classes": 4, "latent_dim": 3, "hidden_dims": (16,), "image_shape": (1, 6, 6)}


def _loss_model(inputs) -> FixedNoiseCVAE:
    torch.manual_seed(int(inputs["model_seed"]))
    model = FixedNoiseCVAE(**_CFG)
    model.noise = inputs["noise"].clone()
    return model


class ConditionalLoss(Check):
    id = "ex06.conditional_loss"
    function = "conditional_loss"

    def cases(self, seed):
        g = _gen(seed)

        def batch(b, beta):
            return {
                "x": (torch.rand(b, 1, 6, 6, generator=g) < 0.4).float(),
                "y": torch.randint(0, 4, (b,), generator=g),
                "noise": torch.randn(b, 3, generator=g),
                "beta": beta,
                "model_seed": int(torch.randint(0, 2**30, (1,), generator=g)),
            }

        return [
            Case("batch of 16, beta=1", batch(16, 1.0)),
            Case("beta=4", batch(8, 4.0)),
            Case("batch of 1, beta=0.5", batch(1, 0.5)),
        ]

    def run(self, fn, inputs):
        model = _loss_model(inputs)
        loss = fn(model, copy_input(inputs["x"]), copy_input(inputs["y"]), beta=inputs["beta"])
        out = {"loss": loss}
        if isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.requires_grad:
            grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
            out["grad"] = torch.cat(
                [
                    (g if g is not None else torch.zeros_like(p)).reshape(-1)
                    for g, p in zip(grads, model.parameters(), strict=True)
                ]
            )
        return out

    def _terms(self, case, labels=None):
        i = case.inputs
        model = _loss_model(i)
        out = model(i["x"], i["y"] if labels is None else labels)
        return model, ref_bernoulli(i["x"], out["x_logits"]), ref_kl(out["mu"], out["logvar"])

    def reference(self, case):
        model, rec, kl = self._terms(case)
        loss = (-rec + case.inputs["beta"] * kl).mean()
        grad = torch.autograd.grad(loss, list(model.parameters()))
        return {"loss": loss.detach().double(), "grad": torch.cat([g.reshape(-1) for g in grad])}

    def compare(self, case, out, expected):
        o = out.get("loss", {})
        problem = tensor_problem(case, out, "loss", shape=(), what="a scalar tensor")
        if problem:
            if o.get("kind") == "number":
                problem += ": return the tensor (no .item()), so loss.backward() works"
            elif o.get("kind") == "tensor" and len(o["shape"]) == 1:
                problem += ": average over the batch to get one scalar"
            return problem
        if not o["requires_grad"]:
            return f"{case.name}: the loss is not connected to the model's parameters (no .detach(), .item() or torch.no_grad())"
        got = o["value"].double()
        want = expected["loss"]
        if close(got, want, rtol=1e-4, atol=1e-4):
            g = _values(out, "grad")
            if g is None or not close(g.double(), expected["grad"].double(), rtol=1e-3, atol=1e-5):
                return (
                    f"{case.name}: the loss has the right value but the wrong gradient: part "
                    "of it is cut from the graph (no .detach() or torch.no_grad() inside)"
                )
            return None
        beta = case.inputs["beta"]
        _, rec, kl = self._terms(case)
        rec, kl = rec.detach().double(), kl.detach().double()
        _, rec0, kl0 = self._terms(case, labels=torch.zeros_like(case.inputs["y"]))
        hint = diagnose(
            got,
            [
                (
                    -want,
                    "wrong sign: return the negative conditional ELBO, the quantity to minimise",
                ),
                ((-rec + kl).mean(), "beta has no effect: weight the KL term by beta"),
                ((-beta * rec + kl).mean(), "beta multiplies the KL term, not the reconstruction"),
                ((-rec + beta * kl).sum(), "you summed over the batch; take the mean"),
                (
                    (-rec0.detach() + beta * kl0.detach()).double().mean(),
                    "every example was conditioned on class 0: pass the batch's labels",
                ),
            ],
            rtol=1e-4,
            atol=1e-4,
        )
        return f"{case.name}: loss is {fmt(float(got))}, expected {fmt(float(want))}: " + (
            hint or "run model(x, labels), then the mean over the batch of −log p(x|z, y) + β·KL"
        )

    def explain_error(self, case, error):
        msg = super().explain_error(case, error)
        if "needs labels" in error:
            msg += ": call the model with the labels, model(x, labels)"
        return msg


# ============================================================================ analogy grid
class AnalogyGrid(Check):
    id = "ex06.analogy_grid"
    function = "analogy_grid"

    def cases(self, seed):
        g = _gen(seed)

        def case(n_classes, b):
            return {
                "n_classes": n_classes,
                "x": (torch.rand(b, 1, 6, 6, generator=g) < 0.4).float(),
                "y": torch.randint(0, n_classes, (b,), generator=g),
                "model_seed": int(torch.randint(0, 2**30, (1,), generator=g)),
            }

        grey = case(4, 2)
        grey["x"] = torch.rand(2, 1, 6, 6, generator=g)  # grey levels, shown as they are
        return [
            Case("3 digits, 4 classes", case(4, 3)),
            Case("one digit, 6 classes", case(6, 1)),
            Case("5 digits, 3 classes", case(3, 5)),
            Case("2 grey-level digits, 4 classes", grey),
            Case(
                "model and digits on another device (meta, a stand-in for a GPU)",
                {**case(4, 2), "device": True},
            ),
        ]

    @staticmethod
    def _model(inputs):
        torch.manual_seed(int(inputs["model_seed"]))
        cfg = {**_CFG, "n_classes": inputs["n_classes"]}
        return ConditionalVAE(**cfg).eval()

    def run(self, fn, inputs):
        model = self._model(inputs)
        if inputs.get("device"):
            dev = other_device()
            x, y = inputs["x"].to(dev), inputs["y"].to(dev)
            return {"grid": fn(model.to(dev), x, y)}
        return {"grid": fn(model, copy_input(inputs["x"]), copy_input(inputs["y"]))}

    def reference(self, case):
        i = case.inputs
        return ref_analogy_grid(self._model(i), i["x"], i["y"])

    def compare(self, case, out, expected):
        i = case.inputs
        b, k = i["x"].shape[0], i["n_classes"]
        if i.get("device"):
            return tensor_problem(
                case, out, "grid", shape=tuple(expected.shape), device=other_device()
            )
        o = out.get("grid", {})
        problem = tensor_problem(case, out, "grid", shape=tuple(expected.shape))
        if problem:
            if o.get("kind") == "tensor" and tuple(o["shape"][:1]) == (b * k,):
                problem += ": each row starts with the digit itself, then its n_classes transfers"
            return problem
        got = o["value"]
        if close(got, expected, rtol=1e-4, atol=1e-5):
            return None
        model = self._model(i)
        x, y = i["x"], i["y"]
        with torch.no_grad():
            mu, _ = model.encode(x, y)
            classes = torch.arange(k)
            by_class = torch.cat(
                [torch.sigmoid(model.decode(mu, torch.full((b,), c))) for c in range(k)]
            )
            logits = torch.cat(
                [
                    torch.cat([x[j : j + 1], model.decode(mu[j : j + 1].expand(k, -1), classes)])
                    for j in range(b)
                ]
            )
            own = torch.cat(
                [
                    torch.cat(
                        [
                            x[j : j + 1],
                            torch.sigmoid(
                                model.decode(
                                    model.encode(x[j : j + 1].expand(k, -1, -1, -1), classes)[0],
                                    classes,
                                )
                            ),
                        ]
                    )
                    for j in range(b)
                ]
            )
        col_major = torch.cat([x, by_class])
        hint = diagnose(
            got,
            [
                (logits, "decode gives logits: pass them through torch.sigmoid"),
                (
                    own,
                    "encode each digit with its *own* label only; re-encoding it with each "
                    "target label changes z, and the style is no longer the same",
                ),
            ],
            rtol=1e-4,
            atol=1e-5,
        )
        if (
            hint is None
            and tuple(col_major.shape) == tuple(got.shape)
            and close(got, col_major, rtol=1e-4, atol=1e-5)
        ):
            hint = "the grid is row-major by digit: digit i, then its z in class 0, 1, ..."
        if hint is None and not torch.equal(got[0], x[0]):
            hint = "each row starts with the digit itself, x[i], before its transfers"
        return f"{case.name}: the grid differs from the expected one: " + (
            hint
            or "z is the posterior mean mu(x, y) (no sampling), decoded with labels 0 … n_classes − 1"
        )


for _c in (OneHot(), ConditionalLoss(), AnalogyGrid()):
    register(_c)


class PredictProbe(ChoiceCheck):
    """Predict-then-run: how well a linear probe reads the class from a 2-D CVAE's codes."""

    id = "ex06.predict_probe"
    function = "prediction_probe"
    choices = (
        "much worse than from the VAE's codes",
        "about as well as from the VAE's codes",
        "better than from the VAE's codes",
    )
    answer = "much worse than from the VAE's codes"
    hints = {
        "about as well as from the VAE's codes": "the VAE has to spend its two numbers on the "
        "class too; the CVAE is given the class, and every nat z spends on it costs KL",
        "better than from the VAE's codes": "the label already tells the decoder the class, so "
        "what would z gain by storing it again?",
    }


register(PredictProbe())
