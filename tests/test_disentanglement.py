"""MIG and mutual information (vae_course.disentanglement) against known answers and
against the reference procedure (disentanglement_lib's binning, scikit-learn's MI)."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from vae_course.disentanglement import (
    discretize,
    entropy,
    mig,
    mig_per_factor,
    mutual_information,
    mutual_information_matrix,
)


def _factors(n=4000, sizes=(3, 6, 8, 8), seed=0):
    g = np.random.default_rng(seed)
    return np.stack([g.integers(0, s, n) for s in sizes], axis=1)


def test_discretize_matches_histogram_edges_and_digitize():
    """disentanglement_lib: np.digitize(x, np.histogram(x, num_bins)[1][:-1]), 1-based."""
    g = np.random.default_rng(1)
    codes = np.concatenate([g.normal(size=(500, 3)), g.exponential(size=(500, 1)) * 7], axis=1)
    ours = discretize(torch.from_numpy(codes), num_bins=20).numpy()
    for j in range(codes.shape[1]):
        ref = np.digitize(codes[:, j], np.histogram(codes[:, j], 20)[1][:-1]) - 1
        assert (ours[:, j] == ref).mean() > 0.998  # ties on a bin edge may round either way
    assert ours.min() == 0 and ours.max() == 19


def test_constant_code_falls_in_one_bin():
    assert discretize(np.zeros((10, 1))).unique().tolist() == [0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mutual_information_matches_scikit_learn(seed):
    g = np.random.default_rng(seed)
    a = g.integers(0, 7, 1000)
    b = (a + g.integers(0, 3, 1000)) % 5
    assert mutual_information(a, b) == pytest.approx(mutual_info_score(a, b), abs=1e-12)
    assert entropy(a) == pytest.approx(mutual_info_score(a, a), abs=1e-12)


def test_entropy_of_uniform_labels_is_log_k():
    assert entropy(np.arange(1000) % 8) == pytest.approx(math.log(8))


def test_codes_copying_the_factors_score_at_the_ceiling():
    """Each factor copied by one code, plus noise far smaller than a bin: the top MI is
    H(factor) (its values fall in distinct bins); the runner-up is an independent code whose
    plug-in MI is only its small upward bias, so every gap is just under 1."""
    f = _factors()
    codes = f + 1e-4 * np.random.default_rng(2).normal(size=f.shape)
    m = mutual_information_matrix(codes, f).numpy()
    assert np.allclose(np.diag(m), [entropy(f[:, k]) for k in range(f.shape[1])])
    off = m[~np.eye(4, dtype=bool)]
    assert off.max() < 0.02  # bias ≈ (bins − 1)(values − 1) / (2N) nats
    assert 0.99 < mig(codes, f) <= 1.0


def test_ceiling_is_below_one_when_a_factor_has_more_values_than_bins():
    """32 positions into 20 equal-width bins merge values: I(binned; factor) = H(binned) < H."""
    f = _factors(sizes=(32, 3))
    codes = f + 1e-4 * np.random.default_rng(3).normal(size=f.shape)
    per = mig_per_factor(codes, f).numpy()
    binned = discretize(codes[:, :1]).numpy()[:, 0]
    ceiling = entropy(binned) / entropy(f[:, 0])
    assert 0.8 < ceiling < 0.9
    assert ceiling - 0.01 < per[0] <= ceiling
    assert 0.99 < per[1] <= 1.0


def test_random_codes_score_near_zero():
    f = _factors(n=5000)
    codes = np.random.default_rng(4).normal(size=(5000, 10))
    # the plug-in MI of independent variables is biased up by about
    # (bins − 1)(values − 1) / (2N) nats: ≈ 0.013 nats here, far below any H(factor)
    assert mig(codes, f) < 0.02


def test_a_code_duplicated_for_a_factor_scores_zero_for_it():
    f = _factors()
    codes = np.concatenate([f, f[:, :1]], axis=1) + 1e-4 * np.random.default_rng(5).normal(
        size=(f.shape[0], f.shape[1] + 1)
    )
    per = mig_per_factor(codes, f).numpy()
    assert per[0] == pytest.approx(0.0, abs=1e-9)  # two codes hold it equally: no gap
    assert np.all((per[1:] > 0.99) & (per[1:] <= 1.0))


def test_rescaling_or_flipping_a_code_changes_nothing():
    g = np.random.default_rng(6)
    f = _factors()
    codes = f @ g.normal(size=(4, 5)) + g.normal(size=(f.shape[0], 5))
    scaled = codes * np.array([3.0, 0.01, -2.0, 1e3, -1.0]) + 17.0
    assert torch.allclose(mutual_information_matrix(codes, f), mutual_information_matrix(scaled, f))
    assert mig(codes, f) == pytest.approx(mig(scaled, f))


def test_bad_inputs_say_what_was_expected():
    f = _factors(n=100)
    with pytest.raises(ValueError, match="same number of rows"):
        mig(np.zeros((99, 3)), f)
    with pytest.raises(ValueError, match=r"2-D \(N, columns\)"):
        mig(np.zeros(100), f)
    with pytest.raises(ValueError, match="at least two codes"):
        mig(np.random.default_rng(0).normal(size=(100, 1)), f)
    with pytest.raises(ValueError, match="NaN or inf"):
        discretize(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="num_bins must be at least 2"):
        discretize(np.zeros((5, 2)), num_bins=1)


def test_metrics_re_exports_the_disentanglement_scores():
    import vae_course.disentanglement as d
    import vae_course.metrics as m

    assert m.mig is d.mig and m.mutual_information_matrix is d.mutual_information_matrix
