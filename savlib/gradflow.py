"""Gradient flows of quadratic losses: explicit and implicit Euler, exactly.

A quadratic loss ``L(theta) = 1/2 (theta - theta*)^T K (theta - theta*)`` with a
symmetric positive semi-definite ``K`` is the model problem of the book's first
chapter ("Training is a gradient flow"). Its gradient flow is linear, so one step of

* gradient descent (explicit Euler, Li, Chen & Huang 2023 eq. 3) multiplies the error by
  ``I - lr K``, and
* implicit gradient descent (backward Euler / the proximal point step, Li, Chen & Huang 2023
  eqs. 4 and 12) multiplies it by ``(I + lr K)^{-1}``.

In the eigenbasis of ``K`` each component of the loss therefore shrinks by exactly
``(1 - lr k)^2`` (GD) or ``1 / (1 + lr k)^2`` (IGD) per step; the bounds of Li, Chen & Huang 2023
eqs. 7-8 are the maxima of these factors over the eigenvalues ``k``. This module holds
those formulas once; the chapter and the tests import them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "Quadratic",
    "stiff_quadratic",
    "gd_factor",
    "igd_factor",
    "gd_stability_limit",
    "trajectory",
]


def _as_lr(lr: float) -> float:
    lr = float(lr)
    if not lr > 0 or lr != lr or lr == float("inf"):
        raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
    return lr


def gd_factor(lr: float, k: torch.Tensor | float) -> torch.Tensor:
    """Per-step loss ratio of gradient descent on the mode with curvature ``k``:
    ``(1 - lr k)^2`` (Li, Chen & Huang 2023 eq. 7; its bound is the max over the modes)."""
    k = torch.as_tensor(k, dtype=torch.float64)
    return (1.0 - _as_lr(lr) * k) ** 2


def igd_factor(lr: float, k: torch.Tensor | float) -> torch.Tensor:
    """Per-step loss ratio of implicit gradient descent on the mode with curvature
    ``k``: ``1 / (1 + lr k)^2`` (Li, Chen & Huang 2023 eq. 8). Below 1 for every ``lr > 0``, ``k > 0``."""
    k = torch.as_tensor(k, dtype=torch.float64)
    return 1.0 / (1.0 + _as_lr(lr) * k) ** 2


def gd_stability_limit(k_max: float) -> float:
    """Largest learning rate for which GD does not increase any mode: ``2 / k_max``.

    Li, Chen & Huang 2023 states the condition as ``lr <= 1 / (2 max K)`` below eq. 7; solving
    ``(1 - lr k)^2 <= 1`` gives ``lr <= 2 / k``, which is what this returns (the
    chapter shows both).
    """
    k_max = float(k_max)
    if not k_max > 0:
        raise ValueError(f"k_max must be > 0, got {k_max!r}")
    return 2.0 / k_max


@dataclass(frozen=True)
class Quadratic:
    """``L(theta) = 1/2 (theta - theta_star)^T K (theta - theta_star)``.

    ``K`` is either a 1-d tensor (a diagonal Hessian, as in Li, Chen & Huang 2023 eqs. 7-8) or a
    symmetric positive semi-definite matrix. All arithmetic is float64.
    """

    K: torch.Tensor
    theta_star: torch.Tensor

    def __post_init__(self) -> None:
        K = torch.as_tensor(self.K, dtype=torch.float64)
        ts = torch.as_tensor(self.theta_star, dtype=torch.float64)
        if ts.ndim != 1:
            raise ValueError(f"theta_star must be a 1-d tensor, got shape {tuple(ts.shape)}")
        if K.ndim == 1:
            if K.shape != ts.shape:
                raise ValueError(f"diagonal K has shape {tuple(K.shape)}, theta_star {tuple(ts.shape)}")
            if (K < 0).any():
                raise ValueError("K must be positive semi-definite (all diagonal entries >= 0)")
        elif K.ndim == 2:
            if K.shape != (ts.numel(), ts.numel()):
                raise ValueError(f"K must be {ts.numel()}x{ts.numel()}, got {tuple(K.shape)}")
            if not torch.allclose(K, K.T, rtol=1e-12, atol=1e-12 * K.abs().max().clamp_min(1)):
                raise ValueError("K must be symmetric")
        else:
            raise ValueError(f"K must be 1-d (diagonal) or 2-d, got {K.ndim}-d")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "theta_star", ts)

    @property
    def diagonal(self) -> bool:
        return self.K.ndim == 1

    @property
    def eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of the Hessian, ascending."""
        return self.K.sort().values if self.diagonal else torch.linalg.eigvalsh(self.K)

    def _apply(self, v: torch.Tensor) -> torch.Tensor:
        return self.K * v if self.diagonal else self.K @ v

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        e = torch.as_tensor(theta, dtype=torch.float64) - self.theta_star
        return 0.5 * torch.dot(e, self._apply(e))

    def mode_losses(self, theta: torch.Tensor) -> torch.Tensor:
        """The loss split over the eigenmodes of ``K`` (they sum to :meth:`loss`),
        ordered as :attr:`eigenvalues`."""
        e = torch.as_tensor(theta, dtype=torch.float64) - self.theta_star
        if self.diagonal:
            order = self.K.argsort()
            return (0.5 * self.K * e**2)[order]
        w, Q = torch.linalg.eigh(self.K)
        return 0.5 * w * (Q.T @ e) ** 2

    def grad(self, theta: torch.Tensor) -> torch.Tensor:
        return self._apply(torch.as_tensor(theta, dtype=torch.float64) - self.theta_star)

    def gd_step(self, theta: torch.Tensor, lr: float) -> torch.Tensor:
        """One explicit Euler step ``theta - lr grad L(theta)``."""
        return torch.as_tensor(theta, dtype=torch.float64) - _as_lr(lr) * self.grad(theta)

    def igd_step(self, theta: torch.Tensor, lr: float) -> torch.Tensor:
        """One exact implicit Euler step: the solution of
        ``theta' = theta - lr grad L(theta')``, i.e. the proximal point
        ``argmin 1/2 |theta' - theta|^2 + lr L(theta')`` (Li, Chen & Huang 2023 eq. 12), which for a
        quadratic is ``(I + lr K)^{-1} (theta + lr K theta_star)``."""
        lr = _as_lr(lr)
        theta = torch.as_tensor(theta, dtype=torch.float64)
        rhs = theta + lr * self._apply(self.theta_star)
        if self.diagonal:
            return rhs / (1.0 + lr * self.K)
        A = torch.eye(theta.numel(), dtype=torch.float64) + lr * self.K
        return torch.linalg.solve(A, rhs)

    def gd_bound(self, lr: float) -> float:
        """Li, Chen & Huang 2023 eq. 7: ``max_k (1 - lr k)^2`` bounds ``L(theta_{n+1}) / L(theta_n)``."""
        return float(gd_factor(lr, self.eigenvalues).max())

    def igd_bound(self, lr: float) -> float:
        """Li, Chen & Huang 2023 eq. 8: ``max_k 1 / (1 + lr k)^2`` bounds the IGD loss ratio."""
        return float(igd_factor(lr, self.eigenvalues).max())


def stiff_quadratic(K1: float = 1e-4, K2: float = 1e4,
                    theta_star: tuple[float, float] = (1.0, 1.0)) -> Quadratic:
    """The stiff two-parameter quadratic of Li, Chen & Huang 2023 section 2.2:
    ``L = K1/2 (theta_1 - theta_1*)^2 + K2/2 (theta_2 - theta_2*)^2``, defaults
    ``K1 = 1e-4``, ``K2 = 1e4`` as in the paper."""
    if not (K1 > 0 and K2 > 0):
        raise ValueError(f"K1 and K2 must be > 0, got K1={K1!r}, K2={K2!r}")
    return Quadratic(torch.tensor([K1, K2], dtype=torch.float64),
                     torch.tensor(theta_star, dtype=torch.float64))


def trajectory(problem: Quadratic, theta0: torch.Tensor, lr: float, steps: int,
               method: str = "gd") -> torch.Tensor:
    """Iterate ``method`` (``"gd"`` or ``"igd"``) for ``steps`` steps from ``theta0``;
    return the ``(steps + 1, n)`` float64 array of iterates."""
    if method not in ("gd", "igd"):
        raise ValueError(f"method must be 'gd' or 'igd', got {method!r}")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    step = problem.gd_step if method == "gd" else problem.igd_step
    out = [torch.as_tensor(theta0, dtype=torch.float64).clone()]
    for _ in range(steps):
        out.append(step(out[-1], lr))
    return torch.stack(out)
