"""ExpSAV and relaxed ExpSAV (seed 002 section 2.2.4, Thms 2.2, 2.3, 2.6; the relaxation
is savlib's derivation, see savlib/schemes/expsav.py)."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import PROBLEMS, Case, run
from savlib.schemes import ExpSAV, RelExpSAV

HYP = settings(max_examples=6, deadline=None)
UPDATES = ["2.2.4", "thm2.3"]
EPS64 = torch.finfo(torch.float64).eps


def _snap(ps):
    return [p.detach().clone() for p in ps]


def _sq(a, b):
    return float(sum(((x.detach() - y) ** 2).sum() for x, y in zip(a, b)))


def _floor(params, before, w):
    return 2 * sum(float((w * (2 * EPS64 * p.detach().abs() * (p.detach() - q).abs()
                                + EPS64 ** 2 * p.detach() ** 2)).sum())
                   for p, q in zip(params, before))


@pytest.mark.parametrize("update", UPDATES)
@HYP
@given(log_dt=st.floats(-4.0, 4.0), lam=st.sampled_from([0.0, 1.0]), kind=st.sampled_from(["quadratic", "mlp"]))
def test_expsav_energy_identity(update, log_dt, lam, kind):
    """"2.2.4": r_n - r_{n+1} = (r_n/r_{n+1}) D;  "thm2.3": r_n - r_{n+1} = (r_n^2/r_{n+1}) D,
    D = |dth|^2/dt + lam |dth|^2; written in log space as 1 - e^{-delta} = e^{-rho_n} e^{delta} D
    (2.2.4) and 1 - e^{-delta} = e^{delta} D (thm2.3), delta = rho_n - rho_{n+1} >= 0."""
    dt, C = 10.0 ** log_dt, 1.0
    prob = PROBLEMS[kind]()
    opt = ExpSAV(prob.params, lr=dt, C=C, lam=lam, update=update)
    for _ in range(5):
        before = _snap(prob.params)
        opt.step(prob.closure)
        dg = opt.diagnostics
        rho0, rho1, x = float(dg["log_r_prev"]), float(dg["log_r"]), float(dg["x"])
        delta = math.log1p(x)                     # the scheme's decrement of log r
        assert abs((rho0 - rho1) - delta) <= 4 * EPS64 * abs(rho0) + 1e-15 * delta
        D = _sq(prob.params, before) * (1 / dt + lam)
        lhs = x / (1 + x)                         # = 1 - r_{n+1}/r_n
        k = math.exp(-rho0) if update == "2.2.4" else 1.0
        rhs = k * (1 + x) * D
        tol = 1e-12 * max(lhs, rhs) + k * (1 + x) * _floor(prob.params, before, 1 / dt + lam)
        assert abs(lhs - rhs) <= tol + 1e-300


@pytest.mark.parametrize("cls", [ExpSAV, RelExpSAV])
@pytest.mark.parametrize("update", UPDATES)
@HYP
@given(log_dt=st.floats(-4.0, 4.0), lam=st.sampled_from([0.0, 0.5, 5.0]),
       eta=st.sampled_from([0.0, 0.5, 0.99, 1.0]), kind=st.sampled_from(["quadratic", "mlp"]))
def test_modified_energy_non_increasing(cls, update, log_dt, lam, eta, kind):
    """log(r/C) never increases, for every dt; RelExpSAV also satisfies its relaxed law
    r_{n+1} - r_n <= -(1 - eta')(r_n - r~) with 0 <= xi <= 1 and r_{n+1} = xi r~ + (1-xi) r^."""
    dt = 10.0 ** log_dt
    prob = PROBLEMS[kind]()
    extra = dict(eta=eta) if cls is RelExpSAV else {}
    opt = cls(prob.params, lr=dt, C=1.0, lam=lam, update=update, **extra)
    prev = None
    for _ in range(6):
        opt.step(prob.closure)
        dg = opt.diagnostics
        e = float(dg["energy"])
        if prev is not None:
            assert e <= prev
        prev = e
        assert float(dg["log_r"]) <= float(dg["log_r_prev"])
        assert 0.0 <= float(dg["xi"]) <= 1.0
        if cls is RelExpSAV:
            rn, rt, rh, r1 = (float(dg[k]) for k in ("log_r_prev", "log_r_tilde", "log_r_hat_new", "log_r"))
            ep, xi = float(dg["eta_eff"]), float(dg["xi"])
            assert ep == pytest.approx(eta / (1 + dt * lam), rel=1e-9, abs=1e-300)
            # relaxed law, divided by r_n: e^{r1-rn} - 1 <= -(1 - eta')(1 - e^{rt-rn})
            assert math.expm1(r1 - rn) <= -(1 - ep) * -math.expm1(rt - rn) + 1e-13
            assert r1 <= rh + 1e-12                     # r_{n+1} <= r^ = C exp(I(theta_{n+1}))
            # r_{n+1} = xi r~ + (1 - xi) r^, scaled by r^
            assert math.exp(r1 - rh) == pytest.approx(xi * math.exp(rt - rh) + (1 - xi), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("cls", [ExpSAV, RelExpSAV])
@pytest.mark.parametrize("update", UPDATES)
def test_no_overflow_at_initial_loss_1e4(cls, update):
    """r = C exp(1e4) overflows every float type; log r = log C + 1e4 does not."""
    prob = PROBLEMS["mlp"]()
    base = prob.closure

    def closure():
        return base() + 1e4

    opt = cls(prob.params, lr=0.1, C=1.0, update=update)
    for _ in range(5):
        opt.step(closure)
        for v in opt.diagnostics.values():
            assert bool(torch.isfinite(v))
        assert all(bool(torch.isfinite(p).all()) for p in prob.params)
    assert 1e4 < float(opt.diagnostics["log_r"]) <= 1e4 + float(prob.loss()) + 1.0
    assert float(opt.scalars["log_r"]) < float(opt.diagnostics["log_r_prev"]) or update == "2.2.4"


@pytest.mark.parametrize("update", UPDATES)
def test_first_step_by_hand(update):
    """theta_1 = theta_0 - dt / (1 + x) (I + dt L)^{-1} N, x = dt S / r_0 (2.2.4) or dt S (thm2.3),
    r_0 = C exp(I_0)."""
    dt, C, lam = 0.2, 3.0, 2.0
    prob = PROBLEMS["mlp"]()
    loss = prob.closure()
    N = [p.grad.clone() for p in prob.params]
    dS = dt * sum(float((g * g).sum()) for g in N) / (1 + dt * lam)
    x = dS / (C * math.exp(loss.item())) if update == "2.2.4" else dS
    expect = [p.detach() - dt / (1 + x) * g / (1 + dt * lam) for p, g in zip(prob.params, N)]
    opt = ExpSAV(prob.params, lr=dt, C=C, lam=lam, update=update)
    opt.step(prob.closure)
    for p, e in zip(prob.params, expect):
        torch.testing.assert_close(p.detach(), e, rtol=1e-13, atol=1e-15)
    assert float(opt.diagnostics["log_r"]) == pytest.approx(math.log(C) + loss.item() - math.log1p(x), rel=1e-13)


def test_collapsed_r_stays_finite_with_zero_gradient():
    """After r underflows (log r = -inf) the 2.2.4 step is 0; a zero gradient must not
    turn that into 0 * inf = nan in the parameters."""
    prob = PROBLEMS["quadratic"]()
    opt = ExpSAV(prob.params, lr=0.1, C=1.0)
    opt.step(prob.closure)
    opt.scalars["log_r"] = torch.tensor(float("-inf"), dtype=torch.float64)
    opt.step(prob.closure)                                    # x = inf: no move
    before = [p.detach().clone() for p in prob.params]
    def zero_grad_closure():
        loss = prob.closure()
        for p in prob.params:
            p.grad.zero_()                                    # S = 0
        return loss

    opt.step(zero_grad_closure)
    for p, b in zip(prob.params, before):
        assert torch.equal(p.detach(), b)
    assert float(opt.diagnostics["x"]) == 0.0 and float(opt.diagnostics["log_r"]) == float("-inf")


def test_expsav_2_2_4_is_gradient_descent_at_large_loss():
    """When C exp(I) >> dt S the 2.2.4 factor 1/(1 + dt S / r) is 1: plain GD (book remark)."""
    prob = PROBLEMS["quadratic"]()
    base = prob.closure
    opt = ExpSAV(prob.params, lr=0.01, C=1.0, update="2.2.4")
    opt.step(lambda: base() + 50.0)
    assert float(opt.diagnostics["step_scale"]) == 1.0


CONVERGE = [
    (Case(ExpSAV, dict(lr=0.05), "quadratic"), 300, 1e-8, None),
    (Case(ExpSAV, dict(lr=0.05, update="thm2.3"), "quadratic"), 300, 1e-8, None),
    (Case(RelExpSAV, dict(lr=0.05, lam=0.5), "quadratic"), 300, 1e-8, None),
    (Case(RelExpSAV, dict(lr=0.05, update="thm2.3"), "quadratic"), 300, 1e-8, None),
    (Case(ExpSAV, dict(lr=0.002), "rosenbrock"), 1000, 1e-2, 0.6),
    (Case(ExpSAV, dict(lr=0.002, update="thm2.3"), "rosenbrock"), 1000, 1e-2, 0.6),
    (Case(RelExpSAV, dict(lr=0.005), "rosenbrock"), 1000, 1e-2, 0.6),
    (Case(RelExpSAV, dict(lr=0.002, update="thm2.3"), "rosenbrock"), 1000, 1e-2, 0.6),
]


@pytest.mark.parametrize("case,steps,ratio,dist", CONVERGE, ids=[c[0].id for c in CONVERGE])
def test_convergence(case, steps, ratio, dist):
    prob, opt = case.make()
    l0 = float(prob.loss())
    run(prob, opt, steps)
    assert float(prob.loss()) <= ratio * l0
    if dist is not None:
        err = sum(float(((p.detach() - m) ** 2).sum()) for p, m in zip(prob.params, prob.minimiser)) ** 0.5
        assert err <= dist


def test_relax_expsav_on_host_floats_matches_tensors():
    """relax_expsav is written once: on numpy float64 scalars (the CPU step) it agrees with the
    0-d tensor form to a few ulp (numpy's log1p / expm1 against torch's CPU kernels), edge
    cases (inf, nan, equal inputs) exactly."""
    import math
    import random

    import numpy as np

    from savlib.schemes.expsav import relax_expsav

    def relax_expsav_float(*args):
        with np.errstate(all="ignore"):
            return relax_expsav(*(np.float64(a) for a in args))

    rng = random.Random(0)
    cases = []
    for _ in range(300):
        log_r, x = rng.uniform(-5, 5), rng.uniform(0, 3)
        log_r_tilde = log_r - math.log1p(x)
        cases.append((log_r, log_r_tilde, log_r + rng.uniform(-2, 1), x, rng.uniform(0, 1)))
    cases += [(0.0, -0.5, math.inf, 0.6, 0.9), (0.0, -0.5, -0.5, 0.6, 0.9), (0.0, 0.0, 1.0, 0.0, 0.5)]
    for args in cases:
        want = relax_expsav(*(torch.tensor(v, dtype=torch.float64) for v in args))
        got = relax_expsav_float(*args)
        for w, g in zip(want, got):
            w = w.item()
            # xi is a quotient of two expm1 of nearby arguments: an ulp in each becomes ~1e-15
            assert (w == g) or (math.isnan(w) and math.isnan(g)) or math.isclose(w, g, rel_tol=1e-12, abs_tol=1e-15)
