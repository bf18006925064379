"""Stability of the forward problem: seed 004 section 3 (Thms 3.2, 3.4, Prop. 3.5, 3.4's
rank-one example). Book chapter book/meanfield/stability.ipynb."""
import math

import pytest
import torch

from savlib.meanfield import (Grid, autonomous, decay_matrix, forward, gram_matrix,
                              low_rank_kernel, lyapunov, predicted_decay_rate, rank_one_unstable,
                              residual_u, spectrum, steady_state, symmetric_spectrum)

F64 = torch.float64


def _monotone_kernel(grid, seed, skew=1.0):
    """A kernel whose operator B = volume * b has B_s >= 0 (PSD plus skew part)."""
    g = torch.Generator().manual_seed(seed)
    N = grid.N
    S = torch.randn(N, N // 2, generator=g, dtype=F64)
    K = torch.randn(N, N, generator=g, dtype=F64)
    B = S @ S.T / N + skew * (K - K.T) / math.sqrt(N)
    return B / grid.volume


def _two_mode(grid):
    """phi = sqrt2 sin, sqrt2 cos (orthonormal on the midpoint grid), psi mixing them:
    M = D T^T = [[1, .5], [-1.5, 3]] with eigenvalues 1.5 and 2.5, M + M^T > 0."""
    y = grid.points[:, 0]
    phis = torch.stack([math.sqrt(2) * torch.sin(2 * math.pi * y), math.sqrt(2) * torch.cos(2 * math.pi * y)])
    psis = torch.stack([phis[0] + 0.5 * phis[1], -0.5 * phis[0] + phis[1]])
    mus = torch.tensor([1.0, 3.0], dtype=F64)
    return mus, phis, psis


def test_low_rank_spectrum_and_decay_matrix():
    grid = Grid(1, 32)
    mus, phis, psis = _two_mode(grid)
    assert torch.allclose(gram_matrix(phis, phis, grid), torch.eye(2, dtype=F64), atol=1e-13)
    M = decay_matrix(mus, phis, psis, grid)
    assert torch.allclose(M, torch.tensor([[1.0, 0.5], [-1.5, 3.0]], dtype=F64), atol=1e-13)
    assert float(torch.linalg.eigvalsh(M + M.T).min()) > 0  # Thm 3.4 (b)
    ev = spectrum(low_rank_kernel(mus, phis, psis), grid)
    nonzero = ev[ev.abs() > 1e-8]
    assert torch.allclose(torch.sort(nonzero.real).values, torch.tensor([1.5, 2.5], dtype=F64), atol=1e-10)
    assert predicted_decay_rate(mus, phis, psis, grid, "tanh") == pytest.approx(1.5)
    assert predicted_decay_rate(mus, phis, psis, grid, "sigmoid") == pytest.approx(0.375)


def test_thm_3_4_exponential_decay_at_the_predicted_rate():
    grid = Grid(1, 32)
    mus, phis, psis = _two_mode(grid)
    b1 = low_rank_kernel(mus, phis, psis)
    a1 = 0.05 * phis[0]  # a in R(B)
    steps = 1000
    a, b = autonomous(a1, b1, steps)
    traj = forward(torch.zeros(1, grid.N, dtype=F64), a, b, grid, 10.0, "rk4", "tanh")
    un = grid.norm(residual_u(traj[:, 0], a1, b1, grid))
    t = torch.linspace(0, 10, steps + 1, dtype=F64)
    i6, i10 = 600, 1000
    rate = -float(torch.log(un[i10] / un[i6])) / float(t[i10] - t[i6])
    assert rate == pytest.approx(predicted_decay_rate(mus, phis, psis, grid, "tanh"), rel=0.01)
    assert bool((un[1:] < un[:-1]).all())


@pytest.mark.parametrize("seed", [0, 1])
def test_prop_3_5_relu_growth_is_at_most_linear(seed):
    """With B_s >= 0, ||u^+|| is non-increasing, so ||f(t)|| <= ||f_I|| + t ||u_I^+||."""
    grid = Grid(1, 12)
    b1 = _monotone_kernel(grid, seed)
    assert float(symmetric_spectrum(b1, grid).min()) >= -1e-12
    g = torch.Generator().manual_seed(seed + 10)
    a1 = torch.randn(grid.N, generator=g, dtype=F64)
    f0 = torch.randn(1, grid.N, generator=g, dtype=F64)
    steps, T = 2000, 40.0
    a, b = autonomous(a1, b1, steps)
    traj = forward(f0, a, b, grid, T, "rk4", "relu")[:, 0]
    t = torch.linspace(0, T, steps + 1, dtype=F64)
    up = torch.relu(residual_u(traj, a1, b1, grid))
    upn = grid.norm(up)
    assert bool((upn[1:] <= upn[:-1] * (1 + 1e-9) + 1e-12).all())
    bound = grid.norm(f0[0]) + t * upn[0]
    fn = grid.norm(traj)
    assert bool((fn <= bound * (1 + 1e-9)).all())
    assert float(fn[-1]) > 2 * float(fn[0])  # it does grow, so the bound is not vacuous


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_rank_one_example_grows_exponentially(c):
    """Section 3.4: with ReLU and B_s <= 0 the Gronwall bound exp(t sup|b|) is attained."""
    grid = Grid(2, 4)
    a1, b1, f0 = rank_one_unstable(grid, c)
    a, b = autonomous(a1, b1, 200)
    traj = forward(f0, a, b, grid, 3.0, "rk4", "relu")
    growth = float(grid.norm(traj[-1, 0]) / grid.norm(f0[0]))
    assert growth == pytest.approx(math.exp(3.0 * float(b1.abs().max())), rel=1e-6)
    assert float(symmetric_spectrum(b1, grid).min()) < 0


@pytest.mark.parametrize("sigma", ["relu", "leaky_relu", "elu", "tanh", "arctan"])
def test_lyapunov_functional_is_non_increasing(sigma):
    """Thm 3.2 (i): int Sigma(a - B f) dy does not increase when B_s >= 0."""
    grid = Grid(2, 4)
    b1 = _monotone_kernel(grid, 3, skew=2.0)
    g = torch.Generator().manual_seed(4)
    a1 = torch.randn(grid.N, generator=g, dtype=F64)
    f0 = torch.randn(3, grid.N, generator=g, dtype=F64)
    a, b = autonomous(a1, b1, 400)
    traj = forward(f0, a, b, grid, 10.0, "rk4", sigma)
    L = lyapunov(traj, a1, b1, grid, sigma)  # (steps + 1, batch)
    assert bool((L[1:] <= L[:-1] + 1e-12).all())
    assert bool((L[-1] < 0.5 * L[0]).all())  # and it really decreases


def test_lyapunov_can_increase_without_monotonicity():
    grid = Grid(2, 4)
    a1, b1, f0 = rank_one_unstable(grid, 1.0)
    a, b = autonomous(a1, b1, 50)
    traj = forward(f0, a, b, grid, 1.0, "rk4", "relu")
    L = lyapunov(traj[:, 0], a1, b1, grid, "relu")
    assert float(L[-1]) > float(L[0])


def test_steady_states():
    grid = Grid(1, 10)
    b1 = _monotone_kernel(grid, 5) + 0.5 * torch.eye(grid.N, dtype=F64) / grid.volume
    g = torch.Generator().manual_seed(5)
    a1 = torch.randn(grid.N, generator=g, dtype=F64)
    f_inf, res = steady_state(a1, b1, grid)
    assert float(res) < 1e-12
    a, b = autonomous(a1, b1, 20)
    traj = forward(f_inf[None], a, b, grid, 2.0, "rk4", "tanh")
    assert float((traj[-1, 0] - f_inf).abs().max()) < 1e-12
    # and it attracts: B_s > 0 makes u = a - B f decay from another start
    traj = forward(torch.zeros(1, grid.N, dtype=F64), *autonomous(a1, b1, 400), grid, 40.0, "rk4", "tanh")
    assert float(grid.norm(traj[-1, 0] - f_inf)) < 1e-6
    # a not in the range of a rank-one B: no steady state
    y = grid.points[:, 0]
    bl = low_rank_kernel(torch.ones(1, dtype=F64), torch.ones(1, grid.N, dtype=F64), y[None])
    _, res = steady_state(torch.sin(2 * math.pi * y), bl, grid)
    assert float(res) > 0.1
