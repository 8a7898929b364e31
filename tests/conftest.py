import pytest
import torch

from vae_course.device import seed_everything


@pytest.fixture(autouse=True)
def _seeded():
    seed_everything(0)
    yield


@pytest.fixture(scope="session")
def mnist():
    from vae_course.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def small_trained_vae(mnist):
    """A 784-128-8 VAE trained briefly on 1,000 bundled digits (CPU, a few seconds)."""
    from vae_course.models import MLPVAE
    from vae_course.train import fit

    seed_everything(0)
    model = MLPVAE(latent_dim=8, hidden_dims=(128,))
    fit(model, mnist.x_train[:1000], epochs=5, batch_size=100, progress=False, device="cpu")
    model.eval()
    return model


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.slow)


torch.set_num_threads(max(1, torch.get_num_threads()))
