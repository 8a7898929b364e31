"""The vector quantizer of a VQ-VAE (van den Oord et al. 2017): a codebook of K vectors.

Each encoder output z_e (a D-vector) is replaced by its nearest codebook row e_k (squared
Euclidean distance). The lookup has no gradient, so the decoder's gradient is copied
straight through to z_e (``z_e + sg[e_k − z_e]``). Two loss terms train the rest:

* codebook loss ``‖sg[z_e] − e_k‖²`` moves the chosen codes towards the encoder outputs
  (or, with ``ema=True``, the codes are instead exponential moving averages of the outputs
  assigned to them, with Laplace smoothing of the counts);
* commitment loss ``β‖z_e − sg[e_k]‖²`` (β = 0.25) keeps the encoder near its codes.

Both are means over the elements of z_e. Codes nobody uses ("dead codes") can be restarted
from random encoder outputs of the batch (``restart_threshold``). Every call reports the
batch's perplexity exp(H(usage)) (K when all codes are used equally, 1 for one code) and the
fraction of codes used.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import bernoulli_log_likelihood

__all__ = ["VectorQuantizer", "VQVAE"]


class VectorQuantizer(nn.Module):
    """Nearest-code quantization with a straight-through gradient.

    Args:
        num_codes: K, the codebook size. code_dim: D, the size of each code.
        beta: weight of the commitment loss (0.25 in the paper).
        ema: update the codebook by exponential moving averages instead of its loss.
        decay: the EMA decay (0.99). eps: Laplace smoothing of the EMA counts.
        restart_threshold: when set, a code whose EMA usage (fraction of the batch's
            vectors, averaged with ``decay``) falls below it is re-initialised, in training,
            from a random encoder output of the batch (as in Jukebox, Dhariwal et al. 2020).
            Usage starts at the threshold and a restarted code's usage is set back to it:
            the first batch re-initialises every code it leaves (nearly) unused, and a
            restarted code that wins too few vectors is restarted again. None: no restarts.

    ``forward(z_e)`` takes (N, D) vectors or (B, D, H, W) feature maps (D = channels) and
    returns a dict: ``z_q`` (the shape of z_e, straight-through), ``indices`` ((N,) or
    (B, H, W), int64), ``loss`` = ``codebook_loss + commitment_loss`` (scalars),
    ``perplexity`` and ``used_fraction`` (scalars, of this batch), ``restarted`` (int).
    """

    def __init__(
        self,
        num_codes: int = 64,
        code_dim: int = 16,
        beta: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        eps: float = 1e-5,
        restart_threshold: float | None = None,
    ):
        super().__init__()
        if num_codes < 1 or code_dim < 1:
            raise ValueError(f"need num_codes, code_dim >= 1, got {num_codes}, {code_dim}")
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.num_codes, self.code_dim = int(num_codes), int(code_dim)
        self.beta, self.ema, self.decay, self.eps = float(beta), bool(ema), float(decay), eps
        self.restart_threshold = restart_threshold
        weight = torch.empty(self.num_codes, self.code_dim).uniform_(
            -1 / self.num_codes, 1 / self.num_codes
        )
        self.codebook = nn.Parameter(weight, requires_grad=not self.ema)
        self.register_buffer("ema_count", torch.ones(self.num_codes))
        self.register_buffer("ema_sum", weight.clone())
        start = 1.0 / self.num_codes if restart_threshold is None else float(restart_threshold)
        self.register_buffer("usage", torch.full((self.num_codes,), start))

    # ------------------------------------------------------------------ pieces
    def _flatten(self, z_e: torch.Tensor) -> tuple[torch.Tensor, tuple | None]:
        if z_e.dim() == 2 and z_e.shape[1] == self.code_dim:
            return z_e, None
        if z_e.dim() == 4 and z_e.shape[1] == self.code_dim:
            b, d, h, w = z_e.shape
            return z_e.permute(0, 2, 3, 1).reshape(-1, d), (b, h, w)
        raise ValueError(
            f"expected encoder outputs (N, {self.code_dim}) or (B, {self.code_dim}, H, W), "
            f"got {tuple(z_e.shape)}"
        )

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code (squared Euclidean distance) for each row of (N, D)."""
        e = self.codebook
        d = (flat**2).sum(1, keepdim=True) - 2 * flat @ e.t() + (e**2).sum(1)[None, :]
        return d.argmin(dim=1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Codebook rows for integer indices of any shape: (..., D)."""
        return F.embedding(indices, self.codebook)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, onehot: torch.Tensor) -> None:
        counts, sums = onehot.sum(0), onehot.t() @ flat
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + self.eps) / (n + self.num_codes * self.eps) * n
        self.codebook.data.copy_(self.ema_sum / smoothed[:, None])

    @torch.no_grad()
    def _restart(self, flat: torch.Tensor, probs: torch.Tensor) -> int:
        self.usage.mul_(self.decay).add_(probs, alpha=1 - self.decay)
        dead = (self.usage < self.restart_threshold).nonzero().flatten()
        if dead.numel() == 0:
            return 0
        pick = torch.randint(0, flat.shape[0], (dead.numel(),), device=flat.device)
        new = flat[pick].detach()
        self.codebook.data[dead] = new
        self.ema_sum[dead] = new
        self.ema_count[dead] = 1.0
        self.usage[dead] = float(self.restart_threshold)
        return int(dead.numel())

    # ------------------------------------------------------------------ forward
    def forward(self, z_e: torch.Tensor) -> dict[str, torch.Tensor]:
        flat, grid = self._flatten(z_e)
        indices = self.nearest(flat.detach())
        e = self.lookup(indices)
        onehot = F.one_hot(indices, self.num_codes).type(flat.dtype)
        probs = onehot.mean(0)
        restarted = 0
        if self.training and self.ema:
            self._ema_update(flat.detach(), onehot)
        codebook_loss = flat.new_zeros(()) if self.ema else F.mse_loss(e, flat.detach())
        commitment_loss = self.beta * F.mse_loss(flat, e.detach())
        z_q = flat + (e - flat).detach()  # straight-through: forward e, backward identity
        if self.training and self.restart_threshold is not None:
            restarted = self._restart(flat, probs)
        entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum()
        if grid is not None:
            b, h, w = grid
            z_q = z_q.reshape(b, h, w, self.code_dim).permute(0, 3, 1, 2)
            indices = indices.reshape(b, h, w)
        return {
            "z_q": z_q,
            "indices": indices,
            "loss": codebook_loss + commitment_loss,
            "codebook_loss": codebook_loss,
            "commitment_loss": commitment_loss,
            "perplexity": torch.exp(entropy),
            "used_fraction": (probs > 0).float().mean(),
            "restarted": torch.tensor(restarted),
        }


class VQVAE(nn.Module):
    """A convolutional VQ-VAE: images → a grid of code indices → images.

    Encoder: conv 4×4/2 (C→c1), conv 4×4/2 (c1→c2), conv 1×1 (c2→code_dim): a
    (code_dim, H/4, W/4) feature map (7×7 on MNIST), quantized cell by cell by a
    :class:`VectorQuantizer`. Decoder: conv 1×1 (code_dim→c2), two transposed convs back to
    Bernoulli logits (B, C, H, W). One image costs ``H/4 · W/4 · log₂ K`` bits of indices.

    ``loss(x)`` returns ``loss`` (scalar: −mean reconstruction + the quantizer's losses,
    each per image),
    ``reconstruction`` (B,) log p(x|z_q) in nats, and the quantizer's ``codebook_loss``,
    ``commitment_loss``, ``perplexity`` and ``used_fraction``, so :func:`vae_course.train.fit`
    trains it like every course model.
    """

    def __init__(
        self,
        num_codes: int = 64,
        code_dim: int = 16,
        channels: tuple[int, int] | list[int] = (32, 64),
        image_shape: tuple[int, int, int] | list[int] = (1, 28, 28),
        beta: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        restart_threshold: float | None = None,
    ):
        super().__init__()
        c, h, w = (int(s) for s in image_shape)
        if h % 4 or w % 4:
            raise ValueError(f"VQVAE needs H and W divisible by 4, got image_shape {image_shape}")
        c1, c2 = (int(ch) for ch in channels)
        self.image_shape = (c, h, w)
        self.grid_shape = (h // 4, w // 4)
        self.config = {
            "num_codes": int(num_codes),
            "code_dim": int(code_dim),
            "channels": [c1, c2],
            "image_shape": [c, h, w],
            "beta": float(beta),
            "ema": bool(ema),
            "decay": float(decay),
            "restart_threshold": restart_threshold,
        }
        self.encoder = nn.Sequential(
            nn.Conv2d(c, c1, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(c2, code_dim, 1),
        )
        self.quantizer = VectorQuantizer(
            num_codes,
            code_dim,
            beta=beta,
            ema=ema,
            decay=decay,
            restart_threshold=restart_threshold,
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(code_dim, c2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, c, 4, 2, 1),
        )

    @property
    def bits_per_image(self) -> float:
        """The rate of the discrete code: grid cells × log₂ K bits."""
        return self.grid_shape[0] * self.grid_shape[1] * math.log2(self.quantizer.num_codes)

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = self.image_shape
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != 4:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"expected float images (B, {c}, {h}, {w}) in [0, 1], got {got}")
        if tuple(x.shape[1:]) != (c, h, w):
            raise ValueError(f"expected images (B, {c}, {h}, {w}), got {tuple(x.shape)}")
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z_e: the encoder's feature map (B, code_dim, H/4, W/4), before quantization."""
        return self.encoder(self._check_input(x))

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (B, C, H, W) from a (B, code_dim, H/4, W/4) map of codes."""
        return self.decoder(z_q)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z_e = self.encode(x)
        q = self.quantizer(z_e)
        return {"x_logits": self.decode(q["z_q"]), "z_e": z_e, **q}

    def loss(self, x: torch.Tensor, **_: object) -> dict[str, torch.Tensor]:
        """Named terms: ``loss`` (scalar), ``reconstruction`` (B,) nats, quantizer terms.

        Every term is per image, averaged over the batch: the reconstruction sums over
        pixels, and the codebook and commitment terms sum the squared distances over the
        whole grid of codes (the quantizer's per-element means times cells × code_dim), so
        β = 0.25 weighs them as in the paper and not 784 times less.
        """
        out = self(x)
        rec = bernoulli_log_likelihood(x, out["x_logits"])
        per_image = self.grid_shape[0] * self.grid_shape[1] * self.quantizer.code_dim
        codebook, commitment = out["codebook_loss"] * per_image, out["commitment_loss"] * per_image
        return {
            "loss": -rec.mean() + codebook + commitment,
            "reconstruction": rec,
            "codebook_loss": codebook,
            "commitment_loss": commitment,
            "perplexity": out["perplexity"],
            "used_fraction": out["used_fraction"],
        }

    @torch.no_grad()
    def encode_indices(self, x: torch.Tensor) -> torch.Tensor:
        """The code index of every grid cell: (B, H/4, W/4) int64."""
        z_e = self.encode(x)
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        return self.quantizer.nearest(flat).reshape(z_e.shape[0], *z_e.shape[2:])

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Images from grids of code indices (B, H/4, W/4): probabilities (B, C, H, W)."""
        if indices.dim() != 3 or tuple(indices.shape[1:]) != self.grid_shape:
            raise ValueError(
                f"expected index grids (B, {self.grid_shape[0]}, {self.grid_shape[1]}), "
                f"got {tuple(indices.shape)}"
            )
        k = self.quantizer.num_codes
        if indices.dtype != torch.long or (indices < 0).any() or (indices >= k).any():
            raise ValueError(f"indices must be int64 codes in [0, {k})")
        z_q = self.quantizer.lookup(indices).permute(0, 3, 1, 2)
        return torch.sigmoid(self.decode(z_q))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Encode, quantize, decode: probabilities (B, C, H, W)."""
        return self.decode_indices(self.encode_indices(x))
