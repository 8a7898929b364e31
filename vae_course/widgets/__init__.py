"""Latent-space explorers: ipywidgets 8 on the learner's own trained model.

``display(LatentSliders(model, x_test, y_test))`` and friends. Each explorer is an
``ipywidgets.VBox`` with a CSS class of its own (``latent-sliders``, ``latent-plane``,
``latent-interpolator``, ``latent-traversal``) and a red error area (``latent-error``)
where a failing callback says what went wrong instead of showing nothing.

The state → image logic lives in :mod:`vae_course.widgets.logic` (latent math, decoding on
the model's device) and :mod:`vae_course.widgets.render` (arrays → PNG): plain functions
that tests drive without a browser. ``python -m vae_course.widgets.bench`` times updates.
"""

from .base import Explorer
from .interpolator import Interpolator
from .logic import (
    decode_images,
    encode_means,
    interpolation_path,
    kl_ranked_dims,
    lerp,
    model_device,
    plane_codes,
    set_coordinate,
    slerp,
    traversal_codes,
    traversal_values,
)
from .plane import LatentPlane
from .sliders import LatentSliders
from .traversal import Traversal

__all__ = [
    "Explorer",
    "LatentSliders",
    "LatentPlane",
    "Interpolator",
    "Traversal",
    "decode_images",
    "encode_means",
    "interpolation_path",
    "kl_ranked_dims",
    "lerp",
    "model_device",
    "plane_codes",
    "set_coordinate",
    "slerp",
    "traversal_codes",
    "traversal_values",
]
