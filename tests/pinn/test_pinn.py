"""PINN problems of Ma, Mao & Shen 2024 (Ex. 5) and Li, Chen & Huang 2023 (sec. 2.2, eqs. 19-21):
savlib.problems.pinn."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from savlib.problems import (
    BURGERS_NU, Burgers, Helmholtz2D, PerturbedODE, PINNData, Poisson1D, Poisson2D, mlp,
    poisson1d_low, poisson1d_multiscale,
)

SMALL = [
    lambda: poisson1d_low(n_f=64),
    lambda: poisson1d_multiscale(n_f=64),
    lambda: PerturbedODE(eps=2.0, n_f=64),
    lambda: PerturbedODE(eps=0.01, n_f=64),
    lambda: Poisson2D(n_f=128, n_b=32),
    lambda: Helmholtz2D(n_f=128, n_b=32),
]
IDS = ["poisson-L", "poisson-H", "ode-2", "ode-0.01", "poisson2d", "helmholtz"]


@pytest.mark.parametrize("make", SMALL, ids=IDS)
def test_exact_solution_has_zero_residual_and_loss(make):
    p = make()
    res = p.residual(p.exact, p.data.x_f, dtype=torch.float64)
    f = p.forcing(p.data.x_f)
    # round-off relative to the size of the terms (f reaches ~2.5e3 for u_H)
    assert res.abs().max() < 1e-10 * max(1.0, float(f.abs().max()))
    total, l_data, l_pde = (v.detach() for v in p.loss(p.exact, dtype=torch.float64, parts=True))
    assert float(l_data) < 1e-28 and float(total) == pytest.approx(float(l_pde))
    assert p.relative_l2(p.exact, dtype=torch.float64) == 0.0
    assert p.max_abs_error(p.exact, dtype=torch.float64) == 0.0
    assert p.relative_l2(p.exact, dtype=torch.float32) < 1e-6  # float32 round-off only


@pytest.mark.parametrize("make", SMALL, ids=IDS)
def test_perturbed_solution_has_nonzero_loss(make):
    p = make()
    bump = lambda x: p.exact(x) + 0.01 * torch.sin(3.0 * x.sum(dim=1))  # noqa: E731
    assert float(p.loss(bump, dtype=torch.float64).detach()) > 1e-6
    assert p.relative_l2(bump) > 1e-4


def test_boundary_values_are_zero_for_dirichlet_problems():
    for make in SMALL:
        p = make()
        assert p.data.u_b.abs().max() < 1e-14


def test_burgers_residual_vanishes_on_viscous_shock():
    """The travelling wave u = c - a tanh(a (x - c t) / (2 nu)) solves Burgers exactly."""
    p = Burgers(nx=20, nt=10, n_initial=10, n_boundary=5)
    a, c, nu = 0.7, 0.3, p.nu
    wave = lambda z: c - a * torch.tanh(a * (z[:, 0] - c * z[:, 1]) / (2 * nu))  # noqa: E731
    r = p.residual(wave, p.data.x_f, dtype=torch.float64)
    assert r.abs().max() < 1e-9
    # and a function that is not a solution has an O(1) residual
    r2 = p.residual(lambda z: -torch.sin(math.pi * z[:, 0]), p.data.x_f, dtype=torch.float64)
    assert r2.abs().max() > 0.1


def test_burgers_data_and_reference():
    p = Burgers()
    assert p.data.x_f.shape == (200 * 60, 2)
    t0 = p.data.x_b[:, 1] == 0
    assert torch.allclose(p.data.u_b[t0], -torch.sin(math.pi * p.data.x_b[t0, 0]).to(p.data.u_b.dtype))
    assert p.data.u_b[~t0].abs().max() == 0
    assert p.reference().shape == (256 * 100,) and p.nu == BURGERS_NU
    # the relative error of the initial condition extended in time is O(1), of the reference 0
    assert p.relative_l2(lambda z: -torch.sin(math.pi * z[:, 0]), dtype=torch.float64) > 0.1


def test_autograd_residual_matches_finite_differences():
    torch.manual_seed(0)
    p = poisson1d_multiscale(n_f=16)
    net = mlp([1, 16, 16, 1]).double()
    x = p.data.x_f
    h = 1e-4
    with torch.no_grad():
        u = lambda z: net(z)[:, 0]  # noqa: E731
        uxx = (u(x + h) - 2 * u(x) + u(x - h)) / h**2
    fd = -uxx - p.forcing(x)
    assert torch.allclose(p.residual(net, x), fd, atol=1e-5 * float(fd.abs().max()))


def test_helmholtz_laplacian_matches_finite_differences():
    torch.manual_seed(1)
    p = Helmholtz2D(n_f=8, n_b=4)
    net = mlp([2, 12, 12, 1]).double()
    x = p.data.x_f
    h = 1e-4
    e0, e1 = torch.tensor([h, 0.0], dtype=x.dtype), torch.tensor([0.0, h], dtype=x.dtype)
    with torch.no_grad():
        u = lambda z: net(z)[:, 0]  # noqa: E731
        lap = (u(x + e0) + u(x - e0) + u(x + e1) + u(x - e1) - 4 * u(x)) / h**2
    fd = (lap + p.k**2 * u(x) - p.forcing(x)).detach()
    assert torch.allclose(p.residual(net, x), fd, atol=1e-5 * float(fd.abs().max()))


def test_poisson2d_sign_follows_eq20_not_the_printed_loss():
    """Li, Chen & Huang 2023 prints the residual u_xx + u_yy - f; with -Lap u = f that is minimised
    by -u. Our residual vanishes on u, not on -u."""
    p = Poisson2D(n_f=64, n_b=16)
    assert float(p.loss(p.exact, dtype=torch.float64).detach()) < 1e-20
    assert float(p.loss(lambda z: -p.exact(z), dtype=torch.float64).detach()) > 1.0


def test_sampling_is_seeded_and_in_the_domain():
    a, b, c = Poisson2D(seed=3), Poisson2D(seed=3), Poisson2D(seed=4)
    assert torch.equal(a.data.x_f, b.data.x_f) and torch.equal(a.data.x_b, b.data.x_b)
    assert not torch.equal(a.data.x_f, c.data.x_f)
    assert ((a.data.x_f > 0) & (a.data.x_f < 1)).all()
    xb = a.data.x_b
    on_edge = (xb == 0) | (xb == 1)
    assert on_edge.any(dim=1).all() and ((xb >= 0) & (xb <= 1)).all()
    # all four edges are hit
    assert (xb[:, 0] == 0).any() and (xb[:, 0] == 1).any() and (xb[:, 1] == 0).any() and (xb[:, 1] == 1).any()
    g = torch.Generator().manual_seed(11)
    d1 = a.sample(g)
    d2 = a.sample(g)
    assert not torch.equal(d1.x_f, d2.x_f)  # resampling draws new points
    o = PerturbedODE(seed=5)
    assert o.data.x_f.shape == (400, 1) and ((o.data.x_f > 0) & (o.data.x_f < 1)).all()


def test_dtype_and_device_follow_the_model():
    p = Helmholtz2D(n_f=32, n_b=8)
    net32 = mlp([2, 8, 1], dtype=torch.float32)
    loss = p.loss(net32)
    assert loss.dtype == torch.float32 and loss.requires_grad
    loss.backward()
    assert all(q.grad is not None for q in net32.parameters())
    net64 = mlp([2, 8, 1], dtype=torch.float64)
    assert p.loss(net64).dtype == torch.float64
    assert p.residual(p.exact, p.data.x_f, dtype=torch.float32).dtype == torch.float32


def test_ode_exact_has_boundary_layer_and_no_overflow_in_float32():
    p = PerturbedODE(eps=0.01)
    x = torch.tensor([[0.0], [0.5], [0.99], [1.0]], dtype=torch.float32)
    y = p.exact(x)
    assert torch.isfinite(y).all()
    assert abs(float(y[0])) < 1e-6 and abs(float(y[-1])) < 1e-6
    assert float(y[1]) == pytest.approx(math.sin(math.pi / 4), abs=1e-6)  # outside the layer: sin
    assert float(y[2]) < 0.7  # inside the layer it drops to 0


@settings(max_examples=15, deadline=None)
@given(freq=st.integers(1, 60), amp=st.floats(-1, 1))
def test_poisson1d_forcing_is_minus_second_derivative(freq, amp):
    p = Poisson1D(amp=amp, freq=freq, n_f=8, n_test=11)
    x = p.data.x_f.clone().requires_grad_(True)
    u = p.exact(x)
    du = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    uxx = torch.autograd.grad(du.sum(), x)[0][:, 0]
    assert torch.allclose(-uxx, p.forcing(x.detach()), atol=1e-9 * (1 + freq**2 * 10))
    assert abs(float(p.exact(torch.tensor([[0.0], [1.0]], dtype=torch.float64)).abs().max())) < 1e-12


def test_default_models_follow_the_papers():
    def hidden(m):
        return [layer.out_features for layer in m if isinstance(layer, torch.nn.Linear)][:-1]

    assert hidden(Burgers(nx=4, nt=4).default_model()) == [32] * 5
    assert hidden(poisson1d_low(n_f=4).default_model()) == [200] * 5
    assert hidden(PerturbedODE(n_f=4).default_model()) == [50] * 4
    assert hidden(Poisson2D(n_f=4, n_b=4).default_model()) == [100] * 6
    assert hidden(Helmholtz2D(n_f=4, n_b=4).default_model(widths=[7, 7])) == [7, 7]


def test_mlp_seeded_by_generator():
    a = mlp([2, 5, 1], generator=torch.Generator().manual_seed(0))
    b = mlp([2, 5, 1], generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert isinstance(a[1], torch.nn.Tanh) and len(a) == 3
    assert isinstance(mlp([1, 3, 1], "sin")(torch.zeros(2, 1)), torch.Tensor)


@pytest.mark.parametrize("call, exc", [
    (lambda: mlp([3]), ValueError),
    (lambda: mlp([1, 0, 1]), ValueError),
    (lambda: mlp([1, 2, 1], "relu6"), ValueError),
    (lambda: mlp([1, 2, 1], 3), TypeError),
    (lambda: Poisson1D(freq=2.5), ValueError),
    (lambda: Poisson1D(n_f=0), ValueError),
    (lambda: PerturbedODE(eps=-1.0), ValueError),
    (lambda: Burgers(nu=0.0), ValueError),
    (lambda: Helmholtz2D(a2=0), ValueError),
    (lambda: Poisson2D(seed=-1), ValueError),
    (lambda: Poisson2D(w_pde=-1.0), ValueError),
])
def test_bad_construction(call, exc):
    with pytest.raises(exc):
        call()


def test_bad_calls():
    p = poisson1d_low(n_f=8)
    with pytest.raises(TypeError, match="callable"):
        p.loss(3)
    with pytest.raises(ValueError, match="output"):
        p.loss(lambda x: x.repeat(1, 2))
    with pytest.raises(TypeError, match="PINNData"):
        p.loss(p.exact, data=(1, 2))
    with pytest.raises(ValueError, match="shape"):
        p.residual(p.exact, torch.zeros(4, 2))
    with pytest.raises(TypeError, match="Generator"):
        p.sample(generator=0)
    with pytest.raises(ValueError):
        p.loss(p.exact, data=PINNData(torch.zeros(3, 2), torch.zeros(2, 2), torch.zeros(2)))
