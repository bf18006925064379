"""Stability of the forward problem (Liu & Markowich 2020 section 3): spectra, Lyapunov, steady states.

Book chapter: "Stability of the forward problem" (``book/meanfield/stability.ipynb``).

For autonomous coefficients ``a(y)``, ``b(y, z)`` the discretised operator is the
``(N, N)`` matrix ``B = volume * b``. Linearised at a steady state, perturbations behave
like ``exp(-sigma'(0) B t)`` (section 3.2), so the spectrum of B and of its symmetric part
``B_s = (B + B^T)/2`` decide stability; ``int_Y Sigma(a - B f) dy`` is non-increasing when
``B_s >= 0`` (Thm 3.2 (i)); finite-rank B with ``D T`` positive definite gives exponential
decay of ``u = a - B f`` (Thm 3.4).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .activations import get_activation
from .grid import Grid

__all__ = ["operator_matrix", "spectrum", "symmetric_spectrum", "lyapunov", "steady_state",
           "low_rank_kernel", "gram_matrix", "decay_matrix", "predicted_decay_rate",
           "rank_one_unstable", "residual_u"]


def _check_b(b: Tensor, grid: Grid) -> Tensor:
    if not isinstance(b, Tensor) or tuple(b.shape) != (grid.N, grid.N):
        raise ValueError(f"b must be a tensor of shape (N={grid.N}, N={grid.N}) (autonomous kernel)")
    return b


def operator_matrix(b: Tensor, grid: Grid) -> Tensor:
    """The matrix ``volume * b`` of the integral operator ``B_b`` on the grid."""
    return grid.volume * _check_b(b, grid)


def spectrum(b: Tensor, grid: Grid) -> Tensor:
    """Eigenvalues of B (complex), sorted by real part: ``Re < 0`` means exponential
    instability of the linearisation ``w_t = -sigma'(0) B w`` (section 3.2)."""
    ev = torch.linalg.eigvals(operator_matrix(b, grid))
    return ev[torch.argsort(ev.real)]


def symmetric_spectrum(b: Tensor, grid: Grid) -> Tensor:
    """Eigenvalues (ascending) of ``B_s = (B + B^T)/2``; ``B_s >= 0`` is the hypothesis
    of Thm 3.2 and Prop. 3.5."""
    B = operator_matrix(b, grid)
    return torch.linalg.eigvalsh(0.5 * (B + B.t()))


def residual_u(f: Tensor, a: Tensor, b: Tensor, grid: Grid) -> Tensor:
    """``u = a - B f`` (any leading batch/time axes on ``f``)."""
    return a - grid.volume * f @ _check_b(b, grid).t()


def lyapunov(f: Tensor, a: Tensor, b: Tensor, grid: Grid, sigma="relu") -> Tensor:
    """The functional ``int_Y Sigma(a - B f) dy`` of Thm 3.2 (i), ``Sigma' = sigma``,
    ``Sigma(0) = 0``, for each leading index of ``f`` (e.g. a whole trajectory)."""
    act = get_activation(sigma)
    return grid.volume * act.antideriv(residual_u(f, a, b, grid)).sum(-1)


def steady_state(a: Tensor, b: Tensor, grid: Grid, *, rcond: float | None = None):
    """A steady state ``f_inf`` with ``B f_inf = a`` (section 3.2; it exists iff a is in the
    range of B) as the minimum-norm least-squares solution. Returns ``(f_inf, residual)``
    with ``residual = ||B f_inf - a||_{L2}``: nonzero means no steady state exists."""
    B = operator_matrix(b, grid)
    sol = torch.linalg.lstsq(B, a[:, None], rcond=rcond, driver="gelsd" if B.device.type == "cpu" else None)
    f = sol.solution[:, 0]
    return f, grid.norm(B @ f - a)


def low_rank_kernel(mus: Tensor, phis: Tensor, psis: Tensor) -> Tensor:
    """``b(y, z) = sum_l mu_l phi_l(y) psi_l(z)``, so ``B f = sum_l mu_l (f, psi_l) phi_l``
    (the finite-rank operators of section 3.3); ``phis``, ``psis`` are ``(rank, N)``."""
    return phis.t() @ (mus[:, None] * psis)


def gram_matrix(phis: Tensor, psis: Tensor, grid: Grid) -> Tensor:
    """The generalised Gram matrix ``T_{lk} = (phi_l, psi_k)_{L2(Y)}`` of section 3.3."""
    return grid.volume * phis @ psis.t()


def decay_matrix(mus: Tensor, phis: Tensor, psis: Tensor, grid: Grid) -> Tensor:
    """The matrix ``M = D T^T``, ``M_{lk} = mu_l (psi_l, phi_k)``, of the linearised
    u-dynamics in the coordinates ``u = sum_k u_k phi_k``: ``u' = -sigma'(0) M u``
    (eq. 3.5 linearised). Its nonzero spectrum is that of B. The paper writes the
    hypothesis of Thm 3.4 as "DT positive definite" with its own index convention; here
    the matrix is written out so the condition can be checked as stated."""
    return mus[:, None] * gram_matrix(psis, phis, grid)


def predicted_decay_rate(mus: Tensor, phis: Tensor, psis: Tensor, grid: Grid, sigma="tanh") -> float:
    """The exponential rate of Thm 3.4: ``sigma'(0) * min Re eig(M)`` with
    :func:`decay_matrix` M; ``||u(t)||`` decays like ``exp(-rate t)`` near ``u = 0``."""
    act = get_activation(sigma)
    ev = torch.linalg.eigvals(decay_matrix(mus, phis, psis, grid))
    return act.slope0 * float(ev.real.min())


def rank_one_unstable(grid: Grid, c: float = 1.0, *, dtype=torch.float64, device=None):
    """Section 3.4's rank-one example of exponential growth with ReLU: ``b = -c``
    (``B f = -c (f, 1) 1``, so ``B_s <= 0``), ``a = 0``, ``f_I = 1``. Then
    ``m(t) = int f`` solves ``m' = c m``: ``f(t) = e^{c t}`` and the Gronwall bound
    ``exp(t sup|b|)`` is attained. Returns ``(a, b, f0)`` with ``f0`` of shape ``(1, N)``."""
    N = grid.N
    a = torch.zeros(N, dtype=dtype, device=device)
    b = torch.full((N, N), -float(c), dtype=dtype, device=device)
    return a, b, torch.ones(1, N, dtype=dtype, device=device)
