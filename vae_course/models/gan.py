"""A small fully connected GAN (Goodfellow et al. 2014), for the comparison of chapter 12.

The generator G maps z ~ N(0, I) to Bernoulli-style logits, so that its images
``sigmoid(G(z))`` lie in [0, 1] like a VAE decoder's means; the discriminator D maps an
image to one logit, D(x) = sigmoid(logit) = the probability that x is real. MLPs (not
convolutions) keep a run CPU-fast; the rest follows DCGAN's recipe (Radford et al. 2016):
BatchNorm and ReLU in G, LeakyReLU(0.2) in D, Adam with lr 2·10⁻⁴ and β₁ = 0.5.

The losses are the two players' cross-entropies, in nats, averaged over the batch:

* :func:`discriminator_loss` = −E_data[log D(x)] − E_z[log(1 − D(G(z)))]. For a fixed G
  the best D is D*(x) = p_data(x) / (p_data(x) + p_g(x)), where it equals
  2·log 2 − 2·JSD(p_data ‖ p_g): training D estimates a Jensen–Shannon divergence.
* :func:`generator_loss` = −E_z[log D(G(z))], the *non-saturating* loss: the same fixed
  points as minimising log(1 − D(G(z))), but strong gradients when D rejects G's images.

A GAN has no encoder and no likelihood: it cannot score a digit (no ELBO, no log p(x)) and
cannot map a digit to its code. It does have ``decode(z)`` and ``latent_dim``, so code that
decodes latent paths or grids (e.g. :func:`vae_course.widgets.logic.decode_images`) works.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..device import get_device, seed_everything
from ..inference import eval_mode
from ..train import TrainingDiverged
from .base import VAEBase

__all__ = ["GAN", "discriminator_loss", "generator_loss", "train_gan"]


def _check_logits(name: str, t: torch.Tensor) -> None:
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        got = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a float tensor of discriminator logits, got {got}")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty: need at least one discriminator logit")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """−mean log D(x) − mean log(1 − D(G(z))): the discriminator's loss, a scalar in nats.

    real_logits: D's logits on data, (B,) or (B, 1); fake_logits: on generated images,
    (B',) or (B', 1) (B' may differ from B). Computed from logits as
    ``softplus(−real).mean() + softplus(fake).mean()`` (exact, no log(0)). Equals
    ``binary_cross_entropy_with_logits(real, 1) + binary_cross_entropy_with_logits(fake, 0)``.
    """
    _check_logits("real_logits", real_logits)
    _check_logits("fake_logits", fake_logits)
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss −mean log D(G(z)), a scalar in nats.

    fake_logits: D's logits on generated images, (B,) or (B, 1). ``softplus(−fake).mean()``.
    """
    _check_logits("fake_logits", fake_logits)
    return F.softplus(-fake_logits).mean()


def _mlp(sizes: list[int], activation: nn.Module, batch_norm: bool = False) -> nn.Sequential:
    """Linear layers of ``sizes`` with (BatchNorm →) activation between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(activation)
    return nn.Sequential(*layers)


class GAN(nn.Module):
    """Generator and discriminator, both MLPs.

    Default: G: z (20) → 256 → 512 → 784 logits, BatchNorm + ReLU between layers (without
    BatchNorm, ``generator_batch_norm=False``, this G collapsed onto one blot in 20-epoch
    runs with batch 64 and 128 on the 4,000 bundled digits); D: 784 → 512 → 256 → 1 logit,
    LeakyReLU(0.2).

    decode: z (B, latent_dim) → image logits (B, 1, 28, 28); images are sigmoid(logits)
    discriminate: x (B, 1, 28, 28) or (B, 784) in [0, 1] → logits (B,) of D(x) = P(real)

    G's BatchNorm uses batch statistics in train mode and running averages in eval mode;
    ``sample`` and the course's decoding helpers decode in eval mode, so an image depends on
    its own z only.
    """

    # The input check (shape, dtype, helpful messages) is the VAEs' one.
    _check_input = VAEBase._check_input

    def __init__(
        self,
        latent_dim: int = 20,
        generator_dims: tuple[int, ...] | list[int] = (256, 512),
        discriminator_dims: tuple[int, ...] | list[int] = (512, 256),
        image_shape: tuple[int, int, int] | list[int] = (1, 28, 28),
        generator_batch_norm: bool = True,
    ):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = int(latent_dim)
        g_dims = [int(h) for h in generator_dims]
        d_dims = [int(h) for h in discriminator_dims]
        n = math.prod(self.image_shape)
        self.config = {
            "latent_dim": self.latent_dim,
            "generator_dims": g_dims,
            "discriminator_dims": d_dims,
            "image_shape": list(self.image_shape),
            "generator_batch_norm": bool(generator_batch_norm),
        }
        self.generator = _mlp(
            [self.latent_dim, *g_dims, n], nn.ReLU(), batch_norm=bool(generator_batch_norm)
        )
        self.discriminator = _mlp([n, *d_dims, 1], nn.LeakyReLU(0.2))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Generator logits (B, C, H, W) for codes z (B, latent_dim); images = sigmoid."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.generator(z).reshape(z.shape[0], *self.image_shape)

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """Discriminator logits (B,) for images x in [0, 1]; D(x) = sigmoid(logit)."""
        x = self._check_input(x)
        return self.discriminator(x.reshape(x.shape[0], -1)).squeeze(1)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """Draw n images: z ~ N(0, temperature² I), return sigmoid(G(z)), in eval mode.

        Returns (n, C, H, W) in [0, 1], on the model's device.
        """
        device = next(self.parameters()).device
        z = temperature * torch.randn(n, self.latent_dim, device=device)
        with eval_mode(self):
            return torch.sigmoid(self.decode(z))


def _check_images(gan: GAN, x: torch.Tensor) -> torch.Tensor:
    if isinstance(x, torch.Tensor) and x.dim() >= 1 and x.shape[0] < 2:
        raise ValueError(f"need at least 2 training images, got {x.shape[0]}")
    x = gan._check_input(x)
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        raise ValueError(f"x contains {bad} NaN/inf values; clean the data before training")
    lo, hi = torch.aminmax(x)
    if lo < 0 or hi > 1:
        raise ValueError(
            f"x must lie in [0, 1] (the generator's images are sigmoids); got values in "
            f"[{lo.item():.3g}, {hi.item():.3g}] (did you forget to divide by 255?)"
        )
    return x


def _check_finite(name: str, loss: torch.Tensor, epoch: int, step: int, steps: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingDiverged(
            f"the {name} loss became {loss.item()} at epoch {epoch}, step {step} of {steps}; "
            "try a smaller learning rate, or check the data and the model's output range"
        )


def train_gan(
    gan: GAN,
    x: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    seed: int | None = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
    transform=None,
) -> dict[str, list[float]]:
    """Train ``gan`` on images x (N, C, H, W) in [0, 1] by alternating Adam steps.

    Each step takes a batch of real images (after ``transform``, e.g.
    :func:`vae_course.data.dynamic_binarize`, if given) and B codes z ~ N(0, I), then
    1. updates D on :func:`discriminator_loss` (G's images detached), and
    2. updates G on :func:`generator_loss` through the updated D.

    batch_size: 64 by default (measured on the 4,000 bundled digits: 20 epochs at 64 gave more
    varied, more legible digits than 20 at 128, for about 1.4 times the time per epoch:
    0.55 s against 0.41 s on two CPU threads).
    device: defaults to :func:`vae_course.device.get_device`; seed: seeds everything first so
    a CPU run repeats exactly (None = don't). Returns per-epoch lists (averages over the
    epoch's examples): ``epoch``, ``d_loss`` and ``g_loss`` (nats), ``d_real`` (mean D(x)
    on data) and ``d_fake`` (mean D(G(z))), both taken in the D step before D's update,
    and ``seconds``. Raises :class:`vae_course.train.TrainingDiverged` naming the epoch and
    step when a loss becomes NaN/inf. ``batch_size`` is at least 2; when N leaves a last
    batch of one image, that image sits out the epoch (a new shuffle every epoch).
    """
    if not isinstance(gan, GAN):
        raise ValueError(f"train_gan trains a vae_course.models.GAN, got {type(gan).__name__}")
    if epochs < 0 or batch_size < 2:
        raise ValueError(
            f"need epochs >= 0 and batch_size >= 2 (G's BatchNorm needs two images per "
            f"batch), got {epochs}, {batch_size}"
        )
    x = _check_images(gan, x)
    device = torch.device(device) if device is not None else get_device()
    generator = seed_everything(seed) if seed is not None else torch.Generator()
    gan.to(device)
    x = x.to(device)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=lr, betas=betas)
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=lr, betas=betas)
    keys = ("d_loss", "g_loss", "d_real", "d_fake")
    history: dict[str, list[float]] = {"epoch": [], **{k: [] for k in keys}, "seconds": []}
    n = x.shape[0]
    # a last batch of one image is left out of the epoch (BatchNorm needs two)
    steps_per_epoch = n // batch_size + (n % batch_size >= 2)
    seen = min(n, steps_per_epoch * batch_size)
    epoch_iter = range(1, epochs + 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = epoch_iter = tqdm(epoch_iter, desc="GAN", unit="epoch")
    gan.train()
    for epoch in epoch_iter:
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=generator).to(device)
        sums = {k: torch.zeros((), device=device) for k in keys}
        for i in range(steps_per_epoch):
            real = x[perm[i * batch_size : (i + 1) * batch_size]]
            if transform is not None:
                real = transform(real)
            b = real.shape[0]
            fake = gan.decode(torch.randn(b, gan.latent_dim, device=device)).sigmoid()
            # 1. the discriminator: real → 1, fake → 0 (G is not updated here)
            real_logits = gan.discriminate(real)
            fake_logits = gan.discriminate(fake.detach())
            d_loss = discriminator_loss(real_logits, fake_logits)
            _check_finite("discriminator", d_loss, epoch, i + 1, steps_per_epoch)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            # 2. the generator: make the updated D call its images real (D is not updated)
            gan.discriminator.requires_grad_(False)
            g_loss = generator_loss(gan.discriminate(fake))
            gan.discriminator.requires_grad_(True)
            _check_finite("generator", g_loss, epoch, i + 1, steps_per_epoch)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            with torch.no_grad():
                sums["d_loss"] += d_loss.detach() * b
                sums["g_loss"] += g_loss.detach() * b
                sums["d_real"] += real_logits.sigmoid().sum()
                sums["d_fake"] += fake_logits.sigmoid().sum()
        history["epoch"].append(epoch)
        for k in keys:
            history[k].append(float(sums[k]) / seen)
        history["seconds"].append(time.perf_counter() - t0)
        if bar is not None:
            bar.set_postfix({k: f"{history[k][-1]:.2f}" for k in keys})
    if bar is not None:
        bar.close()
    return history
