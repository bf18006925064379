"""ExpSAV and relaxed ExpSAV (Anonymous 2024, section 2.2.4, Thms 2.2, 2.3, 2.6).

Book chapter "ExpSAV". The auxiliary variable is exponential,
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
  and a ``w*`` with an extra ``1/r_n``; savlib follows 2.2.4; the chapter sets the two side by side.)
* In "thm2.3" the step ``dt / (1 + dt S_n)`` does not depend on ``r`` at all: it is
  gradient descent with a step that shrinks where the gradient is large; ``r`` is
  bookkeeping. It is unconditionally stable in the sense below, whatever ``dt``.

Energy law. In both forms ``r_{n+1} <= r_n``, and with ``D = |dtheta|^2 / dt +
lam |dtheta|^2`` the step satisfies the exact identities (tested in float64)

    "2.2.4":   r_n - r_{n+1} = (r_n / r_{n+1}) D
    "thm2.3":  r_n - r_{n+1} = (r_n^2 / r_{n+1}) D

The reported modified energy is ``log(r / C)``, in loss units (``= I`` at the start),
non-increasing every step.

Relaxed ExpSAV (:class:`RelExpSAV`). Anonymous 2024's Thm 2.6 mixes ``r = xi r^ + (1 - xi) r~``
with the roles of ``r~`` and ``r^`` swapped relative to Ma, Mao & Shen 2024 and constrains
``r_{n+1} - r^`` by ``eta |dtheta| / dt`` (an unsquared norm): that does not give an energy
law. savlib derives the relaxation in Ma, Mao & Shen 2024's convention instead:
``r_{n+1} = xi r~ + (1 - xi) r^`` with ``r^ = C exp(I(theta_{n+1}))`` (same batch, one
extra forward pass) and ``xi`` the smallest value in ``[0, 1]`` with::

    r_{n+1} - r~ <= eta' (r_n - r~),        eta' = eta * (|dtheta|^2/dt) / (|dtheta|^2/dt + lam |dtheta|^2)

i.e. the relaxation may give back the share ``eta`` of the ``|dtheta|^2/dt`` part of the
dissipation (``eta' = eta / (1 + dt lam)`` for a single group), exactly as in Ma, Mao & Shen 2024's
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
from typing import Any, Iterable

from ..errors import HyperParameterError, NonFiniteError
from .base import (Direction, EnergyOptimizer, check_flag, check_nonnegative, check_positive,
                   check_unit_interval, clamp01, evaluate_loss, exp, expm1, isfinite, log, log1p,
                   minimum, where)

__all__ = ["ExpSAV", "RelExpSAV", "relax_expsav"]

_UPDATES = ("2.2.4", "thm2.3")


def relax_expsav(log_r, log_r_tilde, log_r_hat, x, eta_eff):
    """Relaxed ExpSAV in log space (module docstring): returns ``(log r_{n+1}, xi)``.

    ``r_{n+1} = min(r^, r~ + eta' (r_n - r~))`` with ``r~ = r_n / (1 + x)``, so the log of the
    bound is ``log r_n + log1p(eta' x) - log1p(x)``; ``xi = (r^ - r_{n+1}) / (r^ - r~) =
    expm1(rho_{n+1} - rho^) / expm1(rho~ - rho^)`` when ``r^ > r~``, else 0. A non-finite
    ``r^`` keeps the unrelaxed value (``xi = 1``). 0-d tensors or host floats alike.
    """
    # the bound is <= r_n since eta' <= 1; the minimum keeps that true under rounding
    log_bound = minimum(log_r + log1p(eta_eff * x) - log1p(x), log_r)
    finite = isfinite(log_r_hat)
    new = where(finite, minimum(log_r_hat, log_bound), log_r_tilde)
    pos = finite & (log_r_hat > log_r_tilde)
    den = where(pos, expm1(log_r_tilde - log_r_hat), -1.0)
    xi = where(pos, clamp01(expm1(new - log_r_hat) / den), where(finite, 0.0, 1.0))
    return new, xi


class _ExpSAVFamily(EnergyOptimizer):
    """ExpSAV and RelExpSAV: direction, scalar update and relaxation of the template step."""

    _scheme_wide = ("C", "eta", "update", "validate")
    _group_checks = {"lr": check_positive, "lam": check_nonnegative}
    _state_keys = ("step", "log_r", "xi")

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0, *,
                 update: str = "2.2.4", eta: float = 0.99, validate: bool = True,
                 foreach: bool | None = None, process_group: Any = None, sharded: bool = False):
        if update not in _UPDATES:
            raise HyperParameterError(f"update must be one of {_UPDATES}, got {update!r}")
        defaults = dict(lr=lr, lam=lam, C=check_positive("C", C), eta=check_unit_interval("eta", eta),
                        update=update, validate=check_flag("validate", validate))
        super().__init__(params, defaults, foreach=foreach, process_group=process_group,
                         sharded=sharded)

    def _direction(self, closure) -> Direction:
        """``w* = -dt (I + dt L)^{-1} N`` and ``dt S_n = dt (N, (I + dt L)^{-1} N)`` (one
        reduction), as for SAV."""
        loss = evaluate_loss(closure, type(self).__name__)
        d = self._resolvent_direction(self._with_grads())
        d.loss = loss
        d.means["loss"] = loss
        return d

    def _validate(self, v, d) -> None:
        if self.defaults["validate"] and not bool(isfinite(v["loss"] + v["S"])):   # S >= 0
            who, I = type(self).__name__, float(v["loss"])
            if not math.isfinite(I):
                raise NonFiniteError(f"{who}.step: the loss is {I}; expected a finite loss "
                                     "(parameters left unchanged)")
            raise NonFiniteError(f"{who}.step: a gradient has non-finite entries (or its norm "
                                 "overflows); parameters left unchanged")

    def _update(self, v, d):
        """Anonymous 2024, section 2.2.4 ("2.2.4") or Thm 2.3 ("thm2.3") in log space:
        ``rho_{n+1} = rho_n - log1p(x)``, ``theta_{n+1} = theta_n - dt / (1 + x) (I + dt L)^{-1} N``."""
        logC = math.log(self.defaults["C"])
        I, S, D = v["loss"], v["S"], v["D"]
        log_r_hat = logC + I
        log_r = self._stored("log_r", log_r_hat)             # r_0 = C exp(I(theta_0))
        if self.defaults["update"] == "2.2.4":
            # dt S_n / r_n without forming r_n; S = 0 gives x = 0 (also once log r = -inf)
            x = where(S > 0, exp(log(S) - log_r), 0.0 * S)
        else:
            x = S                                            # Thm 2.3
        log_r_tilde = log_r - log1p(x)
        scale = 1.0 / (1.0 + x)                              # r_{n+1} / r_n
        diag = dict(loss=I, log_r=log_r_tilde, log_r_prev=log_r, log_r_tilde=log_r_tilde,
                    log_r_hat=log_r_hat, q=exp(log_r - log_r_hat), energy=log_r_tilde - logC, xi=1.0,
                    x=x, step_scale=scale, lr_eff=scale * self.param_groups[0]["lr"],
                    dissipation=scale * scale * D)
        return -scale, {"log_r": log_r_tilde, "xi": 1.0}, diag

    def _relax(self, loss_new, v, state, diag) -> None:
        """savlib's relaxation (module docstring): ``eta' = eta (|dtheta|^2/dt) / (|dtheta|^2/dt
        + lam |dtheta|^2)``, the total being ``scale^2 S`` (``eta' = eta`` when it is 0)."""
        logC = math.log(self.defaults["C"])
        scale = diag["step_scale"]
        total = scale * scale * v["S"]
        share = where(total > 0, diag["dissipation"] / where(total > 0, total, 1.0), 1.0)
        eta_eff = self.defaults["eta"] * share
        log_r_hat_new = logC + loss_new
        new, xi = relax_expsav(diag["log_r_prev"], diag["log_r_tilde"], log_r_hat_new, diag["x"], eta_eff)
        state.update(log_r=new, xi=xi)
        diag.update(loss_new=loss_new, log_r_hat_new=log_r_hat_new, eta_eff=eta_eff, log_r=new,
                    energy=new - logC, xi=xi)


class ExpSAV(_ExpSAVFamily):
    """Exponential SAV (Anonymous 2024, section 2.2.4; book chapter "ExpSAV");
    ``r = C exp(I)`` kept as ``log r``.

    ``ExpSAV(params, lr=dt, C=1.0, lam=0.0, update="2.2.4")``; ``update="thm2.3"`` selects
    the r-independent step of Thm 2.3. See the module docstring for both updates and their
    energy identity. ``C > 0`` (its log enters ``r``). ``validate=False`` skips the one host
    sync per step that checks loss and gradients.
    """

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0, *,
                 update: str = "2.2.4", validate: bool = True, foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        super().__init__(params, lr, C, lam, update=update, validate=validate, foreach=foreach,
                         process_group=process_group, sharded=sharded)


class RelExpSAV(_ExpSAVFamily):
    """Relaxed ExpSAV derived by savlib (Anonymous 2024, Thm 2.6, corrected to Ma, Mao
    & Shen 2024's convention): ``r_{n+1} = min(C exp(I(theta_{n+1})), r~ + eta' (r_n - r~))``;
    the modified energy ``log(r/C)`` never increases. Arguments as :class:`ExpSAV` plus ``eta``
    (default 0.99). The closure is evaluated again under ``torch.no_grad()``."""

    _relaxed = True

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0,
                 eta: float = 0.99, *, update: str = "2.2.4", validate: bool = True,
                 foreach: bool | None = None, process_group: Any = None, sharded: bool = False):
        super().__init__(params, lr, C, lam, update=update, eta=eta, validate=validate,
                         foreach=foreach, process_group=process_group, sharded=sharded)
