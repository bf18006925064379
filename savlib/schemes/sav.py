"""SAV, restart SAV and relaxed SAV, plain and Adam-adaptive (seed 000, Algs. 2-5).

Book chapters "SAV, restart SAV and relaxed SAV" and "Adaptive SAV". Notation: loss
``I(theta)``, gradient ``N = grad I``, time step ``dt`` (= ``lr``), SAV constant ``C``
(``I + C > 0``), linear operator ``L = lam * Id`` so that ``(I + dt L)^{-1}`` is the
scalar ``1 / (1 + dt lam)``. lambda enters *only* through that factor (seed 000
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
square root, unlike Adam; ``v`` updated elementwise with ``N * N``, reading seed 000's
``|N|^2`` as Adam does). Every formula above holds with ``N^`` for ``N`` and the
vector ``dt^`` for ``dt``: ``S_n = sum_j dt^_j N^_j^2 / (1 + dt^_j lam)`` and the laws hold
in the ``dt^``-weighted norm ``sum_j dtheta_j^2 / dt^_j``.

Diagnostics after each step (``opt.diagnostics``, 0-d float64 tensors, no host sync):
``loss`` (``I(theta_n)``), ``r_hat`` (``sqrt(I(theta_n) + C)``), ``q`` (``r_n / r^_n``, the
ratio of seed 000 Fig. 6 before any restart; ``1 - q`` is what Fig. 6 plots),
``r_tilde``, ``r`` (``r_{n+1}``), ``energy`` (``r_{n+1}^2``, the modified energy), ``xi``
(1 when nothing is relaxed), ``step_scale`` (``r~ / r^_n``: the factor multiplying ``dt``
in the update; 1 for plain gradient descent), ``lr_eff`` (``step_scale * lr`` of the first
group), ``dissipation`` (``|dtheta|^2 / dt`` in the dt-weighted norm), ``r_start`` (the
``r`` the step started from: ``r_n``, or ``r^_n`` for ResSAV), and for RelSAV
``loss_new`` and ``r_hat_new``.

Several processes (``process_group=pg, sharded=False``; book chapter "Training at
scale"): the loss is averaged over the ranks, and when ``sharded=True`` the partial sums
``S_n`` and ``|dtheta|^2/dt`` (and for A-SAV the ``|N|^2`` of the finite check) are summed,
all in **one** float64 ``all_reduce`` per step, before any branch; every rank then computes
the same ``r``, takes the same branches and raises the same error. RelSAV needs the loss at
the new point, which exists only after the step: a second one-element ``all_reduce``.
``step`` then returns the global (mean) loss.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch
from torch import Tensor

from .base import (F64, EnergyOptimizer, add_scaled_, check_betas, check_nonnegative,
                   check_positive, check_real, check_unit_interval, evaluate_loss,
                   evaluate_loss_no_grad, f64_clamp01, f64_div, f64_min, f64_sqrt, sq_norms)

__all__ = ["SAV", "ResSAV", "RelSAV", "xi_eq24", "relax_sav", "relax_sav_float"]


def xi_eq24(r_tilde: Tensor, r_hat: Tensor, dissipation: Tensor, eta: float) -> Tensor:
    """Seed 000 eq. 24 as printed: ``max(0, (-b - sqrt(b^2 - 4ac)) / (2a))`` with
    ``a = (r~ - r^)^2``, ``b = 2 r^ (r~ - r^)``, ``c = r^2 - r~^2 - eta |dtheta|^2/dt``.

    Reference implementation only (undefined when ``a = 0`` and inaccurate when ``a`` is
    tiny); :func:`relax_sav` is the form the schemes use.
    """
    a = (r_tilde - r_hat) ** 2
    b = 2 * r_hat * (r_tilde - r_hat)
    c = r_hat ** 2 - r_tilde ** 2 - eta * dissipation
    return torch.clamp_min((-b - torch.sqrt(b * b - 4 * a * c)) / (2 * a), 0.0)


def relax_sav(r_tilde: Tensor, r_hat: Tensor, dissipation: Tensor, eta: float
              ) -> tuple[Tensor, Tensor]:
    """Relaxation step of seed 000 eqs. 22c-24 in closed form: returns ``(r_{n+1}, xi)``.

    ``r_{n+1} = min(r^, sqrt(r~^2 + eta |dtheta|^2 / dt))`` (see the module docstring for
    why this equals eq. 24); ``xi = (r^ - r_{n+1}) / (r^ - r~)`` when ``r^ > r~``, else 0.
    A non-finite ``r^`` keeps the unrelaxed value (``xi = 1``).
    """
    bound = torch.sqrt(r_tilde ** 2 + eta * dissipation)
    finite = torch.isfinite(r_hat)
    r_new = torch.where(finite, torch.minimum(r_hat, bound), r_tilde)
    gap = r_hat - r_tilde
    pos = finite & (gap > 0)
    xi = torch.where(pos, (r_hat - r_new) / torch.where(pos, gap, torch.ones_like(gap)),
                     torch.zeros_like(gap))
    xi = torch.where(finite, xi.clamp(0.0, 1.0), torch.ones_like(xi))
    return r_new, xi


def relax_sav_float(r_tilde: float, r_hat: float, dissipation: float, eta: float
                    ) -> tuple[float, float]:
    """:func:`relax_sav` on Python floats (the CPU step): the same float64 operations in
    the same order, with libm's correctly rounded sqrt, so it agrees with the tensor form to
    an ulp (``tests/schemes/test_sav.py`` checks this)."""
    bound = f64_sqrt(r_tilde * r_tilde + eta * dissipation)
    finite = math.isfinite(r_hat)
    r_new = f64_min(r_hat, bound) if finite else r_tilde
    gap = r_hat - r_tilde
    if finite and gap > 0:
        return r_new, f64_clamp01(f64_div(r_hat - r_new, gap))
    return r_new, (0.0 if finite else 1.0)


class _SAVFamily(EnergyOptimizer):
    """Shared step of SAV / ResSAV / RelSAV (plain and adaptive); see the module docstring."""

    _restart = False
    _relax = False
    _scheme_wide = ("C", "eta", "adaptive", "validate")

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0, *,
                 eta: float = 0.99, adaptive: bool = False, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, validate: bool = True, foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        C = check_real("C", C)
        eta = check_unit_interval("eta", eta)
        for name, flag in (("adaptive", adaptive), ("validate", validate)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {flag!r}")
        defaults = dict(lr=lr, lam=lam, betas=betas, eps=eps, C=C, eta=eta, adaptive=adaptive,
                        validate=validate)
        super().__init__(params, defaults, foreach=foreach, process_group=process_group,
                         sharded=sharded)

    def _validate_group(self, group: dict[str, Any]) -> None:
        group["lr"] = check_positive("lr", group["lr"])
        group["lam"] = check_nonnegative("lam", group["lam"])
        group["betas"] = check_betas(group["betas"])
        group["eps"] = check_positive("eps", group["eps"])

    # --------------------------------------------------------------------------- step
    def _raise_bad(self, I: Tensor, grad_sq: Tensor, C: float) -> None:
        who = type(self).__name__
        if not bool(torch.isfinite(I)):
            raise ValueError(f"{who}.step: the loss is {I.item()}; expected a finite loss "
                             "(parameters left unchanged)")
        if not bool(torch.isfinite(grad_sq)):
            raise ValueError(f"{who}.step: a gradient has non-finite entries (or its norm "
                             "overflows); parameters left unchanged")
        Iv = I.item()
        raise ValueError(f"{who}.step: I(theta) + C = {Iv + C:.6g} <= 0 but the SAV variable "
                         f"r = sqrt(I + C) needs I + C > 0: with this loss C must exceed "
                         f"-I(theta) = {-Iv:.6g} (parameters left unchanged)")

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # type: ignore[override]
        """One SAV-type step; ``closure`` as in :func:`savlib.schemes.make_closure`.
        Returns the loss at the parameters before the step."""
        who = type(self).__name__
        d = self.defaults
        C, eta, adaptive, validate = d["C"], d["eta"], d["adaptive"], d["validate"]
        loss = evaluate_loss(closure, who)
        dev = self._device
        # On CPU the scalar recursion below runs on Python floats (see savlib.schemes.base);
        # on an accelerator it stays on 0-d device tensors.
        cpu = dev.type == "cpu" and self._host_scalars
        if cpu and not adaptive:
            # CPU: the reduction is read to the host once and the scalar recursion runs on
            # Python floats (see EnergyOptimizer._linear_floats); with a process group the
            # loss (and, sharded, S and |dtheta|^2/dt) go through one float64 all_reduce
            ps, gs, S, diss_unit, c, uniform = self._linear_floats()
            (Iv,), (S, diss_unit) = self._reduce_floats([loss.item()], [S, diss_unit])
            # Host sync on purpose (the .item() above): the step must raise before touching
            # the parameters when the loss or a gradient is not finite or I + C <= 0.
            # (S >= 0, so I + S is finite iff both are.)
            if validate and not (math.isfinite(Iv + S) and Iv > -C):
                self._raise_bad(torch.tensor(Iv, dtype=F64), torch.tensor(S, dtype=F64), C)
            if Iv + C > 0.0:    # else (validate=False only) the tensor path gives inf/nan
                return self._step_floats(closure, who, loss, None, Iv, S, diss_unit, ps, gs, c,
                                         self.scalars.get("step", 0) + 1, dev, uniform)
        # float64 loss on the device (a single-process CPU step reads it as a float instead)
        I = loss.to(device=dev, dtype=F64) if not cpu or self.process_group is not None else None
        groups = self._grads()
        sc = self.scalars
        step = sc.get("step", 0) + 1
        Iv = None           # I, S, |dtheta|^2/dt-unit as Python floats (CPU only)

        dist_sharded = self.process_group is not None and self.sharded
        if adaptive:
            all_g = [g for _, _, gs in groups for g in gs]
            if dist_sharded:
                # FSDP-style: the inner products are partial sums over this rank's slice.
                # The Adam moments are formed out of place, the loss, |N|^2 and both inner
                # products summed in ONE all_reduce, the step validated on the global values,
                # and only then are the new moments committed (a pointer swap).
                bad_check = (sq_norms(all_g, dev, self.foreach).sum() if validate
                             else torch.zeros((), dtype=F64, device=dev))
                ps, upd, a_coef, k_coef, dots, t2, lrlam, commit = self._adam_direction(
                    groups, step, commit=False)
                S = torch.dot(a_coef, dots)
                diss_unit = S - torch.dot(a_coef * lrlam, t2)
                (I,), (bad_check, S, diss_unit) = self._reduce([I], [bad_check, S, diss_unit])
                if validate and not bool(torch.isfinite(I + bad_check) & (I > -C)):
                    self._raise_bad(I, bad_check, C)
                commit()
            else:
                if self.process_group is not None:
                    (I,), _ = self._reduce([I])     # DDP: only the loss differs between ranks
                if cpu:
                    Iv = (loss if I is None else I).item()
                if validate:
                    # Host sync on purpose: a bad loss/gradient must raise *before* the Adam
                    # moments or the parameters change, so the branch has to be taken here.
                    if cpu:
                        g2 = sum(self._host_sq_norms(all_g))
                        if not (math.isfinite(Iv + g2) and Iv > -C):
                            self._raise_bad(loss.to(F64) if I is None else I,
                                            torch.tensor(g2, dtype=F64), C)
                    elif not bool(torch.isfinite(I + (bad_check := sq_norms(all_g, dev, self.foreach).sum()))
                                  & (I > -C)):
                        self._raise_bad(I, bad_check, C)
                if cpu and Iv is not None and Iv + C > 0.0:
                    ps, upd, S, diss_unit, k_coef, uniform = self._adam_direction(
                        groups, step, floats=True)
                    return self._step_floats(closure, who, loss, None, Iv, S, diss_unit, ps, upd,
                                             k_coef, step, dev, uniform)
                ps, upd, a_coef, k_coef, dots, t2, lrlam = self._adam_direction(groups, step)
                S = torch.dot(a_coef, dots)
                diss_unit = S - torch.dot(a_coef * lrlam, t2)
            upd_coef = k_coef
        else:
            ps, upd, n2, c, w = self._linear_direction(groups)
            S = torch.dot(c, n2)
            diss_unit = torch.dot(w, n2)
            # one fused all_reduce (loss; and S, |dtheta|^2/dt-unit when sharded)
            if self.process_group is not None:
                (I,), (S, diss_unit) = self._reduce([I], [S, diss_unit])
            # (a CPU step gets here only with validate=False and I + C <= 0: see above)
            if validate and not cpu and not bool(torch.isfinite(I + S) & (I > -C)):
                # Host sync on purpose: the step must raise before touching the parameters
                # when the loss or a gradient is not finite or I + C <= 0. (S >= 0, so
                # I + S is finite iff both are.)
                self._raise_bad(I, S, C)
            upd_coef = c

        if cpu:
            if Iv is None:
                Iv = (loss if I is None else I).item()
            if Iv + C > 0.0:    # else (validate=False only) the tensor path gives inf/nan
                uniform = self._adam_cache[5] if adaptive else None
                return self._step_floats(closure, who, loss, I, Iv, S.item(), diss_unit.item(),
                                         ps, upd, upd_coef, step, dev, uniform)
            if I is None:
                I = loss.to(device=dev, dtype=F64)

        r_hat = torch.sqrt(I + C)
        r_prev = sc.get("r")
        if r_prev is None:
            r_prev = r_hat  # r_0 = sqrt(I(theta_0) + C)
        q = r_prev / r_hat
        r_start = r_hat if self._restart else r_prev
        r_tilde = r_start / (1.0 + S / (2.0 * (I + C)))          # seed 000 eq. 20
        K = r_tilde / r_hat                                          # r~ / sqrt(I_n + C)
        add_scaled_(ps, upd, -K * upd_coef, self.foreach)           # eq. 19 / Alg. 2 line 5
        dissipation = K * K * diss_unit                             # |dtheta|^2 / dt

        diag: dict[str, Tensor] = {}
        if self._relax:
            loss_new = evaluate_loss_no_grad(closure, who).to(device=dev, dtype=F64)
            (loss_new,), _ = self._reduce([loss_new])   # the second collective of RelSAV
            r_hat_new = torch.sqrt(loss_new + C)
            r_new, xi = relax_sav(r_tilde, r_hat_new, dissipation, eta)
            diag.update(loss_new=loss_new, r_hat_new=r_hat_new)
        else:
            r_new, xi = r_tilde, self._one(dev)

        sc["step"] = step
        sc["r"] = r_new
        sc["xi"] = xi
        diag.update(loss=I, r_hat=r_hat, q=q, r_tilde=r_tilde, r=r_new, energy=r_new * r_new,
                    xi=xi, step_scale=K, lr_eff=K * self.param_groups[0]["lr"],
                    dissipation=dissipation, r_start=r_start)
        self.diagnostics = diag
        if self.process_group is not None:
            return I.to(dtype=loss.dtype, device=loss.device)   # the global (mean) loss
        return loss

    _DIAG_KEYS = ("loss", "r_hat", "q", "r_tilde", "r", "energy", "xi", "step_scale", "lr_eff",
                  "dissipation", "r_start")

    def _step_floats(self, closure, who: str, loss: Tensor, I: Tensor | None, Iv: float, S: float,
                     diss_unit: float, ps, upd, upd_coef: Tensor, step: int,
                     dev: torch.device, uniform: float | None = None) -> Tensor:
        """The scalar recursion of :meth:`step` on Python floats (CPU, ``I + C > 0``): the
        same float64 operations in the same order as the tensor path."""
        C = self.defaults["C"]
        sc = self.scalars
        r_hat = f64_sqrt(Iv + C)
        r_prev_t = sc.get("r")
        r_prev = r_hat if r_prev_t is None else r_prev_t.item()  # r_0 = sqrt(I(theta_0) + C)
        q = r_prev / r_hat
        r_start = r_hat if self._restart else r_prev
        r_tilde = r_start / (1.0 + S / (2.0 * (Iv + C)))        # seed 000 eq. 20
        K = r_tilde / r_hat                                        # r~ / sqrt(I_n + C)
        self._add_scaled_floats(ps, upd, upd_coef, -K, uniform)   # eq. 19 / Alg. 2 line 5
        dissipation = K * K * diss_unit                           # |dtheta|^2 / dt
        if self._relax:
            loss_new = self._host_loss_new(closure, who)
            r_hat_new = f64_sqrt(loss_new + C)
            r_new, xi = relax_sav_float(r_tilde, r_hat_new, dissipation, self.defaults["eta"])
            xi_t = torch.scalar_tensor(xi, dtype=F64, device=dev)
            keys = ("loss_new", "r_hat_new") + self._DIAG_KEYS
            vals = [loss_new, r_hat_new]
        else:
            r_new, xi, xi_t = r_tilde, 1.0, self._one(dev)
            keys, vals = self._DIAG_KEYS, []
        sc["step"] = step
        sc["r"] = torch.scalar_tensor(r_new, dtype=F64, device=dev)
        sc["xi"] = xi_t
        vals += [Iv, r_hat, q, r_tilde, r_new, r_new * r_new, xi, K,
                 K * self.param_groups[0]["lr"], dissipation, r_start]
        self._set_float_diagnostics(keys, vals, dev)
        if self.process_group is not None:                    # the global (mean) loss
            return torch.scalar_tensor(Iv, dtype=loss.dtype, device=loss.device)
        return loss

    def _adam_direction(self, groups, step: int, commit: bool = True, floats: bool = False):
        """Alg. 5 lines 2-7 for every group, in place on the Adam moments; returns the
        flat lists and float64 vectors the step needs.

        With ``s = sqrt(v^ + eps)`` (eps inside the root, Alg. 5 line 7) the A-SAV
        direction is ``u = dt^ N^ / (1 + dt^ lam) = lr m^ / (s + lr lam)``. savlib forms
        ``t = m / (sqrt(v + eps bc2) + lr lam sqrt(bc2))`` in one temporary (this equals
        ``m / (sqrt(bc2) (s + lr lam))``), so that ``u = k t`` with ``k = lr sqrt(bc2) / bc1``,
        ``S = sum m^ . u = a sum m . t`` with ``a = lr sqrt(bc2) / bc1^2``, and
        ``sum dtheta_j^2 / dt^_j = K^2 a (sum m . t - lr lam sqrt(bc2) |t|^2)``.

        ``commit=False`` forms the new moments out of place and returns, as an eighth item,
        a function that stores them (the sharded path validates global values first).

        ``floats=True`` (one process on CPU) reads the inner products to the host and returns
        ``(params, ts, S, diss_unit, k, uniform)`` with ``S`` and ``diss_unit`` (the
        ``sum dtheta_j^2 / dt^_j`` of a unit step ``K = 1``) as Python floats, ``k`` the
        float64 vector of per-tensor step coefficients and ``uniform`` their common value
        if there is one (see ``EnergyOptimizer._add_scaled_floats``).
        """
        ps_all: list[Tensor] = []
        ts_all: list[Tensor] = []
        dots: list[Tensor] = []
        a_coef: list[float] = []
        k_coef: list[float] = []
        lrlam: list[float] = []
        pending: list[tuple[Tensor, Tensor, Tensor]] = []
        t2s: list[Tensor] = []
        dev = self._device
        for group, ps, gs in groups:
            if not ps:
                continue
            b1, b2 = group["betas"]
            lr, lam, eps = group["lr"], group["lam"], group["eps"]
            bc1 = 1.0 - b1 ** step
            bc2 = 1.0 - b2 ** step
            rb2 = math.sqrt(bc2)
            shift = lr * lam * rb2
            ms, vs = [], []
            for p in ps:
                st = self.state[p]
                if "exp_avg" not in st:
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                ms.append(st["exp_avg"])
                vs.append(st["exp_avg_sq"])
            if not commit:
                ms = [torch.lerp(m, g, 1.0 - b1) for m, g in zip(ms, gs)]
                vs = [torch.mul(v, b2).addcmul_(g, g, value=1.0 - b2) for v, g in zip(vs, gs)]
                pending += list(zip(ps, ms, vs))
                ts = [torch.add(v, eps * bc2).sqrt_() for v in vs]
                if shift != 0.0:
                    ts = [t.add_(shift) for t in ts]
                ts = [torch.div(m, t) for t, m in zip(ts, ms)]
            elif floats:
                # CPU: tensor by tensor into a persistent workspace (one parameter-sized
                # buffer kept between steps), so the step allocates nothing; foreach kernels
                # on CPU are per-tensor loops too
                ts = []
                for p, m, v, g in zip(ps, ms, vs, gs):
                    m.lerp_(g, 1.0 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                    t = self._workspace(p)
                    torch.add(v, eps * bc2, out=t).sqrt_()
                    if shift != 0.0:
                        t.add_(shift)
                    ts.append(torch.div(m, t, out=t))
            elif self.foreach:
                torch._foreach_lerp_(ms, gs, 1.0 - b1)
                torch._foreach_mul_(vs, b2)
                torch._foreach_addcmul_(vs, gs, gs, value=1.0 - b2)
                ts = torch._foreach_add(vs, eps * bc2)
                torch._foreach_sqrt_(ts)
                if shift != 0.0:
                    torch._foreach_add_(ts, shift)
                ts = torch._foreach_div(ms, ts)
            else:
                ts = []
                for m, v, g in zip(ms, vs, gs):
                    m.lerp_(g, 1.0 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                    t = torch.add(v, eps * bc2).sqrt_()
                    if shift != 0.0:
                        t.add_(shift)
                    ts.append(torch.div(m, t))
            dots += [torch.vdot(m.reshape(-1), t.reshape(-1)) for m, t in zip(ms, ts)]
            if floats and shift != 0.0:
                t2s += [torch.linalg.vector_norm(t) for t in ts]
            ps_all += ps
            ts_all += ts
            a_coef += [lr * rb2 / bc1 ** 2] * len(ps)
            k_coef += [lr * rb2 / bc1] * len(ps)
            lrlam += [shift] * len(ps)
        if floats:
            # S = sum a_i m.t_i; diss_unit = S - sum a_i shift_i |t_i|^2 (t2s only if lam > 0)
            S = 0.0
            lam_part = 0.0
            t2_iter = iter(t2s)
            for a, dot, sh in zip(a_coef, dots, lrlam):
                S += a * dot.item()
                if sh != 0.0:
                    v = next(t2_iter).item()
                    lam_part += a * sh * (v * v)
            uniform = k_coef[0] if all(x == k_coef[0] for x in k_coef) else None
            # (the coefficient vector is only read when they differ between groups)
            kv = torch.tensor(k_coef, dtype=F64) if uniform is None else None
            return ps_all, ts_all, S, S - lam_part, kv, uniform
        try:
            dots_v = torch.stack(dots).to(device=dev, dtype=F64)
        except RuntimeError:  # mixed devices/dtypes
            dots_v = torch.stack([x.to(device=dev, dtype=F64) for x in dots])
        key = (tuple(a_coef), tuple(k_coef), tuple(lrlam), str(dev))
        cache = getattr(self, "_adam_cache", None)
        if cache is None or cache[0] != key:
            f = lambda xs: torch.tensor(xs, dtype=F64, device=dev)  # noqa: E731
            uniform = k_coef[0] if all(x == k_coef[0] for x in k_coef) else None
            cache = (key, f(a_coef), f(k_coef), f(lrlam), any(x != 0.0 for x in lrlam), uniform)
            self._adam_cache = cache
        # |t|^2 is needed only for lam > 0 (the lam |dtheta|^2 part of the dissipation)
        t2 = sq_norms(ts_all, dev, self.foreach) if cache[4] else torch.zeros_like(dots_v)
        if commit:
            return ps_all, ts_all, cache[1], cache[2], dots_v, t2, cache[3]

        def store() -> None:
            for p, m, v in pending:
                self.state[p]["exp_avg"] = m
                self.state[p]["exp_avg_sq"] = v
        return ps_all, ts_all, cache[1], cache[2], dots_v, t2, cache[3], store


class SAV(_SAVFamily):
    """Vanilla SAV (seed 000 eq. 17, Alg. 2); ``adaptive=True`` gives A-SAV (Alg. 5).

    ``SAV(params, lr=dt, C=1.0, lam=0.0, adaptive=False, betas=(0.9, 0.999), eps=1e-8)``.
    The modified energy ``r^2`` obeys eq. 18 as an identity. With mini-batches ``r`` only
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
    """Restart SAV (seed 000 Alg. 3): ``r_n`` is reset to ``sqrt(I(theta_n) + C)`` before
    every step; ``adaptive=True`` gives A-ResSAV. Same arguments as :class:`SAV`."""

    _restart = True

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0, *,
                 adaptive: bool = False, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 validate: bool = True, foreach: bool | None = None, process_group: Any = None,
                 sharded: bool = False):
        super().__init__(params, lr, C, lam, adaptive=adaptive, betas=betas, eps=eps,
                         validate=validate, foreach=foreach, process_group=process_group,
                         sharded=sharded)


class RelSAV(_SAVFamily):
    """Relaxed SAV (seed 000 eqs. 21-24, Alg. 4, Thm. 2); ``adaptive=True`` gives A-RelSAV.

    ``eta`` in ``[0, 1]`` (default 0.99) is the share of the ``|dtheta|^2/dt`` dissipation
    the relaxation may give back. The closure is evaluated a second time, under
    ``torch.no_grad()``, on the same batch to get ``r^_{n+1}`` (one extra forward pass).
    """

    _relax = True

    def __init__(self, params: Iterable, lr: float = 0.1, C: float = 1.0, lam: float = 0.0,
                 eta: float = 0.99, *, adaptive: bool = False, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, validate: bool = True, foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        super().__init__(params, lr, C, lam, eta=eta, adaptive=adaptive, betas=betas, eps=eps,
                         validate=validate, foreach=foreach, process_group=process_group,
                         sharded=sharded)
