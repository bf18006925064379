"""The diagnostics table of the API reference (savlib.schemes.diagnostics.DIAGNOSTICS)
lists exactly the keys a real step of each scheme leaves in ``opt.diagnostics``."""
from __future__ import annotations

import inspect

import pytest
import torch

import savlib.schemes as schemes
from savlib.errors import ConfigError
from savlib.schemes.base import EnergyOptimizer
from savlib.schemes.diagnostics import DIAGNOSTICS, keys
from savlib.schemes.ieq import mse_residual

SCHEME_CLASSES = sorted(name for name in schemes.__all__
                        if inspect.isclass(getattr(schemes, name))
                        and issubclass(getattr(schemes, name), EnergyOptimizer))

# every option that could change which keys a step writes
VARIANTS = [
    ("SAV", {}), ("SAV", {"adaptive": True}), ("SAV", {"lam": 1.0}),
    ("ResSAV", {}), ("ResSAV", {"adaptive": True}),
    ("RelSAV", {}), ("RelSAV", {"adaptive": True}),
    ("ExpSAV", {}), ("ExpSAV", {"update": "thm2.3"}),
    ("RelExpSAV", {}), ("RelExpSAV", {"update": "thm2.3"}),
    ("IEQ", {}), ("IEQ", {"evolve_q": True}),
    ("IEQAdaptive", {}), ("IEQAdaptive", {"evolve_q": True}),
    ("ISGD", {}), ("ISGD", {"inner": "adam"}), ("ISGD", {"inner": "lbfgs"}),
    ("ISGD", {"inner": "adam", "inner_state": "carry"}),
]


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1)).double()


def _two_steps(name: str, kwargs: dict) -> tuple[EnergyOptimizer, list[list[str]]]:
    model = _model()
    x = torch.randn(16, 3, dtype=torch.float64)
    y = torch.randn(16, 1, dtype=torch.float64)
    opt = getattr(schemes, name)(model.parameters(), lr=0.05, **kwargs)
    if name.startswith("IEQ"):
        def closure():
            return mse_residual(model(x), y)
    else:
        closure = schemes.make_closure(model, torch.nn.functional.mse_loss, x, y)
    seen = []
    for _ in range(2):                # the first step and one that reads stored state
        opt.step(closure)
        seen.append(list(opt.diagnostics))
    return opt, seen


def test_every_scheme_class_has_a_table():
    assert SCHEME_CLASSES, "no scheme classes found in savlib.schemes"
    assert sorted(DIAGNOSTICS) == SCHEME_CLASSES


@pytest.mark.parametrize("name,kwargs", VARIANTS, ids=[f"{n}-{k}" for n, k in VARIANTS])
def test_table_lists_exactly_the_keys_of_a_real_step(name, kwargs):
    opt, seen = _two_steps(name, kwargs)
    for got in seen:
        assert got == keys(name), (
            f"{name}({kwargs}) wrote {got}; the table lists {keys(name)} "
            "(update savlib/schemes/diagnostics.py)")
    for k, v in opt.diagnostics.items():
        assert v.dtype == torch.float64 and v.dim() == 0, k
    assert all(DIAGNOSTICS[name][k].strip() for k in keys(name)), "every key has a meaning"


def test_every_variant_class_is_exercised():
    assert {n for n, _ in VARIANTS} == set(SCHEME_CLASSES)


def test_keys_accepts_a_class_and_rejects_an_unknown_scheme():
    assert keys(schemes.SAV) == keys("SAV")
    with pytest.raises(ConfigError):
        keys("Adam")
