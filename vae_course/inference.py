"""Running a trained model on data: its device, eval mode, batched encoding.

Ground floor: used by ``metrics`` and ``widgets`` alike, imports no course module. The
model is duck-typed (anything with ``parameters()`` and ``encode(x) -> (mu, logvar)``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["model_device", "eval_mode", "encode_means"]


def model_device(model) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a parameter-free model."""
    for get in ("parameters", "buffers"):
        tensors = getattr(model, get, None)
        if tensors is not None:
            for t in tensors():
                return t.device
    return torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model) -> Iterator[None]:
    """``model.eval()`` inside the block; the previous train/eval mode is restored after."""
    was = getattr(model, "training", None)
    if was is not None and hasattr(model, "eval"):
        model.eval()
    try:
        yield
    finally:
        if was is not None and hasattr(model, "train"):
            model.train(was)


@torch.no_grad()
def encode_means(
    model, x: torch.Tensor, batch_size: int = 500, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Parameters of q(z|x) (or q(z|x, y)) for all of ``x``, encoded in batches on the model's device.

    x: (N, C, H, W) in [0, 1]; ``labels`` (N,) for a conditional model, passed to
    ``model.encode(x, labels)``. Returns ``(mu, logvar)``, each (N, D), float32 on the CPU.
    """
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"{len(x)} images but {len(labels)} labels: one label per image")
    device = model_device(model)
    mus, logvars = [], []
    with eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].to(device)
            if labels is None:
                mu, logvar = model.encode(xb)
            else:
                mu, logvar = model.encode(xb, labels[start : start + batch_size].to(device))
            mus.append(mu.float().cpu())
            logvars.append(logvar.float().cpu())
    return torch.cat(mus), torch.cat(logvars)
