"""Implicit (stochastic) gradient descent: backward Euler as a proximal point step.

Seed 001 (Li, Chen, Huang 2023), book chapter "Implicit SGD". Backward Euler on the
gradient flow ``theta' = -grad L(theta)`` (seed 001 eq. 4),

.. math::

    \\theta_{n+1} = \\theta_n - \\alpha \\nabla L(\\theta_{n+1}),

is the first-order optimality condition of the proximal point problem (eq. 12)

.. math::

    \\theta_{n+1} = \\arg\\min_\\theta \\; \\tfrac12 \\|\\theta - \\theta_n\\|^2 + \\alpha L(\\theta).

:class:`ISGD` solves eq. 12 at every step by an *inner* optimizer started at
``theta_n`` with fresh state: ``inner="adam"`` (``inner_steps`` Adam steps at rate
``inner_lr``; seed 001 Algorithm 1 lines 3-6) or ``inner="lbfgs"`` (torch's L-BFGS with
a strong-Wolfe line search, up to ``inner_steps`` iterations; the "ISGD,L-BFGS"
variant). For a quadratic loss the exact step multiplies the error in the mode of
curvature ``k`` by ``1 / (1 + alpha k)``, so each mode's loss by ``1 / (1 + alpha k)^2``
(eq. 8) -- below 1 for every ``alpha > 0``, while gradient descent's ``(1 - alpha k)^2``
(eq. 7) exceeds 1 once ``alpha > 2 / k`` (see :mod:`savlib.gradflow`).

:func:`isgd_adam` is the practical "ISGD,Adam" schedule of Algorithm 1: ``K0`` implicit
steps (each ``K1`` inner Adam steps at rate ``gamma``), then ``K2`` plain Adam steps at
rate ``eta``. Algorithm 1 writes the inner loop as ``while k <= K1`` but keeps
``theta~_{K1}``; savlib takes exactly ``K1`` inner updates (the reading that matches the
iteration count ``(K0 K1 + K2)`` of seed 001 section 4).

Closure protocol: torch.optim's (as ``LBFGS``): the closure zeroes the gradients,
computes the loss ``L`` on the batch, calls ``loss.backward()`` and returns the loss.
``ISGD.step`` calls it once per inner evaluation (the batch is held fixed during one
outer step, as in seed 001). Several parameter groups may have different ``lr``; the
inner objective is then ``sum_g (alpha/alpha_g) 1/2 |theta_g - theta_{n,g}|^2 + alpha L``
with ``alpha`` the first group's ``lr`` (the backward Euler step with per-group rates).

Inner Adam step size. Adam moves every entry by about ``inner_lr`` per step whatever the
size of the gradient, while the proximal step of eq. 12 moves it by about
``alpha |dL/dtheta_j| / (1 + alpha k)`` (``k`` the curvature). A fixed ``inner_lr`` is
therefore wrong at one end of the ``alpha`` range or the other: far larger than the step
for small ``alpha`` (Adam then jitters around ``theta_n`` at amplitude ``inner_lr`` instead of
taking the small implicit step) and too small to reach it in ``K1`` steps for large
``alpha``. With ``inner="adam"`` and ``inner_lr=None`` (the default) savlib ties it to the
outer rate: ``inner_lr = INNER_LR_FACTOR * alpha * rms(grad L(theta_n))`` (``rms`` over all
trained entries, ``INNER_LR_FACTOR = 0.2``), i.e. a fifth of the explicit (SGD) step of
the same ``alpha``, recomputed at every outer step from the first inner gradient (no extra
evaluation). It follows the size of the implicit step when the loss (or ``alpha``) is
rescaled, which a fixed rate cannot do, and resolves the implicit step well while
``alpha k`` is at most of order 1; for much stiffer steps the implicit step is
``1 / (1 + alpha k)`` times shorter than the explicit one and either an explicit
``inner_lr`` or ``inner="lbfgs"`` is the better choice. Passing ``inner_lr`` (as seed 001's
``gamma``) keeps the paper's fixed rate.

Inner state. Algorithm 1 calls "Adam" on the proximal objective without saying whether
the optimizer starts afresh at each outer step. ``inner_state="fresh"`` (default) does:
every outer step is an independent inexact solve of eq. 12, and its first inner steps move
every entry by about ``inner_lr`` (Adam's normalisation), signal or noise alike.
``inner_state="carry"`` keeps one inner Adam for the whole run: its moments and step count
continue across outer steps (they are saved by ``state_dict``) while the anchor of the
proximal term moves to ``theta_n``. Small gradients are then normalised by a running
second moment instead of their own size. On seed 001's MNIST Table 2 the carried form with
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

from typing import Any, Callable, Iterable

import torch
from torch import Tensor

from .base import F64, EnergyOptimizer, check_positive, evaluate_loss, sq_norms

__all__ = ["ISGD", "isgd_adam", "INNER_LR_FACTOR"]

#: inner Adam rate = INNER_LR_FACTOR * alpha * rms(grad L(theta_n)) when inner_lr is None
INNER_LR_FACTOR = 0.2

_INNER = ("adam", "lbfgs")
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
            self.k = int(owner.scalars.get("inner_k", 0))
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


class ISGD(EnergyOptimizer):
    """Implicit SGD = proximal point step of seed 001 eq. 12, solved by an inner optimizer.

    Args:
        params: parameters or parameter groups.
        lr: the implicit step ``alpha`` (= dt) > 0.
        inner: ``"adam"`` (default) or ``"lbfgs"``.
        inner_steps: inner Adam steps ``K1`` (default 10), or the L-BFGS iteration cap
            (default 20).
        inner_lr: inner Adam rate ``gamma``; default ``None``: tied to the outer rate,
            ``INNER_LR_FACTOR * alpha * rms(grad L(theta_n))`` at every outer step (see the
            module docstring). Ignored by L-BFGS, which runs with ``lr=1`` and a
            strong-Wolfe line search.
        inner_state: ``"fresh"`` (default) starts the inner Adam anew at every outer step,
            ``"carry"`` lets its moments run on across outer steps (module docstring). When a
            step fails (non-finite loss in the inner solve) the parameters are restored to
            ``theta_n``; with ``"carry"`` the inner moments keep the updates made before the
            failure.
        inner_kwargs: extra keyword arguments for the inner Adam (``betas``, ``eps``: savlib's
            fresh-state Adam, see ``_FreshAdam``; anything else: ``torch.optim.Adam``) /
            ``torch.optim.LBFGS`` (L-BFGS defaults here: ``tolerance_grad=0``,
            ``tolerance_change=0``, ``history_size=10``, strong Wolfe: it runs its
            ``inner_steps`` iterations unless the step or gradient is exactly zero, because
            a stop on "the loss stopped changing" fires at round-off long before the
            iterate has converged). L-BFGS is handed
            the proximal objective divided by ``eps^(3/4) |grad F(theta_n)|^2`` (see the
            comment in ``step``), so its tolerances refer to that normalised problem.
        check_finite: raise ``ValueError`` and restore ``theta_n`` when the loss or the
            new parameters are not finite (one host sync per outer step).
        process_group, sharded: run across processes (module docstring); the loss the
            inner solver sees, the finite checks and the diagnostics are then global.

    ``step(closure)`` returns the loss ``L(theta_n)`` (the first evaluation). Diagnostics
    (0-d float64): ``loss`` (``L(theta_n)``), ``objective`` (the last evaluated
    ``1/2 |theta - theta_n|^2 + alpha L(theta)``), ``loss_last`` (``L`` at that point),
    ``update_norm`` (``|theta_{n+1} - theta_n|``), ``inner_evals``, ``step``, and
    ``inner_lr`` (the inner Adam rate used).
    """

    _scheme_wide = ("inner", "inner_steps", "inner_lr", "inner_state", "check_finite")

    def __init__(self, params: Iterable, lr: float = 0.1, *, inner: str = "adam",
                 inner_steps: int | None = None, inner_lr: float | None = None,
                 inner_kwargs: dict[str, Any] | None = None, inner_state: str = "fresh",
                 check_finite: bool = True, foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        lr = check_positive("lr (the implicit step alpha)", lr)
        if inner not in _INNER:
            raise ValueError(f"inner must be one of {_INNER}, got {inner!r}")
        if inner_state not in ("fresh", "carry"):
            raise ValueError(f"inner_state must be 'fresh' or 'carry', got {inner_state!r}")
        if inner_state == "carry" and (inner != "adam" or not set(inner_kwargs or {}) <= {"betas", "eps"}):
            raise ValueError("inner_state='carry' needs inner='adam' (savlib's inner Adam: inner_kwargs "
                             "may only set betas and eps)")
        if inner_steps is None:
            inner_steps = 10 if inner == "adam" else 20
        if isinstance(inner_steps, bool) or not isinstance(inner_steps, int) or inner_steps < 1:
            raise ValueError(f"inner_steps must be an int >= 1, got {inner_steps!r}")
        if inner_lr is not None:
            inner_lr = check_positive("inner_lr", inner_lr)
        if inner_kwargs is not None and not isinstance(inner_kwargs, dict):
            raise TypeError(f"inner_kwargs must be a dict, got {type(inner_kwargs).__name__}")
        self._inner_kwargs = dict(inner_kwargs or {})
        for bad in ("params", "lr", "max_iter"):
            if bad in self._inner_kwargs:
                raise ValueError(f"inner_kwargs may not set {bad!r}: use lr, inner_lr, inner_steps")
        defaults = dict(lr=lr, inner=inner, inner_steps=inner_steps, inner_lr=inner_lr,
                        inner_state=inner_state, check_finite=bool(check_finite))
        super().__init__(params, defaults, foreach=foreach, process_group=process_group,
                         sharded=sharded)
        if self.process_group is not None and self.sharded and inner == "lbfgs":
            raise ValueError("ISGD(inner='lbfgs', sharded=True) is not supported: torch's L-BFGS "
                             "takes its inner products over the local tensors only, so each rank "
                             "would search along a different direction; use inner='adam' or "
                             "replicated parameters (sharded=False, DDP)")

    def _validate_group(self, group: dict[str, Any]) -> None:
        group["lr"] = check_positive("lr (the implicit step alpha)", group["lr"])

    def _make_inner(self, params: list[Tensor]) -> torch.optim.Optimizer:
        d = self.defaults
        if d["inner"] == "adam" and set(self._inner_kwargs) <= {"betas", "eps"}:
            return _FreshAdam(self, params, d["inner_lr"] or 1e-3,
                              tuple(self._inner_kwargs.get("betas", (0.9, 0.999))),
                              float(self._inner_kwargs.get("eps", 1e-8)),
                              carry=d["inner_state"] == "carry")
        if d["inner"] == "adam":
            kw = dict(self._inner_kwargs)
            kw.setdefault("foreach", self.foreach)
            # inner_lr=None: a placeholder, replaced at the first evaluation (tied rule)
            return torch.optim.Adam(params, lr=d["inner_lr"] or 1e-3, **kw)
        kw = {**_LBFGS_DEFAULTS, **self._inner_kwargs}
        return torch.optim.LBFGS(params, lr=1.0, max_iter=d["inner_steps"], **kw)

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # type: ignore[override]
        who = type(self).__name__
        if closure is None or not callable(closure):
            evaluate_loss(closure, who)  # raises the protocol's TypeError
        groups = []
        for g in self.param_groups:
            ps = [p for p in g["params"] if p.requires_grad]
            if ps:
                groups.append((g["lr"], ps))
        if not groups:
            raise ValueError(f"{who}: no parameter requires grad")
        alpha = groups[0][0]
        params = [p for _, ps in groups for p in ps]
        with torch.no_grad():
            anchors = [p.detach().clone() for p in params]
        coef = [alpha / lr for lr, ps in groups for _ in ps]  # (alpha / alpha_g) per tensor
        dev = params[0].device
        rec: dict[str, Any] = {"evals": 0, "first": None, "last": None, "obj": None, "sigma": None}
        lbfgs = self.defaults["inner"] == "lbfgs"
        cvec = torch.tensor(coef, dtype=F64, device=dev)

        tied = not lbfgs and self.defaults["inner_lr"] is None
        n_entries = float(sum(p.numel() for p in params))
        holder: dict[str, Any] = {}

        def prox_closure() -> Tensor:
            # seed 001 eq. 12: value 1/2 sum_g (alpha/alpha_g) |theta_g - theta_n,g|^2 + alpha L,
            # gradient (alpha/alpha_g)(theta_g - theta_n,g) + alpha grad L
            loss = evaluate_loss(closure, who)
            rec["evals"] += 1
            first = rec["first"] is None
            with torch.no_grad():
                diff = torch._foreach_sub(params, anchors)
                sq = sq_norms(diff, dev, self.foreach)
                for p, d, c in zip(params, diff, coef):
                    if p.grad is None:
                        p.grad = d.mul_(c)
                    else:
                        p.grad.mul_(alpha).add_(d, alpha=c)
                prox = 0.5 * (cvec * sq).sum()
                sums = [prox]
                if first and tied:
                    # at theta_n the proximal gradient is alpha grad L: its squared norm
                    # (and the entry count) give rms(alpha grad L) for the inner rate
                    sums += [sq_norms([p.grad for p in params], dev, self.foreach).sum(),
                             torch.tensor(n_entries, dtype=F64, device=dev)]
                # several processes: ONE float64 all_reduce per evaluation (mean loss; the
                # proximal and norm parts only when the parameters are sharded)
                (loss64,), sums = self._reduce([loss], sums)
                if first:
                    rec["first"] = loss64
                    rec["dtype"] = loss.dtype
                    # host sync: a non-finite L(theta_n) must stop the step before the inner
                    # solver moves anything (torch's L-BFGS line search crashes on NaN)
                    if self.defaults["check_finite"] and not bool(torch.isfinite(loss64)):
                        raise ValueError(f"{who}: non-finite loss at theta_n (NaN or inf); "
                                         "parameters left unchanged")
                    if tied:
                        # host sync: Adam takes its rate as a Python float
                        gam = INNER_LR_FACTOR * float(torch.sqrt(sums[1] / sums[2]))
                        gam = gam if gam == gam and gam < float("inf") else 0.0
                        holder["inner"].param_groups[0]["lr"] = gam
                        rec["inner_lr"] = gam
                rec["last"] = loss64
                obj = alpha * loss64 + sums[0]
                rec["obj"] = obj
                if lbfgs:
                    # torch's L-BFGS drops curvature pairs with y's <= 1e-10 (an absolute
                    # threshold): near theta_n the pairs of a small-gradient step fall below
                    # it and L-BFGS degrades to steepest descent on a problem of condition
                    # up to 1 + lr K_max. Hand it F / sigma, sigma = eps^(3/4) |grad F(theta_n)|^2
                    # (eps of the parameter dtype: 1.8e-12 in float64, 6e-6 in float32), so
                    # pairs are kept until the gradient has fallen well below its initial
                    # size but not into round-off. Same minimiser; unit-length first step.
                    # (Replicated parameters only: the gradients are the same on every rank.)
                    if rec["sigma"] is None:
                        g2 = sq_norms([p.grad for p in params], dev, self.foreach).sum()
                        kappa = torch.finfo(params[0].dtype).eps ** 0.75   # 1.8e-12 in float64
                        rec["sigma"] = kappa * torch.where(g2 > 0, g2, torch.ones_like(g2))
                    sig = rec["sigma"]
                    torch._foreach_div_([p.grad for p in params], sig.to(params[0].dtype))
                    obj = obj / sig
            return obj.to(params[0].dtype)

        inner = self._make_inner(params)
        holder["inner"] = inner
        rec["inner_lr"] = None if lbfgs else self.defaults["inner_lr"]
        try:
            if self.defaults["inner"] == "adam":
                for _ in range(self.defaults["inner_steps"]):
                    inner.step(prox_closure)
            else:
                inner.step(prox_closure)
        except BaseException:
            with torch.no_grad():
                torch._foreach_copy_(params, anchors)  # leave theta_n untouched on any error
            raise
        if self.defaults["inner_state"] == "carry":
            self.scalars["inner_k"] = inner.k

        with torch.no_grad():
            upd = torch._foreach_sub(params, anchors)
            _, (u2,) = self._reduce([], [sq_norms(upd, dev, self.foreach).sum()])  # sharded only
            unorm = u2.sqrt()
            if self.defaults["check_finite"]:
                # host sync: raising and restoring theta_n is a branch on the value
                if not bool(torch.isfinite(rec["first"]) & torch.isfinite(unorm)):
                    torch._foreach_copy_(params, anchors)
                    raise ValueError(f"{who}: non-finite loss or parameters (NaN or inf) in the inner "
                                     "solve; parameters restored to theta_n")
        sc = self.scalars
        step = sc.get("step", torch.zeros((), dtype=F64, device=dev)) + 1
        sc["step"] = step
        self.diagnostics = dict(
            step=step, loss=rec["first"].to(F64), loss_last=rec["last"].to(F64),
            objective=rec["obj"], update_norm=unorm,
            inner_evals=torch.tensor(float(rec["evals"]), dtype=F64, device=dev),
            inner_lr=torch.tensor(float("nan") if rec["inner_lr"] is None else rec["inner_lr"],
                                  dtype=F64, device=dev))
        return rec["first"].to(dtype=rec["dtype"])


def isgd_adam(params: Iterable, closure: Callable[[], Tensor], *, lr: float, K0: int, K1: int,
              gamma: float = 1e-3, K2: int = 0, eta: float = 1e-3, inner: str = "adam",
              progress: bool = False) -> Tensor:
    """The "ISGD,Adam" schedule of seed 001 Algorithm 1; returns the loss history.

    ``K0`` implicit steps of rate ``lr`` (= alpha), each solving eq. 12 with ``K1`` inner
    Adam steps at rate ``gamma`` (``inner="lbfgs"`` gives "ISGD,L-BFGS" with ``K1`` as the
    iteration cap), then ``K2`` plain Adam steps at rate ``eta`` (Adam's other settings at
    their defaults, as in seed 001). ``closure`` follows the torch.optim protocol (zero
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
