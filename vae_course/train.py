"""One device-agnostic training loop for every model of the course, and safe checkpoints.

A model plugs in by having ``loss(x, *, beta, free_bits, labels=None) -> dict`` whose
``"loss"`` entry is the scalar to minimise; other entries of shape (B,) (e.g.
``reconstruction``, ``kl``, ``elbo``) are averaged and logged per epoch with their signs
as returned (log-likelihoods are negative numbers, KL is positive).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .atomic import atomic_path
from .device import get_device, seed_everything
from .losses import FreeBits
from .schedules import as_schedule

__all__ = ["fit", "evaluate", "save_checkpoint", "load_checkpoint", "TrainingDiverged"]


class TrainingDiverged(FloatingPointError):
    """The loss or a gradient became NaN/inf; the message names the epoch and step."""


def _as_tensors(data, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Accept ``x``, ``(x,)``, ``(x, y)`` or a TensorDataset; return (x, y or None)."""
    if data is None:
        return None, None
    if isinstance(data, torch.utils.data.TensorDataset):
        data = data.tensors
    if isinstance(data, torch.Tensor):
        x, y = data, None
    elif isinstance(data, (tuple, list)) and 1 <= len(data) <= 2:
        x, y = data[0], (data[1] if len(data) == 2 else None)
    else:
        raise ValueError(
            f"{name} must be a tensor x, a tuple (x,) or (x, y), or a TensorDataset; "
            f"got {type(data).__name__}"
        )
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise ValueError(f"{name} images must be a float tensor in [0, 1], got {type(x)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        raise ValueError(f"{name} contains {bad} NaN/inf values; clean the data before training")
    if y is not None and y.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: {x.shape[0]} images but {y.shape[0]} labels")
    return x, y


def _per_example_keys(terms: dict, batch: int) -> list[str]:
    return [
        k
        for k, v in terms.items()
        if k != "loss"
        and not k.endswith("_per_dim")
        and isinstance(v, torch.Tensor)
        and v.dim() == 1
        and v.shape[0] == batch
    ]


def _adam(model: nn.Module, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """Adam, in its fused (one kernel for all parameters) form where the device has it."""
    if device.type in ("cpu", "cuda"):
        try:
            return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        except (RuntimeError, TypeError):  # older torch without a fused kernel here
            pass
    return torch.optim.Adam(model.parameters(), lr=lr)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data,
    *,
    batch_size: int = 1000,
    beta: float = 1.0,
    free_bits: float | FreeBits = 0.0,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Average the model's loss terms over ``data`` (nats per example), in eval mode."""
    x, y = _as_tensors(data, "data")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    n = x.shape[0]
    for start in range(0, n, batch_size):
        xb = x[start : start + batch_size].to(device)
        yb = None if y is None else y[start : start + batch_size].to(device)
        terms = model.loss(xb, beta=beta, free_bits=free_bits, labels=yb)
        b = xb.shape[0]
        sums["loss"] = sums.get("loss", 0.0) + float(terms["loss"]) * b
        for k in _per_example_keys(terms, b):
            sums[k] = sums.get(k, 0.0) + float(terms[k].sum())
    model.train(was_training)
    return {k: v / n for k, v in sums.items()}


def fit(
    model: nn.Module,
    train_data,
    val_data=None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    optimizer: torch.optim.Optimizer | None = None,
    beta: float | Callable[[int], float] = 1.0,
    free_bits: float | FreeBits = 0.0,
    grad_clip: float | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    device: torch.device | str | None = None,
    seed: int | None = 0,
    progress: bool = True,
    checkpoint_path: str | os.PathLike | None = None,
    callback: Callable[[int, dict], None] | None = None,
) -> dict[str, list[float]]:
    """Train ``model`` with Adam (or ``optimizer``) and return the per-epoch history.

    Args:
        train_data, val_data: images ``x`` (N, C, H, W) in [0, 1], or ``(x, y)`` with labels
            (passed to the model's loss as ``labels``), or a TensorDataset.
        beta: KL weight, a float or a schedule ``step -> beta`` (see ``vae_course.schedules``).
        free_bits: λ nats per latent dimension (0 = off), or ``FreeBits(λ, group_size)``
            for λ per group of dimensions (:func:`vae_course.losses.free_bits_kl`).
        grad_clip: max global gradient norm (None = off).
        transform: applied to each training batch on the device, e.g. dynamic binarization.
        device: defaults to :func:`vae_course.device.get_device`; data and model are moved there.
        seed: seeds everything before training so a CPU run repeats exactly (None = don't).
        checkpoint_path: if given, an atomic checkpoint is written after every epoch.
        callback: ``callback(epoch, history)`` after each epoch (e.g. live plots).

    Returns a dict of lists, one entry per epoch: ``epoch``, ``beta`` (at the epoch's end),
    ``seconds``, ``train_<term>`` and ``val_<term>`` for ``loss`` and each per-example term
    the model's loss returns (``reconstruction``, ``kl``, ``elbo`` for a VAE).

    Raises :class:`TrainingDiverged` naming the epoch and step when the loss or the
    gradient norm becomes NaN/inf.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    x, y = _as_tensors(train_data, "train_data")
    if val_data is not None:
        _as_tensors(val_data, "val_data")
    device = torch.device(device) if device is not None else get_device()
    generator = seed_everything(seed) if seed is not None else torch.Generator()
    schedule = as_schedule(beta)
    model.to(device)
    x = x.to(device)
    y = None if y is None else y.to(device)
    if optimizer is None:
        optimizer = _adam(model, lr, device)

    history: dict[str, list[float]] = {"epoch": [], "beta": [], "seconds": []}
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    step = 0
    bar = None
    epoch_iter = range(1, epochs + 1)
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(epoch_iter, desc="training", unit="epoch")
        epoch_iter = bar
    for epoch in epoch_iter:
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=generator).to(device)
        sums: dict[str, torch.Tensor] = {}
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            xb = x[idx]
            if transform is not None:
                xb = transform(xb)
            yb = None if y is None else y[idx]
            b_now = schedule(step)
            terms = model.loss(xb, beta=b_now, free_bits=free_bits, labels=yb)
            loss = terms["loss"]
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"loss became {loss.item()} at epoch {epoch}, step {i + 1} of "
                    f"{steps_per_epoch} (global step {step}); try a smaller learning rate, "
                    "grad_clip=..., or check the data and the model's output range"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                norm = nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                if not torch.isfinite(norm):
                    raise TrainingDiverged(
                        f"gradient norm became {norm.item()} at epoch {epoch}, step {i + 1} "
                        f"(global step {step})"
                    )
            optimizer.step()
            step += 1
            with torch.no_grad():
                bsz = xb.shape[0]
                sums["loss"] = sums.get("loss", 0.0) + loss.detach() * bsz
                for k in _per_example_keys(terms, bsz):
                    sums[k] = sums.get(k, 0.0) + terms[k].detach().sum()
        history["epoch"].append(epoch)
        history["beta"].append(float(schedule(max(step - 1, 0))))
        for k, v in sums.items():
            history.setdefault(f"train_{k}", []).append(float(v) / n)
        if val_data is not None:
            for k, v in evaluate(
                model, val_data, beta=history["beta"][-1], free_bits=free_bits, device=device
            ).items():
                history.setdefault(f"val_{k}", []).append(v)
        history["seconds"].append(time.perf_counter() - t0)
        if bar is not None:
            post = {"loss": f"{history['train_loss'][-1]:.2f}"}
            if "val_loss" in history:
                post["val"] = f"{history['val_loss'][-1]:.2f}"
            bar.set_postfix(post)
        if checkpoint_path is not None:
            save_checkpoint(
                checkpoint_path, model, optimizer=optimizer, epoch=epoch, history=history
            )
        if callback is not None:
            callback(epoch, history)
    if bar is not None:
        bar.close()
    return history


# ----------------------------------------------------------------------------- checkpoints
def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int | None = None,
    history: dict | None = None,
    **extra,
) -> Path:
    """Write ``state_dict`` + config atomically: a crash mid-write keeps the old file.

    The file holds only tensors and plain Python values, so it loads with
    ``torch.load(path, weights_only=True)``. Writes to a temporary file in the same
    folder, flushes it to disk, then renames it over ``path``.
    """
    path = Path(path)
    payload = {
        "format": "vae-course-checkpoint-v1",
        "model_name": type(model).__name__,
        "config": dict(getattr(model, "config", {})),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "epoch": epoch,
        "history": history or {},
        **extra,
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: str | torch.device = "cpu",
) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (with ``weights_only=True``).

    If ``model`` is given its weights are restored (and ``optimizer``'s state, if saved).
    Returns the checkpoint dict (``model_name``, ``config``, ``epoch``, ``history`` ...);
    rebuild a model from it with ``vae_course.models.build_model(ck["model_name"], **ck["config"])``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first or check the path")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable checkpoint ({exc})") from exc
    if not isinstance(ck, dict) or ck.get("format") != "vae-course-checkpoint-v1":
        raise ValueError(f"{path} was not written by vae_course.train.save_checkpoint")
    if model is not None:
        if ck["model_name"] != type(model).__name__:
            raise ValueError(
                f"{path} holds a {ck['model_name']} but a {type(model).__name__} was given"
            )
        model.load_state_dict(ck["state_dict"])
    if optimizer is not None and "optimizer" in ck:
        optimizer.load_state_dict(ck["optimizer"])
    return ck
