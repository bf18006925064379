"""Invariant energy quadratization (IEQ): full-Jacobian IEQ and adaptive IEQ.

Seed 002 section 2.2.5 (book chapter "ExpSAV and IEQ"). Write the loss as a quadratic
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
``O(n^3)`` of seed 002's table 2.3 (see ``../shared/PAPER-NOTES.md``).

:class:`IEQAdaptive` (seed 002, "Method B") replaces ``J J^T`` by its Rayleigh quotient
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
``1/2 |q|^2 = mean(l) + C`` is the SAV energy ``r^2 = I + C`` of seed 000, resolved per
sample (seed 002 does not say how to treat such losses; this is savlib's choice).

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
from .base import F64, EnergyOptimizer, add_scaled_, check_nonnegative, check_positive, sq_norms

__all__ = ["IEQ", "IEQAdaptive", "mse_residual", "sqrt_residual"]

_JACOBIAN_MODES = ("auto", "batched", "rows", "linear")


# --------------------------------------------------------------------------- helpers
def mse_residual(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Residual vector for IEQ from predictions and targets.

    ``reduction="mean"``: ``q = sqrt(2/N) (pred - target)`` flattened (``N`` = number of
    entries), so ``1/2 |q|^2 == F.mse_loss(pred, target)`` -- the ``1/sqrt(batch)``
    scaling a mean-reduced loss needs. ``reduction="sum"``: ``q = pred - target``, the
    raw residual of seed 002 section 2.2.5, energy ``1/2 sum (pred - target)^2``.
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
    is the gradient flow of the mean loss, and the energy is seed 000's SAV energy
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
            raise ValueError(f"sqrt_residual: l_i + C must be > 0 for every sample; the smallest "
                             f"loss is {lmin:.6g}, so C must be > {-lmin:.6g} (got C={C})")
    scale = 2.0 / l.numel() if reduction == "mean" else 2.0
    return torch.sqrt(scale * (l + C))


def _residual(closure: Callable[[], Tensor], name: str) -> Tensor:
    if closure is None or not callable(closure):
        raise TypeError(f"{name}.step needs a closure: a callable that returns the residual vector "
                        "q = f(w) - y with its autograd graph (do not call backward in it)")
    with torch.enable_grad():
        q = closure()
        _check_residual(q, name)
        return q.reshape(-1)


def _check_residual(q: Any, name: str) -> None:
    if not isinstance(q, Tensor):
        raise TypeError(f"{name}: the closure must return the residual vector q = f(w) - y as a "
                        f"tensor, got {type(q).__name__}")
    if q.ndim == 0 or q.numel() == 0:
        raise ValueError(f"{name}: the closure returned a scalar (shape {tuple(q.shape)}); IEQ needs "
                         "the residual vector q = f(w) - y (any shape, flattened), not the loss. "
                         "Use savlib.schemes.ieq.mse_residual(pred, target) or sqrt_residual(losses, C)")
    if not q.requires_grad:
        raise ValueError(f"{name}: the residual returned by the closure has no autograd graph; "
                         "compute it from the parameters with grad enabled and do not detach it")
    if q.is_complex():
        raise TypeError(f"{name}: complex residuals are not supported")


class _IEQBase(EnergyOptimizer):
    """Shared bookkeeping of the two IEQ schemes: active parameters, the evolved ``q``
    (kept in ``self.scalars``, which ``state_dict`` round-trips), finite checks and
    diagnostics (0-d float64 tensors, no host sync)."""

    _name = "IEQ"
    _scheme_wide = ("eps", "evolve_q", "check_finite")

    def _validate_group(self, group: dict) -> None:
        group["lr"] = check_positive("lr (the time step dt)", group["lr"])

    def _active(self) -> list[tuple[Tensor, float]]:
        out = [(p, g["lr"]) for g in self.param_groups for p in g["params"] if p.requires_grad]
        if not out:
            raise ValueError(f"{self._name}: no parameter requires grad")
        return out

    def _q_n(self, q_true: Tensor) -> Tensor:
        """The IEQ variable q_n used by this step: recomputed, or the evolved one."""
        qd = q_true.detach()
        if not self.defaults["evolve_q"]:
            return qd
        q = self.scalars.get("q")
        if q is None:
            return qd
        if q.shape != qd.shape:
            raise ValueError(f"{self._name}(evolve_q=True) keeps q as the IEQ variable of one fixed "
                             f"(full) batch of size {q.numel()}, but the closure returned {qd.numel()} "
                             "residuals; use evolve_q=False for mini-batches")
        return q.to(device=qd.device, dtype=qd.dtype)

    def _finite_or_raise(self, *tensors: Tensor) -> None:
        if not self.defaults["check_finite"]:
            return
        ok = torch.stack([torch.isfinite(t).all() for t in tensors]).all()
        # host sync: raising (and leaving the parameters untouched) is a branch that
        # needs the value on the host; check_finite=False removes it.
        if not bool(ok):
            raise ValueError(f"{self._name}: non-finite residual or Jacobian (NaN or inf); "
                             "parameters left unchanged")

    @property
    def diagnostics(self) -> dict[str, Tensor]:  # type: ignore[override]
        if self._diag_cache is None and self._diag_src is not None:
            step, q_n, q_next, q_true, dissipation, extra = self._diag_src
            if callable(q_next):
                q_next = q_next()
            qn64, qx64 = q_n.to(F64), q_next.to(F64)
            diag = dict(step=step,
                        loss=0.5 * q_true.to(F64).square().sum(),
                        energy_before=0.5 * qn64.square().sum(),
                        energy=0.5 * qx64.square().sum(),
                        dq2=(qx64 - qn64).square().sum(),
                        dissipation=(dissipation() if callable(dissipation) else dissipation).to(F64))
            diag.update({k: (v() if callable(v) else v).to(F64) for k, v in extra.items()})
            self._diag_cache = diag
        return self._diag_cache if self._diag_cache is not None else {}

    @diagnostics.setter
    def diagnostics(self, value: dict) -> None:  # EnergyOptimizer.__init__ sets {}
        self._diag_src = None
        self._diag_cache = dict(value) if value else None

    def _record(self, q_n: Tensor, q_next: Tensor, q_true: Tensor, dissipation: Tensor,
                **extra: Tensor) -> None:
        """Diagnostics (``opt.diagnostics``), all 0-d float64:

        * ``loss``: true energy ``1/2 |q(w_n)|^2`` of the residual the closure returned;
        * ``energy_before`` / ``energy``: modified energy ``1/2 |q_n|^2`` / ``1/2 |q_{n+1}|^2``;
        * ``dq2``: ``|q_{n+1} - q_n|^2``;
        * ``dissipation``: ``|w_{n+1} - w_n|^2 / dt`` (dt-weighted per group), so that the
          discrete energy law reads ``energy - energy_before = -dq2/2 - dissipation``;
        * ``step``; :class:`IEQAdaptive` adds ``alpha``, ``step_scale`` (= alpha) and
          ``lr_eff`` (``dt alpha`` of the first group).
        """
        sc = self.scalars
        dev = q_n.device
        step = sc.get("step")
        step = torch.ones((), dtype=F64, device=dev) if step is None else step + 1
        sc["step"] = step
        # computed on first access (still on the device, no host sync): a step costs no
        # diagnostic kernels unless someone reads them
        self._diag_src = (step, q_n, q_next, q_true.detach(), dissipation, extra)
        self._diag_cache = None
        if self.defaults["evolve_q"]:
            sc["q"] = q_next.detach().to(F64)  # float64 like all scheme state; exact for float32


class IEQ(_IEQBase):
    """Full-Jacobian IEQ (seed 002 section 2.2.5, Method A) as a torch optimizer.

    One step with residual ``q_n`` and Jacobian ``J = dq/dw`` at ``w_n``::

        q_{n+1} = (I + dt J J^T)^{-1} q_n          (b x b Cholesky solve)
        w_{n+1} = w_n - dt J^T q_{n+1}

    which equals the Levenberg-Marquardt / damped Gauss-Newton step
    ``dw = -dt (I + dt J^T J)^{-1} J^T q_n`` (push-through identity; tested to 1e-10 in
    float64). With several parameter groups of different ``lr`` the step uses
    ``D = diag(dt_g)``: ``q_{n+1} = (I + J D J^T)^{-1} q_n``, ``dw = -D J^T q_{n+1}``.

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
        check_finite: raise ``ValueError`` (parameters untouched) on a NaN/inf residual
            or Jacobian; costs one host sync per step.

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
            raise ValueError(
                "IEQ (full Jacobian) does not run across processes: its step solves with "
                "I + dt J J^T, which couples the residuals of every rank, so it would have to "
                "all-gather each rank's (batch x n_params) Jacobian. Use IEQAdaptive(..., "
                "process_group=...), whose step needs only the gradient and two scalars.")
        lr = check_positive("lr (the time step dt)", lr)
        if jacobian not in _JACOBIAN_MODES:
            raise ValueError(f"jacobian must be one of {_JACOBIAN_MODES}, got {jacobian!r}")
        if jacobian == "linear" and model is None:
            raise ValueError("jacobian='linear' needs model=<the nn.Module holding the Linear layers>")
        if model is not None and not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
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
                raise ValueError("jacobian='linear' needs every optimized parameter to belong to an "
                                 f"nn.Linear of model; these do not: shapes {missing}")

    # ------------------------------------------------------------------ Jacobian paths
    def _jacobians(self, q: Tensor, plist: list[Tensor]) -> list[Tensor]:
        b = q.numel()
        if self._jacobian == "rows":
            rows = [torch.autograd.grad(q[i], plist, retain_graph=True, allow_unused=True)
                    for i in range(b)]
            cols = list(zip(*rows))
            return [torch.stack([(r if r is not None else torch.zeros_like(p)).reshape(-1) for r in c])
                    for c, p in zip(cols, plist)]
        eye = torch.eye(b, dtype=q.dtype, device=q.device)
        Js = torch.autograd.grad(q, plist, grad_outputs=eye, is_grads_batched=True, allow_unused=True)
        return [(J if J is not None else torch.zeros((b,) + p.shape, dtype=p.dtype, device=p.device))
                .reshape(b, -1) for J, p in zip(Js, plist)]

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # type: ignore[override]
        if self._jacobian == "linear":
            return self._step_linear(closure)
        q_true = _residual(closure, self._name)
        act = self._active()
        plist = [p for p, _ in act]
        with torch.enable_grad():
            Js = self._jacobians(q_true, plist)
        q_n = self._q_n(q_true)
        b = q_n.numel()
        G = torch.zeros((b, b), dtype=q_n.dtype, device=q_n.device)
        for (p, dt), J in zip(act, Js):
            G.addmm_(J, J.T, alpha=dt)
        self._finite_or_raise(q_n, G)
        v = self._solve(G, q_n)
        dws = [torch.mv(J.T, v).view_as(p) for (p, _), J in zip(act, Js)]
        self._update(act, dws, q_n, v, q_true)
        return 0.5 * q_true.detach().square().sum()

    @staticmethod
    def _solve(G: Tensor, q: Tensor) -> Tensor:
        """``(I + G)^{-1} q`` by Cholesky; ``I + G`` is SPD with eigenvalues >= 1."""
        G.diagonal().add_(1.0)
        # cholesky_ex: no info check (no device sync); I + G is SPD whenever it is finite,
        # which _finite_or_raise has checked. Two triangular solves beat cholesky_solve on CPU.
        L = torch.linalg.cholesky_ex(G).L
        y = torch.linalg.solve_triangular(L, q.unsqueeze(1), upper=False)
        return torch.linalg.solve_triangular(L.mT, y, upper=True).squeeze(1)

    def _update(self, act, dws: list[Tensor], q_n: Tensor, v: Tensor, q_true: Tensor) -> None:
        """``w_p -= dt_p (J_p^T q_{n+1})`` in one foreach pass; record diagnostics with
        ``|dw|^2 / dt = sum_p dt_p |J_p^T q_{n+1}|^2``."""
        dt = _dt_vector(self, act, q_n.device)
        add_scaled_([p for p, _ in act], dws, -dt, self.foreach)
        foreach = self.foreach
        self._record(q_n, v, q_true, lambda: (dt * sq_norms(dws, q_n.device, foreach)).sum())

    # ------------------------------------------------------- structured Linear path
    def _step_linear(self, closure) -> Tensor:
        records: list[tuple[torch.nn.Linear, Tensor, Tensor]] = []

        def hook(mod, inputs, output):
            records.append((mod, inputs[0], output))

        handles = [m.register_forward_hook(hook) for m in self._linears]
        try:
            q_true = _residual(closure, self._name)
        finally:
            for h in handles:
                h.remove()
        b = q_true.numel()
        seen = set()
        for mod, x, z in records:
            if id(mod) in seen:
                raise ValueError("jacobian='linear': an nn.Linear was called more than once in the "
                                 "closure; use jacobian='batched'")
            seen.add(id(mod))
            if x.ndim != 2 or x.shape[0] != b:
                raise ValueError(f"jacobian='linear' needs 2-d Linear inputs with one row per residual "
                                 f"(batch {b}), got input shape {tuple(x.shape)}; use jacobian='batched'")
        lr_of = {id(p): g["lr"] for g in self.param_groups for p in g["params"]}
        act = self._active()
        used = [(m, x, z) for m, x, z in records if any(p.requires_grad for p in m.parameters(recurse=False))]
        with torch.enable_grad():
            # one residual per sample and no coupling across samples: row i of dq/dz is
            # dq_i/dz_i, so a single backward of sum(q) gives every per-sample g_i
            gs = torch.autograd.grad(q_true, [z for _, _, z in used],
                                     grad_outputs=torch.ones_like(q_true), allow_unused=True)
        q_n = self._q_n(q_true)
        G = torch.zeros((b, b), dtype=q_n.dtype, device=q_n.device)
        terms = []
        for (m, x, _), g in zip(used, gs):
            if g is None:
                g = torch.zeros((b, m.out_features), dtype=q_n.dtype, device=q_n.device)
            x = x.detach()
            gg = g @ g.T
            wdt = lr_of[id(m.weight)] if m.weight.requires_grad else 0.0
            if wdt:
                G.addcmul_(gg, x @ x.T, value=wdt)
            if m.bias is not None and m.bias.requires_grad:
                G.add_(gg, alpha=lr_of[id(m.bias)])
            terms.append((m, x, g))
        self._finite_or_raise(q_n, G)
        v = self._solve(G, q_n)
        grads: dict[int, Tensor] = {}
        for m, x, g in terms:
            # J_W^T v = (v * g)^T x = g^T (v * x): scale whichever factor is smaller
            if x.shape[1] < g.shape[1]:
                if m.weight.requires_grad:
                    grads[id(m.weight)] = g.T @ (x * v.unsqueeze(1))
                if m.bias is not None and m.bias.requires_grad:
                    grads[id(m.bias)] = g.T @ v
            else:
                gv = g * v.unsqueeze(1)
                if m.weight.requires_grad:
                    grads[id(m.weight)] = gv.T @ x
                if m.bias is not None and m.bias.requires_grad:
                    grads[id(m.bias)] = gv.sum(0)
        dws = [grads[id(p)] if id(p) in grads else torch.zeros_like(p) for p, _ in act]
        self._update(act, dws, q_n, v, q_true)
        return 0.5 * q_true.detach().square().sum()


class IEQAdaptive(_IEQBase):
    """Adaptive IEQ (seed 002 section 2.2.5, Method B): the ``O(n)`` variant.

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

    Args: ``lr`` (= dt), ``eps`` (default 1e-8 as in seed 002 table 3.1),
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

    def __init__(self, params: Iterable, lr: float = 0.1, *, eps: float = 1e-8,
                 evolve_q: bool = False, check_finite: bool = True, foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        lr = check_positive("lr (the time step dt)", lr)
        eps = check_nonnegative("eps", eps)
        if sharded is True and resolve_group(process_group, "IEQAdaptive") is not None:
            raise ValueError("IEQAdaptive(sharded=True) is not supported: its gradient comes from "
                             "torch.autograd.grad, which FSDP's reduce-scatter never sees; run it "
                             "with replicated parameters (sharded=False)")
        super().__init__(params, dict(lr=lr, eps=eps, evolve_q=bool(evolve_q),
                                      check_finite=bool(check_finite)), foreach=foreach,
                         process_group=process_group, sharded=sharded)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # type: ignore[override]
        act = self._active()
        plist = [p for p, _ in act]
        with torch.enable_grad():       # one grad-mode switch for the residual and J^T q_n
            q_true = _residual(closure, self._name)
            q_n = self._q_n(q_true)
            gs = torch.autograd.grad(q_true, plist, grad_outputs=q_n, allow_unused=True)
        gs = [g if g is not None else torch.zeros_like(p) for g, p in zip(gs, plist)]
        dev = q_n.device
        if dev.type == "cpu" and self._host_scalars:
            if self.process_group is not None:
                # the gradient of the mean energy is the mean of the ranks' gradients
                all_reduce_tensors(gs, self.process_group, average=True)
            return self._step_cpu(act, plist, gs, q_n, q_true)
        dt = _dt_vector(self, act, dev)
        energy = None
        if self.process_group is not None:
            # the gradient of the mean energy is the mean of the ranks' gradients
            all_reduce_tensors(gs, self.process_group, average=True)
        n2 = sq_norms(gs, dev, self.foreach)
        wsum = (dt * n2).sum()                      # sum_g dt_g |grad_g E|^2
        qq = q_n.to(F64).square().sum()
        if self.process_group is not None:
            # |q|^2 of the global residual (and its energy) in one float64 all_reduce; the
            # finite check below then sees a NaN of any rank on every rank
            (qq, e2), _ = self._reduce([qq, q_true.detach().to(F64).square().sum()])
            energy = 0.5 * e2
            self._finite_or_raise(qq, wsum)
        else:
            self._finite_or_raise(q_n, wsum)
        alpha = 1.0 / (1.0 + wsum / (qq + self.defaults["eps"]))
        add_scaled_(plist, gs, -alpha * dt, self.foreach)   # w -= dt alpha grad E, no sync
        q_next = alpha.to(q_n.dtype) * q_n
        lr0 = self.param_groups[0]["lr"]
        self._record(q_n, q_next, q_true, lambda: alpha * alpha * wsum, alpha=alpha, step_scale=alpha,
                     lr_eff=lambda: alpha * lr0)
        if energy is not None:
            return energy.to(dtype=q_true.dtype, device=q_true.device)
        return 0.5 * q_true.detach().square().sum()


    def _step_cpu(self, act, plist: list[Tensor], gs: list[Tensor], q_n: Tensor,
                  q_true: Tensor) -> Tensor:
        """:meth:`step` after the backward pass (and the gradient all_reduce) on CPU: the
        reductions are read to the host once and ``alpha`` is a Python float (same
        formulas, float64), so the step launches no tensor operation between the reduction
        and the update; the diagnostics are formed on first read. With a process group
        ``|q_n|^2`` and the energy go through one float64 all_reduce."""
        wsum = 0.0                                      # sum_g dt_g |grad_g E|^2
        for v, (_, dt) in zip(self._host_sq_norms(gs), act):
            wsum += dt * v
        q64 = q_n.to(F64)
        qq = torch.dot(q64, q64)
        energy = None
        if self.process_group is not None:
            # |q|^2 of the global residual and its energy in one float64 all_reduce; the
            # finite check below then sees a NaN of any rank on every rank
            e2 = qq if not self.defaults["evolve_q"] else q_true.detach().to(F64).square().sum()
            (qq, e2), _ = self._reduce([qq, e2])
            energy = 0.5 * e2
        qq = qq.item()
        # host read on purpose (the .item() above): a non-finite residual or gradient must
        # raise before the parameters change (qq + wsum is finite iff q_n and g are)
        if self.defaults["check_finite"] and not math.isfinite(qq + wsum):
            raise ValueError(f"{self._name}: non-finite residual or Jacobian (NaN or inf); "
                             "parameters left unchanged")
        alpha = 1.0 / (1.0 + wsum / (qq + self.defaults["eps"]))
        dt0 = act[0][1]
        if all(dt == dt0 for _, dt in act) and all(p.dtype == plist[0].dtype for p in plist):
            if self.foreach:
                torch._foreach_add_(plist, gs, alpha=-alpha * dt0)   # w -= dt alpha grad E
            else:
                for p, g in zip(plist, gs):
                    p.add_(g, alpha=-alpha * dt0)
        else:
            add_scaled_(plist, gs, torch.tensor([-alpha * dt for _, dt in act], dtype=F64),
                        self.foreach)
        lr0 = self.param_groups[0]["lr"]
        f64 = lambda x: torch.scalar_tensor(x, dtype=F64)  # noqa: E731
        # alpha q_n in q's dtype, as the device path computes it
        q_next = q_n * alpha if self.defaults["evolve_q"] else (lambda: q_n * alpha)
        self._record(q_n, q_next, q_true, lambda: f64(alpha * alpha * wsum),
                     alpha=lambda: f64(alpha), step_scale=lambda: f64(alpha),
                     lr_eff=lambda: f64(alpha * lr0))
        if energy is not None:
            return energy.to(dtype=q_true.dtype, device=q_true.device)
        if not self.defaults["evolve_q"]:
            # q_n is q(w_n) itself: 1/2 |q|^2 from the float64 |q_n|^2 already on the host
            # (the device path sums in q's dtype; they agree to q's rounding)
            return torch.scalar_tensor(0.5 * qq, dtype=q_true.dtype)
        return 0.5 * q_true.detach().square().sum()


def _dt_vector(opt: _IEQBase, act, device) -> Tensor:
    """Per-parameter time steps as a cached float64 vector on ``device``."""
    key = (tuple(id(p) for p, _ in act), tuple(dt for _, dt in act), str(device))
    cache = getattr(opt, "_dt_cache", None)
    if cache is None or cache[0] != key:
        cache = (key, torch.tensor([dt for _, dt in act], dtype=F64, device=device))
        opt._dt_cache = cache
    return cache[1]
