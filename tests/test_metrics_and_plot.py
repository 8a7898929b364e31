import numpy as np
import pytest
import torch

from vae_course.losses import gaussian_kl_per_dim
from vae_course.metrics import active_units, encode_means, iwae_log_likelihood, kl_per_dimension
from vae_course.plot import (
    latent_grid,
    make_grid,
    plot_latent_scatter,
    plot_loss_curves,
    show_images,
)


class FixedEncoder(torch.nn.Module):
    """encode(x) = (x[:, :D] * scale, constant logvar): known posterior statistics."""

    def __init__(self, scale):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale), requires_grad=False)

    def encode(self, x):
        x = x.reshape(x.shape[0], -1)[:, : len(self.scale)]
        mu = x * self.scale
        return mu, torch.full_like(mu, -1.0)


def test_active_units_counts_dimensions_whose_mean_varies():
    x = torch.rand(500, 4)  # Var(U[0,1]) = 1/12
    enc = FixedEncoder([1.0, 0.05, 0.0, 2.0])  # variances 1/12, 2e-4, 0, 1/3
    count, var = active_units(enc, x)
    assert count == 2
    np.testing.assert_allclose(var.numpy(), [1 / 12, 0.0025 / 12, 0, 4 / 12], rtol=0.2, atol=1e-6)


def test_kl_per_dimension_matches_closed_form():
    x = torch.rand(100, 3)
    enc = FixedEncoder([1.0, 2.0, 0.0])
    mu, logvar = encode_means(enc, x)
    torch.testing.assert_close(kl_per_dimension(enc, x), gaussian_kl_per_dim(mu, logvar).mean(0))


def test_iwae_log_likelihood_is_above_elbo(small_trained_vae, mnist):
    from vae_course.metrics import elbo_estimate

    x = mnist.x_test[:200]
    torch.manual_seed(0)
    ll = iwae_log_likelihood(small_trained_vae, x, k=50)
    e = elbo_estimate(small_trained_vae, x)["elbo"]
    assert e < ll < 0


def test_make_grid_layout():
    imgs = torch.zeros(12, 1, 28, 28)
    imgs[5] = 1.0
    g = make_grid(imgs, nrow=5, pad=1)
    assert g.shape == (3 * 29 - 1, 5 * 29 - 1)
    assert g[0:28, 0 * 29 : 28].max() == 0 and g[29:57, 0:28].min() == 1  # image 5 starts row 2
    assert g[58:, 2 * 29 :].min() == 1  # empty cells are padding
    with pytest.raises(ValueError, match="square"):
        make_grid(torch.zeros(2, 10))


def test_latent_grid_orientation():
    g = latent_grid(3, span=1.0)
    assert g.shape == (9, 2)
    assert (
        g[0].tolist() == [-1.0, 1.0]
        and g[2].tolist() == [1.0, 1.0]
        and g[8].tolist() == [1.0, -1.0]
    )


def test_figures_draw_the_data():
    h = {
        "epoch": [1, 2],
        "train_loss": [3.0, 2.0],
        "train_reconstruction": [-2.5, -1.5],
        "train_kl": [0.5, 0.5],
        "val_loss": [3.5, 2.5],
        "val_reconstruction": [-3.0, -2.0],
        "val_kl": [0.5, 0.5],
    }
    fig = plot_loss_curves(h)
    rec_lines = fig.axes[1].get_lines()
    assert list(rec_lines[0].get_ydata()) == [2.5, 1.5]  # shown as -log p(x|z)
    fig = plot_latent_scatter(torch.randn(50, 2), torch.arange(50) % 10)
    assert fig.axes[0].collections[0].get_offsets().shape == (50, 2)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot_latent_scatter(torch.randn(5, 3))
    fig = show_images(torch.rand(4, 1, 28, 28), nrow=2)
    assert fig.axes[0].images[0].get_array().shape == (57, 57)


def test_metrics_leave_the_model_in_the_mode_they_found_it(small_trained_vae, mnist):
    from vae_course.inference import eval_mode
    from vae_course.metrics import elbo_estimate

    model = small_trained_vae
    for mode in (True, False):
        model.train(mode)
        active_units(model, mnist.x_test[:50])
        elbo_estimate(model, mnist.x_test[:50])
        iwae_log_likelihood(model, mnist.x_test[:10], k=2)
        assert model.training is mode
    model.train()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training
        raise RuntimeError("interrupted")
    assert model.training  # restored even after an error
    model.eval()


def test_diagrams_draw_their_labelled_nodes():
    import matplotlib

    matplotlib.use("Agg")
    from vae_course.plot import plot_reparameterization_graph, plot_vae_architecture

    fig = plot_vae_architecture((784, 512, 256), 20)
    texts = [t.get_text() for t in fig.axes[0].texts]
    for label in (
        "x\n784",
        "512\nReLU",
        "256\nReLU",
        "μ\n20",
        "log σ²\n20",
        "z\n20",
        "logits\n784",
    ):
        assert label in texts, label
    assert texts.count("512\nReLU") == 2  # encoder and mirrored decoder
    fig = plot_reparameterization_graph()
    left, right = ([t.get_text() for t in ax.texts] for ax in fig.axes)
    assert "z ~ N(μ, σ²)" in left and "ε ~ N(0, 1)" not in left
    assert "z = μ + σ·ε" in right and "ε ~ N(0, 1)" in right


def test_plot_latent_map_shows_codes_prior_circles_and_the_decoded_grid():
    from matplotlib.patches import Circle

    from vae_course.models import MLPVAE
    from vae_course.plot import latent_grid, plot_latent_map

    torch.manual_seed(0)
    model = MLPVAE(latent_dim=2, hidden_dims=(16,))
    x = torch.rand(12, 1, 28, 28)
    fig, mu = plot_latent_map(model, x, torch.arange(12) % 10, title="β = 1", n=5, span=2.0)
    ax1, ax2 = fig.axes[:2]
    assert mu.shape == (12, 2)
    torch.testing.assert_close(mu, model.encode(x)[0].detach())
    assert sorted(p.get_radius() for p in ax1.patches if isinstance(p, Circle)) == [1, 2]
    img = ax2.images[0].get_array()
    assert img.shape == (5 * 28, 5 * 28)
    with torch.no_grad():  # top-left tile is the decoded grid point (−2, +2), drawn as 1 − p
        top_left = torch.sigmoid(model.decode(latent_grid(5, 2.0)[:1]))[0, 0].numpy()
    np.testing.assert_allclose(img[:28, :28], 1 - top_left, atol=1e-6)
    assert "decoded grid over $[-2, 2]^2$" in ax2.get_title()
    fig.clf()
    with pytest.raises(ValueError, match="2-D latent"):
        plot_latent_map(MLPVAE(latent_dim=3, hidden_dims=(16,)), x)


def test_plot_score_histograms_draws_every_group_over_its_full_range():
    import matplotlib.pyplot as plt
    import numpy as np

    from vae_course.plot import plot_score_histograms

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(200, generator=g), 5 + torch.randn(50, generator=g)
    fig = plot_score_histograms({"raw": {"a": a, "b": b}, "shifted": {"a": a - 100, "b": b}})
    assert len(fig.axes) == 2
    for ax, lo, hi in zip(fig.axes, (a.min(), a.min() - 100), (b.max(), b.max()), strict=True):
        patches = [p for p in ax.patches]
        assert len(patches) == 2  # one outline per group
        xs = np.concatenate([p.get_xy()[:, 0] for p in patches])
        assert xs.min() == pytest.approx(float(lo), abs=1e-4)  # nothing dropped at the edges
        assert xs.max() == pytest.approx(float(hi), abs=1e-4)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    plt.close(fig)
    with pytest.raises(ValueError, match="no panels"):
        plot_score_histograms({})


def test_plot_comparison_curves_draws_each_history_from_epoch_one():
    import matplotlib.pyplot as plt

    from vae_course.plot import plot_comparison_curves

    runs = {
        "autoencoder": {"history": {"train_loss": [3.0, 2.0, 1.0]}},
        "VAE": {"history": {"train_loss": [4.0, 3.5, 3.0]}},
        "GAN": {
            "history": {
                "d_loss": [1.0, 0.5, 0.4],
                "g_loss": [2.0, 3.0, 2.5],
                "d_real": [0.6, 0.8, 0.9],
                "d_fake": [0.4, 0.2, 0.1],
            }
        },
    }
    fig = plot_comparison_curves(runs)
    drawn = [list(line.get_ydata()) for ax in fig.axes for line in ax.get_lines()]
    assert drawn == [
        [3.0, 2.0, 1.0],
        [4.0, 3.5, 3.0],
        [1.0, 0.5, 0.4],
        [2.0, 3.0, 2.5],
        [0.6, 0.8, 0.9],
        [0.4, 0.2, 0.1],
    ]
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == [1, 2, 3]
    plt.close(fig)
    with pytest.raises(ValueError, match="GAN"):
        plot_comparison_curves({"VAE": runs["VAE"], "autoencoder": runs["autoencoder"]})
