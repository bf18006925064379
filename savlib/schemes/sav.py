"""SAV, restart SAV and relaxed SAV, plain and Adam-adaptive (Ma, Mao & Shen 2024, Algs. 2-5).

Book chapters "SAV, restart SAV and relaxed SAV" and "Adaptive SAV". Notation: loss
``I(theta)``, gradient ``N = grad I``, time step ``dt`` (= ``lr``), SAV constant ``C``
(``I + C > 0``), linear operator ``L = lam * Id`` so that ``(I + dt L)^{-1}`` is the
scalar ``1 / (1 + dt lam)``. lambda enters *only* through that factor (Ma, Mao & Shen 2024
eqs. 17-20; it is not a ``lam/2 |theta|^2`` term in the energy).

One step from ``theta_n`` with stored ``r_n`` (``r_0 = sqrt(I(theta_0) + C)``)::

    r^_n      = sqrt(I(theta_n) + C)
    S_n       = dt (N, (I + dt L)^{-1} N)                          # one reduction
    r~        = r_n / (1 + S_n / (2 (I_n + C)))                   # eq. 20
    theta_n+1 = theta_n - dt r~ / r^_n (I + dt L)^{-1} N           # eqs. 19, Alg. 2

* :class:`SAV` (Alg. 2): ``r_{n+1} = r~``. The discrete energy law (eq. 18) is an
  identity, for every ``dt > 0``::

      r_{n+1}^2 - r_n^2 = -lam |dtheta|^2 - (r_{n+1} - r_n)^2 - |dtheta|^2 / dt.

* :class:`ResSAV` (Alg. 3): ``r_n`` is replaced by ``r^_n`` before the step (the same
  identity with ``r_n := r^_n``; no law across steps).
* :class:`RelSAV` (Alg. 4, eqs. 21-24): after the step, ``r^_{n+1} = sqrt(I(theta_{n+1})
  + C)`` from one extra forward pass on the *same* batch (the closure is called again
  under ``torch.no_grad()``), and ``r_{n+1} = xi r~ + (1 - xi) r^_{n+1}`` with ``xi``
  the smallest value in ``[0, 1]`` such that ``r_{n+1}^2 - r~^2 <= eta |dtheta|^2/dt``
  (eq. 23). Then Thm. 2 gives ``r_{n+1}^2 - r_n^2 <= -lam |dtheta|^2 - (r~ - r_n)^2
  - (1 - eta) |dtheta|^2 / dt``.

  Eq. 24 solves eq. 23 by the quadratic formula ``xi = max(0, (-b - sqrt(b^2 - 4ac)) /
  (2a))``. With ``a = (r~ - r^)^2``, ``b = 2 r^ (r~ - r^)`` one finds ``b^2 - 4ac =
  4 a R^2`` with ``R = sqrt(r~^2 + eta |dtheta|^2 / dt)``, so eq. 24 is exactly

      r_{n+1} = min(r^_{n+1}, R),   xi = (r^ - r_{n+1}) / (r^ - r~) if r^ > r~ else 0,

  which savlib evaluates instead: it needs no branch on the host, has no cancellation,
  and handles the ``a -> 0`` case (``r~ = r^``: any xi works, savlib takes ``r^``,
  ``xi = 0``) without a special path. :func:`xi_eq24` keeps the paper's formula; the
  tests check that both agree. If the loss at the new point is not finite, the vanilla
  value is kept (``xi = 1``), which still satisfies eq. 23.

``adaptive=True`` gives A-SAV / A-ResSAV / A-RelSAV (Alg. 5): Adam moments of N,
``N^ = m^`` and the elementwise step ``dt^ = dt / sqrt(v^ + eps)`` (eps *inside* the
square root, unlike Adam; ``v`` updated elementwise with ``N * N``, reading Ma, Mao & Shen 2024's
``|N|^2`` as Adam does). Every formula above holds with ``N^`` for ``N`` and the
vector ``dt^`` for ``dt``: ``S_n = sum_j dt^_j N^_j^2 / (1 + dt^_j lam)`` and the laws hold
in the ``dt^``-weighted norm ``sum_j dtheta_j^2 / dt^_j``.

Diagnostics after each step (``opt.diagnostics``, 0-d float64 tensors, no host sync):
``loss`` (``I(theta_n)``), ``r_hat`` (``sqrt(I(theta_n) + C)``), ``q`` (``r_n / r^_n``, the
ratio of Ma, Mao & Shen 2024 Fig. 6 before any restart; ``1 - q`` is what Fig. 6 plots),
``r_tilde``, ``r`` (``r_{n+1}``), ``energy`` (``r_{n+1}^2``, the modified energy), ``xi``
(1 when nothing is relaxed), ``step_scale`` (``r~ / r^_n``: the factor multiplying ``dt``
in the update; 1 for plain gradient descent), ``lr_eff`` (``step_scale * lr`` of the first
group), ``dissipation`` (``|dtheta|^2 / dt`` in the dt-weighted norm), ``r_start`` (the
``r`` the step started from: ``r_n``, or ``r^_n`` for ResSAV), and for RelSAV
``loss_new`` and ``r_hat_new``.

Several processes (``process_group=pg, sharded=False``; book chapter "Training at
scale"): the loss is averaged over the ranks, and when ``sharded=True`` the partial sums
``S_n`` and ``|dtheta|^2/dt`` are summed,
all in **one** float64 ``all_reduce`` per step, before any branch; every rank then computes
the same ``r``, takes the same branches and raises the same error. RelSAV needs the loss at
the new point, which exists only after the step: a second one-element ``all_reduce``.
``step`` then returns the global (mean) loss.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import Tensor

from ..errors import EnergyDomainError, NonFiniteError
from .base import (Direction, EnergyOptimizer, check_betas, check_flag, check_nonnegative,
                   check_positive, check_real, check_unit_interval, clamp01, evaluate_loss,
                   isfinite, minimum, sqrt, where)

__all__ = ["SAV", "ResSAV", "RelSAV", "xi_eq24", "relax_sav"]


def xi_eq24(r_tilde: Tensor, r_hat: Tensor, dissipation: Tensor, eta: float) -> Tensor:
    """Ma, Mao & Shen 2024, eq. (24) as printed: ``max(0, (-b - sqrt(b^2 - 4ac)) / (2a))``
    with ``a = (r~ - r^)^2``, ``b = 2 r^ (r~ - r^)``, ``c = r^2 - r~^2 - eta |dtheta|^2/dt``.

    Reference implementation only (undefined when ``a = 0`` and inaccurate when ``a`` is
    tiny); :func:`relax_sav` is the form the schemes use.
    """
    a = (r_tilde - r_hat) ** 2
    b = 2 * r_hat * (r_tilde - r_hat)
    c = r_hat ** 2 - r_tilde ** 2 - eta * dissipation
    return torch.clamp_min((-b - torch.sqrt(b * b - 4 * a * c)) / (2 * a), 0.0)


def relax_sav(r_tilde, r_hat, dissipation, eta: float):
    """Relaxation of Ma, Mao & Shen 2024, eqs. (22c)-(24) in closed form (book chapter "SAV,
    restart SAV and relaxed SAV"): returns ``(r_{n+1}, xi)``.

    ``r_{n+1} = min(r^, sqrt(r~^2 + eta |dtheta|^2 / dt))`` (the module docstring shows this
    equals eq. (24)); ``xi = (r^ - r_{n+1}) / (r^ - r~)`` when ``r^ > r~``, else 0. A
    non-finite ``r^`` keeps the unrelaxed value (``xi = 1``). Works on 0-d tensors and on
    host floats alike (``r_tilde`` and ``r_hat`` of the same kind).
    """
    bound = sqrt(r_tilde * r_tilde + eta * dissipation)
    finite = isfinite(r_hat)
    r_new = where(finite, minimum(r_hat, bound), r_tilde)
    gap = r_hat - r_tilde
    pos = finite & (gap > 0)
    xi = where(pos, clamp01((r_hat - r_new) / where(pos, gap, 1.0)), where(finite, 0.0, 1.0))
    return r_new, xi


class _SAVFamily(EnergyOptimizer):
    """SAV / ResSAV / RelSAV, plain and adaptive: direction, scalar update and relaxation
    of the template step (:class:`~savlib.schemes.base.EnergyOptimizer`)."""

    _restart = False
    _scheme_wide = ("C", "eta", "adaptive", "validate")
    _group_checks = {"lr": check_positive, "lam": check_nonnegative,
                     "betas": lambda name, b: check_betas(b), "eps": check_positive}
    _state_keys = ("step", "r", "xi")

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0, *,
                 eta: float = 0.99, adaptive: bool = False, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, validate: bool = True, foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        defaults = dict(lr=lr, lam=lam, betas=betas, eps=eps, C=check_real("C", C),
                        eta=check_unit_interval("eta", eta), adaptive=check_flag("adaptive", adaptive),
                        validate=check_flag("validate", validate))
        super().__init__(params, defaults, foreach=foreach, process_group=process_group,
                         sharded=sharded)

    # direction: -(I + dt L)^{-1} N, or Alg. 5's Adam direction --------------------------
    def _direction(self, closure) -> Direction:
        loss = evaluate_loss(closure, type(self).__name__)
        groups = self._with_grads()
        d = self._adam_direction(groups) if self.defaults["adaptive"] else self._resolvent_direction(groups)
        d.loss = loss
        d.means["loss"] = loss
        return d

    def _adam_direction(self, groups) -> Direction:
        """Ma, Mao & Shen 2024, Alg. 5 lines 2-7, with the new moments written into a second
        pair of buffers (they become the state only when the step succeeds; the old ones
        are then the buffers of the next step: double buffering, no allocation per step).

        With ``s = sqrt(v^ + eps)`` (eps inside the root, line 7) the direction is
        ``u = dt^ N^ / (1 + dt^ lam) = lr m^ / (s + lr lam)``; savlib forms ``t = m / (sqrt(v +
        eps bc2) + lr lam sqrt(bc2))`` (``= m / (sqrt(bc2) (s + lr lam))``), so ``u = k t`` with
        ``k = lr sqrt(bc2) / bc1``, ``S = sum m^ . u = a sum m . t`` with ``a = lr sqrt(bc2) /
        bc1^2``, and ``sum dtheta_j^2 / dt^_j = K^2 a (sum m . t - lr lam sqrt(bc2) |t|^2)``.
        """
        step = self._step_number()
        ps, ts, dots, tnorms, swaps = [], [], [], [], []
        a, k, lam_w = [], [], []
        for group, gps, ggs in groups:
            (b1, b2), lr, lam, eps = group["betas"], group["lr"], group["lam"], group["eps"]
            bc1, bc2 = 1.0 - b1 ** step, 1.0 - b2 ** step
            rb2 = math.sqrt(bc2)
            sh = lr * lam * rb2
            for p, g in zip(gps, ggs):
                st = self.state.get(p) or {}
                old_m, old_v = st.get("exp_avg"), st.get("exp_avg_sq")
                if old_m is None or old_v is None:              # the first step: zero moments
                    old_m, old_v = torch.zeros_like(g), torch.zeros_like(g)
                m, v, t = (self._workspace(p, tag) for tag in ("exp_avg", "exp_avg_sq", "dir"))
                torch.lerp(old_m, g, 1.0 - b1, out=m)
                torch.mul(old_v, b2, out=v)
                v.addcmul_(g, g, value=1.0 - b2)
                torch.add(v, eps * bc2, out=t)
                t.sqrt_()
                if sh != 0.0:
                    t.add_(sh)
                torch.div(m, t, out=t)
                dots.append(torch.vdot(m.reshape(-1), t.reshape(-1)))
                if sh != 0.0:
                    tnorms.append(torch.linalg.vector_norm(t))
                ps.append(p)
                ts.append(t)
                swaps.append((p, m, v, old_m, old_v))
            n = len(gps)
            a += [lr * rb2 / bc1 ** 2] * n
            k += [lr * rb2 / bc1] * n
            lam_w += [lr * rb2 / bc1 ** 2 * sh] * n if sh != 0.0 else []
        # weights over [*tnorms**2, *dots]; a non-finite gradient makes S non-finite (m and
        # t = m / sqrt(v + ...) are then inf or nan), which _validate reports
        forms = {"S": [0.0] * len(tnorms) + a, "D": [-x for x in lam_w] + a}
        uniform = k[0] if all(x == k[0] for x in k) else None
        kvec = None if uniform is not None else self._coef_vector("k", k)[0]
        return Direction(ps, ts, kvec, uniform, norms=tnorms, dots=dots, forms=forms,
                         commit=lambda: self._swap_moments(swaps))

    def _swap_moments(self, swaps) -> None:
        """Commit: the new moments become the state, the old ones the next step's buffers."""
        for p, m, v, old_m, old_v in swaps:
            st = self.state[p]
            st["exp_avg"], st["exp_avg_sq"] = m, v
            ws = self._ws
            ws["exp_avg"][p], ws["exp_avg_sq"][p] = old_m, old_v

    # validation and the scalar update ---------------------------------------------------
    def _validate(self, v, d) -> None:
        """The loss and the gradients must be finite and ``I + C > 0`` (``r = sqrt(I + C)``);
        ``validate=False`` skips the check and its host sync on accelerators."""
        if not self.defaults["validate"]:
            return
        who, C = type(self).__name__, self.defaults["C"]
        I, S = v["loss"], v["S"]
        if bool(isfinite(I + S) & (I > -C)):       # S >= 0: I + S is finite iff both are
            return
        if not bool(isfinite(I)):
            raise NonFiniteError(f"{who}.step: the loss is {float(I)}; expected a finite loss "
                                 "(parameters left unchanged)")
        if not bool(isfinite(S)):
            raise NonFiniteError(f"{who}.step: a gradient has non-finite entries (or its norm "
                                 "overflows); parameters left unchanged")
        raise EnergyDomainError(f"{who}.step: I(theta) + C = {float(I) + C:.6g} <= 0 but the SAV "
                                f"variable r = sqrt(I + C) needs I + C > 0: with this loss C must "
                                f"exceed -I(theta) = {-float(I):.6g} (parameters left unchanged)")

    def _update(self, v, d):
        """Ma, Mao & Shen 2024, eqs. (19)-(20) (Algs. 2, 3, 5): ``r~ = r_n / (1 + S / (2 (I + C)))``
        and the step ``theta -= (r~ / r^_n) dt (I + dt L)^{-1} N``; ResSAV starts from ``r^_n``."""
        C = self.defaults["C"]
        I, S, D = v["loss"], v["S"], v["D"]
        r_hat = sqrt(I + C)
        r_prev = self._stored("r", r_hat)                   # r_0 = sqrt(I(theta_0) + C)
        r_start = r_hat if self._restart else r_prev
        r_tilde = r_start / (1.0 + S / (2.0 * (I + C)))     # eq. (20)
        K = r_tilde / r_hat                                 # the step scale of eq. (19)
        diag = dict(loss=I, r_hat=r_hat, q=r_prev / r_hat, r_tilde=r_tilde, r=r_tilde,
                    energy=r_tilde * r_tilde, xi=1.0, step_scale=K,
                    lr_eff=K * self.param_groups[0]["lr"], dissipation=K * K * D, r_start=r_start)
        return -K, {"r": r_tilde, "xi": 1.0}, diag

    def _relax(self, loss_new, v, state, diag) -> None:
        """Ma, Mao & Shen 2024, Alg. 4, eqs. (21)-(24): ``r_{n+1} = min(r^_{n+1},
        sqrt(r~^2 + eta |dtheta|^2/dt))`` (:func:`relax_sav`)."""
        r_hat_new = sqrt(loss_new + self.defaults["C"])
        r_new, xi = relax_sav(diag["r_tilde"], r_hat_new, diag["dissipation"], self.defaults["eta"])
        state.update(r=r_new, xi=xi)
        diag.update(loss_new=loss_new, r_hat_new=r_hat_new, r=r_new, energy=r_new * r_new, xi=xi)


class SAV(_SAVFamily):
    """Vanilla SAV (Ma, Mao & Shen 2024, eq. (17), Alg. 2); ``adaptive=True`` gives A-SAV (Alg. 5).
    Book chapters "SAV, restart SAV and relaxed SAV" and "Adaptive SAV".

    ``SAV(params, lr=dt, C=1.0, lam=0.0, adaptive=False, betas=(0.9, 0.999), eps=1e-8)``.
    The modified energy ``r^2`` obeys eq. (18) as an identity. With mini-batches ``r`` only
    decreases and may collapse far below ``sqrt(I + C)``, which stalls training (watch
    ``diagnostics['q']``); see :class:`ResSAV` and :class:`RelSAV`.
    ``validate=False`` skips the one host sync per step that checks the loss and gradients.
    """

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0, *,
                 adaptive: bool = False, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 validate: bool = True, foreach: bool | None = None, process_group: Any = None,
                 sharded: bool = False):
        super().__init__(params, lr, C, lam, adaptive=adaptive, betas=betas, eps=eps,
                         validate=validate, foreach=foreach, process_group=process_group,
                         sharded=sharded)


class ResSAV(_SAVFamily):
    """Restart SAV (Ma, Mao & Shen 2024, Alg. 3): ``r_n`` is reset to ``sqrt(I(theta_n) + C)``
    before every step; ``adaptive=True`` gives A-ResSAV. Same arguments as :class:`SAV`."""

    _restart = True

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0, *,
                 adaptive: bool = False, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 validate: bool = True, foreach: bool | None = None, process_group: Any = None,
                 sharded: bool = False):
        super().__init__(params, lr, C, lam, adaptive=adaptive, betas=betas, eps=eps,
                         validate=validate, foreach=foreach, process_group=process_group,
                         sharded=sharded)


class RelSAV(_SAVFamily):
    """Relaxed SAV (Ma, Mao & Shen 2024, eqs. (21)-(24), Alg. 4, Thm. 2); ``adaptive=True``
    gives A-RelSAV.

    ``eta`` in ``[0, 1]`` (default 0.99) is the share of the ``|dtheta|^2/dt`` dissipation
    the relaxation may give back. The closure is evaluated a second time, under
    ``torch.no_grad()``, on the same batch to get ``r^_{n+1}`` (one extra forward pass); if
    that fails the parameters are put back and nothing is committed.
    """

    _relaxed = True

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0,
                 eta: float = 0.99, *, adaptive: bool = False, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, validate: bool = True, foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        super().__init__(params, lr, C, lam, eta=eta, adaptive=adaptive, betas=betas, eps=eps,
                         validate=validate, foreach=foreach, process_group=process_group,
                         sharded=sharded)
