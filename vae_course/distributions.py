"""Elementwise log-densities of the distributions the course uses (no reductions here).

All functions return tensors of the broadcast shape of their inputs, in nats.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def log_normal(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor | float) -> torch.Tensor:
    """log N(x; mean, exp(logvar)) elementwise, in nats.

    ``logvar`` is the log *variance* (log σ²), never log σ.
    """
    logvar = torch.as_tensor(logvar, dtype=x.dtype, device=x.device)
    return -0.5 * (LOG_2PI + logvar + (x - mean) ** 2 * torch.exp(-logvar))


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, 1) elementwise, in nats."""
    return -0.5 * (LOG_2PI + z**2)


def log_bernoulli_logits(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(x; sigmoid(logits)) elementwise, stable for any logits.

    Equals ``x * logits - softplus(logits)``; works for continuous x in [0, 1]
    (the "continuous Bernoulli without its normaliser" that MNIST VAEs use).
    """
    return -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
