"""Implicit (stochastic) gradient descent: backward Euler as a proximal point step.

Li, Chen & Huang 2023, book chapter "Implicit SGD". Backward Euler on the
gradient flow ``theta' = -grad L(theta)`` (Li, Chen & Huang 2023 eq. 4),

.. math::

    \\theta_{n+1} = \\theta_n - \\alpha \\nabla L(\\theta_{n+1}),

is the first-order optimality condition of the proximal point problem (eq. 12)

.. math::

    \\theta_{n+1} = \\arg\\min_\\theta \\; \\tfrac12 \\|\\theta - \\theta_n\\|^2 + \\alpha L(\\theta).

:class:`ISGD` solves eq. 12 at every step by an *inner* solver started at ``theta_n``.
The default, ``inner="prox"``, solves it to a tolerance: L-BFGS with a backtracking line
search on the proximal objective (:class:`_ProxSolver`), stopped when the proximal gradient has fallen to
``inner_tol`` times its value at ``theta_n`` (or after ``inner_steps`` iterations, which the
diagnostics report as ``inner_converged = 0``). ISGD then contracts on every convex
quadratic at every step size, as backward Euler does. The paper's fixed-budget solves stay
as options: ``inner="adam"`` (``inner_steps`` Adam steps at rate
``inner_lr``; Li, Chen & Huang 2023 Algorithm 1 lines 3-6) or ``inner="lbfgs"`` (torch's L-BFGS with
a strong-Wolfe line search, up to ``inner_steps`` iterations; the "ISGD,L-BFGS"
variant). For a quadratic loss the exact step multiplies the error in the mode of
curvature ``k`` by ``1 / (1 + alpha k)``, so each mode's loss by ``1 / (1 + alpha k)^2``
(eq. 8) -- below 1 for every ``alpha > 0``, while gradient descent's ``(1 - alpha k)^2``
(eq. 7) exceeds 1 once ``alpha > 2 / k`` (see :mod:`savlib.gradflow`).

:func:`isgd_adam` is the practical "ISGD,Adam" schedule of Algorithm 1: ``K0`` implicit
steps (each ``K1`` inner Adam steps at rate ``gamma``), then ``K2`` plain Adam steps at
rate ``eta``. Algorithm 1 writes the inner loop as ``while k <= K1`` but keeps
``theta~_{K1}``; savlib takes exactly ``K1`` inner updates (the reading that matches the
iteration count ``(K0 K1 + K2)`` of Li, Chen & Huang 2023 section 4).

Closure protocol: torch.optim's (as ``LBFGS``): the closure zeroes the gradients,
computes the loss ``L`` on the batch, calls ``loss.backward()`` and returns the loss.
``ISGD.step`` calls it once per inner evaluation (the batch is held fixed during one
outer step, as in Li, Chen & Huang 2023). Several parameter groups may have different ``lr``; the
inner objective is then ``sum_g (alpha/alpha_g) 1/2 |theta_g - theta_{n,g}|^2 + alpha L``
with ``alpha`` the first group's ``lr`` (the backward Euler step with per-group rates).

Inner Adam step size. Adam moves every entry by about ``inner_lr`` per step whatever the
size of the gradient, while the proximal step of eq. 12 moves it by about
``alpha |dL/dtheta_j| / (1 + alpha k)`` (``k`` the curvature). A fixed ``inner_lr`` is
therefore wrong at one end of the ``alpha`` range or the other: far larger than the step
for small ``alpha`` (Adam then jitters around ``theta_n`` at amplitude ``inner_lr`` instead of
taking the small implicit step) and too small to reach it in ``K1`` steps for large
``alpha``. With ``inner="adam"`` and ``inner_lr=None`` savlib ties it to the
outer rate: ``inner_lr = INNER_LR_FACTOR * alpha * rms(grad L(theta_n))`` (``rms`` over all
trained entries, ``INNER_LR_FACTOR = 0.2``), i.e. a fifth of the explicit (SGD) step of
the same ``alpha``, recomputed at every outer step from the first inner gradient (no extra
evaluation). It follows the size of the implicit step when the loss (or ``alpha``) is
rescaled, which a fixed rate cannot do, and resolves the implicit step well while
``alpha k`` is at most of order 1; for much stiffer steps the implicit step is
``1 / (1 + alpha k)`` times shorter than the explicit one and either an explicit
``inner_lr`` or ``inner="lbfgs"`` is the better choice. Passing ``inner_lr`` (as Li, Chen & Huang 2023's
``gamma``) keeps the paper's fixed rate.

Inner state. Algorithm 1 calls "Adam" on the proximal objective without saying whether
the optimizer starts afresh at each outer step. ``inner_state="fresh"`` (default) does:
every outer step is an independent inexact solve of eq. 12, and its first inner steps move
every entry by about ``inner_lr`` (Adam's normalisation), signal or noise alike.
``inner_state="carry"`` keeps one inner Adam for the whole run: its moments and step count
continue across outer steps (they are saved by ``state_dict``) while the anchor of the
proximal term moves to ``theta_n``. Small gradients are then normalised by a running
second moment instead of their own size. On Li, Chen & Huang 2023's MNIST Table 2 the carried form with
Adam's default rate ``1e-3`` reproduces the paper's pattern (ISGD near SGD at small
``alpha``, near Adam's accuracy at ``alpha`` 1-10) and the fresh form does not (book chapter
"MNIST"). The inner Adam is savlib's (``_FreshAdam``): torch.optim.Adam's update with
``sqrt(v + tiny)`` for ``sqrt(v)``, because torch's CPU square root is about eight times
slower on exact zeros (MNIST's blank pixels give ``v = 0`` entries).

Several processes (book chapter "Training at scale"): with ``process_group=`` the closure
is wrapped so that the inner solver sees the **global** loss: every inner evaluation
all-reduces (one float64 collective) the rank-local loss (averaged) together with, when
``sharded=True``, the partial proximal term and, at the first evaluation, the squared
gradient norm for the inner-rate rule. With DDP the gradients are already averaged, so
Adam's updates and L-BFGS's inner products agree on every rank; L-BFGS also branches on
loss values (line search, tolerances), which is why they must be global. L-BFGS reduces
over its local tensors only, so ``inner="lbfgs"`` is refused with ``sharded=True``. The
number of evaluations never depends on rank-local data.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, Callable, Iterable

import torch
from torch import Tensor

from ..errors import ClosureError, HyperParameterError, NonFiniteError
from .base import F64, Direction, EnergyOptimizer, check_positive, evaluate_loss, isfinite, sq_norms, sqrt

__all__ = ["ISGD", "isgd_adam", "INNER_LR_FACTOR"]

#: inner Adam rate = INNER_LR_FACTOR * alpha * rms(grad L(theta_n)) when inner_lr is None
INNER_LR_FACTOR = 0.2

_INNER = ("prox", "adam", "lbfgs")
_LBFGS_KEYS = {"tolerance_grad", "tolerance_change", "history_size", "line_search_fn"}
_LBFGS_DEFAULTS = dict(tolerance_grad=0.0, tolerance_change=0.0, history_size=10,
                       line_search_fn="strong_wolfe")


class _FreshAdam:
    """Adam started from a fresh state, for the inner solve of one outer ISGD step.

    The update is torch.optim.Adam's (``amsgrad=False``, no weight decay), operation for
    operation, with one exception: the square root is taken of ``v + tiny`` (``tiny`` the
    smallest normal number of the dtype). torch's CPU ``sqrt`` is about eight times slower on
    exact zeros than on other values, and Adam's second moment is exactly zero wherever a
    gradient entry always is (MNIST's blank border pixels); the shift changes no value
    ``v >= 1e-31`` (float32) at all and moves ``sqrt(0) = 0`` to ``1e-19``, ten orders below
    ``eps``. The moments live in buffers of the ISGD optimizer that are reused (zeroed) at
    every outer step instead of a new ``torch.optim.Adam`` and its state each time.
    """

    def __init__(self, owner: EnergyOptimizer, params: list[Tensor], lr: float,
                 betas: tuple[float, float], eps: float, carry: bool = False):
        self.params = params
        self.param_groups = [{"lr": lr}]          # the tied rule sets it at the first evaluation
        self.b1, self.b2 = betas
        self.eps = eps
        if carry:
            # inner_state="carry": the moments and the step count live in the ISGD state
            # (saved by state_dict) and continue from one outer step to the next
            for p in params:
                st = owner.state[p]
                if "inner_exp_avg" not in st:
                    st["inner_exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["inner_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            self.ms = [owner.state[p]["inner_exp_avg"] for p in params]
            self.vs = [owner.state[p]["inner_exp_avg_sq"] for p in params]
            self.k = int(owner.state.get("scheme", {}).get("inner_k", 0))
        else:
            self.ms = [owner._workspace(p, "adam_m").zero_() for p in params]
            self.vs = [owner._workspace(p, "adam_v").zero_() for p in params]
            self.k = 0
        self.ds = [owner._workspace(p, "adam_d") for p in params]
        self.tiny = [torch.finfo(p.dtype).tiny for p in params]

    def step(self, closure: Callable[[], Tensor]) -> Tensor:
        loss = closure()
        self.k += 1
        b1, b2, k = self.b1, self.b2, self.k
        lr = self.param_groups[0]["lr"]
        gs = [p.grad for p in self.params]
        with torch.no_grad():
            torch._foreach_lerp_(self.ms, gs, 1.0 - b1)
            torch._foreach_mul_(self.vs, b2)
            torch._foreach_addcmul_(self.vs, gs, gs, value=1.0 - b2)
            for v, d, tiny in zip(self.vs, self.ds, self.tiny):
                torch.add(v, tiny, out=d)
            torch._foreach_sqrt_(self.ds)
            torch._foreach_div_(self.ds, (1.0 - b2 ** k) ** 0.5)
            torch._foreach_add_(self.ds, self.eps)
            torch._foreach_addcdiv_(self.params, self.ms, self.ds, -(lr / (1.0 - b1 ** k)))
        return loss


class _ProxSolver:
    """The default inner solve (``inner="prox"``): L-BFGS with a backtracking Armijo line
    search on the proximal objective ``F``, stopped when ``|grad F| <= tol |grad F(theta_n)|``.

    ``F``'s Hessian is ``I + alpha grad^2 L`` (``>= I`` for a convex loss), so the initial
    inverse-Hessian guess ``I`` makes the first trial step the explicit step ``-alpha grad
    L(theta_n)``; the backtracking (by quadratic interpolation, exact on a quadratic) then
    shortens it to the implicit one, and the curvature pairs take over. Everything is
    relative (no absolute thresholds), so the solve does not depend on the scale of the loss
    or of the parameters. ``converged`` and ``prox_grad`` record how it ended."""

    def __init__(self, params: list[Tensor], max_iter: int, tol: float, history: int = 10):
        self.params, self.max_iter, self.tol, self.history = params, max_iter, tol, history
        self.converged, self.prox_grad = 0.0, float("nan")

    def _eval(self, closure) -> tuple[float, Tensor]:
        with torch.enable_grad():
            f = float(closure())
        return f, torch.cat([p.grad.reshape(-1) for p in self.params]).to(F64)

    def _set(self, x: Tensor) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self.params, [v.view_as(p) for v, p in
                                               zip(x.split([p.numel() for p in self.params]), self.params)])

    @staticmethod
    def _two_loop(g: Tensor, pairs: list[tuple[Tensor, Tensor, float]]) -> Tensor:
        q, alphas = g.clone(), []
        for s, y, rho in reversed(pairs):
            a = rho * float(s @ q)
            alphas.append(a)
            q -= a * y
        if pairs:
            s, y, _ = pairs[-1]
            q *= float(s @ y) / float(y @ y)
        for (s, y, rho), a in zip(pairs, reversed(alphas)):
            q += (a - rho * float(y @ q)) * s
        return -q

    def step(self, closure) -> None:
        x = torch.cat([p.detach().reshape(-1) for p in self.params]).to(F64)
        f, g = self._eval(closure)
        g0 = float(g.norm())
        pairs: list[tuple[Tensor, Tensor, float]] = []
        for _ in range(self.max_iter):
            self.prox_grad = float(g.norm()) / g0 if g0 > 0 else 0.0
            if self.prox_grad <= self.tol:
                self.converged = 1.0
                return
            d = self._two_loop(g, pairs)
            gtd = float(g @ d)
            if not gtd < 0:                               # not a descent direction: steepest
                d, gtd, pairs = -g, -float(g @ g), []
            t, ok = 1.0, False
            for _ in range(40):                           # backtracking Armijo line search
                self._set(x + t * d)
                f_new, g_new = self._eval(closure)
                if f_new <= f + 1e-4 * t * gtd:
                    ok = True
                    break
                curv = f_new - f - t * gtd                # > 0 on a convex quadratic
                t_star = -gtd * t * t / (2.0 * curv) if curv > 0 and math.isfinite(curv) else 0.1 * t
                t = min(0.5 * t, max(t_star, 1e-12 * t))
            if not ok:
                self._set(x)
                self._eval(closure)                       # the gradients of the iterate kept
                return
            s, y = t * d, g_new - g
            if float(s @ y) > 1e-12 * float(s @ s) ** 0.5 * float(y @ y) ** 0.5:
                pairs = (pairs + [(s, y, 1.0 / float(s @ y))])[-self.history:]
            x, f, g = x + s, f_new, g_new
        self.prox_grad = float(g.norm()) / g0 if g0 > 0 else 0.0
        self.converged = float(self.prox_grad <= self.tol)


class ISGD(EnergyOptimizer):
    """Implicit SGD = the proximal point step of Li, Chen & Huang 2023, eq. (12), solved by an
    inner solver (book chapter "Implicit SGD").

    Args:
        params: parameters or parameter groups.
        lr: the implicit step ``alpha`` (= dt) > 0.
        inner: ``"prox"`` (the default): L-BFGS to a tolerance (module docstring);
            ``"adam"``: the paper's fixed budget of ``inner_steps`` inner Adam steps
            (Algorithm 1); ``"lbfgs"``: L-BFGS for a fixed ``inner_steps`` iterations.
            When ``inner`` is not given but ``inner_lr``, ``inner_state`` or Adam
            ``inner_kwargs`` are, it is ``"adam"`` (what those arguments meant before
            ``"prox"`` became the default).
        inner_steps: inner Adam steps ``K1`` (default 10), or the L-BFGS iteration cap
            (default 20 for ``"lbfgs"``, 100 for ``"prox"``).
        inner_tol: ``"prox"`` only: stop when ``|grad F| <= inner_tol |grad F(theta_n)|``
            for ``F(theta) = 1/2 |theta - theta_n|^2 + alpha L(theta)``; default the cube
            root of the parameter dtype's machine epsilon (6e-6 in float64, 5e-3 in float32:
            a tighter tolerance runs into the round-off of ``grad F``).
        inner_lr: inner Adam rate ``gamma``; default ``None``: tied to the outer rate,
            ``INNER_LR_FACTOR * alpha * rms(grad L(theta_n))`` at every outer step.
        inner_state: ``"fresh"`` (default) starts the inner Adam anew at every outer step,
            ``"carry"`` lets its moments run on across outer steps (module docstring).
        inner_kwargs: extra keyword arguments for the inner Adam (``betas``, ``eps``: savlib's
            fresh-state Adam, ``_FreshAdam``; anything else: ``torch.optim.Adam``) /
            ``torch.optim.LBFGS`` (defaults here ``tolerance_grad=0``, ``tolerance_change=0``,
            ``history_size=10``, strong Wolfe). L-BFGS is handed the proximal objective
            divided by ``eps^(3/4) |grad F(theta_n)|^2``, so its tolerances refer to that.
        check_finite: raise :class:`~savlib.errors.NonFiniteError` and restore ``theta_n``
            (and the carried inner moments) when the loss or the new parameters are not
            finite (one host sync per outer step).
        process_group, sharded: run across processes (module docstring).

    ``step(closure)`` returns ``L(theta_n)`` (the first evaluation). Diagnostics (0-d
    float64): ``loss``, ``objective`` (the last evaluated ``1/2 |theta - theta_n|^2 + alpha
    L``), ``loss_last``, ``update_norm`` (``|theta_{n+1} - theta_n|``), ``inner_evals``,
    ``step``, ``inner_lr`` (the inner Adam rate; nan for L-BFGS), ``inner_converged`` (1 if
    ``"prox"`` met its tolerance, 0 if it stopped short, nan for the fixed budgets) and
    ``prox_grad`` (``|grad F|/|grad F(theta_n)|`` at the last evaluation; nan if not measured).
    A param group with ``lr = 0`` is left where it is.
    """

    _scheme_wide = ("inner", "inner_steps", "inner_lr", "inner_state", "inner_tol", "check_finite")
    _group_checks = {"lr": check_positive}
    _state_keys = ("step", "inner_k")

    def __init__(self, params: Iterable, lr: float = 0.1, *, inner: str | None = None,
                 inner_steps: int | None = None, inner_lr: float | None = None,
                 inner_kwargs: dict[str, Any] | None = None, inner_state: str | None = None,
                 inner_tol: float | None = None, check_finite: bool = True,
                 foreach: bool | None = None, process_group: Any = None, sharded: bool = False):
        if inner_kwargs is not None and not isinstance(inner_kwargs, dict):
            raise HyperParameterError(f"inner_kwargs must be a dict, got {type(inner_kwargs).__name__}")
        kw = dict(inner_kwargs or {})
        if inner is None:
            adam_args = inner_lr is not None or inner_state is not None or not set(kw) <= _LBFGS_KEYS
            inner = "adam" if adam_args else "prox"
        inner_state = "fresh" if inner_state is None else inner_state
        _check_inner(inner, inner_state, kw)
        inner_steps = {"adam": 10, "lbfgs": 20, "prox": 100}[inner] if inner_steps is None else inner_steps
        if isinstance(inner_steps, bool) or not isinstance(inner_steps, int) or inner_steps < 1:
            raise HyperParameterError(f"inner_steps must be an int >= 1, got {inner_steps!r}")
        inner_lr = None if inner_lr is None else check_positive("inner_lr", inner_lr)
        inner_tol = None if inner_tol is None else check_positive("inner_tol", inner_tol)
        self._inner_kwargs = kw
        defaults = dict(lr=lr, inner=inner, inner_steps=inner_steps, inner_lr=inner_lr,
                        inner_state=inner_state, inner_tol=inner_tol, check_finite=bool(check_finite))
        super().__init__(params, defaults, foreach=foreach, process_group=process_group,
                         sharded=sharded)
        if self.process_group is not None and self.sharded and inner != "adam":
            raise HyperParameterError(
                f"ISGD(inner={inner!r}, sharded=True) is not supported: torch's L-BFGS takes its "
                "inner products over the local tensors only, so each rank would search along a "
                "different direction; use inner='adam' or replicated parameters (sharded=False, DDP)")

    def _make_inner(self, params: list[Tensor]) -> Any:
        d = self.defaults
        if d["inner"] == "adam" and set(self._inner_kwargs) <= {"betas", "eps"}:
            return _FreshAdam(self, params, d["inner_lr"] or 1e-3,
                              tuple(self._inner_kwargs.get("betas", (0.9, 0.999))),
                              float(self._inner_kwargs.get("eps", 1e-8)),
                              carry=d["inner_state"] == "carry")
        if d["inner"] == "adam":
            kw = {"foreach": self.foreach, **self._inner_kwargs}
            # inner_lr=None: a placeholder, replaced at the first evaluation (tied rule)
            return torch.optim.Adam(params, lr=d["inner_lr"] or 1e-3, **kw)
        if d["inner"] == "prox":
            tol = d["inner_tol"] or torch.finfo(params[0].dtype).eps ** (1.0 / 3.0)
            return _ProxSolver(params, d["inner_steps"], tol, self._inner_kwargs.get("history_size", 10))
        kw = {**_LBFGS_DEFAULTS, **self._inner_kwargs}
        return torch.optim.LBFGS(params, lr=1.0, max_iter=d["inner_steps"], **kw)

    def _direction(self, closure) -> Direction:
        """Solve eq. (12) from ``theta_n`` in place; ``undo`` puts ``theta_n`` back (and the
        carried inner moments), so a failed step leaves everything as it was."""
        who = type(self).__name__
        groups = [(g["lr"], [p for p in g["params"] if p.requires_grad]) for g in self.param_groups]
        if not any(ps for _, ps in groups):
            raise ClosureError(f"{who}: no parameter requires grad")
        groups = [(lr, ps) for lr, ps in groups if ps and lr > 0]    # lr = 0: frozen this step
        params = [p for _, ps in groups for p in ps]
        if not params:                                    # every lr is 0: a step that moves nothing
            loss = evaluate_loss(closure, who)
            return Direction([], [], None, means={"first": loss}, loss=loss,
                             extra=dict(evals=1, first=loss, last=loss, obj=0.0 * loss, u2=0.0 * loss))
        anchors = [p.detach().clone() for p in params]
        saved = {p: {k: t.clone() for k, t in self.state.get(p, {}).items() if k.startswith("inner_")}
                 for p in params}                        # the carried inner moments
        inner = self._make_inner(params)
        prox = _Prox(self, closure, groups, anchors, inner)

        def undo() -> None:
            torch._foreach_copy_(params, anchors)
            for p in params:
                for k in [k for k in self.state.get(p, {}) if k.startswith("inner_")]:
                    if k in saved[p]:
                        self.state[p][k].copy_(saved[p][k])
                    else:
                        del self.state[p][k]
                if p in self.state and not self.state[p]:
                    del self.state[p]
        try:
            if self.defaults["inner"] == "adam":
                for _ in range(self.defaults["inner_steps"]):
                    inner.step(prox)
            else:
                inner.step(prox)
        except BaseException:
            undo()
            raise
        rec = prox.rec
        rec["k"] = getattr(inner, "k", None)
        if isinstance(inner, _ProxSolver):
            rec["converged"], rec["prox_grad"] = inner.converged, inner.prox_grad
        upd = torch._foreach_sub(params, anchors)
        return Direction(params, upd, None, sums={"u2": sq_norms(upd, params[0].device, self.foreach).sum()},
                         means={}, undo=undo, loss=rec["first"].to(dtype=rec["dtype"]), extra=rec)

    def _validate(self, v, d) -> None:
        u2 = v.get("u2", d.extra.get("u2"))
        if self.defaults["check_finite"] and not (bool(torch.isfinite(d.extra["first"])) and bool(isfinite(u2))):
            raise NonFiniteError(f"{type(self).__name__}: non-finite loss or parameters (NaN or inf) "
                                 "in the inner solve; parameters restored to theta_n")

    def _update(self, v, d):
        """No scalar recursion: the inner solve has moved the parameters (scale 0)."""
        rec = d.extra
        nan = float("nan")
        u2 = v.get("u2", rec.get("u2"))
        state = {"inner_k": float(rec["k"])} if self.defaults["inner_state"] == "carry" and rec.get("k") else {}
        diag = dict(step=float(self._step_number()), loss=rec["first"], loss_last=rec["last"],
                    objective=rec["obj"], update_norm=sqrt(u2), inner_evals=float(rec["evals"]),
                    inner_lr=nan if rec.get("inner_lr") is None else rec["inner_lr"],
                    inner_converged=rec.get("converged", nan), prox_grad=rec.get("prox_grad", nan))
        return 0.0, state, diag

    def _apply(self, d, scale) -> None:
        """Nothing to apply: the inner solve moved the parameters."""


class _Prox:
    """The proximal closure of one outer ISGD step (Li, Chen & Huang 2023, eq. (12)): value
    ``F = 1/2 sum_g (alpha/alpha_g) |theta_g - theta_n,g|^2 + alpha L`` and its gradient
    ``(alpha/alpha_g)(theta_g - theta_n,g) + alpha grad L``, with ``alpha`` the first
    group's rate. Several processes: one float64 all_reduce per evaluation (mean loss; the
    proximal and norm parts only when sharded). ``rec`` keeps what the diagnostics need."""

    def __init__(self, opt: ISGD, closure, groups, anchors, inner):
        self.opt, self.closure, self.anchors, self.inner = opt, closure, anchors, inner
        self.params = [p for _, ps in groups for p in ps]
        self.alpha = groups[0][0]
        self.coef = [self.alpha / lr for lr, ps in groups for _ in ps]
        self.dev = self.params[0].device
        self.cvec = torch.tensor(self.coef, dtype=F64, device=self.dev)
        d = opt.defaults
        self.mode = d["inner"]
        self.tied = self.mode == "adam" and d["inner_lr"] is None
        self.rec: dict[str, Any] = {"evals": 0, "first": None, "inner_lr": d["inner_lr"] if self.mode == "adam"
                                    else None, "sigma": None, "g0": None}

    def _grads(self) -> list[Tensor]:
        return [p.grad for p in self.params]

    @torch.no_grad()
    def _gradient(self) -> Tensor:
        """Turn ``grad L`` into ``grad F`` in place; return ``1/2 sum c |theta - theta_n|^2``."""
        diff = torch._foreach_sub(self.params, self.anchors)
        sq = sq_norms(diff, self.dev, self.opt.foreach)
        for p, dlt, c in zip(self.params, diff, self.coef):
            if p.grad is None:
                p.grad = dlt.mul_(c)
            else:
                p.grad.mul_(self.alpha).add_(dlt, alpha=c)
        return 0.5 * (self.cvec * sq).sum()

    def __call__(self) -> Tensor:
        opt, rec = self.opt, self.rec
        who = type(opt).__name__
        first = rec["first"] is None
        if first:                        # stale gradients must not pass for the closure's own
            for p in self.params:
                p.grad = None
        loss = evaluate_loss(self.closure, who)
        if first and all(p.grad is None for p in self.params):
            raise ClosureError(f"{who}: the closure returned a loss but no parameter received a "
                               "gradient; call loss.backward() in the closure (torch.optim protocol)")
        rec["evals"] += 1
        with torch.no_grad():
            sums = [self._gradient()]
            if first and self.tied:
                # at theta_n the proximal gradient is alpha grad L: rms(alpha grad L) sets the rate
                n = float(sum(p.numel() for p in self.params))
                sums += [sq_norms(self._grads(), self.dev, opt.foreach).sum(),
                         torch.tensor(n, dtype=F64, device=self.dev)]
            red = opt._reduce_tensors([loss], sums)
            loss64, sums = red[0], red[1:]
            if first:
                self._first(loss, loss64, sums)
            rec["last"] = loss64
            obj = self.alpha * loss64 + sums[0]
            rec["obj"] = obj
            if self.mode == "lbfgs":
                obj = self._lbfgs_scaled(obj)
        return obj.to(self.params[0].dtype)

    def _first(self, loss: Tensor, loss64: Tensor, sums: list[Tensor]) -> None:
        rec = self.rec
        rec["first"], rec["dtype"] = loss64, loss.dtype
        # host sync: a non-finite L(theta_n) must stop the step before the inner solver moves
        # anything (torch's L-BFGS line search crashes on NaN)
        if self.opt.defaults["check_finite"] and not bool(torch.isfinite(loss64)):
            raise NonFiniteError(f"{type(self.opt).__name__}: non-finite loss at theta_n (NaN or inf); "
                                 "parameters left unchanged")
        if self.tied:
            gam = INNER_LR_FACTOR * float(torch.sqrt(sums[1] / sums[2]))   # Adam takes a float
            gam = gam if gam == gam and gam < float("inf") else 0.0
            self.inner.param_groups[0]["lr"] = gam
            rec["inner_lr"] = gam

    def _lbfgs_scaled(self, obj: Tensor) -> Tensor:
        """Hand L-BFGS ``F / sigma``, ``sigma = eps^(3/4) |grad F(theta_n)|^2``: torch's L-BFGS
        drops curvature pairs with ``y's <= 1e-10`` (an absolute threshold), which near
        ``theta_n`` would degrade it to steepest descent. Same minimiser; unit-length first
        step (``inner="lbfgs"`` only; ``"prox"`` uses :class:`_ProxSolver`, which has no
        absolute thresholds)."""
        rec = self.rec
        g2 = sq_norms(self._grads(), self.dev, self.opt.foreach).sum()
        if rec["sigma"] is None:
            kappa = torch.finfo(self.params[0].dtype).eps ** 0.75     # 1.8e-12 in float64
            rec["sigma"] = kappa * torch.where(g2 > 0, g2, torch.ones_like(g2))
            rec["g0"] = g2
        torch._foreach_div_(self._grads(), rec["sigma"].to(self.params[0].dtype))
        return obj / rec["sigma"]


def _check_inner(inner: str, inner_state: str, kw: dict[str, Any]) -> None:
    if inner not in _INNER:
        raise HyperParameterError(f"inner must be one of {_INNER}, got {inner!r}")
    if inner_state not in ("fresh", "carry"):
        raise HyperParameterError(f"inner_state must be 'fresh' or 'carry', got {inner_state!r}")
    if inner_state == "carry" and (inner != "adam" or not set(kw) <= {"betas", "eps"}):
        raise HyperParameterError("inner_state='carry' needs inner='adam' (savlib's inner Adam: "
                                  "inner_kwargs may only set betas and eps)")
    if inner == "prox" and not set(kw) <= {"history_size"}:
        raise HyperParameterError(f"inner='prox' takes only history_size in inner_kwargs, got {sorted(kw)}")
    for bad in ("params", "lr", "max_iter"):
        if bad in kw:
            raise HyperParameterError(f"inner_kwargs may not set {bad!r}: use lr, inner_lr, inner_steps")
    if inner in ("adam", "lbfgs"):
        cls = torch.optim.Adam if inner == "adam" else torch.optim.LBFGS
        allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "params", "lr", "max_iter"}
        unknown = set(kw) - allowed
        if unknown:
            raise HyperParameterError(f"inner_kwargs for inner={inner!r}: unknown {sorted(unknown)}; "
                                      f"{cls.__name__} takes {sorted(allowed)}")


def isgd_adam(params: Iterable, closure: Callable[[], Tensor], *, lr: float, K0: int, K1: int,
              gamma: float = 1e-3, K2: int = 0, eta: float = 1e-3, inner: str = "adam",
              progress: bool = False) -> Tensor:
    """The "ISGD,Adam" schedule of Li, Chen & Huang 2023 Algorithm 1; returns the loss history.

    ``K0`` implicit steps of rate ``lr`` (= alpha), each solving eq. 12 with ``K1`` inner
    Adam steps at rate ``gamma`` (``inner="lbfgs"`` gives "ISGD,L-BFGS" with ``K1`` as the
    iteration cap), then ``K2`` plain Adam steps at rate ``eta`` (Adam's other settings at
    their defaults, as in Li, Chen & Huang 2023). ``closure`` follows the torch.optim protocol (zero
    grads, loss, backward, return loss); for mini-batches let it draw the next batch.

    Returns a float64 tensor of length ``K0 + K2 + 1``: ``L(theta_n)`` before each step and
    the loss after the last step (one extra closure call). Read on the host only at the end.
    """
    params = [p for p in params]
    for name, v in (("K0", K0), ("K1", K1), ("K2", K2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an int >= 0, got {v!r}")
    if K0 > 0 and K1 < 1:
        raise ValueError(f"K1 (inner steps) must be >= 1 when K0 > 0, got {K1!r}")
    check_positive("eta", eta)
    check_positive("gamma", gamma)
    from tqdm.auto import tqdm

    hist: list[Tensor] = []
    bar = tqdm(total=K0 + K2, disable=not progress, desc="ISGD,Adam")
    if K0 > 0:
        opt = ISGD(params, lr=lr, inner=inner, inner_steps=K1, inner_lr=gamma)
        for _ in range(K0):
            hist.append(opt.step(closure).detach().to(F64))
            bar.update()
    if K2 > 0:
        adam = torch.optim.Adam(params, lr=eta)
        for _ in range(K2):
            hist.append(adam.step(closure).detach().to(F64))
            bar.update()
    bar.close()
    hist.append(evaluate_loss(closure, "isgd_adam").to(F64))
    return torch.stack(hist).cpu()
