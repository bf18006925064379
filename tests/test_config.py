import random

import numpy as np
import pytest
import torch

import savlib
from savlib import config


@pytest.mark.parametrize("raw,expected", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False), ("off", False)])
def test_quick_reads_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("SAVLIB_QUICK", raw)
    assert savlib.quick() is expected
    assert savlib.pick("q", "b") == ("q" if expected else "b")


def test_quick_rejects_garbage(monkeypatch):
    monkeypatch.setenv("SAVLIB_QUICK", "maybe")
    with pytest.raises(ValueError, match="SAVLIB_QUICK"):
        savlib.quick()


def test_quick_unset_is_book_mode(monkeypatch):
    monkeypatch.delenv("SAVLIB_QUICK", raising=False)
    assert savlib.quick() is False


def test_device_default_and_override(monkeypatch):
    monkeypatch.delenv("SAVLIB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert savlib.get_device().type == expected
    monkeypatch.setenv("SAVLIB_DEVICE", "cpu")
    assert savlib.get_device() == torch.device("cpu")
    assert savlib.get_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_missing_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SAVLIB_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="cuda"):
        savlib.get_device()


def test_seed_everything_makes_all_streams_repeatable():
    def draw():
        return random.random(), np.random.rand(), torch.rand(()).item()

    savlib.seed_everything(123)
    first = draw()
    savlib.seed_everything(123)
    assert draw() == first
    savlib.seed_everything(124)
    assert draw() != first
    with pytest.raises(ValueError):
        savlib.seed_everything(-1)


def test_setup_reports_and_sets_dtype(capsys, monkeypatch):
    monkeypatch.setenv("SAVLIB_QUICK", "1")
    info = savlib.setup(seed=3, dtype=torch.float64)
    out = capsys.readouterr().out
    assert torch.get_default_dtype() == torch.float64
    assert info.quick and info.seed == 3
    assert "torch" in out and str(info.device) in out and "quick" in out
    assert info.versions["savlib"] == savlib.__version__


def test_environment_is_read_in_one_place():
    """SAVLIB_QUICK / SAVLIB_DEVICE are read only by savlib/config.py."""
    from pathlib import Path

    root = Path(config.__file__).parent
    offenders = [p for p in root.rglob("*.py") if p.name != "config.py"
                 and ("SAVLIB_QUICK" in p.read_text() or "SAVLIB_DEVICE" in p.read_text()
                      or "os.environ" in p.read_text() or "getenv" in p.read_text())]
    assert offenders == []


def test_savlib_seed_shifts_every_seed(monkeypatch):
    monkeypatch.delenv("SAVLIB_SEED", raising=False)
    assert savlib.seed_offset() == 0 and savlib.shift_seed(3) == 3
    base = torch.randn(4, generator=savlib.generator(3))
    savlib.seed_everything(3)
    base_global = torch.rand(2)
    monkeypatch.setenv("SAVLIB_SEED", "5")
    assert savlib.seed_offset() == 5 and savlib.shift_seed(3) == 8
    # the shifted stream is the plain stream of seed 3 + 5, and differs from seed 3's
    assert torch.equal(torch.randn(4, generator=savlib.generator(3)),
                       torch.randn(4, generator=torch.Generator().manual_seed(8)))
    assert not torch.equal(torch.randn(4, generator=savlib.generator(3)), base)
    savlib.seed_everything(3)
    assert not torch.equal(torch.rand(2), base_global)
    assert savlib.setup(seed=3, verbose=False).seed == 8
    # fit's batch order follows the shift
    from savlib.train import BatchSampler
    shifted = BatchSampler(10, 3, seed=0).epoch()
    monkeypatch.setenv("SAVLIB_SEED", "0")
    assert any(not torch.equal(a, b) for a, b in zip(shifted, BatchSampler(10, 3, seed=0).epoch()))


@pytest.mark.parametrize("raw", ["-1", "x", "1.5"])
def test_savlib_seed_rejects_garbage(monkeypatch, raw):
    monkeypatch.setenv("SAVLIB_SEED", raw)
    with pytest.raises(ValueError, match="SAVLIB_SEED"):
        savlib.seed_offset()
