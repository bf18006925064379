"""Forward solver: residual network identity, orders in time, width limit, bad input.

Seed 004 eqs. 2.1, 2.6-2.8, Thms 2.1-2.2; book chapter book/meanfield/pde_limit.ipynb.
"""
import math

import pytest
import torch

from savlib.meanfield import (Grid, ForwardOverflowError, autonomous, forward, loss_and_grad,
                              rank_one_unstable, classifier_loss_and_grad, costate)

F64 = torch.float64


def test_grid_points_volume_and_coarsening():
    g = Grid(2, 4)
    assert g.N == 16 and g.volume == pytest.approx(1 / 16)
    assert g.points.shape == (16, 2)
    assert torch.allclose(g.points[1], torch.tensor([0.125, 0.375], dtype=F64))
    assert float(g.volume * g.sample(lambda p: p[:, 0] * 0 + 1).sum()) == pytest.approx(1.0)
    fine = Grid(2, 12)
    v = fine.sample(lambda p: p[:, 0] + 2 * p[:, 1])
    c = g.coarsen(v, fine)
    # the cell average of a linear function is its value at the centre
    assert torch.allclose(c, g.sample(lambda p: p[:, 0] + 2 * p[:, 1]), atol=1e-14)
    assert torch.allclose(g.coarsen(g.refine(c, fine), fine), c)
    with pytest.raises(ValueError, match="multiple"):
        g.coarsen(v, Grid(2, 10))
    for bad in [(0, 3), (2, 0)]:
        with pytest.raises(ValueError):
            Grid(*bad)
    with pytest.raises(TypeError):
        Grid(1.5, 3)


@pytest.mark.parametrize("sigma", ["relu", "tanh"])
def test_euler_is_exactly_a_residual_network(sigma):
    """Eq. 2.1: z_{l+1} = z_l + tau sigma(a_l - B_l z_l) with B_l = volume * b_l."""
    grid = Grid(1, 7)
    g = torch.Generator().manual_seed(0)
    f0 = torch.randn(3, 7, generator=g, dtype=F64)
    a = torch.randn(5, 7, generator=g, dtype=F64)
    b = torch.randn(5, 7, 7, generator=g, dtype=F64)
    traj = forward(f0, a, b, grid, 2.0, "euler", sigma)
    act = torch.relu if sigma == "relu" else torch.tanh
    z = f0
    for l in range(5):
        z = z + 0.4 * act(a[l] - z @ (b[l] / 7).T)
        assert torch.allclose(traj[l + 1], z, rtol=1e-14, atol=1e-14)
    assert traj.shape == (6, 3, 7)


@pytest.mark.parametrize("method,order,subs", [("euler", 1, (32, 64, 128)),
                                               ("heun", 2, (8, 16, 32)),
                                               ("rk4", 4, (2, 4, 8))])
def test_orders_of_convergence_in_time(method, order, subs):
    grid = Grid(1, 8)
    g = torch.Generator().manual_seed(1)
    f0 = torch.randn(2, 8, generator=g, dtype=F64)
    a = torch.randn(4, 8, generator=g, dtype=F64)  # piecewise constant in time
    b = 2 * torch.randn(4, 8, 8, generator=g, dtype=F64)
    ref = forward(f0, a, b, grid, 1.0, "rk4", "tanh", substeps=256)[-1]
    errs = [float((forward(f0, a, b, grid, 1.0, method, "tanh", substeps=s)[-1] - ref).norm())
            for s in subs]
    orders = [math.log2(errs[i] / errs[i + 1]) for i in range(len(errs) - 1)]
    assert abs(orders[-1] - order) < 0.1, orders


def test_width_limit_rate():
    """Thm 2.2: the width-M^dim network converges to the fine-grid solution; the midpoint
    rule makes the cell-averaged error O(h^2)."""
    a_fn = lambda p: torch.sin(2 * math.pi * p[:, 0])
    b_fn = lambda y, z: 2 * torch.cos(math.pi * (y[..., 0] - z[..., 0])) + y[..., 0] * z[..., 0]
    f_fn = lambda p: torch.cos(2 * math.pi * p[:, 0]) + p[:, 0]

    def solve(M):
        grid = Grid(1, M)
        a, b = autonomous(grid.sample(a_fn), grid.kernel(b_fn), 10)
        return grid, forward(grid.sample(f_fn)[None], a, b, grid, 1.0, "rk4", "tanh")[-1]

    fine, ref = solve(512)
    errs = []
    for M in (8, 16, 32, 64):
        grid, fT = solve(M)
        errs.append(float(grid.norm(grid.coarsen(ref, fine) - fT)))
    rates = [math.log2(errs[i] / errs[i + 1]) for i in range(len(errs) - 1)]
    assert abs(rates[-1] - 2) < 0.15, rates


# ------------------------------------------------------------------ bad input
def _ok():
    grid = Grid(1, 4)
    return (torch.zeros(2, 4, dtype=F64), torch.zeros(3, 4, dtype=F64),
            torch.zeros(3, 4, 4, dtype=F64), grid)


@pytest.mark.parametrize("change,exc,match", [
    (lambda f0, a, b: (f0[:, :3], a, b), ValueError, "f0 must have shape"),
    (lambda f0, a, b: (f0[0], a, b), ValueError, r"f0 must have shape"),
    (lambda f0, a, b: (f0, a[:, :3], b), ValueError, "a must have shape"),
    (lambda f0, a, b: (f0, a, b[:, :3]), ValueError, "b must have shape"),
    (lambda f0, a, b: (f0, a[:2], b), ValueError, "same number of steps"),
    (lambda f0, a, b: (f0, a[:0], b[:0]), ValueError, "at least one time step"),
    (lambda f0, a, b: (f0, a.float(), b), TypeError, "dtype"),
    (lambda f0, a, b: (f0.long(), a, b), TypeError, "floating dtype"),
    (lambda f0, a, b: (f0, a.to("meta"), b), ValueError, "device"),
    (lambda f0, a, b: (f0.numpy(), a, b), TypeError, "torch.Tensor"),
])
def test_bad_shapes_dtypes_devices(change, exc, match):
    f0, a, b, grid = _ok()
    f0, a, b = change(f0, a, b)
    with pytest.raises(exc, match=match):
        forward(f0, a, b, grid, 1.0)
    with pytest.raises(exc, match=match):
        loss_and_grad(f0, a, b, torch.zeros(2, 4, dtype=F64), grid, 1.0)


@pytest.mark.parametrize("T", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_T(T):
    f0, a, b, grid = _ok()
    with pytest.raises(ValueError, match="T must be"):
        forward(f0, a, b, grid, T)


def test_bad_method_activation_grid_target_reg():
    f0, a, b, grid = _ok()
    with pytest.raises(ValueError, match="unknown method"):
        forward(f0, a, b, grid, 1.0, method="rk3")
    with pytest.raises(ValueError, match="unknown activation"):
        forward(f0, a, b, grid, 1.0, sigma="swish")
    with pytest.raises(TypeError, match="Grid"):
        forward(f0, a, b, 4, 1.0)
    with pytest.raises(ValueError, match="target must have shape"):
        loss_and_grad(f0, a, b, torch.zeros(3, 4, dtype=F64), grid, 1.0)
    with pytest.raises(TypeError, match="target has dtype"):
        loss_and_grad(f0, a, b, torch.zeros(2, 4), grid, 1.0)
    with pytest.raises(ValueError, match="reg"):
        loss_and_grad(f0, a, b, torch.zeros(2, 4, dtype=F64), grid, 1.0, reg=-1.0)
    with pytest.raises(ValueError, match="checkpoint"):
        loss_and_grad(f0, a, b, torch.zeros(2, 4, dtype=F64), grid, 1.0, checkpoint=0)
    with pytest.raises(ValueError, match="substeps"):
        forward(f0, a, b, grid, 1.0, substeps=0)
    W, mu = torch.zeros(3, 4, dtype=F64), torch.zeros(3, dtype=F64)
    with pytest.raises(ValueError, match="labels must lie"):
        classifier_loss_and_grad(f0, a, b, torch.tensor([0, 3]), W, mu, grid, 1.0)
    with pytest.raises(TypeError, match="labels must be an int64"):
        classifier_loss_and_grad(f0, a, b, torch.tensor([0.0, 1.0]), W, mu, grid, 1.0)
    with pytest.raises(ValueError, match="unknown loss"):
        classifier_loss_and_grad(f0, a, b, torch.tensor([0, 1]), W, mu, grid, 1.0, loss="hinge")
    with pytest.raises(ValueError, match="W must have shape"):
        classifier_loss_and_grad(f0, a, b, torch.tensor([0, 1]), W[:, :3], mu, grid, 1.0)
    with pytest.raises(ValueError, match="traj must have shape"):
        costate(torch.zeros(3, 2, 4, dtype=F64), a, b, f0, grid, 1.0)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_overflow_reports_the_step(method):
    """Rank-one ReLU example with a huge c: each Euler step multiplies f by 1 + dt c."""
    grid = Grid(1, 4)
    a1, b1, f0 = rank_one_unstable(grid, c=1000.0, dtype=torch.float32)
    a, b = autonomous(a1, b1, 100)
    dt = 0.01
    if method == "euler":
        growth = 1 + dt * 1000.0
    else:  # RK4 on the linear growth f' = c f: the stability polynomial
        z = dt * 1000.0
        growth = 1 + z + z ** 2 / 2 + z ** 3 / 6 + z ** 4 / 24
    # |f| itself passes float32's max after about this many steps (intermediate products in
    # B f overflow a few steps earlier)
    estimate = math.log(torch.finfo(torch.float32).max) / math.log(growth)
    with pytest.raises(ForwardOverflowError, match="overflowed at step") as err:
        forward(f0, a, b, grid, 1.0, method, "relu")
    k = err.value.step
    assert estimate - 5 <= k <= estimate + 1
    # exactly: the first k-1 steps are finite, step k is not
    ok = forward(f0, a[:k - 1], b[:k - 1], grid, dt * (k - 1), method, "relu")
    assert bool(torch.isfinite(ok).all())
    with pytest.raises(ForwardOverflowError):
        forward(f0, a[:k], b[:k], grid, dt * k, method, "relu")
    with pytest.raises(ForwardOverflowError):
        loss_and_grad(f0, a, b, f0, grid, 1.0, method, "relu")
