"""SAV, restart SAV, relaxed SAV and their adaptive forms (seed 000, Algs. 2-5).

The energy laws are checked step by step in float64: eq. 18 as an identity, Thm. 2 as an
inequality, and the Alg. 5 analogue in the dt^-weighted norm.
"""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import CASES, PROBLEMS, Case, run
from savlib.errors import NonFiniteError
from savlib.schemes import SAV, RelSAV, ResSAV, make_closure
from savlib.schemes.sav import relax_sav, xi_eq24

HYP = settings(max_examples=6, deadline=None)
log_dt = st.floats(min_value=-4.0, max_value=4.0)          # dt = 10**log_dt in [1e-4, 1e4]
lams = st.sampled_from([0.0, 0.5, 3.0])
Cs = st.sampled_from([0.1, 1.0, 100.0])
kinds = st.sampled_from(["quadratic", "mlp"])


def _snapshot(params):
    return [p.detach().clone() for p in params]


def _sq(a, b):
    return sum(((x.detach() - y) ** 2).sum() for x, y in zip(a, b))


EPS64 = torch.finfo(torch.float64).eps


def _floor(params, before, weight=1.0):
    """Round-off floor of a squared step read back from stored parameters: each stored
    theta_{n+1} carries a rounding error <= eps |theta_{n+1}|, so sum w dth^2 computed from
    snapshots is off by up to sum w (2 eps |theta| |dth| + eps^2 theta^2). The identities are
    asserted to 1e-12 relative *plus* this floor (it matters only when the step is below
    ~1e-4 of theta, e.g. once vanilla SAV's r has collapsed)."""
    if not isinstance(weight, list):
        weight = [weight] * len(params)
    tot = 0.0
    for p, q, w in zip(params, before, weight):
        a, d = p.detach().abs(), (p.detach() - q).abs()
        tot += float((w * (2 * EPS64 * a * d + EPS64 ** 2 * a * a)).sum())
    return 2 * tot


def _adam_dt(opt, prob, lr, b2, eps, step):
    """Alg. 5 line 7: the elementwise dt^ = lr / sqrt(v^ + eps), per parameter."""
    return [lr / torch.sqrt(opt.state[p]["exp_avg_sq"] / (1 - b2 ** step) + eps) for p in prob.params]


@HYP
@given(log_dt=log_dt, lam=lams, C=Cs, kind=kinds, seed=st.integers(0, 3))
def test_sav_energy_identity_eq18(log_dt, lam, C, kind, seed):
    """seed 000 eq. 18: r1^2 - r0^2 + lam|dth|^2 + (r1 - r0)^2 + |dth|^2/dt == 0, every step."""
    dt = 10.0 ** log_dt
    prob = PROBLEMS[kind](seed=seed)
    opt = SAV(prob.params, lr=dt, C=C, lam=lam)
    r0 = None
    for _ in range(6):
        before = _snapshot(prob.params)
        opt.step(prob.closure)
        r1 = opt.diagnostics["r"]
        if r0 is None:
            r0 = opt.diagnostics["r_hat"]            # r_0 = sqrt(I(theta_0) + C)
        d2 = _sq(prob.params, before)
        terms = [r1 ** 2, r0 ** 2, lam * d2, (r1 - r0) ** 2, d2 / dt]
        res = r1 ** 2 - r0 ** 2 + lam * d2 + (r1 - r0) ** 2 + d2 / dt
        floor = _floor(prob.params, before, 1 / dt + lam)
        assert abs(float(res)) <= 1e-12 * max(float(t) for t in terms) + floor
        assert float(r1) <= float(r0)
        r0 = r1


@HYP
@given(log_dt=log_dt, lam=lams, kind=kinds)
def test_restart_sav_identity_from_r_hat(log_dt, lam, kind):
    """Alg. 3: the same identity, started from r^_n = sqrt(I(theta_n) + C) every step."""
    dt, C = 10.0 ** log_dt, 1.0
    prob = PROBLEMS[kind]()
    opt = ResSAV(prob.params, lr=dt, C=C, lam=lam)
    for _ in range(4):
        I0 = float(prob.loss())
        before = _snapshot(prob.params)
        opt.step(prob.closure)
        r0 = math.sqrt(I0 + C)
        assert float(opt.diagnostics["r_start"]) == pytest.approx(r0, rel=1e-14)
        r1 = float(opt.diagnostics["r"])
        d2 = float(_sq(prob.params, before))
        res = r1 ** 2 - r0 ** 2 + lam * d2 + (r1 - r0) ** 2 + d2 / dt
        floor = _floor(prob.params, before, 1 / dt + lam)
        assert abs(res) <= 1e-12 * max(r0 ** 2, d2 / dt) + floor


@pytest.mark.parametrize("cls", [SAV, ResSAV, RelSAV])
@HYP
@given(log_dt=st.floats(min_value=-4.0, max_value=1.0), lam=lams, kind=kinds)
def test_adaptive_energy_identity_weighted(cls, log_dt, lam, kind):
    """Alg. 5 (A-SAV family): the eq. 18 analogue in the dt^-weighted norm,
    r~^2 - r_s^2 + lam|dth|^2 + (r~ - r_s)^2 + sum dth_j^2 / dt^_j == 0 (r_s: r_n or r^_n)."""
    lr, b1, b2, eps, C = 10.0 ** log_dt, 0.9, 0.999, 1e-8, 1.0
    prob = PROBLEMS[kind]()
    opt = cls(prob.params, lr=lr, C=C, lam=lam, adaptive=True, betas=(b1, b2), eps=eps)
    for step in range(1, 6):
        before = _snapshot(prob.params)
        opt.step(prob.closure)
        dg = opt.diagnostics
        r0, r1 = dg["r_start"], dg["r_tilde"]
        dts = _adam_dt(opt, prob, lr, b2, eps, step)
        d2 = _sq(prob.params, before)
        wd2 = sum((((p.detach() - q) ** 2) / t).sum() for p, q, t in zip(prob.params, before, dts))
        terms = [r1 ** 2, r0 ** 2, lam * d2, wd2]
        res = r1 ** 2 - r0 ** 2 + lam * d2 + (r1 - r0) ** 2 + wd2
        floor = _floor(prob.params, before, [1 / t + lam for t in dts])
        assert abs(float(res)) <= 1e-12 * max(float(t) for t in terms) + floor
        assert abs(float(dg["dissipation"] - wd2)) <= 1e-10 * float(wd2) + floor


@pytest.mark.parametrize("adaptive", [False, True])
@HYP
@given(log_dt=log_dt, lam=lams, eta=st.sampled_from([0.0, 0.5, 0.99, 1.0]), kind=kinds)
def test_relaxed_sav_theorem2(adaptive, log_dt, lam, eta, kind):
    """seed 000 Thm 2 every step: r1^2 - r0^2 <= -lam|dth|^2 - (r~ - r0)^2 - (1 - eta)|dth|^2/dt,
    0 <= xi <= 1, r1 = xi r~ + (1 - xi) r^_{n+1}, and eq. 23 holds."""
    dt = 10.0 ** (min(log_dt, 1.0) if adaptive else log_dt)
    prob = PROBLEMS[kind]()
    opt = RelSAV(prob.params, lr=dt, C=1.0, lam=lam, eta=eta, adaptive=adaptive)
    r0 = None
    for step in range(1, 7):
        before = _snapshot(prob.params)
        opt.step(prob.closure)
        dg = opt.diagnostics
        if r0 is None:
            r0 = dg["r_hat"]
        r1, rt, rh, xi = dg["r"], dg["r_tilde"], dg["r_hat_new"], dg["xi"]
        assert 0.0 <= float(xi) <= 1.0
        assert float(rh) == pytest.approx(math.sqrt(float(prob.loss()) + 1.0), rel=1e-14)
        assert float(r1) == pytest.approx(float(xi * rt + (1 - xi) * rh), rel=1e-12)
        d2 = _sq(prob.params, before)
        diss = dg["dissipation"]                     # |dth|^2/dt (dt^-weighted if adaptive)
        floor = _floor(prob.params, before, 1 / dt + lam)
        if not adaptive:
            assert abs(float(diss - d2 / dt)) <= 1e-10 * float(d2 / dt) + floor
        scale = float(r0 ** 2 + rt ** 2)
        assert float(r1 ** 2 - rt ** 2 - eta * diss) <= 1e-12 * scale + floor           # eq. 23
        rhs = -lam * d2 - (rt - r0) ** 2 - (1 - eta) * diss
        assert float(r1 ** 2 - r0 ** 2 - rhs) <= 1e-12 * scale + floor                  # Thm 2
        assert float(r1) <= float(r0) * (1 + 1e-14)
        r0 = r1


def test_relaxation_closed_form_equals_eq24():
    """The closed form min(r^, sqrt(r~^2 + eta D)) is eq. 24 wherever eq. 24 is well posed."""
    g = torch.Generator().manual_seed(0)
    rt = torch.rand(2000, generator=g, dtype=torch.float64) * 3
    rh = torch.rand(2000, generator=g, dtype=torch.float64) * 3
    D = torch.rand(2000, generator=g, dtype=torch.float64)
    for eta in (0.0, 0.3, 0.99, 1.0):
        r, xi = relax_sav(rt, rh, D, eta)
        ok = (rt - rh).abs() > 1e-3
        ref = xi_eq24(rt, rh, D, eta)
        torch.testing.assert_close(xi[ok], ref[ok].clamp(max=1.0), rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(r, xi * rt + (1 - xi) * rh, rtol=1e-12, atol=1e-12)
        assert bool(((r ** 2 - rt ** 2) <= eta * D + 1e-12).all())
    # a -> 0 guard: r~ == r^ takes r^ with xi = 0, no NaN
    r, xi = relax_sav(torch.tensor(1.5), torch.tensor(1.5), torch.tensor(0.2), 0.99)
    assert float(r) == 1.5 and float(xi) == 0.0
    # a non-finite loss at the new point keeps the vanilla value (xi = 1)
    r, xi = relax_sav(torch.tensor(1.2), torch.tensor(float("nan")), torch.tensor(0.2), 0.99)
    assert float(r) == 1.2 and float(xi) == 1.0


@pytest.mark.parametrize("cls", [SAV, ResSAV, RelSAV])
def test_first_step_matches_alg2_by_hand(cls):
    """theta_1 = theta_0 - dt r~/sqrt(I_0 + C) N/(1 + dt lam), r~ from eq. 20: lambda enters
    only through (1 + dt lam)^{-1}."""
    dt, C, lam = 0.3, 2.0, 4.0
    prob = PROBLEMS["mlp"]()
    loss = prob.closure()
    N = [p.grad.clone() for p in prob.params]
    I0 = loss.item()
    S = dt * sum(float((g * g).sum()) for g in N) / (1 + dt * lam)
    rt = math.sqrt(I0 + C) / (1 + S / (2 * (I0 + C)))
    expect = [p.detach() - dt * rt / math.sqrt(I0 + C) * g / (1 + dt * lam) for p, g in zip(prob.params, N)]
    opt = cls(prob.params, lr=dt, C=C, lam=lam)
    opt.step(prob.closure)
    for p, e in zip(prob.params, expect):
        torch.testing.assert_close(p.detach(), e, rtol=1e-13, atol=1e-15)
    assert float(opt.diagnostics["r_tilde"]) == pytest.approx(rt, rel=1e-13)


def test_adaptive_two_steps_match_alg5_by_hand():
    """Alg. 5 written out for two steps: m, v (elementwise N*N), bias corrections,
    N^ = m^, dt^ = dt / sqrt(v^ + eps) with eps inside the root, then Alg. 2."""
    dt, C, lam, b1, b2, eps = 0.05, 1.0, 2.0, 0.8, 0.9, 1e-3
    prob = PROBLEMS["quadratic"]()
    opt = SAV(prob.params, lr=dt, C=C, lam=lam, adaptive=True, betas=(b1, b2), eps=eps)
    m = [torch.zeros_like(p) for p in prob.params]
    v = [torch.zeros_like(p) for p in prob.params]
    r = None
    for n in (1, 2):
        loss = prob.closure()
        N = [p.grad.clone() for p in prob.params]
        m = [b1 * a + (1 - b1) * g for a, g in zip(m, N)]
        v = [b2 * a + (1 - b2) * g * g for a, g in zip(v, N)]
        Nh = [a / (1 - b1 ** n) for a in m]
        dth = [dt / torch.sqrt(a / (1 - b2 ** n) + eps) for a in v]
        I0 = loss.item()
        r = math.sqrt(I0 + C) if r is None else r
        S = sum(float((D * g * g / (1 + D * lam)).sum()) for D, g in zip(dth, Nh))
        r = r / (1 + S / (2 * (I0 + C)))
        expect = [p.detach() - r / math.sqrt(I0 + C) * D * g / (1 + D * lam)
                  for p, D, g in zip(prob.params, dth, Nh)]
        opt.step(prob.closure)
        for p, e in zip(prob.params, expect):
            torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-14)
        assert float(opt.diagnostics["r"]) == pytest.approx(r, rel=1e-12)


def test_vanilla_sav_r_collapses_restart_does_not():
    """With a changing batch, vanilla SAV's r only decreases and drifts far below
    sqrt(I + C) (q << 1, seed 000 Fig. 6), while restart SAV tracks it (q ~ 1)."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(512, 2, generator=g)
    Y = torch.sin(3 * X.sum(1, keepdim=True))
    qs = {}
    for cls in (SAV, ResSAV, RelSAV):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        opt = cls(model.parameters(), lr=0.5, C=1.0)
        for k in range(200):
            idx = torch.randint(0, 512, (16,), generator=g)
            opt.step(make_closure(model, torch.nn.functional.mse_loss, X[idx], Y[idx]))
        qs[cls.__name__] = float(opt.diagnostics["q"])
    assert qs["SAV"] < 0.5
    assert qs["ResSAV"] > 0.9
    assert qs["RelSAV"] > qs["SAV"]


# convergence: (case, steps, required loss ratio, required distance to the minimiser)
CONVERGE = [
    (Case(SAV, dict(lr=0.05, C=100.0), "quadratic"), 300, 1e-6, None),
    (Case(ResSAV, dict(lr=0.05), "quadratic"), 300, 1e-8, None),
    (Case(RelSAV, dict(lr=0.05, lam=1.0), "quadratic"), 300, 1e-8, None),
    (Case(SAV, dict(lr=0.05, adaptive=True, C=100.0), "quadratic"), 500, 1e-6, None),
    (Case(ResSAV, dict(lr=0.05, adaptive=True), "quadratic"), 500, 1e-8, None),
    (Case(RelSAV, dict(lr=0.05, adaptive=True), "quadratic"), 500, 1e-8, None),
    (Case(SAV, dict(lr=0.002, C=100.0), "rosenbrock"), 1000, 1e-2, 0.9),
    (Case(ResSAV, dict(lr=0.002), "rosenbrock"), 1000, 1e-2, 0.6),
    (Case(RelSAV, dict(lr=0.005), "rosenbrock"), 1000, 1e-2, 0.6),
    (Case(SAV, dict(lr=0.05, adaptive=True, C=100.0), "rosenbrock"), 1000, 1e-3, 0.2),
    (Case(ResSAV, dict(lr=0.05, adaptive=True), "rosenbrock"), 1000, 1e-3, 0.2),
    (Case(RelSAV, dict(lr=0.05, adaptive=True), "rosenbrock"), 1000, 1e-3, 0.2),
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


def test_relax_sav_on_host_floats_matches_tensors():
    """relax_sav is written once: on numpy float64 scalars (the CPU step) it agrees with the
    0-d tensor form (the device step) to an ulp, edge cases (inf, nan, equal inputs) exactly."""
    import math
    import random

    import numpy as np

    from savlib.schemes.sav import relax_sav

    def relax_sav_float(rt, rh, d, eta):
        with np.errstate(all="ignore"):
            return relax_sav(np.float64(rt), np.float64(rh), np.float64(d), eta)

    rng = random.Random(0)
    cases = [(rng.uniform(0.1, 3), rng.uniform(0.1, 3), rng.uniform(0, 2), rng.uniform(0, 1)) for _ in range(300)]
    cases += [(1.0, 1.0, 0.5, 0.99), (1.0, math.inf, 0.5, 0.99), (1.0, math.nan, 0.5, 0.99), (2.0, 1.0, 0.0, 0.0)]
    for rt, rh, d, eta in cases:
        want = relax_sav(*(torch.tensor(v, dtype=torch.float64) for v in (rt, rh, d)), eta)
        got = relax_sav_float(rt, rh, d, eta)
        for w, g in zip(want, got):
            w = w.item()
            assert (w == g) or (math.isnan(w) and math.isnan(g)) or math.isclose(w, g, rel_tol=4e-16, abs_tol=4e-16)


@pytest.mark.parametrize("cls", [SAV, RelSAV])
def test_adaptive_moments_are_double_buffered(cls):
    """A-SAV writes the new Adam moments into a second pair of buffers, which become the
    state when the step succeeds; the old pair is reused by the next step. So after the
    first step no step allocates moments: the state alternates between two storages, and
    a failed step leaves the state's tensors (and their values) as they were."""
    prob = PROBLEMS["quadratic"]()
    w = prob.params[0]
    opt = cls(prob.params, lr=0.01, adaptive=True)
    ptrs = []
    for _ in range(5):
        opt.step(prob.closure)
        st = opt.state[w]
        ptrs.append((st["exp_avg"].data_ptr(), st["exp_avg_sq"].data_ptr()))
    assert ptrs[1] == ptrs[3] and ptrs[2] == ptrs[4] and ptrs[1] != ptrs[2]
    m, v = st["exp_avg"].clone(), st["exp_avg_sq"].clone()

    def bad():
        loss = prob.closure()
        w.grad.fill_(float("nan"))
        return loss
    with pytest.raises(NonFiniteError):
        opt.step(bad)
    st = opt.state[w]
    assert (st["exp_avg"].data_ptr(), st["exp_avg_sq"].data_ptr()) == ptrs[4]
    assert torch.equal(st["exp_avg"], m) and torch.equal(st["exp_avg_sq"], v)
