"""Regression: every scheme reproduces the iterates of the implementation before the
template-step rewrite (issue 16) to rounding.

``data/trajectories.json`` holds, for each row of :data:`RUNS`, the parameters (flattened,
as ``repr`` floats, so the JSON round trip is exact), the returned loss and a few
diagnostics after each of :data:`STEPS` steps, written by the pre-rewrite code with
``python tests/schemes/test_trajectories.py --write``. The rewrite must not change the
mathematics, so float64 runs agree to ~1e-12 relative and float32 runs to float32 rounding.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from harness import PROBLEMS, residual_mlp_data  # noqa: E402
from savlib.schemes import IEQ, ISGD, SAV, ExpSAV, IEQAdaptive, RelExpSAV, RelSAV, ResSAV  # noqa: E402
from savlib.schemes.ieq import mse_residual  # noqa: E402

DATA = Path(__file__).parent / "data" / "trajectories.json"
STEPS = 6
F64 = torch.float64


def residual_problem(dtype=F64, seed=0, width=8, batch=32):
    X, Y, (W1, b1, W2, b2) = residual_mlp_data(dtype, seed, width, batch)
    model = torch.nn.Sequential(torch.nn.Linear(2, width), torch.nn.Tanh(), torch.nn.Linear(width, 1))
    model = model.to(dtype)
    with torch.no_grad():
        model[0].weight.copy_(W1)
        model[0].bias.copy_(b1)
        model[2].weight.copy_(W2[None])
        model[2].bias.copy_(b2[None])
    return [W1, b1, W2, b2], (lambda: mse_residual(torch.tanh(X @ W1.T + b1) @ W2 + b2, Y)), \
        (model, lambda: mse_residual(model(X).squeeze(1), Y))


def _groups(params, kind):
    if kind == "two_groups":
        return [dict(params=params[:2], lr=0.3, lam=2.0), dict(params=params[2:])]
    return params


# name -> (class, kwargs, problem, dtype, param layout)
RUNS = {
    "SAV": (SAV, dict(lr=0.5, C=1.0, lam=0.5), "mlp", F64, None),
    "SAV-f32": (SAV, dict(lr=0.5, C=1.0, lam=0.5), "mlp", torch.float32, None),
    "SAV-groups": (SAV, dict(lr=0.1, C=1.0, lam=0.5), "mlp", F64, "two_groups"),
    "ResSAV": (ResSAV, dict(lr=0.5, C=1.0), "mlp", F64, None),
    "RelSAV": (RelSAV, dict(lr=0.5, C=1.0, lam=0.5, eta=0.9), "mlp", F64, None),
    "RelSAV-quadratic": (RelSAV, dict(lr=0.9, C=0.5), "quadratic", F64, None),
    "A-SAV": (SAV, dict(lr=0.05, C=1.0, lam=0.5, adaptive=True), "mlp", F64, None),
    "A-SAV-f32": (SAV, dict(lr=0.05, C=1.0, lam=0.5, adaptive=True), "mlp", torch.float32, None),
    "A-ResSAV": (ResSAV, dict(lr=0.05, C=1.0, adaptive=True), "mlp", F64, None),
    "A-RelSAV": (RelSAV, dict(lr=0.05, C=1.0, lam=1.0, adaptive=True), "mlp", F64, None),
    "A-RelSAV-groups": (RelSAV, dict(lr=0.05, C=1.0, adaptive=True), "mlp", F64, "two_groups"),
    "ExpSAV": (ExpSAV, dict(lr=0.5, C=1.0, lam=0.5), "mlp", F64, None),
    "ExpSAV-thm2.3": (ExpSAV, dict(lr=0.5, C=1.0, update="thm2.3"), "mlp", F64, None),
    "ExpSAV-groups": (ExpSAV, dict(lr=0.1, C=1.0, lam=0.5), "mlp", F64, "two_groups"),
    "RelExpSAV": (RelExpSAV, dict(lr=0.5, C=1.0, lam=0.5), "mlp", F64, None),
    "RelExpSAV-thm2.3": (RelExpSAV, dict(lr=0.5, C=2.0, update="thm2.3"), "mlp", F64, None),
    "IEQ": (IEQ, dict(lr=0.5), "residual", F64, None),
    "IEQ-evolve": (IEQ, dict(lr=0.5, evolve_q=True), "residual", F64, None),
    "IEQ-linear": (IEQ, dict(lr=0.5), "residual_model", F64, None),
    "IEQAdaptive": (IEQAdaptive, dict(lr=0.5), "residual", F64, None),
    "IEQAdaptive-evolve": (IEQAdaptive, dict(lr=0.5, evolve_q=True), "residual", F64, None),
    "IEQAdaptive-f32": (IEQAdaptive, dict(lr=0.5), "residual", torch.float32, None),
    "ISGD-adam-fixed": (ISGD, dict(lr=0.5, inner="adam", inner_steps=5, inner_lr=0.01), "mlp", F64, None),
    "ISGD-adam-tied": (ISGD, dict(lr=0.5, inner="adam"), "mlp", F64, None),
    "ISGD-adam-carry": (ISGD, dict(lr=0.5, inner="adam", inner_lr=1e-3, inner_state="carry"), "mlp", F64,
                        None),
    "ISGD-lbfgs": (ISGD, dict(lr=0.5, inner="lbfgs", inner_steps=10), "quadratic", F64, None),
}
DIAG_KEYS = ("r", "xi", "log_r", "energy", "alpha", "update_norm", "objective")


def run(name):
    cls, kw, problem, dtype, layout = RUNS[name]
    if problem.startswith("residual"):
        params, closure, (model, model_closure) = residual_problem(dtype)
        if problem == "residual_model":
            params, closure = list(model.parameters()), model_closure
            kw = {**kw, "model": model}
    else:
        prob = PROBLEMS[problem](dtype=dtype, seed=0)
        params, closure = prob.params, prob.closure
    opt = cls(_groups(params, layout), **kw)
    out = []
    for _ in range(STEPS):
        loss = opt.step(closure)
        d = opt.diagnostics
        out.append(dict(loss=float(loss),
                        params=torch.cat([p.detach().reshape(-1).double() for p in params]).tolist(),
                        diag={k: float(d[k]) for k in DIAG_KEYS if k in d}))
    return out


def write():
    DATA.write_text(json.dumps({name: run(name) for name in RUNS}, indent=0))


@pytest.mark.parametrize("name", list(RUNS))
def test_same_iterates_as_before_the_rewrite(name):
    ref = json.loads(DATA.read_text())[name]
    got = run(name)
    f32 = RUNS[name][3] == torch.float32
    rtol, atol = (2e-5, 1e-6) if f32 else (1e-11, 1e-14)
    for k, (a, b) in enumerate(zip(got, ref)):
        torch.testing.assert_close(torch.tensor(a["params"]), torch.tensor(b["params"]), rtol=rtol, atol=atol,
                                   msg=lambda m: f"{name} step {k + 1}: {m}")
        assert a["loss"] == pytest.approx(b["loss"], rel=rtol, abs=atol), (name, k)
        assert a["diag"].keys() == b["diag"].keys(), (name, k)
        for key in b["diag"]:
            assert a["diag"][key] == pytest.approx(b["diag"][key], rel=rtol, abs=atol), (name, k, key)


if __name__ == "__main__" and "--write" in sys.argv:
    torch.set_num_threads(1)
    write()
