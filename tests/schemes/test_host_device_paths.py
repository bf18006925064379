"""The two implementations of every SAV-type step agree: on CPU the scalar recursion runs
on Python floats after one host read of the reduction (``_host_scalars = True``, the
default), on accelerators it stays on 0-d device tensors. ``_host_scalars = False`` forces
the device path on a CPU-only machine, so these tests run the accelerator code here too.
The paths differ only in the order of few-term sums and in the fused update, so float64
runs agree to ~1e-13 over many steps (not bitwise)."""
import math

import pytest
import torch

from harness import CASES, PROBLEMS, Case, ids
from savlib.schemes import SAV, IEQAdaptive, RelSAV, base

import test_ieq  # noqa: F401  (registers the residual problems in PROBLEMS)

PATH_CASES = CASES + [
    Case(IEQAdaptive, dict(lr=0.5), "residual_mlp"),
    Case(IEQAdaptive, dict(lr=0.5, evolve_q=True), "residual_mlp"),
    Case(IEQAdaptive, dict(lr=0.5, foreach=False), "residual_quadratic"),
    Case(SAV, dict(lr=0.5, C=1.0, lam=0.5, foreach=False)),
    Case(SAV, dict(lr=0.05, C=1.0, adaptive=True, foreach=False)),
]


def _run(case, host, steps=12):
    prob, opt = case.make()
    opt._host_scalars = host
    losses, diags = [], []
    for _ in range(steps):
        losses.append(opt.step(prob.closure))
        diags.append({k: v.clone() for k, v in opt.diagnostics.items()})
    return prob, opt, losses, diags


@pytest.mark.parametrize("case", PATH_CASES, ids=ids(PATH_CASES))
def test_host_and_device_paths_agree(case):
    p1, o1, l1, d1 = _run(case, host=True)
    p2, o2, l2, d2 = _run(case, host=False)
    for a, b in zip(l1, l2):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    for a, b in zip(p1.params, p2.params):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    for a, b in zip(d1, d2):
        assert a.keys() == b.keys()
        for k in a:
            assert a[k].dtype == b[k].dtype == torch.float64, k
            torch.testing.assert_close(a[k], b[k], rtol=1e-10, atol=1e-14, msg=k)
    assert o1.scalars.keys() == o2.scalars.keys()
    for k, v in o1.scalars.items():         # host: Python numbers; device: float64 tensors
        w = o2.scalars[k]
        if k == "step":
            assert type(v) is type(w) is int and v == w
        elif isinstance(v, float):
            assert isinstance(w, torch.Tensor) and w.dtype == torch.float64 and w.dim() == 0, k
            torch.testing.assert_close(torch.tensor(v, dtype=torch.float64), w, rtol=1e-10,
                                       atol=1e-14, msg=k)
        else:
            torch.testing.assert_close(v.to(torch.float64), w.to(torch.float64), rtol=1e-10, atol=1e-14)


SPECIAL = [0.0, -0.0, 1e-300, 0.5, 1.0, -0.5, -1.0, -2.0, 708.0, 709.5, 800.0, 1e308,
           -800.0, math.inf, -math.inf, math.nan]


@pytest.mark.parametrize("name", ["sqrt", "exp", "log", "log1p", "expm1", "isfinite", "clamp01"])
def test_scalar_shim_on_floats_matches_tensors(name):
    """The host path's scalar functions give the tensors' IEEE results, never a Python
    exception (sqrt(-1) is nan, exp(800) is inf, log(0) is -inf)."""
    f = getattr(base, name)
    for x in SPECIAL:
        got = f(x)
        want = f(torch.tensor(x, dtype=torch.float64))
        assert not isinstance(got, torch.Tensor)
        torch.testing.assert_close(torch.tensor(float(got), dtype=torch.float64),
                                   want.to(torch.float64), rtol=1e-15, atol=0.0,
                                   equal_nan=True, msg=f"{name}({x})")


def test_scalar_minimum_propagates_nan_like_torch():
    for a in SPECIAL:
        for b in SPECIAL:
            want = torch.minimum(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))
            got = base.minimum(a, b)
            torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), want, equal_nan=True,
                                       rtol=0.0, atol=0.0, msg=f"minimum({a}, {b})")


@pytest.mark.parametrize("cls", [SAV, RelSAV])
def test_host_path_param_groups_with_different_steps(cls):
    """Two groups with different dt: the host path takes the per-tensor coefficient
    route (no common coefficient), and still matches the device path."""
    def make(host):
        prob = PROBLEMS["mlp"]()
        W1, b1, W2, b2 = prob.params
        opt = cls([dict(params=[W1, b1], lr=0.3, lam=2.0), dict(params=[W2, b2], lr=0.05)],
                  lr=0.1, C=1.0)
        opt._host_scalars = host
        for _ in range(6):
            opt.step(prob.closure)
        return prob
    for a, b in zip(make(True).params, make(False).params):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_host_path_mixed_dtypes():
    """float32 and float64 parameters in one optimizer: each is updated in its own dtype."""
    torch.manual_seed(0)
    w32 = torch.randn(5, dtype=torch.float32, requires_grad=True)
    w64 = torch.randn(3, dtype=torch.float64, requires_grad=True)
    ref = [w32.detach().clone(), w64.detach().clone()]

    def closure():
        for w in (w32, w64):
            w.grad = None
        loss = (w32.double() ** 2).sum() + (w64 ** 2).sum()
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    opt = SAV([w32, w64], lr=0.1)
    opt.step(closure)
    assert w32.dtype == torch.float32 and w64.dtype == torch.float64
    K = opt.diagnostics["step_scale"].item()
    c = 0.1                      # dt / (1 + dt lam), lam = 0
    torch.testing.assert_close(w64.detach(), ref[1] - c * K * 2 * ref[1], rtol=1e-14, atol=0)
    torch.testing.assert_close(w32.detach(), ref[0] - (c * K) * 2 * ref[0], rtol=1e-6, atol=1e-7)


def test_scalar_shim_matches_torch_edge_cases():
    """The scalar update runs on numpy float64 scalars on CPU: the shim functions give
    torch's inf/nan results (never an exception) and agree with torch to an ulp."""
    import math

    import numpy as np

    from savlib.schemes.base import exp, expm1, log, log1p, sqrt
    pairs = [(sqrt, torch.sqrt, [-1.0, 0.0, 2.0, math.inf, math.nan]),
             (exp, torch.exp, [-math.inf, -1e4, 0.0, 1e4, math.inf, math.nan]),
             (expm1, torch.expm1, [-math.inf, 0.0, 1e-20, 1e4, math.nan]),
             (log, torch.log, [-1.0, 0.0, 1e-300, 3.0, math.inf, math.nan]),
             (log1p, torch.log1p, [-2.0, -1.0, 1e-20, 3.0, math.inf, math.nan])]
    with np.errstate(all="ignore"):
        for ours, theirs, xs in pairs:
            for x in xs:
                a, b = float(ours(np.float64(x))), theirs(torch.tensor(x, dtype=torch.float64)).item()
                assert (a == b) or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=4e-16), (ours, x)
                assert ours(torch.tensor(x, dtype=torch.float64)).item() == b or math.isnan(b)
        assert np.float64(1.0) / np.float64(0.0) == math.inf          # IEEE, not ZeroDivisionError


def test_squared_norms_half_precision_do_not_overflow():
    """|t|^2 is the norm in the tensor's dtype squared in float64: a float16 tensor with
    |t| = 600 gives 360000 (a float16 dot product would overflow)."""
    from savlib.schemes.base import sq_norms
    h = torch.full((4,), 300.0, dtype=torch.float16)
    assert torch.isinf(torch.dot(h, h))
    assert float(sq_norms([h], torch.device("cpu"))[0]) == pytest.approx(360000.0, rel=1e-3)
    assert float(sq_norms([torch.tensor(3.0)], torch.device("cpu"))[0]) == 9.0   # 0-d tensors
