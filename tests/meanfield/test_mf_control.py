"""Training: gradient descent via the adjoint, PAM (seed 004 Alg. 1), MSA (Alg. 2, eq. 4.10)
and extended MSA, the classification head (eq. 2.9) on a synthetic task.
Book chapters book/meanfield/control.ipynb and pmp.ipynb."""
import math

import pytest
import torch

from savlib.meanfield import (Grid, accuracy, classifier_objective, discrete_costates,
                              gradient_descent, hamiltonian, hamiltonian_argmax, init_params,
                              loss_and_grad, msa, pam, regression_objective, l2_weights)

F64 = torch.float64


def _regression(steps=8, cells=8):
    grid = Grid(1, cells)
    y = grid.points[:, 0]
    f0 = torch.sin(2 * math.pi * y)[None]
    tgt = (0.5 * torch.cos(2 * math.pi * y))[None]
    p = init_params(grid, steps, scale_b=0.5, generator=torch.Generator().manual_seed(1))
    return grid, f0, tgt, p


@pytest.mark.parametrize("sigma,reg,factor", [("tanh", 0.0, 0.2), ("tanh", 0.01, 0.3),
                                              ("relu", 0.01, 0.7)])
def test_pam_decreases_J_monotonically(sigma, reg, factor):
    grid, f0, tgt, p = _regression()
    obj = regression_objective(f0, tgt, grid, 1.0, "euler", sigma, reg)
    q, h = pam(obj, p, tau=1.0, outer=12, inner=4, lr=2.0)
    J = h.J
    assert all(J[k + 1] <= J[k] for k in range(len(J) - 1))
    assert min(h.decrease) >= 0  # the sufficient-decrease inequality of section 5.1
    assert J[-1] < factor * J[0]
    # the reported J is the cost at the returned parameters
    J_end, _, _ = loss_and_grad(f0, q["a"], q["b"], tgt, grid, 1.0, "euler", sigma, reg)
    assert float(J_end) == pytest.approx(J[-1], rel=1e-12)


def test_pam_with_a_tiny_tau_barely_moves():
    grid, f0, tgt, p = _regression()
    obj = regression_objective(f0, tgt, grid, 1.0, "euler", "tanh")
    q, h = pam(obj, p, tau=1e-6, outer=2, inner=3, lr=1.0)
    assert float((q["a"] - p["a"]).abs().max()) < 1e-4
    assert h.J[-1] <= h.J[0]


def test_gradient_descent_and_optimizer_protocol():
    grid, f0, tgt, p = _regression()
    obj = regression_objective(f0, tgt, grid, 1.0, "heun", "tanh")
    q, h = gradient_descent(obj, p, lr=0.3, iters=40)
    assert h.J[-1] < 0.2 * h.J[0]
    # a torch optimizer driven through the closure protocol takes the same steps
    q2, h2 = gradient_descent(obj, p, lr=0.3, iters=40,
                              optimizer=lambda ps: torch.optim.SGD(ps, lr=0.3))
    assert torch.allclose(q["a"], q2["a"], rtol=1e-10, atol=1e-12)
    assert torch.allclose(q["b"], q2["b"], rtol=1e-10, atol=1e-12)
    # a savlib SAV-family scheme as the outer optimizer (seed 000 Alg. 4 on a and b)
    from savlib.schemes import RelSAV
    q3, h3 = gradient_descent(obj, p, lr=2.0, iters=30, optimizer=lambda ps: RelSAV(ps, lr=2.0, C=1.0))
    assert h3.J[-1] < 0.05 * h3.J[0]
    # the L2 metric: the step is the gradient density (dJ/da divided by dt * volume)
    w = l2_weights(grid, 1.0, 8)
    assert w["a"] == pytest.approx(1 / 8 / 8) and w["b"] == pytest.approx(1 / 8 / 64)
    with pytest.raises(ValueError, match="train names"):
        gradient_descent(obj, p, lr=0.1, iters=1, train=("W",))
    with pytest.raises(ValueError, match="metric"):
        gradient_descent(obj, p, lr=0.1, iters=1, metric="sobolev")


def test_hamiltonian_argmax_is_bang_bang_on_the_box_corners():
    grid, f0, tgt, p = _regression(steps=4)
    traj, r = discrete_costates(f0, p["a"], p["b"], tgt, grid, 1.0, "tanh")
    f, rr = traj[:-1], r[1:]
    box = (-1.0, 2.0, -3.0, 0.5)
    a, b = hamiltonian_argmax(f, rr, box, p["a"], p["b"])
    nz = rr != 0
    assert bool(nz.all())
    assert bool(((a == 2.0) | (a == -1.0)).all())
    assert torch.equal(a == 2.0, rr > 0)
    assert bool(((b == -3.0) | (b == 0.5)).all())
    # b- where r(y) f(z) > 0, b+ where r(y) f(z) < 0 (eq. 4.10)
    s = rr[:, :, None] * f[:, None, :]
    assert torch.equal(b == -3.0, s > 0)
    # it maximises H: no random control in the box does better, step by step
    H = hamiltonian(f, rr, a, b, grid, "tanh")
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        ar = -1 + 3 * torch.rand(a.shape, generator=g, dtype=F64)
        br = -3 + 3.5 * torch.rand(b.shape, generator=g, dtype=F64)
        assert bool((hamiltonian(f, rr, ar, br, grid, "tanh") <= H + 1e-12).all())
    # where r or f vanish the control is not determined: the previous value is kept
    f2, r2 = f.clone(), rr.clone()
    f2[:, 0] = 0
    r2[:, 1] = 0
    a2, b2 = hamiltonian_argmax(f2, r2, box, p["a"], p["b"])
    assert torch.equal(a2[:, 1], p["a"][:, 1])
    assert torch.equal(b2[:, :, 0], p["b"][:, :, 0]) and torch.equal(b2[:, 1, :], p["b"][:, 1, :])


def test_msa_and_extended_msa():
    grid, f0, tgt, p = _regression()
    box = (-1.0, 1.0, -2.0, 2.0)
    a, b, h = msa(f0, p["a"], p["b"], tgt, grid, 1.0, box, 8, "tanh")
    assert float(a.abs().max()) <= 1 and float(b.abs().max()) <= 2
    # every control of plain MSA is bang-bang after one iteration (tanh: r, f nonzero here)
    assert bool(((a.abs() == 1)).all()) and bool((b.abs() == 2).all())
    a, b, he = msa(f0, p["a"], p["b"], tgt, grid, 1.0, box, 15, "tanh", rho=100.0)
    assert float(a.abs().max()) <= 1 and float(b.abs().max()) <= 2
    assert he.J[-1] < 0.05 * he.J[0]
    assert all(he.J[k + 1] <= he.J[k] for k in range(len(he.J) - 1))
    with pytest.raises(ValueError, match="one input function"):
        msa(f0.expand(2, -1), p["a"], p["b"], tgt, grid, 1.0, box, 1)


def _phase_task(grid, n, gen):
    """Functions on (0,1)^2: sin(2 pi k y_0 + phase) + noise, class k-1 for k = 1, 2, 3,
    with a random phase, so no linear functional of f separates the classes."""
    k = torch.randint(0, 3, (n,), generator=gen)
    ph = 2 * math.pi * torch.rand(n, 1, generator=gen, dtype=F64)
    y0 = grid.points[:, 0]
    f = torch.sin(2 * math.pi * (k + 1).to(F64)[:, None] * y0[None] + ph)
    return f + 0.3 * torch.randn(n, grid.N, generator=gen, dtype=F64), k


def test_classifier_learns_a_synthetic_task():
    grid = Grid(2, 6)
    gen = torch.Generator().manual_seed(0)
    Xtr, ytr = _phase_task(grid, 300, gen)
    Xte, yte = _phase_task(grid, 300, gen)
    T, steps = 1.0, 4
    p = init_params(grid, steps, classes=3, scale_b=1.0, generator=torch.Generator().manual_seed(1))
    obj = classifier_objective(Xtr, ytr, grid, T, "euler", "relu", "xent")
    # the head alone on the initial (random) network: a linear readout of nearly linear features
    head, _ = gradient_descent(obj, p, lr=0.5, iters=150, train=("W", "mu"))
    acc_head = accuracy(head, Xte, yte, grid, T, "euler", "relu")
    q, h = gradient_descent(obj, p, lr=0.5, iters=150)
    acc = accuracy(q, Xte, yte, grid, T, "euler", "relu")
    assert h.J[-1] < 0.1 * h.J[0]
    assert acc >= 0.9 and acc > acc_head + 0.2, (acc, acc_head)
    # PAM with the head as a third block: monotone and accurate too
    q, h = pam(obj, p, tau=10.0, outer=8, inner=4, lr=2.0, blocks=(("a",), ("b",), ("W", "mu")))
    assert min(h.decrease) >= 0
    assert accuracy(q, Xte, yte, grid, T, "euler", "relu") >= 0.8


def test_minibatch_objective_is_consistent_within_a_step():
    grid = Grid(2, 4)
    gen = torch.Generator().manual_seed(0)
    X, y = _phase_task(grid, 64, gen)
    p = init_params(grid, 3, classes=3, scale_b=0.5, generator=torch.Generator().manual_seed(1))
    obj = classifier_objective(X, y, grid, 1.0, "euler", "tanh", "xent", batch_size=16,
                               generator=torch.Generator().manual_seed(2))
    J1, g = obj(p)
    J2, _ = obj(p, need_grad=False)
    assert float(J1) == pytest.approx(float(J2), rel=1e-12)  # same minibatch
    obj.resample()
    J3, _ = obj(p, need_grad=False)
    assert float(J3) != float(J2)
    from savlib.schemes import RelSAV
    q, h = gradient_descent(obj, p, lr=0.5, iters=20, optimizer=lambda ps: RelSAV(ps, lr=0.5))
    full = classifier_objective(X, y, grid, 1.0, "euler", "tanh", "xent")
    assert float(full(q, need_grad=False)[0]) < float(full(p, need_grad=False)[0])
    with pytest.raises(ValueError, match="batch_size"):
        classifier_objective(X, y, grid, 1.0, batch_size=0)


@pytest.mark.parametrize("what", ["f0", "a", "b", "target"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_are_named_before_any_solve(what, bad):
    """NaN or inf in an input is reported as such (not as an overflow of the solve), and a
    NaN target never yields J = NaN."""
    grid, f0, tgt, p = _regression()
    args = {"f0": f0.clone(), "a": p["a"].clone(), "b": p["b"].clone(), "target": tgt.clone()}
    args[what].view(-1)[3] = bad
    with pytest.raises(ValueError, match=f"^{what} contains 1 NaN or inf entry"):
        loss_and_grad(args["f0"], args["a"], args["b"], args["target"], grid, 1.0)


@pytest.mark.parametrize("kw", [{"lr": 0.0}, {"lr": -1.0}, {"lr": float("nan")}, {"armijo": 0.0},
                                {"armijo": 1.0}])
def test_pam_rejects_a_step_that_cannot_move(kw):
    grid, f0, tgt, p = _regression()
    obj = regression_objective(f0, tgt, grid, 1.0)
    with pytest.raises(ValueError):
        pam(obj, p, tau=1.0, outer=1, **kw)


@pytest.mark.parametrize("kw", [{"iters": -1}, {"iters": 1.5}, {"rho": -0.1}, {"rho": float("nan")},
                                {"rho": 1.0, "inner": 0}, {"rho": 1.0, "inner_lr": 0.0}])
def test_msa_rejects_bad_iteration_counts_and_penalties(kw):
    grid, f0, tgt, p = _regression()
    box = (-1.0, 1.0, -2.0, 2.0)
    args = {"iters": 1, **kw}
    iters = args.pop("iters")
    with pytest.raises(ValueError):
        msa(f0, p["a"], p["b"], tgt, grid, 1.0, box, iters, "tanh", **args)
