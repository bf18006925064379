"""Invariant energy quadratization (IEQ): full-Jacobian IEQ and adaptive IEQ.

Anonymous 2024 section 2.2.5 (book chapter "IEQ"). Write the loss as a quadratic
energy ``E = 1/2 |q|^2`` of a residual vector ``q = f(w) - y`` stacked over the batch,
with Jacobian ``J = dq/dw`` (shape ``b x n``). The gradient flow ``w' = -J^T q`` drives
``q' = -J J^T q``; IEQ treats ``q`` implicitly and ``J`` explicitly:

.. math::

    q_{n+1} = (I + \\Delta t\\, J J^T)^{-1} q_n, \\qquad
    w_{n+1} = w_n - \\Delta t\\, J^T q_{n+1}.

Since ``J J^T`` is positive semi-definite, ``|q_{n+1}| <= |q_n|`` for every ``dt > 0``:
the IEQ energy never increases. By the push-through identity
``J^T (I + dt J J^T)^{-1} = (I + dt J^T J)^{-1} J^T`` the same step is

.. math::

    \\Delta w = -\\Delta t\\, (I + \\Delta t\\, J^T J)^{-1} J^T q_n ,

a damped Gauss-Newton (Levenberg-Marquardt) step with damping ``1/dt``
(``dt -> 0``: gradient descent with rate ``dt``; ``dt -> inf``: Gauss-Newton).
:class:`IEQ` solves the ``b x b`` system with a Cholesky factorisation
(``I + dt J J^T`` has all eigenvalues ``>= 1``), never the ``n x n`` one: the cost is
``O(b n)`` for ``J``, ``O(b^2 n)`` for ``J J^T`` and ``O(b^3)`` for the solve -- not the
``O(n^3)`` of Anonymous 2024's table 2.3.

:class:`IEQAdaptive` (Anonymous 2024, "Method B") replaces ``J J^T`` by its Rayleigh quotient
along ``q``, ``s = |J^T q|^2 / (|q|^2 + eps) = |grad E|^2 / (|q|^2 + eps)``, so the
solve becomes a scalar division: ``alpha = 1 / (1 + dt s)``,
``q_{n+1} = alpha q_n``, ``w_{n+1} = w_n - dt alpha grad E``. It costs one backward
pass, like SGD. As ``dt -> inf`` its step ``dt alpha`` tends to ``|q|^2 / |grad E|^2
= 2E / |grad E|^2``, the Polyak step for a target energy of zero.

The closure protocol
--------------------
Unlike ``torch.optim`` schemes, IEQ needs the residual *vector*, not a scalar loss.
``step(closure)`` calls ``closure()``, which must return the residual ``q`` (any shape;
it is flattened) **with its autograd graph**, and must *not* call ``backward``. The
energy is ``1/2 |q|^2``. For a mean-reduced loss scale the residual by
``1/sqrt(batch)`` -- :func:`mse_residual` does it so that ``1/2 |q|^2`` equals
``torch.nn.functional.mse_loss`` and ``lr`` means what it means for SGD on that loss.
For losses that are not sums of squares (cross-entropy, PINN losses) use the per-sample
square-root residual :func:`sqrt_residual`, ``q_i = sqrt(2 (l_i + C) / b)``, whose energy
``1/2 |q|^2 = mean(l) + C`` is the SAV energy ``r^2 = I + C`` of Ma, Mao & Shen 2024, resolved per
sample (Anonymous 2024 does not say how to treat such losses; this is savlib's choice).

Full batch vs mini-batch
------------------------
With ``evolve_q=False`` (default) ``q_n`` is recomputed from the model every step (the
only sound choice when the batch changes). With ``evolve_q=True`` the optimizer keeps
``q`` as the true IEQ variable: ``q_0`` is the first residual, later steps use the
stored ``q_{n+1}`` and take from the closure only the Jacobian at ``w_n``. Then the
*modified* energy ``1/2 |q_n|^2`` is non-increasing for every ``dt`` (tested); it may
drift from the true loss ``1/2 |f(w_n) - y|^2``, and both are reported. For a model
linear in ``w`` the two coincide.

Several processes (book chapter "Training at scale")
----------------------------------------------------
With the batch split over ``W`` ranks the global residual is the concatenation of the
ranks' residuals, each scaled by ``1/sqrt(W)`` (a mean loss over equal shards).
:class:`IEQAdaptive` needs only scalars of it and the gradient ``J^T q``: with
``process_group=`` it averages its gradient over the ranks itself (one ``all_reduce`` of
the flattened gradient, the analogue of DDP's; ``torch.autograd.grad`` bypasses DDP's
reducer, so the residual closure should call the bare module, not the DDP wrapper) and
``|q_n|^2`` and the energy in one float64 ``all_reduce``. The full-Jacobian :class:`IEQ`
couples every pair of samples through ``J J^T``, across ranks as well: it would have to
gather every rank's ``b x n`` Jacobian, so it refuses a process group and names
:class:`IEQAdaptive`.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import torch
from torch import Tensor

from ..distributed import all_reduce_tensors, resolve_group
from ..errors import ClosureError, EnergyDomainError, HyperParameterError, NonFiniteError
from .base import (F64, Direction, EnergyOptimizer, check_closure, check_nonnegative, check_positive,
                   isfinite, sq_norms)

__all__ = ["IEQ", "IEQAdaptive", "mse_residual", "sqrt_residual", "IEQBase"]

_JACOBIAN_MODES = ("auto", "batched", "rows", "linear")


# --------------------------------------------------------------------------- helpers
__all__ = ["IEQ", "IEQAdaptive", "mse_residual", "sqrt_residual"]

_JACOBIAN_MODES = ("auto", "batched", "rows", "linear")


# --------------------------------------------------------------------------- helpers
def mse_residual(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Residual vector for IEQ from predictions and targets.

    ``reduction="mean"``: ``q = sqrt(2/N) (pred - target)`` flattened (``N`` = number of
    entries), so ``1/2 |q|^2 == F.mse_loss(pred, target)`` -- the ``1/sqrt(batch)``
    scaling a mean-reduced loss needs. ``reduction="sum"``: ``q = pred - target``, the
    raw residual of Anonymous 2024 (the gradient-flow report), section 2.2.5, energy ``1/2 sum (pred - target)^2``.
    """
    if not isinstance(pred, Tensor) or not isinstance(target, Tensor):
        raise TypeError("mse_residual expects two tensors (pred, target)")
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target {tuple(target.shape)}; "
                         "they must match (no broadcasting)")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    q = (pred - target).reshape(-1)
    if reduction == "mean":
        q = q * math.sqrt(2.0 / max(q.numel(), 1))
    return q


def sqrt_residual(losses: Tensor, C: float = 1.0, reduction: str = "mean",
                  check: bool = True) -> Tensor:
    """Per-sample square-root residual ``q_i = sqrt(2 (l_i + C) / b)`` for IEQ with a
    non-quadratic loss (cross-entropy, PINN residual losses, ...).

    ``losses`` holds the ``b`` per-sample losses ``l_i`` (e.g. ``reduction="none"``).
    Then ``1/2 |q|^2 = mean(l) + C`` and ``J^T q = grad mean(l)``: the IEQ gradient flow
    is the gradient flow of the mean loss, and the energy is Ma, Mao & Shen 2024's SAV energy
    ``r^2 = I + C``. ``reduction="sum"`` drops the ``1/b`` (energy ``sum(l) + b C``).
    ``C`` must keep every ``l_i + C > 0``; with ``check=True`` this is verified (one
    host synchronisation) and a ``ValueError`` names the smallest valid ``C``.
    """
    if not isinstance(losses, Tensor):
        raise TypeError("sqrt_residual expects a tensor of per-sample losses")
    if losses.ndim == 0:
        raise ValueError("sqrt_residual needs per-sample losses (e.g. reduction='none'), got a scalar")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    C = float(C)
    if not math.isfinite(C):
        raise ValueError(f"C must be finite, got {C!r}")
    l = losses.reshape(-1)
    if check:
        lmin = float(l.detach().min())  # host sync: the check itself is the branch
        if not lmin + C > 0:
            raise EnergyDomainError(f"sqrt_residual: l_i + C must be > 0 for every sample; the smallest "
                             f"loss is {lmin:.6g}, so C must be > {-lmin:.6g} (got C={C})")
    scale = 2.0 / l.numel() if reduction == "mean" else 2.0
    return torch.sqrt(scale * (l + C))


def _residual(closure: Callable[[], Tensor], name: str) -> Tensor:
    """The residual vector ``q`` the closure returns, flattened, with its graph."""
    check_closure(closure, name)
    with torch.enable_grad():
        q = closure()
    if not isinstance(q, Tensor) or q.is_complex():
        raise ClosureError(f"{name}: the closure must return the residual vector q = f(w) - y as a "
                           f"real tensor, got {type(q).__name__ if not isinstance(q, Tensor) else 'complex'}")
    if q.ndim == 0 or q.numel() == 0:
        raise ClosureError(f"{name}: the closure returned a scalar (shape {tuple(q.shape)}); IEQ needs "
                           "the residual vector q = f(w) - y (any shape, flattened), not the loss. "
                           "Use savlib.schemes.ieq.mse_residual(pred, target) or sqrt_residual(losses, C)")
    if not q.requires_grad:
        raise ClosureError(f"{name}: the residual returned by the closure has no autograd graph; "
                           "compute it from the parameters with grad enabled and do not detach it")
    with torch.enable_grad():
        return q.reshape(-1)


class IEQBase(EnergyOptimizer):
    """What the two IEQ schemes share in the template step: the residual closure, the IEQ
    variable ``q_n`` (recomputed, or evolved and kept in ``self.scalars``), the finite check
    and the diagnostics. ``savlib.train.fit`` recognises IEQ schemes by this class."""

    _name = "IEQ"
    _scheme_wide = ("evolve_q", "check_finite")
    _group_checks = {"lr": check_positive}
    _state_keys = ("step", "q")

    def _active(self) -> list[tuple[Tensor, float]]:
        out = [(p, g["lr"]) for g in self.param_groups for p in g["params"] if p.requires_grad]
        if not out:
            raise ClosureError(f"{self._name}: no parameter requires grad")
        return out

    def _q_n(self, q_true: Tensor) -> Tensor:
        """The IEQ variable q_n of this step: recomputed, or the evolved one."""
        qd = q_true.detach()
        q = self.state.get("scheme", {}).get("q") if self.defaults["evolve_q"] else None
        if q is None:
            return qd
        if q.shape != qd.shape:
            raise ClosureError(f"{self._name}(evolve_q=True) keeps q as the IEQ variable of one fixed "
                               f"(full) batch of size {q.numel()}, but the closure returned {qd.numel()} "
                               "residuals; use evolve_q=False for mini-batches")
        return q.to(device=qd.device, dtype=qd.dtype)

    def _validate(self, v, d) -> None:
        if self.defaults["check_finite"] and not bool(isfinite(v["qq"] + v["W"])):
            raise NonFiniteError(f"{self._name}: non-finite residual or Jacobian (NaN or inf); "
                                 "parameters left unchanged")

    def _energy_diag(self, d: Direction, q_next, dissipation) -> tuple[dict, dict]:
        """State and diagnostics of an IEQ step (the energies formed on first read):

        * ``loss``: true energy ``1/2 |q(w_n)|^2`` of the residual the closure returned;
        * ``energy_before`` / ``energy``: modified energy ``1/2 |q_n|^2`` / ``1/2 |q_{n+1}|^2``;
        * ``dq2``: ``|q_{n+1} - q_n|^2``;
        * ``dissipation``: ``|w_{n+1} - w_n|^2 / dt`` (dt-weighted per group), so that the
          discrete energy law reads ``energy - energy_before = -dq2/2 - dissipation``;
        * ``step``; :class:`IEQAdaptive` adds ``alpha``, ``step_scale`` and ``lr_eff``.
        """
        q_n, q_true = d.extra["q_n"], d.extra["q_true"]
        state = {"q": q_next().detach().to(F64)} if self.defaults["evolve_q"] else {}
        q64 = (lambda: state["q"]) if state else (lambda: q_next().to(F64))
        diag = dict(step=float(self._step_number()),
                    loss=lambda: 0.5 * q_true.to(F64).square().sum(),
                    energy_before=lambda: 0.5 * q_n.to(F64).square().sum(),
                    energy=lambda: 0.5 * q64().square().sum(),
                    dq2=lambda: (q64() - q_n.to(F64)).square().sum(),
                    dissipation=dissipation)
        return state, diag


class IEQ(IEQBase):
    """Full-Jacobian IEQ (Anonymous 2024, section 2.2.5, Method A; book chapter "IEQ") as a
    torch optimizer.

    One step with residual ``q_n`` and Jacobian ``J = dq/dw`` at ``w_n``::

        q_{n+1} = (I + dt J J^T)^{-1} q_n          (b x b Cholesky solve)
        w_{n+1} = w_n - dt J^T q_{n+1}

    which equals the Levenberg-Marquardt / damped Gauss-Newton step
    ``dw = -dt (I + dt J^T J)^{-1} J^T q_n`` (push-through identity; tested to 1e-10 in
    float64). With several parameter groups of different ``lr`` the step uses
    ``D = diag(dt_g)``: ``q_{n+1} = (I + J D J^T)^{-1} q_n``, ``dw = -D J^T q_{n+1}``.
    In float16/bfloat16 the small system is formed and solved in float32.

    Args:
        params: parameters or parameter groups.
        lr: the time step ``dt`` (> 0).
        evolve_q: keep ``q`` as the IEQ variable across steps (full batch only) instead
            of recomputing it from the model (see the module docstring).
        jacobian: how ``J`` is formed. ``"batched"``: one vmapped backward over the rows
            (``torch.autograd.grad(..., is_grads_batched=True)``); ``"rows"``: one
            backward per residual; ``"linear"``: the structured Gram matrix of
            ``nn.Linear`` layers (needs ``model``; see below); ``"auto"``: ``"linear"``
            when a ``model`` is given, else ``"batched"``.
        model: an ``nn.Module`` whose ``nn.Linear`` layers hold all the parameters,
            for ``jacobian="linear"``. That mode requires each residual ``q_i`` to
            depend only on sample ``i`` (row ``i`` of every Linear layer's 2-d input)
            and one residual per sample; then the Jacobian row of a Linear weight is
            the outer product ``g_i x_i^T`` and ``J J^T`` is
            ``sum_layers (g g^T) * (X X^T + 1)`` (Hadamard product), which costs
            ``O(b^2 (d_in + d_out))`` per layer instead of ``O(b^2 d_in d_out)``, and
            ``J^T v`` is ``(v g)^T X``. No batch coupling (batch norm) allowed.
        check_finite: raise :class:`~savlib.errors.NonFiniteError` (parameters untouched) on
            a NaN/inf residual or Jacobian; costs one host sync per step.

    ``step(closure)``: ``closure()`` returns the residual vector with its graph and does
    not call backward. Returns the detached energy ``1/2 |q(w_n)|^2`` (0-d, the
    residual's dtype), like the loss a torch optimizer returns.
    """

    _name = "IEQ"

    def __init__(self, params: Iterable, lr: float = 0.1, *, evolve_q: bool = False,
                 jacobian: str = "auto", model: torch.nn.Module | None = None,
                 check_finite: bool = True, foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        if process_group is not None and resolve_group(process_group, "IEQ") is not None:
            raise HyperParameterError(
                "IEQ (full Jacobian) does not run across processes: its step solves with "
                "I + dt J J^T, which couples the residuals of every rank, so it would have to "
                "all-gather each rank's (batch x n_params) Jacobian. Use IEQAdaptive(..., "
                "process_group=...), whose step needs only the gradient and two scalars.")
        if jacobian not in _JACOBIAN_MODES:
            raise HyperParameterError(f"jacobian must be one of {_JACOBIAN_MODES}, got {jacobian!r}")
        if jacobian == "linear" and model is None:
            raise HyperParameterError("jacobian='linear' needs model=<the nn.Module holding the Linear layers>")
        if model is not None and not isinstance(model, torch.nn.Module):
            raise HyperParameterError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        defaults = dict(lr=lr, evolve_q=bool(evolve_q), check_finite=bool(check_finite))
        super().__init__(params, defaults, foreach=foreach)
        self.process_group = None   # never distributed (not even inside default_group())
        self._world = 1
        self._jacobian = ("linear" if model is not None else "batched") if jacobian == "auto" else jacobian
        self._model = model
        if self._jacobian == "linear":
            self._linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
            covered = {id(p) for m in self._linears for p in m.parameters(recurse=False)}
            missing = [tuple(p.shape) for p, _ in self._active() if id(p) not in covered]
            if missing:
                raise HyperParameterError("jacobian='linear' needs every optimized parameter to belong "
                                          f"to an nn.Linear of model; these do not: shapes {missing}")

    def _direction(self, closure) -> Direction:
        """``v = q_{n+1} = (I + G)^{-1} q_n`` with ``G = J D J^T`` and ``u_p = J_p^T v``."""
        act = self._active()
        if self._jacobian == "linear":
            q_true, G, jtv = self._linear_gram(closure, act)
        else:
            q_true = _residual(closure, self._name)
            with torch.enable_grad():
                Js = self._jacobians(q_true, [p for p, _ in act])
            G = torch.zeros((q_true.numel(),) * 2, dtype=_solve_dtype(q_true), device=q_true.device)
            for (_, dt), J in zip(act, Js):
                J = J.to(G.dtype)
                G.addmm_(J, J.T, alpha=dt)

            def jtv(v):
                return [torch.mv(J.T, v.to(J.dtype)).view_as(p) for (p, _), J in zip(act, Js)]
        q_n = self._q_n(q_true)
        ok = torch.isfinite(q_n).all() & torch.isfinite(G).all()
        v = self._solve(G, q_n)
        dt, uniform = self._coef_vector("dt", [lr for _, lr in act])
        return Direction([p for p, _ in act], jtv(v), dt, uniform, means={"finite": ok.to(F64)},
                         loss=0.5 * q_true.detach().square().sum(),
                         extra=dict(q_n=q_n, q_true=q_true.detach(), v=v))

    @staticmethod
    def _solve(G: Tensor, q: Tensor) -> Tensor:
        """``(I + G)^{-1} q`` by Cholesky in ``G``'s dtype (in place on ``G``); ``I + G`` is SPD
        with eigenvalues >= 1.
        ``cholesky_ex``: no info check (no device sync); the finite check covers the failure.
        Two triangular solves beat ``cholesky_solve`` on CPU."""
        G.diagonal().add_(1.0)
        L = torch.linalg.cholesky_ex(G).L
        y = torch.linalg.solve_triangular(L, q.to(G.dtype).unsqueeze(1), upper=False)
        return torch.linalg.solve_triangular(L.mT, y, upper=True).squeeze(1)

    def _validate(self, v, d) -> None:
        if self.defaults["check_finite"] and not v["finite"] == 1.0:
            raise NonFiniteError(f"{self._name}: non-finite residual or Jacobian (NaN or inf); "
                                 "parameters left unchanged")

    def _update(self, v, d):
        """The parameter step is ``w -= dt J^T q_{n+1}``: no scalar recursion (scale -1)."""
        dt, dws = d.coefs, d.updates
        q_next = d.extra["v"]
        state, diag = self._energy_diag(d, lambda: q_next.to(d.extra["q_n"].dtype),
                                        lambda: (dt * sq_norms(dws, dt.device, self.foreach)).sum())
        return -1.0, state, diag

    def _jacobians(self, q: Tensor, plist: list[Tensor]) -> list[Tensor]:
        b = q.numel()
        if self._jacobian == "rows":
            rows = [torch.autograd.grad(q[i], plist, retain_graph=True, allow_unused=True)
                    for i in range(b)]
            return [torch.stack([(r if r is not None else torch.zeros_like(p)).reshape(-1) for r in c])
                    for c, p in zip(zip(*rows), plist)]
        eye = torch.eye(b, dtype=q.dtype, device=q.device)
        Js = torch.autograd.grad(q, plist, grad_outputs=eye, is_grads_batched=True, allow_unused=True)
        return [(J if J is not None else torch.zeros((b,) + p.shape, dtype=p.dtype, device=p.device))
                .reshape(b, -1) for J, p in zip(Js, plist)]

    def _linear_records(self, closure):
        """Evaluate the closure with forward hooks on the Linear layers: ``(q, [(layer,
        input, output)])``, checking that the structured Gram matrix applies."""
        records: list[tuple[torch.nn.Linear, Tensor, Tensor]] = []
        handles = [m.register_forward_hook(lambda mod, inp, out: records.append((mod, inp[0], out)))
                   for m in self._linears]
        try:
            q_true = _residual(closure, self._name)
        finally:
            for h in handles:
                h.remove()
        b = q_true.numel()
        if len({id(m) for m, _, _ in records}) != len(records):
            raise ClosureError("jacobian='linear': an nn.Linear was called more than once in the "
                               "closure; use jacobian='batched'")
        for _, x, _ in records:
            if x.ndim != 2 or x.shape[0] != b:
                raise ClosureError(f"jacobian='linear' needs 2-d Linear inputs with one row per residual "
                                   f"(batch {b}), got input shape {tuple(x.shape)}; use jacobian='batched'")
        return q_true, [r for r in records if any(p.requires_grad for p in r[0].parameters(recurse=False))]

    def _linear_gram(self, closure, act):
        """The structured path: ``G = sum_layers dt (g g^T) * (X X^T + 1)`` and ``J^T v``."""
        q_true, used = self._linear_records(closure)
        b = q_true.numel()
        lr_of = {id(p): g["lr"] for g in self.param_groups for p in g["params"]}
        with torch.enable_grad():
            # one residual per sample, no coupling across samples: row i of dq/dz is dq_i/dz_i,
            # so a single backward of sum(q) gives every per-sample g_i
            gs = torch.autograd.grad(q_true, [z for _, _, z in used],
                                     grad_outputs=torch.ones_like(q_true), allow_unused=True)
        terms = [(m, x.detach(), g if g is not None else
                  torch.zeros((b, m.out_features), dtype=q_true.dtype, device=q_true.device))
                 for (m, x, _), g in zip(used, gs)]
        G = torch.zeros((b, b), dtype=_solve_dtype(q_true), device=q_true.device)
        for m, x, g in terms:
            gg = g @ g.T
            if m.weight.requires_grad and lr_of[id(m.weight)]:
                G.addcmul_(gg, x @ x.T, value=lr_of[id(m.weight)])
            if m.bias is not None and m.bias.requires_grad:
                G.add_(gg, alpha=lr_of[id(m.bias)])

        def jtv(v):
            v = v.to(q_true.dtype)
            grads: dict[int, Tensor] = {}
            for m, x, g in terms:   # J_W^T v = (v * g)^T x = g^T (v * x): scale the smaller factor
                gv, xv = (g, x * v.unsqueeze(1)) if x.shape[1] < g.shape[1] else (g * v.unsqueeze(1), x)
                if m.weight.requires_grad:
                    grads[id(m.weight)] = gv.T @ xv
                if m.bias is not None and m.bias.requires_grad:
                    grads[id(m.bias)] = g.T @ v if x.shape[1] < g.shape[1] else gv.sum(0)
            return [grads[id(p)] if id(p) in grads else torch.zeros_like(p) for p, _ in act]
        return q_true, G, jtv


def _solve_dtype(t: Tensor) -> torch.dtype:
    """float32 for half-precision tensors (no half Cholesky), else their own dtype."""
    return torch.float32 if t.dtype in (torch.float16, torch.bfloat16) else t.dtype


class IEQAdaptive(IEQBase):
    """Adaptive IEQ (Anonymous 2024, section 2.2.5, Method B; book chapter "IEQ"):
    the ``O(n)`` variant.

    With ``g = J^T q_n`` (the gradient of ``E = 1/2 |q|^2``; one backward pass)::

        alpha   = 1 / (1 + dt |g|^2 / (|q_n|^2 + eps))
        q_{n+1} = alpha q_n
        w_{n+1} = w_n - dt alpha g

    ``|g|^2 / |q|^2`` is the Rayleigh quotient of ``J J^T`` along ``q``: the scalar
    that stands in for the matrix of :class:`IEQ`. The modified energy
    ``1/2 |q_{n+1}|^2 = alpha^2 1/2 |q_n|^2`` never increases; the effective step
    ``dt alpha`` stays below ``|q|^2 / |g|^2`` (the zero-target Polyak step) for every
    ``dt``. With parameter groups of different ``lr`` the quotient is
    ``sum_g dt_g |g_g|^2 / (|q|^2 + eps)`` and ``w_g -= dt_g alpha g_g``.

    Args: ``lr`` (= dt), ``eps`` (default 1e-8 as in the report's table 3.1),
    ``evolve_q``, ``check_finite`` as in :class:`IEQ`. The closure returns the residual
    vector with its graph and does not call backward; ``step`` returns ``1/2 |q(w_n)|^2``.

    ``process_group``: average over the ranks (replicated parameters; see the module
    docstring): the gradient ``J^T q`` in one collective in the parameters' dtype, and
    ``|q_n|^2`` and ``1/2 |q(w_n)|^2`` in one float64 collective; ``step`` then returns the
    global energy and ``alpha`` is the same on every rank (the energy diagnostics stay this
    rank's share). ``sharded=True`` is refused: the gradient here comes from
    ``torch.autograd.grad``, which FSDP's reduce-scatter hooks never see.
    """

    _name = "IEQAdaptive"
    _scheme_wide = ("eps", "evolve_q", "check_finite")

    def __init__(self, params: Iterable, lr: float = 0.1, *, eps: float = 1e-8,
                 evolve_q: bool = False, check_finite: bool = True, foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        eps = check_nonnegative("eps", eps)
        if sharded is True and resolve_group(process_group, "IEQAdaptive") is not None:
            raise HyperParameterError(
                "IEQAdaptive(sharded=True) is not supported: its gradient comes from "
                "torch.autograd.grad, which FSDP's reduce-scatter never sees; run it "
                "with replicated parameters (sharded=False)")
        super().__init__(params, dict(lr=lr, eps=eps, evolve_q=bool(evolve_q),
                                      check_finite=bool(check_finite)), foreach=foreach,
                         process_group=process_group, sharded=sharded)

    def _direction(self, closure) -> Direction:
        """``g = J^T q_n`` (one backward pass; averaged over the ranks with a group) and the
        scalars of the step: ``|q_n|^2``, the energy, and ``W = sum_g dt_g |g_g|^2``."""
        act = self._active()
        plist = [p for p, _ in act]
        with torch.enable_grad():       # one grad-mode switch for the residual and J^T q_n
            q_true = _residual(closure, self._name)
            q_n = self._q_n(q_true)
            gs = torch.autograd.grad(q_true, plist, grad_outputs=q_n, allow_unused=True)
        gs = [g if g is not None else torch.zeros_like(p) for g, p in zip(gs, plist)]
        if self.process_group is not None:
            # the gradient of the mean energy is the mean of the ranks' gradients
            all_reduce_tensors(gs, self.process_group, average=True)
        dt, uniform = self._coef_vector("dt", [lr for _, lr in act])
        q_true = q_true.detach()
        loss = 0.5 * q_true.square().sum()
        return Direction(plist, gs, dt, uniform,
                         means={"qq": q_n.to(F64).square().sum(), "loss": loss},
                         sums={"W": torch.dot(dt, sq_norms(gs, dt.device, self.foreach))},
                         loss=loss, extra=dict(q_n=q_n, q_true=q_true))

    def _update(self, v, d):
        """``alpha = 1 / (1 + W / (|q_n|^2 + eps))``, the step ``w -= alpha dt g``."""
        alpha = 1.0 / (1.0 + v["W"] / (v["qq"] + self.defaults["eps"]))
        q_n = d.extra["q_n"]
        state, diag = self._energy_diag(d, lambda: q_n * alpha, alpha * alpha * v["W"])
        diag.update(alpha=alpha, step_scale=alpha, lr_eff=alpha * self.param_groups[0]["lr"])
        return -alpha, state, diag
