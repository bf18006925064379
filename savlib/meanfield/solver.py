"""Forward solver of the mean-field PDE of residual networks (Liu & Markowich 2020 eq. 2.8).

``f_t = sigma(a(y,t) - int_Y b(y,z,t) f(z,t) dz)`` on the grid of :class:`~savlib.meanfield.Grid`,
with ``a`` and ``b`` piecewise constant in time on ``steps`` equal intervals of [0, T].
The integral is the midpoint rule ``(B_b f)_i = volume * sum_j b_ij f_j`` (eq. 2.6), so
one forward-Euler step is exactly one residual block ``z + tau sigma(a - B z)`` (eq. 2.1):
the depth limit of Thm 2.1 is the convergence of this scheme as ``T/steps -> 0``.
Heun (order 2) and classical RK4 (order 4) integrate the same PDE more accurately.

Book chapter: "From residual networks to a PDE" (``book/meanfield/pde_limit.ipynb``).
"""
from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from .activations import Activation, get_activation
from .grid import Grid

__all__ = ["forward", "METHODS", "Tableau", "ForwardOverflowError", "rhs", "autonomous",
           "check_inputs"]


class Tableau:
    """An explicit Runge-Kutta tableau: stage ``i`` is evaluated at
    ``f + dt * sum_{j<i} A[i][j] k_j`` and the step is ``f + dt * sum_i w[i] k_i``."""

    def __init__(self, name: str, A: list[list[float]], w: list[float], order: int):
        self.name, self.A, self.w, self.order = name, A, w, order
        self.stages = len(w)


#: the time steppers of :func:`forward` (``method=``) by name
METHODS: dict[str, Tableau] = {
    "euler": Tableau("euler", [[0.0]], [1.0], 1),
    "heun": Tableau("heun", [[0.0, 0.0], [1.0, 0.0]], [0.5, 0.5], 2),
    "rk4": Tableau("rk4", [[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1.0, 0]],
                   [1 / 6, 1 / 3, 1 / 3, 1 / 6], 4),
}


class ForwardOverflowError(FloatingPointError):
    """The forward solve produced inf/NaN; ``.step`` is the 1-based step that blew up."""

    def __init__(self, step: int, t: float, method: str):
        self.step, self.t = step, t
        super().__init__(f"forward solve ({method}) overflowed at step {step} (t = {t:.6g}): the "
                         "state became inf/NaN; reduce T or the step size, or the size of a and b")


def get_method(method) -> Tableau:
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    key = method.strip().lower()
    if key not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    return METHODS[key]


def _check_T(T) -> float:
    if isinstance(T, Tensor):
        if T.numel() != 1:
            raise ValueError(f"T must be a scalar, got a tensor of shape {tuple(T.shape)}")
        T = T.item()
    if isinstance(T, bool) or not isinstance(T, numbers.Real):
        raise TypeError(f"T must be a real number, got {type(T).__name__}")
    T = float(T)
    if not math.isfinite(T) or T <= 0:
        raise ValueError(f"T must be a finite number > 0 (the depth), got {T}")
    return T


def _check_tensor(name: str, x, ndim: int, shape_doc: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shape_doc}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype (float32/float64), got {x.dtype}")
    if x.dim() != ndim:
        raise ValueError(f"{name} must have shape {shape_doc}, got {tuple(x.shape)}")
    return x


def check_inputs(f0, a, b, grid, T, method="euler", sigma="relu", substeps=1):
    """Validate the forward problem's inputs; return ``(steps, T, tableau, activation)``.

    Errors name what was expected: shapes ``f0 (batch, N)``, ``a (steps, N)``,
    ``b (steps, N, N)`` with ``N = grid.N``; one floating dtype and one device for all
    tensors; ``T > 0``; at least one step; a known method and activation.
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a savlib.meanfield.Grid, got {type(grid).__name__}")
    N = grid.N
    _check_tensor("f0", f0, 2, f"(batch, N={N})")
    _check_tensor("a", a, 2, f"(steps, N={N})")
    _check_tensor("b", b, 3, f"(steps, N={N}, N={N})")
    if f0.shape[1] != N or f0.shape[0] < 1:
        raise ValueError(f"f0 must have shape (batch >= 1, N={N}) for {grid!r}, got {tuple(f0.shape)}")
    if a.shape[0] == 0 or b.shape[0] == 0:
        raise ValueError("a and b must have at least one time step (steps >= 1), got 0")
    if a.shape[1] != N:
        raise ValueError(f"a must have shape (steps, N={N}), got {tuple(a.shape)}")
    if tuple(b.shape[1:]) != (N, N):
        raise ValueError(f"b must have shape (steps, N={N}, N={N}), got {tuple(b.shape)}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must have the same number of steps, got {a.shape[0]} and {b.shape[0]}")
    for name, x in (("a", a), ("b", b)):
        if x.dtype != f0.dtype:
            raise TypeError(f"{name} has dtype {x.dtype} but f0 has {f0.dtype}; use one dtype")
        if x.device != f0.device:
            raise ValueError(f"{name} is on {x.device} but f0 is on {f0.device}; use one device")
    if isinstance(substeps, bool) or not isinstance(substeps, int) or substeps < 1:
        raise ValueError(f"substeps must be an int >= 1, got {substeps!r}")
    for name, x in (("f0", f0), ("a", a), ("b", b)):
        _check_finite(name, x)
    return a.shape[0], _check_T(T), get_method(method), get_activation(sigma)


def _check_finite(name: str, x: Tensor) -> None:
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} NaN or inf entr{'y' if bad == 1 else 'ies'}: "
                         "the inputs of the mean-field problem must be finite")


def check_like(name: str, x, ref: Tensor, shape: tuple) -> Tensor:
    """Check a tensor against the shape/dtype/device of ``ref`` (used for targets, heads);
    it must be finite."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape {shape}, got {type(x).__name__}")
    if tuple(x.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(x.shape)}")
    if x.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but f0 has {ref.dtype}; use one dtype")
    if x.device != ref.device:
        raise ValueError(f"{name} is on {x.device} but f0 is on {ref.device}; use one device")
    _check_finite(name, x)
    return x


def autonomous(a: Tensor, b: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    """Time-independent coefficients ``a (N,)``, ``b (N, N)`` as ``(steps, ...)`` views
    (no copy), for the autonomous problems of Liu & Markowich 2020 section 3."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if a.dim() != 1 or b.dim() != 2:
        raise ValueError(f"expected a of shape (N,) and b of shape (N, N), got {tuple(a.shape)}, "
                         f"{tuple(b.shape)}")
    return a.expand(steps, -1), b.expand(steps, -1, -1)


def rhs(f: Tensor, a_n: Tensor, b_n: Tensor, volume: float, act: Activation) -> tuple[Tensor, Tensor]:
    """``(sigma(u), u)`` with ``u = a_n - volume * f b_n^T``: the right-hand side of eq. 2.8
    for a batch ``f (batch, N)``; one matrix product."""
    u = torch.addmm(a_n, f, b_n.t(), alpha=-volume)
    return act.fn(u), u


def rk_step(f: Tensor, a_n: Tensor, b_n: Tensor, volume: float, dt: float, tab: Tableau,
            act: Activation, record: list | None = None) -> Tensor:
    """One explicit RK step of eq. 2.8; appends the stage pairs ``(Y_i, u_i)`` to
    ``record`` when given (the discrete adjoint needs them)."""
    ks: list[Tensor] = []
    for i in range(tab.stages):
        Y = f
        for j in range(i):
            c = tab.A[i][j]
            if c:
                Y = Y + (dt * c) * ks[j]
        k, u = rhs(Y, a_n, b_n, volume, act)
        if record is not None:
            record.append((Y, u))
        ks.append(k)
    if tab.stages == 1:
        return f + dt * ks[0]
    inc = ks[0] * tab.w[0]
    for i in range(1, tab.stages):
        inc = inc + tab.w[i] * ks[i]
    return f + dt * inc


def _finite_or_raise(f: Tensor, step: int, t: float, method: str) -> None:
    if not bool(torch.isfinite(f).all()):
        raise ForwardOverflowError(step, t, method)


def forward(f0: Tensor, a: Tensor, b: Tensor, grid: Grid, T: float, method: str = "euler",
            sigma: str | Activation = "relu", *, substeps: int = 1) -> Tensor:
    """Solve Liu & Markowich 2020 eq. 2.8 (with eq. 2.5b, ``f(0) = f0``) on ``[0, T]``.

    Parameters
    ----------
    f0 : ``(batch, N)`` initial data, one function ``f_I`` per sample.

    a : ``(steps, N)`` bias, constant on each of ``steps`` equal intervals of [0, T].

    b : ``(steps, N, N)`` kernel ``b(y_i, z_j, t)``; ``(B_b f)_i = volume * sum_j b_ij f_j``.

    method : ``"euler"`` (exactly the residual network eq. 2.1), ``"heun"`` or ``"rk4"``.

    sigma : relu, leaky_relu (slope 0.1), elu (alpha 1), tanh, sigmoid, arctan.

    substeps : time steps per control interval (default 1); the step is
        ``T / (steps * substeps)``. Used to measure orders of convergence in time.

    Returns the trajectory at the interval ends, shape ``(steps + 1, batch, N)``.
    Differentiable by autograd (the tests use that to check :func:`loss_and_grad`).
    Raises :class:`ForwardOverflowError` naming the step at which the state overflowed.
    """
    steps, T, tab, act = check_inputs(f0, a, b, grid, T, method, sigma, substeps)
    dt = T / (steps * substeps)
    vol = grid.volume
    tracking = torch.is_grad_enabled() and (f0.requires_grad or a.requires_grad or b.requires_grad)
    f = f0
    if tracking:
        out = [f0]
    else:
        out_t = torch.empty((steps + 1,) + tuple(f0.shape), dtype=f0.dtype, device=f0.device)
        out_t[0] = f0
    m = 0
    for n in range(steps):
        a_n, b_n = a[n], b[n]
        for _ in range(substeps):
            f = rk_step(f, a_n, b_n, vol, dt, tab, act)
            m += 1
            _finite_or_raise(f, m, m * dt, tab.name)
        if tracking:
            out.append(f)
        else:
            out_t[n + 1] = f
    return torch.stack(out) if tracking else out_t
