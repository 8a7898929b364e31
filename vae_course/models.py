"""VAE models: MLP and convolutional encoders/decoders, and the reparameterization trick.

Shapes: images are ``(B, C, H, W)`` with values in [0, 1] (MNIST: ``(B, 1, 28, 28)``);
flattened ``(B, C*H*W)`` input is accepted too. Encoders return ``(mu, logvar)``, each
``(B, latent_dim)``, where ``logvar`` is log σ² (variance, not std). Decoders return
Bernoulli *logits* of shape ``(B, C, H, W)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .losses import elbo

__all__ = ["reparameterize", "MLPVAE", "ConvVAE", "build_model", "MODELS"]


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Sample z ~ N(mu, exp(logvar)) as ``z = mu + σ·ε`` with ε ~ N(0, I).

    The randomness is in ε, so gradients flow to ``mu`` and ``logvar``.
    mu, logvar: (..., D). Returns z of the same shape, on the same device.
    """
    if mu.shape != logvar.shape:
        raise ValueError(
            f"mu and logvar must have the same shape; got {tuple(mu.shape)} and "
            f"{tuple(logvar.shape)}"
        )
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class _VAEBase(nn.Module):
    """Shared interface: encode, decode, forward, loss, sample, reconstruct."""

    image_shape: tuple[int, int, int]
    latent_dim: int
    config: dict

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Return x as (B, C, H, W) float, or raise ValueError saying what was expected."""
        c, h, w = self.image_shape
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"expected a float tensor of images (B, {c}, {h}, {w}) in [0, 1], got {got}"
                " (convert with x.float() / 255)"
            )
        n = c * h * w
        if x.dim() >= 2 and x[0].numel() == n and x.dim() in (2, 4):
            return x.reshape(x.shape[0], c, h, w)
        raise ValueError(
            f"expected images of shape (B, {c}, {h}, {w}) or (B, {n}); got {tuple(x.shape)}"
            + (" (add a batch dimension with x.unsqueeze(0))" if x.dim() in (1, 3) else "")
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encode, sample one z by reparameterization, decode.

        Returns dict with ``x_logits`` (B, C, H, W), ``mu``, ``logvar``, ``z`` (B, D).
        """
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return {"x_logits": self.decode(z), "mu": mu, "logvar": logvar, "z": z}

    def loss(
        self, x: torch.Tensor, *, beta: float = 1.0, free_bits: float = 0.0, **_: object
    ) -> dict[str, torch.Tensor]:
        """Named ELBO terms for a batch (see :func:`vae_course.losses.elbo`)."""
        out = self(x)
        return elbo(x, out["x_logits"], out["mu"], out["logvar"], beta=beta, free_bits=free_bits)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """Draw n images from the model: z ~ N(0, temperature² I), return p(x|z) means.

        Returns (n, C, H, W) probabilities in [0, 1], on the model's device.
        """
        device = next(self.parameters()).device
        z = temperature * torch.randn(n, self.latent_dim, device=device)
        return torch.sigmoid(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean: ``sigmoid(decode(mu(x)))``, shape (B, C, H, W)."""
        mu, _ = self.encode(x)
        return torch.sigmoid(self.decode(mu))


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPVAE(_VAEBase):
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


class ConvVAE(_VAEBase):
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


MODELS: dict[str, type[nn.Module]] = {"MLPVAE": MLPVAE, "ConvVAE": ConvVAE}


def build_model(name: str, **config) -> nn.Module:
    """Rebuild a course model from its class name and ``config`` (as stored in checkpoints)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](**config)
