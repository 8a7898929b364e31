"""FactorSweep (chapter 05's encoder's-view explorer): its logic and its widget state."""

import numpy as np
import pytest
import torch

from vae_course.inference import encode_means
from vae_course.models import ConvVAE
from vae_course.shapes import make_shapes
from vae_course.widgets.factors import FactorSweep, factor_sweep


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    data = make_shapes(64, seed=1)
    model = ConvVAE(latent_dim=4, hidden_dim=16, channels=(4, 8), image_shape=(1, 32, 32))
    return model, data


@pytest.mark.parametrize("factor", range(5))
def test_factor_sweep_renders_every_value_and_encodes_it(setup, factor):
    model, data = setup
    start = data.factors[5]
    images, means = factor_sweep(
        model, start, factor, image_size=32, factor_sizes=data.factor_sizes
    )
    n = data.factor_sizes[factor]
    assert images.shape == (n, 32, 32) and means.shape == (n, 4)
    # the image at the start's own value is the data set's image
    assert np.array_equal(images[int(start[factor])], data.images[5, 0].numpy())
    # and its means are what the encoder gives for it
    mu, _ = encode_means(model, data.images[5:6])
    np.testing.assert_allclose(means[int(start[factor])], mu[0].numpy(), rtol=1e-5, atol=1e-6)


def test_factor_sweep_rejects_bad_arguments(setup):
    model, data = setup
    with pytest.raises(ValueError, match="expected 5 factor indices"):
        factor_sweep(model, torch.zeros(3), 0, image_size=32, factor_sizes=data.factor_sizes)
    with pytest.raises(ValueError, match=r"factor must be in \[0, 5\)"):
        factor_sweep(model, data.factors[0], 7, image_size=32, factor_sizes=data.factor_sizes)


def test_widget_follows_its_controls(setup):
    model, data = setup
    w = FactorSweep(model, data, index=3, factor=3)
    assert w.last_error is None
    assert w.images.shape == (8, 32, 32) and w.value.value == int(data.factors[3, 3])
    assert w.moved.shape == (4,) and "x swept over 8 values" in w.info.value
    w.factor.value = 2  # orientation
    assert w.images.shape == (8, 32, 32) and "orientation" in w.info.value
    w.value.value = 0
    assert w.image.value[:4] == b"\x89PNG"
    assert w.bars.value.count("<tr>") == 4
