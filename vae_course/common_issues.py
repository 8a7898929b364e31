"""Notebook 10's experiments as functions: collapse, blur and interpolation on equal terms.

The notebook and ``scripts/full_run_10.py`` call these, so the stored evidence and the
notebook measure the same things:

* :func:`collapse_setups`: the four runs of the collapse comparison (a VAE, the
  mean-reduction bug, an autoregressive decoder, the same with free bits), as
  ``(Strategy, make_model)`` pairs for :func:`vae_course.strategies.run_strategy`;
* :func:`train_gaussian_decoders`: Gaussian decoders with σ² = 1, ½ (MSE) and learned;
* :func:`blur_table`: sharpness and high-frequency ratio of each model's reconstructions and
  prior samples, against real digits, with the KL of each code;
* :func:`interpolation_pairs` and :func:`interpolation_table`: pairs of test digits of
  different classes, and the smoothness of decoded paths between them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .classifier import DigitClassifier, confidence
from .diagnostics import high_frequency_ratio, sharpness
from .interpolation import path_smoothness
from .metrics import kl_per_dimension
from .models import MLPVAE, AutoregressiveVAE, GaussianMLPVAE, MeanReductionVAE
from .strategies import Strategy
from .train import fit

__all__ = [
    "GAUSSIAN_VARIANCES",
    "collapse_setups",
    "train_gaussian_decoders",
    "blur_table",
    "interpolation_pairs",
    "interpolation_table",
    "CLAIMS",
    "claim_counts",
]

GAUSSIAN_VARIANCES = {"Gaussian σ²=1": 1.0, "Gaussian σ²=½ (MSE)": 0.5, "Gaussian σ² learned": None}


def collapse_setups(
    latent_dim: int = 16, free_bits: float = 0.5
) -> list[tuple[Strategy, Callable[[], torch.nn.Module]]]:
    """The collapse comparison: ``[(Strategy, make_model), …]`` for four runs.

    "VAE" (MLPVAE, the ELBO), "mean-reduction bug" (MeanReductionVAE), "autoregressive
    decoder" (AutoregressiveVAE, the ELBO) and "autoregressive + free bits" (the same with
    ``free_bits`` nats per dimension). Each ``make_model()`` builds a fresh model.
    """
    return [
        (Strategy("VAE"), lambda: MLPVAE(latent_dim=latent_dim)),
        (Strategy("mean-reduction bug"), lambda: MeanReductionVAE(latent_dim=latent_dim)),
        (Strategy("autoregressive decoder"), lambda: AutoregressiveVAE(latent_dim=latent_dim)),
        (
            Strategy("autoregressive + free bits", free_bits=free_bits),
            lambda: AutoregressiveVAE(latent_dim=latent_dim),
        ),
    ]


def train_gaussian_decoders(
    x_train: torch.Tensor,
    *,
    epochs: int,
    latent_dim: int = 16,
    seed: int = 0,
    device=None,
    variances: dict[str, float | None] | None = None,
) -> dict[str, GaussianMLPVAE]:
    """Train one :class:`GaussianMLPVAE` per variance on grey-level digits (no binarization).

    x_train: (N, 1, 28, 28) grey levels in [0, 1]. ``variances`` maps a name to σ² (``None``
    for the learned one; default :data:`GAUSSIAN_VARIANCES`). Each model is built right after
    seeding with ``seed`` and sees the same batches. Returns {name: trained model}.
    """
    models = {}
    for name, x_var in (variances or GAUSSIAN_VARIANCES).items():
        torch.manual_seed(seed)
        models[name] = GaussianMLPVAE(latent_dim=latent_dim, x_var=x_var)
        fit(
            models[name],
            x_train,
            epochs=epochs,
            transform=None,
            seed=seed,
            device=device,
            progress=False,
        )
    return models


@torch.no_grad()
def blur_table(
    models: dict[str, tuple[torch.nn.Module, torch.Tensor]],
    real: torch.Tensor,
    *,
    n_samples: int = 500,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Sharpness of reconstructions and prior samples, per model, against real digits.

    models: {name: (model, x)} with x (N, 1, 28, 28) the test digits that model is
    evaluated on (binary for a Bernoulli decoder, grey levels for a Gaussian); real: the
    grey-level test digits. Returns {name: {"sharpness", "samples_sharpness", "hf_ratio",
    "samples_hf_ratio", "kl"}}, means over digits; "real digits" first (its "samples" are
    ``real[:n_samples]``, its KL NaN). Sharpness in intensity per pixel, KL in nats per digit.
    """
    rows = {}
    shown = {"real digits": (real, real[:n_samples], float("nan"))}
    for name, (model, x) in models.items():
        device = next(model.parameters()).device
        torch.manual_seed(seed)
        rec = model.reconstruct(x.to(device)).cpu()
        samples = model.sample(n_samples).cpu()
        shown[name] = (rec, samples, float(kl_per_dimension(model, x).sum()))
    for name, (rec, samples, kl) in shown.items():
        rows[name] = {
            "sharpness": float(sharpness(rec).mean()),
            "samples_sharpness": float(sharpness(samples).mean()),
            "hf_ratio": float(high_frequency_ratio(rec).mean()),
            "samples_hf_ratio": float(high_frequency_ratio(samples).mean()),
            "kl": kl,
        }
    return rows


def interpolation_pairs(
    labels: torch.Tensor, n_pairs: int = 40, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (a, b), each (n_pairs,), of test digits with labels[a] ≠ labels[b].

    Drawn from a seeded permutation (the bundled digits are sorted by label: never take the
    first ones). Raises ValueError when there are too few digits for ``n_pairs`` pairs.
    """
    if labels.dim() != 1 or labels.is_floating_point():
        raise ValueError(f"labels must be integers of shape (N,), got {tuple(labels.shape)}")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    half = len(order) // 2
    a, b = order[:half], order[half : 2 * half]
    different = labels[a] != labels[b]
    a, b = a[different][:n_pairs], b[different][:n_pairs]
    if len(a) < n_pairs:
        raise ValueError(f"only {len(a)} pairs of different classes among {len(labels)} digits")
    return a, b


def interpolation_table(
    models: dict[str, torch.nn.Module],
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    classifier: DigitClassifier,
    *,
    steps: int = 10,
    n_samples: int = 500,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Path smoothness per model and path, plus how often prior samples look like digits.

    Returns {"<model>, linear" / "<model>, spherical": :func:`path_smoothness` results} and
    {"<model>, prior samples": {"confident_share": share of ``n_samples`` decoded z ~ N(0, I)
    the classifier gives p ≥ 0.9}}.
    """
    table = {}
    for name, model in models.items():
        for method in ("linear", "spherical"):
            table[f"{name}, {method}"] = path_smoothness(
                model, x_a, x_b, classifier, steps=steps, method=method
            )
        torch.manual_seed(seed)
        samples = model.sample(n_samples).cpu()
        share = float((confidence(classifier, samples) >= 0.9).float().mean())
        table[f"{name}, prior samples"] = {"confident_share": share}
    return table


# ----------------------------------------------------------------------------- stored evidence
CLAIMS: list[tuple[str, Callable[[dict], bool]]] = [
    (
        "mean-reduction bug collapsed (KL < 0.05, 0 active, I_q < 0.05)",
        lambda r: (
            (c := r["collapse"]["mean-reduction bug"])["kl"] < 0.05
            and c["active"] == 0
            and c["mi"] < 0.05
        ),
    ),
    (
        "autoregressive KL < half the VAE's",
        lambda r: r["collapse"]["autoregressive decoder"]["kl"] < 0.5 * r["collapse"]["VAE"]["kl"],
    ),
    (
        "autoregressive I_q < the VAE's",
        lambda r: r["collapse"]["autoregressive decoder"]["mi"] < r["collapse"]["VAE"]["mi"],
    ),
    (
        "autoregressive IWAE > the VAE's",
        lambda r: r["collapse"]["autoregressive decoder"]["iwae"] > r["collapse"]["VAE"]["iwae"],
    ),
    (
        "free bits: KL > 8 nats and all 16 dims > 0.1 nats",
        lambda r: (
            (c := r["collapse"]["autoregressive + free bits"])["kl"] > 8
            and c["dims_over_0_1"] == 16
        ),
    ),
    (
        "every decoder's reconstructions below real digits (sharpness)",
        lambda r: all(
            v["sharpness"] < r["blur"]["real digits"]["sharpness"]
            for n, v in r["blur"].items()
            if n != "real digits"
        ),
    ),
    (
        "Gaussians: sharpness learned > ½ > 1",
        lambda r: (
            r["blur"]["Gaussian σ² learned"]["sharpness"]
            > r["blur"]["Gaussian σ²=½ (MSE)"]["sharpness"]
            > r["blur"]["Gaussian σ²=1"]["sharpness"]
        ),
    ),
    (
        "Gaussians: KL learned > ½ > 1",
        lambda r: (
            r["blur"]["Gaussian σ² learned"]["kl"]
            > r["blur"]["Gaussian σ²=½ (MSE)"]["kl"]
            > r["blur"]["Gaussian σ²=1"]["kl"]
        ),
    ),
    (
        "linear paths: autoencoder jump ratio ≤ VAE's",
        lambda r: (
            r["paths"]["autoencoder, linear"]["jump_ratio"]
            <= r["paths"]["VAE, linear"]["jump_ratio"]
        ),
    ),
    (
        "linear paths: autoencoder confident share ≥ VAE's",
        lambda r: (
            r["paths"]["autoencoder, linear"]["middle_confident_share"]
            >= r["paths"]["VAE, linear"]["middle_confident_share"]
        ),
    ),
    (
        "spherical paths raise both models' confident share",
        lambda r: all(
            r["paths"][f"{n}, spherical"]["middle_confident_share"]
            > r["paths"][f"{n}, linear"]["middle_confident_share"]
            for n in ("autoencoder", "VAE")
        ),
    ),
    (
        "prior samples: VAE confident share > autoencoder's",
        lambda r: (
            r["paths"]["VAE, prior samples"]["confident_share"]
            > r["paths"]["autoencoder, prior samples"]["confident_share"]
        ),
    ),
]


def claim_counts(results: dict) -> dict[str, dict[int, tuple[int, int]]]:
    """How often each of notebook 10's claims held in a stored full run.

    results: the JSON of ``scripts/full_run_10.py`` (``{"config": {...}, "runs": [...]}``, each
    run with its "epochs", "seed", "collapse", "blur" and "paths"). Returns
    {claim: {epochs: (seeds where it held, seeds)}} for each claim in :data:`CLAIMS`.
    """
    out: dict[str, dict[int, tuple[int, int]]] = {}
    for label, claim in CLAIMS:
        out[label] = {}
        for epochs in results["config"]["epochs"]:
            rows = [r for r in results["runs"] if r["epochs"] == epochs]
            out[label][epochs] = (sum(bool(claim(r)) for r in rows), len(rows))
    return out
