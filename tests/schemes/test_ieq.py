"""IEQ and adaptive IEQ (seed 002 section 2.2.5): energy laws, the Levenberg-Marquardt
identity, the Jacobian paths, state_dict continuation and bad input."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils import parameters_to_vector as p2v

from harness import (PROBLEMS, Case, Problem, check_state_dict_continuation, check_untouched_on_error, ids,
                     residual_mlp)
from savlib.schemes.ieq import IEQ, IEQAdaptive, mse_residual, sqrt_residual

F64 = torch.float64


# ------------------------------------------------------------ rows for the shared harness
def residual_quadratic(dtype=F64, seed=0, n=6, cond=1e3) -> Problem:
    """Linear least squares q = diag(s) Q (x - x*) (condition number cond^2 of J^T J)."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    A = (torch.logspace(0, math.log10(cond), n, dtype=F64)[:, None] * Q).to(dtype)
    xs = torch.randn(n, generator=g, dtype=F64).to(dtype)
    x = torch.zeros(n, dtype=dtype, requires_grad=True)

    def closure():
        return A @ (x - xs)

    def loss():
        with torch.no_grad():
            return 0.5 * closure().square().sum()
    return Problem([x], closure, loss, [xs], 0.0)


PROBLEMS.setdefault("residual_quadratic", residual_quadratic)

IEQ_CASES = [
    Case(IEQ, dict(lr=0.5), "residual_mlp"),
    Case(IEQ, dict(lr=0.5, evolve_q=True), "residual_mlp"),
    Case(IEQ, dict(lr=0.5, jacobian="rows"), "residual_mlp"),
    Case(IEQ, dict(lr=1e4), "residual_quadratic"),
    Case(IEQAdaptive, dict(lr=0.5), "residual_mlp"),
    Case(IEQAdaptive, dict(lr=0.5, evolve_q=True), "residual_mlp"),
    Case(IEQAdaptive, dict(lr=0.5, foreach=False), "residual_quadratic"),
]


@pytest.mark.parametrize("case", IEQ_CASES, ids=ids(IEQ_CASES))
def test_harness_state_dict_continuation(case):
    check_state_dict_continuation(case)


def _scalar_closure(prob):
    return lambda: 0.5 * prob.closure().square().sum()


def _nan_closure(prob):
    return lambda: prob.closure() * float("nan")


@pytest.mark.parametrize("case", IEQ_CASES, ids=ids(IEQ_CASES))
@pytest.mark.parametrize("factory,match", [(_scalar_closure, "residual vector"), (_nan_closure, "non-finite")])
def test_harness_bad_closure_leaves_everything_untouched(case, factory, match):
    check_untouched_on_error(case, factory, ValueError, match)


@pytest.mark.parametrize("case", IEQ_CASES, ids=ids(IEQ_CASES))
def test_harness_converges_and_float32_keeps_float64_state(case):
    prob, opt = case.make()
    l0 = prob.loss()
    for _ in range(40):
        opt.step(prob.closure)
    if case.cls is IEQAdaptive and case.kwargs.get("evolve_q"):
        # the evolved scalar-damped q shrinks by alpha every step whatever the model does,
        # and the step J^T q shrinks with it (the collapse vanilla SAV's r shows): the loss
        # still decreases, but slowly; the book shows this
        assert prob.loss() < l0
        assert opt.diagnostics["energy"] < prob.loss()
    else:
        assert prob.loss() < 0.2 * l0
    prob32, opt32 = case.make(dtype=torch.float32)
    for _ in range(3):
        opt32.step(prob32.closure)
    # scalar state: Python numbers on the CPU (float64), vectors as float64 tensors
    assert all(isinstance(v, (int, float)) or v.dtype == F64 for v in opt32.scalars.values())
    assert all(v.dtype == F64 and v.dim() == 0 for v in opt32.diagnostics.values())


def test_foreach_and_per_tensor_paths_agree():
    outs = []
    for fe in (True, False):
        prob = residual_mlp()
        opt = IEQAdaptive(prob.params, lr=0.5, foreach=fe)
        for _ in range(5):
            opt.step(prob.closure)
        outs.append([p.detach().clone() for p in prob.params])
    for a, b in zip(*outs):
        assert torch.allclose(a, b, rtol=1e-14, atol=1e-15)


def mlp(seed=0, d=3, h=6, dtype=F64):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.Tanh(), torch.nn.Linear(h, 1)).to(dtype)


def data(seed=1, b=7, d=3, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, d, generator=g, dtype=dtype)
    y = torch.sin(x.sum(1)) + 0.1 * torch.randn(b, generator=g, dtype=dtype)
    return x, y


def closure_for(net, x, y):
    return lambda: mse_residual(net(x).squeeze(-1), y)


def dense_lm_step(net, x, y, dt):
    """Reference: -dt (I + dt J^T J)^{-1} J^T q formed with the n x n matrix."""
    params = [p for p in net.parameters()]
    q = mse_residual(net(x).squeeze(-1), y)
    b = q.numel()
    Js = torch.autograd.grad(q, params, torch.eye(b, dtype=q.dtype), is_grads_batched=True)
    J = torch.cat([j.reshape(b, -1) for j in Js], 1)
    n = J.shape[1]
    return -dt * torch.linalg.solve(torch.eye(n, dtype=F64) + dt * J.T @ J, J.T @ q.detach())


# ----------------------------------------------------------------- the LM identity
@pytest.mark.parametrize("jacobian", ["batched", "rows", "linear"])
@settings(max_examples=8, deadline=None)
@given(log_dt=st.floats(-4, 4))
def test_step_is_levenberg_marquardt(jacobian, log_dt):
    dt = 10.0 ** log_dt
    net = mlp()
    x, y = data()
    ref = dense_lm_step(net, x, y, dt)
    opt = IEQ(net.parameters(), lr=dt, jacobian=jacobian, model=net if jacobian == "linear" else None)
    w0 = p2v(net.parameters()).detach().clone()
    opt.step(closure_for(net, x, y))
    dw = p2v(net.parameters()).detach() - w0
    assert torch.allclose(dw, ref, rtol=0, atol=1e-10 * max(1.0, ref.abs().max().item()))


def test_param_groups_with_different_lr_use_diag_metric():
    """dw = -(D^{-1} + J^T J)^{-1} J^T q with D = diag(dt_g) (push-through identity)."""
    net = mlp()
    x, y = data()
    dts = [0.3, 5.0]
    groups = [{"params": list(net[0].parameters()), "lr": dts[0]},
              {"params": list(net[2].parameters()), "lr": dts[1]}]
    params = [p for g in groups for p in g["params"]]
    q = mse_residual(net(x).squeeze(-1), y)
    Js = torch.autograd.grad(q, params, torch.eye(q.numel(), dtype=F64), is_grads_batched=True)
    J = torch.cat([j.reshape(q.numel(), -1) for j in Js], 1)
    d = torch.cat([torch.full((p.numel(),), g["lr"], dtype=F64) for g in groups for p in g["params"]])
    ref = -torch.linalg.solve(torch.diag(1 / d) + J.T @ J, J.T @ q.detach())
    w0 = torch.cat([p.detach().reshape(-1) for p in params]).clone()
    IEQ(groups).step(closure_for(net, x, y))
    dw = torch.cat([p.detach().reshape(-1) for p in params]) - w0
    assert torch.allclose(dw, ref, rtol=0, atol=1e-10)


# ----------------------------------------------------------------- energy laws
@settings(max_examples=15, deadline=None)
@given(log_dt=st.floats(-4, 4), seed=st.integers(0, 50))
def test_full_batch_modified_energy_non_increasing_every_dt(log_dt, seed):
    """Evolved IEQ variable on a nonlinear MLP: 1/2|q_{n+1}|^2 <= 1/2|q_n|^2 for all dt."""
    dt = 10.0 ** log_dt
    net = mlp(seed)
    x, y = data(seed + 1)
    opt = IEQ(net.parameters(), lr=dt, evolve_q=True)
    energies = []
    for _ in range(6):
        opt.step(closure_for(net, x, y))
        d = opt.diagnostics
        assert d["energy"] <= d["energy_before"] * (1 + 1e-12)
        energies.append(d["energy_before"])
    energies.append(opt.diagnostics["energy"])
    e = torch.stack(energies)
    assert (e[1:] <= e[:-1] * (1 + 1e-12)).all()


@settings(max_examples=15, deadline=None)
@given(log_dt=st.floats(-4, 4), seed=st.integers(0, 50))
def test_linear_model_true_loss_non_increasing_and_equal_to_ieq_variable(log_dt, seed):
    """For f linear in w the evolved q is the true residual, so the true loss decays."""
    dt = 10.0 ** log_dt
    torch.manual_seed(seed)
    A = torch.randn(9, 5, dtype=F64)
    y = torch.randn(9, dtype=F64)
    w = torch.zeros(5, dtype=F64, requires_grad=True)
    opt = IEQ([w], lr=dt, evolve_q=True)
    prev = None
    for _ in range(5):
        opt.step(lambda: A @ w - y)
        d = opt.diagnostics
        true_after = 0.5 * (A @ w.detach() - y).square().sum()
        assert torch.allclose(true_after, d["energy"], rtol=1e-10, atol=1e-12)
        if prev is not None:
            assert d["loss"] <= prev * (1 + 1e-12)
        prev = d["loss"]


@settings(max_examples=15, deadline=None)
@given(log_dt=st.floats(-4, 4), seed=st.integers(0, 50))
def test_adaptive_energy_non_increasing_and_step_below_polyak(log_dt, seed):
    dt = 10.0 ** log_dt
    net = mlp(seed)
    x, y = data(seed + 1)
    opt = IEQAdaptive(net.parameters(), lr=dt, evolve_q=True, eps=0.0)
    for _ in range(6):
        q = closure_for(net, x, y)().detach()
        opt.step(closure_for(net, x, y))
        d = opt.diagnostics
        assert d["energy"] <= d["energy_before"]
        assert 0 < d["alpha"] <= 1
        assert torch.allclose(d["energy"], d["alpha"] ** 2 * d["energy_before"], rtol=1e-12)
    # recomputed mode: the effective step dt*alpha stays below the zero-target Polyak step
    net = mlp(seed)
    opt = IEQAdaptive(net.parameters(), lr=dt, eps=0.0)
    q = closure_for(net, x, y)()
    g = torch.autograd.grad(0.5 * q.square().sum(), list(net.parameters()))
    gn2 = sum(t.square().sum() for t in g)
    opt.step(closure_for(net, x, y))
    polyak = q.detach().square().sum() / gn2
    assert opt.diagnostics["lr_eff"] < polyak
    assert torch.allclose(opt.diagnostics["lr_eff"], dt / (1 + dt / polyak), rtol=1e-12)


@pytest.mark.parametrize("cls", [IEQ, IEQAdaptive])
@settings(max_examples=12, deadline=None)
@given(log_dt=st.floats(-4, 4), seed=st.integers(0, 50))
def test_discrete_energy_identity(cls, log_dt, seed):
    """1/2|q_{n+1}|^2 - 1/2|q_n|^2 = -1/2|q_{n+1} - q_n|^2 - |w_{n+1} - w_n|^2/dt, an
    identity (like seed 000 eq. 18) for both schemes (adaptive: with eps = 0)."""
    dt = 10.0 ** log_dt
    net = mlp(seed)
    x, y = data(seed + 1)
    kw = {"eps": 0.0} if cls is IEQAdaptive else {}
    opt = cls(net.parameters(), lr=dt, evolve_q=True, **kw)
    for _ in range(4):
        w0 = p2v(net.parameters()).detach().clone()
        opt.step(closure_for(net, x, y))
        d = opt.diagnostics
        diss = (p2v(net.parameters()).detach() - w0).square().sum() / dt
        # measured from the parameters: w + dw - w carries rounding of size eps |w|
        assert torch.allclose(diss, d["dissipation"], rtol=1e-6,
                              atol=1e-13 * w0.square().sum().sqrt() * diss.sqrt() / dt ** 0.5)
        lhs = d["energy"] - d["energy_before"] + 0.5 * d["dq2"] + d["dissipation"]
        assert abs(lhs) <= 1e-12 * d["energy_before"]


def test_adaptive_small_dt_is_gradient_descent():
    net = mlp()
    x, y = data()
    ref = copy.deepcopy(net)
    dt = 1e-7
    IEQAdaptive(net.parameters(), lr=dt).step(closure_for(net, x, y))
    sgd = torch.optim.SGD(ref.parameters(), lr=dt)
    sgd.zero_grad()
    torch.nn.functional.mse_loss(ref(x).squeeze(-1), y).backward()
    sgd.step()
    assert torch.allclose(p2v(net.parameters()), p2v(ref.parameters()), rtol=0, atol=1e-13)


# ----------------------------------------------------------------- residual helpers
def test_mse_residual_energy_is_mse_loss():
    x, y = data()
    pred = torch.randn_like(y)
    q = mse_residual(pred, y)
    assert torch.allclose(0.5 * q.square().sum(), torch.nn.functional.mse_loss(pred, y), rtol=1e-14)
    assert torch.equal(mse_residual(pred, y, reduction="sum"), pred - y)


def test_sqrt_residual_energy_and_gradient():
    torch.manual_seed(0)
    w = torch.randn(4, dtype=F64, requires_grad=True)
    X = torch.randn(6, 4, dtype=F64)
    lab = (torch.rand(6) > 0.5).to(F64)
    losses = torch.nn.functional.binary_cross_entropy_with_logits(X @ w, lab, reduction="none")
    C = 0.5
    q = sqrt_residual(losses, C)
    assert torch.allclose(0.5 * q.square().sum(), losses.mean() + C, rtol=1e-14)
    (gq,) = torch.autograd.grad(q, w, q.detach(), retain_graph=True)
    (gl,) = torch.autograd.grad(losses.mean(), w)
    assert torch.allclose(gq, gl, rtol=1e-12)
    with pytest.raises(ValueError, match="C must be >"):
        sqrt_residual(losses.detach() - 10.0, C=1.0)
    with pytest.raises(ValueError, match="per-sample"):
        sqrt_residual(losses.mean(), C)


# ----------------------------------------------------------------- convergence
def test_converges_on_ill_conditioned_quadratic():
    """q = diag(s) (w - w*) with condition number 1e6: full IEQ at dt = 1e8 is nearly
    Gauss-Newton and converges in a few steps where GD would need ~1e6."""
    s = torch.logspace(-3, 3, 6, dtype=F64)
    wstar = torch.linspace(-1, 1, 6, dtype=F64)
    w = torch.zeros(6, dtype=F64, requires_grad=True)
    opt = IEQ([w], lr=1e8)
    for _ in range(5):
        opt.step(lambda: s * (w - wstar))
    assert torch.allclose(w.detach(), wstar, atol=1e-6)


def test_converges_on_rosenbrock():
    """Rosenbrock as least squares: q = (10 (w2 - w1^2), 1 - w1)."""
    w = torch.tensor([-1.2, 1.0], dtype=F64, requires_grad=True)
    opt = IEQ([w], lr=100.0)

    def clo():
        return torch.stack([10 * (w[1] - w[0] ** 2), 1 - w[0]])
    for _ in range(60):
        opt.step(clo)
    assert torch.allclose(w.detach(), torch.ones(2, dtype=F64), atol=1e-8)
    w2 = torch.tensor([-1.2, 1.0], dtype=F64, requires_grad=True)
    opt2 = IEQAdaptive([w2], lr=1.0)

    def clo2():
        return torch.stack([10 * (w2[1] - w2[0] ** 2), 1 - w2[0]])
    e0 = 0.5 * clo2().detach().square().sum()
    for _ in range(3000):
        opt2.step(clo2)
    assert 0.5 * clo2().detach().square().sum() < 1e-3 * e0


def test_small_regression_float32_stable_where_sgd_diverges():
    net = mlp(dtype=torch.float32)
    x, y = data(dtype=torch.float32, b=32)
    ref = copy.deepcopy(net)
    opt = IEQ(net.parameters(), lr=10.0)
    e0 = 0.5 * closure_for(net, x, y)().detach().square().sum()
    for _ in range(30):
        opt.step(closure_for(net, x, y))
    assert opt.diagnostics["loss"].dtype == F64
    assert opt.diagnostics["loss"] < 0.05 * e0
    sgd = torch.optim.SGD(ref.parameters(), lr=10.0)
    for _ in range(30):
        sgd.zero_grad()
        loss = torch.nn.functional.mse_loss(ref(x).squeeze(-1), y)
        loss.backward()
        sgd.step()
    assert not (loss < e0)  # SGD at the same step size blows up (inf or nan)


# ----------------------------------------------------------------- state & protocol
@pytest.mark.parametrize("cls,kw", [(IEQ, {"evolve_q": True}), (IEQ, {}),
                                    (IEQAdaptive, {"evolve_q": True}), (IEQAdaptive, {})])
def test_state_dict_continuation_bit_exact(cls, kw):
    net = mlp(dtype=torch.float32)
    x, y = data(dtype=torch.float32)
    opt = cls(net.parameters(), lr=0.5, **kw)
    for _ in range(3):
        opt.step(closure_for(net, x, y))
    net2 = copy.deepcopy(net)
    opt2 = cls(net2.parameters(), lr=0.5, **kw)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert set(opt2.scalars) == ({"step", "q"} if kw else {"step"})
    assert isinstance(opt2.scalars["step"], int) and opt2.scalars["step"] == opt.scalars["step"] == 3
    if kw:
        assert torch.equal(opt2.scalars["q"].float(), opt.scalars["q"])
    for _ in range(10):
        opt.step(closure_for(net, x, y))
        opt2.step(closure_for(net2, x, y))
    for p, p2 in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, p2)
    assert torch.equal(opt.diagnostics["energy"], opt2.diagnostics["energy"])


def test_no_grad_parameter_untouched_and_zero_d_parameter():
    w = torch.tensor(0.3, dtype=F64, requires_grad=True)  # 0-d parameter
    frozen = torch.tensor([2.0], dtype=F64, requires_grad=False)
    x = torch.linspace(-1, 1, 5, dtype=F64)
    y = 0.7 * x
    for cls in (IEQ, IEQAdaptive):
        opt = cls([w, frozen], lr=1e6)
        for _ in range(3):
            opt.step(lambda: w * x * frozen / 2 - y)
        assert frozen.item() == 2.0
    assert abs(w.item() - 0.7) < 1e-5


def test_linear_path_rejects_unsupported_models():
    conv = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).to(F64)
    extra = torch.nn.Parameter(torch.zeros(1, dtype=F64))
    with pytest.raises(ValueError, match="nn.Linear"):
        IEQ(list(conv.parameters()) + [extra], jacobian="linear", model=conv)
    with pytest.raises(ValueError, match="model="):
        IEQ(conv.parameters(), jacobian="linear")
    shared = torch.nn.Linear(3, 3).to(F64)
    x, y = data()
    opt = IEQ(shared.parameters(), model=shared)
    with pytest.raises(ValueError, match="more than once"):
        opt.step(lambda: mse_residual(shared(shared(x)).sum(1), y))


@pytest.mark.parametrize("cls", [IEQ, IEQAdaptive])
def test_bad_input(cls):
    net = mlp()
    x, y = data()
    w0 = p2v(net.parameters()).clone()
    for lr in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr"):
            cls(net.parameters(), lr=lr)
    opt = cls(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="residual vector"):
        opt.step(lambda: torch.nn.functional.mse_loss(net(x).squeeze(-1), y))  # scalar loss
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    with pytest.raises(TypeError, match="tensor"):
        opt.step(lambda: 3.0)
    with pytest.raises(ValueError, match="graph"):
        opt.step(lambda: mse_residual(net(x).squeeze(-1), y).detach())
    with pytest.raises(ValueError, match="non-finite"):
        opt.step(lambda: mse_residual(net(x).squeeze(-1), y) * float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        # finite residual, infinite Jacobian: d sqrt(u)/du at u = 0
        first = next(net.parameters())
        opt.step(lambda: mse_residual(net(x).squeeze(-1), y) + torch.sqrt((first - first.detach()).sum()))
    assert torch.equal(p2v(net.parameters()), w0)
    if cls is IEQ:
        with pytest.raises(ValueError, match="jacobian"):
            cls(net.parameters(), jacobian="svd")
    else:
        with pytest.raises(ValueError, match="eps"):
            cls(net.parameters(), eps=-1.0)
    ev = cls(net.parameters(), lr=0.1, evolve_q=True)
    ev.step(closure_for(net, x, y))
    with pytest.raises(ValueError, match="evolve_q=False"):
        ev.step(closure_for(net, x[:3], y[:3]))
