"""Scores that compare two sets of numbers, not models (chapters 11–12).

* :func:`auroc`: the area under the ROC curve of a score that should be higher for the
  positives (e.g. an anomaly score: −ELBO of held-out digits against test digits);
* :func:`feature_statistics` and :func:`frechet_distance`: the mean and covariance of features,
  and the Fréchet distance between the two Gaussians they define (the "FID" recipe, with any
  feature extractor, e.g. the course's digit classifier).

Both are re-exported by :mod:`vae_course.metrics`. Inputs are tensors or array-likes; the
arithmetic is float64 on the CPU; results are Python floats.
"""

from __future__ import annotations

import torch

__all__ = ["auroc", "feature_statistics", "frechet_distance"]


def _vector(name: str, values) -> torch.Tensor:
    t = torch.as_tensor(values).detach().to("cpu", torch.float64)
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return t


def auroc(scores, labels) -> float:
    """Area under the ROC curve: how well ``scores`` rank the positives above the negatives.

    scores: (N,) real numbers, higher = "more positive"; labels: (N,) 0 (negative) or 1
    (positive), both present. Returns P(S₊ > S₋) + ½·P(S₊ = S₋) for a random positive and a
    random negative: 1 when every positive scores above every negative, 0.5 for a score
    unrelated to the label, 0 when the ranking is reversed. Computed from ranks (ties get their
    average rank), which is the Mann–Whitney U statistic divided by n₊·n₋; equal to
    ``sklearn.metrics.roc_auc_score(labels, scores)``.
    """
    s = _vector("scores", scores)
    y = torch.as_tensor(labels).detach().to("cpu")
    if y.shape != s.shape:
        raise ValueError(
            f"labels must have the shape of scores {tuple(s.shape)}, got {tuple(y.shape)}"
        )
    if not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("labels must be 0 (negative) or 1 (positive)")
    positive = y == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"need both classes; got {n_pos} positives and {n_neg} negatives")
    _, inverse, counts = torch.unique(s, sorted=True, return_inverse=True, return_counts=True)
    end = counts.cumsum(0).double()  # 1-based rank of the last member of each tie group
    average_rank = end - (counts.double() - 1) / 2
    ranks = average_rank[inverse]
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def feature_statistics(features) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (F,) and covariance (F, F) of features (N, F), N ≥ 2: float64 CPU tensors.

    The covariance is the unbiased one (divides by N − 1), as ``numpy.cov(rowvar=False)``.
    """
    f = torch.as_tensor(features).detach().to("cpu", torch.float64)
    if f.dim() != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (N, F) with N >= 2, got shape {tuple(f.shape)}")
    if not torch.isfinite(f).all():
        raise ValueError("features must be finite (no NaN or inf)")
    mean = f.mean(dim=0)
    centred = f - mean
    return mean, centred.T @ centred / (f.shape[0] - 1)


def _psd_sqrt(cov: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh((cov + cov.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mean1, cov1, mean2, cov2) -> float:
    """Fréchet distance d² between N(mean1, cov1) and N(mean2, cov2), in squared feature units.

    d² = ‖mean1 − mean2‖² + Tr(cov1 + cov2 − 2 (cov1 cov2)^{1/2}) (Dowson & Landau 1982; the
    formula of FID, Heusel et al. 2017). means (F,), covariances (F, F) symmetric positive
    semi-definite. The trace of (cov1 cov2)^{1/2} is computed as Σ √λ over the eigenvalues λ of
    the symmetric cov1^{1/2} cov2 cov1^{1/2}, which has the same eigenvalues, so no complex
    square root appears. Returns a float ≥ 0 (0 for identical Gaussians).
    """
    m1, m2 = (torch.as_tensor(m).detach().to("cpu", torch.float64) for m in (mean1, mean2))
    c1, c2 = (torch.as_tensor(c).detach().to("cpu", torch.float64) for c in (cov1, cov2))
    if m1.dim() != 1 or m1.shape != m2.shape:
        raise ValueError(
            f"means must be 1-D of the same length, got {tuple(m1.shape)} and {tuple(m2.shape)}"
        )
    f = m1.shape[0]
    for name, c in (("cov1", c1), ("cov2", c2)):
        if c.shape != (f, f):
            raise ValueError(
                f"{name} must be ({f}, {f}) for means of length {f}, got {tuple(c.shape)}"
            )
        if not torch.isfinite(c).all() or not torch.allclose(c, c.T, rtol=1e-6, atol=1e-9):
            raise ValueError(f"{name} must be a finite symmetric matrix")
        if float(torch.linalg.eigvalsh(c).min()) < -1e-8 * max(
            1.0, float(c.diagonal().abs().max())
        ):
            raise ValueError(
                f"{name} must be positive semi-definite (it has a negative eigenvalue)"
            )
    root1 = _psd_sqrt(c1)
    middle = torch.linalg.eigvalsh((root1 @ c2 @ root1 + (root1 @ c2 @ root1).T) / 2)
    trace_sqrt = middle.clamp(min=0).sqrt().sum()
    d2 = (m1 - m2).pow(2).sum() + c1.trace() + c2.trace() - 2 * trace_sqrt
    return max(float(d2), 0.0)
