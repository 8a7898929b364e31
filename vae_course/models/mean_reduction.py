"""The most reported VAE bug, as a model: a *mean* over pixels against a *summed* KL.

Public code often writes the reconstruction term as ``F.binary_cross_entropy(x_hat, x)``
(default ``reduction='mean'``: an average over the P pixels and the batch) and adds the KL
summed over latent dimensions. Per example that loss is

    (1/P)·(−log p(x|z)) + KL = (1/P)·(−log p(x|z) + P·KL),

the negative ELBO with β = P (784 for MNIST) up to a constant factor: the KL wins and the
posterior collapses (chapters 04 and 10). :class:`MeanReductionVAE` trains on that loss and
still *reports* the true ELBO terms, so the collapse can be measured with the usual tools.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import elbo
from .mlp import MLPVAE

__all__ = ["MeanReductionVAE"]


class MeanReductionVAE(MLPVAE):
    """:class:`MLPVAE` trained on the mean-reduction loss (β and free bits are ignored).

    ``loss(x)["loss"]`` = BCE averaged over pixels and batch + KL summed over dimensions and
    averaged over the batch (the bug); ``elbo``, ``reconstruction``, ``kl`` are the true
    per-example terms in nats, as for every course model.
    """

    def loss(self, x: torch.Tensor, **_: object) -> dict[str, torch.Tensor]:
        out = self(x)
        terms = elbo(x, out["x_logits"], out["mu"], out["logvar"])
        x = x.reshape(out["x_logits"].shape)
        rec_mean = F.binary_cross_entropy_with_logits(out["x_logits"], x)  # mean over pixels
        return {**terms, "loss": rec_mean + terms["kl"].mean()}
