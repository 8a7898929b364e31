"""The conditional VAE (Sohn et al. 2015; Kingma et al. 2014's M2 without the classifier).

Both networks see the label as a one-hot vector concatenated to their input:
q(z | x, y) reads ``[x, onehot(y)]`` and p(x | z, y) reads ``[z, onehot(y)]``. The prior
stays p(z) = N(0, I), independent of y, so the label carries the class and z is left with
what the label does not say (the "style"). The loss is the conditional ELBO,

    log p(x | y) ≥ E_q(z|x,y)[log p(x | z, y)] − KL(q(z | x, y) ‖ N(0, I)),

with the same named terms as every other model (nats per example).

Shapes: x (B, C, H, W) in [0, 1]; labels (B,) integers in [0, n_classes); z (B, latent_dim).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import FreeBits, elbo
from .base import VAEBase, reparameterize
from .mlp import _mlp

__all__ = ["ConditionalVAE", "one_hot_labels", "analogy_grid"]


def one_hot_labels(labels, n_classes: int, batch: int | None = None, device=None) -> torch.Tensor:
    """One-hot float vectors (B, n_classes) for integer ``labels`` (B,), checked.

    Raises ValueError, saying what was expected, for a missing label, a non-integer or
    multi-dimensional label tensor, a value outside [0, n_classes), or (with ``batch``) a
    number of labels different from the batch size. An int gives one label for the batch.
    """
    if labels is None:
        raise ValueError(
            f"a conditional VAE needs labels: pass labels=y, integers in [0, {n_classes})"
        )
    if isinstance(labels, int):
        if batch is None:
            raise ValueError("an int label needs the batch size it stands for")
        labels = torch.full((batch,), labels, dtype=torch.long, device=device)
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers (torch.long), got {labels.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"labels must have shape (B,), got {tuple(labels.shape)}")
    if batch is not None and labels.shape[0] != batch:
        raise ValueError(f"{batch} images but {labels.shape[0]} labels: one label per image")
    has_values = labels.numel() and labels.device.type != "meta"  # meta tensors hold no data
    if has_values and (int(labels.min()) < 0 or int(labels.max()) >= n_classes):
        raise ValueError(
            f"labels must lie in [0, {n_classes}), got values from {int(labels.min())} "
            f"to {int(labels.max())}"
        )
    out = F.one_hot(labels.long(), n_classes).float()
    return out.to(device) if device is not None else out


class ConditionalVAE(VAEBase):
    """Fully connected conditional VAE: the MLP VAE with a one-hot label on both sides.

    encode: x (B, 1, 28, 28) or (B, 784), labels (B,) → mu, logvar (B, latent_dim)
    decode: z (B, latent_dim), labels (B,) → logits (B, 1, 28, 28)
    """

    def __init__(
        self,
        n_classes: int = 10,
        latent_dim: int = 20,
        hidden_dims: tuple[int, ...] | list[int] = (512, 256),
        image_shape: tuple[int, int, int] | list[int] = (1, 28, 28),
    ):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        hidden = [int(h) for h in hidden_dims]
        if not hidden:
            raise ValueError("a conditional VAE needs at least one hidden layer")
        self.n_classes = int(n_classes)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = int(latent_dim)
        n = math.prod(self.image_shape)
        self.config = {
            "n_classes": self.n_classes,
            "latent_dim": self.latent_dim,
            "hidden_dims": hidden,
            "image_shape": list(self.image_shape),
        }
        self.encoder = nn.Sequential(_mlp([n + self.n_classes, *hidden]), nn.ReLU())
        self.to_stats = nn.Linear(hidden[-1], 2 * self.latent_dim)
        self.decoder = _mlp([self.latent_dim + self.n_classes, *reversed(hidden), n])

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: torch.Tensor, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._check_input(x)
        y = one_hot_labels(labels, self.n_classes, x.shape[0], x.device)
        h = self.encoder(torch.cat([x.reshape(x.shape[0], -1), y], dim=1))
        mu, logvar = self.to_stats(h).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        y = one_hot_labels(labels, self.n_classes, z.shape[0], z.device)
        return self.decoder(torch.cat([z, y], dim=1)).reshape(z.shape[0], *self.image_shape)

    def forward(self, x: torch.Tensor, labels=None) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(x, labels)
        z = reparameterize(mu, logvar)
        return {"x_logits": self.decode(z, labels), "mu": mu, "logvar": logvar, "z": z}

    def loss(
        self,
        x: torch.Tensor,
        *,
        labels=None,
        beta: float = 1.0,
        free_bits: float | FreeBits = 0.0,
        **_: object,
    ) -> dict[str, torch.Tensor]:
        """Named conditional-ELBO terms for a batch; ``labels`` (B,) is required."""
        out = self(x, labels)
        return elbo(x, out["x_logits"], out["mu"], out["logvar"], beta=beta, free_bits=free_bits)

    @torch.no_grad()
    def sample(self, n: int, labels=None, temperature: float = 1.0) -> torch.Tensor:
        """n images of the given class(es): z ~ N(0, temperature² I), p(x | z, y) means.

        ``labels``: an int (every sample of that class) or (n,) integers. Returns
        (n, C, H, W) probabilities on the model's device.
        """
        device = self._device()
        y = one_hot_labels(labels, self.n_classes, n, device).argmax(dim=1)
        z = temperature * torch.randn(n, self.latent_dim, device=device)
        return torch.sigmoid(self.decode(z, y))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        """Decode the posterior mean with the same labels: (B, C, H, W) probabilities."""
        mu, _ = self.encode(x, labels)
        return torch.sigmoid(self.decode(mu, labels))

    @torch.no_grad()
    def transfer(self, x: torch.Tensor, labels, new_labels) -> torch.Tensor:
        """Style transfer: encode x with its own labels, decode the same z with new ones.

        x (B, C, H, W) with ``labels`` (B,); ``new_labels`` (B,) or an int. Returns the
        (B, C, H, W) probabilities of p(x | mu(x, y), y_new): one handwriting, another class.
        """
        mu, _ = self.encode(x, labels)
        return torch.sigmoid(self.decode(mu, new_labels))


@torch.no_grad()
def analogy_grid(model: ConditionalVAE, x: torch.Tensor, labels) -> torch.Tensor:
    """One handwriting in every class: for each digit, itself, then z decoded with each label.

    x (B, C, H, W) with its own ``labels`` (B,). Returns (B · (1 + n_classes), C, H, W)
    images in [0, 1], row-major: row i is x[i] followed by ``transfer`` of x[i] to class
    0, 1, …, n_classes − 1 (show it with ``show_images(..., nrow=1 + n_classes)``).
    """
    x = model._check_input(x)
    dev = model._device()
    x = x.to(dev)
    mu, _ = model.encode(x, labels)
    rows = []
    for i in range(x.shape[0]):
        z = mu[i : i + 1].expand(model.n_classes, -1)
        decoded = torch.sigmoid(model.decode(z, torch.arange(model.n_classes, device=dev)))
        rows.append(torch.cat([x[i : i + 1], decoded]))
    return torch.cat(rows)
