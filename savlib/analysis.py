"""Curvature of a loss: Hessian-vector products, Hessian spectra, and the loss-decay identity.

Why the book needs this (part "PINNs", chapter "Stiffness of PINN losses"): explicit
gradient descent is stable only for learning rates below ``2 / lambda_max`` of the
Hessian (Li, Chen & Huang 2023 sec. 1; :func:`savlib.gradflow.gd_stability_limit`), and Li, Chen & Huang 2023
Fig. 1 shows that a multi-scale solution raises ``lambda_max`` of a PINN loss by four
orders of magnitude. This module measures that:

* :func:`hvp` / :class:`Hessian` -- Hessian-vector products by double backward
  (Pearlmutter's trick), for any closure ``loss_fn() -> scalar`` of any parameters;
* :func:`hessian_matrix` / :func:`hessian_spectrum` -- the dense Hessian (``n`` HVPs)
  and all its eigenvalues (``eigvalsh``), for nets with up to a few thousand
  parameters;
* :func:`lanczos` -- the extreme eigenvalues by the Lanczos iteration with full
  reorthogonalisation, for nets of any size (``m`` HVPs);
* :func:`loss_decay` -- the quantity of Li, Chen & Huang 2023 eqs. 10-11 (Appendix A, eqs. 24-26):
  the loss change of one GD or IGD step written as ``lr |g|^2 (-1 +- lr R / 2)`` with
  the Rayleigh quotient ``R = sum_i lambda_i y_i^2`` of the Hessian in the gradient
  direction.

Everything that is returned is float64; vectors passed to the model follow the
parameters' device and dtype.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch

from .config import generator

__all__ = [
    "flatten",
    "Hessian",
    "hvp",
    "hessian_matrix",
    "hessian_spectrum",
    "lanczos",
    "LanczosResult",
    "rayleigh_quotient",
    "gd_loss_change",
    "igd_loss_change",
    "loss_decay",
    "LossDecay",
]


def _params(params) -> list[torch.Tensor]:
    if isinstance(params, torch.nn.Module):
        params = params.parameters()
    if isinstance(params, torch.Tensor):
        params = [params]
    try:
        ps = [p for p in params if p.requires_grad]
    except TypeError as exc:
        raise TypeError("params must be an nn.Module, a tensor or an iterable of tensors") from exc
    if not ps:
        raise ValueError("no parameters with requires_grad=True")
    if not all(isinstance(p, torch.Tensor) for p in ps):
        raise TypeError("params must be tensors")
    return ps


def flatten(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors into one 1-d tensor (parameter order)."""
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflatten(v: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    out, i = [], 0
    for p in like:
        out.append(v[i:i + p.numel()].view_as(p).to(dtype=p.dtype, device=p.device))
        i += p.numel()
    return out


class Hessian:
    """The Hessian of ``loss_fn()`` with respect to ``params`` at their current values,
    as a linear operator on flat float64 vectors.

    The gradient graph is built once (``create_graph=True``) and reused by every
    :meth:`matvec`, so ``m`` products cost one forward/backward plus ``m`` second
    backward passes. Rebuild the object after changing the parameters. ``loss_fn``
    must be a closure returning a scalar tensor that depends on ``params`` (e.g.
    ``problem.closure(model)``); it must not call ``backward`` itself.
    """

    def __init__(self, loss_fn: Callable[[], torch.Tensor], params) -> None:
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be a zero-argument callable returning a scalar, got "
                            f"{type(loss_fn).__name__}")
        self.params = _params(params)
        loss = loss_fn()
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError("loss_fn() must return a scalar tensor")
        self.loss = loss.detach()
        grads = torch.autograd.grad(loss.reshape(()), self.params, create_graph=True, allow_unused=True)
        self._grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, self.params)]
        self.grad = flatten([g.detach() for g in self._grads]).to(torch.float64)
        self.n = self.grad.numel()
        self.count = 0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    def _check(self, v: torch.Tensor) -> torch.Tensor:
        v = torch.as_tensor(v)
        if v.shape[-1:] != (self.n,):
            raise ValueError(f"vector must have {self.n} entries (the number of parameters), got shape "
                             f"{tuple(v.shape)}")
        return v

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``H v`` for a flat vector ``v`` of length ``n``; float64 result."""
        v = self._check(v)
        if v.ndim != 1:
            raise ValueError("matvec takes a 1-d vector; use matmat for several")
        vs = _unflatten(v, self.params)
        hv = torch.autograd.grad(self._grads, self.params, grad_outputs=vs, retain_graph=True,
                                 allow_unused=True)
        self.count += 1
        return flatten([h if h is not None else torch.zeros_like(p) for h, p in zip(hv, self.params)]
                       ).to(torch.float64)

    __matmul__ = matvec

    def matmat(self, V: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """``H V`` for ``V`` of shape ``(n, k)``, ``batch`` columns at a time (vectorised
        with ``is_grads_batched`` where torch supports it for the model, otherwise
        column by column). Float64 result of shape ``(n, k)``."""
        V = torch.as_tensor(V)
        if V.ndim != 2 or V.shape[0] != self.n:
            raise ValueError(f"matmat takes an ({self.n}, k) matrix, got shape {tuple(V.shape)}")
        cols = []
        for lo in range(0, V.shape[1], batch):
            block = V[:, lo:lo + batch]
            k = block.shape[1]
            try:
                vs, i = [], 0
                for p in self.params:
                    vs.append(block[i:i + p.numel()].T.reshape(k, *p.shape).to(dtype=p.dtype, device=p.device))
                    i += p.numel()
                hv = torch.autograd.grad(self._grads, self.params, grad_outputs=vs, retain_graph=True,
                                         is_grads_batched=True, allow_unused=True)
                hv = [h.reshape(k, -1) if h is not None else torch.zeros(k, p.numel(), dtype=p.dtype,
                                                                          device=p.device)
                      for h, p in zip(hv, self.params)]
                cols.append(torch.cat(hv, dim=1).T.to(torch.float64))
                self.count += k
            except RuntimeError:
                cols.append(torch.stack([self.matvec(block[:, j]) for j in range(k)], dim=1))
        return torch.cat(cols, dim=1)


def hvp(loss_fn: Callable[[], torch.Tensor], params, v: torch.Tensor) -> torch.Tensor:
    """One Hessian-vector product ``H v`` (double backward), float64; builds a fresh
    :class:`Hessian`, so use that class for many products at one point."""
    return Hessian(loss_fn, params).matvec(v)


def hessian_matrix(loss_fn: Callable[[], torch.Tensor], params, *, max_params: int = 6000,
                   batch: int = 64) -> torch.Tensor:
    """The dense symmetric Hessian (float64, ``n x n``, symmetrised ``(H + H^T)/2``)
    from ``n`` Hessian-vector products. Refuses ``n > max_params`` (memory and time
    grow like ``n^2``; use :func:`lanczos`)."""
    H = Hessian(loss_fn, params)
    if H.n > max_params:
        raise ValueError(f"{H.n} parameters exceed max_params={max_params}; use lanczos() for large nets")
    eye = torch.eye(H.n, dtype=H.params[0].dtype, device=H.params[0].device)
    M = H.matmat(eye, batch=batch).cpu()
    return 0.5 * (M + M.T)


def hessian_spectrum(loss_fn: Callable[[], torch.Tensor], params, *, max_params: int = 6000) -> torch.Tensor:
    """All eigenvalues of the Hessian, ascending, float64 on the CPU (dense ``eigvalsh``)."""
    return torch.linalg.eigvalsh(hessian_matrix(loss_fn, params, max_params=max_params))


@dataclass(frozen=True)
class LanczosResult:
    """Ritz values (``k`` requested, ordered as asked: largest first for ``"LA"``),
    their residual bounds ``|beta_m s_{m,i}|`` (``|H y - theta y|`` for the Ritz vector
    ``y``), the number of Lanczos steps (= Hessian-vector products) and whether every
    requested value met the tolerance."""

    values: torch.Tensor
    residuals: torch.Tensor
    steps: int
    converged: bool
    vectors: torch.Tensor | None = None


def lanczos(op, n: int | None = None, k: int = 1, *, which: str = "LA", tol: float = 1e-8,
            max_steps: int | None = None, check_every: int = 5, seed: int = 0,
            return_vectors: bool = False, progress: bool = False) -> LanczosResult:
    """Extreme eigenvalues of a symmetric operator by Lanczos with full reorthogonalisation.

    ``op`` is a :class:`Hessian`, a square tensor, or a function ``v -> A v`` on flat
    float64 vectors (then give ``n``). ``which``: ``"LA"`` (largest algebraic, the
    default: the top of a Hessian spectrum), ``"SA"`` (smallest) or ``"LM"`` (largest in
    magnitude). Iterates until the ``k`` wanted Ritz values have residual bound
    ``<= tol * max(|theta|)`` (checked every ``check_every`` steps) or ``max_steps``
    (default ``min(n, max(10 k + 40, 100))``) steps; in exact arithmetic ``n`` steps give
    the exact spectrum. When the Krylov space of the start vector is exhausted before ``k``
    Ritz values exist (an operator with fewer distinct eigenvalues than ``k``, such as
    ``c I``), the iteration continues from a fresh random vector orthogonal to it, so
    repeated eigenvalues are returned with their multiplicity. Every new Lanczos vector is
    orthogonalised twice against all previous ones (classical Gram-Schmidt, "twice is enough"), which removes the ghost
    copies of converged eigenvalues that plain Lanczos produces. The start vector is
    Gaussian from ``seed``. Cost: one operator application per step plus ``O(n m)``.
    """
    if isinstance(op, Hessian):
        n, matvec = op.n, op.matvec
    elif isinstance(op, torch.Tensor):
        if op.ndim != 2 or op.shape[0] != op.shape[1]:
            raise ValueError(f"matrix must be square, got shape {tuple(op.shape)}")
        A = op.to(torch.float64)
        n, matvec = A.shape[0], (lambda v: A @ v)
    elif callable(op):
        if n is None:
            raise ValueError("give n (the dimension) when op is a function")
        matvec = op
    else:
        raise TypeError("op must be a Hessian, a square tensor or a function v -> A v")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if which not in ("LA", "SA", "LM"):
        raise ValueError(f"which must be 'LA', 'SA' or 'LM', got {which!r}")
    if not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an int in [1, n={n}], got {k!r}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    m_max = min(n, max(10 * k + 40, 100)) if max_steps is None else int(max_steps)
    if m_max < k:
        raise ValueError(f"max_steps={m_max} is smaller than k={k}")
    g = generator(seed)
    q = torch.randn(n, generator=g, dtype=torch.float64)
    q /= torch.linalg.vector_norm(q)
    Q = torch.zeros(m_max + 1, n, dtype=torch.float64)
    Q[0] = q
    alpha = torch.zeros(m_max, dtype=torch.float64)
    beta = torch.zeros(m_max, dtype=torch.float64)
    steps = block = 0                  # block: where the current Krylov block starts
    vals = res = S = None
    key = {"LA": lambda t: t, "SA": lambda t: -t, "LM": torch.abs}[which]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=m_max, desc="lanczos")
    for j in range(m_max):
        w = torch.as_tensor(matvec(Q[j])).to(torch.float64).cpu()
        if w.shape != (n,):
            raise ValueError(f"operator returned shape {tuple(w.shape)}, expected ({n},)")
        alpha[j] = torch.dot(Q[j], w)
        for _ in range(2):
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = torch.linalg.vector_norm(w)
        beta[j] = b
        steps = j + 1
        if bar is not None:
            bar.update(1)
        invariant = b <= 1e-13 * max(float(alpha[: j + 1].abs().max()), 1e-300)
        if invariant and steps < min(m_max, n) and _block_adds(alpha, beta, block, steps, k, key):
            # The Krylov space of this block is exhausted, but its eigenvalues still rank
            # among the k wanted (or fewer than k exist yet): the operator may repeat them
            # (e.g. A = c I has one distinct eigenvalue). Continue from a fresh random
            # vector orthogonal to all so far; T becomes block diagonal (beta = 0), and a
            # new block holds the eigenvalues again that have a further multiplicity.
            w = torch.randn(n, generator=g, dtype=torch.float64)
            for _ in range(2):
                w = w - Q[:steps].T @ (Q[:steps] @ w)
            beta[j], block = 0.0, steps
            Q[j + 1] = w / torch.linalg.vector_norm(w)
            continue
        if steps >= k and (steps % check_every == 0 or invariant or steps == m_max):
            T = torch.diag(alpha[:steps]) + torch.diag(beta[: steps - 1], 1) + torch.diag(beta[: steps - 1], -1)
            theta, S = torch.linalg.eigh(T)
            idx = torch.argsort(key(theta), descending=True)[:k]
            vals = theta[idx]
            res = (b * S[-1, idx]).abs()
            S = S[:, idx]
            scale = max(float(theta.abs().max()), 1e-300)
            if invariant or bool((res <= tol * scale).all()):
                break
        if invariant:
            break
        Q[j + 1] = w / b
    if bar is not None:
        bar.close()
    scale = max(float(vals.abs().max()), 1e-300)
    converged = bool((res <= tol * scale).all())
    vecs = (Q[:steps].T @ S) if return_vectors else None
    return LanczosResult(values=vals, residuals=res, steps=steps, converged=converged, vectors=vecs)


def _block_adds(alpha, beta, block: int, steps: int, k: int, key) -> bool:
    """Whether to continue after the Lanczos block ``[block, steps)`` is exhausted. A
    further block can only repeat eigenvalues of this one (in exact arithmetic), so it can
    change the ``k`` wanted values only while fewer than ``k`` of those found so far rank at
    or above the best eigenvalue of this block."""
    def eig(lo, hi):
        T = (torch.diag(alpha[lo:hi]) + torch.diag(beta[lo:hi - 1], 1)
             + torch.diag(beta[lo:hi - 1], -1))
        return key(torch.linalg.eigvalsh(T))
    found = eig(0, steps)
    latest = float(eig(block, steps).max())
    tie = 1e-12 * max(float(found.abs().max()), 1e-300)
    return int((found >= latest - tie).sum()) < k


# ----------------------------------------------------------------------------------
def rayleigh_quotient(H, v: torch.Tensor) -> float:
    """``v^T H v / v^T v`` = ``sum_i lambda_i y_i^2`` with ``y = Q v / |v|`` the
    normalised coordinates of ``v`` in the eigenbasis of ``H`` (Li, Chen & Huang 2023 eqs. 10-11,
    eq. 25). ``H`` is a :class:`Hessian` or a symmetric tensor."""
    v = torch.as_tensor(v, dtype=torch.float64)
    nv = float(torch.dot(v, v))
    if not nv > 0:
        raise ValueError("v must be nonzero")
    Hv = H.matvec(v) if isinstance(H, Hessian) else torch.as_tensor(H, dtype=torch.float64) @ v
    return float(torch.dot(v, Hv)) / nv


def _lr(lr) -> float:
    lr = float(lr)
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"learning rate must be a finite number > 0, got {lr!r}")
    return lr


def gd_loss_change(lr: float, grad_norm2: float, rayleigh: float) -> float:
    """Li, Chen & Huang 2023 eq. 10: ``L(theta_{n+1}) - L(theta_n) = lr |g_n|^2 (-1 + lr R / 2)`` for a
    GD step, with ``R`` the Rayleigh quotient of the Hessian (at a mean-value point;
    exact for a quadratic) in the direction of ``g_n``. Negative iff ``lr < 2 / R``."""
    lr = _lr(lr)
    return lr * float(grad_norm2) * (-1.0 + 0.5 * lr * float(rayleigh))


def igd_loss_change(lr: float, grad_norm2: float, rayleigh: float) -> float:
    """Li, Chen & Huang 2023 eq. 11 (Appendix A, eq. 26 with the gradient at ``theta_{n+1}``, as in
    eq. 11; eq. 26 misprints it as ``theta_n``): ``lr |g_{n+1}|^2 (-1 - lr R / 2)`` for an
    implicit (backward Euler) step; negative for every ``lr`` when ``R >= 0``."""
    lr = _lr(lr)
    return lr * float(grad_norm2) * (-1.0 - 0.5 * lr * float(rayleigh))


@dataclass(frozen=True)
class LossDecay:
    """One step's loss change, predicted by Li, Chen & Huang 2023 eq. 10 (GD) or 11 (IGD) with the
    Hessian at the expansion point, next to the change actually observed.

    ``factor`` is ``-1 + lr R/2`` (GD) or ``-1 - lr R/2`` (IGD); ``predicted`` =
    ``lr * grad_norm2 * factor``; ``actual`` = ``L(theta_{n+1}) - L(theta_n)``. For a
    quadratic loss ``predicted == actual``; otherwise they differ by the third-order
    Taylor remainder."""

    scheme: str
    lr: float
    grad_norm2: float
    rayleigh: float
    factor: float
    predicted: float
    actual: float


@torch.no_grad()
def _shift(params: list[torch.Tensor], d: torch.Tensor) -> None:
    for p, s in zip(params, _unflatten(d, params)):
        p.add_(s)


def loss_decay(loss_fn: Callable[[], torch.Tensor], params, lr: float, scheme: str = "gd") -> LossDecay:
    """Evaluate Li, Chen & Huang 2023 eqs. 10-11 at the current parameters.

    * ``scheme="gd"``: the parameters are ``theta_n``; the step is
      ``theta_{n+1} = theta_n - lr g_n``; ``R`` uses the Hessian at ``theta_n``.
    * ``scheme="igd"``: the parameters are ``theta_{n+1}``, and ``theta_n`` is recovered
      from the backward Euler relation ``theta_n = theta_{n+1} + lr g_{n+1}`` (Li, Chen & Huang 2023
      eq. 23), so no implicit equation is solved; ``R`` uses the Hessian at
      ``theta_{n+1}``, the expansion point of Appendix A, eq. 24.

    The parameters are moved to evaluate the actual loss change and restored exactly
    (a copy is kept) before returning.
    """
    if scheme not in ("gd", "igd"):
        raise ValueError(f"scheme must be 'gd' or 'igd', got {scheme!r}")
    lr = _lr(lr)
    H = Hessian(loss_fn, params)
    g = H.grad
    gn2 = float(torch.dot(g, g))
    R = rayleigh_quotient(H, g) if gn2 > 0 else 0.0
    L0 = float(H.loss)
    saved = [p.detach().clone() for p in H.params]
    try:
        step = (-lr * g) if scheme == "gd" else (lr * g)
        _shift(H.params, step)
        L1 = float(loss_fn().detach())  # grad mode on: PINN losses differentiate in the inputs
    finally:
        with torch.no_grad():
            for p, s in zip(H.params, saved):
                p.copy_(s)
    if scheme == "gd":
        factor = -1.0 + 0.5 * lr * R
        actual = L1 - L0
    else:
        factor = -1.0 - 0.5 * lr * R
        actual = L0 - L1
    return LossDecay(scheme=scheme, lr=lr, grad_norm2=gn2, rayleigh=R, factor=factor,
                     predicted=lr * gn2 * factor, actual=actual)
