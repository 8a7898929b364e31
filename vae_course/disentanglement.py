"""Disentanglement scores on data with known factors: mutual information and MIG.

Which estimator
---------------
The Mutual Information Gap (Chen et al. 2018) has several implementations in circulation
that give very different numbers for the same model. This module follows the evaluation
code of Locatello et al. 2019 (``disentanglement_lib``, ``compute_mig``):

1. each code (a column of the posterior means) is **discretized into ``num_bins``
   equal-width bins over its own range** (``np.histogram`` edges, ``np.digitize``);
2. the factors are left as the integer labels they are;
3. ``I(code_i; factor_k)`` is the plug-in (empirical) mutual information of the two label
   vectors, in **nats** (``sklearn.metrics.mutual_info_score``'s definition);
4. for each factor, the gap between the largest and the second-largest mutual information
   over codes, divided by the factor's entropy ``H(factor_k)`` (nats), and
5. the mean of those normalised gaps over factors.

Other papers estimate I(code; factor) with the full posterior q(z|x) by Monte Carlo
(Chen et al.'s original), with other bin counts, or normalise differently: their MIG values
are not comparable with this one, so always say which estimator a number comes from.

The ceiling is below 1 whenever binning loses information: a factor with 32 values binned
into 20 bins keeps at most H(20 bins) < H(factor). A code that copies its factor exactly
(up to a monotone map) scores gap = I / H = 1 only when the factor has at most
``num_bins`` values that fall in different bins.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "discretize",
    "mutual_information",
    "entropy",
    "mutual_information_matrix",
    "mig",
    "mig_per_factor",
]


def _as_2d(name: str, a) -> np.ndarray:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, columns) array, got shape {a.shape}")
    if a.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 rows (examples), got {a.shape[0]}")
    return a


def discretize(codes, num_bins: int = 20) -> torch.Tensor:
    """Bin each column of ``codes`` (N, d) into ``num_bins`` equal-width bins over its range.

    Returns int64 (N, d) with values in ``[0, num_bins)``; the column's maximum lands in the
    last bin, as with ``np.digitize`` on ``np.histogram`` edges in ``disentanglement_lib``
    (whose labels run from 1, not 0: the same partition). A constant column goes entirely
    to bin 0 (``np.histogram`` would put it in a middle bin; one bin either way, so its
    mutual information with anything is 0).
    """
    if num_bins < 2:
        raise ValueError(f"num_bins must be at least 2, got {num_bins}")
    c = _as_2d("codes", codes).astype(np.float64)
    if not np.isfinite(c).all():
        raise ValueError("codes contain NaN or inf: check the encoder's outputs")
    lo, hi = c.min(axis=0), c.max(axis=0)
    width = np.where(hi > lo, hi - lo, 1.0)
    bins = np.floor((c - lo) / width * num_bins).astype(np.int64)
    return torch.from_numpy(np.clip(bins, 0, num_bins - 1))


def _labels(name: str, a) -> np.ndarray:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,) labels, got shape {a.shape}")
    _, inverse = np.unique(a, return_inverse=True)
    return inverse.reshape(-1)


def mutual_information(a, b) -> float:
    """Plug-in mutual information of two label vectors ``a``, ``b`` (N,), in nats.

    I(a; b) = Σ p(a, b) log[p(a, b) / (p(a) p(b))] over the empirical contingency table.
    """
    a, b = _labels("a", a), _labels("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.shape[0]} and {b.shape[0]}")
    n = a.shape[0]
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1.0)
    p = table / n
    pa, pb = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nz = p > 0
    return float(max((p[nz] * np.log(p[nz] / (pa @ pb)[nz])).sum(), 0.0))


def entropy(labels) -> float:
    """Plug-in entropy of a label vector (N,), in nats (H = I(a; a))."""
    a = _labels("labels", labels)
    p = np.bincount(a) / a.shape[0]
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def mutual_information_matrix(codes, factors, num_bins: int = 20) -> torch.Tensor:
    """I(code_i; factor_k) in nats for every code i and factor k: float64 (d, K).

    ``codes`` (N, d) continuous (posterior means), discretized with :func:`discretize`;
    ``factors`` (N, K) integer labels.
    """
    binned = discretize(codes, num_bins).numpy()
    f = _as_2d("factors", factors)
    if f.shape[0] != binned.shape[0]:
        raise ValueError(
            f"codes and factors must have the same number of rows, got {binned.shape[0]} "
            f"and {f.shape[0]}"
        )
    m = np.array(
        [
            [mutual_information(binned[:, i], f[:, k]) for k in range(f.shape[1])]
            for i in range(binned.shape[1])
        ]
    )
    return torch.from_numpy(m)


def mig_per_factor(codes, factors, num_bins: int = 20) -> torch.Tensor:
    """For each factor k: (largest − second largest I(code; factor_k)) / H(factor_k). (K,).

    A factor with a single value (H = 0) has no gap to measure: NaN for it.
    Needs at least two codes.
    """
    m = mutual_information_matrix(codes, factors, num_bins)
    if m.shape[0] < 2:
        raise ValueError("MIG needs at least two codes (latent dimensions) to take a gap")
    f = _as_2d("factors", factors)
    h = torch.tensor([entropy(f[:, k]) for k in range(f.shape[1])], dtype=torch.float64)
    top2 = torch.topk(m, 2, dim=0).values
    gap = top2[0] - top2[1]
    return torch.where(h > 0, gap / h.clamp_min(1e-300), torch.full_like(h, float("nan")))


def mig(codes, factors, num_bins: int = 20) -> float:
    """The Mutual Information Gap, disentanglement_lib's estimator (see the module docstring).

    ``codes`` (N, d): posterior means of N examples; ``factors`` (N, K): their integer
    ground-truth factors. Returns the mean over factors (those with more than one value)
    of the normalised gap, a number in [0, 1]; 0 for random codes, near its ceiling when
    each factor is copied by one code and no other.
    """
    per = mig_per_factor(codes, factors, num_bins)
    per = per[~torch.isnan(per)]
    if per.numel() == 0:
        raise ValueError("every factor is constant: MIG is undefined")
    return float(per.mean())
