"""Data augmentation with a conditional VAE, measured against no augmentation (chapter 11).

The claim to test: "generate extra labelled digits with a CVAE and a classifier trained on
few labels gets better". :func:`augmentation_trial` runs one seed of it: take
``per_class`` labelled digits of each class (:func:`few_label_indices`), train a
:class:`vae_course.models.ConditionalVAE` on *those digits only* (the labels are all it has),
draw ``copies`` synthetic digits per real one, and train the digit classifier for the same
number of steps on (a) the real digits, (b) real + CVAE digits, (c) real + shifted copies
(the classic, free augmentation: each digit moved by up to ``max_shift`` pixels). Test
accuracy is measured on the bundled test digits.

Shapes: images (N, 1, 28, 28) in [0, 1]; labels (N,) integers in [0, 10).
"""

from __future__ import annotations

import time

import torch

from .classifier import accuracy, train_digit_classifier
from .data import dynamic_binarize
from .models import ConditionalVAE
from .train import fit

__all__ = ["few_label_indices", "random_shifts", "cvae_digits", "augmentation_trial", "CONDITIONS"]

CONDITIONS = ("real only", "real + CVAE", "real + shifts")


def few_label_indices(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices (per_class · n_classes,) of ``per_class`` random digits of every class.

    Drawn with a seeded permutation within each class (the bundled digits are sorted by
    label: never take the first ones). Raises ValueError if a class has fewer digits.
    """
    if labels.dim() != 1 or labels.is_floating_point():
        raise ValueError(f"labels must be integers of shape (N,), got {tuple(labels.shape)}")
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        if len(members) < per_class:
            raise ValueError(f"class {c} has {len(members)} digits, fewer than {per_class}")
        chosen.append(members[torch.randperm(len(members), generator=g)[:per_class]])
    return torch.cat(chosen)


def random_shifts(x: torch.Tensor, copies: int, max_shift: int = 2, seed: int = 0) -> torch.Tensor:
    """``copies`` shifted versions of every image: (copies · N, C, H, W), copy-major.

    Each copy moves the image by (dy, dx), each uniform in [−max_shift, max_shift] pixels,
    with zeros shifted in (no wrap-around).
    """
    if copies < 1 or max_shift < 0:
        raise ValueError(f"need copies >= 1 and max_shift >= 0, got {copies}, {max_shift}")
    g = torch.Generator().manual_seed(seed)
    n, _, h, w = x.shape
    pad = torch.nn.functional.pad(x, (max_shift,) * 4)
    out = torch.empty(copies * n, *x.shape[1:], dtype=x.dtype, device=x.device)
    shifts = torch.randint(-max_shift, max_shift + 1, (copies * n, 2), generator=g)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        top, left = max_shift - dy, max_shift - dx
        out[i] = pad[i % n, :, top : top + h, left : left + w]
    return out


def cvae_digits(
    x: torch.Tensor,
    y: torch.Tensor,
    copies: int,
    *,
    steps: int = 300,
    latent_dim: int = 16,
    seed: int = 0,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train a CVAE on (x, y) for about ``steps`` updates; return ``copies`` samples per digit.

    The CVAE trains on dynamically binarized digits (batch 64); samples are its decoded means
    p(x | z, y) with z from the prior, ``copies`` · N images labelled like ``y`` repeated.
    Returns (images (copies · N, 1, 28, 28) in [0, 1] on the CPU, labels (copies · N,)).
    """
    batch = 64
    epochs = max(1, round(steps / -(-len(x) // batch)))  # an epoch is ceil(N / 64) updates
    torch.manual_seed(seed)
    model = ConditionalVAE(latent_dim=latent_dim)
    fit(
        model,
        (x, y),
        epochs=epochs,
        batch_size=batch,
        transform=dynamic_binarize,
        seed=seed,
        device=device,
        progress=False,
    )
    labels = y.repeat(copies)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        images = model.sample(len(labels), labels.to(next(model.parameters()).device))
    return images.cpu(), labels


def augmentation_trial(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    per_class: int,
    seed: int = 0,
    copies: int = 5,
    classifier_steps: int = 150,
    cvae_steps: int = 300,
    conditions: tuple[str, ...] = CONDITIONS,
    device=None,
) -> dict[str, float]:
    """One seed of the augmentation comparison: test accuracy per condition, in [0, 1].

    ``per_class`` labelled digits per class are drawn (seeded); each condition of
    ``conditions`` (see :data:`CONDITIONS`) trains the digit classifier for exactly
    ``classifier_steps`` mini-batches of 64 with the same seed. Returns ``{condition:
    accuracy, …, "seconds": wall time of the trial}``.
    """
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"unknown conditions {sorted(unknown)}; known: {list(CONDITIONS)}")
    t0 = time.perf_counter()
    idx = few_label_indices(y_train, per_class, seed)
    x, y = x_train[idx], y_train[idx]
    sets = {"real only": (x, y)}
    if "real + CVAE" in conditions:
        xs, ys = cvae_digits(x, y, copies, steps=cvae_steps, seed=seed, device=device)
        sets["real + CVAE"] = (torch.cat([x, xs]), torch.cat([y, ys]))
    if "real + shifts" in conditions:
        xs = random_shifts(x, copies, seed=seed)
        sets["real + shifts"] = (torch.cat([x, xs]), torch.cat([y, y.repeat(copies)]))
    out = {}
    for name in conditions:
        xc, yc = sets[name]
        clf = train_digit_classifier(xc, yc, steps=classifier_steps, seed=seed, device=device)
        out[name] = accuracy(clf, x_test.to(next(clf.parameters()).device), y_test)
    out["seconds"] = time.perf_counter() - t0
    return out
