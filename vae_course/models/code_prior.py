"""A learned prior over a VQ-VAE's grids of code indices: a small causal transformer.

A VQ-VAE has no prior to sample from: its training assumes a uniform prior over codes, and
uniformly random index grids decode to noise. Chapter 08 fits an autoregressive model to the
index grids of the training set (van den Oord et al. 2017 used a PixelCNN; a causal
transformer is the same factorisation without the PixelCNN's blind spot):

    p(k) = ∏ᵢ p(kᵢ | k₁ … kᵢ₋₁),   cells i in raster order (row by row).

Cell i sees a start token and the cells before it, never itself or later cells (a causal
attention mask). ``log_prob`` scores whole grids in nats; divided by ln 2 it is the number
of bits an entropy coder driven by this prior would spend, to compare with the uniform
prior's ``cells · log₂ K``. ``sample`` draws cell after cell.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..device import get_device, seed_everything

__all__ = ["CodePrior", "train_code_prior", "code_bits"]


class CodePrior(nn.Module):
    """p(k) over (H, W) grids of indices in [0, K), autoregressive in raster order.

    Args:
        num_codes: K. grid_shape: (H, W), e.g. (7, 7) for a VQVAE on MNIST.
        dim: width of the token embeddings. layers, heads: of the transformer.

    ``logits(indices)`` (B, H, W) int64 → (B, H·W, K): row i holds the logits of
    p(kᵢ | k_<i). ``log_prob(indices)`` → (B,) nats. ``loss(indices)`` → named terms
    (``loss`` scalar nats per grid, ``nll`` (B,) nats). ``sample(n, generator=None)`` →
    (n, H, W) int64.
    """

    def __init__(
        self,
        num_codes: int = 64,
        grid_shape: tuple[int, int] | list[int] = (7, 7),
        dim: int = 64,
        layers: int = 2,
        heads: int = 4,
    ):
        super().__init__()
        h, w = (int(s) for s in grid_shape)
        if num_codes < 1 or h < 1 or w < 1:
            raise ValueError(f"need num_codes >= 1 and a grid of positive size, got {grid_shape}")
        self.num_codes, self.grid_shape, self.cells = int(num_codes), (h, w), h * w
        self.config = {
            "num_codes": self.num_codes,
            "grid_shape": [h, w],
            "dim": int(dim),
            "layers": int(layers),
            "heads": int(heads),
        }
        self.token = nn.Embedding(self.num_codes + 1, dim)  # the last row is the start token
        self.position = nn.Parameter(torch.zeros(self.cells, dim))
        nn.init.normal_(self.position, std=0.02)
        block = nn.TransformerEncoderLayer(
            dim, heads, dim_feedforward=4 * dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, self.num_codes)
        mask = torch.triu(torch.full((self.cells, self.cells), float("-inf")), diagonal=1)
        self.register_buffer("causal_mask", mask, persistent=False)

    def _check(self, indices: torch.Tensor) -> torch.Tensor:
        h, w = self.grid_shape
        if not isinstance(indices, torch.Tensor) or indices.dtype != torch.long:
            got = indices.dtype if isinstance(indices, torch.Tensor) else type(indices).__name__
            raise ValueError(f"expected int64 index grids (B, {h}, {w}), got {got}")
        if indices.dim() != 3 or tuple(indices.shape[1:]) != (h, w):
            raise ValueError(f"expected index grids (B, {h}, {w}), got {tuple(indices.shape)}")
        if indices.numel() and (indices.min() < 0 or indices.max() >= self.num_codes):
            raise ValueError(f"indices must lie in [0, {self.num_codes})")
        return indices

    def _step_logits(self, seq: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, K) of cells 1..L given a sequence seq (B, L) = start, k₁ … k_{L−1}."""
        length = seq.shape[1]
        h = self.token(seq) + self.position[:length]
        h = self.blocks(h, mask=self.causal_mask[:length, :length], is_causal=True)
        return self.head(self.norm(h))

    def logits(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, H·W, K): row i holds the logits of p(kᵢ | k_<i), cells in raster order."""
        flat = self._check(indices).reshape(indices.shape[0], -1)
        start = flat.new_full((flat.shape[0], 1), self.num_codes)
        return self._step_logits(torch.cat([start, flat[:, :-1]], dim=1))

    def log_prob(self, indices: torch.Tensor) -> torch.Tensor:
        """log p(k) per grid: (B,) nats (÷ ln 2 for bits)."""
        logp = F.log_softmax(self.logits(indices), dim=-1)
        flat = indices.reshape(indices.shape[0], -1, 1)
        return logp.gather(-1, flat).squeeze(-1).sum(1)

    def loss(self, indices: torch.Tensor, **_: object) -> dict[str, torch.Tensor]:
        """``loss``: mean negative log-likelihood (nats per grid); ``nll`` (B,) nats."""
        nll = -self.log_prob(indices)
        return {"loss": nll.mean(), "nll": nll}

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """Draw n grids cell by cell: (n, H, W) int64 on the model's device."""
        if n < 1 or temperature <= 0:
            raise ValueError(f"need n >= 1 and temperature > 0, got {n}, {temperature}")
        device = self.head.weight.device
        seq = torch.full((n, 1), self.num_codes, dtype=torch.long, device=device)
        for _ in range(self.cells):
            probs = F.softmax(self._step_logits(seq)[:, -1] / temperature, dim=-1)
            nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(device)
            seq = torch.cat([seq, nxt], dim=1)
        return seq[:, 1:].reshape(n, *self.grid_shape)


def train_code_prior(
    prior: CodePrior,
    train_indices: torch.Tensor,
    val_indices: torch.Tensor | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int | None = 0,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> dict[str, list[float]]:
    """Fit a :class:`CodePrior` to index grids (N, H, W) by maximum likelihood (Adam).

    Index grids are integers, not images, so this small loop stands beside
    :func:`vae_course.train.fit` (same seeding, same history layout). Returns per-epoch
    lists: ``epoch``, ``seconds``, ``train_bits`` and (with ``val_indices``) ``val_bits``:
    the negative log-likelihood in bits per grid (nats / ln 2).
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    prior._check(train_indices)
    if val_indices is not None:
        prior._check(val_indices)
    device = torch.device(device) if device is not None else get_device()
    generator = seed_everything(seed) if seed is not None else torch.Generator()
    prior.to(device)
    data = train_indices.to(device)
    optimizer = torch.optim.Adam(prior.parameters(), lr=lr)
    history: dict[str, list[float]] = {"epoch": [], "seconds": [], "train_bits": []}
    epoch_iter = range(1, epochs + 1)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = epoch_iter = tqdm(epoch_iter, desc="prior", unit="epoch")
    n = data.shape[0]
    for epoch in epoch_iter:
        prior.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=generator).to(device)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = data[perm[start : start + batch_size]]
            nll = prior.loss(batch)["nll"]
            optimizer.zero_grad(set_to_none=True)
            nll.mean().backward()
            optimizer.step()
            total += float(nll.detach().sum())
        history["epoch"].append(epoch)
        history["train_bits"].append(total / n / math.log(2))
        if val_indices is not None:
            history.setdefault("val_bits", []).append(code_bits(prior, val_indices))
        history["seconds"].append(time.perf_counter() - t0)
        if bar is not None:
            bar.set_postfix({"bits": f"{history['train_bits'][-1]:.1f}"})
    if bar is not None:
        bar.close()
    prior.eval()
    return history


@torch.no_grad()
def code_bits(prior: CodePrior, indices: torch.Tensor, batch_size: int = 1000) -> float:
    """Mean −log₂ p(k) over grids (N, H, W): bits per grid under the prior (eval mode)."""
    was = prior.training
    prior.eval()
    device = prior.head.weight.device
    total = 0.0
    for start in range(0, indices.shape[0], batch_size):
        total += float(prior.log_prob(indices[start : start + batch_size].to(device)).sum())
    prior.train(was)
    return -total / indices.shape[0] / math.log(2)
