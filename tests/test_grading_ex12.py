"""Checks of exercise set ex12 (VAE vs AE vs GAN): the references agree with the course's package
and with independent computations (SciPy's matrix square root and Jensen–Shannon distance, closed
forms for equal, one-dimensional, commuting and singular Gaussians, the GAN's discriminator_loss,
SciPy's entropy, sample_quality's class statistics, NumPy's covariance and Cholesky factor, Monte
Carlo moments), right answers written several ways pass, plausible wrong answers lose the task's
points with their hint, stubs are not attempted; the held-out batch is killed; the
predict-then-run answer and its feedback hold over seeds 0-2 of the exercise's own run; the built
exercise is current and `vae-course grade` gives the solution 10 of 10 and the blank exercise 0."""

from __future__ import annotations

import importlib.util
import json
import math
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy

from vae_course.grading import NOT_ATTEMPTED, CheckFailed, check, run_check
from vae_course.grading.build import build_exercises, graded_tasks
from vae_course.grading.ex12 import (
    JITTER,
    REAL_FRECHET,
    PredictRealFrechet,
    ref_class_balance,
    ref_code_gaussian_samples,
    ref_frechet_distance,
    ref_optimal_discriminator,
)
from vae_course.models.gan import discriminator_loss
from vae_course.scores import frechet_distance as package_frechet_distance

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "ex12_vae_vs_ae_vs_gan.ipynb"
EXERCISE = ROOT / "exercises" / "ex12_vae_vs_ae_vs_gan.ipynb"
LN2 = math.log(2)
F64 = torch.float64
TASKS = (
    "ex12.frechet_distance",
    "ex12.optimal_discriminator",
    "ex12.class_balance",
    "ex12.code_gaussian_samples",
)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread (the rerun of the demo trains a classifier): on a busy two-core
    machine a second thread only spin-waits. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _spd(d, rank=None, seed=0, scale=1.0):
    g = _gen(seed)
    a = torch.randn(d, d if rank is None else rank, generator=g, dtype=F64)
    c = a @ a.T * scale
    return (c + c.T) / 2


# ----------------------------------------------------------------------------- references
@pytest.mark.parametrize("seed", range(4))
def test_frechet_reference_is_scipys_matrix_square_root(seed):
    g = _gen(seed)
    d = 6
    m1, m2 = torch.randn(2, d, generator=g, dtype=F64)
    c1, c2 = _spd(d, seed=10 + seed), _spd(d, seed=20 + seed)
    root = scipy.linalg.sqrtm(c1.numpy() @ c2.numpy())
    want = float(((m1 - m2) ** 2).sum()) + float(c1.trace() + c2.trace()) - 2 * np.trace(root).real
    got = ref_frechet_distance(m1, c1, m2, c2)
    assert got.dtype == F64 and got.shape == ()
    assert float(got) == pytest.approx(want, rel=1e-9)
    assert float(got) == package_frechet_distance(m1, c1, m2, c2)


def test_frechet_reference_closed_forms():
    m, c = torch.randn(5, dtype=F64), _spd(5, seed=3)
    assert float(ref_frechet_distance(m, c, m, c)) == pytest.approx(0.0, abs=1e-10)
    assert float(ref_frechet_distance(m, c, m, c)) >= 0
    # one dimension: (m1 − m2)² + (s1 − s2)²
    got = ref_frechet_distance(
        torch.tensor([0.5], dtype=F64),
        torch.tensor([[4.0]], dtype=F64),
        torch.tensor([-1.0], dtype=F64),
        torch.tensor([[0.25]], dtype=F64),
    )
    assert float(got) == pytest.approx(1.5**2 + 1.5**2)
    # commuting diagonal covariances: Σ (√a − √b)²
    a, b = torch.tensor([1.0, 4.0, 9.0], dtype=F64), torch.tensor([4.0, 1.0, 0.25], dtype=F64)
    z = torch.zeros(3, dtype=F64)
    assert float(ref_frechet_distance(z, torch.diag(a), z, torch.diag(b))) == pytest.approx(
        float(((a.sqrt() - b.sqrt()) ** 2).sum())
    )
    # a point mass against N(m2, C2): ‖m1 − m2‖² + tr C2
    m2 = torch.randn(4, dtype=F64)
    c2 = _spd(4, seed=5)
    got = ref_frechet_distance(torch.zeros(4, dtype=F64), torch.zeros(4, 4, dtype=F64), m2, c2)
    assert float(got) == pytest.approx(float((m2**2).sum() + c2.trace()))


@pytest.mark.parametrize("rank1, rank2", [(2, 3), (1, 6), (4, 4)])
def test_frechet_reference_for_singular_covariances_is_the_nuclear_norm(rank1, rank2):
    """tr (C1 C2)^{1/2} = ‖C1^{1/2} C2^{1/2}‖_* (the sum of singular values), by NumPy."""
    d = 6
    c1, c2 = _spd(d, rank1, seed=rank1), _spd(d, rank2, seed=10 + rank2)
    m1, m2 = torch.randn(2, d, generator=_gen(rank1 + rank2), dtype=F64)

    def root(c):
        w, v = np.linalg.eigh(c.numpy())
        return v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T

    nuclear = np.linalg.svd(root(c1) @ root(c2), compute_uv=False).sum()
    want = float(((m1 - m2) ** 2).sum() + c1.trace() + c2.trace()) - 2 * nuclear
    assert float(ref_frechet_distance(m1, c1, m2, c2)) == pytest.approx(want, rel=1e-7, abs=1e-7)


def _jsd_nats(p, q):
    """JSD in nats from SciPy: jensenshannon returns its square root (natural log by default)."""
    return float(jensenshannon(p.numpy(), q.numpy())) ** 2


@pytest.mark.parametrize("seed", range(4))
def test_optimal_discriminator_reference_is_2log2_minus_2jsd_by_scipy(seed):
    g = _gen(seed)
    p = torch.softmax(torch.randn(12, generator=g, dtype=F64) * 2, 0)
    q = torch.softmax(torch.randn(12, generator=g, dtype=F64) * 2, 0)
    q[:3] = 0.0  # outcomes the generator never makes
    q = q / q.sum()
    d_star, loss = ref_optimal_discriminator(p, q)
    torch.testing.assert_close(d_star, p / (p + q))
    assert float(loss) == pytest.approx(2 * LN2 - 2 * _jsd_nats(p, q), rel=1e-10)
    # D* minimises the loss: any other D in (0, 1) costs more
    for _ in range(20):
        other = (d_star + 0.05 * torch.randn(12, generator=g, dtype=F64)).clamp(1e-6, 1 - 1e-6)
        worse = -(torch.special.xlogy(p, other).sum() + torch.special.xlogy(q, 1 - other).sum())
        assert float(worse) >= float(loss)


def test_optimal_discriminator_reference_is_the_gans_discriminator_loss_at_d_star():
    """discriminator_loss averages over samples: with samples whose class counts are n·p exactly,
    fed the logits log D* − log(1 − D*) of their classes, it is the loss of D* under p and q."""
    g = _gen(7)
    real = torch.multinomial(torch.tensor([0.3, 0.3, 0.2, 0.2, 0.0]), 400, True, generator=g)
    fake = torch.multinomial(torch.tensor([0.05, 0.1, 0.0, 0.45, 0.4]), 250, True, generator=g)
    p = torch.bincount(real, minlength=5).double() / 400
    q = torch.bincount(fake, minlength=5).double() / 250
    d_star, loss = ref_optimal_discriminator(p, q)
    logits = torch.log(d_star) - torch.log1p(-d_star)
    torch.testing.assert_close(discriminator_loss(logits[real], logits[fake]), loss)


def test_optimal_discriminator_reference_edges():
    p = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=F64)
    q = torch.tensor([0.0, 0.5, 0.5, 0.0], dtype=F64)
    d_star, loss = ref_optimal_discriminator(p, q)
    torch.testing.assert_close(d_star, torch.tensor([1.0, 0.5, 0.0, 0.5], dtype=F64))
    assert torch.isfinite(loss) and float(loss) == pytest.approx(2 * LN2 - 2 * _jsd_nats(p, q))
    same = torch.full((7,), 1 / 7, dtype=F64)
    assert float(ref_optimal_discriminator(same, same)[1]) == pytest.approx(2 * LN2)
    disjoint = ref_optimal_discriminator(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    assert float(disjoint[1]) == 0.0
    with pytest.raises(ValueError):
        ref_optimal_discriminator(torch.ones(3) / 3, torch.ones(4) / 4)


def test_class_balance_reference_is_sample_qualitys_and_scipys(monkeypatch):
    from vae_course import comparison

    g = _gen(2)
    labels = torch.multinomial(
        torch.tensor([0.5, 0.2, 0.2, 0.1, 0, 0, 0, 0, 0, 0]), 300, True, generator=g
    )
    feats = torch.randn(300, 4, generator=g, dtype=F64)
    monkeypatch.setattr(comparison, "features", lambda clf, x: feats)
    monkeypatch.setattr(comparison, "predict", lambda clf, x: labels)
    monkeypatch.setattr(comparison, "confidence", lambda clf, x: torch.ones(len(x)))
    reference = (feats.mean(0), torch.cov(feats.T))
    q = comparison.sample_quality(
        torch.zeros(300, 1, 28, 28), SimpleNamespace(n_classes=10), reference
    )
    h, big = ref_class_balance(labels, 10)
    assert h == pytest.approx(q["class_entropy"], abs=1e-12)
    assert big == pytest.approx(q["largest_class"], abs=1e-12)
    counts = np.bincount(labels.numpy(), minlength=10)
    assert h == pytest.approx(scipy_entropy(counts, base=2), rel=1e-12)
    assert big == pytest.approx(counts.max() / 300)
    one = ref_class_balance(torch.full((9,), 4), 10)
    assert one == (0.0, 1.0) and math.copysign(1.0, one[0]) > 0  # +0.0, not −0.0
    assert ref_class_balance(torch.arange(10).repeat(7), 10)[0] == pytest.approx(math.log2(10))
    for bad in (torch.tensor([0, 10]), torch.tensor([-1, 2]), torch.zeros(0, dtype=torch.long)):
        with pytest.raises(ValueError):
            ref_class_balance(bad, 10)


def test_code_gaussian_reference_is_the_packages_draw_and_numpys_factor():
    from vae_course.comparison import _sample_codes

    g = _gen(4)
    codes = torch.randn(300, 5, generator=g) @ torch.randn(5, 5, generator=g) + 3.0
    got = ref_code_gaussian_samples(codes, 64, _gen(9))
    want = _sample_codes("autoencoder", SimpleNamespace(latent_dim=5), 64, _gen(9), codes)
    assert got.dtype == torch.float32 and got.shape == (64, 5)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    # by hand with NumPy: unbiased covariance + 1e-5·I, its Cholesky factor, ε ~ randn(n, D)
    c = codes.double().numpy()
    chol = np.linalg.cholesky(np.cov(c, rowvar=False) + JITTER * np.eye(5))
    eps = torch.randn(64, 5, generator=_gen(9), dtype=F64).numpy()
    np.testing.assert_allclose(
        got.numpy(), (c.mean(0) + eps @ chol.T).astype(np.float32), rtol=1e-6
    )


def test_code_gaussian_reference_has_the_fitted_moments():
    """200,000 draws: mean within 5 standard errors, covariance within 5 standard errors."""
    g = _gen(5)
    codes = torch.randn(400, 3, generator=g, dtype=F64) @ torch.tensor(
        [[1.0, 0.8, 0.0], [0.0, 0.6, -0.5], [0.0, 0.0, 0.3]], dtype=F64
    ) + torch.tensor([2.0, -1.0, 0.5], dtype=F64)
    n = 200_000
    z = ref_code_gaussian_samples(codes, n, _gen(6)).double()
    mean, cov = codes.mean(0), torch.cov(codes.T) + JITTER * torch.eye(3, dtype=F64)
    assert ((z.mean(0) - mean).abs() <= 5 * (cov.diagonal() / n).sqrt()).all()
    var = cov.diagonal()
    se = ((var[:, None] * var[None, :] + cov**2) / n).sqrt()
    assert ((torch.cov(z.T) - cov).abs() <= 5 * se).all()


# ----------------------------------------------------------------------------- right answers
def _fd_shapes(mean1, cov1, mean2, cov2):
    if mean1.dim() != 1 or mean1.shape != mean2.shape:
        raise ValueError("means must be (D,) of one length")
    d = mean1.shape[0]
    if tuple(cov1.shape) != (d, d) or tuple(cov2.shape) != (d, d):
        raise ValueError("covariances must be (D, D)")


def _root(c):
    w, v = torch.linalg.eigh((c + c.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def fd_right(mean1, cov1, mean2, cov2):
    _fd_shapes(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    r1 = _root(c1)
    mid = r1 @ c2 @ r1
    s = torch.linalg.eigvalsh((mid + mid.T) / 2).clamp(min=0).sqrt().sum()
    return ((m1 - m2).pow(2).sum() + c1.trace() + c2.trace() - 2 * s).clamp(min=0)


def fd_nuclear(mean1, cov1, mean2, cov2):  # tr (C1 C2)^{1/2} = ‖C1^{1/2} C2^{1/2}‖_*
    _fd_shapes(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    s = torch.linalg.matrix_norm(_root(c1) @ _root(c2), ord="nuc")
    return ((m1 - m2).pow(2).sum() + torch.trace(c1 + c2) - 2 * s).clamp(min=0)


def fd_eigvals_careful(mean1, cov1, mean2, cov2):  # the non-symmetric product, with care
    _fd_shapes(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    lam = torch.linalg.eigvals(c1 @ c2).real.clamp(min=0)
    return torch.clamp(
        (m1 - m2).square().sum() + c1.trace() + c2.trace() - 2 * lam.sqrt().sum(), min=0
    )


def fd_maximum(mean1, cov1, mean2, cov2):  # clamp written as torch.maximum, to64 via .to
    _fd_shapes(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.to(torch.float64) for t in (mean1, cov1, mean2, cov2))
    r2 = _root(c2)
    s = torch.linalg.eigvalsh(r2 @ c1 @ r2).clamp(min=0).sqrt().sum()  # the other order
    d2 = ((m1 - m2) ** 2).sum() + c1.trace() + c2.trace() - 2 * s
    return torch.maximum(d2, torch.zeros_like(d2))


def od_right(p_data, p_g):
    if p_data.dim() != 1 or p_data.shape != p_g.shape:
        raise ValueError("p_data and p_g must both be (K,)")
    total = p_data + p_g
    seen = total > 0
    safe = torch.where(seen, total, torch.ones_like(total))
    d = torch.where(seen, p_data / safe, torch.full_like(total, 0.5))
    d_fake = torch.where(seen, p_g / safe, torch.full_like(total, 0.5))
    return d, -(torch.special.xlogy(p_data, d).sum() + torch.special.xlogy(p_g, d_fake).sum())


def od_masked(p_data, p_g):  # log only where the weight is positive; 1 − D* written plainly
    if tuple(p_data.shape) != tuple(p_g.shape) or p_data.dim() != 1:
        raise ValueError("shapes")
    both = (p_data == 0) & (p_g == 0)
    d = torch.where(
        both, torch.full_like(p_data, 0.5), p_data / (p_data + p_g).masked_fill(both, 1)
    )
    real = torch.where(p_data > 0, p_data * torch.log(d.clamp(min=1e-300)), torch.zeros_like(d))
    fake = torch.where(p_g > 0, p_g * torch.log((1 - d).clamp(min=1e-300)), torch.zeros_like(d))
    return d, -(real.sum() + fake.sum())


def od_jsd_form(p_data, p_g):  # the loss written as 2 log 2 − 2 JSD
    if p_data.dim() != 1 or p_data.shape != p_g.shape:
        raise ValueError("shapes")
    m = (p_data + p_g) / 2
    safe = torch.where(m > 0, m, torch.ones_like(m))
    kl_p = torch.special.xlogy(p_data, p_data).sum() - torch.special.xlogy(p_data, safe).sum()
    kl_q = torch.special.xlogy(p_g, p_g).sum() - torch.special.xlogy(p_g, safe).sum()
    d = torch.where(m > 0, p_data / (2 * safe), torch.full_like(m, 0.5))
    return d, 2 * math.log(2) - (kl_p + kl_q)


def cb_right(predicted, n_classes):
    if predicted.dim() != 1 or predicted.numel() == 0:
        raise ValueError("need (N,) labels")
    if int(predicted.min()) < 0 or int(predicted.max()) >= n_classes:
        raise ValueError("out of range")
    p = torch.bincount(predicted.long(), minlength=n_classes).double() / len(predicted)
    nz = p[p > 0]
    return float(-(nz * torch.log2(nz)).sum()) + 0.0, float(p.max())


def cb_unique(predicted, n_classes):  # torch.unique counts the classes present only
    if len(predicted) == 0 or predicted.min() < 0 or predicted.max() >= n_classes:
        raise ValueError("bad labels")
    _, counts = torch.unique(predicted, return_counts=True)
    p = counts.double() / counts.sum()
    return max(0.0, -(p * torch.log2(p)).sum().item()), p.max().item()


def cb_numpy(predicted, n_classes):  # NumPy, natural log converted, 0-d tensors returned
    y = predicted.numpy()
    if y.size == 0 or y.min() < 0 or y.max() >= n_classes:
        raise ValueError("bad labels")
    p = np.bincount(y, minlength=n_classes) / y.size
    nz = p[p > 0]
    h = -(nz * np.log(nz)).sum() / math.log(2)
    return torch.tensor(abs(h)), torch.tensor(p.max())


def cgs_right(codes, n, generator):
    if codes.dim() != 2 or codes.shape[0] < 2:
        raise ValueError("codes must be (N, D), N >= 2")
    z = codes.double()
    mean = z.mean(0)
    cov = (z - mean).T @ (z - mean) / (z.shape[0] - 1)
    chol = torch.linalg.cholesky(cov + 1e-5 * torch.eye(z.shape[1], dtype=torch.float64))
    eps = torch.randn(n, z.shape[1], generator=generator, dtype=torch.float64)
    return (mean + eps @ chol.T).float()


def cgs_torch_cov(codes, n, generator):  # torch.cov, L ε as columns, then transposed
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError("(N, D) with N >= 2")
    d = codes.shape[1]
    cov = torch.cov(codes.double().T).reshape(d, d) + 1e-5 * torch.eye(d, dtype=torch.float64)
    eps = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return (codes.double().mean(0)[:, None] + torch.linalg.cholesky(cov) @ eps.T).T.float()


def cgs_package(codes, n, generator):  # the package's own fit
    from vae_course.models.autoencoder import fit_code_gaussian

    if codes.dim() != 2 or codes.shape[0] < 2:
        raise ValueError("(N, D)")
    mean, chol = fit_code_gaussian(codes.double())
    eps = torch.randn(n, codes.shape[1], generator=generator, dtype=torch.float64)
    return (mean + eps @ chol.T).float()


RIGHT = [
    ("ex12.frechet_distance", fd_right),
    ("ex12.frechet_distance", fd_nuclear),
    ("ex12.frechet_distance", fd_eigvals_careful),
    ("ex12.frechet_distance", fd_maximum),
    ("ex12.optimal_discriminator", od_right),
    ("ex12.optimal_discriminator", od_masked),
    ("ex12.optimal_discriminator", od_jsd_form),
    ("ex12.class_balance", cb_right),
    ("ex12.class_balance", cb_unique),
    ("ex12.class_balance", cb_numpy),
    ("ex12.code_gaussian_samples", cgs_right),
    ("ex12.code_gaussian_samples", cgs_torch_cov),
    ("ex12.code_gaussian_samples", cgs_package),
]


@pytest.mark.parametrize("task, fn", RIGHT, ids=[f"{t}-{f.__name__}" for t, f in RIGHT])
@pytest.mark.parametrize("seed", [0, 31337])
def test_right_answers_pass(task, fn, seed):
    res = run_check(task, fn, seed=seed, max_points=2)
    assert res.passed and res.points == 2, res.message


@pytest.mark.parametrize("task, fn", RIGHT, ids=[f"{t}-{f.__name__}" for t, f in RIGHT])
def test_right_answers_pass_for_any_seed(task, fn):
    """The grader draws a fresh seed per run: a right answer must pass for every seed."""
    assert [s for s in range(12) if not run_check(task, fn, seed=s).passed] == []


@pytest.mark.parametrize("task", [*TASKS, "ex12.predict_real_frechet"])
def test_stub_is_not_attempted(task):
    def stub(*a, **k):
        raise NotImplementedError

    value = None if task == "ex12.predict_real_frechet" else stub
    assert run_check(task, value, seed=0).status == NOT_ATTEMPTED


def test_under_nbgrader_a_failing_check_raises_and_a_passing_one_prints(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    check("ex12.frechet_distance", fd_right, seed=0)
    assert "✓ ex12.frechet_distance" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="square root of the Fréchet distance"):
        check(
            "ex12.frechet_distance", _fd(lambda m1, c1, m2, c2: _d2(m1, c1, m2, c2).sqrt()), seed=0
        )
    with pytest.raises(CheckFailed, match="not attempted"):
        check(
            "ex12.class_balance", lambda y, k: (_ for _ in ()).throw(NotImplementedError()), seed=0
        )


# ----------------------------------------------------------------------------- wrong answers
def _fd(f):
    """frechet_distance with the shape checks and float64 inputs; the distance from f."""

    def frechet_distance(mean1, cov1, mean2, cov2):
        _fd_shapes(mean1, cov1, mean2, cov2)
        m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
        return f(m1, c1, m2, c2)

    return frechet_distance


def _trs(c1, c2):
    r1 = _root(c1)
    return torch.linalg.eigvalsh(r1 @ c2 @ r1).clamp(min=0).sqrt().sum()


def _d2(m1, c1, m2, c2):
    return ((m1 - m2).pow(2).sum() + c1.trace() + c2.trace() - 2 * _trs(c1, c2)).clamp(min=0)


def _mt(m1, m2):
    return (m1 - m2).pow(2).sum()


def fd_eigvals_no_care(mean1, cov1, mean2, cov2):  # real part of eigvals, then sqrt: NaN
    _fd_shapes(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    lam = torch.linalg.eigvals(c1 @ c2).real
    return (_mt(m1, m2) + c1.trace() + c2.trace() - 2 * lam.sqrt().sum()).clamp(min=0)


def fd_eigvals_complex(mean1, cov1, mean2, cov2):  # the complex trace kept
    _fd_shapes(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    s = torch.linalg.eigvals(c1 @ c2).sqrt().sum()
    return _mt(m1, m2) + c1.trace() + c2.trace() - 2 * s


def fd_no_result_clamp(mean1, cov1, mean2, cov2):  # may return −1e-15 for equal Gaussians
    _fd_shapes(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    return (
        _mt(m1, m2)
        + c1.trace()
        + c2.trace()
        - 2 * _trs(c1, c2)
        - 1e-12 * (1 + c1.trace() + c2.trace()) * (_mt(m1, m2) == 0)
    )


def fd_float32_result(mean1, cov1, mean2, cov2):
    return fd_right(mean1, cov1, mean2, cov2).float()


def fd_float32_inside(mean1, cov1, mean2, cov2):
    _fd_shapes(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.float() for t in (mean1, cov1, mean2, cov2))
    r1 = _root(c1)
    s = torch.linalg.eigvalsh(r1 @ c2 @ r1).clamp(min=0).sqrt().sum()
    return ((m1 - m2).pow(2).sum() + c1.trace() + c2.trace() - 2 * s).clamp(min=0).double()


def fd_item(mean1, cov1, mean2, cov2):
    return fd_right(mean1, cov1, mean2, cov2).item()


def fd_scipy(mean1, cov1, mean2, cov2):  # pytorch-fid's way: SciPy's sqrtm, real part
    _fd_shapes(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double().cpu().numpy() for t in (mean1, cov1, mean2, cov2))
    with warnings.catch_warnings():  # SciPy warns for singular products
        warnings.simplefilter("ignore")
        root = scipy.linalg.sqrtm(c1 @ c2)
    d2 = ((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(root).real
    return torch.tensor(max(d2, 0.0), dtype=torch.float64)


def fd_cholesky(mean1, cov1, mean2, cov2):  # ‖L1ᵀ L2‖_*: needs positive definite covariances
    _fd_shapes(mean1, cov1, mean2, cov2)
    m1, c1, m2, c2 = (t.double() for t in (mean1, cov1, mean2, cov2))
    s = torch.linalg.matrix_norm(torch.linalg.cholesky(c1).T @ torch.linalg.cholesky(c2), ord="nuc")
    return (_mt(m1, m2) + c1.trace() + c2.trace() - 2 * s).clamp(min=0)


def fd_no_shape_check(mean1, cov1, mean2, cov2):
    return _d2(*(t.double() for t in (mean1, cov1, mean2, cov2)))


def fd_means_only_check(mean1, cov1, mean2, cov2):  # the covariances' shapes are not checked
    if mean1.shape != mean2.shape:
        raise ValueError("means differ")
    return _d2(*(t.double() for t in (mean1, cov1, mean2, cov2)))


def fd_1d_check(mean1, cov1, mean2, cov2):  # (1, 3) and (3,) broadcast through
    if mean1.numel() != mean2.numel():
        raise ValueError("lengths differ")
    d = mean1.numel()
    if tuple(cov1.shape) != (d, d) or tuple(cov2.shape) != (d, d):
        raise ValueError("covariances")
    return _d2(mean1.double(), cov1.double(), mean2.double(), cov2.double())


def fd_cpu(mean1, cov1, mean2, cov2):
    return fd_right(*(t.cpu() for t in (mean1, cov1, mean2, cov2)))


def _od(f):
    """optimal_discriminator with the shape check; (D*, loss) from f(p, q)."""

    def optimal_discriminator(p_data, p_g):
        if p_data.dim() != 1 or p_data.shape != p_g.shape:
            raise ValueError("shapes")
        return f(p_data, p_g)

    return optimal_discriminator


def _dstar(p, q):
    t = p + q
    return torch.where(
        t > 0, p / torch.where(t > 0, t, torch.ones_like(t)), torch.full_like(t, 0.5)
    )


def _loss(p, q, d):
    return -(torch.special.xlogy(p, d).sum() + torch.special.xlogy(q, 1 - d).sum())


def _right_loss(p, q):
    return od_right(p, q)[1]


def od_no_shape_check(p_data, p_g):
    d = _dstar(p_data, p_g)
    return d, _loss(p_data, p_g, d)


def od_cpu(p_data, p_g):
    if p_data.dim() != 1 or p_data.shape != p_g.shape:
        raise ValueError("shapes")
    return od_right(p_data.cpu(), p_g.cpu())


def cb_no_range_check(predicted, n_classes):
    if predicted.numel() == 0:
        raise ValueError("empty")
    p = torch.bincount(predicted.clamp(min=0).long(), minlength=n_classes).double() / len(predicted)
    nz = p[p > 0]
    return float(-(nz * torch.log2(nz)).sum()) + 0.0, float(p.max())


def cb_no_empty_check(predicted, n_classes):
    if predicted.numel() and (int(predicted.min()) < 0 or int(predicted.max()) >= n_classes):
        raise ValueError("range")
    p = torch.bincount(predicted.long(), minlength=n_classes).double() / max(1, len(predicted))
    nz = p[p > 0]
    return float(-(nz * torch.log2(nz)).sum()) + 0.0, float(p.max())


def _cb(f):
    """class_balance with the contract's checks; (entropy, largest) from f(counts, n_classes)."""

    def class_balance(predicted, n_classes):
        if predicted.dim() != 1 or predicted.numel() == 0:
            raise ValueError("empty")
        if int(predicted.min()) < 0 or int(predicted.max()) >= n_classes:
            raise ValueError("range")
        counts = torch.bincount(predicted.long(), minlength=n_classes).double()
        return f(counts, n_classes)

    return class_balance


def _h2(p):
    nz = p[p > 0]
    return float(-(nz * torch.log2(nz)).sum()) + 0.0


def _cgs(f):
    """code_gaussian_samples with the shape check; draws from f(codes float64, n, generator)."""

    def code_gaussian_samples(codes, n, generator):
        if codes.dim() != 2 or codes.shape[0] < 2:
            raise ValueError("(N, D), N >= 2")
        return f(codes.double(), n, generator).float()

    return code_gaussian_samples


def _cov(z, ddof=1):
    x = z - z.mean(0)
    return x.T @ x / (z.shape[0] - ddof)


def _eye(z):
    return torch.eye(z.shape[1], dtype=F64)


def _chol(z, ddof=1, jitter=JITTER):
    return torch.linalg.cholesky(_cov(z, ddof) + jitter * _eye(z))


def _eps(z, n, g, dtype=F64):
    return torch.randn(n, z.shape[1], generator=g, dtype=dtype)


def cgs_global(codes, n, generator):
    if codes.dim() != 2 or codes.shape[0] < 2:
        raise ValueError("(N, D)")
    z = codes.double()
    return (z.mean(0) + torch.randn(n, z.shape[1], dtype=F64) @ _chol(z).T).float()


def cgs_no_check(codes, n, generator):
    z = codes.double().reshape(len(codes), -1)
    cov = _cov(z) if len(z) > 1 else torch.zeros(z.shape[1], z.shape[1], dtype=F64)
    chol = torch.linalg.cholesky(cov + JITTER * _eye(z))
    return (z.mean(0) + _eps(z, n, generator) @ chol.T).float()


def cgs_float64(codes, n, generator):
    return cgs_right(codes, n, generator).double()


WRONG = [
    # ---- frechet_distance: the listed wrong answers
    (
        "ex12.frechet_distance",
        "no factor 2",
        _fd(lambda m1, c1, m2, c2: _mt(m1, m2) + c1.trace() + c2.trace() - _trs(c1, c2)),
        "the factor 2 is missing",
    ),
    (
        "ex12.frechet_distance",
        "elementwise sqrt of C1*C2",
        _fd(
            lambda m1, c1, m2, c2: (
                _mt(m1, m2) + c1.trace() + c2.trace() - 2 * (c1 * c2).clamp(min=0).sqrt().trace()
            )
        ),
        "elementwise square root",
    ),
    (
        "ex12.frechet_distance",
        "tr(√C1 √C2)",
        _fd(
            lambda m1, c1, m2, c2: (
                _mt(m1, m2) + c1.trace() + c2.trace() - 2 * torch.trace(_root(c1) @ _root(c2))
            ).clamp(min=0)
        ),
        "only when the covariances commute",
    ),
    (
        "ex12.frechet_distance",
        "no mean term",
        _fd(lambda m1, c1, m2, c2: (c1.trace() + c2.trace() - 2 * _trs(c1, c2)).clamp(min=0)),
        "the mean term ‖m1 − m2‖² is missing",
    ),
    (
        "ex12.frechet_distance",
        "the square root (W₂)",
        _fd(lambda m1, c1, m2, c2: _d2(m1, c1, m2, c2).sqrt()),
        "the square root of the Fréchet distance",
    ),
    ("ex12.frechet_distance", "eigvals without care (NaN)", fd_eigvals_no_care, "clamp them at 0"),
    ("ex12.frechet_distance", "complex eigvals kept", fd_eigvals_complex, "is complex"),
    # ---- frechet_distance: more
    (
        "ex12.frechet_distance",
        "‖Δm‖ not squared",
        _fd(lambda m1, c1, m2, c2: (m1 - m2).norm() + c1.trace() + c2.trace() - 2 * _trs(c1, c2)),
        "not ‖m1 − m2‖",
    ),
    (
        "ex12.frechet_distance",
        "√tr(C1 C2)",
        _fd(
            lambda m1, c1, m2, c2: (
                _mt(m1, m2) + c1.trace() + c2.trace() - 2 * torch.trace(c1 @ c2).sqrt()
            ).clamp(min=0)
        ),
        "√tr(C1 C2) is not tr((C1 C2)^{1/2})",
    ),
    (
        "ex12.frechet_distance",
        "+2 tr",
        _fd(lambda m1, c1, m2, c2: _mt(m1, m2) + c1.trace() + c2.trace() + 2 * _trs(c1, c2)),
        "sign of the cross term",
    ),
    (
        "ex12.frechet_distance",
        "eigvalsh of the non-symmetric C1 C2",
        _fd(
            lambda m1, c1, m2, c2: (
                _mt(m1, m2)
                + c1.trace()
                + c2.trace()
                - 2 * torch.linalg.eigvalsh(c1 @ c2).clamp(min=0).sqrt().sum()
            ).clamp(min=0)
        ),
        "read only one triangle",
    ),
    (
        "ex12.frechet_distance",
        "(Σ Δm)²",
        _fd(
            lambda m1, c1, m2, c2: (m1 - m2).sum() ** 2 + c1.trace() + c2.trace() - 2 * _trs(c1, c2)
        ),
        "not the square of their sum",
    ),
    (
        "ex12.frechet_distance",
        "no clamp of the result",
        fd_no_result_clamp,
        "clamp the result at 0",
    ),
    (
        "ex12.frechet_distance",
        "float32 result",
        fd_float32_result,
        "expected the distance in float64",
    ),
    ("ex12.frechet_distance", "float32 arithmetic", fd_float32_inside, "float32"),
    ("ex12.frechet_distance", "a Python float", fd_item, "0-d torch tensor"),
    ("ex12.frechet_distance", "SciPy on the CPU", fd_scipy, "meta"),
    ("ex12.frechet_distance", "Cholesky factors", fd_cholesky, "semi-definite"),
    ("ex12.frechet_distance", "no shape checks", fd_no_shape_check, "ValueError"),
    ("ex12.frechet_distance", "the means' shapes only", fd_means_only_check, "ValueError"),
    ("ex12.frechet_distance", "sizes, not shapes", fd_1d_check, "no ValueError"),
    ("ex12.frechet_distance", "moved to the CPU", fd_cpu, "meta"),
    # ---- optimal_discriminator: the listed wrong answers
    (
        "ex12.optimal_discriminator",
        "p_g/(p_data + p_g)",
        _od(lambda p, q: (_dstar(q, p), _loss(p, q, _dstar(q, p)))),
        "not p_g/(p_data + p_g)",
    ),
    (
        "ex12.optimal_discriminator",
        "½ everywhere",
        _od(lambda p, q: (torch.full_like(p, 0.5), _loss(p, q, torch.full_like(p, 0.5)))),
        "½ is D* only where p_data = p_g",
    ),
    (
        "ex12.optimal_discriminator",
        "log base 2",
        _od(lambda p, q: (_dstar(p, q), _right_loss(p, q) / math.log(2))),
        "in bits",
    ),
    (
        "ex12.optimal_discriminator",
        "0·log 0 not handled (NaN)",
        _od(
            lambda p, q: (
                _dstar(p, q),
                -(p * torch.log(_dstar(p, q))).sum() - (q * torch.log(1 - _dstar(p, q))).sum(),
            )
        ),
        "0·log 0 = 0",
    ),
    (
        "ex12.optimal_discriminator",
        "NaN where both are 0",
        _od(lambda p, q: (p / (p + q), _right_loss(p, q))),
        "both 0 (0/0)",
    ),
    # ---- optimal_discriminator: more
    (
        "ex12.optimal_discriminator",
        "0 where both are 0",
        _od(lambda p, q: (torch.nan_to_num(p / (p + q), nan=0.0), _right_loss(p, q))),
        "the convention for an outcome where p_data and p_g are both 0 is D* = ½",
    ),
    (
        "ex12.optimal_discriminator",
        "D* = p_data",
        _od(lambda p, q: (p.clone(), _loss(p, q, p))),
        "p_data alone is not D*",
    ),
    (
        "ex12.optimal_discriminator",
        "ε in the denominator",
        _od(lambda p, q: (p / (p + q + 1e-12), _right_loss(p, q))),
        "both 0",
    ),
    (
        "ex12.optimal_discriminator",
        "the JSD returned",
        _od(lambda p, q: (_dstar(p, q), math.log(2) - _right_loss(p, q) / 2)),
        "that is JSD(p_data ‖ p_g) itself",
    ),
    (
        "ex12.optimal_discriminator",
        "log 2 − JSD",
        _od(lambda p, q: (_dstar(p, q), _right_loss(p, q) / 2)),
        "a factor 2 is missing",
    ),
    (
        "ex12.optimal_discriminator",
        "sign",
        _od(lambda p, q: (_dstar(p, q), -_right_loss(p, q))),
        "sign",
    ),
    (
        "ex12.optimal_discriminator",
        "mean over outcomes",
        _od(lambda p, q: (_dstar(p, q), _right_loss(p, q) / len(p))),
        "mean over the K outcomes",
    ),
    (
        "ex12.optimal_discriminator",
        "the loss at D = ½",
        _od(lambda p, q: (_dstar(p, q), _loss(p, q, torch.full_like(p, 0.5)))),
        "2 log 2 is the loss at D = ½",
    ),
    (
        "ex12.optimal_discriminator",
        "a Python float loss",
        _od(lambda p, q: (_dstar(p, q), float(_right_loss(p, q)))),
        "0-d torch tensor",
    ),
    (
        "ex12.optimal_discriminator",
        "float64 for float32 inputs",
        _od(lambda p, q: od_right(p.double(), q.double())),
        "dtype",
    ),
    (
        "ex12.optimal_discriminator",
        "only D* returned",
        _od(lambda p, q: _dstar(p, q)),
        "expected a tuple (D_star, loss)",
    ),
    ("ex12.optimal_discriminator", "no shape check", od_no_shape_check, "ValueError"),
    ("ex12.optimal_discriminator", "moved to the CPU", od_cpu, "meta"),
    # ---- class_balance: the listed wrong answers
    (
        "ex12.class_balance",
        "nats",
        _cb(lambda c, k: (_h2(c / c.sum()) * math.log(2), float(c.max() / c.sum()))),
        "in nats",
    ),
    (
        "ex12.class_balance",
        "normalised by log₂ of the classes present",
        _cb(
            lambda c, k: (
                _h2(c / c.sum()) / max(1e-300, math.log2(max(2, int((c > 0).sum())))),
                float(c.max() / c.sum()),
            )
        ),
        "divided by log₂ of the number of classes",
    ),
    (
        "ex12.class_balance",
        "normalised by log₂ n_classes",
        _cb(lambda c, k: (_h2(c / c.sum()) / math.log2(k), float(c.max() / c.sum()))),
        "divided by log₂ of the number of classes",
    ),
    (
        "ex12.class_balance",
        "largest as a count",
        _cb(lambda c, k: (_h2(c / c.sum()), float(c.max()))),
        "count of the most common class",
    ),
    ("ex12.class_balance", "no range check", cb_no_range_check, "no ValueError"),
    # ---- class_balance: more
    (
        "ex12.class_balance",
        "−0.0 for one class",
        _cb(
            lambda c, k: (
                float(-(c[c > 0] / c.sum() * torch.log2(c[c > 0] / c.sum())).sum()),
                float(c.max() / c.sum()),
            )
        ),
        "−0.0",
    ),
    (
        "ex12.class_balance",
        "p = counts / n_classes",
        _cb(lambda c, k: (_h2(c / k), float(c.max() / c.sum()))),
        "not counts / n_classes",
    ),
    (
        "ex12.class_balance",
        "log10",
        _cb(lambda c, k: (_h2(c / c.sum()) * math.log10(2), float(c.max() / c.sum()))),
        "log₁₀",
    ),
    (
        "ex12.class_balance",
        "perplexity",
        _cb(lambda c, k: (2 ** _h2(c / c.sum()), float(c.max() / c.sum()))),
        "perplexity",
    ),
    (
        "ex12.class_balance",
        "Gini impurity",
        _cb(lambda c, k: (float(1 - ((c / c.sum()) ** 2).sum()), float(c.max() / c.sum()))),
        "Gini impurity",
    ),
    (
        "ex12.class_balance",
        "the most common class itself",
        _cb(lambda c, k: (_h2(c / c.sum()), float(c.argmax()))),
        "the most common class itself",
    ),
    (
        "ex12.class_balance",
        "swapped",
        _cb(lambda c, k: (float(c.max() / c.sum()), _h2(c / c.sum()))),
        "swapped",
    ),
    (
        "ex12.class_balance",
        "NaN from 0·log 0",
        _cb(
            lambda c, k: (
                float(-((c / c.sum()) * torch.log2(c / c.sum())).sum()),
                float(c.max() / c.sum()),
            )
        ),
        "0·log 0 = 0",
    ),
    ("ex12.class_balance", "no check for no labels", cb_no_empty_check, "no ValueError"),
    # ---- code_gaussian_samples: the listed wrong answers
    (
        "ex12.code_gaussian_samples",
        "N(0, I)",
        _cgs(lambda z, n, g: _eps(z, n, g)),
        "N(0, I)",
    ),
    (
        "ex12.code_gaussian_samples",
        "diagonal covariance",
        _cgs(lambda z, n, g: z.mean(0) + _eps(z, n, g) * (z.var(0) + JITTER).sqrt()),
        "diagonal covariance",
    ),
    (
        "ex12.code_gaussian_samples",
        "biased covariance (1/N)",
        _cgs(lambda z, n, g: z.mean(0) + _eps(z, n, g) @ _chol(z, ddof=0).T),
        "N − 1",
    ),
    (
        "ex12.code_gaussian_samples",
        "elementwise sqrt of the covariance",
        _cgs(lambda z, n, g: z.mean(0) + _eps(z, n, g) @ (_cov(z) + JITTER * _eye(z)).sqrt().T),
        "elementwise square root",
    ),
    (
        "ex12.code_gaussian_samples",
        "no mean",
        _cgs(lambda z, n, g: _eps(z, n, g) @ _chol(z).T),
        "the mean of the codes is missing",
    ),
    # ---- code_gaussian_samples: more
    (
        "ex12.code_gaussian_samples",
        "no covariance",
        _cgs(lambda z, n, g: z.mean(0) + _eps(z, n, g)),
        "the covariance is missing",
    ),
    (
        "ex12.code_gaussian_samples",
        "ε L instead of ε Lᵀ",
        _cgs(lambda z, n, g: z.mean(0) + _eps(z, n, g) @ _chol(z)),
        "not ε L",
    ),
    (
        "ex12.code_gaussian_samples",
        "Σ instead of L",
        _cgs(lambda z, n, g: z.mean(0) + _eps(z, n, g) @ (_cov(z) + JITTER * _eye(z))),
        "the covariance Σ itself",
    ),
    (
        "ex12.code_gaussian_samples",
        "no jitter",
        _cgs(lambda z, n, g: z.mean(0) + _eps(z, n, g) @ torch.linalg.cholesky(_cov(z)).T),
        "jitter",
    ),
    (
        "ex12.code_gaussian_samples",
        "jitter 1e-4",
        _cgs(lambda z, n, g: z.mean(0) + _eps(z, n, g) @ _chol(z, jitter=1e-4).T),
        "the jitter is 1e-05·I, exactly",
    ),
    (
        "ex12.code_gaussian_samples",
        "ε of shape (D, n) transposed",
        _cgs(
            lambda z, n, g: (
                z.mean(0) + torch.randn(z.shape[1], n, generator=g, dtype=F64).T @ _chol(z).T
            )
        ),
        "one row per sample",
    ),
    (
        "ex12.code_gaussian_samples",
        "ε in float32",
        _cgs(lambda z, n, g: z.mean(0) + _eps(z, n, g, torch.float32).double() @ _chol(z).T),
        "draw ε in float64",
    ),
    (
        "ex12.code_gaussian_samples",
        "the symmetric square root",
        _cgs(lambda z, n, g: z.mean(0) + _eps(z, n, g) @ _root(_cov(z) + JITTER * _eye(z))),
        "symmetric square root",
    ),
    (
        "ex12.code_gaussian_samples",
        "uncentred second moment",
        _cgs(
            lambda z, n, g: (
                z.mean(0)
                + _eps(z, n, g) @ torch.linalg.cholesky(z.T @ z / (len(z) - 1) + JITTER * _eye(z)).T
            )
        ),
        "centres the codes first",
    ),
    ("ex12.code_gaussian_samples", "the global random state", cgs_global, "generator"),
    ("ex12.code_gaussian_samples", "float64 draws", cgs_float64, "expected float32"),
    ("ex12.code_gaussian_samples", "no check of the codes' shape", cgs_no_check, "no ValueError"),
]


@pytest.mark.parametrize(
    "task, why, fn, hint", WRONG, ids=[f"{t.split('.')[1]}-{w}" for t, w, _, _ in WRONG]
)
def test_wrong_answers_lose_their_points(task, why, fn, hint):
    for seed in (0, 7, 123):
        res = run_check(task, fn, seed=seed, max_points=2)
        assert res.status == "failed" and res.points == 0, f"{why} passed"
        assert hint in res.message, res.message


def test_the_catalogue_covers_every_task_and_is_large():
    assert {t for t, _, _, _ in WRONG} == set(TASKS) == {t for t, _ in RIGHT}
    assert len(WRONG) >= 60


def test_a_message_never_shows_the_reference_code():
    for task, _, fn, _ in WRONG:
        msg = run_check(task, fn, seed=0).message
        for code in (
            "def ",
            "eigvalsh(",
            "xlogy(",
            "bincount(",
            "linalg.cholesky(",
            "torch.where(",
            ".clamp(",
            "@ v.T",
        ):
            assert code not in msg, msg


# ----------------------------------------------------------------------------- the held-out batch
def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HELDOUT_EX12 = _script("mutants_heldout_ex12")


@pytest.mark.parametrize(
    "task, fn",
    [m[:2] for m in HELDOUT_EX12.MUTANTS],
    ids=[f"{m[0]}-{i}" for i, m in enumerate(HELDOUT_EX12.MUTANTS)],
)
def test_every_heldout_mutant_loses_its_points(task, fn):
    for seed in (1, 2):
        res = run_check(task, fn, seed=seed, max_points=2)
        assert not res.passed and res.points == 0, f"{fn.__name__} passed with seed {seed}"


@pytest.mark.parametrize("task, name, value", [m[:3] for m in HELDOUT_EX12.VALUE_MUTANTS])
def test_every_heldout_wrong_value_loses_its_point(task, name, value):
    for seed in (1, 2):
        assert not run_check(task, value, seed=seed).passed, name


@pytest.mark.parametrize("task", sorted(HELDOUT_EX12.SOLUTIONS))
def test_the_heldout_batchs_solutions_and_alternatives_pass(task):
    assert run_check(task, HELDOUT_EX12.SOLUTIONS[task], seed=11).passed
    for t, fn in HELDOUT_EX12.ALTERNATIVES:
        if t == task:
            assert run_check(t, fn, seed=5).passed, fn.__name__
    for t, name, value in HELDOUT_EX12.VALUE_ALTERNATIVES:
        if t == task:
            assert run_check(t, value, seed=5).passed, name


# ----------------------------------------------------------------------------- predict, then run
@pytest.mark.parametrize(
    "value, ok",
    [(PredictRealFrechet.answer, True)]
    + [(c, False) for c in PredictRealFrechet.choices if c != PredictRealFrechet.answer],
)
def test_prediction(value, ok):
    assert run_check("ex12.predict_real_frechet", value, seed=0).passed is ok


def test_the_numbers_quoted_are_the_stored_ones():
    a, b, c = (f"{REAL_FRECHET[(s, 1000)]:.1f}" for s in range(3))
    quoted = f"{a}, {b} and {c}"
    assert quoted == "4.4, 4.9 and 4.5"
    assert all(quoted in h for h in PredictRealFrechet.hints.values())
    assert quoted in SOLUTION.read_text()


@pytest.fixture(scope="module")
def digits_and_classifier():
    from vae_course.classifier import train_digit_classifier
    from vae_course.data import load_mnist

    grey = load_mnist()
    return grey, train_digit_classifier(grey.x_train, grey.y_train, epochs=3)


# The exercise's own run (the demo after task 5): the classifier train_digit_classifier(epochs=3,
# seed 0) on the bundled grey digits, its 128 features; n training digits chosen with
# torch.randperm(4000, generator seeded s)[:n] against the 1,000 grey test digits.
@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_the_prediction_and_its_feedback_hold_for_every_seed_of_the_exercises_run(
    seed, digits_and_classifier
):
    from vae_course.comparison import features
    from vae_course.scores import feature_statistics

    grey, classifier = digits_and_classifier
    test_stats = feature_statistics(features(classifier, grey.x_test))
    pick = torch.randperm(len(grey.x_train), generator=torch.Generator().manual_seed(seed))
    values = {}
    for n in (100, 300, 1000):
        m, c = feature_statistics(features(classifier, grey.x_train[pick[:n]]))
        values[n] = package_frechet_distance(m, c, *test_stats)
        print(f"seed {seed}, n = {n}: {values[n]:.2f}")
        assert values[n] == pytest.approx(REAL_FRECHET[(seed, n)], abs=0.2)  # the numbers quoted
    assert values[100] > values[300] > values[1000]  # the floor falls with n
    assert 1.0 < values[1000] < 20.0  # small but clearly above 0, far below the VAE's ≈ 147


# ----------------------------------------------------------------------------- build and grade
def test_the_solution_notebook_has_the_five_tasks_worth_10_points():
    import nbformat

    tasks = graded_tasks(nbformat.read(SOLUTION, as_version=4))
    assert [t.check_id for t in tasks] == [*TASKS, "ex12.predict_real_frechet"]
    assert [t.points for t in tasks] == [3, 2, 2, 2, 1] and sum(t.points for t in tasks) == 10


def test_the_built_exercise_is_current_and_hides_the_answers():
    from vae_course.cli import main as cli

    changed = [p for p, c in build_exercises(SOLUTION, ROOT / "exercises", check_only=True) if c]
    assert not changed, "run `vae-course build-exercises`"
    assert cli(["build-exercises", str(SOLUTION), "-o", str(ROOT / "exercises"), "--check"]) == 0
    text = EXERCISE.read_text()
    for answer in ("eigvalsh(", "xlogy(", "bincount(", "linalg.cholesky(", "p_data / safe"):
        assert answer in SOLUTION.read_text() and answer not in text, answer
    assert "prediction_real_frechet = None" in text


def test_vae_course_grade_gives_the_solution_10_and_the_exercise_0(tmp_path, capsys):
    import shutil

    from vae_course.cli import main as cli

    shutil.copy(SOLUTION, tmp_path / "solution.ipynb")
    shutil.copy(EXERCISE, tmp_path / "blank.ipynb")
    out = tmp_path / "grades.json"
    assert cli(["grade", str(tmp_path), "--json", str(out), "--jobs", "2", "-q"]) == 0
    capsys.readouterr()
    by = {s["learner"]: s for s in json.loads(out.read_text())["submissions"]}
    assert by["solution"]["total"] == by["solution"]["max_points"] == 10, by["solution"]
    assert by["blank"]["total"] == 0 and by["blank"]["max_points"] == 10
    assert all(t["reason"].startswith("not attempted") for t in by["blank"]["tasks"]), by["blank"]


def test_the_summarys_numbers_are_the_demos_outputs():
    """Every number the summary quotes from a demo is in the stored outputs of the solution."""
    import nbformat

    nb = nbformat.read(SOLUTION, as_version=4)
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    summary = next(c.source for c in nb.cells if c.source.startswith("## Summary"))
    for number in ("163.5", "32.4", "1.2089", "1.3863", "0.0887", "3.22", "104.9"):
        assert number in summary and number in outputs, number
    for number in ("909.5", "14.8", "37.0", "7.8", "4.4"):
        assert number in summary and number in outputs, number
