"""ExpSAV and relaxed ExpSAV (seed 002 section 2.2.4, Thms 2.2, 2.3, 2.6).

Book chapter "ExpSAV and IEQ". The auxiliary variable is exponential,
``r = C exp(I(theta))`` with ``C > 0``, and savlib keeps it as ``rho = log r =
log C + I`` (float64): ``exp(1e4)`` overflows every float type, ``rho`` does not.

Both updates share the direction ``w* = -dt (I + dt L)^{-1} N`` (``L = lam Id``) and
``dt S_n = dt (N, (I + dt L)^{-1} N)`` (one reduction); they differ in ``x``::

    update="2.2.4" (default; section 2.2.4 and the r-update of Thm 2.2):
        x = dt S_n / r_n           r_{n+1} = r_n / (1 + x)
    update="thm2.3" (Thm 2.3):
        x = dt S_n                 r_{n+1} = r_n / (1 + x)

    theta_{n+1} = theta_n + (r_{n+1} / r_n) w* = theta_n - dt / (1 + x) (I + dt L)^{-1} N

In log space ``rho_{n+1} = rho_n - log1p(x)``, and for "2.2.4" ``x = exp(log(dt S_n) -
rho_n)`` is formed without ever forming ``r_n``: with a loss of 1e4 it is 0 and the step
is plain gradient descent, as the formula says. Two remarks the book makes explicit:

* In "2.2.4" the factor ``r_n / (r_n + dt S_n)`` compares ``dt S_n`` with
  ``r_n = C e^{I}``; for ``I`` beyond a few tens the scheme *is* gradient descent with
  step ``dt (I + dt L)^{-1}``. (Thm 2.2 writes ``r = exp(I + eps)``, i.e. ``C = e^eps``,
  and a ``w*`` with an extra ``1/r_n``; savlib follows 2.2.4, see PAPER-NOTES.)
* In "thm2.3" the step ``dt / (1 + dt S_n)`` does not depend on ``r`` at all: it is
  gradient descent with a step that shrinks where the gradient is large; ``r`` is
  bookkeeping. It is unconditionally stable in the sense below, whatever ``dt``.

Energy law. In both forms ``r_{n+1} <= r_n``, and with ``D = |dtheta|^2 / dt +
lam |dtheta|^2`` the step satisfies the exact identities (tested in float64)

    "2.2.4":   r_n - r_{n+1} = (r_n / r_{n+1}) D
    "thm2.3":  r_n - r_{n+1} = (r_n^2 / r_{n+1}) D

The reported modified energy is ``log(r / C)``, in loss units (``= I`` at the start),
non-increasing every step.

Relaxed ExpSAV (:class:`RelExpSAV`). Seed 002's Thm 2.6 mixes ``r = xi r^ + (1 - xi) r~``
with the roles of ``r~`` and ``r^`` swapped relative to seed 000 and constrains
``r_{n+1} - r^`` by ``eta |dtheta| / dt`` (an unsquared norm): that does not give an energy
law. savlib derives the relaxation in seed 000's convention instead:
``r_{n+1} = xi r~ + (1 - xi) r^`` with ``r^ = C exp(I(theta_{n+1}))`` (same batch, one
extra forward pass) and ``xi`` the smallest value in ``[0, 1]`` with

    r_{n+1} - r~ <= eta' (r_n - r~),        eta' = eta * (|dtheta|^2/dt) / (|dtheta|^2/dt + lam |dtheta|^2)

i.e. the relaxation may give back the share ``eta`` of the ``|dtheta|^2/dt`` part of the
dissipation (``eta' = eta / (1 + dt lam)`` for a single group), exactly as in seed 000's
Thm 2. The solution is ``r_{n+1} = min(r^, r~ + eta' (r_n - r~))`` and then

    r_{n+1} - r_n <= -(1 - eta') (r_n - r~) <= 0,

so the modified energy is non-increasing for every ``dt`` (tested), while ``r`` is pulled
back to ``C exp(I)`` whenever that is lower. In log space the bound is
``rho_n + log1p(eta' x) - log1p(x)``.

Diagnostics (``opt.diagnostics``, 0-d float64 tensors): ``loss``, ``log_r`` (``rho_{n+1}``),
``log_r_tilde``, ``log_r_hat`` (``log C + I(theta_n)``), ``q`` (``r_n / r^_n``), ``energy``
(``log(r_{n+1} / C)``), ``xi``, ``step_scale`` (``1 / (1 + x)``), ``lr_eff``, ``dissipation``
(``|dtheta|^2/dt``), and for RelExpSAV ``loss_new``, ``log_r_hat_new``.

Several processes (``process_group=``, ``sharded=``; book chapter "Training at scale"):
the loss, and when sharded ``S_n`` and ``|dtheta|^2/dt``, are combined in one float64
``all_reduce`` per step; RelExpSAV all-reduces its loss at the new point in a second one.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch
from torch import Tensor

from .base import (F64, EnergyOptimizer, add_scaled_, check_nonnegative, check_positive,
                   check_unit_interval, evaluate_loss, evaluate_loss_no_grad, f64_exp, f64_expm1,
                   f64_log, f64_log1p,
                   f64_clamp01, f64_div, f64_min)

__all__ = ["ExpSAV", "RelExpSAV", "relax_expsav", "relax_expsav_float"]

_UPDATES = ("2.2.4", "thm2.3")


def relax_expsav(log_r: Tensor, log_r_tilde: Tensor, log_r_hat: Tensor, x: Tensor,
                 eta_eff: Tensor) -> tuple[Tensor, Tensor]:
    """Relaxed ExpSAV in log space: returns ``(log r_{n+1}, xi)``.

    ``r_{n+1} = min(r^, r~ + eta' (r_n - r~))`` with ``r~ = r_n / (1 + x)``, so
    ``log`` of the bound is ``log r_n + log1p(eta' x) - log1p(x)``;
    ``xi = (r^ - r_{n+1}) / (r^ - r~) = expm1(rho_{n+1} - rho^) / expm1(rho~ - rho^)`` when
    ``r^ > r~``, else 0. A non-finite ``r^`` keeps the unrelaxed value (``xi = 1``).
    """
    # the bound is <= r_n since eta' <= 1; the clamp keeps that true under rounding
    log_bound = torch.minimum(log_r + torch.log1p(eta_eff * x) - torch.log1p(x), log_r)
    finite = torch.isfinite(log_r_hat)
    new = torch.where(finite, torch.minimum(log_r_hat, log_bound), log_r_tilde)
    pos = finite & (log_r_hat > log_r_tilde)
    den = torch.where(pos, torch.expm1(log_r_tilde - log_r_hat), -torch.ones_like(x))
    xi = torch.where(pos, torch.expm1(new - log_r_hat) / den, torch.zeros_like(x))
    xi = torch.where(finite, xi.clamp(0.0, 1.0), torch.ones_like(xi))
    return new, xi


def relax_expsav_float(log_r: float, log_r_tilde: float, log_r_hat: float, x: float,
                       eta_eff: float) -> tuple[float, float]:
    """:func:`relax_expsav` on Python floats (the CPU step): the same float64 operations
    in the same order, with libm's log1p/expm1, so it agrees with the tensor form to a few
    ulp (``tests/schemes/test_expsav.py`` checks this)."""
    log_bound = f64_min(log_r + f64_log1p(eta_eff * x) - f64_log1p(x), log_r)
    finite = math.isfinite(log_r_hat)
    new = f64_min(log_r_hat, log_bound) if finite else log_r_tilde
    if finite and log_r_hat > log_r_tilde:
        den = f64_expm1(log_r_tilde - log_r_hat)
        return new, f64_clamp01(f64_div(f64_expm1(new - log_r_hat), den))
    return new, (0.0 if finite else 1.0)


def _nonfinite(who: str, loss: float) -> ValueError:
    """The error of a step whose loss or gradient is not finite (parameters untouched)."""
    if not math.isfinite(loss):
        return ValueError(f"{who}.step: the loss is {loss}; expected a finite loss "
                          "(parameters left unchanged)")
    return ValueError(f"{who}.step: a gradient has non-finite entries (or its norm "
                      "overflows); parameters left unchanged")


class _ExpSAVFamily(EnergyOptimizer):
    """Shared step of ExpSAV and RelExpSAV; see the module docstring."""

    _relax = False
    _scheme_wide = ("C", "eta", "update", "validate")

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0, *,
                 update: str = "2.2.4", eta: float = 0.99, validate: bool = True,
                 foreach: bool | None = None, process_group: Any = None, sharded: bool = False):
        C = check_positive("C", C)
        eta = check_unit_interval("eta", eta)
        if update not in _UPDATES:
            raise ValueError(f"update must be one of {_UPDATES}, got {update!r}")
        if not isinstance(validate, bool):
            raise TypeError(f"validate must be a bool, got {validate!r}")
        defaults = dict(lr=lr, lam=lam, C=C, eta=eta, update=update, validate=validate)
        super().__init__(params, defaults, foreach=foreach, process_group=process_group,
                         sharded=sharded)

    def _validate_group(self, group: dict[str, Any]) -> None:
        group["lr"] = check_positive("lr", group["lr"])
        group["lam"] = check_nonnegative("lam", group["lam"])

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # type: ignore[override]
        """One ExpSAV step; returns the loss at the parameters before the step."""
        who = type(self).__name__
        d = self.defaults
        logC = math.log(d["C"])
        loss = evaluate_loss(closure, who)
        dev = self._device
        if dev.type == "cpu" and self._host_scalars:
            # CPU: the reduction is read to the host once and the scalar recursion runs on
            # Python floats (see EnergyOptimizer._linear_floats); with a process group the
            # loss (and, sharded, S and w.n2) go through one float64 all_reduce
            ps, gs, S, wn2, c, uniform = self._linear_floats()
            (Iv,), (S, wn2) = self._reduce_floats([loss.item()], [S, wn2])
            return self._step_floats(closure, who, loss, Iv, S, wn2, ps, gs, c, dev, uniform)
        I = loss.to(device=dev, dtype=F64)
        groups = self._grads()
        ps, gs, n2, c, w = self._linear_direction(groups)
        S = torch.dot(c, n2)                                # dt (N, (I + dt L)^{-1} N)
        wn2 = torch.dot(w, n2)
        # one fused all_reduce: the mean loss (and S, w.n2 when the parameters are sharded)
        if self.process_group is not None:
            (I,), (S, wn2) = self._reduce([I], [S, wn2])

        if d["validate"]:
            # Host sync on purpose: a non-finite loss or gradient must raise before the
            # parameters change, so the step has to branch on the host here.
            if not bool(torch.isfinite(I + S)):             # S >= 0: finite iff both are
                raise _nonfinite(who, I.item())
        sc = self.scalars
        log_r_hat = logC + I
        log_r = sc.get("log_r")
        if log_r is None:
            log_r = log_r_hat                                # r_0 = C exp(I(theta_0))
        if d["update"] == "2.2.4":
            # dt S_n / r_n without forming r_n. Once r has underflowed (log r = -inf, see
            # the book: r collapses super-exponentially with mini-batches) x = inf and the
            # step is 0; S = 0 must then give x = 0, not exp(-inf + inf) = nan.
            x = torch.where(S > 0, torch.exp(torch.log(S) - log_r), torch.zeros_like(S))
        else:
            x = S                                            # Thm 2.3
        log_r_tilde = log_r - torch.log1p(x)
        scale = 1.0 / (1.0 + x)                              # r_{n+1} / r_n
        add_scaled_(ps, gs, -scale * c, self.foreach)
        diss_dt = scale * scale * wn2                        # |dtheta|^2 / dt
        diag: dict[str, Tensor] = {}
        if self._relax:
            loss_new = evaluate_loss_no_grad(closure, who).to(device=dev, dtype=F64)
            (loss_new,), _ = self._reduce([loss_new])   # the second collective of RelExpSAV
            log_r_hat_new = logC + loss_new
            # eta' = eta * (|dtheta|^2/dt) / (|dtheta|^2/dt + lam |dtheta|^2); the total is
            # scale^2 * S, and 1/(1 + dt lam) when S = 0.
            total = scale * scale * S
            share = torch.where(total > 0, diss_dt / torch.where(total > 0, total, torch.ones_like(total)),
                                torch.ones_like(total))
            eta_eff = d["eta"] * share
            new, xi = relax_expsav(log_r, log_r_tilde, log_r_hat_new, x, eta_eff)
            diag.update(loss_new=loss_new, log_r_hat_new=log_r_hat_new, eta_eff=eta_eff)
        else:
            new, xi = log_r_tilde, self._one(dev)
        sc["step"] = sc.get("step", 0) + 1
        sc["log_r"] = new
        sc["xi"] = xi
        diag.update(loss=I, log_r=new, log_r_prev=log_r, log_r_tilde=log_r_tilde,
                    log_r_hat=log_r_hat, q=torch.exp(log_r - log_r_hat), energy=new - logC,
                    xi=xi, x=x, step_scale=scale, lr_eff=scale * self.param_groups[0]["lr"],
                    dissipation=diss_dt)
        self.diagnostics = diag
        if self.process_group is not None:
            return I.to(dtype=loss.dtype, device=loss.device)   # the global (mean) loss
        return loss


    _DIAG_KEYS = ("loss", "log_r", "log_r_prev", "log_r_tilde", "log_r_hat", "q", "energy", "xi",
                  "x", "step_scale", "lr_eff", "dissipation")

    def _step_floats(self, closure, who: str, loss: Tensor, I: float, S: float,
                     wn2: float, ps, gs, c: Tensor, dev: torch.device,
                     uniform: float | None = None) -> Tensor:
        """:meth:`step` after the reductions, on Python floats (CPU): the same float64
        operations in the same order as the tensor path; ``log``/``exp``/``log1p``/``expm1``
        are libm's (see ``savlib.schemes.base``)."""
        d = self.defaults
        logC = math.log(d["C"])
        if d["validate"] and not math.isfinite(I + S):      # S >= 0: finite iff both are
            raise _nonfinite(who, I)
        sc = self.scalars
        log_r_hat = logC + I
        log_r_t = sc.get("log_r")
        log_r = log_r_hat if log_r_t is None else log_r_t.item()   # r_0 = C exp(I(theta_0))
        if d["update"] == "2.2.4":
            # dt S_n / r_n without forming r_n (x = 0 for S = 0, also when log r = -inf)
            x = f64_exp(f64_log(S) - log_r) if S > 0 else 0.0
        else:
            x = S                                            # Thm 2.3
        log1p_x = f64_log1p(x)
        log_r_tilde = log_r - log1p_x
        scale = f64_div(1.0, 1.0 + x)                        # r_{n+1} / r_n
        self._add_scaled_floats(ps, gs, c, -scale, uniform)
        diss_dt = scale * scale * wn2                        # |dtheta|^2 / dt
        if self._relax:
            loss_new = self._host_loss_new(closure, who)
            log_r_hat_new = logC + loss_new
            total = scale * scale * S
            share = f64_div(diss_dt, total) if total > 0 else 1.0
            eta_eff = d["eta"] * share
            new, xi = relax_expsav_float(log_r, log_r_tilde, log_r_hat_new, x, eta_eff)
            xi_t = torch.scalar_tensor(xi, dtype=F64, device=dev)
            keys = ("loss_new", "log_r_hat_new", "eta_eff") + self._DIAG_KEYS
            vals = [loss_new, log_r_hat_new, eta_eff]
        else:
            new, xi, xi_t = log_r_tilde, 1.0, self._one(dev)
            keys, vals = self._DIAG_KEYS, []
        sc["step"] = sc.get("step", 0) + 1
        sc["log_r"] = torch.scalar_tensor(new, dtype=F64, device=dev)
        sc["xi"] = xi_t
        vals += [I, new, log_r, log_r_tilde, log_r_hat, f64_exp(log_r - log_r_hat),
                 new - logC, xi, x, scale, scale * self.param_groups[0]["lr"], diss_dt]
        self._set_float_diagnostics(keys, vals, dev)
        if self.process_group is not None:                    # the global (mean) loss
            return torch.scalar_tensor(I, dtype=loss.dtype, device=loss.device)
        return loss


class ExpSAV(_ExpSAVFamily):
    """Exponential SAV (seed 002 section 2.2.4); ``r = C exp(I)`` kept as ``log r``.

    ``ExpSAV(params, lr=dt, C=1.0, lam=0.0, update="2.2.4")``; ``update="thm2.3"`` selects
    the r-independent step of seed 002 Thm 2.3. See the module docstring for both
    updates and their energy identity. ``C > 0`` (its log enters ``r``).
    ``validate=False`` skips the one host sync per step that checks loss and gradients.
    """

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0, *,
                 update: str = "2.2.4", validate: bool = True, foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        super().__init__(params, lr, C, lam, update=update, validate=validate, foreach=foreach,
                         process_group=process_group, sharded=sharded)


class RelExpSAV(_ExpSAVFamily):
    """Relaxed ExpSAV derived by savlib (seed 002 Thm 2.6 corrected to seed 000's
    convention): ``r_{n+1} = min(C exp(I(theta_{n+1})), r~ + eta' (r_n - r~))``; the modified
    energy ``log(r/C)`` never increases. Arguments as :class:`ExpSAV` plus ``eta``
    (default 0.99). The closure is evaluated again under ``torch.no_grad()``."""

    _relax = True

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0,
                 eta: float = 0.99, *, update: str = "2.2.4", validate: bool = True,
                 foreach: bool | None = None, process_group: Any = None, sharded: bool = False):
        super().__init__(params, lr, C, lam, update=update, eta=eta, validate=validate,
                         foreach=foreach, process_group=process_group, sharded=sharded)
