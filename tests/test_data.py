import functools
import gzip
import hashlib
import http.server
import threading

import numpy as np
import pytest
import torch

from vae_course.data import (
    IDXError,
    dynamic_binarize,
    load_digits,
    load_mnist,
    read_idx,
    write_idx,
)


def test_bundled_mnist_is_offline_stratified_and_scaled(mnist):
    assert mnist.x_train.shape == (4000, 1, 28, 28) and mnist.x_test.shape == (1000, 1, 28, 28)
    assert mnist.x_train.dtype == torch.float32 and mnist.y_train.dtype == torch.int64
    assert mnist.x_train.min() == 0 and mnist.x_train.max() == 1
    assert torch.equal(mnist.y_train.bincount(), torch.full((10,), 400))
    assert torch.equal(mnist.y_test.bincount(), torch.full((10,), 100))
    # shuffled: the first 100 training labels are not one class (the raw rows are sorted)
    assert len(mnist.y_train[:100].unique()) == 10
    # train and test are disjoint images
    train_set = {row.numpy().tobytes() for row in mnist.x_train.reshape(4000, -1)}
    assert not any(row.numpy().tobytes() in train_set for row in mnist.x_test.reshape(1000, -1))


def test_bundled_split_is_deterministic_and_seed_dependent(mnist):
    again = load_mnist(seed=0)
    assert torch.equal(again.x_train, mnist.x_train)
    other = load_mnist(seed=1)
    assert not torch.equal(other.y_train, mnist.y_train)


def test_binarization_modes(mnist):
    static = load_mnist(binarize="static")
    assert set(static.x_train.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(static.x_train, load_mnist(binarize="static").x_train)
    thr = load_mnist(binarize="threshold")
    assert torch.equal(thr.x_train, (mnist.x_train > 0.5).float())
    d = dynamic_binarize(mnist.x_train[:50])
    assert set(d.unique().tolist()) <= {0.0, 1.0} and not torch.equal(
        d, dynamic_binarize(mnist.x_train[:50])
    )
    with pytest.raises(ValueError, match="binarize"):
        load_mnist(binarize="yes")


def test_digits_fallback():
    d = load_digits()
    assert (
        d.x_train.shape[1:] == (1, 8, 8)
        and d.x_train.max() <= 1
        and len(d.x_train) + len(d.x_test) == 1797
    )


def _write_set(folder, n_train=20, n_test=10, gz=False, side=28):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, a in arrays.items():
        write_idx(folder / (name + suffix), a)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip(tmp_path, gz):
    arrays = _write_set(tmp_path, gz=gz)
    s = load_mnist(tmp_path, checksums={})
    assert s.x_train.shape == (20, 1, 28, 28) and s.x_test.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(
        (s.x_train[:, 0] * 255).round().numpy(), arrays["train-images-idx3-ubyte"]
    )
    np.testing.assert_array_equal(s.y_test.numpy(), arrays["t10k-labels-idx1-ubyte"])


def test_missing_file_names_the_file_and_the_fix(tmp_path):
    _write_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte.*download=True"):
        load_mnist(tmp_path, checksums={})


def test_corrupt_files_are_rejected(tmp_path):
    arrays = _write_set(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])  # truncated
    with pytest.raises(IDXError, match="truncated"):
        read_idx(p)
    p.write_bytes(b"\x00\x00\x09\x99" + b"\x00" * 20)  # wrong magic
    with pytest.raises(IDXError, match="magic number"):
        read_idx(p)
    write_idx(p, arrays["train-images-idx3-ubyte"])
    with pytest.raises(IDXError, match="SHA-256"):
        read_idx(p, sha256="0" * 64)
    g = tmp_path / "x-idx3-ubyte.gz"
    g.write_bytes(gzip.compress(np.random.default_rng(1).bytes(5000))[:100])  # truncated gzip
    with pytest.raises(IDXError, match="truncated or corrupt"):
        read_idx(g)
    # labels and images that disagree in count
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(7, dtype=np.uint8))
    write_idx(p, arrays["train-images-idx3-ubyte"])
    with pytest.raises(IDXError, match="20 images but 7 labels"):
        load_mnist(tmp_path, checksums={})


@pytest.fixture
def loopback_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _sha(path):
    return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()


def test_download_fetches_verifies_and_loads(loopback_server, tmp_path):
    served, url = loopback_server
    arrays = _write_set(served, gz=True)
    sums = {name: _sha(served / f"{name}.gz") for name in arrays}
    target = tmp_path / "mnist"
    s = load_mnist(target, download=True, base_url=url, checksums=sums)
    assert s.x_train.shape == (20, 1, 28, 28)
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{n}.gz" for n in arrays)
    # a second call uses the local files (the server could be gone)
    assert torch.equal(load_mnist(target, checksums=sums).x_test, s.x_test)


def test_download_with_wrong_checksum_leaves_nothing(loopback_server, tmp_path):
    served, url = loopback_server
    arrays = _write_set(served, gz=True)
    sums = {name: "f" * 64 for name in arrays}
    target = tmp_path / "mnist"
    with pytest.raises(IDXError, match="SHA-256"):
        load_mnist(target, download=True, base_url=url, checksums=sums)
    assert list(target.iterdir()) == []


def test_truncated_download_is_rejected(loopback_server, tmp_path):
    served, url = loopback_server
    arrays = _write_set(served, gz=True)
    p = served / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    target = tmp_path / "mnist"
    with pytest.raises(IDXError, match="truncated or corrupt"):
        load_mnist(target, download=True, base_url=url, checksums={})
    assert not (target / "train-images-idx3-ubyte.gz").exists()
    assert arrays  # the other files were fine


def test_download_of_missing_file_is_a_clear_error(loopback_server, tmp_path):
    served, url = loopback_server
    with pytest.raises(IDXError, match="could not download"):
        load_mnist(tmp_path / "m", download=True, base_url=url, checksums={})


def test_bad_arguments():
    with pytest.raises(ValueError, match="fashion-mnist"):
        load_mnist(dataset="fashion-mnist")
    with pytest.raises(ValueError, match="dataset must be"):
        load_mnist(dataset="cifar")
    with pytest.raises(ValueError, match="needs root"):
        load_mnist(download=True)
