"""Implicit SGD (seed 001): per-mode loss ratios of eqs. 7-8 on the stiff quadratic,
stability beyond GD's limit, the ISGD,Adam schedule, state_dict and bad input."""
from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harness import Case, check_state_dict_continuation, check_untouched_on_error, ids
from savlib.gradflow import gd_factor, igd_factor, stiff_quadratic
from savlib.schemes import make_closure
from savlib.schemes.isgd import ISGD, isgd_adam

F64 = torch.float64
TIGHT = dict(tolerance_grad=1e-300, tolerance_change=1e-300)  # run L-BFGS to round-off


def quad_closure(prob, th):
    def closure():
        th.grad = None
        loss = prob.loss(th)
        if torch.is_grad_enabled():
            loss.backward()
        return loss
    return closure


# In error coordinates (theta* = 0) each mode keeps full relative precision, so the
# exact factors are resolvable. Per-mode ratios must equal eq. 8 to 1e-8 (or 1e-20
# absolute where the factor itself is ~1e-16, i.e. that mode is solved to the round-off
# of the whole state), with ISGD's default L-BFGS settings.
@settings(max_examples=12, deadline=None)
@given(log_lr=st.floats(-3, 4))
@example(log_lr=-3.0)
@example(log_lr=4.0)
def test_isgd_lbfgs_mode_ratios_equal_eq8(log_lr):
    lr = 10.0 ** log_lr
    prob = stiff_quadratic(theta_star=(0.0, 0.0))
    th = torch.tensor([1.0, -2.0], dtype=F64, requires_grad=True)
    opt = ISGD([th], lr=lr, inner="lbfgs", inner_steps=100)
    m0 = prob.mode_losses(th.detach())
    opt.step(quad_closure(prob, th))
    ratio = prob.mode_losses(th.detach()) / m0
    assert torch.allclose(ratio, igd_factor(lr, prob.eigenvalues), rtol=1e-8, atol=1e-20)
    assert prob.loss(th.detach()) <= prob.igd_bound(lr) * m0.sum() * (1 + 1e-8)


@settings(max_examples=10, deadline=None)
@given(log_lr=st.floats(-2, 4))
def test_isgd_lbfgs_later_steps_within_line_search_resolution(log_lr):
    """Over several steps (paper's theta* = (1, 1)) each component of theta_{n+1} is the
    exact backward Euler value up to 1e-8 of its error, or up to the resolution of a
    function-value line search, sqrt(eps F / h_i) with F the proximal objective and
    h_i = 1 + lr K_i its curvature; and the loss ratio obeys eq. 8's bound."""
    lr = 10.0 ** log_lr
    prob = stiff_quadratic()
    ts = prob.theta_star
    h = 1.0 + lr * prob.K
    th = torch.zeros(2, dtype=F64, requires_grad=True)
    opt = ISGD([th], lr=lr, inner="lbfgs", inner_steps=100)
    for _ in range(5):
        t0 = th.detach().clone()
        exact = prob.igd_step(t0, lr)
        F = 0.5 * (exact - t0).square().sum() + lr * prob.loss(exact)
        floor = 10 * torch.sqrt(torch.finfo(F64).eps * F / h)
        opt.step(quad_closure(prob, th))
        assert ((th.detach() - exact).abs() <= 1e-8 * (exact - ts).abs() + floor).all()
        assert prob.loss(th.detach()) <= prob.igd_bound(lr) * prob.loss(t0) * (1 + 1e-8)


@settings(max_examples=10, deadline=None)
@given(log_lr=st.floats(-6, 0))
def test_gd_mode_ratios_equal_eq7(log_lr):
    lr = 10.0 ** log_lr
    prob = stiff_quadratic(theta_star=(0.0, 0.0))
    th = torch.tensor([1.0, -2.0], dtype=F64, requires_grad=True)
    sgd = torch.optim.SGD([th], lr=lr)
    for _ in range(3):
        m0 = prob.mode_losses(th.detach())
        sgd.step(quad_closure(prob, th))
        ratio = prob.mode_losses(th.detach()) / m0
        # atol: at lr*K = 1 the exact factor is 0 and the computed one is O(eps^2)
        assert torch.allclose(ratio, gd_factor(lr, prob.eigenvalues), rtol=1e-8, atol=1e-20)


def test_isgd_converges_where_sgd_diverges():
    """Paper's stiff quadratic (K = 1e-4, 1e4, theta* = (1, 1)) at lr = 1 > 2/K2."""
    prob = stiff_quadratic()
    lr = 1.0
    assert lr > 2.0 / 1e4
    th = torch.zeros(2, dtype=F64, requires_grad=True)
    sgd = torch.optim.SGD([th], lr=lr)
    for _ in range(20):
        sgd.step(quad_closure(prob, th))
    assert not prob.loss(th.detach()) < 1e6  # blown up
    th = torch.zeros(2, dtype=F64, requires_grad=True)
    opt = ISGD([th], lr=lr, inner="lbfgs", inner_steps=50)
    losses = []
    for _ in range(20):
        losses.append(opt.step(quad_closure(prob, th)))
    losses = torch.stack(losses)
    assert (losses[1:] <= losses[:-1]).all()
    # the stiff mode is solved in one step; the soft one decays by 1/(1+lr K1)^2 per step
    assert prob.mode_losses(th.detach())[1] < 1e-12
    assert opt.diagnostics["loss"] == losses[-1]


def test_isgd_adam_inner_and_schedule():
    prob = stiff_quadratic(K1=0.5, K2=1e4)
    th = torch.zeros(2, dtype=F64, requires_grad=True)
    hist = isgd_adam([th], quad_closure(prob, th), lr=1.0, K0=30, K1=40, gamma=0.05, K2=30, eta=1e-2)
    assert hist.shape == (61,) and hist.dtype == F64
    assert torch.equal(hist[-1], prob.loss(th.detach()))
    assert hist[-1] < 1e-3 * hist[0]
    # the implicit phase never sees the instability that SGD at lr = 1 would
    assert torch.isfinite(hist).all()
    with pytest.raises(ValueError, match="K1"):
        isgd_adam([th], quad_closure(prob, th), lr=1.0, K0=2, K1=0)
    with pytest.raises(ValueError, match="K2"):
        isgd_adam([th], quad_closure(prob, th), lr=1.0, K0=2, K1=2, K2=-1)


def test_rosenbrock_and_ill_conditioned_quadratic():
    # Rosenbrock: proximal point with an L-BFGS inner solve
    w = torch.tensor([-1.2, 1.0], dtype=F64, requires_grad=True)

    def rosen():
        w.grad = None
        loss = (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2
        if torch.is_grad_enabled():
            loss.backward()
        return loss
    opt = ISGD([w], lr=10.0, inner="lbfgs", inner_steps=50)
    for _ in range(30):
        opt.step(rosen)
    assert torch.allclose(w.detach(), torch.ones(2, dtype=F64), atol=1e-6)
    # ill-conditioned quadratic (condition 1e6) with the Adam inner solver
    torch.manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(5, 5, dtype=F64))
    K = Q @ torch.diag(torch.logspace(-3, 3, 5, dtype=F64)) @ Q.T
    from savlib.gradflow import Quadratic
    prob = Quadratic(0.5 * (K + K.T), torch.ones(5, dtype=F64))
    th = torch.zeros(5, dtype=F64, requires_grad=True)
    opt = ISGD([th], lr=1e4, inner="lbfgs", inner_steps=50)
    l0 = prob.loss(th.detach())
    for _ in range(10):
        opt.step(quad_closure(prob, th))
    assert prob.loss(th.detach()) < 1e-10 * l0


def test_param_groups_are_backward_euler_per_group():
    """With groups of different lr the step solves theta_g = theta_n,g - lr_g grad_g L(theta)."""
    prob = stiff_quadratic(K1=2.0, K2=3.0, theta_star=(0.0, 0.0))
    a = torch.tensor([1.0], dtype=F64, requires_grad=True)
    b = torch.tensor([1.0], dtype=F64, requires_grad=True)

    def closure():
        a.grad = b.grad = None
        loss = prob.loss(torch.cat([a, b]))
        if torch.is_grad_enabled():
            loss.backward()
        return loss
    opt = ISGD([{"params": [a], "lr": 0.5}, {"params": [b], "lr": 4.0}], inner="lbfgs",
               inner_steps=50, inner_kwargs=TIGHT)
    opt.step(closure)
    assert torch.allclose(a.detach(), torch.tensor([1 / (1 + 0.5 * 2.0)], dtype=F64), rtol=1e-12)
    assert torch.allclose(b.detach(), torch.tensor([1 / (1 + 4.0 * 3.0)], dtype=F64), rtol=1e-12)


@pytest.mark.parametrize("inner", ["adam", "lbfgs"])
def test_state_dict_continuation_bit_exact(inner):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x = torch.randn(16, 2)
    y = torch.sin(x[:, :1])

    def make(model):
        return make_closure(model, torch.nn.functional.mse_loss, x, y)
    opt = ISGD(net.parameters(), lr=0.5, inner=inner, inner_steps=5, inner_lr=1e-2)
    for _ in range(3):
        opt.step(make(net))
    net2 = copy.deepcopy(net)
    opt2 = ISGD(net2.parameters(), lr=0.5, inner=inner, inner_steps=5, inner_lr=1e-2)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert isinstance(opt2.scalars["step"], int) and opt2.scalars["step"] == opt.scalars["step"] == 3
    for _ in range(10):
        l1 = opt.step(make(net))
        l2 = opt2.step(make(net2))
        assert torch.equal(l1, l2)
    for p, q in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, q)


def test_no_grad_and_zero_d_parameters():
    w = torch.tensor(3.0, dtype=F64, requires_grad=True)          # 0-d
    frozen = torch.tensor([5.0], dtype=F64, requires_grad=False)

    def closure():
        w.grad = None
        loss = 0.5 * 4.0 * w**2 + frozen.sum() * 0
        if torch.is_grad_enabled():
            loss.backward()
        return loss
    opt = ISGD([w, frozen], lr=0.25, inner="lbfgs", inner_kwargs=TIGHT)
    opt.step(closure)
    assert torch.allclose(w.detach(), torch.tensor(3.0 / (1 + 0.25 * 4.0), dtype=F64), rtol=1e-12)
    assert frozen.item() == 5.0


def test_bad_input():
    w = torch.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    for lr in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr"):
            ISGD([w], lr=lr)
    with pytest.raises(ValueError, match="inner"):
        ISGD([w], inner="sgd")
    with pytest.raises(ValueError, match="inner_steps"):
        ISGD([w], inner_steps=0)
    with pytest.raises(ValueError, match="inner_lr"):
        ISGD([w], inner_lr=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        ISGD([w], inner="lbfgs", inner_kwargs={"max_iter": 3})
    opt = ISGD([w], lr=0.1)
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    with pytest.raises(TypeError):
        opt.step(lambda: torch.ones(3, requires_grad=True).sum(0, keepdim=True).repeat(2))

    def nan_closure():
        w.grad = None
        loss = (w * float("nan")).sum()
        if torch.is_grad_enabled():
            loss.backward()
        return loss
    before = w.detach().clone()
    for inner in ("adam", "lbfgs"):
        with pytest.raises(ValueError, match="non-finite"):
            ISGD([w], lr=0.1, inner=inner).step(nan_closure)
        assert torch.equal(w.detach(), before)


# ------------------------------------------------------------ rows for the shared harness
ISGD_CASES = [
    Case(ISGD, dict(lr=0.5, inner="lbfgs", inner_steps=10), "quadratic"),
    Case(ISGD, dict(lr=0.5, inner="adam", inner_steps=5, inner_lr=1e-2), "mlp"),
    Case(ISGD, dict(lr=10.0, inner="lbfgs", inner_steps=20), "rosenbrock"),
    Case(ISGD, dict(lr=0.5, inner="adam", inner_steps=5, inner_lr=1e-2, foreach=False), "quadratic"),
    Case(ISGD, dict(lr=0.5, inner="adam", inner_steps=3, inner_lr=1e-2, inner_state="carry"), "mlp"),
]


@pytest.mark.parametrize("case", ISGD_CASES, ids=ids(ISGD_CASES))
def test_harness_state_dict_continuation(case):
    check_state_dict_continuation(case)


def _nan_closure(prob):
    def closure():
        loss = prob.closure() * float("nan")
        return loss
    return closure


@pytest.mark.parametrize("case", ISGD_CASES, ids=ids(ISGD_CASES))
def test_harness_bad_closures(case):
    check_untouched_on_error(case, _nan_closure, ValueError, "non-finite")
    check_untouched_on_error(case, lambda prob: (lambda: prob.params[0] * 0 + 1), TypeError, "scalar")


@pytest.mark.parametrize("case", ISGD_CASES[:3], ids=ids(ISGD_CASES[:3]))
def test_harness_convergence(case):
    prob, opt = case.make()
    l0 = prob.loss()
    for _ in range(30):
        opt.step(prob.closure)
    assert prob.loss() < 0.1 * l0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fresh_inner_adam_matches_torch_adam(dtype):
    """savlib's fresh-state inner Adam (the default) takes torch.optim.Adam's steps: the
    only difference, sqrt(v + tiny), moves nothing at these sizes (inner_kwargs with any other
    key selects torch.optim.Adam itself). A zero gradient column exercises v = 0."""
    def run(inner_kwargs):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2)).to(dtype)
        x, y = torch.randn(16, 5, dtype=dtype), torch.randn(16, 2, dtype=dtype)
        x[:, 0] = 0.0                                   # first-layer weight column gets no gradient
        closure = make_closure(net, torch.nn.functional.mse_loss, x, y)
        opt = ISGD(net.parameters(), lr=2.0, inner_steps=4, inner_kwargs=inner_kwargs)
        losses = [opt.step(closure) for _ in range(6)]
        return [p.detach().clone() for p in net.parameters()], losses, opt.diagnostics

    p1, l1, d1 = run({"betas": (0.9, 0.999)})          # _FreshAdam
    p2, l2, d2 = run({"amsgrad": False})                # torch.optim.Adam
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    for a, b in zip(p1, p2):
        torch.testing.assert_close(a, b, **tol)
    for a, b in zip(l1, l2):
        torch.testing.assert_close(a, b, **tol)
    assert float(d1["inner_lr"]) == pytest.approx(float(d2["inner_lr"]), rel=1e-6)


def test_inner_state_carry_continues_the_inner_adam():
    """inner_state="carry": the inner Adam's moments and step count continue across outer
    steps (saved in the state), so the second outer step differs from a fresh start; the
    proximal anchor still moves to theta_n every outer step."""
    from harness import PROBLEMS
    runs = {}
    for mode in ("fresh", "carry"):
        prob = PROBLEMS["mlp"]()
        opt = ISGD(prob.params, lr=1.0, inner_steps=3, inner_lr=1e-2, inner_state=mode)
        losses = [float(opt.step(prob.closure)) for _ in range(4)]
        runs[mode] = (prob, opt, losses)
    (pf, of, lf), (pc, oc, lc) = runs["fresh"], runs["carry"]
    assert lf[:2] == lc[:2]                     # the first outer step is the same fresh Adam
    assert lf[2] != lc[2]                       # ... later ones are not
    assert oc.scalars["inner_k"] == 12 and "inner_k" not in of.scalars
    assert all("inner_exp_avg" in oc.state[p] for p in pc.params)
    assert not any(of.state[p] for p in pf.params)
    sd = oc.state_dict()
    assert sd["state"]["scheme"]["inner_k"] == 12
    with pytest.raises(ValueError, match="carry"):
        ISGD(pc.params, inner="lbfgs", inner_state="carry")
    with pytest.raises(ValueError, match="carry"):
        ISGD(pc.params, inner_state="carry", inner_kwargs={"amsgrad": True})
    with pytest.raises(ValueError, match="inner_state"):
        ISGD(pc.params, inner_state="warm")


# ------------------------------------------------ issue 16: implicit by default
def _quad_closure(x, K):
    def closure():
        x.grad = None
        loss = 0.5 * x @ K @ x
        if torch.is_grad_enabled():
            loss.backward()
        return loss
    return closure


def test_default_inner_solve_is_implicit_on_a_stiff_quadratic():
    """I = 500 x^2 at lr 0.1: the fixed 3-step inner Adam blew up (500 -> 1.6e20 in 10
    steps); the default inner="prox" reaches the proximal point, x -> x / (1 + 100)."""
    x = torch.ones(1, dtype=torch.float64, requires_grad=True)
    opt = ISGD([x], lr=0.1)
    assert opt.defaults["inner"] == "prox"
    losses = []
    for _ in range(10):
        x0 = float(x.detach())
        losses.append(float(opt.step(_quad_closure(x, torch.tensor([[1000.0]], dtype=torch.float64)))))
        assert float(x.detach()) == pytest.approx(x0 / 101.0, rel=1e-7)
        assert float(opt.diagnostics["inner_converged"]) == 1.0
    assert all(b < a for a, b in zip(losses, losses[1:]))


@pytest.mark.parametrize("lr", [1e-3, 0.1, 10.0, 1e4])
@pytest.mark.parametrize("seed", [0, 1])
def test_default_contracts_on_convex_quadratics_at_every_step_size(lr, seed):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    K = (Q * torch.logspace(-2, 3, 8, dtype=torch.float64)) @ Q.T
    x = torch.randn(8, generator=g, dtype=torch.float64).requires_grad_()
    opt = ISGD([x], lr=lr)
    closure = _quad_closure(x, K)
    prev = float(closure().detach())
    for _ in range(5):
        x0 = x.detach().clone()
        exact = torch.linalg.solve(torch.eye(8, dtype=torch.float64) + lr * K, x0)
        opt.step(closure)
        new = float(closure().detach())
        assert new <= prev * (1 + 1e-12)                   # the loss contracts ...
        # ... and the step is the proximal one up to a small part of its length
        assert float((x.detach() - exact).norm()) <= 1e-2 * float((x0 - exact).norm())
        prev = new


def test_inner_solve_that_stops_short_says_so():
    x = torch.ones(6, dtype=torch.float64, requires_grad=True)
    K = torch.diag(torch.logspace(0, 4, 6, dtype=torch.float64))
    opt = ISGD([x], lr=10.0, inner_steps=1, inner_tol=1e-14)
    opt.step(_quad_closure(x, K))
    assert float(opt.diagnostics["inner_converged"]) == 0.0
    assert float(opt.diagnostics["prox_grad"]) > 1e-14


def test_old_arguments_select_the_old_inner_adam():
    """Book chapters pass inner_lr / inner_state without inner=: that still means the paper's
    fixed-budget inner Adam, with the same iterates as inner="adam" given explicitly."""
    def run(**kw):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1)).double()
        x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)
        opt = ISGD(net.parameters(), lr=0.5, **kw)
        for _ in range(3):
            opt.step(make_closure(net, torch.nn.functional.mse_loss, x, y))
        return opt, [p.detach().clone() for p in net.parameters()]
    for kw in (dict(inner_steps=3, inner_lr=1e-3), dict(inner_steps=3, inner_lr=1e-3, inner_state="carry"),
               dict(inner_steps=4, inner_kwargs={"betas": (0.9, 0.99)})):
        o1, p1 = run(**kw)
        o2, p2 = run(inner="adam", **kw)
        assert o1.defaults["inner"] == "adam"
        assert all(torch.equal(a, b) for a, b in zip(p1, p2))
    assert run(inner_steps=3)[0].defaults["inner"] == "prox"


@pytest.mark.parametrize("inner", [None, "adam", "lbfgs"])
def test_a_closure_without_backward_is_refused_and_changes_nothing(inner):
    """A closure that returns the loss but never calls backward would make every inner solve
    stop at theta_n: a silent no-op step. It raises ClosureError instead, parameters as before."""
    from savlib.errors import ClosureError

    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt = ISGD([x], lr=0.1, **({} if inner is None else {"inner": inner}))
    with pytest.raises(ClosureError, match="backward"):
        opt.step(lambda: (x ** 2).sum())
    assert x.tolist() == [1.0, 2.0] and not opt.state


@pytest.mark.parametrize("kw", [dict(inner="adam", inner_kwargs={"betaz": (0.9, 0.99)}),
                                dict(inner_kwargs={"lrr": 1}),
                                dict(inner="lbfgs", inner_kwargs={"histroy_size": 3}),
                                dict(inner_kwargs={"histroy_size": 3})])
def test_a_misspelt_inner_keyword_fails_at_construction(kw):
    from savlib.errors import HyperParameterError

    with pytest.raises(HyperParameterError):
        ISGD([torch.zeros(2, requires_grad=True)], lr=0.1, **kw)
