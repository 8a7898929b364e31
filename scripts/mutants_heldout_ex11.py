"""A held-out batch of plausible wrong answers ("mutants") to the ex11 tasks (applications).

Written from the exercise contracts (the markdown, task statements and stub docstrings of
``exercises/ex11_applications.ipynb``, and the package functions they name:
``vae_course.compression.kl_bits``/``entropy_code_bits``, ``vae_course.scores.auroc``,
``vae_course.widgets.logic.lerp``/``slerp``). Unlike ex10's batch, whose author had not read the
checks, this one was written by the author of the checks, after them and before the catalogue of
wrong answers in ``tests/test_grading_ex11.py``, aiming at mistakes the checks' own lists of
plausible errors did not name; it is therefore a weaker test than an independent batch. It was
run once before any check was changed. Every mutant violates its task's contract.

    python scripts/mutants_heldout_ex11.py            # run every mutant with seeds 11 and 12
    python scripts/mutants_heldout_ex11.py --sanity   # the solutions (and ALTERNATIVES) must pass

A mutant is *killed* when its check fails for both seeds. ``MUTANTS`` holds
(task, function, what is wrong) for the four function tasks; ``VALUE_MUTANTS`` holds
(task, name, value, what is wrong) for the answer variable ``prediction_rotated_auroc``,
which is graded as a value, not called. ``SOLUTIONS`` holds right answers written here from
the contracts (one per task); ``--sanity`` also runs ``ALTERNATIVES`` and ``VALUE_ALTERNATIVES``,
right answers written differently, which must pass too.

Result (first run, seeds 11 and 12): 61 of 62 killed (52 functions, 10 values); all 5
solutions pass, and 8 of the 9 other right answers (au_right_sklearn failed: scikit-learn 1.9
only warns and returns NaN when a class is missing, so it needed its own check, as the contract
asks). The survivor, a genuine wrong answer:

* kb_numel_check: kl_bits compared mu.numel() with logvar.numel() instead of the shapes and
  reshaped logvar: (4, 6) against (6, 4) slips through. The check's mismatched cases all had
  different sizes ((4, 3) against (4, 5), (5, 4) against (4,)).

Fix in vae_course/grading/ex11.py: kl_bits gained a case mu (4, 6), logvar (6, 4), "as many
numbers, another shape". Now 62 of 62 are killed with seeds 11 and 12, and with seeds 1 and 2
(a strict test in tests/test_grading_ex11.py). The whole batch runs in about 15 s here.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
import torch.nn.functional as F

from vae_course.grading.mutants import judge, report, sanity_alternatives

SEEDS = (11, 12)
LN2 = math.log(2.0)


# =============================================================================== solutions
def kl_bits(mu, logvar):
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} differ")
    return 0.5 * torch.sum(mu.pow(2) + torch.exp(logvar) - 1.0 - logvar, dim=-1) / math.log(2)


def midpoint_norms(r0, r1, omega):
    if r0 <= 0 or r1 <= 0:
        raise ValueError("norms must be positive")
    if omega <= 0 or omega >= math.pi:
        raise ValueError("omega must lie in (0, pi)")
    s = math.sqrt(r0 * r0 + r1 * r1 + 2.0 * r0 * r1 * math.cos(omega))
    return 0.5 * s, s * math.sin(omega / 2) / math.sin(omega)


def auroc(scores, labels):
    if scores.shape != labels.shape:
        raise ValueError("scores and labels differ in shape")
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError("both classes are needed")
    gt = (pos.unsqueeze(1) > neg.unsqueeze(0)).sum().item()
    eq = (pos.unsqueeze(1) == neg.unsqueeze(0)).sum().item()
    return (gt + 0.5 * eq) / (pos.numel() * neg.numel())


def entropy_code_bits(symbols, reference, bits):
    k = 2**bits
    if symbols.shape[1] != reference.shape[1]:
        raise ValueError("symbols and reference need the same number of dimensions")
    if symbols.min() < 0 or symbols.max() >= k or reference.min() < 0 or reference.max() >= k:
        raise ValueError(f"symbols must be in [0, {k})")
    counts = F.one_hot(reference, k).sum(0).double() + 0.5  # (D, k)
    logp = torch.log2(counts / counts.sum(1, keepdim=True))
    d = torch.arange(symbols.shape[1])
    return -logp[d, symbols].sum(1)


PREDICTION = "between 0.5 and 0.9: better than chance, far from reliable"

SOLUTIONS = {
    "ex11.kl_bits": kl_bits,
    "ex11.midpoint_norms": midpoint_norms,
    "ex11.auroc": auroc,
    "ex11.entropy_code_bits": entropy_code_bits,
    "ex11.predict_rotated_auroc": PREDICTION,
}


# ================================================================ other right answers
def kb_right_distributions(mu, logvar):
    if mu.shape != logvar.shape:
        raise ValueError("shape mismatch")
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return torch.distributions.kl_divergence(q, p).sum(1) * math.log2(math.e)


def kb_right_log_exp(mu, logvar):  # log σ² written as log(exp(logvar))
    if tuple(mu.shape) != tuple(logvar.shape):
        raise ValueError("mu and logvar: same shape")
    var = logvar.exp()
    return (mu * mu + var - 1 - torch.log(var)).sum(-1) / (2 * math.log(2))


def mn_right_vectors(r0, r1, omega):  # measured on constructed float64 codes
    if not (r0 > 0 and r1 > 0 and 0 < omega < math.pi):
        raise ValueError("need r0, r1 > 0 and 0 < omega < pi")
    z0 = torch.tensor([r0, 0.0], dtype=torch.float64)
    z1 = r1 * torch.tensor([math.cos(omega), math.sin(omega)], dtype=torch.float64)
    w = math.sin(omega / 2) / math.sin(omega)
    return float(((z0 + z1) / 2).norm()), float((w * (z0 + z1)).norm())


def mn_right_torch(r0, r1, omega):  # 0-d float32 tensors
    if r0 <= 0 or r1 <= 0 or not 0 < omega < math.pi:
        raise ValueError("out of range")
    r0, r1, om = torch.tensor(float(r0)), torch.tensor(float(r1)), torch.tensor(float(omega))
    chord = torch.sqrt(r0**2 + r1**2 + 2 * r0 * r1 * torch.cos(om))
    return chord / 2, chord / (2 * torch.cos(om / 2))


def au_right_ranks(scores, labels):  # Mann-Whitney U from average ranks (scipy)
    from scipy.stats import rankdata

    if scores.shape != labels.shape:
        raise ValueError("shape")
    s = scores.detach().cpu().double().numpy()
    y = labels.detach().cpu().numpy() == 1
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError("one class only")
    r = rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def au_right_sklearn(scores, labels):
    from sklearn.metrics import roc_auc_score

    if scores.shape != labels.shape:
        raise ValueError("shapes differ")
    if labels.min() == labels.max():
        raise ValueError("one class only")
    return float(roc_auc_score(labels.cpu().numpy(), scores.cpu().double().numpy()))


def au_right_sort(scores, labels):  # counts by sorting the negatives: O(n log n)
    if scores.dim() != 1 or scores.shape != labels.shape:
        raise ValueError("(N,) each")
    y = labels.to(torch.bool)
    pos, neg = scores[y], torch.sort(scores[~y]).values
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("need positives and negatives")
    lo = torch.searchsorted(neg, pos, right=False)
    hi = torch.searchsorted(neg, pos, right=True)
    return ((lo.double() + hi.double()) / 2).sum().item() / (len(pos) * len(neg))


def ec_right_loop(symbols, reference, bits):
    k = 1 << bits
    if symbols.dim() != 2 or reference.dim() != 2 or symbols.size(1) != reference.size(1):
        raise ValueError("D differs")
    if bool((symbols < 0).any() | (symbols >= k).any()):
        raise ValueError("symbols out of range")
    if bool((reference < 0).any() | (reference >= k).any()):
        raise ValueError("reference out of range")
    m, d = reference.shape
    out = torch.zeros(symbols.shape[0], dtype=torch.float64)
    for j in range(d):
        c = torch.bincount(reference[:, j], minlength=k).double()
        p = (c + 0.5) / (m + 0.5 * k)
        out -= torch.log2(p[symbols[:, j]])
    return out


def ec_right_histc(symbols, reference, bits):
    k = 2**bits
    if symbols.shape[-1] != reference.shape[-1]:
        raise ValueError("different D")
    for t in (symbols, reference):
        if t.min().item() < 0 or t.max().item() > k - 1:
            raise ValueError("a symbol outside [0, 2**bits)")
    total = torch.zeros(symbols.shape[0], dtype=torch.float64)
    for j in range(symbols.shape[1]):
        h = torch.histc(reference[:, j].double(), bins=k, min=0, max=k - 1) + 0.5
        total += -torch.log(h[symbols[:, j]] / h.sum()) / math.log(2)
    return total


ALTERNATIVES = [
    ("ex11.kl_bits", kb_right_distributions),
    ("ex11.kl_bits", kb_right_log_exp),
    ("ex11.midpoint_norms", mn_right_vectors),
    ("ex11.midpoint_norms", mn_right_torch),
    ("ex11.auroc", au_right_ranks),
    ("ex11.auroc", au_right_sklearn),
    ("ex11.auroc", au_right_sort),
    ("ex11.entropy_code_bits", ec_right_loop),
    ("ex11.entropy_code_bits", ec_right_histc),
]

VALUE_ALTERNATIVES = [
    (
        "ex11.predict_rotated_auroc",
        "joined_literal",
        "between 0.5 and 0.9: " + "better than chance, far from reliable",
    ),
]


# ================================================================= mutants: kl_bits
def _kb(f):
    def kl_bits(mu, logvar):
        if mu.shape != logvar.shape:
            raise ValueError("shapes differ")
        return f(mu, logvar)

    return kl_bits


kb_div_log2e = _kb(
    lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(1) / math.log2(math.e)
)  # ÷ log₂e is × ln 2
kb_mu_times_2 = _kb(lambda mu, lv: 0.5 * (2 * mu + lv.exp() - 1 - lv).sum(1) / LN2)
kb_sigma4 = _kb(lambda mu, lv: 0.5 * (mu**2 + lv.exp() ** 2 - 1 - lv).sum(1) / LN2)
kb_half_on_part = _kb(lambda mu, lv: (0.5 * (mu**2 + lv.exp() - 1) - lv).sum(1) / LN2)
kb_always_double = _kb(lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).double().sum(1) / LN2)
kb_clamped = _kb(
    lambda mu, lv: 0.5 * (mu**2 + lv.clamp(-10, 10).exp() - 1 - lv.clamp(-10, 10)).sum(1) / LN2
)
kb_sum_dim0 = _kb(lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(0) / LN2)
kb_all_sum = _kb(lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).sum() / LN2)
kb_cpu = _kb(lambda mu, lv: (0.5 * (mu**2 + lv.exp() - 1 - lv).sum(1) / LN2).cpu())
kb_log2_var = _kb(lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - torch.log2(lv.exp())).sum(1) / LN2)
kb_mean_times_ln2 = _kb(lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).mean(1))


def kb_numel_check(mu, logvar):  # compares sizes, not shapes: (4, 6) and (6, 4) slip through
    if mu.numel() != logvar.numel():
        raise ValueError("sizes differ")
    return (
        0.5 * (mu**2 + logvar.reshape(mu.shape).exp() - 1 - logvar.reshape(mu.shape)).sum(1) / LN2
    )


def kb_batch_check(mu, logvar):  # only the batch sizes compared
    if len(mu) != len(logvar):
        raise ValueError("batch sizes differ")
    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1) / LN2


def kb_in_place(mu, logvar):
    if mu.shape != logvar.shape:
        raise ValueError("shapes differ")
    var = logvar.detach().exp_() if not logvar.requires_grad else logvar.exp()
    return 0.5 * (mu**2 + var - 1 - var.log()).sum(1) / LN2


def kb_float32(mu, logvar):
    if mu.shape != logvar.shape:
        raise ValueError("shapes differ")
    mu, logvar = mu.float(), logvar.float()
    return (0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1) / LN2).to(mu.dtype)


def kb_float32_back(mu, logvar):  # computed in float32, handed back as the input's dtype
    if mu.shape != logvar.shape:
        raise ValueError("shapes differ")
    dt = mu.dtype
    m, lv = mu.float(), logvar.float()
    return (0.5 * (m**2 + lv.exp() - 1 - lv).sum(1) / LN2).to(dt)


# ========================================================== mutants: midpoint_norms
def _mn(f):
    def midpoint_norms(r0, r1, omega):
        if r0 <= 0 or r1 <= 0 or not 0 < omega < math.pi:
            raise ValueError("out of range")
        return f(r0, r1, omega)

    return midpoint_norms


def _chord(r0, r1, om):
    return math.sqrt(r0 * r0 + r1 * r1 + 2 * r0 * r1 * math.cos(om))


mn_cos_over_2 = _mn(
    lambda r0, r1, om: (_chord(r0, r1, om) / 2, _chord(r0, r1, om) / (math.cos(om) / 2 * 2))
)
mn_sin_law = _mn(
    lambda r0, r1, om: (
        0.5 * math.sqrt(r0**2 + r1**2 + 2 * r0 * r1 * math.sin(om)),
        _chord(r0, r1, om) / (2 * math.cos(om / 2)),
    )
)
mn_double_weight = _mn(
    lambda r0, r1, om: (
        _chord(r0, r1, om) / 2,
        2 * _chord(r0, r1, om) * math.sin(om / 2) / math.sin(om),
    )
)
mn_cos_squared = _mn(
    lambda r0, r1, om: (_chord(r0, r1, om) / 2, _chord(r0, r1, om) / (2 * math.cos(om / 2) ** 2))
)
mn_rms_lerp = _mn(
    lambda r0, r1, om: (
        math.sqrt((r0**2 + r1**2) / 2) * math.cos(om / 2),
        _chord(r0, r1, om) / (2 * math.cos(om / 2)),
    )
)
mn_lerp_interp_slerp = _mn(
    lambda r0, r1, om: (_chord(r0, r1, om) / 2, max(r0, r1))
)  # "slerp keeps the larger norm"
mn_dict = _mn(
    lambda r0, r1, om: {
        "lerp": _chord(r0, r1, om) / 2,
        "slerp": _chord(r0, r1, om) / (2 * math.cos(om / 2)),
    }
)
mn_sum_of_both = _mn(
    lambda r0, r1, om: _chord(r0, r1, om) / 2 + _chord(r0, r1, om) / (2 * math.cos(om / 2))
)


def mn_allows_pi(r0, r1, omega):  # rejects omega > π but not omega = π
    if r0 <= 0 or r1 <= 0 or omega <= 0 or omega > math.pi:
        raise ValueError("out of range")
    c = _chord(r0, r1, omega)
    return c / 2, c / (2 * math.cos(omega / 2))


def mn_allows_zero_norm(r0, r1, omega):
    if r0 < 0 or r1 < 0 or not 0 < omega < math.pi:
        raise ValueError("out of range")
    c = _chord(r0, r1, omega)
    return c / 2, c / (2 * math.cos(omega / 2))


def mn_degrees_range(r0, r1, omega):  # validates against 180 (degrees) but computes in radians
    if r0 <= 0 or r1 <= 0 or not 0 < omega < 180:
        raise ValueError("out of range")
    c = _chord(r0, r1, omega)
    return c / 2, c / (2 * math.cos(omega / 2))


def mn_assert(r0, r1, omega):
    assert r0 > 0 and r1 > 0 and 0 < omega < math.pi
    c = _chord(r0, r1, omega)
    return c / 2, c / (2 * math.cos(omega / 2))


def mn_no_check(r0, r1, omega):
    c = _chord(r0, r1, omega)
    return c / 2, c / (2 * math.cos(omega / 2))


def mn_abs_cos(r0, r1, omega):  # |cos| taken "to be safe": wrong for obtuse angles
    if r0 <= 0 or r1 <= 0 or not 0 < omega < math.pi:
        raise ValueError("out of range")
    c = math.sqrt(r0 * r0 + r1 * r1 + 2 * r0 * r1 * abs(math.cos(omega)))
    return c / 2, c / (2 * math.cos(omega / 2))


# ================================================================== mutants: auroc
def _au(f):
    def auroc(scores, labels):
        if scores.shape != labels.shape:
            raise ValueError("shapes differ")
        y = labels == 1
        if y.all() or not y.any():
            raise ValueError("one class only")
        return f(scores, y)

    return auroc


def _gini(s, y):
    pos, neg = s[y], s[~y]
    gt = (pos[:, None] > neg[None, :]).double().mean().item()
    lt = (pos[:, None] < neg[None, :]).double().mean().item()
    return gt - lt


au_gini = _au(_gini)  # 2·AUROC − 1 (Somers' D)


def _trapz_order(s, y):  # ROC by sorting, ties broken by position (no grouping of thresholds)
    order = torch.argsort(s, descending=True, stable=True)
    yy = y[order].double()
    tpr = torch.cat([torch.zeros(1, dtype=torch.float64), yy.cumsum(0) / yy.sum()])
    fpr = torch.cat([torch.zeros(1, dtype=torch.float64), (1 - yy).cumsum(0) / (1 - yy).sum()])
    return float(torch.trapezoid(tpr, fpr))


au_trapz_ungrouped = _au(_trapz_order)


def _argsort_ranks(s, y):
    ranks = torch.argsort(torch.argsort(s, stable=True)).double() + 1
    n1, n0 = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


au_argsort_ranks = _au(_argsort_ranks)


def _percentile(s, y):  # mean share of *all* scores below each positive
    below = (s[y][:, None] > s[None, :]).double().sum(1) / len(s)
    return float(below.mean())


au_percentile_all = _au(_percentile)


def _int_div(s, y):
    pos, neg = s[y], s[~y]
    gt = int((pos[:, None] > neg[None, :]).sum())
    eq = int((pos[:, None] == neg[None, :]).sum())
    return (2 * gt + eq) // (2 * len(pos) * len(neg))


au_integer_division = _au(_int_div)


def _float32(s, y):
    s = s.float()
    pos, neg = s[y], s[~y]
    return float(
        (
            (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
        ).mean()
    )


au_float32 = _au(_float32)


def _median_split(s, y):  # "probability that a positive is above the median"
    return float((s[y] > s.median()).double().mean())


au_positives_above_median = _au(_median_split)


def _tpr_minus_fpr(s, y):  # Youden's J at the best threshold
    best = 0.0
    for t in torch.unique(s):
        tpr = (s[y] >= t).double().mean()
        fpr = (s[~y] >= t).double().mean()
        best = max(best, float(tpr - fpr))
    return best


au_youden = _au(_tpr_minus_fpr)


def au_len_check(scores, labels):  # compares lengths, not shapes
    if len(scores) != len(labels):
        raise ValueError("lengths differ")
    y = labels.reshape(-1) == 1
    if y.all() or not y.any():
        raise ValueError("one class only")
    pos, neg = scores[y], scores[~y]
    return float(
        (
            (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
        ).mean()
    )


def au_sum_check(scores, labels):  # rejects all-negative labels only
    if scores.shape != labels.shape:
        raise ValueError("shapes differ")
    if labels.sum() == 0:
        raise ValueError("no positives")
    y = labels == 1
    pos, neg = scores[y], scores[~y]
    return float(
        (
            (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
        ).mean()
    )


def au_labels_as_index(scores, labels):  # scores[labels] gathers, it does not mask
    if scores.shape != labels.shape:
        raise ValueError("shapes differ")
    if labels.sum() == 0 or labels.sum() == len(labels):
        raise ValueError("one class only")
    pos = scores[labels.long()]
    neg = scores[(1 - labels).long()]
    return float(
        (
            (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
        ).mean()
    )


def au_sklearn_unchecked(scores, labels):  # no checks: sklearn warns (NaN) for one class
    import warnings

    from sklearn.metrics import roc_auc_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(roc_auc_score(np.asarray(labels), np.asarray(scores.double())))


# ======================================================= mutants: entropy_code_bits
def _ec(f):
    def entropy_code_bits(symbols, reference, bits):
        k = 2**bits
        if symbols.shape[1] != reference.shape[1]:
            raise ValueError("D differs")
        if (
            min(int(symbols.min()), int(reference.min())) < 0
            or max(int(symbols.max()), int(reference.max())) >= k
        ):
            raise ValueError("out of range")
        return f(symbols, reference, k)

    return entropy_code_bits


def _counts(reference, k):
    return F.one_hot(reference, k).sum(0).double()  # (D, k)


def _look_up(logp, symbols):
    return -logp[torch.arange(symbols.shape[1]), symbols].sum(1)


def _unique_denominator(symbols, reference, k):  # smoothing only over the symbols seen
    c = _counts(reference, k)
    seen = (c > 0).sum(1, keepdim=True).double()
    return _look_up(torch.log2((c + 0.5) / (reference.shape[0] + seen / 2)), symbols)


ec_unique_denominator = _ec(_unique_denominator)


def _no_minlength(symbols, reference, k):  # bincount without minlength: bins up to the max seen
    out = torch.zeros(symbols.shape[0], dtype=torch.float64)
    for j in range(symbols.shape[1]):
        c = torch.bincount(reference[:, j]).double() + 0.5
        c = torch.cat([c, torch.full((k - len(c),), 1e-12, dtype=torch.float64)])
        out -= torch.log2(c[symbols[:, j]] / c.sum())
    return out


ec_no_minlength = _ec(_no_minlength)


def _transposed(symbols, reference, k):  # counts indexed [symbol, dimension] the wrong way
    c = _counts(reference, k) + 0.5
    logp = torch.log2(c / c.sum(1, keepdim=True))
    d = symbols.shape[1]
    flat = logp.reshape(-1)
    idx = symbols * d + torch.arange(d)  # as if logp were (k, D)
    return -flat[idx.clamp(max=flat.numel() - 1)].sum(1)


ec_transposed = _ec(_transposed)


def _float32(symbols, reference, k):
    c = _counts(reference, k).float() + 0.5
    return _look_up(torch.log2(c / c.sum(1, keepdim=True)), symbols)


ec_float32 = _ec(_float32)


def _per_row_total(symbols, reference, k):  # normalised by the batch's rows, not M
    c = _counts(reference, k) + 0.5
    return _look_up(torch.log2(c / (symbols.shape[0] + k / 2)), symbols)


ec_batch_total = _ec(_per_row_total)


def _ideal_entropy(symbols, reference, k):  # the entropy of each histogram, the same for every row
    c = _counts(reference, k) + 0.5
    p = c / c.sum(1, keepdim=True)
    h = -(p * torch.log2(p)).sum(1).sum()
    return torch.full((symbols.shape[0],), float(h), dtype=torch.float64)


ec_entropy_not_cost = _ec(_ideal_entropy)


def _half_k(symbols, reference, k):  # ½ added once per dimension instead of to each count
    c = _counts(reference, k)
    c = c + 0.5 / k
    return _look_up(torch.log2(c / c.sum(1, keepdim=True)), symbols)


ec_half_spread = _ec(_half_k)


def ec_shape_equality(symbols, reference, bits):  # demands B == M as well as the same D
    if symbols.shape != reference.shape:
        raise ValueError("shapes differ")
    return entropy_code_bits(symbols, reference, bits)


def ec_off_by_one_range(symbols, reference, bits):  # accepts a symbol equal to 2**bits
    k = 2**bits
    if symbols.shape[1] != reference.shape[1]:
        raise ValueError("D")
    if symbols.min() < 0 or symbols.max() > k or reference.min() < 0 or reference.max() > k:
        raise ValueError("range")
    counts = F.one_hot(reference, k + 1).sum(0).double()[:, :k] + 0.5
    logp = torch.log2(counts / counts.sum(1, keepdim=True))
    logp = torch.cat([logp, torch.zeros(logp.shape[0], 1, dtype=torch.float64)], 1)
    return -logp[torch.arange(symbols.shape[1]), symbols].sum(1)


def ec_no_negative_check(symbols, reference, bits):  # −1 silently indexes the last bin
    k = 2**bits
    if symbols.shape[1] != reference.shape[1]:
        raise ValueError("D")
    if symbols.max() >= k or reference.max() >= k:
        raise ValueError("range")
    counts = torch.stack(
        [torch.bincount(reference[:, j], minlength=k) for j in range(reference.shape[1])]
    ).double()
    logp = torch.log2((counts + 0.5) / (counts.sum(1, keepdim=True) + k / 2))
    return -logp[torch.arange(symbols.shape[1]), symbols].sum(1)


# ======================================================================= the values
VALUE_MUTANTS = [
    (
        "ex11.predict_rotated_auroc",
        "above_0_9",
        "above 0.9: flagged almost always",
        "rotations are obvious to a likelihood",
    ),
    (
        "ex11.predict_rotated_auroc",
        "below_0_5",
        "below 0.5: they look more likely than real digits",
        "rotated digits look like simple images",
    ),
    ("ex11.predict_rotated_auroc", "a_number", 0.64, "a number instead of a choice"),
    ("ex11.predict_rotated_auroc", "a_number_string", "0.64", "a number as a string"),
    (
        "ex11.predict_rotated_auroc",
        "truncated",
        "between 0.5 and 0.9",
        "only the start of the choice",
    ),
    (
        "ex11.predict_rotated_auroc",
        "trailing_space",
        "between 0.5 and 0.9: better than chance, far from reliable ",
        "not exactly as written",
    ),
    (
        "ex11.predict_rotated_auroc",
        "capitalised",
        "Between 0.5 and 0.9: better than chance, far from reliable",
        "not exactly as written",
    ),
    (
        "ex11.predict_rotated_auroc",
        "in_a_list",
        ["between 0.5 and 0.9: better than chance, far from reliable"],
        "a list holding the choice",
    ),
    ("ex11.predict_rotated_auroc", "true", True, "a boolean"),
    ("ex11.predict_rotated_auroc", "middle", "middle", "a word for the choice"),
]

MUTANTS = [
    ("ex11.kl_bits", kb_div_log2e, "divided by log₂ e: × ln 2 instead of ÷ ln 2"),
    ("ex11.kl_bits", kb_mu_times_2, "2μ instead of μ²"),
    ("ex11.kl_bits", kb_sigma4, "σ⁴ (exp(logvar)²) instead of σ²"),
    ("ex11.kl_bits", kb_half_on_part, "½ on μ² + σ² − 1 only, not on log σ²"),
    ("ex11.kl_bits", kb_always_double, "float64 result for float32 inputs"),
    ("ex11.kl_bits", kb_clamped, "logvar clamped to ±10 'for stability'"),
    ("ex11.kl_bits", kb_sum_dim0, "summed over the batch dimension"),
    ("ex11.kl_bits", kb_all_sum, "one total for the batch"),
    ("ex11.kl_bits", kb_cpu, "result moved to the CPU"),
    ("ex11.kl_bits", kb_log2_var, "log₂ σ² inside, then ÷ ln 2 again"),
    ("ex11.kl_bits", kb_mean_times_ln2, "mean over dims in nats (two mistakes)"),
    ("ex11.kl_bits", kb_numel_check, "compares numel, reshapes logvar"),
    ("ex11.kl_bits", kb_batch_check, "compares the batch sizes only"),
    ("ex11.kl_bits", kb_in_place, "exp_() on logvar when it needs no gradient"),
    ("ex11.kl_bits", kb_float32, "computed in float32 for float64 inputs"),
    ("ex11.kl_bits", kb_float32_back, "float32 arithmetic, result cast back"),
    ("ex11.midpoint_norms", mn_cos_over_2, "cos Ω where cos(Ω/2) belongs in slerp"),
    ("ex11.midpoint_norms", mn_sin_law, "sin Ω in the law of cosines"),
    ("ex11.midpoint_norms", mn_double_weight, "slerp weight doubled"),
    ("ex11.midpoint_norms", mn_cos_squared, "cos²(Ω/2) in slerp's denominator"),
    ("ex11.midpoint_norms", mn_rms_lerp, "rms of the norms times cos(Ω/2) for lerp"),
    ("ex11.midpoint_norms", mn_lerp_interp_slerp, "slerp keeps the larger norm"),
    ("ex11.midpoint_norms", mn_dict, "returns a dict"),
    ("ex11.midpoint_norms", mn_sum_of_both, "returns one number"),
    ("ex11.midpoint_norms", mn_allows_pi, "accepts omega = π"),
    ("ex11.midpoint_norms", mn_allows_zero_norm, "accepts a zero norm"),
    ("ex11.midpoint_norms", mn_degrees_range, "validates omega against 180"),
    ("ex11.midpoint_norms", mn_assert, "assert instead of ValueError"),
    ("ex11.midpoint_norms", mn_no_check, "no argument checks"),
    ("ex11.midpoint_norms", mn_abs_cos, "|cos Ω| in the law of cosines"),
    ("ex11.auroc", au_gini, "2·AUROC − 1 (Somers' D)"),
    ("ex11.auroc", au_trapz_ungrouped, "ROC trapezoid with ties broken by order"),
    ("ex11.auroc", au_argsort_ranks, "ranks by argsort, ties not averaged"),
    ("ex11.auroc", au_percentile_all, "share of all scores below each positive"),
    ("ex11.auroc", au_integer_division, "integer division"),
    ("ex11.auroc", au_float32, "scores rounded to float32"),
    ("ex11.auroc", au_positives_above_median, "share of positives above the median"),
    ("ex11.auroc", au_youden, "Youden's J at the best threshold"),
    ("ex11.auroc", au_len_check, "compares lengths, flattens labels"),
    ("ex11.auroc", au_sum_check, "rejects all-negative labels only"),
    ("ex11.auroc", au_labels_as_index, "scores[labels] as an index"),
    ("ex11.auroc", au_sklearn_unchecked, "scikit-learn without a shape check"),
    ("ex11.entropy_code_bits", ec_unique_denominator, "smoothing total over the seen symbols"),
    ("ex11.entropy_code_bits", ec_no_minlength, "bincount without minlength"),
    ("ex11.entropy_code_bits", ec_transposed, "counts indexed the wrong way round"),
    ("ex11.entropy_code_bits", ec_float32, "float32 result"),
    ("ex11.entropy_code_bits", ec_batch_total, "normalised by B instead of M"),
    ("ex11.entropy_code_bits", ec_entropy_not_cost, "the histograms' entropy for every row"),
    ("ex11.entropy_code_bits", ec_half_spread, "½ spread over the bins (½/2^b each)"),
    ("ex11.entropy_code_bits", ec_shape_equality, "demands B == M"),
    ("ex11.entropy_code_bits", ec_off_by_one_range, "accepts a symbol 2^bits"),
    ("ex11.entropy_code_bits", ec_no_negative_check, "a symbol −1 indexes the last bin"),
]


# ==================================================================================== main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    batch = [m[:2] for m in MUTANTS] + [(task, value) for task, _, value, _ in VALUE_MUTANTS]
    status = report(batch, SOLUTIONS, SEEDS, argv)
    if "--sanity" in argv:
        status = max(status, sanity_alternatives(ALTERNATIVES, SEEDS))
        bad = []
        for task, name, value in VALUE_ALTERNATIVES:
            _, results = judge(task, value, SEEDS)
            ok = all(r.passed for r in results)
            msg = next((r.message for r in results if not r.passed), "")
            print(f"{'ok    ' if ok else 'FAILED'} {task:36s} {name:28s} {msg[:150]}")
            if not ok:
                bad.append(f"{task}:{name}")
        print(
            f"{len(VALUE_ALTERNATIVES) - len(bad)} of {len(VALUE_ALTERNATIVES)} other right values pass"
        )
        status = max(status, 1 if bad else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
