"""auroc, feature_statistics and frechet_distance against independent references:
scikit-learn's roc_auc_score, the pairwise definition P(S+ > S-) + ½P(=), numpy's cov,
scipy's matrix square root (the pytorch-fid recipe) and closed forms."""

import numpy as np
import pytest
import torch
from scipy import linalg
from sklearn.metrics import roc_auc_score

from vae_course import metrics
from vae_course.scores import auroc, feature_statistics, frechet_distance


def _pairwise_auc(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).double() + 0.5 * (diff == 0).double()).mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_equals_sklearn_and_the_pairwise_definition_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (300,), generator=g)
    scores = torch.randint(0, 12, (300,), generator=g).double() + 0.7 * labels  # many ties
    value = auroc(scores, labels)
    assert value == pytest.approx(roc_auc_score(labels.numpy(), scores.numpy()), abs=1e-12)
    assert value == pytest.approx(_pairwise_auc(scores, labels), abs=1e-12)
    assert 0.5 < value < 1.0


def test_auroc_extremes_and_invariance_to_monotone_maps():
    labels = torch.tensor([0, 0, 0, 1, 1])
    assert auroc([1.0, 2, 3, 4, 5], labels) == 1.0
    assert auroc([5.0, 4, 3, 2, 1], labels) == 0.0
    assert auroc([7.0] * 5, labels) == 0.5
    s = torch.randn(50, generator=torch.Generator().manual_seed(0))
    y = (torch.arange(50) % 3 == 0).long()
    assert auroc(s, y) == pytest.approx(auroc(torch.exp(3 * s) - 2, y), abs=1e-12)
    assert auroc(-s, y) == pytest.approx(1 - auroc(s, y), abs=1e-12)
    assert metrics.auroc is auroc


@pytest.mark.parametrize(
    "scores, labels, match",
    [
        ([1.0, 2.0], [1, 1], "both classes"),
        ([1.0, 2.0], [0, 2], "0 .negative. or 1"),
        ([1.0, 2.0, 3.0], [0, 1], "shape of scores"),
        ([1.0, float("nan")], [0, 1], "finite"),
        ([], [], "non-empty"),
    ],
)
def test_auroc_refuses_bad_input(scores, labels, match):
    with pytest.raises(ValueError, match=match):
        auroc(scores, labels)


def test_feature_statistics_equal_numpy():
    f = torch.randn(40, 5, generator=torch.Generator().manual_seed(1))
    mean, cov = feature_statistics(f)
    assert torch.allclose(mean, f.double().mean(0))
    assert np.allclose(cov.numpy(), np.cov(f.numpy(), rowvar=False))
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(f[:1])


def _fid_reference(m1, c1, m2, c2):
    """The pytorch-fid formula: scipy's sqrtm of the product, real part."""
    covmean = linalg.sqrtm(c1 @ c2).real
    diff = m1 - m2
    return float(diff @ diff + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_equals_the_scipy_sqrtm_reference(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    c1, c2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    value = frechet_distance(m1, c1, m2, c2)
    assert value == pytest.approx(_fid_reference(m1, c1, m2, c2), rel=1e-8)
    assert value == pytest.approx(frechet_distance(m2, c2, m1, c1), rel=1e-10)  # symmetric


def test_frechet_distance_closed_forms():
    # one dimension: (m1 − m2)² + (s1 − s2)²
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + 1)
    # diagonal covariances: Σ (√a − √b)², plus the squared mean gap
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.0])  # one variance 0 (singular)
    expected = 2.0**2 + float(((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    got = frechet_distance([0.0, 0, 0], np.diag(a), [2.0, 0, 0], np.diag(b))
    assert got == pytest.approx(expected, rel=1e-10)
    c = np.array([[2.0, 0.5], [0.5, 1.0]])
    assert frechet_distance([0.0, 1.0], c, [0.0, 1.0], c) == pytest.approx(0.0, abs=1e-10)


def test_frechet_distance_of_samples_approaches_that_of_their_gaussians():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 3, generator=g)
    y = torch.randn(20000, 3, generator=g) * 2 + 1
    got = frechet_distance(*feature_statistics(x), *feature_statistics(y))
    assert got == pytest.approx(3 * 1 + 3 * (2 - 1) ** 2, rel=0.05)  # 3·1² + 3·(2 − 1)²


@pytest.mark.parametrize(
    "args, match",
    [
        (([0.0, 0.0], np.eye(2), [0.0], np.eye(1)), "same length"),
        (([0.0, 0.0], np.eye(3), [0.0, 0.0], np.eye(2)), r"must be \(2, 2\)"),
        (([0.0, 0.0], [[1.0, 2.0], [0.0, 1.0]], [0.0, 0.0], np.eye(2)), "symmetric"),
        (([0.0, 0.0], [[1.0, 0.0], [0.0, -1.0]], [0.0, 0.0], np.eye(2)), "semi-definite"),
    ],
)
def test_frechet_distance_refuses_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(*args)
