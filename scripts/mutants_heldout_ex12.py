"""A held-out batch of plausible wrong answers ("mutants") to the ex12 tasks (VAE vs AE vs GAN).

Written from the exercise contracts (the markdown, task statements and stub docstrings of
``exercises/ex12_vae_vs_ae_vs_gan.ipynb``, and the package functions they name:
``vae_course.scores.frechet_distance``, ``vae_course.comparison.sample_quality``/``draw_samples``,
``vae_course.models.autoencoder.fit_code_gaussian``, ``vae_course.models.gan``). As for ex11, this
batch was written by the author of the checks, after them and before the catalogue of wrong
answers in ``tests/test_grading_ex12.py``, aiming at mistakes the checks' own lists of plausible
errors did not name; it is therefore a weaker test than an independent batch. It was run once
before any check was changed. Every mutant violates its task's contract.

    python scripts/mutants_heldout_ex12.py            # run every mutant with seeds 11 and 12
    python scripts/mutants_heldout_ex12.py --sanity   # the solutions (and ALTERNATIVES) must pass

A mutant is *killed* when its check fails for both seeds. ``MUTANTS`` holds
(task, function, what is wrong) for the four function tasks; ``VALUE_MUTANTS`` holds
(task, name, value, what is wrong) for the answer variable ``prediction_real_frechet``,
which is graded as a value, not called. ``SOLUTIONS`` holds right answers written here from
the contracts (one per task); ``--sanity`` also runs ``ALTERNATIVES`` and ``VALUE_ALTERNATIVES``,
right answers written differently, which must pass too.

Result (first run, seeds 11 and 12): 55 of 56 killed (46 functions, 10 values); all 5 solutions
pass, and 3 of the 5 other right answers. Every miss was the batch's own mistake or a check that
asked for more than the contract:

* the survivor, cgs_upper ("the upper Cholesky factor U used as L"), is not a wrong answer:
  U = Lᵀ, so ε U = ε Lᵀ; it moved to ALTERNATIVES (cgs_right_upper);
* cb_right_unique returned max(h, 0.0), which is −0.0 for a single class (−0.0 == 0.0, and max
  keeps its first argument on a tie): that breaks the contract's +0.0, so it became the mutant
  cb_max_h_first, and the right answer now writes max(0.0, h). The check's message for −0.0 now
  names this pitfall;
* od_right_xlogy computed 1 − D* as 1 − d: on a case with p_g = 1e-30 where p_data ≈ 0.2, 1 − D*
  rounds to 0 and 1e-30·log 0 = −inf. That case asked for more numerical care than the contract
  states, so vae_course/grading/ex12.py changed it: both distributions now put 1e-30 on the same
  outcomes (D* ≈ ½).

Now 56 of 56 are killed with seeds 11 and 12, and with seeds 1 and 2 (a strict test in
tests/test_grading_ex12.py); the 5 solutions and 6 other right answers pass. The whole batch runs
in about 20 s here.
"""

from __future__ import annotations

import math
import sys

import torch

from vae_course.grading.mutants import judge, report, sanity_alternatives

SEEDS = (11, 12)
LN2 = math.log(2.0)


# =============================================================================== solutions
def _check_fd(mean1, cov1, mean2, cov2):
    if mean1.dim() != 1 or mean2.dim() != 1 or mean1.shape[0] != mean2.shape[0]:
        raise ValueError("means must be (D,) of one length")
    d = mean1.shape[0]
    if cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError("covariances must be (D, D)")


def _sqrtm_psd(c):
    w, v = torch.linalg.eigh(c)
    return v @ torch.diag_embed(w.clamp(min=0).sqrt()) @ v.mT


def frechet_distance(mean1, cov1, mean2, cov2):
    _check_fd(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.to(torch.float64) for t in (mean1, cov1, mean2, cov2))
    s1 = _sqrtm_psd(c1)
    inner = s1 @ c2 @ s1
    ev = torch.linalg.eigvalsh(0.5 * (inner + inner.mT))
    d2 = (
        ((m1 - m2) ** 2).sum()
        + torch.trace(c1)
        + torch.trace(c2)
        - 2 * ev.clamp_min(0).sqrt().sum()
    )
    return torch.clamp(d2, min=0.0)


def optimal_discriminator(p_data, p_g):
    if p_data.shape != p_g.shape or p_data.dim() != 1:
        raise ValueError("p_data and p_g must both be (K,)")
    s = p_data + p_g
    d = torch.where(s > 0, p_data / torch.where(s > 0, s, 1.0), 0.5)
    one_minus = torch.where(s > 0, p_g / torch.where(s > 0, s, 1.0), 0.5)
    real = torch.where(p_data > 0, p_data * torch.log(torch.where(p_data > 0, d, 1.0)), 0.0)
    fake = torch.where(p_g > 0, p_g * torch.log(torch.where(p_g > 0, one_minus, 1.0)), 0.0)
    return d, -(real.sum() + fake.sum())


def class_balance(predicted, n_classes):
    if predicted.numel() == 0:
        raise ValueError("no labels")
    if bool(((predicted < 0) | (predicted >= n_classes)).any()):
        raise ValueError("labels outside [0, n_classes)")
    counts = torch.zeros(n_classes, dtype=torch.float64)
    counts.index_add_(0, predicted.long(), torch.ones(predicted.shape[0], dtype=torch.float64))
    p = counts / predicted.shape[0]
    h = 0.0
    for pc in p.tolist():
        if pc > 0:
            h -= pc * math.log2(pc)
    return abs(h), float(p.max())


def code_gaussian_samples(codes, n, generator):
    if codes.dim() != 2 or codes.shape[0] < 2:
        raise ValueError("codes must be (N, D) with N >= 2")
    c = codes.to(torch.float64)
    mean = c.mean(0)
    cov = torch.cov(c.T).reshape(c.shape[1], c.shape[1]) + 1e-5 * torch.eye(
        c.shape[1], dtype=torch.float64
    )
    L = torch.linalg.cholesky(cov)
    eps = torch.randn(n, c.shape[1], generator=generator, dtype=torch.float64)
    return (mean + (L @ eps.T).T).to(torch.float32)


PREDICTION = "small but clearly above 0 (finite samples: both estimates of the mean and covariance are noisy)"

SOLUTIONS = {
    "ex12.frechet_distance": frechet_distance,
    "ex12.optimal_discriminator": optimal_discriminator,
    "ex12.class_balance": class_balance,
    "ex12.code_gaussian_samples": code_gaussian_samples,
    "ex12.predict_real_frechet": PREDICTION,
}


# ================================================================ other right answers
def fd_right_svd(mean1, cov1, mean2, cov2):
    """tr (C1 C2)^{1/2} = ‖C1^{1/2} C2^{1/2}‖_* (the nuclear norm: sum of singular values)."""
    _check_fd(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    nuclear = torch.linalg.svdvals(_sqrtm_psd(c1) @ _sqrtm_psd(c2)).sum()
    return ((m1 - m2).square().sum() + c1.trace() + c2.trace() - 2 * nuclear).clamp(min=0)


def fd_right_eigvals(mean1, cov1, mean2, cov2):
    """Eigenvalues of the non-symmetric C1 C2, with care: real part, clamped at 0."""
    _check_fd(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    lam = torch.linalg.eigvals(c1 @ c2).real.clamp(min=0)
    return ((m1 - m2).square().sum() + c1.trace() + c2.trace() - 2 * lam.sqrt().sum()).clamp(min=0)


def od_right_xlogy(p_data, p_g):
    if p_data.dim() != 1 or p_g.dim() != 1 or p_data.shape[0] != p_g.shape[0]:
        raise ValueError("shapes")
    both = (p_data == 0) & (p_g == 0)
    denom = (p_data + p_g).masked_fill(both, 1.0)
    d = (p_data / denom).masked_fill(both, 0.5)
    loss = -torch.special.xlogy(p_data, d).sum() - torch.special.xlogy(p_g, 1 - d).sum()
    return d, loss


def cb_right_unique(predicted, n_classes):
    if predicted.dim() != 1 or len(predicted) == 0:
        raise ValueError("need (N,) labels, N >= 1")
    if predicted.min() < 0 or predicted.max() >= n_classes:
        raise ValueError("label out of range")
    _, counts = torch.unique(predicted, return_counts=True)
    p = counts.double() / len(predicted)
    h = -(p * p.log2()).sum().item()
    return max(0.0, h), p.max().item()  # (first run: max(h, 0.0), which keeps h = −0.0)


def cb_max_h_first(predicted, n_classes):
    """max(h, 0.0) returns h = −0.0 for one class (a tie keeps the first argument)."""
    if predicted.dim() != 1 or len(predicted) == 0:
        raise ValueError("need (N,) labels, N >= 1")
    if predicted.min() < 0 or predicted.max() >= n_classes:
        raise ValueError("label out of range")
    _, counts = torch.unique(predicted, return_counts=True)
    p = counts.double() / len(predicted)
    return max(-(p * p.log2()).sum().item(), 0.0), p.max().item()


def cgs_right_numpy_cov(codes, n, generator):
    import numpy as np

    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError("(N, D), N >= 2")
    c = codes.double()
    cov = torch.from_numpy(np.atleast_2d(np.cov(c.numpy(), rowvar=False)))
    L = torch.linalg.cholesky(cov + 1e-5 * torch.eye(c.shape[1], dtype=torch.float64))
    eps = torch.randn((n, c.shape[1]), generator=generator, dtype=torch.float64)
    return (c.mean(0) + eps @ L.mT).float()


def cgs_right_upper(codes, n, generator):
    """The upper factor U = Lᵀ (Uᵀ U = Σ): ε U is ε Lᵀ. (Written as a mutant at first.)"""
    if codes.dim() != 2 or codes.shape[0] < 2:
        raise ValueError("(N, D), N >= 2")
    c = codes.double()
    cov = _cov(c) + 1e-5 * _eye(c)
    eps = torch.randn(n, c.shape[1], generator=generator, dtype=torch.float64)
    return (c.mean(0) + eps @ torch.linalg.cholesky(cov, upper=True)).float()


ALTERNATIVES = [
    ("ex12.frechet_distance", fd_right_svd),
    ("ex12.frechet_distance", fd_right_eigvals),
    ("ex12.optimal_discriminator", od_right_xlogy),
    ("ex12.class_balance", cb_right_unique),
    ("ex12.code_gaussian_samples", cgs_right_numpy_cov),
    ("ex12.code_gaussian_samples", cgs_right_upper),
]

VALUE_ALTERNATIVES = [
    (
        "ex12.predict_real_frechet",
        "joined_literal",
        "small but clearly above 0 "
        + "(finite samples: both estimates of the mean and covariance are noisy)",
    ),
]


# ================================================================= mutants: frechet_distance
def _fd(f):
    def frechet_distance(mean1, cov1, mean2, cov2):
        _check_fd(mean1, cov1, mean2, cov2)
        m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
        return f(m1, c1, m2, c2)

    return frechet_distance


def _tr_sqrt(c1, c2):
    s1 = _sqrtm_psd(c1)
    return torch.linalg.eigvalsh(s1 @ c2 @ s1).clamp(min=0).sqrt().sum()


fd_unclamped_eigs = _fd(  # no clamp of the eigenvalues: NaN for a singular covariance
    lambda m1, c1, m2, c2: (
        ((m1 - m2) ** 2).sum()
        + c1.trace()
        + c2.trace()
        - 2 * torch.linalg.eigvalsh(_sqrtm_psd(c1) @ c2 @ _sqrtm_psd(c1)).sqrt().sum()
    ).clamp(min=0)
)
fd_mean_of_squares = _fd(  # mean over dimensions instead of the sum of squares
    lambda m1, c1, m2, c2: (
        ((m1 - m2) ** 2).mean() + c1.trace() + c2.trace() - 2 * _tr_sqrt(c1, c2)
    ).clamp(min=0)
)
fd_frobenius = _fd(  # ‖C1 − C2‖_F² in place of the trace term
    lambda m1, c1, m2, c2: ((m1 - m2) ** 2).sum() + ((c1 - c2) ** 2).sum()
)
fd_std_diag = _fd(  # stds from the diagonals only (a diagonal Gaussian)
    lambda m1, c1, m2, c2: (
        ((m1 - m2) ** 2).sum() + ((c1.diagonal().sqrt() - c2.diagonal().sqrt()) ** 2).sum()
    )
)
fd_float32 = lambda mean1, cov1, mean2, cov2: frechet_distance(  # noqa: E731
    mean1.float(), cov1.float(), mean2.float(), cov2.float()
).float()


def _float32_inside(m1, c1, m2, c2):
    m1, c1, m2, c2 = (t.float() for t in (m1, c1, m2, c2))
    w, v = torch.linalg.eigh(c1)
    s1 = (v * w.clamp(min=0).sqrt()) @ v.T
    lam = torch.linalg.eigvalsh(s1 @ c2 @ s1).clamp(min=0)
    return (
        ((m1 - m2).square().sum() + c1.trace() + c2.trace() - 2 * lam.sqrt().sum())
        .clamp(min=0)
        .double()
    )


fd_float32_math = _fd(_float32_inside)  # arithmetic in float32, the result cast back


def fd_python_float(mean1, cov1, mean2, cov2):
    return float(frechet_distance(mean1, cov1, mean2, cov2))


def fd_cpu(mean1, cov1, mean2, cov2):
    _check_fd(mean1, cov1, mean2, cov2)
    return frechet_distance(*(t.cpu() for t in (mean1, cov1, mean2, cov2)))


def fd_shape_1(mean1, cov1, mean2, cov2):
    return frechet_distance(mean1, cov1, mean2, cov2).reshape(1)


def fd_no_square_check(mean1, cov1, mean2, cov2):  # checks the means only
    if mean1.shape != mean2.shape:
        raise ValueError("means differ")
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    return (
        ((m1 - m2) ** 2).sum() + c1.diagonal().sum() + c2.diagonal().sum() - 2 * _tr_sqrt(c1, c2)
    ).clamp(min=0)


def fd_numel_check(mean1, cov1, mean2, cov2):  # compares sizes: (1, 3) and (3,) slip through
    if mean1.numel() != mean2.numel() or cov1.numel() != cov2.numel():
        raise ValueError("sizes differ")
    return frechet_distance(mean1.reshape(-1), cov1, mean2.reshape(-1), cov2)


def fd_cholesky(mean1, cov1, mean2, cov2):  # needs positive definite covariances
    _check_fd(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    l1, l2 = torch.linalg.cholesky(c1), torch.linalg.cholesky(c2)
    nuclear = torch.linalg.svdvals(l1.T @ l2).sum()
    return ((m1 - m2).square().sum() + c1.trace() + c2.trace() - 2 * nuclear).clamp(min=0)


def fd_jitter(mean1, cov1, mean2, cov2):  # "for stability": 1e-6 added to both covariances
    _check_fd(mean1, cov1, mean2, cov2)
    eye = torch.eye(mean1.shape[0], dtype=torch.float64, device=mean1.device)
    return frechet_distance(mean1, cov1.double() + 1e-6 * eye, mean2, cov2.double() + 1e-6 * eye)


# ========================================================== mutants: optimal_discriminator
def _od(f):
    def optimal_discriminator(p_data, p_g):
        if p_data.shape != p_g.shape or p_data.dim() != 1:
            raise ValueError("shapes")
        return f(p_data, p_g)

    return optimal_discriminator


def _loss_at(p, q, d):
    return -(torch.special.xlogy(p, d).sum() + torch.special.xlogy(q, 1 - d).sum())


od_eps = _od(  # ε in the denominator
    lambda p, q: (p / (p + q + 1e-8), _loss_at(p, q, p / (p + q + 1e-8)))
)
od_nan_both_zero = _od(
    lambda p, q: (p / (p + q), _loss_at(p, q, torch.nan_to_num(p / (p + q), nan=0.5)))
)
od_log_loss_plain = _od(  # log(D) and log(1 − D) without the 0·log 0 convention
    lambda p, q: (
        torch.where(p + q > 0, p / (p + q), 0.5),
        -(p * torch.log(torch.where(p + q > 0, p / (p + q), 0.5))).sum()
        - (q * torch.log(1 - torch.where(p + q > 0, p / (p + q), 0.5))).sum(),
    )
)
od_jsd_bits_loss = _od(  # the loss written as 2 − 2 JSD in bits
    lambda p, q: (
        torch.where(p + q > 0, p / (p + q).clamp(min=1e-300), 0.5),
        2
        - 2
        * (LN2 - _loss_at(p, q, torch.where(p + q > 0, p / (p + q).clamp(min=1e-300), 0.5)) / 2)
        / LN2,
    )
)
od_mean_loss = _od(  # a mean over outcomes of the pointwise losses
    lambda p, q: (
        torch.where(p + q > 0, p / (p + q).clamp(min=1e-300), 0.5),
        _loss_at(p, q, torch.where(p + q > 0, p / (p + q).clamp(min=1e-300), 0.5)) / p.shape[0],
    )
)
od_float64_always = _od(lambda p, q: optimal_discriminator(p.double(), q.double()))
od_python_loss = _od(
    lambda p, q: (optimal_discriminator(p, q)[0], float(optimal_discriminator(p, q)[1]))
)
od_returns_jsd = _od(
    lambda p, q: (optimal_discriminator(p, q)[0], LN2 - optimal_discriminator(p, q)[1] / 2)
)
od_sigmoid_ratio = _od(  # D* = σ(p − q): "probability real" from the difference
    lambda p, q: (torch.sigmoid(p - q), _loss_at(p, q, torch.sigmoid(p - q)))
)
od_zero_both_as_one = _od(
    lambda p, q: (
        torch.where(p + q > 0, p / (p + q).clamp(min=1e-300), 1.0),
        optimal_discriminator(p, q)[1],
    )
)


def od_no_shape_check(p_data, p_g):
    return (
        optimal_discriminator(p_data.reshape(-1), p_g.reshape(-1))
        if p_data.numel() == p_g.numel()
        else optimal_discriminator(p_data, p_data)
    )


def od_cpu(p_data, p_g):
    if p_data.shape != p_g.shape or p_data.dim() != 1:
        raise ValueError("shapes")
    d, loss = optimal_discriminator(p_data.cpu(), p_g.cpu())
    return d, loss


# ================================================================== mutants: class_balance
def _cb(f):
    def class_balance(predicted, n_classes):
        if predicted.numel() == 0 or predicted.min() < 0 or predicted.max() >= n_classes:
            raise ValueError("bad labels")
        counts = torch.bincount(predicted.long(), minlength=n_classes).double()
        return f(counts, predicted, n_classes)

    return class_balance


def _h(p):
    p = p[p > 0]
    return float(-(p * torch.log2(p)).sum()) + 0.0


cb_uniform_smoothing = _cb(  # +1 in every bin ("Laplace") before normalising
    lambda c, y, k: (_h((c + 1) / (c + 1).sum()), float(c.max() / c.sum()))
)
cb_present_only_max = (
    _cb(  # largest share among the classes present, over the classes present count
        lambda c, y, k: (_h(c / c.sum()), float(c.max() / (c > 0).sum()))
    )
)
cb_minus_zero = _cb(
    lambda c, y, k: (
        float(-(c[c > 0] / c.sum() * torch.log2(c[c > 0] / c.sum())).sum()),
        float(c.max() / c.sum()),
    )
)
cb_entropy_of_max = _cb(  # −p log p of the largest class only
    lambda c, y, k: (
        float(-(c.max() / c.sum()) * torch.log2(c.max() / c.sum())) + 0.0,
        float(c.max() / c.sum()),
    )
)
cb_bits_per_label = _cb(  # total bits of all labels (N·H)
    lambda c, y, k: (_h(c / c.sum()) * len(y), float(c.max() / c.sum()))
)
cb_largest_minus_smallest = _cb(
    lambda c, y, k: (_h(c / c.sum()), float((c.max() - c.min()) / c.sum()))
)
cb_tensor_pair = _cb(lambda c, y, k: torch.tensor([_h(c / c.sum()), float(c.max() / c.sum())]))


def cb_no_empty_check(predicted, n_classes):
    if predicted.numel() and (predicted.min() < 0 or predicted.max() >= n_classes):
        raise ValueError("out of range")
    counts = torch.bincount(predicted.long(), minlength=n_classes).double()
    p = counts / counts.sum().clamp(min=1)
    return _h(p), float(p.max())


def cb_upper_only(predicted, n_classes):  # rejects labels ≥ n_classes, not negative ones
    if predicted.numel() == 0 or predicted.max() >= n_classes:
        raise ValueError("out of range")
    counts = torch.bincount(predicted.clamp(min=0).long(), minlength=n_classes).double()
    p = counts / counts.sum()
    return _h(p), float(p.max())


def cb_le_check(predicted, n_classes):  # label == n_classes allowed (off by one)
    if predicted.numel() == 0 or predicted.min() < 0 or predicted.max() > n_classes:
        raise ValueError("out of range")
    counts = torch.bincount(predicted.long(), minlength=n_classes).double()
    p = counts / counts.sum()
    return _h(p), float(p.max())


# ======================================================= mutants: code_gaussian_samples
def _cgs(f):
    def code_gaussian_samples(codes, n, generator):
        if codes.dim() != 2 or codes.shape[0] < 2:
            raise ValueError("(N, D), N >= 2")
        c = codes.double()
        return f(c, n, generator).float()

    return code_gaussian_samples


def _cov(c, ddof=1):
    x = c - c.mean(0)
    return x.T @ x / (c.shape[0] - ddof)


def _eye(c):
    return torch.eye(c.shape[1], dtype=torch.float64)


cgs_eigh_factor = _cgs(  # V diag(√w) as the factor: right distribution, other draws
    lambda c, n, g: (
        c.mean(0)
        + torch.randn(n, c.shape[1], generator=g, dtype=torch.float64)
        @ (
            torch.linalg.eigh(_cov(c) + 1e-5 * _eye(c))[1]
            * torch.linalg.eigh(_cov(c) + 1e-5 * _eye(c))[0].clamp(min=0).sqrt()
        ).T
    )
)
cgs_no_jitter_eigh = _cgs(
    lambda c, n, g: (
        c.mean(0)
        + torch.randn(n, c.shape[1], generator=g, dtype=torch.float64)
        @ torch.linalg.cholesky(_cov(c) + 1e-8 * _eye(c)).T
    )
)
cgs_std_scaled = _cgs(  # z = mean + std ⊙ ε with correlation ignored but jitter kept
    lambda c, n, g: (
        c.mean(0) + torch.randn(n, c.shape[1], generator=g, dtype=torch.float64) * c.std(0)
    )
)
cgs_jitter_relative = _cgs(  # jitter scaled by the mean variance
    lambda c, n, g: (
        c.mean(0)
        + torch.randn(n, c.shape[1], generator=g, dtype=torch.float64)
        @ torch.linalg.cholesky(
            _cov(c) + 1e-5 * _cov(c).diagonal().mean() * _eye(c) + 1e-12 * _eye(c)
        ).T
    )
)
cgs_two_draws = _cgs(  # a first draw "to warm up" the generator
    lambda c, n, g: (
        torch.randn(1, generator=g),
        c.mean(0)
        + torch.randn(n, c.shape[1], generator=g, dtype=torch.float64)
        @ torch.linalg.cholesky(_cov(c) + 1e-5 * _eye(c)).T,
    )[1]
)
cgs_median = _cgs(  # the median as the centre
    lambda c, n, g: (
        c.median(0).values
        + torch.randn(n, c.shape[1], generator=g, dtype=torch.float64)
        @ torch.linalg.cholesky(_cov(c) + 1e-5 * _eye(c)).T
    )
)


def cgs_global_rng(codes, n, generator):  # ignores the generator
    if codes.dim() != 2 or codes.shape[0] < 2:
        raise ValueError("(N, D), N >= 2")
    c = codes.double()
    eps = torch.randn(n, c.shape[1], dtype=torch.float64)
    return (c.mean(0) + eps @ torch.linalg.cholesky(_cov(c) + 1e-5 * _eye(c)).T).float()


def cgs_mvn(codes, n, generator):  # torch.distributions: no generator argument
    if codes.dim() != 2 or codes.shape[0] < 2:
        raise ValueError("(N, D), N >= 2")
    c = codes.double()
    dist = torch.distributions.MultivariateNormal(c.mean(0), _cov(c) + 1e-5 * _eye(c))
    return dist.sample((n,)).float()


def cgs_float64_out(codes, n, generator):
    return code_gaussian_samples(codes, n, generator).double()


def cgs_no_check(codes, n, generator):  # a single code: NaN covariance, no ValueError
    c = codes.double().reshape(codes.shape[0], -1)
    cov = _cov(c) if c.shape[0] > 1 else torch.zeros(c.shape[1], c.shape[1], dtype=torch.float64)
    L = torch.linalg.cholesky(cov + 1e-5 * _eye(c))
    eps = torch.randn(n, c.shape[1], generator=generator, dtype=torch.float64)
    return (c.mean(0) + eps @ L.T).float()


# ======================================================================= the values
VALUE_MUTANTS = [
    (
        "ex12.predict_real_frechet",
        "zero",
        "about 0: the same distribution gives distance 0",
        "same distribution, so 0",
    ),
    (
        "ex12.predict_real_frechet",
        "vae_like",
        "about as large as the VAE's samples",
        "real digits are as far as the VAE's",
    ),
    ("ex12.predict_real_frechet", "a_number", 4.1, "a number instead of a choice"),
    ("ex12.predict_real_frechet", "a_number_string", "4", "a number as a string"),
    ("ex12.predict_real_frechet", "truncated", "small but clearly above 0", "only the start"),
    (
        "ex12.predict_real_frechet",
        "trailing_space",
        PREDICTION + " ",
        "not exactly as written",
    ),
    ("ex12.predict_real_frechet", "capitalised", PREDICTION.capitalize(), "not exactly as written"),
    ("ex12.predict_real_frechet", "in_a_tuple", (PREDICTION,), "a tuple holding the choice"),
    ("ex12.predict_real_frechet", "false", False, "a boolean"),
    ("ex12.predict_real_frechet", "small", "small", "a word for the choice"),
]

MUTANTS = [
    ("ex12.frechet_distance", fd_unclamped_eigs, "eigenvalues not clamped before the root"),
    ("ex12.frechet_distance", fd_mean_of_squares, "mean of the squared mean differences"),
    ("ex12.frechet_distance", fd_frobenius, "‖C1 − C2‖_F² for the covariance term"),
    ("ex12.frechet_distance", fd_std_diag, "diagonal Gaussians only"),
    ("ex12.frechet_distance", fd_float32, "float32 result"),
    ("ex12.frechet_distance", fd_float32_math, "float32 arithmetic, float64 result"),
    ("ex12.frechet_distance", fd_python_float, "a Python float"),
    ("ex12.frechet_distance", fd_cpu, "result moved to the CPU"),
    ("ex12.frechet_distance", fd_shape_1, "shape (1,) instead of ()"),
    ("ex12.frechet_distance", fd_no_square_check, "covariance shapes not checked"),
    ("ex12.frechet_distance", fd_numel_check, "sizes compared, not shapes"),
    ("ex12.frechet_distance", fd_cholesky, "Cholesky factors: fails for singular covariances"),
    ("ex12.frechet_distance", fd_jitter, "1e-6 added to both covariances"),
    ("ex12.optimal_discriminator", od_eps, "ε = 1e-8 in the denominator"),
    ("ex12.optimal_discriminator", od_nan_both_zero, "NaN where both are 0"),
    ("ex12.optimal_discriminator", od_log_loss_plain, "no 0·log 0 convention in the loss"),
    ("ex12.optimal_discriminator", od_jsd_bits_loss, "2 − 2 JSD in bits"),
    ("ex12.optimal_discriminator", od_mean_loss, "loss divided by K"),
    ("ex12.optimal_discriminator", od_float64_always, "float64 outputs for float32 inputs"),
    ("ex12.optimal_discriminator", od_python_loss, "loss as a Python float"),
    ("ex12.optimal_discriminator", od_returns_jsd, "returns the JSD as the loss"),
    ("ex12.optimal_discriminator", od_sigmoid_ratio, "D* = σ(p − q)"),
    ("ex12.optimal_discriminator", od_zero_both_as_one, "D* = 1 where both are 0"),
    ("ex12.optimal_discriminator", od_no_shape_check, "no shape check"),
    ("ex12.optimal_discriminator", od_cpu, "results moved to the CPU"),
    ("ex12.class_balance", cb_uniform_smoothing, "+1 smoothing of the counts"),
    ("ex12.class_balance", cb_present_only_max, "largest count over the number of classes present"),
    ("ex12.class_balance", cb_minus_zero, "−0.0 for a single class"),
    ("ex12.class_balance", cb_entropy_of_max, "−p log p of the largest class only"),
    ("ex12.class_balance", cb_bits_per_label, "N·H, the bits of all labels"),
    ("ex12.class_balance", cb_largest_minus_smallest, "largest minus smallest share"),
    ("ex12.class_balance", cb_tensor_pair, "one tensor of two numbers"),
    ("ex12.class_balance", cb_no_empty_check, "no ValueError for an empty tensor"),
    ("ex12.class_balance", cb_upper_only, "negative labels clamped to 0"),
    ("ex12.class_balance", cb_le_check, "label n_classes accepted"),
    ("ex12.class_balance", cb_max_h_first, "max(h, 0.0): −0.0 for one class"),
    ("ex12.code_gaussian_samples", cgs_eigh_factor, "V diag(√w) instead of the Cholesky factor"),
    ("ex12.code_gaussian_samples", cgs_no_jitter_eigh, "jitter 1e-8 instead of 1e-5"),
    ("ex12.code_gaussian_samples", cgs_std_scaled, "std ⊙ ε (no correlations)"),
    ("ex12.code_gaussian_samples", cgs_jitter_relative, "jitter relative to the mean variance"),
    ("ex12.code_gaussian_samples", cgs_two_draws, "an extra draw before ε"),
    ("ex12.code_gaussian_samples", cgs_median, "the median as the centre"),
    ("ex12.code_gaussian_samples", cgs_global_rng, "the global random state"),
    ("ex12.code_gaussian_samples", cgs_mvn, "torch.distributions (no generator)"),
    ("ex12.code_gaussian_samples", cgs_float64_out, "float64 draws"),
    ("ex12.code_gaussian_samples", cgs_no_check, "no ValueError for a single code"),
]
# Not mutants (right within the contract): float32 probabilities in class_balance (entropy right to
# about 1e-7; the contract does not fix the arithmetic's dtype) and |λ| of the eigenvalues of C1 C2
# in frechet_distance (equal to λ up to rounding noise).


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
