"""Checks of exercise set ``ex08_vq_vae`` (notebook 08, the VQ-VAE).

Tasks (function the learner writes → check id):

* ``nearest_code(z_e, codebook)`` → ``ex08.nearest_code``
* ``quantize(z_e, codebook)`` → ``ex08.quantize`` (the straight-through estimator)
* ``vq_loss_terms(z_e, e, beta=0.25)`` → ``ex08.vq_loss_terms``
* ``perplexity(indices, num_codes)`` → ``ex08.perplexity``
* ``ema_update(ema_count, ema_sum, z_e, indices, decay, eps)`` → ``ex08.ema_update``
  (a derivation: the code that minimises its squared distances is the mean of its vectors)
* ``Quantizer`` class → ``ex08.quantizer`` (a build task, checked by structure)
* ``prediction_dead_codes`` → ``ex08.predict_dead_codes`` (predict-then-run)

References: the pieces of :class:`vae_course.models.vq.VectorQuantizer` written as
functions (``ref_*`` below, tested against the class in ``tests/test_grading_ex08.py``); the
EMA step is the class's own ``_ema_update``. Nearest codes are judged by distance, not by
index: any index whose squared distance equals the smallest one (to rounding) is right, so
a correct answer never fails on a near-tie.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..models.vq import VectorQuantizer
from .checks import (
    Case,
    Check,
    ChoiceCheck,
    _bound_references,
    close,
    copy_input,
    diagnose,
    fmt,
    register,
    tensor_problem,
)
from .checks import dtype_name as _dtype
from .checks import output_tensor as _values
from .checks import seeded_generator as _gen
from .ex04 import other_device

__all__ = [
    "NearestCode",
    "Quantize",
    "VQLossTerms",
    "Perplexity",
    "EMAUpdate",
    "QuantizerCheck",
    "PredictDeadCodes",
    "ref_nearest_code",
    "ref_quantize",
    "ref_vq_loss_terms",
    "ref_perplexity",
    "ref_ema_update",
]

_DEVICE_CASE = "inputs on another device (meta, a stand-in for a GPU)"


# ============================================================================ references
def ref_nearest_code(z_e: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """(N,) int64: the row of ``codebook`` (K, D) nearest to each row of ``z_e`` (N, D)."""
    d = (z_e**2).sum(1, keepdim=True) - 2 * z_e @ codebook.T + (codebook**2).sum(1)[None, :]
    return d.argmin(dim=1)


def ref_quantize(z_e: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The nearest codes with the straight-through gradient: value e, gradient to z_e only."""
    e = codebook[ref_nearest_code(z_e.detach(), codebook.detach())]
    return z_e + (e - z_e).detach()


def ref_vq_loss_terms(z_e: torch.Tensor, e: torch.Tensor, beta: float = 0.25):
    """(codebook loss ‖sg[z_e] − e‖², commitment loss β‖z_e − sg[e]‖²), means over elements."""
    return F.mse_loss(e, z_e.detach()), beta * F.mse_loss(z_e, e.detach())


def ref_perplexity(indices: torch.Tensor, num_codes: int) -> float:
    """exp(entropy in nats) of how often each code occurs in ``indices`` (any shape)."""
    counts = torch.bincount(indices.reshape(-1), minlength=num_codes).double()
    p = counts / counts.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def ref_ema_update(ema_count, ema_sum, z_e, indices, decay, eps):
    """One EMA codebook step, by :class:`VectorQuantizer`'s own ``_ema_update`` (float64).

    Returns (new_count (K,), new_sum (K, D), new_codebook (K, D)); inputs are not changed.
    """
    k, d = ema_sum.shape
    vq = VectorQuantizer(k, d, ema=True, decay=float(decay), eps=float(eps)).double()
    with torch.no_grad():
        vq.ema_count.copy_(ema_count.double())
        vq.ema_sum.copy_(ema_sum.double())
    flat = z_e.detach().double()
    vq._ema_update(flat, F.one_hot(indices, k).double())
    return vq.ema_count.clone(), vq.ema_sum.clone(), vq.codebook.detach().clone()


# ============================================================================ helpers
def _distances(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """(N, K) squared distances in float64, by brute force."""
    z64, c64 = z.double(), codebook.double()
    return ((z64[:, None, :] - c64[None, :, :]) ** 2).sum(-1)


def _tolerance(z: torch.Tensor, codebook: torch.Tensor) -> float:
    """How far a right answer's distance may lie above the minimum (rounding in z's dtype:
    float64 inputs must be compared in float64, so near ties resolve)."""
    scale = float((z.double() ** 2).sum(1).max()) + float((codebook.double() ** 2).sum(1).max())
    if z.dtype == torch.float64 and codebook.dtype == torch.float64:
        return 1e-12 * scale + 1e-15
    return 1e-5 * scale + 1e-9


def _not_nearest(z: torch.Tensor, codebook: torch.Tensor, idx: torch.Tensor) -> int | None:
    """The first row whose index is not a nearest code (None if all are), or -1 if out of range."""
    k = codebook.shape[0]
    idx = idx.reshape(-1).long()
    if bool(((idx < 0) | (idx >= k)).any()):
        return -1
    d = _distances(z, codebook)
    chosen = d.gather(1, idx[:, None])[:, 0]
    bad = (chosen > d.min(1).values + _tolerance(z, codebook)).nonzero()
    return int(bad[0]) if bad.numel() else None


def _nearest_variants(z: torch.Tensor, codebook: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """Index tensors of plausible wrong lookups, with their hints (float64, parent side)."""
    z64, c64 = z.double(), codebook.double()
    d = _distances(z64, c64)
    dots = z64 @ c64.T
    cos = F.normalize(z64, dim=1) @ F.normalize(c64, dim=1).T
    out = [
        (d.argmax(1), "that is the farthest code (the largest distance): take the smallest"),
        (
            dots.argmax(1),
            "the largest dot product z·e is not the nearest code: ‖z − e‖² = ‖z‖² − 2 z·e + "
            "‖e‖², and ‖e‖² differs from code to code",
        ),
        (
            cos.argmax(1),
            "cosine similarity compares directions only: the distance also depends on the "
            "codes' lengths",
        ),
        (
            ((c64**2).sum(1)[None, :] - dots).argmin(1),
            "the cross term of ‖z − e‖² is −2 z·e: a factor 2 is missing",
        ),
        (
            (-(c64**2).sum(1)[None, :] - 2 * dots).argmin(1),
            "‖z − e‖² = ‖z‖² − 2 z·e + ‖e‖²: the ‖e‖² term has the wrong sign",
        ),
        (
            (z64[:, None, :] - c64[None, :, :]).abs().sum(-1).argmin(1),
            "that is the L1 distance (sum of absolute differences): use the squared Euclidean "
            "distance",
        ),
    ]
    n, k = d.shape
    if n == k:
        out.append(
            (
                d.argmin(0),
                "that is, for each code, its nearest vector (the minimum over dim 0): take the "
                "minimum over the codes, one index per row of z_e",
            )
        )
    if codebook.shape[1] > 1:
        wrong_sum = ((z64[:, None, :] - c64[None, :, :]) ** 2).sum(1)  # (N, D): summed over codes
        out.append(
            (
                wrong_sum.argmin(1),
                "the squared differences must be summed over the D coordinates (the last axis), "
                "then compared across the K codes",
            )
        )
    return out


def _index_problem(case, out, name, z, codebook, shape) -> str | None:
    """Structure and values of an index output: shape, int64, device, nearest by distance."""
    o = out.get(name, {})
    n, k = z.shape[0], codebook.shape[0]
    problem = tensor_problem(case, out, name, shape=shape, what="a tensor of indices")
    if problem:
        if o.get("kind") == "other" and o.get("type") in ("min", "max", "tuple"):
            return (
                problem
                + ": torch.min and torch.max with a dim return (values, indices); return the indices"
            )
        got = tuple(o.get("shape", ())) if o.get("kind") == "tensor" else None
        if got == (k,) and k != n:
            problem += ": one index per vector; take the minimum over the codes (the K axis)"
        elif got is not None and len(got) == len(shape) + 1 and got[-1] == k:
            problem += ": return the index of the smallest distance, not the distances"
        elif got is not None and len(got) == len(shape) + 1 and got[-1] == 1:
            problem += ": drop the kept dimension (no keepdim)"
        elif got == (n,) and len(shape) > 1:
            problem += ": reshape the indices to the grid (B, H, W)"
        return problem
    if o["dtype"] != "int64":
        return (
            f"{case.name}: expected int64 indices, got {o['dtype']}: indices pick codebook "
            "rows, so return the integers argmin gives (int64), not a float or int32 copy"
        )
    idx = o["value"].reshape(-1)
    bad = _not_nearest(z, codebook, idx)
    if bad is None:
        return None
    if bad == -1:
        return f"{case.name}: some indices are outside [0, {k}): each must name one of the K codes"
    hint = None
    for variant, text in _nearest_variants(z, codebook):
        if tuple(variant.shape) == tuple(idx.shape) and torch.equal(variant, idx):
            hint = text
            break
    d = _distances(z, codebook)[bad]
    return (
        f"{case.name}: vector {bad} got code {int(idx[bad])} at squared distance "
        f"{fmt(float(d[idx[bad]]))}, but code {int(d.argmin())} is at {fmt(float(d.min()))}: "
        + (hint or "pick the code with the smallest squared Euclidean distance ‖z − e‖²")
    )


def _codebook(g, k, d, dtype=torch.float32, spread=True):
    """K codes whose lengths differ (so dot products and cosines rank them differently)."""
    cb = torch.randn(k, d, generator=g, dtype=dtype)
    if spread:
        cb = cb * (0.2 + 2.8 * torch.rand(k, 1, generator=g, dtype=dtype))
    return cb


# ============================================================================ nearest_code
class NearestCode(Check):
    id = "ex08.nearest_code"
    function = "nearest_code"

    def cases(self, seed):
        g = _gen(seed)

        def case(n, k, d, dtype=torch.float32, scale=1.0):
            return {
                "z_e": torch.randn(n, d, generator=g, dtype=dtype) * scale,
                "codebook": _codebook(g, k, d, dtype) * scale,
            }

        near = case(12, 12, 3)
        perm = torch.randperm(12, generator=g)[:12]
        near["z_e"] = near["codebook"][perm] + 0.01 * torch.randn(12, 3, generator=g)
        # near ties in float64: code 1 is nearer than code 0 by about 2e-9 for every row; in
        # float32 the two distances round to the same number
        tie_codes = torch.tensor(
            [[-(1 + 2e-9), 0.0], [1 + 1e-9, 0.0], [0.0, 3.0]], dtype=torch.float64
        )
        tie_z = torch.stack(
            [
                torch.zeros(12, dtype=torch.float64),
                torch.rand(12, generator=g, dtype=torch.float64) - 0.5,
            ],
            1,
        )
        return [
            Case("40 vectors, 16 codes of different lengths, D=4", case(40, 16, 4)),
            Case("one vector, 5 codes, D=3", case(1, 5, 3)),
            Case("a single code (K = 1)", case(6, 1, 2)),
            Case("vectors close to codes (as many vectors as codes)", near),
            Case("as many vectors as codes (N = K = 7), D=2", case(7, 7, 2)),
            Case("scalar codes (D = 1), float64", case(20, 6, 1, dtype=torch.float64)),
            Case(
                "near ties in float64 (two codes 2e-9 apart in distance)",
                {"z_e": tie_z, "codebook": tie_codes},
            ),
            Case("large values (×100)", case(30, 10, 5, scale=100.0)),
            Case(_DEVICE_CASE, {**case(5, 4, 3), "device": True}),
        ]

    def run(self, fn, inputs):
        z, cb = copy_input(inputs["z_e"]), copy_input(inputs["codebook"])
        if inputs.get("device"):
            z, cb = z.to(other_device()), cb.to(other_device())
        return {"indices": fn(z, cb)}

    def compare(self, case, out, expected):
        z, cb = case.inputs["z_e"], case.inputs["codebook"]
        n = z.shape[0]
        if case.inputs.get("device"):
            problem = tensor_problem(case, out, "indices", shape=(n,), device=other_device())
            if problem is None and out["indices"]["dtype"] != "int64":
                return f"{case.name}: expected int64 indices, got {out['indices']['dtype']}"
            return problem
        return _index_problem(case, out, "indices", z, cb, (n,))


register(NearestCode())


# ============================================================================ quantize
def _st_grads(z_q, args, upstream):
    """Gradients of Σ z_q · upstream w.r.t. ``args`` (None where none flows), or a reason."""
    if not isinstance(z_q, torch.Tensor) or tuple(z_q.shape) != tuple(upstream.shape):
        return {}
    if not z_q.requires_grad:
        return {"no_graph": True}
    grads = torch.autograd.grad(
        (z_q * upstream.to(z_q)).sum(), args, allow_unused=True, retain_graph=True
    )
    return dict(zip(("st_grad_z", "st_grad_codebook"), grads, strict=True))


def _st_problem(case, out, upstream) -> str | None:
    """Compare-side: the gradient of z_q must reach z_e unchanged and never the codebook."""
    if out.get("no_graph", {}).get("value"):
        return (
            f"{case.name}: z_q is not connected to z_e in the autograd graph, so the encoder "
            "would learn nothing: no torch.no_grad(), .detach() of the whole result or .data"
        )
    gz, gc = _values(out, "st_grad_z"), _values(out, "st_grad_codebook")
    up = upstream.double()
    to_codebook = gc is not None and float(gc.abs().max()) > 0
    if gz is None or float(gz.abs().max()) == 0:
        if to_codebook:
            return (
                f"{case.name}: the gradient of z_q reaches the codebook instead of z_e: the "
                "straight-through estimator copies the decoder's gradient to the encoder output "
                "and gives the codebook none (its loss term trains it)"
            )
        return (
            f"{case.name}: no gradient reaches z_e through z_q: the lookup has no gradient, so "
            "z_q must carry z_e's gradient straight through (value of e, gradient of z_e)"
        )
    if not close(gz.double(), up, rtol=1e-5, atol=1e-6):
        if close(gz.double(), -up, rtol=1e-5, atol=1e-6):
            hint = "it is minus the upstream gradient: check the sign of z_e in z_q"
        else:
            hint = "the straight-through gradient is the identity: ∂z_q/∂z_e = I"
        return f"{case.name}: the gradient reaching z_e is not the upstream gradient: {hint}"
    if to_codebook:
        return (
            f"{case.name}: the gradient of z_q also reaches the codebook: the straight-through "
            "estimator gives it none (only the codebook loss moves the codes)"
        )
    return None


class Quantize(Check):
    id = "ex08.quantize"
    function = "quantize"
    uses = ("nearest_code",)

    def references(self):
        return {"nearest_code": ref_nearest_code}

    def cases(self, seed):
        g = _gen(seed)

        def case(n, k, d, dtype=torch.float32):
            return {
                "z_e": torch.randn(n, d, generator=g, dtype=dtype),
                "codebook": _codebook(g, k, d, dtype),
                "upstream": torch.randn(n, d, generator=g, dtype=dtype),
            }

        return [
            Case("32 vectors, 8 codes, D=4", case(32, 8, 4)),
            Case("one vector, 3 codes, D=2", case(1, 3, 2)),
            Case("a single code (K = 1)", case(5, 1, 3)),
            Case("float64, 20 vectors, 12 codes, D=6", case(20, 12, 6, dtype=torch.float64)),
            Case(_DEVICE_CASE, {**case(4, 3, 2), "device": True}),
        ]

    def run(self, fn, inputs):
        z, cb = copy_input(inputs["z_e"]), copy_input(inputs["codebook"])
        if inputs.get("device"):
            return {"z_q": fn(z.to(other_device()), cb.to(other_device()))}
        z.requires_grad_(True)
        cb.requires_grad_(True)
        z_q = fn(z, cb)
        return {"z_q": z_q, **_st_grads(z_q, (z, cb), inputs["upstream"])}

    def compare(self, case, out, expected):
        z, cb = case.inputs["z_e"], case.inputs["codebook"]
        shape = tuple(z.shape)
        o = out.get("z_q", {})
        if case.inputs.get("device"):
            return tensor_problem(case, out, "z_q", shape=shape, device=other_device())
        problem = tensor_problem(case, out, "z_q", shape=shape)
        if problem:
            if o.get("kind") in ("other",) and o.get("type") in ("tuple", "list"):
                problem += ": return z_q alone (the indices are nearest_code's job)"
            return problem
        problem = tensor_problem(case, out, "z_q", dtype=_dtype(z))
        if problem:
            return problem
        got = o["value"].double()
        want = cb.double()[ref_nearest_code(z.double(), cb.double())]
        rows = _distances(got, cb).argmin(1)  # which code each row of z_q is
        # float64 codes must come back to float64 precision (not via a float32 detour)
        digits = {"rtol": 1e-12, "atol": 1e-12} if z.dtype == torch.float64 else {}
        is_code = close(got, cb.double()[rows], **({"rtol": 1e-5, "atol": 1e-6} | digits))
        if not is_code or _not_nearest(z, cb, rows) is not None:
            hint = diagnose(
                got,
                [
                    (
                        z.double(),
                        "z_q equals z_e: the forward value must be the nearest code e; only the "
                        "gradient passes straight through to z_e",
                    ),
                    (
                        z.double() + want,
                        "z_q = z_e + e: the value of z_q must be e itself; z_e is there only to "
                        "carry the gradient",
                    ),
                    (
                        want - z.double(),
                        "z_q = e − z_e: the value of z_q must be e itself",
                    ),
                ],
                rtol=1e-5,
                atol=1e-6,
            )
            worst = int((got - want).abs().sum(1).argmax())
            return f"{case.name}: row {worst} of z_q is not the codebook row nearest to z_e: " + (
                hint or "z_q's value is the nearest code e of each row (from nearest_code)"
            )
        return _st_problem(case, out, case.inputs["upstream"])


register(Quantize())


# ============================================================================ the two loss terms
_TERMS = ("codebook_loss", "commitment_loss")


class VQLossTerms(Check):
    id = "ex08.vq_loss_terms"
    function = "vq_loss_terms"

    def cases(self, seed):
        g = _gen(seed)

        def case(shape, beta, dtype=torch.float32):
            z = torch.randn(*shape, generator=g, dtype=dtype)
            return {
                "z_e": z,
                "e": z + 0.5 * torch.randn(*shape, generator=g, dtype=dtype),
                "beta": beta,
            }

        return [
            Case("32 vectors, D=3, beta=0.25", case((32, 3), 0.25)),
            Case("feature maps (2, 3, 4, 4), beta=0.5", case((2, 3, 4, 4), 0.5)),
            Case("beta left at its default (0.25)", {**case((10, 3), None)}),
            Case("one vector, D=8, beta=2, float64", case((1, 8), 2.0, dtype=torch.float64)),
            Case("beta=1", case((6, 5), 1.0)),
        ]

    def run(self, fn, inputs):
        z = copy_input(inputs["z_e"]).requires_grad_(True)
        e = copy_input(inputs["e"]).requires_grad_(True)
        res = fn(z, e) if inputs["beta"] is None else fn(z, e, beta=inputs["beta"])
        if not (isinstance(res, (tuple, list)) and len(res) == 2):
            return {"single": True, "codebook_loss": res}
        out = dict(zip(_TERMS, res, strict=True))
        for name, term in out.copy().items():
            if isinstance(term, torch.Tensor) and term.dim() == 0 and term.requires_grad:
                gz, ge = torch.autograd.grad(term, (z, e), allow_unused=True, retain_graph=True)
                out[f"{name}_grad_z"] = gz if gz is not None else torch.zeros_like(z)
                out[f"{name}_grad_e"] = ge if ge is not None else torch.zeros_like(e)
        return out

    def reference(self, case):
        i = case.inputs
        beta = 0.25 if i["beta"] is None else float(i["beta"])
        z = i["z_e"].double().clone().requires_grad_(True)
        e = i["e"].double().clone().requires_grad_(True)
        ref = {}
        for name, term in zip(_TERMS, ref_vq_loss_terms(z, e, beta), strict=True):
            gz, ge = torch.autograd.grad(term, (z, e), allow_unused=True, retain_graph=True)
            ref[name] = term.detach()
            ref[f"{name}_grad_z"] = gz if gz is not None else torch.zeros_like(z)
            ref[f"{name}_grad_e"] = ge if ge is not None else torch.zeros_like(e)
        return ref

    def compare(self, case, out, expected):
        i = case.inputs
        beta = 0.25 if i["beta"] is None else float(i["beta"])
        if out.get("single", {}).get("value"):
            return (
                f"{case.name}: expected a pair (codebook_loss, commitment_loss): return both "
                "terms separately (the codebook and the encoder learn from different ones)"
            )
        for name in _TERMS:
            o = out.get(name, {})
            problem = tensor_problem(case, out, name, shape=(), what="a scalar tensor")
            if problem:
                if o.get("kind") == "number":
                    problem += ": return tensors (no .item() or float()) so backward() works"
                elif o.get("kind") == "tensor":
                    problem += ": average over every element of z_e to get one number"
                return f"{name}: {problem}"
            problem = tensor_problem(case, out, name, dtype=_dtype(i["z_e"]))
            if problem:
                return f"{name}: {problem}"
            if not o["requires_grad"]:
                return (
                    f"{case.name}: {name} is not connected to z_e and e in the autograd graph "
                    "(no .item(), torch.tensor(...) or torch.no_grad() around it)"
                )
        got = {n: out[n]["value"].double() for n in _TERMS}
        z, e = i["z_e"].double(), i["e"].double()
        mse = ((z - e) ** 2).mean()
        per_vector = ((z - e) ** 2).sum(1).mean()
        wrong_value = {
            "codebook_loss": [
                (((z - e) ** 2).sum(), "you summed the squared errors: take their mean"),
                (
                    per_vector,
                    "you summed over each vector's coordinates: take the mean over every element",
                ),
                (beta * mse, "β weights the commitment term, not the codebook term"),
            ],
            "commitment_loss": [
                (beta * ((z - e) ** 2).sum(), "you summed the squared errors: take their mean"),
                (
                    beta * per_vector,
                    "you summed over each vector's coordinates: take the mean over every element",
                ),
                (mse, "the commitment term is weighted by β (β‖z_e − sg[e]‖²)"),
                (
                    (1 + beta) * mse,
                    "the commitment term is β times the squared error, nothing more",
                ),
            ],
        }
        swapped = (
            beta != 1.0
            and close(got["codebook_loss"], expected["commitment_loss"], rtol=1e-5, atol=1e-7)
            and close(got["commitment_loss"], expected["codebook_loss"], rtol=1e-5, atol=1e-7)
        )
        first_grad_z = _values(out, "codebook_loss_grad_z")
        if swapped and first_grad_z is not None and float(first_grad_z.abs().max()) > 0:
            return (
                f"{case.name}: the two terms come in the wrong order: return "
                "(codebook_loss, commitment_loss)"
            )
        for name in _TERMS:
            if not close(got[name], expected[name], rtol=1e-5, atol=1e-7):
                hint = diagnose(got[name], wrong_value[name], rtol=1e-5, atol=1e-7)
                if (
                    name == "commitment_loss"
                    and hint is None
                    and beta != 1.0
                    and close(got[name], mse / beta, rtol=1e-5, atol=1e-7)
                ):
                    hint = "multiply the squared error by β, don't divide"
                return (
                    f"{case.name}: {name} is {fmt(float(got[name]))}, expected "
                    f"{fmt(float(expected[name]))}: "
                    + (hint or "the mean over all elements of the squared difference of z_e and e")
                )
        return self._gradient_problem(case, out, expected)

    @staticmethod
    def _gradient_problem(case, out, expected) -> str | None:
        def grad(name, wrt):
            g = _values(out, f"{name}_grad_{wrt}")
            return None if g is None else g.double()

        def moves(name, wrt):
            g = grad(name, wrt)
            return g is not None and float(g.abs().max()) > 0

        cb_z, cb_e = moves("codebook_loss", "z"), moves("codebook_loss", "e")
        cm_z, cm_e = moves("commitment_loss", "z"), moves("commitment_loss", "e")
        if cb_z and not cb_e and cm_e and not cm_z:
            return (
                f"{case.name}: the stop-gradients are swapped: the codebook loss must move only "
                "the codes e, the commitment loss only the encoder output z_e"
            )
        if cb_z:
            return (
                f"{case.name}: the codebook loss also sends gradient into z_e: stop its gradient "
                "into the encoder output (sg[z_e]), it is there to move the codes"
            )
        if cm_e:
            return (
                f"{case.name}: the commitment loss also sends gradient into e: stop its gradient "
                "into the codes (sg[e]), it is there to keep the encoder near its codes"
            )
        if not cb_e:
            return f"{case.name}: the codebook loss sends no gradient to e: it must move the codes"
        if not cm_z:
            return (
                f"{case.name}: the commitment loss sends no gradient to z_e: it must pull the "
                "encoder output towards its code"
            )
        for name in _TERMS:
            for wrt in ("z", "e"):
                g, want = grad(name, wrt), expected[f"{name}_grad_{wrt}"]
                if not close(g, want, rtol=1e-4, atol=1e-7):
                    return (
                        f"{case.name}: {name} has the right value but the wrong gradient with "
                        f"respect to {'z_e' if wrt == 'z' else 'e'}: compute it with torch "
                        "operations on the inputs, with only the stop-gradient the term needs"
                    )
        return None


register(VQLossTerms())


# ============================================================================ perplexity
class Perplexity(Check):
    id = "ex08.perplexity"
    function = "perplexity"

    def cases(self, seed):
        g = _gen(seed)

        def draw(probs, n, shape=None):
            idx = torch.multinomial(torch.tensor(probs), n, replacement=True, generator=g)
            return idx if shape is None else idx.reshape(shape)

        uniform = torch.arange(8).repeat(5)[torch.randperm(40, generator=g)]
        gaps = [0.3, 0.0, 0.25, 0.0, 0.2, 0.15, 0.0, 0.1, 0.0, 0.0]  # codes 1, 3, 6 unused
        grid_p = torch.rand(12, generator=g) ** 3
        return [
            Case("8 codes used equally often", {"indices": uniform, "num_codes": 8}),
            Case("one code only (of 16)", {"indices": torch.full((25,), 5), "num_codes": 16}),
            Case(
                "two codes used 3 : 1", {"indices": torch.tensor([2, 2, 2, 0] * 4), "num_codes": 4}
            ),
            Case(
                "10 codes, some never used (between used ones)",
                {"indices": draw(gaps, 200), "num_codes": 10},
            ),
            Case(
                "a (4, 7, 7) grid of indices, 32 codes, the last 20 never used",
                {
                    "indices": draw((grid_p / grid_p.sum()).tolist(), 196, (4, 7, 7)),
                    "num_codes": 32,
                },
            ),
        ]

    def run(self, fn, inputs):
        return {"perplexity": fn(copy_input(inputs["indices"]), inputs["num_codes"])}

    def reference(self, case):
        return ref_perplexity(case.inputs["indices"], case.inputs["num_codes"])

    def explain_error(self, case, error):
        msg = super().explain_error(case, error)
        if "1-d" in error or "1d" in error.lower():
            msg += ": the indices may come as a grid (B, H, W): flatten them first"
        return msg

    def compare(self, case, out, expected):
        o = out.get("perplexity", {"kind": "none"})
        if o["kind"] == "tensor":
            return (
                f"{case.name}: expected a Python float, got a tensor of shape {tuple(o['shape'])}: "
                "convert the result with float(...) (it is a number to print and log)"
            )
        if o["kind"] != "number" or o.get("type") == "bool":
            got = (
                "None (did you forget to return it?)"
                if o["kind"] == "none"
                else o.get("type", o["kind"])
            )
            return f"{case.name}: expected a Python float, got {got}"
        got = float(o["value"])
        if math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-9):  # float32 counts are fine
            return None
        idx = case.inputs["indices"].reshape(-1)
        k = case.inputs["num_codes"]
        counts = torch.bincount(idx, minlength=k).double()
        p = counts / counts.sum()
        nz = p[p > 0]
        h = float(-(nz * nz.log()).sum())
        hint = None
        if math.isnan(got):
            hint = (
                "NaN: a code that is never used contributes 0·log 0, which is 0 by convention "
                "(leave out the zero frequencies)"
            )
        else:
            q = counts / k
            q = q[q > 0]
            variants = [
                (h, "that is the entropy H; the perplexity is exp(H)"),
                (
                    math.exp(h / math.log(2)),
                    "that exponentiates the entropy in bits (log₂): with exp, H must be in nats (natural log)",
                ),
                (
                    h / math.log(2),
                    "that is the entropy in bits; the perplexity is exp(H) with H in nats",
                ),
                (
                    float((counts > 0).sum()),
                    "that counts the codes used; the perplexity weighs them by how often they occur",
                ),
                (
                    float(torch.exp(-(q * q.log()).sum())),
                    "the frequencies are counts divided by the number of indices, not by the number of codes",
                ),
                (math.exp(-h), "exp(−H): the entropy −Σ p log p is already positive"),
                (
                    float(k),
                    "that is the number of codes K; the perplexity depends on how often each is used",
                ),
            ]
            for value, text in variants:
                if math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-9):
                    hint = text
                    break
        return f"{case.name}: perplexity {fmt(got)}, expected {fmt(expected)}: " + (
            hint or "exp(−Σ p_k log p_k) with p_k the fraction of indices equal to k"
        )


register(Perplexity())


# ============================================================================ the EMA update
_EMA_OUT = ("count", "sum", "codebook")


class EMAUpdate(Check):
    """A derivation: the code minimising Σ‖z_i − e_k‖² over its vectors is their mean, so the
    EMA keeps running sums and counts and divides them (with Laplace-smoothed counts)."""

    id = "ex08.ema_update"
    function = "ema_update"

    def cases(self, seed):
        g = _gen(seed)

        def case(k, d, n, decay, eps, dtype=torch.float32, unused=(), used_all=False):
            z = torch.randn(n, d, generator=g, dtype=dtype)
            if used_all:  # every code appears at least once
                idx = torch.cat([torch.arange(k), torch.randint(0, k, (n - k,), generator=g)])
                idx = idx[torch.randperm(n, generator=g)]
            else:
                allowed = torch.tensor([c for c in range(k) if c not in unused])
                idx = allowed[torch.randint(0, len(allowed), (n,), generator=g)]
            return {
                "ema_count": (0.2 + 3 * torch.rand(k, generator=g)).to(dtype),
                "ema_sum": torch.randn(k, d, generator=g, dtype=dtype),
                "z_e": z,
                "indices": idx,
                "decay": decay,
                "eps": eps,
            }

        hand = {
            "ema_count": torch.ones(3),
            "ema_sum": torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]),
            "z_e": torch.tensor([[0.1, 0.0], [0.0, -0.1], [0.9, 1.2]]),
            "indices": torch.tensor([0, 0, 1]),
            "decay": 0.9,
            "eps": 1e-5,
        }
        return [
            Case("the hand-made batch (codes 0, 0, 1; code 2 unused), decay 0.9", hand),
            Case(
                "6 codes, codes 1 and 4 unused, decay 0.8, eps = 0.5 (strong smoothing)",
                case(6, 3, 20, 0.8, 0.5, unused=(1, 4)),
            ),
            Case(
                "every code used, decay 0.5, eps = 1e-5", case(5, 2, 16, 0.5, 1e-5, used_all=True)
            ),
            Case("every code used, eps = 1", case(4, 3, 12, 0.7, 1.0, used_all=True)),
            Case("one vector (N = 1), 4 codes, decay 0.99", case(4, 2, 1, 0.99, 1e-5)),
            Case(
                "float64, 8 codes, decay 0.95, eps = 0.1",
                case(8, 4, 30, 0.95, 0.1, dtype=torch.float64, unused=(7,)),
            ),
            Case(_DEVICE_CASE, {**case(4, 2, 6, 0.9, 1e-5), "device": True}),
        ]

    def explain_error(self, case, error):
        msg = super().explain_error(case, error)
        if "must match the size" in error:
            msg += (
                ": a code may go unused in a batch, even the last one: count over all K codes "
                "(the number of rows of ema_sum), not up to the largest index seen"
            )
        elif "same dtype" in error or "Double" in error or "Float" in error:
            msg += ": build the one-hot or count tensors in the dtype of z_e"
        return msg

    def run(self, fn, inputs):
        args = [copy_input(inputs[k]) for k in ("ema_count", "ema_sum", "z_e", "indices")]
        if inputs.get("device"):
            args = [a.to(other_device()) for a in args]
            try:
                res = fn(*args, inputs["decay"], inputs["eps"])
            except NotImplementedError as error:
                if "no fake impl or Meta kernel" not in str(error):
                    raise
                # an operator with no meta kernel (torch.bincount): right on a GPU, and not
                # the learner's fault; the stand-in device cannot judge this answer
                return {"meta_unsupported": True}
        else:
            res = fn(*args, inputs["decay"], inputs["eps"])
        if isinstance(res, (tuple, list)) and len(res) == 3:
            return dict(zip(_EMA_OUT, res, strict=True))
        return {"not_triple": True, "count": res}

    def reference(self, case):
        i = case.inputs
        return dict(
            zip(
                _EMA_OUT,
                ref_ema_update(
                    i["ema_count"], i["ema_sum"], i["z_e"], i["indices"], i["decay"], i["eps"]
                ),
                strict=True,
            )
        )

    def compare(self, case, out, expected):
        i = case.inputs
        k, d = i["ema_sum"].shape
        if out.get("not_triple", {}).get("value"):
            return f"{case.name}: expected a triple (new_count, new_sum, new_codebook): return all three"
        shapes = {"count": (k,), "sum": (k, d), "codebook": (k, d)}
        if i.get("device"):
            if out.get("meta_unsupported", {}).get("value"):
                return None
            for name in _EMA_OUT:
                problem = tensor_problem(case, out, name, shape=shapes[name], device=other_device())
                if problem:
                    return f"new_{name}: {problem}: keep every result on the inputs' device"
            return None
        for name in _EMA_OUT:
            problem = tensor_problem(case, out, name, shape=shapes[name])
            problem = problem or tensor_problem(case, out, name, dtype=_dtype(i["ema_sum"]))
            if problem:
                return f"new_{name}: {problem}"
        got = {n: out[n]["value"].double() for n in _EMA_OUT}
        gamma, eps = float(i["decay"]), float(i["eps"])
        old_n, old_m = i["ema_count"].double(), i["ema_sum"].double()
        z = i["z_e"].double()
        onehot = F.one_hot(i["indices"], k).double()
        n, s = onehot.sum(0), onehot.T @ z
        used = (n > 0)[:, None]
        tol = {"rtol": 1e-5, "atol": 1e-6}

        if not close(got["count"], expected["count"], **tol):
            hint = diagnose(
                got["count"],
                [
                    (
                        (1 - gamma) * old_n + gamma * n,
                        "the decay γ is the weight of the old running "
                        "count (γ near 1: a slow average); this batch's count gets 1 − γ",
                    ),
                    (
                        torch.where(n > 0, expected["count"], old_n),
                        "every code's running count "
                        "decays, also a code this batch did not use (its n_k is 0)",
                    ),
                    (
                        n,
                        "that is this batch's count alone: the running count mixes it with the old one",
                    ),
                    (
                        old_n + n,
                        "a moving average weighs the old count by γ and the batch's by 1 − γ",
                    ),
                ],
                **tol,
            )
            return f"{case.name}: new_count is wrong: " + (
                hint or "N_k ← γ N_k + (1 − γ) n_k for every code k"
            )
        if not close(got["sum"], expected["sum"], **tol):
            hint = diagnose(
                got["sum"],
                [
                    (
                        (1 - gamma) * old_m + gamma * s,
                        "the decay γ is the weight of the old running "
                        "sum; this batch's sum gets 1 − γ",
                    ),
                    (
                        torch.where(used, expected["sum"], old_m),
                        "every code's running sum decays, "
                        "also a code this batch did not use (its batch sum is 0)",
                    ),
                    (
                        s,
                        "that is this batch's sum alone: the running sum mixes it with the old one",
                    ),
                    (
                        gamma * old_m + (1 - gamma) * s / n.clamp_min(1)[:, None],
                        "the running sum adds up the assigned vectors (not their mean)",
                    ),
                ],
                **tol,
            )
            return f"{case.name}: new_sum is wrong: " + (
                hint or "m_k ← γ m_k + (1 − γ) Σ_{i assigned to k} z_i for every code k"
            )
        new_n, new_m = expected["count"], expected["sum"]
        total = new_n.sum()
        g_cb = got["codebook"]
        if not bool(torch.isfinite(g_cb).all()):
            ok = torch.isfinite(g_cb).all(1) & (n > 0)
            hint = "divide the running sum by the smoothed running count"
            if bool(ok.any()):
                n_ok = n[ok][:, None]
                if close(g_cb[ok], new_m[ok] / n_ok, **tol):
                    hint = "divide the running sum by the smoothed running count, not by this batch's count n_k"
                elif close(g_cb[ok], s[ok] / n_ok, **tol):
                    hint = (
                        "that is this batch's mean of each code's vectors: the EMA code is the "
                        "running sum over the smoothed running count"
                    )
            return (
                f"{case.name}: new_codebook has inf or NaN: a code with no vectors in this batch "
                f"(n_k = 0) must not be divided by zero: {hint}"
            )
        if close(g_cb, expected["codebook"], **tol):
            return None
        smoothed = (new_n + eps) / (total + k * eps) * total
        hint = diagnose(
            g_cb,
            [
                (
                    new_m / new_n[:, None],
                    "no Laplace smoothing: divide by N̂_k = (N_k + ε)/(N + Kε)·N, "
                    "which keeps a code whose count decays towards 0 from blowing up",
                ),
                (
                    new_m / ((new_n + eps) / (total + k * eps))[:, None],
                    "(N_k + ε)/(N + Kε) is a "
                    "frequency: multiply it by N = Σ_k N_k to make it a count again",
                ),
                (
                    new_m / (new_n + eps)[:, None],
                    "Laplace smoothing is (N_k + ε)/(N + Kε)·N, not N_k + ε",
                ),
                (
                    new_m / n.clamp_min(1e-300)[:, None],
                    "divide the running sum by the (smoothed) "
                    "running count, not by this batch's count n_k",
                ),
                (
                    s / n.clamp_min(1e-300)[:, None],
                    "that is this batch's mean of each code's vectors: the "
                    "EMA code is the running sum over the smoothed running count",
                ),
                (
                    old_m / smoothed[:, None],
                    "divide the *new* running sum by the smoothed new count",
                ),
                (new_m / smoothed.sum() * k, "each code has its own smoothed count N̂_k"),
            ],
            **tol,
        )
        return f"{case.name}: new_codebook is wrong: " + (
            hint or "e_k = m_k / N̂_k with the new running sum m_k and the smoothed new count N̂_k"
        )


register(EMAUpdate())


# ============================================================================ build: Quantizer
class QuantizerCheck(Check):
    """Build a quantizer module; checked by structure, with the learner's codebook replaced by
    a known one after construction (random initial values cannot be compared).

    Every case builds ``Quantizer(num_codes=K, code_dim=D[, beta=β])``, counts its
    parameters, records the initial codebook, sets it to the case's codebook, and runs a
    (B, D, H, W) feature map through it in training mode: indices by distance, z_q rows
    against the codebook, the straight-through gradient and the loss's gradients against
    the reference's. A second copy runs on the ``meta`` device (the stand-in for a GPU).
    """

    id = "ex08.quantizer"
    function = "Quantizer"
    uses = ("nearest_code", "quantize", "vq_loss_terms")

    def references(self):
        return {
            "nearest_code": ref_nearest_code,
            "quantize": ref_quantize,
            "vq_loss_terms": ref_vq_loss_terms,
        }

    def cases(self, seed):
        g = _gen(seed)

        def case(k, d, b, h, w, beta):
            return {
                "k": k,
                "d": d,
                "beta": beta,
                "codebook": _codebook(g, k, d),
                "z_e": torch.randn(b, d, h, w, generator=g),
                "upstream": torch.randn(b, d, h, w, generator=g),
            }

        return [
            Case("K=16, D=4, feature maps (2, 4, 3, 3), default beta", case(16, 4, 2, 3, 3, None)),
            Case("K=5, D=3, one map (1, 3, 2, 4), beta=0.5", case(5, 3, 1, 2, 4, 0.5)),
            Case("K=32, D=8, feature maps (3, 8, 5, 5), beta=1", case(32, 8, 3, 5, 5, 1.0)),
        ]

    def run(self, fn, inputs):
        k, d, beta = inputs["k"], inputs["d"], inputs["beta"]
        kwargs = {"num_codes": k, "code_dim": d} | ({} if beta is None else {"beta": beta})
        forward = getattr(fn, "forward", None)
        with _bound_references(forward if forward is not None else fn, self.references()):
            return self._run(fn, inputs, kwargs)

    def _run(self, fn, inputs, kwargs):
        k, d = inputs["k"], inputs["d"]
        q = fn(**kwargs)
        params = list(q.parameters())
        res = {"n_params": sum(p.numel() for p in params)}
        books = [p for p in params if tuple(p.shape) == (k, d)]
        res["transposed"] = any(tuple(p.shape) == (d, k) for p in params) and not books
        if not books:
            return res
        cb = books[0]
        res["init"] = cb.detach().clone()  # before the case's codebook replaces it
        with torch.no_grad():
            cb.copy_(inputs["codebook"].to(cb))
        q.train()
        z = copy_input(inputs["z_e"]).requires_grad_(True)
        out = q(z)
        if not (isinstance(out, (tuple, list)) and len(out) == 3):
            res["not_triple"] = True
            return res
        z_q, idx, loss = out
        res.update({"z_q": z_q, "indices": idx, "loss": loss})
        res.update(_st_grads(z_q, (z, cb), inputs["upstream"]))
        if isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.requires_grad:
            gz, gc = torch.autograd.grad(loss, (z, cb), allow_unused=True)
            res["loss_grad_z"] = gz if gz is not None else torch.zeros_like(z)
            res["loss_grad_codebook"] = gc if gc is not None else torch.zeros_like(cb)
        meta = fn(**kwargs).to(other_device())
        m_out = meta(inputs["z_e"].to(other_device()))
        if isinstance(m_out, (tuple, list)) and len(m_out) == 3:
            res["meta_z_q"], res["meta_indices"] = m_out[0], m_out[1]
        return res

    def reference(self, case):
        i = case.inputs
        beta = 0.25 if i["beta"] is None else float(i["beta"])
        cb = i["codebook"].double().clone().requires_grad_(True)
        z = i["z_e"].double().clone().requires_grad_(True)
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        idx = ref_nearest_code(flat.detach(), cb.detach())
        e = cb[idx]
        cl, cm = ref_vq_loss_terms(flat, e, beta)
        gz, gc = torch.autograd.grad(cl + cm, (z, cb))
        return {
            "indices": idx.reshape(b, h, w),
            "loss": float((cl + cm).detach()),
            "mse": float(((flat - e) ** 2).mean().detach()),
            "beta": beta,
            "loss_grad_z": gz,
            "loss_grad_codebook": gc,
        }

    def compare(self, case, out, expected):
        i = case.inputs
        k, d = i["k"], i["d"]
        b, _, h, w = i["z_e"].shape
        n = out.get("n_params", {}).get("value")
        if out.get("transposed", {}).get("value"):
            return f"{case.name}: the codebook is ({d}, {k}); make it (K, D) = ({k}, {d}): one row per code"
        if n != k * d:
            got = "none" if not n else f"{int(n):,}"
            extra = (
                ": register the codebook as an nn.Parameter (a plain tensor attribute is not "
                "learned, and .to(device) does not move it)"
                if not n
                else ": the quantizer's only parameter is the (K, D) codebook"
            )
            return f"{case.name}: expected K·D = {k * d} parameters, got {got}{extra}"
        if "init" not in out:
            return f"{case.name}: no parameter of shape (K, D) = ({k}, {d}): store the codebook as one (K, D) tensor"
        init = _values(out, "init")
        if init is not None and float(init.max() - init.min()) == 0:
            return (
                f"{case.name}: every code starts with the same value: equal codes tie, so only "
                "one would ever be chosen; initialise the codebook randomly"
            )
        if out.get("not_triple", {}).get("value"):
            return f"{case.name}: forward must return a triple (z_q, indices, loss)"
        problem = tensor_problem(case, out, "z_q", shape=(b, d, h, w))
        if problem:
            return "z_q: " + problem + (": z_q has the shape of z_e" if "shape" in problem else "")
        o, lo = out.get("indices", {}), out.get("loss", {})
        if o.get("shape") == () and lo.get("shape") == (b, h, w):
            return f"{case.name}: forward must return (z_q, indices, loss) in this order"
        flat = i["z_e"].permute(0, 2, 3, 1).reshape(-1, d)
        cb = i["codebook"]
        if (
            o.get("kind") == "tensor"
            and o.get("dtype") == "int64"
            and tuple(o["shape"]) == (b, h, w)
        ):
            idx = o["value"].reshape(-1)
            if _not_nearest(flat, cb, idx) is not None:
                scrambled = ref_nearest_code(i["z_e"].reshape(-1, d).double(), cb.double())
                if torch.equal(idx, scrambled):
                    return (
                        f"{case.name}: the indices are the nearest codes of the wrong vectors: "
                        "the vectors to quantize are the D channels at each grid cell; move the "
                        "channel axis last before flattening (a reshape alone mixes cells and "
                        "channels)"
                    )
        problem = _index_problem(case, out, "indices", flat, cb, (b, h, w))
        if problem:
            return "indices: " + problem
        idx = out["indices"]["value"]
        want = cb.double()[idx].permute(0, 3, 1, 2)  # the chosen codes, put back in place
        got = out["z_q"]["value"].double()
        if not close(got, want, rtol=1e-5, atol=1e-6):
            if close(got, cb.double()[idx.reshape(-1)].reshape(b, d, h, w), rtol=1e-5, atol=1e-6):
                return (
                    f"{case.name}: z_q holds the right codes in the wrong places: put the "
                    "channel axis back in place (from (B, H, W, D) to (B, D, H, W)); a reshape "
                    "alone scrambles codes across cells"
                )
            if close(got, i["z_e"].double(), rtol=1e-5, atol=1e-6):
                return f"{case.name}: z_q equals z_e: its value must be each cell's nearest code"
            return (
                f"{case.name}: z_q[b, :, h, w] must be the codebook row of indices[b, h, w] "
                "(the value of the straight-through output is the code)"
            )
        problem = _st_problem(case, out, i["upstream"])
        if problem:
            return problem
        lo = out.get("loss", {})
        problem = tensor_problem(case, out, "loss", shape=(), what="a scalar tensor")
        if problem:
            return "loss: " + problem
        if not lo["requires_grad"]:
            return f"{case.name}: the loss is not connected to z_e and the codebook in the autograd graph"
        got_loss, want_loss = float(lo["value"]), expected["loss"]
        if not math.isclose(got_loss, want_loss, rel_tol=1e-4, abs_tol=1e-6):
            mse, beta = expected["mse"], expected["beta"]
            hint = "the codebook loss plus the commitment loss, each a mean over elements"
            for value, text in (
                (mse * (1 + 0.25), "beta is ignored: use the beta given to __init__"),
                (mse, "the commitment term is missing, or its weight β is"),
                (beta * mse, "the codebook term is missing"),
                (mse * (1 + beta) * flat.numel(), "take means over the elements, not sums"),
                (mse * (1 + beta) * d, "take the mean over every element, not over vectors"),
            ):
                if math.isclose(got_loss, value, rel_tol=1e-4, abs_tol=1e-6):
                    hint = text
                    break
            return f"{case.name}: loss is {fmt(got_loss)}, expected {fmt(want_loss)}: {hint}"
        for name, wrt, role in (
            ("loss_grad_z", "z_e", "only the commitment term (β‖z_e − sg[e]‖²) may move z_e"),
            (
                "loss_grad_codebook",
                "the codebook",
                "only the codebook term (‖sg[z_e] − e‖²) may move the codes",
            ),
        ):
            g = _values(out, name)
            if g is None or not close(g.double(), expected[name], rtol=1e-4, atol=1e-7):
                return (
                    f"{case.name}: the loss has the right value but the wrong gradient with "
                    f"respect to {wrt}: {role}; stop the other term's gradient"
                )
        for name, shape in (("meta_z_q", (b, d, h, w)), ("meta_indices", (b, h, w))):
            m = out.get(name, {})
            if m.get("device") != "meta" or tuple(m.get("shape", ())) != shape:
                return (
                    f"{case.name}: on another device (meta, a stand-in for a GPU) the quantizer "
                    "must still work: create the codebook in __init__ as a parameter, and no "
                    "fixed-device tensors in forward"
                )
        return None


register(QuantizerCheck())


# ============================================================================ predict, then run
class PredictDeadCodes(ChoiceCheck):
    """Predict-then-run: how many of 128 codes a VQ-VAE with a plain codebook loss leaves unused."""

    id = "ex08.predict_dead_codes"
    function = "prediction_dead_codes"
    choices = (
        "a few of them (under a quarter)",
        "about half of them",
        "most of them (over three quarters)",
    )
    answer = "most of them (over three quarters)"
    hints = {
        "a few of them (under a quarter)": "the codebook loss moves only the codes that are "
        "chosen: a code that is never the nearest to any encoder output gets no gradient and "
        "stays where it started, while the encoder's outputs move away from there. Count the "
        "unused codes below, then compare with the EMA codebook with restarts",
        "about half of them": "more: the codes that win early are pulled along with the encoder "
        "outputs, and the rest, never chosen, get no gradient and stay behind for good. Count "
        "the unused codes below",
    }


register(PredictDeadCodes())
