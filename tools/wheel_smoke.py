"""Smoke test of an installed savlib wheel (run from outside the repository, in a fresh
virtual environment that has only the wheel and its dependencies):

    python tools/wheel_smoke.py

Imports every public module, checks ``savlib.__version__`` against the installed
distribution, and trains a small mean-field network with every scheme through
``savlib.train.fit``: the loss must be finite and lower after 30 full-batch steps."""
from __future__ import annotations

import importlib
import importlib.metadata
import sys
from pathlib import Path

import torch

MODULES = ["savlib", "savlib.schemes", "savlib.particles", "savlib.problems", "savlib.train",
           "savlib.analysis", "savlib.distributed", "savlib.meanfield", "savlib.experiments",
           "savlib.scorecard", "savlib.book", "savlib.errors", "savlib.gradflow",
           "savlib.schemes.diagnostics"]


def main() -> int:
    for name in MODULES:
        mod = importlib.import_module(name)
        assert "site-packages" in str(Path(mod.__file__).resolve()), f"{name} not from the wheel: {mod.__file__}"
    import savlib
    from savlib import schemes as S
    from savlib.particles import MeanFieldNet
    from savlib.problems import regression as R
    from savlib.train import fit

    assert savlib.__version__ == importlib.metadata.version("savlib"), savlib.__version__
    data = R.sin_cos(D=2, M=64, dtype=torch.float64, device="cpu")
    makers = {
        "SAV": lambda p: S.SAV(p, lr=0.5, C=1.0), "ResSAV": lambda p: S.ResSAV(p, lr=0.5, C=1.0),
        "RelSAV": lambda p: S.RelSAV(p, lr=0.5, C=1.0), "A-SAV": lambda p: S.SAV(p, lr=0.05, adaptive=True),
        "ExpSAV": lambda p: S.ExpSAV(p, lr=0.5), "RelExpSAV": lambda p: S.RelExpSAV(p, lr=0.5),
        "IEQ": lambda p: S.IEQ(p, lr=0.5), "IEQAdaptive": lambda p: S.IEQAdaptive(p, lr=0.5),
        "ISGD": lambda p: S.ISGD(p, lr=0.5),
    }
    for name, make in makers.items():
        torch.manual_seed(0)
        net = MeanFieldNet(2, 16, dtype=torch.float64)
        h = fit(net, make(net.parameters()), data, steps=30)
        first, last = h.train_loss[0], h.train_loss[-1]
        assert not h.diverged and last == last and last < first, (name, first, last)
        print(f"{name:12s} train loss {first:.4f} -> {last:.4f}")
    print(f"savlib {savlib.__version__} from the wheel: {len(MODULES)} modules imported, "
          f"{len(makers)} schemes trained")
    return 0


if __name__ == "__main__":
    sys.exit(main())
