"""Latent explorers without a browser: state → image logic, devices, and visible errors."""

import io

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from vae_course.models import MLPVAE
from vae_course.widgets import (
    Interpolator,
    LatentPlane,
    LatentSliders,
    Traversal,
    decode_images,
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
from vae_course.widgets.render import TAB10, digit_png, png_bytes, scatter_canvas, to_pixel

EXPLORERS = [LatentSliders, LatentPlane, Interpolator, Traversal]


def _png(data: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(data)))


@pytest.fixture(scope="module")
def data(mnist):
    return mnist.x_test[:200], mnist.y_test[:200]


# ----------------------------------------------------------------------------- logic
def test_decode_images_shape_range_and_cpu_numpy(small_trained_vae):
    z = torch.randn(5, 8)
    images = decode_images(small_trained_vae, z)
    assert isinstance(images, np.ndarray) and images.dtype == np.float32
    assert images.shape == (5, 28, 28)
    assert images.min() >= 0.0 and images.max() <= 1.0
    expected = torch.sigmoid(small_trained_vae.decode(z)).detach().numpy()[:, 0]
    np.testing.assert_allclose(images, expected, atol=1e-6)
    assert decode_images(small_trained_vae, z[0]).shape == (1, 28, 28)  # (D,) accepted


def test_decode_images_rejects_wrong_latent_size(small_trained_vae):
    with pytest.raises(ValueError, match="8 latent dimensions"):
        decode_images(small_trained_vae, torch.zeros(1, 3))


def test_set_coordinate_changes_exactly_one_coordinate():
    z = torch.randn(20)
    z2 = set_coordinate(z, 7, 1.25)
    assert z2[7] == 1.25
    changed = torch.nonzero(z2 != z).flatten().tolist()
    assert changed == [7]
    assert not torch.equal(z, z2)  # a copy: the input is untouched
    with pytest.raises(IndexError):
        set_coordinate(z, 20, 0.0)


def test_lerp_and_slerp_endpoints_and_shapes():
    z0, z1 = torch.randn(20), torch.randn(20)
    for path in (lerp(z0, z1, 7), slerp(z0, z1, 7)):
        assert path.shape == (7, 20)
        torch.testing.assert_close(path[0], z0, atol=1e-5, rtol=0)
        torch.testing.assert_close(path[-1], z1, atol=1e-5, rtol=0)
    torch.testing.assert_close(lerp(z0, z1, 3)[1], (z0 + z1) / 2)


def test_slerp_keeps_the_norm_of_equal_norm_codes_and_lerp_does_not():
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(20, generator=g), torch.randn(20, generator=g)
    z1 = z1 / z1.norm() * z0.norm()  # same radius
    r = float(z0.norm())
    norms_s = slerp(z0, z1, 11).norm(dim=1)
    torch.testing.assert_close(norms_s, torch.full((11,), r), atol=1e-4, rtol=0)
    norms_l = lerp(z0, z1, 11).norm(dim=1)
    assert norms_l[5] < 0.9 * r  # the linear midpoint cuts inside the sphere
    # the slerp path stays in the plane of z0, z1 and moves at constant angular speed
    cos = torch.nn.functional.cosine_similarity(slerp(z0, z1, 11)[:-1], slerp(z0, z1, 11)[1:])
    torch.testing.assert_close(cos, cos[:1].expand_as(cos), atol=1e-5, rtol=0)


def test_slerp_falls_back_to_lerp_for_parallel_or_zero_codes():
    z = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(slerp(z, 2 * z, 5), lerp(z, 2 * z, 5))
    torch.testing.assert_close(slerp(z, -z, 5), lerp(z, -z, 5))
    torch.testing.assert_close(slerp(torch.zeros(3), z, 5), lerp(torch.zeros(3), z, 5))
    with pytest.raises(ValueError, match="linear"):
        interpolation_path(z, z, 5, method="cubic")
    with pytest.raises(ValueError, match="at least 2"):
        lerp(z, z, 1)


def test_plane_codes_orientation_and_held_dimensions():
    base = torch.arange(5.0)
    z = plane_codes(3, 2.0, dims=(1, 3), base=base, latent_dim=5)
    assert z.shape == (9, 5)
    assert z[0, 1] == -2.0 and z[0, 3] == 2.0  # top-left: z_a = −span, z_b = +span
    assert z[-1, 1] == 2.0 and z[-1, 3] == -2.0  # bottom-right
    torch.testing.assert_close(z[:, [0, 2, 4]], base[[0, 2, 4]].expand(9, 3))
    with pytest.raises(ValueError, match="two different"):
        plane_codes(3, 2.0, dims=(1, 1), latent_dim=5)


def test_traversal_codes_sweep_only_the_chosen_dimension():
    mu = torch.randn(3, 6)
    values = traversal_values(5, 3.0)
    torch.testing.assert_close(values, torch.tensor([-3.0, -1.5, 0.0, 1.5, 3.0]))
    z = traversal_codes(mu, 2, values)
    assert z.shape == (15, 6)
    torch.testing.assert_close(z[:, 2], values.repeat(3))
    others = [0, 1, 3, 4, 5]
    torch.testing.assert_close(z[:, others], mu[:, others].repeat_interleave(5, dim=0))


def test_kl_ranked_dims_puts_informative_dimensions_first():
    mu = torch.zeros(100, 4)
    mu[:, 2] = torch.randn(100) * 3  # much KL
    mu[:, 0] = torch.randn(100)  # some KL
    order, kl = kl_ranked_dims(mu, torch.zeros(100, 4))
    assert order[:2] == [2, 0] and kl.shape == (4,)


# ----------------------------------------------------------------------------- render
def test_png_bytes_round_trip_grey_and_rgb():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (13, 17), dtype=np.uint8)
    rgb = rng.integers(0, 256, (9, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_png(png_bytes(grey)), grey)
    np.testing.assert_array_equal(_png(png_bytes(rgb)), rgb)
    with pytest.raises(ValueError, match="uint8"):
        png_bytes(grey.astype(np.float32))


def test_digit_png_draws_ink_dark_and_scales():
    img = np.zeros((28, 28), np.float32)
    img[10, 12] = 1.0
    arr = _png(digit_png(img, scale=3))
    assert arr.shape == (84, 84)
    assert arr[30, 36] == 0 and arr[0, 0] == 255  # ink black on white, like gray_r


def test_scatter_canvas_puts_points_where_to_pixel_says():
    pts = np.array([[0.0, 0.0], [2.9, 2.9], [-2.9, -2.9]])
    canvas = scatter_canvas(pts, np.array([0, 1, 2]), span=3.0, size=61, dot=0)
    for (r, c), lab in zip(to_pixel(pts, 3.0, 61), [0, 1, 2], strict=True):
        assert tuple(canvas[r, c]) == tuple(TAB10[lab])
    r, c = to_pixel(pts, 3.0, 61)[1]
    assert r < 5 and c > 55  # (+, +) is the top right, as in a scatter plot


# ----------------------------------------------------------------------------- widgets
def test_slider_moves_exactly_its_latent_coordinate_and_changes_the_image(small_trained_vae, data):
    w = LatentSliders(small_trained_vae, *data)
    assert w.last_error is None and len(w.sliders) == 8
    w.sample_prior()
    z_before, png_before = w.z.clone(), w.image.value
    w.sliders[3].value = 2.5
    changed = torch.nonzero(w.z != z_before).flatten().tolist()
    assert changed == [w.dims[3]] and float(w.z[w.dims[3]]) == pytest.approx(2.5)
    assert w.image.value != png_before
    assert _png(w.image.value).shape == (28 * 6, 28 * 6)
    np.testing.assert_allclose(w.decoded, decode_images(small_trained_vae, w.z)[0], atol=1e-6)


def test_sliders_top_k_by_kl_and_encode_button(small_trained_vae, data):
    w = LatentSliders(small_trained_vae, *data, top_k=3)
    assert len(w.sliders) == 3 and w.dims == sorted(w.dims, key=lambda d: -float(w.kl[d]))
    i = w.encode_random()
    mu, _ = small_trained_vae.encode(data[0][i : i + 1])
    torch.testing.assert_close(w.z, mu[0].detach())
    assert f"#{i}" in w.info.value and w.original.layout.visibility == "visible"


def test_latent_plane_2d_model_pick_and_nearest_digit(data):
    torch.manual_seed(0)
    model = MLPVAE(latent_dim=2, hidden_dims=(32,))
    w = LatentPlane(model, *data, n=7, span=2.0)
    assert w.last_error is None and w.dims == (0, 1)
    before = (w.grid_image.value, w.scatter_image.value, w.image.value)
    w.pick_a.value = 1.5
    assert tuple(w.code.tolist()) == (1.5, 0.0)
    after = (w.grid_image.value, w.scatter_image.value, w.image.value)
    assert all(a != b for a, b in zip(before, after, strict=True))
    i = w.jump_to_test_digit(5)
    assert i == 5 and "nearest test digit: #5" in w.info.value
    grid = _png(w.grid_image.value)
    assert grid.shape[:2] == (7 * 28, 7 * 28)


def test_latent_plane_on_two_chosen_dims_of_a_bigger_model(small_trained_vae, data):
    w = LatentPlane(small_trained_vae, *data, n=5)
    assert len(set(w.dims)) == 2
    w.dim_a.value, w.dim_b.value = 4, 6
    assert w.dims == (4, 6) and w.last_error is None
    w.set_point(0.5, -1.0)
    expected = torch.zeros(8)
    expected[4], expected[6] = 0.5, -1.0
    torch.testing.assert_close(w.code, expected)
    w.dim_b.value = 4  # same dimension twice: shown as an error, the widget stays alive
    assert "two different dimensions" in w.error.value
    w.dim_b.value = 1
    assert w.error.value == "" and w.dims == (4, 1)


def test_interpolator_endpoints_are_the_encoded_inputs(small_trained_vae, data):
    x, y = data
    w = Interpolator(small_trained_vae, x, y, steps=6, pair=(3, 17))
    mu, _ = small_trained_vae.encode(x[[3, 17]])
    for method in ("linear", "spherical"):
        torch.testing.assert_close(w.paths[method][0], mu[0].detach(), atol=1e-5, rtol=0)
        torch.testing.assert_close(w.paths[method][-1], mu[1].detach(), atol=1e-5, rtol=0)
    assert w.decoded.shape == (2, 6, 28, 28)
    big = w.image.value
    w.step.value = 0
    assert w.image.value != big
    np.testing.assert_allclose(
        w.decoded[0, 0], decode_images(small_trained_vae, mu[0])[0], atol=1e-6
    )
    w.method.value = "spherical"
    w.set_pair(1, 2)
    assert (w.index_a.value, w.index_b.value) == (1, 2) and w.last_error is None


def test_traversal_sweeps_one_dimension(small_trained_vae, data):
    w = Traversal(small_trained_vae, *data, n_inputs=3, steps=5)
    d = int(w.dim.value)
    assert d == int(torch.argmax(w.kl))  # default: the most informative dimension
    assert w.decoded.shape == (3, 5, 28, 28)
    mu, _ = small_trained_vae.encode(data[0][w.indices])
    expected = decode_images(small_trained_vae, traversal_codes(mu.detach(), d, w.values))
    np.testing.assert_allclose(w.decoded.reshape(15, 28, 28), expected, atol=1e-6)
    png = w.image.value
    w.sigma.value = 1.0
    assert w.image.value != png and float(w.values[-1]) == 1.0
    assert _png(w.image.value).shape == (3 * 28 * 2, (28 + 4 + 5 * 28) * 2)


# ----------------------------------------------------------------------------- devices
class _DeviceCheckingVAE(torch.nn.Module):
    """Lives on the 'meta' device; fails if anything reaches it from another device."""

    latent_dim = 4

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(4, device="meta"))
        self.seen = set()

    def encode(self, x):
        self.seen.add(x.device.type)
        assert x.device.type == "meta", f"encode got {x.device}"
        n = x.shape[0]
        mu = torch.linspace(-1, 1, n * 4).reshape(n, 4)
        return mu, torch.zeros(n, 4)

    def decode(self, z):
        self.seen.add(z.device.type)
        assert z.device.type == "meta", f"decode got {z.device}"
        return torch.linspace(-3, 3, z.shape[0] * 784).reshape(z.shape[0], 1, 28, 28)


@pytest.mark.parametrize("cls", EXPLORERS)
def test_explorers_encode_and_decode_on_the_models_device(cls, data):
    model = _DeviceCheckingVAE()
    assert model_device(model).type == "meta"
    w = cls(model, *data)
    assert w.last_error is None, w.error.value
    assert model.seen == {"meta"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_explorers_on_a_cuda_model(small_trained_vae, data):  # pragma: no cover - GPU only
    import copy

    model = copy.deepcopy(small_trained_vae).cuda()
    for cls in EXPLORERS:
        w = cls(model, *data)
        assert w.last_error is None, w.error.value


# ----------------------------------------------------------------------------- errors
class _BrokenDecoder(torch.nn.Module):
    latent_dim = 4

    def __init__(self, failure="raise"):
        super().__init__()
        self.lin = torch.nn.Linear(784, 8)
        self.failure = failure

    def encode(self, x):
        return self.lin(x.reshape(x.shape[0], -1)).chunk(2, dim=1)

    def decode(self, z):
        if self.failure == "raise":
            raise RuntimeError("decoder exploded on purpose")
        return torch.full((z.shape[0], 1, 28, 28), float("nan"))


@pytest.mark.parametrize("cls", EXPLORERS)
def test_a_broken_decoder_shows_an_error_in_the_widget(cls, data):
    w = cls(_BrokenDecoder(), *data)  # must not raise: the learner sees the message
    assert isinstance(w.last_error, RuntimeError)
    assert "decoder exploded on purpose" in w.error.value
    assert "latent-error-msg" in w.error.value and "traceback" in w.error.value
    assert w.children[-1] is w.error


def test_errors_are_shown_on_every_update_and_cleared_when_fixed(data):
    model = _BrokenDecoder()
    w = LatentSliders(model, *data)
    w.error.value = ""
    w.sliders[0].value = 1.0  # a callback: raises inside, shown, not raised
    assert "decoder exploded" in w.error.value
    model.failure = "nan"
    w.sliders[0].value = 2.0
    assert "NaN" in w.error.value
    model.decode = lambda z: torch.zeros(z.shape[0], 1, 28, 28)
    w.sliders[0].value = 0.5
    assert w.error.value == "" and w.last_error is None and w.image.value


# ----------------------------------------------------------------------------- notebook 04
def test_notebook_04_stores_the_explorers_for_jupyterlab_and_static_html():
    """The committed notebook carries each explorer's state, images included, in its metadata
    and in its static HTML export (what a reader sees before running anything)."""
    import json
    from pathlib import Path

    nb_path = Path(__file__).resolve().parents[1] / "notebooks" / "04_vae.ipynb"
    if not nb_path.exists() or "LatentSliders" not in nb_path.read_text():
        pytest.skip("notebook 04 has no latent explorers yet")
    nb = json.loads(nb_path.read_text())
    state = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    names = ("LatentSliders", "LatentPlane", "Interpolator", "Traversal")
    views = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            text = "".join(data.get("text/plain", ""))
            if "application/vnd.jupyter.widget-view+json" in data and text.startswith(names):
                views.append(data["application/vnd.jupyter.widget-view+json"]["model_id"])
    assert len(views) == 4 and all(v in state for v in views)
    images = [
        m
        for m in state.values()
        if m["model_name"] == "ImageModel" and "latent-image" in m["state"].get("_dom_classes", [])
    ]
    assert len(images) >= 4 and all(m.get("buffers") for m in images), "images not saved"

    import nbformat
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(nbformat.read(nb_path, as_version=4))
    assert 'type="application/vnd.jupyter.widget-state+json"' in html
    assert all(v in html for v in views)


def test_scatter_canvas_leaves_out_points_outside_the_frame():
    blank = scatter_canvas(np.zeros((0, 2)), np.zeros(0), span=1.0, size=21, dot=0)
    canvas = scatter_canvas(np.array([[5.0, 0.5]]), np.array([3]), span=1.0, size=21, dot=0)
    np.testing.assert_array_equal(canvas, blank)
