"""Notebook 12's comparison: an autoencoder, a VAE and a GAN on the same data and budget.

* :func:`features`: the digit classifier's penultimate layer (128 numbers per image), the
  feature space of the course's Fréchet distance (like FID's Inception features, but for
  digits; :func:`vae_course.scores.frechet_distance`);
* :func:`sample_quality`: Fréchet distance to real digits, the classifier's confidence and
  the class balance of a set of images;
* :func:`reconstruction_quality`: bits and pixels an encoder-decoder gets wrong on binary test
  digits, and the sharpness of its reconstructions;
* :func:`train_three`: the three models trained with the same epochs, batch size and seed,
  timed; :func:`draw_samples`: n images from each (the autoencoder from a Gaussian fitted to
  its training codes, since it has no prior);
* :func:`latent_paths`: how smoothly each model's decoded paths between its own sample codes
  change (:func:`vae_course.diagnostics.path_jumps`) and how often the classifier is confident
  on them.

Shapes: images (N, 1, 28, 28) in [0, 1]. Units: bits per digit, seconds of wall time.
"""

from __future__ import annotations

import math
import time

import torch

from .classifier import DigitClassifier, confidence, predict
from .data import dynamic_binarize
from .diagnostics import path_jumps, sharpness
from .inference import encode_means, eval_mode, model_device
from .losses import bernoulli_log_likelihood
from .models import GAN, MLPVAE, Autoencoder
from .models.gan import train_gan
from .scores import feature_statistics, frechet_distance
from .train import fit
from .widgets.logic import interpolation_path

__all__ = [
    "MODEL_NAMES",
    "features",
    "sample_quality",
    "reconstruction_quality",
    "train_three",
    "draw_samples",
    "latent_paths",
    "code_statistics",
    "measure_three",
    "GUIDE_ROWS",
    "guide_table",
    "verdicts",
]

MODEL_NAMES = ("autoencoder", "VAE", "GAN")


@torch.no_grad()
def features(classifier: DigitClassifier, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The classifier's 128 penultimate activations (after the last ReLU) per image: (N, 128).

    x: (N, 1, 28, 28) in [0, 1]. Returned float64 on the CPU, ready for
    :func:`vae_course.scores.feature_statistics`.
    """
    dev = model_device(classifier)
    body = torch.nn.Sequential(classifier.features, *list(classifier.head)[:-1])
    with eval_mode(classifier):
        return torch.cat([body(xb.to(dev)).double().cpu() for xb in x.split(batch_size)])


def sample_quality(
    images: torch.Tensor,
    classifier: DigitClassifier,
    reference: tuple[torch.Tensor, torch.Tensor],
    confident: float = 0.9,
) -> dict[str, float]:
    """How digit-like and how varied a set of images is, by the digit classifier.

    reference: (mean, covariance) of real digits' :func:`features`. Returns ``frechet`` (the
    Fréchet distance between the images' feature Gaussian and the reference; real test digits
    against training digits give the floor), ``confidence`` (mean max_c p(c|x)),
    ``confident_share`` (share with max_c p(c|x) ≥ ``confident``), ``class_entropy`` (entropy
    of the predicted-class histogram in bits: log₂ 10 ≈ 3.32 when all classes are equally
    common, 0 when every image gets one class) and ``largest_class`` (share of the most common
    predicted class; 0.1 for a balanced set), ``sharpness`` (mean, :func:`sharpness`).
    """
    if len(images) < 2:
        raise ValueError("need at least 2 images for a feature covariance")
    mean, cov = feature_statistics(features(classifier, images))
    conf = confidence(classifier, images)
    counts = torch.bincount(predict(classifier, images), minlength=classifier.n_classes).double()
    p = counts / counts.sum()
    nz = p[p > 0]
    return {
        "frechet": float(frechet_distance(mean, cov, *reference)),
        "confidence": float(conf.mean()),
        "confident_share": float((conf >= confident).double().mean()),
        "class_entropy": max(0.0, float(-(nz * torch.log2(nz)).sum())),
        "largest_class": float(p.max()),
        "sharpness": float(sharpness(images).mean()),
    }


@torch.no_grad()
def reconstruction_quality(model, x: torch.Tensor) -> dict[str, float]:
    """Reconstruction of binary digits x (N, 1, 28, 28) from the code's mean μ(x).

    Returns ``bits`` (−log₂ p(x | z = μ(x)) per digit, Bernoulli decoder), ``pixels_wrong``
    (decoded mean thresholded at ½ against x, per digit) and ``sharpness`` of the decoded means.
    """
    if not torch.all((x == 0) | (x == 1)):
        raise ValueError("x must be binary (0/1): use load_mnist(binarize='static')")
    mu, _ = encode_means(model, x)
    with eval_mode(model):
        logits = torch.cat([model.decode(z.to(model_device(model))).cpu() for z in mu.split(500)])
    nats = -bernoulli_log_likelihood(x.flatten(1), logits.flatten(1))
    means = torch.sigmoid(logits)
    wrong = ((means >= 0.5).to(x.dtype) != x).flatten(1).sum(1)
    return {
        "bits": float(nats.double().mean() / math.log(2)),
        "pixels_wrong": float(wrong.double().mean()),
        "sharpness": float(sharpness(means).mean()),
    }


def train_three(
    x: torch.Tensor, *, epochs: int, latent_dim: int = 20, seed: int = 0, device=None
) -> dict[str, dict]:
    """Train an autoencoder, a VAE and a GAN on grey digits x with the same budget.

    Each gets ``epochs`` passes over x, digits binarized afresh each batch, batch size 64,
    seed ``seed`` (weights and batches), Adam (lr 1e-3 for the AE and VAE as in the course,
    the GAN's own 2e-4, β₁ = 0.5). The AE and VAE are the 784-512-256-``latent_dim`` MLPs;
    the GAN's generator mirrors the decoder. Returns ``{name: {"model", "history",
    "seconds"}}`` with the wall time of training.
    """
    out: dict[str, dict] = {}
    for name in MODEL_NAMES:
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        if name == "GAN":
            model = GAN(latent_dim=latent_dim)
            history = train_gan(
                model, x, epochs=epochs, seed=seed, device=device, transform=dynamic_binarize
            )
        else:
            model = (
                Autoencoder(latent_dim=latent_dim)
                if name == "autoencoder"
                else MLPVAE(latent_dim=latent_dim)
            )
            history = fit(
                model,
                x,
                epochs=epochs,
                batch_size=64,
                transform=dynamic_binarize,
                seed=seed,
                device=device,
                progress=False,
            )
        out[name] = {
            "model": model.eval(),
            "history": history,
            "seconds": time.perf_counter() - t0,
        }
    return out


def _sample_codes(name: str, model, n: int, generator: torch.Generator, codes=None):
    if name == "autoencoder":
        from .models.autoencoder import fit_code_gaussian

        mean, chol = fit_code_gaussian(codes.double())
        eps = torch.randn(n, model.latent_dim, generator=generator, dtype=torch.float64)
        return (mean + eps @ chol.T).float()
    return torch.randn(n, model.latent_dim, generator=generator)


@torch.no_grad()
def _decode(model, z: torch.Tensor) -> torch.Tensor:
    with eval_mode(model):
        return torch.cat(
            [torch.sigmoid(model.decode(zb.to(model_device(model)))).cpu() for zb in z.split(500)]
        )


def draw_samples(
    models: dict[str, torch.nn.Module], n: int, x_train: torch.Tensor, seed: int = 0
) -> dict[str, torch.Tensor]:
    """n images (decoded means, (n, 1, 28, 28)) from each model, seeded.

    The VAE and the GAN decode z ~ N(0, I). The autoencoder has no prior: it decodes draws
    from a Gaussian fitted to the codes of ``x_train`` (its best chance; decoding N(0, I)
    instead is shown in the notebook).
    """
    out = {}
    for name, model in models.items():
        g = torch.Generator().manual_seed(seed)
        codes = encode_means(model, x_train)[0] if name == "autoencoder" else None
        out[name] = _decode(model, _sample_codes(name, model, n, g, codes))
    return out


def latent_paths(
    models: dict[str, torch.nn.Module],
    classifier: DigitClassifier,
    x_train: torch.Tensor,
    *,
    n_paths: int = 40,
    steps: int = 10,
    seed: int = 0,
    confident: float = 0.9,
) -> dict[str, dict[str, float]]:
    """Linear paths between pairs of each model's own sample codes, decoded and measured.

    Endpoints as in :func:`draw_samples` (the GAN has no encoder, so paths between test digits
    are impossible for it; sample codes treat all three alike). Returns per model the mean over
    paths of ``largest`` step and ``jump_ratio`` (:func:`path_jumps`) and the classifier's
    ``confident_share`` over all path points.
    """
    out = {}
    for name, model in models.items():
        g = torch.Generator().manual_seed(seed)
        codes = encode_means(model, x_train)[0] if name == "autoencoder" else None
        a = _sample_codes(name, model, n_paths, g, codes)
        b = _sample_codes(name, model, n_paths, g, codes)
        z = torch.stack([interpolation_path(p, q, steps) for p, q in zip(a, b, strict=True)])
        paths = _decode(model, z.reshape(-1, z.shape[-1])).reshape(n_paths, steps, 1, 28, 28)
        jumps = path_jumps(paths)
        conf = confidence(classifier, paths.flatten(0, 1))
        out[name] = {
            "largest": float(jumps["largest"].mean()),
            "jump_ratio": float(jumps["jump_ratio"].mean()),
            "confident_share": float((conf >= confident).double().mean()),
        }
    return out


@torch.no_grad()
def code_statistics(model, x: torch.Tensor) -> dict[str, float]:
    """How far a model's codes of x are from N(0, I): the prior a sampler would use.

    Returns ``mean_norm`` (mean ‖μ(x)‖; a prior draw has ≈ √D), ``std_min`` and ``std_max``
    (the smallest and largest standard deviation of a code dimension over x; 1 under the
    prior) and ``centre`` (‖mean of μ(x)‖ over x; 0 under the prior).
    """
    mu, _ = encode_means(model, x)
    std = mu.std(0)
    return {
        "mean_norm": float(mu.norm(dim=1).mean()),
        "std_min": float(std.min()),
        "std_max": float(std.max()),
        "centre": float(mu.mean(0).norm()),
    }


def _wiggle(values: list[float]) -> float:
    """Relative spread of the last third of a per-epoch loss curve: std / |mean|."""
    if len(values) < 2:
        return math.nan
    tail = torch.tensor(values[-max(2, len(values) // 3) :], dtype=torch.float64)
    return float(tail.std() / tail.mean().abs())


def measure_three(
    runs: dict[str, dict],
    classifier: DigitClassifier,
    x_grey_train: torch.Tensor,
    x_grey_test: torch.Tensor,
    x_fixed_test: torch.Tensor,
    *,
    n: int = 1000,
    k: int = 100,
    seed: int = 0,
) -> dict:
    """Every measurement of notebook 12 for one trained triple (:func:`train_three`).

    Returns a dict with ``samples`` (:func:`sample_quality` of n samples per model, plus the
    autoencoder decoding z ~ N(0, I) and, as the floor, n real training digits), ``recon``
    (:func:`reconstruction_quality` for the autoencoder and the VAE on the binary test
    digits), ``codes`` (:func:`code_statistics`), ``paths`` (:func:`latent_paths`), ``iwae``
    (the VAE's IWAE_k on the binary test digits, nats), ``seconds`` (training wall time per
    model), ``seconds_per_epoch`` and ``wiggle`` (std/mean of the last third of each loss
    curve: the AE's and VAE's training loss, the GAN's generator loss).
    """
    from .metrics import iwae_log_likelihood

    models = {name: r["model"] for name, r in runs.items()}
    reference = feature_statistics(features(classifier, x_grey_test))
    images = draw_samples(models, n, x_grey_train, seed=seed)
    g = torch.Generator().manual_seed(seed)
    images["autoencoder, z ~ N(0, I)"] = _decode(
        models["autoencoder"], torch.randn(n, models["autoencoder"].latent_dim, generator=g)
    )
    pick = torch.randperm(len(x_grey_train), generator=g)[:n]
    images["real training digits"] = x_grey_train[pick]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        iwae = iwae_log_likelihood(models["VAE"], x_fixed_test, k=k)
    epochs = len(runs["VAE"]["history"]["epoch"])
    return {
        "samples": {name: sample_quality(im, classifier, reference) for name, im in images.items()},
        "recon": {
            name: reconstruction_quality(models[name], x_fixed_test)
            for name in ("autoencoder", "VAE")
        },
        "codes": {
            name: code_statistics(models[name], x_grey_test) for name in ("autoencoder", "VAE")
        },
        "paths": latent_paths(models, classifier, x_grey_train, seed=seed),
        "iwae": iwae,
        "seconds": {name: r["seconds"] for name, r in runs.items()},
        "seconds_per_epoch": {name: r["seconds"] / epochs for name, r in runs.items()},
        "wiggle": {
            "autoencoder": _wiggle(runs["autoencoder"]["history"]["train_loss"]),
            "VAE": _wiggle(runs["VAE"]["history"]["train_loss"]),
            "GAN": _wiggle(runs["GAN"]["history"]["g_loss"]),
        },
    }


def _s(r, name, key):
    return r["samples"][name][key]


# The guide's two tables, one entry per row: (table, aspect, the guide's claim, what was
# measured as a sentence, whether the claim held in one run's results r).
GUIDE_ROWS = [
    (
        "VAE vs AE",
        "reconstruction",
        "AE sharper; VAE slightly blurry",
        lambda r: (
            f"bits/digit AE {r['recon']['autoencoder']['bits']:.1f}, VAE "
            f"{r['recon']['VAE']['bits']:.1f}; sharpness AE "
            f"{r['recon']['autoencoder']['sharpness']:.3f}, VAE {r['recon']['VAE']['sharpness']:.3f}"
        ),
        lambda r: (
            r["recon"]["autoencoder"]["bits"] < r["recon"]["VAE"]["bits"]
            and r["recon"]["autoencoder"]["sharpness"] > r["recon"]["VAE"]["sharpness"]
        ),
    ),
    (
        "VAE vs AE",
        "generation",
        "AE poor (gaps in the code space); VAE good",
        lambda r: (
            f"Fréchet AE z~N(0,I) {_s(r, 'autoencoder, z ~ N(0, I)', 'frechet'):.0f}, VAE "
            f"{_s(r, 'VAE', 'frechet'):.0f}, AE from a Gaussian fitted to its codes "
            f"{_s(r, 'autoencoder', 'frechet'):.0f}"
        ),
        lambda r: _s(r, "VAE", "frechet") < _s(r, "autoencoder, z ~ N(0, I)", "frechet"),
    ),
    (
        "VAE vs AE",
        "code space",
        "AE unregularised; VAE pulled toward N(0, I)",
        lambda r: (
            f"per-dimension std of codes AE {r['codes']['autoencoder']['std_min']:.2f} to "
            f"{r['codes']['autoencoder']['std_max']:.2f}, VAE {r['codes']['VAE']['std_min']:.2f} "
            f"to {r['codes']['VAE']['std_max']:.2f} (prior: 1)"
        ),
        lambda r: (
            abs(math.log(r["codes"]["VAE"]["std_max"]))
            < abs(math.log(r["codes"]["autoencoder"]["std_max"]))
        ),
    ),
    (
        "VAE vs AE",
        "interpolation",
        "AE may pass through non-digits; VAE smooth",
        lambda r: (
            f"confident share on paths AE {r['paths']['autoencoder']['confident_share']:.2f}, VAE "
            f"{r['paths']['VAE']['confident_share']:.2f}; jump ratio AE "
            f"{r['paths']['autoencoder']['jump_ratio']:.2f}, VAE {r['paths']['VAE']['jump_ratio']:.2f}"
        ),
        lambda r: (
            r["paths"]["VAE"]["confident_share"] > r["paths"]["autoencoder"]["confident_share"]
        ),
    ),
    (
        "VAE vs GAN",
        "sample quality",
        "VAE moderate (blurry); GAN high (sharp)",
        lambda r: (
            f"Fréchet VAE {_s(r, 'VAE', 'frechet'):.0f}, GAN {_s(r, 'GAN', 'frechet'):.0f} (real "
            f"digits {_s(r, 'real training digits', 'frechet'):.1f}); sharpness VAE "
            f"{_s(r, 'VAE', 'sharpness'):.3f}, GAN {_s(r, 'GAN', 'sharpness'):.3f}"
        ),
        lambda r: _s(r, "GAN", "frechet") < _s(r, "VAE", "frechet"),
    ),
    (
        "VAE vs GAN",
        "mode coverage",
        "VAE covers all modes; GAN may collapse",
        lambda r: (
            f"class entropy VAE {_s(r, 'VAE', 'class_entropy'):.2f}, GAN "
            f"{_s(r, 'GAN', 'class_entropy'):.2f} bits (max 3.32); largest class VAE "
            f"{_s(r, 'VAE', 'largest_class'):.2f}, GAN {_s(r, 'GAN', 'largest_class'):.2f}"
        ),
        lambda r: _s(r, "VAE", "class_entropy") > _s(r, "GAN", "class_entropy"),
    ),
    (
        "VAE vs GAN",
        "training stability",
        "VAE stable; GAN unstable",
        lambda r: (
            f"loss wiggle (std/mean, last third) VAE {r['wiggle']['VAE']:.3f}, GAN "
            f"{r['wiggle']['GAN']:.3f}"
        ),
        lambda r: r["wiggle"]["GAN"] > r["wiggle"]["VAE"],
    ),
    (
        "VAE vs GAN",
        "latent space",
        "VAE smooth and structured; GAN less so",
        lambda r: (
            f"confident share on paths VAE {r['paths']['VAE']['confident_share']:.2f}, GAN "
            f"{r['paths']['GAN']['confident_share']:.2f}; jump ratio VAE "
            f"{r['paths']['VAE']['jump_ratio']:.2f}, GAN {r['paths']['GAN']['jump_ratio']:.2f}"
        ),
        lambda r: (
            r["paths"]["VAE"]["confident_share"] > r["paths"]["GAN"]["confident_share"]
            and r["paths"]["VAE"]["jump_ratio"] <= r["paths"]["GAN"]["jump_ratio"]
        ),
    ),
    (
        "VAE vs GAN",
        "likelihood",
        "VAE gives a bound on log p(x); GAN none",
        lambda r: (
            f"VAE IWAE {r['iwae']:.1f} nats per test digit; the GAN has no encoder to score x"
        ),
        lambda r: math.isfinite(r["iwae"]),
    ),
    (
        "VAE vs GAN",
        "training speed",
        "VAE faster to train",
        lambda r: (
            f"seconds per epoch VAE {r['seconds_per_epoch']['VAE']:.2f}, GAN "
            f"{r['seconds_per_epoch']['GAN']:.2f} (ratio {r['seconds']['GAN'] / r['seconds']['VAE']:.1f})"
        ),
        lambda r: r["seconds"]["VAE"] < r["seconds"]["GAN"],
    ),
]


def guide_table(results: dict) -> list[dict[str, str]]:
    """The guide's rows with one run's measured column and whether the claim held there.

    Returns one dict per row of :data:`GUIDE_ROWS`: ``table``, ``aspect``, ``guide``,
    ``measured`` (a sentence of numbers) and ``held`` (bool).
    """
    return [
        {"table": t, "aspect": a, "guide": g, "measured": m(results), "held": bool(h(results))}
        for t, a, g, m, h in GUIDE_ROWS
    ]


def verdicts(stored: dict, default_epochs: int) -> dict[str, dict]:
    """Each guide row over a stored full run: seeds where it held per budget, and a verdict.

    ``stored``: ``{"runs": [{"epochs", "seed", ...measure_three results}, ...]}``. The verdict
    is "holds" when the claim held in every run, "holds here only" when it held in some, and
    "does not hold at this budget" when it held in no run at ``default_epochs``.
    """
    out = {}
    for _, aspect, _, _, held in GUIDE_ROWS:
        counts: dict[int, list[int]] = {}
        for run in stored["runs"]:
            c = counts.setdefault(run["epochs"], [0, 0])
            c[0] += bool(held(run))
            c[1] += 1
        total = sum(c[0] for c in counts.values())
        runs = sum(c[1] for c in counts.values())
        if total == runs:
            verdict = "holds"
        elif counts.get(default_epochs, [0, 1])[0] == 0:
            verdict = "does not hold at this budget"
        else:
            verdict = "holds here only"
        out[aspect] = {"counts": {e: tuple(c) for e, c in counts.items()}, "verdict": verdict}
    return out
