"""Cole-Hopf solution of the Burgers problem of Ma, Mao & Shen 2024, Example 5
(savlib.problems.burgers)."""
import math

import numpy as np
import pytest
import torch

from savlib.problems import BURGERS_NU, burgers_exact, burgers_reference, burgers_test_grid


@pytest.fixture(scope="module")
def grid():
    x, t = burgers_test_grid()
    X, T = np.meshgrid(x, t, indexing="ij")
    return x, t, X, T, burgers_exact(X, T)


def test_quadrature_converged_in_nodes_and_rules(grid):
    x, t, X, T, u = grid
    assert u.shape == (256, 100) and u.dtype == np.float64
    # doubling the trapezoid nodes and an independent Gauss-Hermite rule agree to round-off
    u_fine = burgers_exact(X, T, n_nodes=481)
    u_gh = burgers_exact(X, T, method="hermite", n_nodes=200)
    assert np.abs(u - u_fine).max() < 1e-13
    assert np.abs(u - u_gh).max() < 1e-13
    # a too-coarse rule is visibly wrong, so the comparison above has teeth
    assert np.abs(burgers_exact(X, T, n_nodes=25) - u).max() > 1e-6


def test_matches_independent_spectral_solve(grid):
    x, t, X, T, u = grid
    ref = burgers_reference(x, t, n=2048, dt=2.5e-4)
    err = np.abs(ref - u).max()
    assert err < 1e-8, err
    # a steep front forms at x = 0: the slope grows from pi (t = 0) past 100 (t = 0.5)
    xs = np.linspace(-0.02, 0.02, 4001)
    slope = np.abs(np.diff(burgers_exact(xs, 0.5)) / np.diff(xs)).max()
    assert 100 < slope < 1 / BURGERS_NU


def test_finite_difference_solve_converges_to_cole_hopf(grid):
    x, t, X, T, u = grid
    errs = [np.abs(burgers_reference(x, t[::11], n=n, dt=5e-4, space="fd2") - u[:, ::11]).max()
            for n in (1024, 2048)]
    assert errs[1] < 2e-3
    assert 3.0 < errs[0] / errs[1] < 5.0  # second order in dx


def test_satisfies_pde_by_finite_differences():
    x = np.linspace(-0.9, 0.9, 7)
    t = np.array([0.1, 0.3, 0.8])
    X, T = np.meshgrid(x, t, indexing="ij")
    h, k = 1e-3, 1e-4
    u = burgers_exact(X, T)
    ux = (burgers_exact(X + h, T) - burgers_exact(X - h, T)) / (2 * h)
    uxx = (burgers_exact(X + h, T) - 2 * u + burgers_exact(X - h, T)) / h**2
    ut = (burgers_exact(X, T + k) - burgers_exact(X, T - k)) / (2 * k)
    res = ut + u * ux - BURGERS_NU * uxx
    scale = np.abs(ut).max()
    assert np.abs(res).max() < 1e-3 * scale


def test_initial_boundary_values_and_symmetry(grid):
    x, t, X, T, u = grid
    np.testing.assert_allclose(u[:, 0], -np.sin(math.pi * x), atol=1e-15)
    assert np.abs(u[0]).max() < 1e-14 and np.abs(u[-1]).max() < 1e-14
    np.testing.assert_allclose(u[::-1], -u, atol=1e-13)  # odd in x


def test_tensor_in_tensor_out():
    x = torch.linspace(-1, 1, 5, dtype=torch.float32)
    out = burgers_exact(x, torch.tensor(0.5))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (5,)
    np.testing.assert_allclose(out.numpy(), burgers_exact(x.numpy().astype(np.float64), 0.5), atol=1e-6)
    assert isinstance(burgers_exact(0.2, 0.4), np.ndarray)


def test_small_viscosity_does_not_overflow():
    u = burgers_exact(np.linspace(-1, 1, 11), 1.0, nu=1e-4)
    assert np.all(np.isfinite(u)) and np.abs(u).max() <= 1.0 + 1e-12


@pytest.mark.parametrize("kw, exc", [
    (dict(nu=0.0), ValueError), (dict(nu=float("nan")), ValueError),
    (dict(method="simpson"), ValueError), (dict(n_nodes=1), ValueError),
])
def test_bad_arguments(kw, exc):
    with pytest.raises(exc):
        burgers_exact(0.1, 0.5, **kw)


def test_bad_inputs():
    with pytest.raises(ValueError, match="t must be >= 0"):
        burgers_exact(0.1, -0.5)
    with pytest.raises(ValueError, match="finite"):
        burgers_exact(np.nan, 0.5)
    with pytest.raises(TypeError):
        burgers_exact("a", 0.5)
    with pytest.raises(ValueError, match="space"):
        burgers_reference([0.0], [0.1], space="fem")
    with pytest.raises(ValueError, match="even"):
        burgers_reference([0.0], [0.1], n=101)


def test_steepest_slope_matches_basdevant_1986():
    """Basdevant et al., Comput. Fluids 14 (1986): max |u_x| = 152.00516 at t = 1.6037/pi
    (x = 0), the classical benchmark value for this problem."""
    from scipy.optimize import minimize_scalar

    h = 1e-6
    slope = lambda t: float((burgers_exact(h, t) - burgers_exact(-h, t)) / (2 * h))  # noqa: E731
    r = minimize_scalar(slope, bounds=(0.45, 0.55), method="bounded", options={"xatol": 1e-9})
    assert abs(-r.fun - 152.00516) < 1e-4
    assert abs(r.x - 1.6037 / math.pi) < 1e-4


# Points where the Cole-Hopf integrand is hardest: the front at x ~ 0 for t >= 0.3, where
# the mass of the integrand in z splits into two sharp lumps of opposite sign of
# sin(pi y), plus the steepest point (t = 1.6037/pi) and ordinary points for contrast.
_HARD_POINTS = [(0.02, 0.4), (0.02, 0.55), (0.02, 0.7), (0.002, 0.5), (-0.005, 0.6),
                (1e-4, 1.6037 / math.pi), (1e-6, 1.0), (0.05, 0.9), (0.5, 1.0), (-0.9, 0.05)]


def _mp_reference(x: float, t: float, dps: int = 50) -> float:
    """Cole-Hopf quotient by mpmath's tanh-sinh quadrature at ``dps`` digits, split at every
    unit of z on [-30, 30] (beyond, the integrand is below e^-850 of its peak). At 30 digits
    mpmath's rule stops early here (errors up to 1e-9 at the front); from 50 on it agrees
    with itself to round-off, which the test checks."""
    import mpmath as mp

    with mp.workdps(dps):
        x, t = mp.mpf(x), mp.mpf(t)
        nu = 1 / (100 * mp.pi)
        k = 1 / (2 * mp.pi * nu)
        s = 2 * mp.sqrt(nu * t)
        shift = k            # exponent of the largest possible value, to stay in range
        f = lambda z: mp.exp(-z**2 - k * mp.cos(mp.pi * (x - s * z)) - shift)  # noqa: E731
        g = lambda z: mp.sin(mp.pi * (x - s * z)) * f(z)  # noqa: E731
        cuts = [-mp.inf] + [mp.mpf(c) for c in range(-30, 31)] + [mp.inf]
        return float(-mp.quad(g, cuts) / mp.quad(f, cuts))


def _scipy_reference(x: float, t: float) -> float:
    """The same quotient by scipy's adaptive QUADPACK rule (float64, tolerances at round-off),
    on the window |z| <= 30 cut at every unit: a second, independent reference."""
    from scipy.integrate import quad

    nu = BURGERS_NU
    k = 1 / (2 * math.pi * nu)
    s = 2 * math.sqrt(nu * t)
    zs = np.linspace(-30, 30, 2001)
    top = np.max(-zs**2 - k * np.cos(math.pi * (x - s * zs)))
    f = lambda z: math.exp(-z * z - k * math.cos(math.pi * (x - s * z)) - top)  # noqa: E731
    num = den = 0.0
    for a in range(-30, 30):
        num += quad(lambda z: math.sin(math.pi * (x - s * z)) * f(z), a, a + 1, epsabs=1e-300,
                    epsrel=1e-12, limit=200)[0]
        den += quad(f, a, a + 1, epsabs=1e-300, epsrel=1e-12, limit=200)[0]
    return -num / den


@pytest.mark.parametrize("x, t", _HARD_POINTS)
def test_accurate_to_1e_10_at_the_front_against_converged_quadrature(x, t):
    u = float(burgers_exact(x, t))
    ref = _mp_reference(x, t)
    assert abs(u - ref) <= 1e-10, (u, ref)
    # the reference is converged: more digits change nothing at this level
    assert abs(_mp_reference(x, t, dps=60) - ref) <= 1e-14
    assert abs(_scipy_reference(x, t) - ref) <= 1e-10


def test_dense_window_at_the_front_matches_a_wide_fine_trapezoid():
    """Over the whole front region (|x| <= 0.1, 0.05 <= t <= 1) against a trapezoid rule 10
    times finer on a window of |z| <= 40 (wider than the default's): agreement to 1e-12."""
    nu = BURGERS_NU
    k = 1 / (2 * math.pi * nu)
    xs, ts = np.linspace(-0.1, 0.1, 41), np.linspace(0.05, 1.0, 20)
    X, T = np.meshgrid(xs, ts, indexing="ij")
    z = np.arange(-40.0, 40.0 + 1e-9, 0.01)
    y = X.ravel()[:, None] - 2 * np.sqrt(nu * T.ravel()[:, None]) * z[None, :]
    a = -z[None, :] ** 2 - k * np.cos(math.pi * y)
    w = np.exp(a - a.max(axis=1, keepdims=True))
    fine = (-(w * np.sin(math.pi * y)).sum(axis=1) / w.sum(axis=1)).reshape(X.shape)
    assert np.abs(burgers_exact(X, T) - fine).max() <= 1e-12
