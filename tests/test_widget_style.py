"""StyleTransfer (chapter 06's explorer): its logic against the model, and its widget state."""

import numpy as np
import pytest
import torch

from vae_course.models import MLPVAE, ConditionalVAE
from vae_course.widgets.style import StyleTransfer, draw_digit, style_row


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=3, hidden_dims=(32,))
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(12, 1, 28, 28, generator=g) > 0.7).float()
    labels = torch.arange(12) % 10
    return model, x, labels


def test_style_row_is_the_transfer_of_the_digit_to_every_class(setup):
    model, x, labels = setup
    z, row = style_row(model, x[4:5], int(labels[4]))
    assert z.shape == (3,) and row.shape == (10, 28, 28) and row.dtype == np.float32
    assert row.min() >= 0 and row.max() <= 1
    mu, _ = model.encode(x[4:5], labels[4:5])
    torch.testing.assert_close(z, mu[0].detach(), rtol=1e-5, atol=1e-6)
    for c in range(10):
        want = model.transfer(x[4:5], labels[4:5], torch.tensor([c]))[0, 0].numpy()
        np.testing.assert_allclose(row[c], want, rtol=1e-5, atol=1e-6)
    # the classes really differ: the label reaches the decoder
    assert np.abs(row[0] - row[1]).max() > 1e-4


def test_draw_digit_decodes_with_the_label_it_is_given(setup):
    model, _, _ = setup
    z = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
    got = draw_digit(model, z, 7)
    want = torch.sigmoid(model.decode(z, torch.full((4,), 7)))[:, 0].detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(draw_digit(model, z[0], 7)[0], want[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "z, labels, match",
    [
        (torch.zeros(2, 5), 1, r"expected codes \(B, 3\)"),
        (torch.zeros(2, 3), 10, r"labels must be in \[0, 10\)"),
        (torch.zeros(2, 3), -1, r"labels must be in \[0, 10\)"),
        (torch.zeros(2, 3), [1, 2, 3], "2 codes but 3 labels"),
    ],
)
def test_draw_digit_rejects_bad_input(setup, z, labels, match):
    model, _, _ = setup
    with pytest.raises(ValueError, match=match):
        draw_digit(model, z, labels)


def test_style_row_rejects_bad_input(setup):
    model, x, _ = setup
    with pytest.raises(ValueError, match=r"expected one image \(1, C, H, W\)"):
        style_row(model, x[:2], 0)
    with pytest.raises(ValueError, match=r"label must be in \[0, 10\)"):
        style_row(model, x[:1], 10)


def test_an_unconditional_model_is_refused_with_a_clear_message(setup):
    _, x, labels = setup
    with pytest.raises(ValueError, match="needs a conditional model"):
        StyleTransfer(MLPVAE(latent_dim=2, hidden_dims=(16,)), x, labels)
    with pytest.raises(ValueError, match="needs the digits' labels"):
        StyleTransfer(setup[0], x, None)


def test_widget_follows_its_controls(setup):
    model, x, labels = setup
    w = StyleTransfer(model, x, labels, index=3)
    assert w.last_error is None
    assert w.row.shape == (10, 28, 28) and len(w.sliders) == 3
    assert w.row_image.value[:4] == b"\x89PNG" and w.image.value[:4] == b"\x89PNG"
    assert "test digit #3, a 3" in w.info.value
    # the drawing starts from the digit's style: z = μ(x, y), drawn as class 0
    assert torch.equal(w.z, w.row_z)
    np.testing.assert_allclose(w.drawn, w.row[0], rtol=1e-5, atol=1e-6)
    # a class button: the drawn digit is p(x | z, y = 5)
    w.classes.value = "5"
    assert w.klass == 5 and "drawing class 5" in w.info.value
    np.testing.assert_allclose(w.drawn, draw_digit(model, w.z, 5)[0], rtol=1e-6)
    # a slider moves one coordinate of z, and only that one
    z0 = float(w.z[0])
    w.sliders[1].value = 1.5
    assert float(w.z[1]) == pytest.approx(1.5) and float(w.z[0]) == z0
    np.testing.assert_allclose(w.drawn, draw_digit(model, w.z, 5)[0], rtol=1e-6)
    # the browser snapping a slider to its step (0.05) does not replace the exact code
    w.set_code(torch.tensor([0.123, -1.01, 0.5]), "exact")
    w.sliders[0].value = 0.1  # what the front end sends back for 0.123
    assert float(w.z[0]) == pytest.approx(0.123) and "exact" in w.info.value
    # "style of this digit": z = μ(x, y) of the test digit, and the drawn digit is its row entry
    w.set_code(w.row_z, "the test digit's z")
    np.testing.assert_allclose(w.drawn, w.row[5], rtol=1e-5, atol=1e-6)
    # another test digit redraws the row, and the drawing takes its style (class kept)
    old = w.row.copy()
    w.index.value = 7
    assert "test digit #7, a 7" in w.info.value and not np.array_equal(old, w.row)
    assert torch.equal(w.z, w.row_z) and w.klass == 5
    np.testing.assert_allclose(w.drawn, w.row[5], rtol=1e-5, atol=1e-6)
    # a random style comes from the explorer's own generator: the caller's RNG is untouched
    state = torch.get_rng_state()
    w.sample_style()
    assert torch.equal(state, torch.get_rng_state())
    assert "z from N(0, I)" in w.info.value
    i = w.pick_random()
    assert 0 <= i < 12 and f"test digit #{i}" in w.info.value
    assert w.last_error is None


def test_a_failing_update_is_shown_in_the_widget_not_lost(setup):
    model, x, labels = setup
    w = StyleTransfer(model, x, labels)
    assert not w.guard(w.set_code, torch.zeros(5))
    assert "expected a code of 3 values" in w.error.value and w.last_error is not None
    w.classes.value = "2"  # the next good update clears it
    assert w.last_error is None and w.error.value == ""
