"""The convolutional VAE for small images (H and W divisible by 4)."""

from __future__ import annotations

import torch
from torch import nn

from .base import VAEBase

__all__ = ["ConvVAE"]


class ConvVAE(VAEBase):
    """Convolutional VAE for (C, H, W) images with H and W divisible by 4.

    Encoder: conv 4×4/2 (C→32, H→H/2), conv 4×4/2 (32→64, →H/4), linear → hidden →
    (μ, log σ²). Decoder mirrors it with transposed convolutions; output logits (B, C, H, W).
    """

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dim: int = 256,
        channels: tuple[int, int] | list[int] = (32, 64),
        image_shape: tuple[int, int, int] | list[int] = (1, 28, 28),
    ):
        super().__init__()
        c, h, w = (int(s) for s in image_shape)
        if h % 4 or w % 4:
            raise ValueError(f"ConvVAE needs H and W divisible by 4, got image_shape {image_shape}")
        c1, c2 = (int(ch) for ch in channels)
        self.image_shape = (c, h, w)
        self.latent_dim = int(latent_dim)
        self.config = {
            "latent_dim": self.latent_dim,
            "hidden_dim": int(hidden_dim),
            "channels": [c1, c2],
            "image_shape": [c, h, w],
        }
        self._feat = (c2, h // 4, w // 4)
        nf = c2 * (h // 4) * (w // 4)
        self.encoder = nn.Sequential(
            nn.Conv2d(c, c1, 4, 2, 1),  # H → H/2
            nn.ReLU(),
            nn.Conv2d(c1, c2, 4, 2, 1),  # H/2 → H/4
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(nf, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, 2 * self.latent_dim),
        )
        self.decoder_fc = nn.Sequential(
            nn.Linear(self.latent_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, nf),
            nn.ReLU(),
        )
        self.decoder_conv = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, 2, 1),  # H/4 → H/2
            nn.ReLU(),
            nn.ConvTranspose2d(c1, c, 4, 2, 1),  # H/2 → H
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(self._check_input(x)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder_conv(self.decoder_fc(z).reshape(z.shape[0], *self._feat))
