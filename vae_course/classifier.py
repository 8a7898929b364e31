"""A small digit classifier: the measuring instrument for generated digits.

Chapters 06 (does a conditional VAE draw the class it was asked for?), 11 and 12 score
generated images with a classifier trained on real digits. It is deliberately small (a
two-layer CNN, trained in seconds on the 4,000 bundled training digits) and its accuracy on
the bundled test digits is measured and stated (``tests/test_classifier.py``), so a score
on generated digits can be read against the score on real ones.

Shapes: images (N, 1, 28, 28) in [0, 1]; labels (N,) integers in [0, 10).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .inference import model_device

__all__ = [
    "DigitClassifier",
    "train_digit_classifier",
    "predict",
    "accuracy",
    "confidence",
    "linear_probe_accuracy",
    "conditional_sample_accuracy",
    "transfer_accuracy",
]


class DigitClassifier(nn.Module):
    """conv 5×5 (16) → max-pool → conv 5×5 (32) → max-pool → linear 128 → 10 logits."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.n_classes = int(n_classes)
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, self.n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, 1, 28, 28) or (N, 784) in [0, 1] → logits (N, n_classes)."""
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise ValueError("expected a float tensor of digits (N, 1, 28, 28) in [0, 1]")
        if x.dim() == 2 and x.shape[1] == 784:
            x = x.reshape(-1, 1, 28, 28)
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(
                f"expected digits of shape (N, 1, 28, 28) or (N, 784), got {tuple(x.shape)}"
            )
        return self.head(self.features(x))


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{x.shape[0]} images need {x.shape[0]} labels of shape (N,), got {tuple(y.shape)}"
        )
    if y.is_floating_point():
        raise ValueError(f"labels must be integers, got {y.dtype}")


def train_digit_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 6,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    steps: int | None = None,
) -> DigitClassifier:
    """Train a :class:`DigitClassifier` on images ``x`` (N, 1, 28, 28) with labels ``y`` (N,).

    Adam, cross-entropy, shuffled mini-batches from a seeded generator: the same seed and
    data give the same classifier on CPU. ``steps`` (if given) replaces ``epochs``: exactly
    that many mini-batch updates, whatever N is, so training sets of different sizes get the
    same budget (chapter 11's augmentation). Returns the trained model in eval mode on
    ``device`` (default: CPU).
    """
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    _check_pair(x, y)
    if float(x.min()) < 0 or float(x.max()) > 1:
        raise ValueError("expected images with values in [0, 1] (divide uint8 pixels by 255)")
    device = torch.device(device) if device is not None else torch.device("cpu")
    with torch.random.fork_rng(devices=[]):  # seeded, and the caller's random state is kept
        torch.manual_seed(seed)
        return _train(x, y, epochs, batch_size, lr, seed, device, steps)


def _train(x, y, epochs, batch_size, lr, seed, device, steps=None) -> DigitClassifier:
    model = DigitClassifier(max(10, int(y.max()) + 1)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    x, y = x.to(device), y.long().to(device)
    model.train()
    done = 0
    epoch_count = epochs if steps is None else -(-steps * batch_size // len(x)) + 1
    for _ in range(epoch_count):
        for idx in torch.randperm(len(x), generator=gen).split(batch_size):
            if steps is not None and done == steps:
                return model.eval()
            idx = idx.to(device)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
    return model.eval()


@torch.no_grad()
def predict(model: DigitClassifier, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted classes (N,) int64 on the CPU for images ``x`` (N, 1, 28, 28) in [0, 1]."""
    was_training = model.training
    model.eval()
    dev = model_device(model)
    out = torch.cat([model(xb.to(dev)).argmax(dim=1).cpu() for xb in x.split(batch_size)])
    model.train(was_training)
    return out


@torch.no_grad()
def confidence(model: DigitClassifier, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The classifier's confidence max_c p(c | x): (N,) floats in [1/10, 1] on the CPU.

    A rough realism score for generated digits (chapter 08): real digits score high, but
    a classifier is often confident on clutter too, so compare against real digits and
    against a baseline of known-bad images scored the same way.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected images (N, 1, 28, 28) in [0, 1], got {got}")
    was_training = model.training
    model.eval()
    dev = model_device(model)
    out = torch.cat(
        [torch.softmax(model(xb.to(dev)), dim=1).amax(dim=1).cpu() for xb in x.split(batch_size)]
    )
    model.train(was_training)
    return out


def accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of images ``x`` whose predicted class equals ``y`` (N,), in [0, 1]."""
    _check_pair(x, y)
    return float((predict(model, x) == y.cpu()).double().mean())


def linear_probe_accuracy(
    train_codes: torch.Tensor,
    train_labels: torch.Tensor,
    test_codes: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    steps: int = 300,
) -> float:
    """How well a linear classifier reads the class from codes: test accuracy in [0, 1].

    Multinomial logistic regression (softmax of a linear map) on ``train_codes`` (N, d) with
    ``train_labels`` (N,), fitted by L-BFGS for ``steps`` iterations on standardised codes,
    scored on ``test_codes`` (M, d). Deterministic (L-BFGS from zero weights). Chapter 06
    uses it to measure how much class a *linear* read-out finds in a code: a lower bound on
    the class information there, and not zero for a code of pure style, since style (width,
    slant) differs between classes too. Chance is 1 / n_classes.
    """
    _check_pair(train_codes, train_labels)
    _check_pair(test_codes, test_labels)
    if (
        train_codes.dim() != 2
        or test_codes.dim() != 2
        or train_codes.shape[1] != test_codes.shape[1]
    ):
        raise ValueError(
            f"codes must be (N, d) with the same d for train and test, got "
            f"{tuple(train_codes.shape)} and {tuple(test_codes.shape)}"
        )
    if int(train_labels.min()) < 0 or int(test_labels.min()) < 0:
        raise ValueError("labels must be integers >= 0")
    x, xt = train_codes.detach().cpu().double(), test_codes.detach().cpu().double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    x, xt = (x - mean) / std, (xt - mean) / std
    y = train_labels.cpu().long()
    n_classes = int(max(int(y.max()), int(test_labels.max()))) + 1
    w = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + 1e-4 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((xt @ w + b).argmax(1) == test_labels.cpu()).double().mean())


def conditional_sample_accuracy(
    model, classifier: DigitClassifier, n_per_class: int = 100, seed: int = 0
) -> torch.Tensor:
    """Per-class accuracy (n_classes,) of a classifier on a conditional model's samples.

    Draws ``n_per_class`` samples of each class with ``model.sample(n, labels)`` (z from
    the prior, seeded) and returns, for each class c, the fraction the classifier calls c.
    """
    n_classes = getattr(model, "n_classes", None)
    if n_classes is None:
        raise ValueError("expected a conditional model with n_classes and sample(n, labels)")
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    with torch.random.fork_rng(devices=[]):  # seeded samples; the caller's state is kept
        torch.manual_seed(seed)
        images = model.sample(len(labels), labels.to(model_device(model))).cpu()
    pred = predict(classifier, images)
    hits = (pred == labels).double()
    return hits.reshape(n_classes, n_per_class).mean(dim=1)


@torch.no_grad()
def transfer_accuracy(model, classifier: DigitClassifier, x: torch.Tensor, labels) -> float:
    """How often style transfer obeys the new label, in [0, 1].

    Each digit of ``x`` (N, C, H, W) with its ``labels`` (N,) is moved to every *other*
    class with ``model.transfer`` (its z kept, the label changed); returns the fraction of
    those N·(n_classes − 1) images the classifier reads as the new class.
    """
    labels = torch.as_tensor(labels)
    _check_pair(x, labels)
    n_classes = getattr(model, "n_classes", None)
    if n_classes is None:
        raise ValueError("expected a conditional model with n_classes and transfer(x, y, y_new)")
    dev = model_device(model)
    x, y = x.to(dev), labels.to(dev)
    hits = []
    for c in range(n_classes):
        pred = predict(classifier, model.transfer(x, y, c).cpu())
        hits.append((pred == c)[labels.cpu() != c])
    return float(torch.cat(hits).double().mean())
