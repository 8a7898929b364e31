"""The course's models, one module per family, all with the same interface.

================  =====================================================================
module            what it holds
================  =====================================================================
``base``          :func:`reparameterize`, :class:`VAEBase` (forward, loss, sample, reconstruct)
``mlp``           :class:`MLPVAE`: the guide's 784-512-256-20 VAE (``hidden_dims=(400,)``:
                  the classic 784-400-20)
``conv``          :class:`ConvVAE`: two stride-2 convolutions each way
``conditional``   :class:`ConditionalVAE`: q(z|x, y) and p(x|z, y) with a one-hot label
``hierarchical``  :class:`HierarchicalVAE`: z₂ → z₁ → x, top-down (Ladder VAE) inference
``vq``            :class:`VectorQuantizer`: nearest-code lookup, straight-through gradient,
                  codebook/commitment losses, EMA codebook, dead-code restarts, perplexity;
                  :class:`VQVAE`: conv encoder → a grid of code indices → conv decoder
``code_prior``    :class:`CodePrior`: a causal transformer p(k) over a VQVAE's index grids
                  (log_prob in nats, sample); :func:`train_code_prior`, :func:`code_bits`
``autoregressive`` :class:`AutoregressiveVAE`: an MLP decoder plus an autoregressive term
                  over the pixels (it needs z less: a partial posterior collapse, chapter 10)
``gaussian``      :class:`GaussianMLPVAE`: the MLP VAE with a Gaussian decoder of fixed or
                  learned variance σ², for grey levels (blur, chapter 10)
``mean_reduction`` :class:`MeanReductionVAE`: the MLP VAE trained with a pixel-*mean*
                  reconstruction against a summed KL (the everyday collapse, chapters 04, 10)
``autoencoder``   :class:`Autoencoder`: the MLP VAE's layers with a deterministic code and
                  the reconstruction loss alone (no prior, no KL, no ELBO; chapter 12)
``gan``           :class:`GAN`: an MLP generator and discriminator; :func:`train_gan`,
                  :func:`discriminator_loss`, :func:`generator_loss` (chapter 12)
================  =====================================================================

Every family: ``encode(x) -> (mu, logvar)`` each ``(B, latent_dim)``; ``decode(z) ->``
Bernoulli logits ``(B, C, H, W)``; ``loss(x, **kw)`` returns named terms with ``loss``
(a scalar to minimise) and per-example ``elbo``, ``reconstruction``, ``kl`` (nats);
``sample(n)``; ``reconstruct(x)``; ``config`` (the constructor's arguments, stored in
checkpoints so :func:`build_model` can rebuild the model). Public names are imported
from here: ``from vae_course.models import MLPVAE, ConvVAE, build_model``.

The two comparison models of chapter 12 keep as much of that interface as they can.
:class:`Autoencoder`: ``encode`` returns ``(z, logvar)`` with ``logvar = −inf`` (a point-mass
code), ``loss`` returns ``loss`` and ``reconstruction`` only, and ``sample`` raises (no
prior). :class:`GAN`: ``decode(z)``, ``sample(n)``, ``config`` and ``discriminate(x)`` (no
encoder, no likelihood); it trains with :func:`train_gan`, not :func:`vae_course.train.fit`.
"""

from __future__ import annotations

from torch import nn

from .autoencoder import Autoencoder, fit_code_gaussian
from .autoregressive import AutoregressiveVAE, MaskedLinear
from .base import VAEBase, reparameterize
from .code_prior import CodePrior, code_bits, train_code_prior
from .conditional import ConditionalVAE, analogy_grid, one_hot_labels
from .conv import ConvVAE
from .gan import GAN, discriminator_loss, generator_loss, train_gan
from .gaussian import GaussianMLPVAE
from .hierarchical import HierarchicalVAE, precision_weighted_merge
from .mean_reduction import MeanReductionVAE
from .mlp import MLPVAE
from .vq import VQVAE, VectorQuantizer

__all__ = [
    "reparameterize",
    "VAEBase",
    "MLPVAE",
    "ConvVAE",
    "ConditionalVAE",
    "HierarchicalVAE",
    "precision_weighted_merge",
    "VectorQuantizer",
    "VQVAE",
    "CodePrior",
    "AutoregressiveVAE",
    "MaskedLinear",
    "GaussianMLPVAE",
    "MeanReductionVAE",
    "Autoencoder",
    "fit_code_gaussian",
    "GAN",
    "discriminator_loss",
    "generator_loss",
    "train_gan",
    "train_code_prior",
    "code_bits",
    "one_hot_labels",
    "analogy_grid",
    "build_model",
    "MODELS",
]

# Backwards-compatible alias of the base class's old private name.
_VAEBase = VAEBase

MODELS: dict[str, type[nn.Module]] = {
    "MLPVAE": MLPVAE,
    "ConvVAE": ConvVAE,
    "ConditionalVAE": ConditionalVAE,
    "HierarchicalVAE": HierarchicalVAE,
    "VQVAE": VQVAE,
    "CodePrior": CodePrior,
    "AutoregressiveVAE": AutoregressiveVAE,
    "GaussianMLPVAE": GaussianMLPVAE,
    "MeanReductionVAE": MeanReductionVAE,
    "Autoencoder": Autoencoder,
    "GAN": GAN,
}


def build_model(name: str, **config) -> nn.Module:
    """Rebuild a course model from its class name and ``config`` (as stored in checkpoints)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](**config)
