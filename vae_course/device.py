"""Device selection and seeding: the only place the course decides where tensors live."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_ENV_VAR = "VAE_COURSE_DEVICE"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device the course should compute on.

    Order: ``prefer`` argument, then the ``VAE_COURSE_DEVICE`` environment variable
    (e.g. ``cpu``, ``cuda``, ``cuda:1``, ``mps``), then cuda → mps → cpu, whichever is
    available first. Asking for a device that is not available raises ``RuntimeError``
    with what *is* available, instead of failing later inside a layer.
    """
    wanted = prefer or os.environ.get(DEVICE_ENV_VAR, "").strip()
    if wanted:
        device = torch.device(wanted)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"device {wanted!r} was requested (argument or ${DEVICE_ENV_VAR}) but CUDA is "
                f"not available here; available: {available_devices()}"
            )
        if device.type == "mps" and not _mps_available():
            raise RuntimeError(
                f"device {wanted!r} was requested but MPS is not available here; "
                f"available: {available_devices()}"
            )
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def available_devices() -> list[str]:
    """Names of the device types usable on this machine, e.g. ``['cuda', 'cpu']``."""
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def seed_everything(seed: int = 0, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (all devices) and return a seeded CPU generator.

    With ``deterministic=True`` cuDNN picks deterministic kernels, so CPU runs repeat
    exactly and GPU runs as closely as the hardware allows.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)
