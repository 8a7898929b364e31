"""The fully connected VAE (the guide's 784-512-256-20 by default)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import VAEBase

__all__ = ["MLPVAE"]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPVAE(VAEBase):
    """Fully connected VAE.

    Default: the guide's architecture, encoder 784 → 512 → 256 → (μ, log σ²) of 20,
    decoder 20 → 256 → 512 → 784 (ReLU between layers). ``MLPVAE(hidden_dims=(400,))`` is
    the classic 784-400-20 of Kingma & Welling and the PyTorch example.

    encode: x (B, 1, 28, 28) or (B, 784) → mu, logvar (B, latent_dim)
    decode: z (B, latent_dim) → logits (B, 1, 28, 28)
    """

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dims: tuple[int, ...] | list[int] = (512, 256),
        image_shape: tuple[int, int, int] | list[int] = (1, 28, 28),
    ):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = int(latent_dim)
        hidden = [int(h) for h in hidden_dims]
        n = math.prod(self.image_shape)
        self.config = {
            "latent_dim": self.latent_dim,
            "hidden_dims": hidden,
            "image_shape": list(self.image_shape),
        }
        self.encoder = nn.Sequential(_mlp([n, *hidden]), nn.ReLU()) if hidden else nn.Identity()
        self.to_stats = nn.Linear(hidden[-1] if hidden else n, 2 * self.latent_dim)
        self.decoder = _mlp([self.latent_dim, *reversed(hidden), n])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._check_input(x)
        h = self.encoder(x.reshape(x.shape[0], -1))
        mu, logvar = self.to_stats(h).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z).reshape(z.shape[0], *self.image_shape)
