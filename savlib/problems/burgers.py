"""The exact solution of the viscous Burgers problem of Ma, Mao & Shen 2024, Example 5, and an
independent PDE solve.

The problem (Ma, Mao & Shen 2024, eq. 28; Raissi, Perdikaris & Karniadakis 2019) is

    u_t + u u_x = nu u_xx,   x in (-1, 1), t in (0, 1],
    u(x, 0) = -sin(pi x),    u(-1, t) = u(1, t) = 0,      nu = 0.01 / pi.

The Cole-Hopf substitution ``u = -2 nu phi_x / phi`` turns it into the heat equation
``phi_t = nu phi_xx`` with ``phi(x, 0) = exp(-cos(pi x) / (2 pi nu))`` (up to a constant
factor, which cancels). Convolving with the heat kernel and writing the shift as
``eta = 2 sqrt(nu t) z`` gives

    u(x, t) = - int sin(pi y(z)) exp(a(z)) dz / int exp(a(z)) dz,
    y(z) = x - 2 sqrt(nu t) z,    a(z) = -z^2 - cos(pi y(z)) / (2 pi nu).

Both integrands are entire functions of ``z`` that decay like a Gaussian, so

* the trapezoidal rule on a uniform grid in ``z`` (the default, ``method="trapezoid"``)
  converges like ``exp(-c / h^2)`` in the spacing ``h``: continuing ``z -> z + i b``
  multiplies the integrand by at most ``exp((1 + pi t) b^2)``, so the error is about
  ``exp(-pi^2 / ((1 + pi t) h^2))``, below 1e-25 for the default ``h = 0.1``;
* Gauss-Hermite quadrature (``method="hermite"``) is an independent second rule.

The integrand is not centred at ``z = 0``: near the shock its mass sits in two lumps
near ``z = +-(x -+ 1) / (2 sqrt(nu t))``. The grid therefore covers
``|z| <= sqrt(1 / (pi nu) + 40)``, beyond which the integrand is below ``e^-40`` times its
maximum, and exponents are shifted by their maximum (log-sum-exp) so nothing
overflows for small ``nu``. Each lump is about ``1 / sqrt(2 + 2 pi t)`` wide in ``z``
(the curvature of ``a`` there), i.e. several nodes of spacing 0.1, which is why the plain
trapezoid rule stays exact at the front.

Accuracy (``tests/pinn/test_burgers.py``): against a converged mpmath evaluation at 50
digits and scipy's adaptive quadrature, at the front (``x ~ 0.02``, ``t = 0.4 .. 0.7``, and
the steepest point) the default rule agrees to 1e-15; over ``|x| <= 0.1`` with a rule ten
times finer on a wider window, to 1e-12. (At 30 digits mpmath's own rule stops early there
and is off by up to 1e-9: a reference must be shown to be converged.) The tests also check
the result against :func:`burgers_reference`, a fine Fourier pseudo-spectral (or
finite-difference) method-of-lines solve with ETDRK4 time stepping, which shares no
formula with the quadrature.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["BURGERS_NU", "burgers_exact", "burgers_reference", "burgers_test_grid"]

#: The viscosity of Ma, Mao & Shen 2024, Example 5 (and of Raissi et al. 2019).
BURGERS_NU = 0.01 / math.pi


def _check_nu(nu: float) -> float:
    nu = float(nu)
    if not (nu > 0 and math.isfinite(nu)):
        raise ValueError(f"nu must be a finite number > 0, got {nu!r}")
    return nu


def _to_numpy(a, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().to(torch.float64).numpy()
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, array or tensor of reals, got {type(a).__name__}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _nodes(nu: float, method: str, n_nodes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes ``z`` and log-weights (including the Gaussian for the trapezoid)."""
    if method == "trapezoid":
        zmax = math.sqrt(1.0 / (math.pi * nu) + 40.0)
        n = int(n_nodes) if n_nodes is not None else 2 * int(math.ceil(zmax / 0.1)) + 1
        if n < 3:
            raise ValueError(f"n_nodes must be >= 3, got {n}")
        z = np.linspace(-zmax, zmax, n)
        h = z[1] - z[0]
        return z, math.log(h) - z**2
    if method == "hermite":
        n = int(n_nodes) if n_nodes is not None else 160
        if n < 2:
            raise ValueError(f"n_nodes must be >= 2, got {n}")
        z, w = np.polynomial.hermite.hermgauss(n)
        keep = w > 0
        return z[keep], np.log(w[keep])
    raise ValueError(f"method must be 'trapezoid' or 'hermite', got {method!r}")


def burgers_exact(x, t, nu: float = BURGERS_NU, *, method: str = "trapezoid",
                  n_nodes: int | None = None, chunk: int = 8192):
    """Exact solution of the Burgers problem (Ma, Mao & Shen 2024, eq. 28) by the Cole-Hopf transform.

    ``x`` and ``t`` are numbers, arrays or tensors that broadcast against each other;
    the result has the broadcast shape. NumPy in, NumPy (float64) out; a tensor in,
    a tensor out (on the device and with the floating dtype of the first tensor
    argument), though the quadrature itself always runs in float64 on the CPU.

    ``method`` picks the quadrature in the scaled variable ``z`` (see the module
    docstring): ``"trapezoid"`` (default; about 240 nodes for ``nu = 0.01/pi``) or
    ``"hermite"`` (Gauss-Hermite, ``n_nodes`` defaults to 160). At ``t = 0`` the
    formula returns ``-sin(pi x)`` exactly. The formula solves the 2-periodic problem
    on the whole line, whose odd symmetry gives the zero boundary values at
    ``x = +-1``; any real ``x`` is accepted.
    """
    nu = _check_nu(nu)
    ref = x if isinstance(x, torch.Tensor) else (t if isinstance(t, torch.Tensor) else None)
    xa, ta = np.broadcast_arrays(_to_numpy(x, "x"), _to_numpy(t, "t"))
    if np.any(ta < 0):
        raise ValueError("t must be >= 0")
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    z, logw = _nodes(nu, method, n_nodes)
    xf, tf = xa.ravel(), ta.ravel()
    out = np.empty_like(xf)
    kappa = 1.0 / (2.0 * math.pi * nu)
    for lo in range(0, xf.size, chunk):
        xs, ts = xf[lo:lo + chunk, None], tf[lo:lo + chunk, None]
        y = xs - 2.0 * np.sqrt(nu * ts) * z[None, :]
        a = logw[None, :] - kappa * np.cos(math.pi * y)
        a -= a.max(axis=1, keepdims=True)
        w = np.exp(a)
        out[lo:lo + chunk] = -(w * np.sin(math.pi * y)).sum(axis=1) / w.sum(axis=1)
    out = out.reshape(xa.shape)
    if ref is not None:
        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        return torch.as_tensor(out, dtype=dtype, device=ref.device)
    return out


def burgers_test_grid(nx: int = 256, nt: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """The usual evaluation grid: ``x = linspace(-1, 1, nx)``, ``t = linspace(0, 1, nt)``
    (256 x 100 is the grid of the widely used reference data set). Returns 1-d arrays."""
    if not (isinstance(nx, int) and isinstance(nt, int) and nx >= 2 and nt >= 2):
        raise ValueError(f"nx and nt must be ints >= 2, got {nx!r}, {nt!r}")
    return np.linspace(-1.0, 1.0, nx), np.linspace(0.0, 1.0, nt)


def _etdrk4_coefficients(L: np.ndarray, h: float, m: int = 32):
    """Kassam-Trefethen (2005) contour-integral evaluation of the ETDRK4 weights."""
    r = np.exp(1j * math.pi * (np.arange(1, m + 1) - 0.5) / m)
    LR = h * L[:, None] + r[None, :]
    E = np.exp(h * L)
    E2 = np.exp(h * L / 2)
    Q = h * np.real(np.mean((np.exp(LR / 2) - 1) / LR, axis=1))
    f1 = h * np.real(np.mean((-4 - LR + np.exp(LR) * (4 - 3 * LR + LR**2)) / LR**3, axis=1))
    f2 = h * np.real(np.mean((2 + LR + np.exp(LR) * (-2 + LR)) / LR**3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * LR - LR**2 + np.exp(LR) * (4 - LR)) / LR**3, axis=1))
    return E, E2, Q, f1, f2, f3


def burgers_reference(x, t, nu: float = BURGERS_NU, *, n: int = 2048, dt: float = 2.5e-4,
                      space: str = "spectral"):
    """An independent numerical solve of the Burgers problem, to check :func:`burgers_exact`.

    Method of lines on the periodic interval [-1, 1) with ``n`` equispaced points (the
    solution is odd and 2-periodic, so the periodic problem has the zero boundary
    values), the conservative form ``u_t = nu u_xx - (u^2/2)_x``, and ETDRK4 in time
    (Cox-Matthews; coefficients by the Kassam-Trefethen contour integral) with a step
    of at most ``dt``. ``space`` chooses the derivatives:

    * ``"spectral"``: Fourier pseudo-spectral (exact symbols ``i k``, ``-k^2``);
    * ``"fd2"`` / ``"fd4"``: second/fourth-order central finite differences (on a
      periodic grid these are diagonal in Fourier space, with symbols
      ``i sin(k dx)/dx`` and ``-4 sin^2(k dx/2)/dx^2`` for ``fd2``).

    ``x`` is a 1-d array of positions in [-1, 1], ``t`` a 1-d array of times >= 0;
    returns the float64 array ``u[i, j] = u(x[i], t[j])`` (the Fourier interpolant of
    the grid solution, evaluated exactly at ``x``).
    """
    nu = _check_nu(nu)
    xa, ta = _to_numpy(x, "x"), _to_numpy(t, "t")
    if xa.ndim != 1 or ta.ndim != 1:
        raise ValueError("x and t must be 1-d")
    if np.any(ta < 0):
        raise ValueError("t must be >= 0")
    if not (isinstance(n, int) and n >= 8 and n % 2 == 0):
        raise ValueError(f"n must be an even int >= 8, got {n!r}")
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be > 0, got {dt!r}")
    m = np.arange(n // 2 + 1)
    k = math.pi * m  # wavenumbers for period 2
    dx = 2.0 / n
    if space == "spectral":
        dk, lap = 1j * k, -(k**2)
    elif space == "fd2":
        dk, lap = 1j * np.sin(k * dx) / dx, -4.0 * np.sin(k * dx / 2) ** 2 / dx**2
    elif space == "fd4":
        dk = 1j * (8 * np.sin(k * dx) - np.sin(2 * k * dx)) / (6 * dx)
        lap = (-30 + 32 * np.cos(k * dx) - 2 * np.cos(2 * k * dx)) / (12 * dx**2)
    else:
        raise ValueError(f"space must be 'spectral', 'fd2' or 'fd4', got {space!r}")
    dk = dk.copy()
    dk[-1] = 0.0  # the Nyquist mode of an odd derivative is not representable
    L = nu * lap

    def nonlinear(v: np.ndarray) -> np.ndarray:
        u = np.fft.irfft(v, n)
        return -0.5 * dk * np.fft.rfft(u * u)

    grid = -1.0 + dx * np.arange(n)
    v = np.fft.rfft(-np.sin(math.pi * grid))
    order = np.argsort(ta)
    phase = np.exp(1j * np.pi * np.outer(xa + 1.0, m))  # e^{i k (x + 1)}
    weight = np.full(m.size, 2.0)
    weight[0] = 1.0
    weight[-1] = 0.0
    out = np.empty((xa.size, ta.size))
    coeffs: dict[float, tuple] = {}
    now = 0.0
    for j in order:
        span = ta[j] - now
        if span > 0:
            steps = int(math.ceil(span / dt - 1e-9))
            h = span / steps
            key = round(h, 15)
            if key not in coeffs:
                coeffs[key] = _etdrk4_coefficients(L, h)
            E, E2, Q, f1, f2, f3 = coeffs[key]
            for _ in range(steps):
                Nv = nonlinear(v)
                a = E2 * v + Q * Nv
                Na = nonlinear(a)
                b = E2 * v + Q * Na
                Nb = nonlinear(b)
                c = E2 * a + Q * (2 * Nb - Nv)
                Nc = nonlinear(c)
                v = E * v + Nv * f1 + 2 * (Na + Nb) * f2 + Nc * f3
            now = ta[j]
        out[:, j] = np.real(phase @ (weight * v)) / n
    return out
