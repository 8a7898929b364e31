"""Notebook 11's experiments as functions, shared with ``scripts/full_run_11.py``.

* :func:`train_vae`: the chapter's VAE (the guide's 784-512-256-20 MLP) on dynamically
  binarized digits, optionally without some classes (for anomaly detection);
* :func:`path_table`: linear against spherical paths between posterior means, and between
  prior draws: midpoint norms, smoothness and the classifier's confident share;
* :func:`arithmetic_table`: a "thick stroke" attribute vector added to new digits at several
  scales: ink ratio against the plain reconstruction and how often the class survives;
* :func:`anomaly_sets`: the held-out classes, corrupted digits and simple images of §4;
* :data:`CLAIMS` and :func:`claim_counts`: the notebook's checked findings, counted over the
  seeds of a stored full run.
"""

from __future__ import annotations

import torch

from .anomaly import CORRUPTIONS, corrupt, simple_images
from .classifier import DigitClassifier, predict
from .data import dynamic_binarize
from .inference import encode_means
from .interpolation import path_smoothness
from .latent_arithmetic import (
    apply_attribute,
    attribute_vector,
    ink,
    midpoint_norm_ratio,
    stroke_groups,
)
from .models import MLPVAE
from .train import fit

__all__ = [
    "HELD_OUT",
    "train_vae",
    "path_table",
    "arithmetic_table",
    "anomaly_sets",
    "CLAIMS",
    "claim_counts",
]

HELD_OUT = (1, 8)


def train_vae(
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    exclude: tuple[int, ...] = (),
    epochs: int = 15,
    latent_dim: int = 20,
    seed: int = 0,
    device=None,
) -> MLPVAE:
    """The chapter's VAE trained on grey digits x (binarized afresh each batch).

    ``exclude``: classes left out of training (needs ``labels`` (N,)). Adam 1e-3, batch 128,
    seeded. Returns the trained :class:`~vae_course.models.MLPVAE` in eval mode.
    """
    if exclude:
        if labels is None:
            raise ValueError("exclude needs the labels of x")
        keep = ~torch.isin(labels, torch.tensor(exclude))
        x = x[keep]
    torch.manual_seed(seed)
    model = MLPVAE(latent_dim=latent_dim)
    fit(
        model,
        x,
        epochs=epochs,
        transform=dynamic_binarize,
        seed=seed,
        device=device,
        progress=False,
    )
    return model.eval()


def path_table(
    model,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    classifier: DigitClassifier,
    *,
    steps: int = 10,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Linear against spherical paths, between posterior means and between prior draws.

    Rows "posterior means, linear/spherical" (pairs x_a[i] → x_b[i]) with the midpoint norm
    ratio (:func:`midpoint_norm_ratio`, mean over pairs) and :func:`path_smoothness`; rows
    "prior draws, linear/spherical" with the midpoint norm ratio for as many pairs of
    z ~ N(0, I) (seeded), and the mean norms of posterior means and prior draws.
    """
    mu_a, _ = encode_means(model, x_a)
    mu_b, _ = encode_means(model, x_b)
    g = torch.Generator().manual_seed(seed)
    p_a, p_b = torch.randn(mu_a.shape, generator=g), torch.randn(mu_a.shape, generator=g)
    out: dict[str, dict[str, float]] = {}
    for method in ("linear", "spherical"):
        row = {"midpoint_norm_ratio": float(midpoint_norm_ratio(mu_a, mu_b, method).mean())}
        row.update(path_smoothness(model, x_a, x_b, classifier, steps=steps, method=method))
        out[f"posterior means, {method}"] = row
        out[f"prior draws, {method}"] = {
            "midpoint_norm_ratio": float(midpoint_norm_ratio(p_a, p_b, method).mean())
        }
    out["norms"] = {
        "posterior_means": float(torch.cat([mu_a, mu_b]).norm(dim=1).mean()),
        "prior_draws": float(torch.cat([p_a, p_b]).norm(dim=1).mean()),
    }
    return out


def arithmetic_table(
    model,
    x_ref: torch.Tensor,
    y_ref: torch.Tensor,
    x_new: torch.Tensor,
    y_new: torch.Tensor,
    classifier: DigitClassifier,
    scales=(-1.0, 0.0, 1.0, 2.0),
) -> tuple[torch.Tensor, dict[float, dict[str, float]]]:
    """The "thick stroke" vector from (x_ref, y_ref), applied to x_new at each scale.

    The vector is mean μ of each class's thickest quarter minus that of its thinnest
    (:func:`stroke_groups`, by ink). Returns ``(vector (D,), {scale: row})``; each row has
    ``ink_ratio`` (mean ink of the decoded digits over that at scale 0), ``more_ink`` (share of
    digits with more ink than at scale 0) and ``class_kept`` (share the classifier still calls
    y_new).
    """
    mu_ref, _ = encode_means(model, x_ref)
    thick, thin = stroke_groups(x_ref, y_ref)
    vector = attribute_vector(mu_ref, thick, thin)
    images = apply_attribute(model, x_new, vector, scales)  # (S, N, 1, 28, 28)
    base = ink(images[list(scales).index(0.0)]) if 0.0 in scales else ink(x_new)
    rows = {}
    for s, batch in zip(scales, images, strict=True):
        amount = ink(batch)
        rows[float(s)] = {
            "ink_ratio": float(amount.mean() / base.mean()),
            "more_ink": float((amount > base).double().mean()),
            "class_kept": float((predict(classifier, batch) == y_new).double().mean()),
        }
    return vector, rows


def anomaly_sets(
    fixed_test: torch.Tensor,
    test_labels: torch.Tensor,
    held_out: tuple[int, ...] = HELD_OUT,
    n: int = 300,
    seed: int = 0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clean test digits of the trained classes, and every kind of anomaly of §4.

    Returns ``(clean (M, 1, 28, 28), {name: images})`` with one entry per held-out class
    ("held-out 1s", ...), one per corruption of ``n`` seeded random clean digits, and the
    simple images ("blank", "one stroke", 100 each).
    """
    seen = ~torch.isin(test_labels, torch.tensor(held_out))
    clean = fixed_test[seen]
    anomalies = {f"held-out {c}s": fixed_test[test_labels == c] for c in held_out}
    g = torch.Generator().manual_seed(seed)
    pick = clean[torch.randperm(len(clean), generator=g)[:n]]
    for kind in CORRUPTIONS:
        anomalies[kind] = corrupt(pick, kind, seed=seed)
    anomalies.update(simple_images(100, seed=seed))
    return clean, anomalies


# (label, test on one seed's results) for each finding the notebook checks
CLAIMS = [
    (
        "bits-back code (−ELBO) shorter than raw bits and than one PNG per digit",
        lambda r: (
            r["compression"]["VAE bits-back (−ELBO)"]["bits"]
            < min(784, r["compression"]["PNG, one file per digit"]["bits"])
        ),
    ),
    (
        "bits-back code shorter than the best byte compressor (all digits together)",
        lambda r: (
            r["compression"]["VAE bits-back (−ELBO)"]["bits"]
            < min(
                r["compression"][f"{m}, all digits together"]["bits"]
                for m in ("zlib", "bz2", "lzma")
            )
        ),
    ),
    (
        "entropy coding saves bits at every quantization level",
        lambda r: all(
            v["bits"] < v["fixed_bits"] for k, v in r["compression"].items() if "bits/dim" in k
        ),
    ),
    (
        "two-part code (2 bits/dim z + residual) longer than bits-back",
        lambda r: (
            r["compression"]["VAE z, 2 bits/dim"]["bits"]
            + r["compression"]["VAE z, 2 bits/dim"]["residual_bits"]
            > r["compression"]["VAE bits-back (−ELBO)"]["bits"]
        ),
    ),
    (
        "lerp midpoints shorter than endpoints; slerp's within 2 %",
        lambda r: (
            r["paths"]["posterior means, linear"]["midpoint_norm_ratio"] < 0.98
            and abs(r["paths"]["posterior means, spherical"]["midpoint_norm_ratio"] - 1) < 0.02
        ),
    ),
    (
        "thick-stroke vector adds ink to most digits at scale 1",
        lambda r: r["arithmetic"]["1.0"]["more_ink"] > 0.5,
    ),
    (
        "corrupted digits detected (AUROC > 0.9 for each corruption)",
        lambda r: all(r["anomaly"][k]["auroc"] > 0.9 for k in CORRUPTIONS),
    ),
    (
        "held-out 8s detected better than chance (AUROC > 0.5)",
        lambda r: r["anomaly"]["held-out 8s"]["auroc"] > 0.5,
    ),
    (
        "held-out 1s, blank pages and single strokes look MORE likely (AUROC < 0.5)",
        lambda r: all(
            r["anomaly"][k]["auroc"] < 0.5 for k in ("held-out 1s", "blank", "one stroke")
        ),
    ),
    (
        "complexity correction lifts blank and one-stroke AUROC above 0.9",
        lambda r: all(r["anomaly"][k]["corrected_auroc"] > 0.9 for k in ("blank", "one stroke")),
    ),
    (
        "CVAE digits did not raise accuracy (10 labels per class)",
        lambda r: r["augmentation"]["10"]["real + CVAE"] <= r["augmentation"]["10"]["real only"],
    ),
    (
        "shifted copies raised accuracy (10 labels per class)",
        lambda r: r["augmentation"]["10"]["real + shifts"] > r["augmentation"]["10"]["real only"],
    ),
]


def claim_counts(results: dict) -> dict[str, dict[int, tuple[int, int]]]:
    """For each claim of :data:`CLAIMS`: {epochs: (seeds where it held, seeds run)}.

    ``results``: the stored full run (``runs``: one dict per seed and budget, with the keys
    "epochs", "compression", "paths", "arithmetic", "anomaly", "augmentation").
    """
    counts: dict[str, dict[int, tuple[int, int]]] = {}
    for label, test in CLAIMS:
        by_epochs: dict[int, tuple[int, int]] = {}
        for run in results["runs"]:
            held, n = by_epochs.get(run["epochs"], (0, 0))
            by_epochs[run["epochs"]] = (held + bool(test(run)), n + 1)
        counts[label] = by_epochs
    return counts
