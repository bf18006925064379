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
