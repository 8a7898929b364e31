"""Checks of exercise set ``ex05_beta_vae`` (notebook 05, β-VAE and disentanglement).

Tasks (function the learner writes → check id):

* ``beta_vae_loss(x, x_logits, mu, logvar, beta)`` → ``ex05.beta_vae_loss`` (the loss and
  its two named terms, rate and distortion)
* ``discretize(codes, num_bins)`` → ``ex05.discretize``
* ``mutual_information(table)`` → ``ex05.mutual_information`` (from a contingency table)
* ``mig_from_mi(mi, entropies)`` → ``ex05.mig_from_mi``
* ``prediction_kl_beta`` → ``ex05.predict_kl_beta`` (predict-then-run)

References are the course's own implementations (:mod:`vae_course.losses`,
:mod:`vae_course.disentanglement`, which follows ``disentanglement_lib``'s MIG estimator).
"""

from __future__ import annotations

import math

import torch

from ..disentanglement import discretize as ref_discretize
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
from .checks import worst_element as _worst
from .ex04 import VAELoss

__all__ = [
    "BetaVAELoss",
    "Discretize",
    "MutualInformation",
    "MIGFromMI",
    "PredictKLBeta",
    "ref_mutual_information_table",
    "ref_mig_from_mi",
]


# ============================================================================ the β-VAE loss
class BetaVAELoss(VAELoss):
    """ex04's loss, now returning its two terms by name: rate and distortion (nats/example)."""

    id = "ex05.beta_vae_loss"
    function = "beta_vae_loss"

    def cases(self, seed):
        cases = super().cases(seed)
        g = _gen(seed + 1)
        big = {
            "x": (torch.rand(8, 1, 28, 28, generator=g) < 0.3).float(),
            "x_logits": torch.randn(8, 1, 28, 28, generator=g) * 2,
            "mu": torch.randn(8, 10, generator=g),
            "logvar": torch.randn(8, 10, generator=g) * 0.5,
            "beta": 10.0,
        }
        return [*cases, Case("beta=10", big)]

    def run(self, fn, inputs):
        seen = []

        def terms(*args, **kwargs):  # ex04's run calls this; it keeps the whole dict
            res = fn(*args, **kwargs)
            seen.append(res)
            return res["loss"] if isinstance(res, dict) and "loss" in res else res

        out = super().run(terms, inputs)
        res = seen[0] if seen else None
        if not isinstance(res, dict):
            out["not_a_dict"] = True
            return out
        out["keys"] = torch.tensor([k in res for k in ("loss", "rate", "distortion")])
        for k in ("rate", "distortion"):
            if k in res:
                out[k] = res[k]
        return out

    def compare(self, case, out, expected):
        if out.get("not_a_dict", {}).get("value"):
            return (
                f"{case.name}: return a dict with the keys 'loss', 'rate' and 'distortion' "
                "(named terms, as the course's model.loss does)"
            )
        keys = _values(out, "keys")
        if keys is None or not bool(keys.all()):
            return f"{case.name}: the dict needs the three keys 'loss', 'rate' and 'distortion'"
        problem = super().compare(case, out, expected)
        if problem:
            return problem
        rec, kl, beta = self._parts(case)
        want = {"rate": kl.mean(), "distortion": (-rec).mean()}
        for name, value in want.items():
            problem = tensor_problem(case, out, name, shape=(), what="a scalar tensor")
            if problem:
                o = out.get(name, {})
                if o.get("kind") == "number":
                    problem += ": keep it a tensor (0-d), like the loss"
                elif o.get("kind") == "tensor" and tuple(o["shape"]) == (rec.shape[0],):
                    problem += ": average over the batch, like the loss"
                return problem
            got = out[name]["value"].double()
            if close(got, value, rtol=1e-4, atol=1e-3):
                continue
            hint = diagnose(
                got,
                [
                    (beta * kl.mean(), "the rate is the KL itself, before β weights it"),
                    (rec.mean(), "the distortion is −log p(x|z), positive nats: flip the sign"),
                    (value * rec.shape[0], "you summed over the batch; take the mean"),
                    (
                        want["distortion" if name == "rate" else "rate"],
                        "rate and distortion are swapped: rate = KL, distortion = −log p(x|z)",
                    ),
                ],
                rtol=1e-4,
                atol=1e-3,
            )
            return f"{case.name}: {name} is {fmt(float(got))}, expected {fmt(float(value))}: " + (
                hint
                or (
                    "rate = batch mean of KL(q(z|x) ‖ p(z))"
                    if name == "rate"
                    else "distortion = batch mean of −log p(x|z)"
                )
            )
        return None


# ============================================================================ discretize
class Discretize(Check):
    id = "ex05.discretize"
    function = "discretize"

    def cases(self, seed):
        g = _gen(seed)
        scales = torch.tensor([1.0, 10.0, 0.01])
        shifted = torch.randn(500, 3, generator=g, dtype=torch.float64) * scales + torch.tensor(
            [0.0, 100.0, -5.0]
        )
        const = torch.randn(40, 2, generator=g, dtype=torch.float64)
        const[:, 1] = 3.0
        return [
            Case(
                "500 codes of 3 dimensions with different ranges, 20 bins", {"c": shifted, "n": 20}
            ),
            Case(
                "10 evenly spaced values, 5 bins (the maximum lands in the last bin)",
                {"c": torch.linspace(0, 9, 10, dtype=torch.float64)[:, None], "n": 5},
            ),
            Case("a constant column (all in bin 0)", {"c": const, "n": 4}),
            Case(
                "float32 codes, 7 bins",
                {"c": torch.rand(200, 4, generator=g) * 3 - 1, "n": 7},
            ),
        ]

    def run(self, fn, inputs):
        return {"bins": fn(copy_input(inputs["c"]), inputs["n"])}

    def reference(self, case):
        return ref_discretize(case.inputs["c"], case.inputs["n"])

    def compare(self, case, out, expected):
        c, n = case.inputs["c"].double(), case.inputs["n"]
        o = out.get("bins", {})
        problem = tensor_problem(case, out, "bins", shape=tuple(c.shape))
        if problem:
            if o.get("kind") == "other" and "ndarray" in str(o.get("type")):
                problem += ": return a torch tensor (torch.from_numpy(...))"
            return problem
        if o["dtype"] != "int64":
            return (
                f"{case.name}: expected integer bin indices (int64), got {o['dtype']}: "
                "use .long() (or torch.floor(...).long())"
            )
        got = o["value"]
        if torch.equal(got, expected):
            return None
        lo, hi = c.min(0).values, c.max(0).values
        width = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        raw = torch.floor((c - lo) / width * n)
        glo, ghi = c.min(), c.max()
        variants = [
            (
                raw.clamp(0, n).long(),
                "each column's maximum gets bin num_bins: put it in the last bin, num_bins − 1",
            ),
            (
                torch.floor((c - glo) / (ghi - glo) * n).clamp(0, n - 1).long(),
                "the bins must span each column's own range (min and max per column), not "
                "the whole tensor's",
            ),
            (
                torch.round((c - lo) / width * n).clamp(0, n - 1).long(),
                "round() moves values into the next bin: take the floor",
            ),
            (
                torch.floor((c - lo) / width * (n - 1)).long(),
                "with n − 1 the last bin only ever holds the maximum: divide the range into "
                "num_bins equal widths",
            ),
        ]
        for value, hint in variants:
            if torch.equal(got, value):
                return f"{case.name}: {hint}"
        if int(got.min()) < 0 or int(got.max()) >= n:
            return (
                f"{case.name}: bin indices must lie in [0, {n}), got {int(got.min())} to "
                f"{int(got.max())}"
            )
        if bool((hi == lo).any()) and not bool((got[:, hi == lo] == 0).all()):
            return f"{case.name}: a constant column has no range: put all of it in bin 0"
        i = int((got != expected).reshape(-1).nonzero()[0])
        return (
            f"{case.name}: value {fmt(float(c.reshape(-1)[i]))} went to bin "
            f"{int(got.reshape(-1)[i])}, expected {int(expected.reshape(-1)[i])}: the bins are "
            "num_bins equal widths from each column's min to its max, floor((c − min) / width)"
        )


# ============================================================================ mutual information
def ref_mutual_information_table(table: torch.Tensor) -> float:
    """Plug-in I(a; b) in nats from a contingency table of counts (I, J).

    Σ p(a, b) log[p(a, b) / (p(a) p(b))] with p = table / total; 0 log 0 = 0. Tested against
    :func:`vae_course.disentanglement.mutual_information` on label vectors.
    """
    t = table.double()
    p = t / t.sum()
    pa, pb = p.sum(1, keepdim=True), p.sum(0, keepdim=True)
    nz = p > 0
    return float((p[nz] * torch.log(p[nz] / (pa * pb)[nz])).sum().clamp_min(0.0))


class MutualInformation(Check):
    id = "ex05.mutual_information"
    function = "mutual_information"

    def cases(self, seed):
        g = _gen(seed)
        rand = torch.randint(0, 30, (4, 5), generator=g).double()
        diag = torch.diag(torch.tensor([10.0, 20.0, 30.0, 40.0]))
        indep = torch.outer(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 2.0, 5.0, 1.0]))
        sparse = torch.randint(0, 6, (6, 3), generator=g).double()
        sparse[sparse < 3] = 0
        sparse[0, 0] = 5
        return [
            Case("a random 4×5 table of counts", {"t": rand}),
            Case("a diagonal table (b determines a): I = H(a)", {"t": diag}),
            Case("independent variables (an outer product): I = 0", {"t": indep}),
            Case("a table with many empty cells (0 log 0 = 0)", {"t": sparse}),
            Case("integer counts (int64)", {"t": torch.randint(1, 9, (3, 3), generator=g)}),
        ]

    def run(self, fn, inputs):
        return {"mi": fn(copy_input(inputs["t"]))}

    def reference(self, case):
        return ref_mutual_information_table(case.inputs["t"])

    def compare(self, case, out, expected):
        o = out.get("mi", {})
        if o.get("kind") == "tensor" and tuple(o["shape"]) == ():
            return f"{case.name}: return a Python float (float(...) or .item()), not a 0-d tensor"
        if o.get("kind") != "number":
            got = o.get("type", o.get("kind"))
            if o.get("kind") == "tensor":
                got = f"a tensor of shape {tuple(o['shape'])}: sum over every cell of the table"
            return f"{case.name}: expected a float (nats), got {got}"
        got = float(o["value"])
        if math.isnan(got):
            return (
                f"{case.name}: got NaN: empty cells give 0 · log 0; leave them out of the sum "
                "(0 log 0 = 0)"
            )
        if abs(got - expected) <= 1e-6 + 1e-6 * abs(expected):
            return None
        t = case.inputs["t"].double()
        p = t / t.sum()
        pa, pb = p.sum(1, keepdim=True), p.sum(0, keepdim=True)
        nz = p > 0
        h_a = float(-(pa[pa > 0] * torch.log(pa[pa > 0])).sum())
        tn = t / t.sum(1, keepdim=True).clamp_min(1e-300)
        variants = [
            (expected / math.log(2), "that is in bits (log2); use the natural log, nats"),
            (-expected, "wrong sign: I = Σ p(a, b) log[p(a, b) / (p(a) p(b))] ≥ 0"),
            (
                float((p[nz] * torch.log(p[nz])).sum()),
                "the denominator p(a) p(b) is missing: log[p(a, b) / (p(a) p(b))]",
            ),
            (h_a, "that is the entropy H(a); the mutual information is H(a) − H(a | b)"),
            (
                float(
                    (
                        t[nz]
                        * torch.log(t[nz] / (t.sum(1, keepdim=True) * t.sum(0, keepdim=True))[nz])
                    ).sum()
                ),
                "normalise the counts to probabilities first: p = table / table.sum()",
            ),
            (
                float((p[nz] * torch.log(p[nz] / (pa * pb)[nz])).mean()),
                "sum over the cells, don't average",
            ),
            (
                float((tn[tn > 0] * torch.log(tn[tn > 0])).sum()),
                "the joint p(a, b) is the table over its total, not each row over its sum",
            ),
        ]
        for value, hint in variants:
            if abs(got - value) <= 1e-6 + 1e-6 * abs(value):
                return f"{case.name}: got {fmt(got)} nats, expected {fmt(expected)}: {hint}"
        return (
            f"{case.name}: got {fmt(got)} nats, expected {fmt(expected)}: I(a; b) = "
            "Σ over non-empty cells of p(a, b) log[p(a, b) / (p(a) p(b))], p = table / total"
        )


# ============================================================================ MIG
def ref_mig_from_mi(mi: torch.Tensor, entropies: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Per-factor normalised gaps (K,) and their mean, from an MI matrix (d codes, K factors).

    gap_k = (largest − second largest of mi[:, k]) / entropies[k], as
    :func:`vae_course.disentanglement.mig_per_factor` computes it from codes and factors.
    """
    top2 = torch.topk(mi.double(), 2, dim=0).values
    gaps = (top2[0] - top2[1]) / entropies.double()
    return gaps, float(gaps.mean())


class MIGFromMI(Check):
    id = "ex05.mig_from_mi"
    function = "mig_from_mi"

    def cases(self, seed):
        g = _gen(seed)

        def case(d, k):
            h = torch.rand(k, generator=g, dtype=torch.float64) * 2 + 0.5
            mi = torch.rand(d, k, generator=g, dtype=torch.float64) * h
            return {"mi": mi, "h": h}

        tie = {
            "mi": torch.tensor([[0.5, 0.1], [0.5, 0.9], [0.2, 0.3]]).double(),
            "h": torch.tensor([1.0, 1.5]).double(),
        }
        return [
            Case("10 codes, 5 factors", case(10, 5)),
            Case("2 codes, 3 factors", case(2, 3)),
            Case("a tie for the largest MI (gap 0 for that factor)", tie),
            Case("6 codes, 1 factor", case(6, 1)),
        ]

    def run(self, fn, inputs):
        res = fn(copy_input(inputs["mi"]), copy_input(inputs["h"]))
        if isinstance(res, (tuple, list)) and len(res) == 2:
            return {"gaps": res[0], "score": res[1]}
        return {"gaps": res, "single": True}

    def reference(self, case):
        return ref_mig_from_mi(case.inputs["mi"], case.inputs["h"])

    def compare(self, case, out, expected):
        mi, h = case.inputs["mi"].double(), case.inputs["h"].double()
        d, k = mi.shape
        if out.get("single", {}).get("value"):
            return f"{case.name}: return a pair (gaps, score): the per-factor gaps and their mean"
        problem = tensor_problem(case, out, "gaps", shape=(k,), what=f"a tensor of {k} gaps")
        if problem:
            o = out.get("gaps", {})
            if o.get("kind") == "tensor" and tuple(o["shape"]) == (d,) and d != k:
                problem += ": one gap per factor (a column of mi), not per code"
            return problem
        want, want_score = expected
        got = out["gaps"]["value"].double()
        tol = {"rtol": 1e-6, "atol": 1e-9}
        if not close(got, want, **tol):
            srt = torch.sort(mi, dim=0, descending=True).values
            hint = diagnose(
                got,
                [
                    (srt[0] - srt[1], "normalise each gap by its factor's entropy"),
                    (srt[0] / h, "MIG is a *gap*: subtract the second-largest MI"),
                    (
                        (srt[0] - srt[-1]) / h,
                        "the gap is to the second-largest MI, not the smallest",
                    ),
                    (
                        (srt[0] - srt[1]) / srt[0],
                        "divide by the factor's entropy H(factor), not by the largest MI",
                    ),
                    ((srt[0] - srt[1]) * h, "divide by the entropy, don't multiply"),
                ],
                **tol,
            )
            idx, gv, e = _worst(got, want)
            return f"{case.name}: gap of factor {idx} is {gv}, expected {e}: " + (
                hint or "(largest − second largest MI of the factor's column) / its entropy"
            )
        o = out.get("score", {})
        if o.get("kind") == "tensor" and tuple(o["shape"]) == ():
            return f"{case.name}: return the score as a Python float (float(...) or .item())"
        if o.get("kind") != "number":
            return f"{case.name}: the score must be a float, got {o.get('type', o.get('kind'))}"
        score = float(o["value"])
        if abs(score - want_score) <= 1e-9 + 1e-6 * abs(want_score):
            return None
        if abs(score - float(want.max())) < 1e-9:
            return f"{case.name}: the score is the *mean* gap over factors, not the largest"
        return f"{case.name}: score {fmt(score)}, expected {fmt(want_score)}: average the gaps over factors"


for _c in (BetaVAELoss(), Discretize(), MutualInformation(), MIGFromMI()):
    register(_c)


class PredictKLBeta(ChoiceCheck):
    """Predict-then-run: the rate of β = 1 vs β = 8 models, same data and budget."""

    id = "ex05.predict_kl_beta"
    function = "prediction_kl_beta"
    choices = ("larger at beta = 8", "about the same", "smaller at beta = 8")
    answer = "smaller at beta = 8"
    hints = {
        "larger at beta = 8": "β multiplies the KL in the loss, so a larger β makes every nat "
        "of KL more expensive: the optimiser buys less of it and pays in reconstruction",
        "about the same": "β changes the price of the KL relative to reconstruction: the "
        "optimum moves along the rate–distortion curve, it does not stay put",
    }


register(PredictKLBeta())
