"""Learning a and b: gradient descent via the adjoint, PAM (Alg. 1) and MSA (Alg. 2).

Liu & Markowich 2020 section 5. Book chapters: "Learning as optimal control"
(``book/meanfield/control.ipynb``) and "Pontryagin and successive approximations"
(``book/meanfield/pmp.ipynb``).

An *objective* is a callable ``obj(params, need_grad=True) -> (J, grads)`` over a dict of
tensors (``"a"``, ``"b"`` and, for classification, ``"W"``, ``"mu"``); build one with
:func:`regression_objective` or :func:`classifier_objective`. Gradients are those of the
discrete cost (discrete adjoint). Descent uses the L2 metric of the continuous problem by
default: a step moves ``a`` by ``-lr * dJ_da / (dt volume)``, the gradient density of
Prop. 4.1, so the step size means the same thing on every grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from .activations import get_activation
from .adjoint import (_check_reg, _final_state, classifier_loss_and_grad, head_logits,
                      loss_and_grad, tikhonov)
from .grid import Grid
from .solver import check_inputs, check_like, forward

__all__ = ["regression_objective", "classifier_objective", "l2_weights", "gradient_descent",
           "pam", "History", "hamiltonian", "hamiltonian_argmax", "discrete_costates", "msa",
           "init_params", "accuracy"]


@dataclass
class History:
    """Per-iteration record of a training run: ``J`` (cost before each step and the final
    one), ``step`` (accepted step sizes), ``decrease`` (for PAM the slack of the
    sufficient-decrease inequality, >= 0 when it holds), ``evals`` (cost evaluations)."""

    J: list = field(default_factory=list)
    step: list = field(default_factory=list)
    decrease: list = field(default_factory=list)
    evals: int = 0
    extra: dict = field(default_factory=dict)


def l2_weights(grid: Grid, T: float, steps: int) -> dict[str, float]:
    """Quadrature weights of the discrete L2 norms: ``||a||^2 = dt volume sum a^2``,
    ``||b||^2 = dt volume^2 sum b^2`` (the norms of eq. 4.6 and Alg. 1), ``W`` by volume."""
    dt = float(T) / steps
    return {"a": dt * grid.volume, "b": dt * grid.volume ** 2, "W": grid.volume, "mu": 1.0}


def init_params(grid: Grid, steps: int, *, classes: int | None = None, scale_a: float = 0.0,
                scale_b: float = 0.0, scale_W: float = 1.0, dtype=torch.float64, device=None,
                generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Initial ``a (steps, N)``, ``b (steps, N, N)`` (Gaussian, standard deviations
    ``scale_a``, ``scale_b``) and, when ``classes`` is given, a head ``W``, ``mu``."""
    N = grid.N
    p = {"a": scale_a * torch.randn(steps, N, generator=generator, dtype=dtype),
         "b": scale_b * torch.randn(steps, N, N, generator=generator, dtype=dtype)}
    if classes is not None:
        p["W"] = scale_W * torch.randn(classes, N, generator=generator, dtype=dtype)
        p["mu"] = torch.zeros(classes, dtype=dtype)
    return {k: v.to(device) for k, v in p.items()}


def regression_objective(f0: Tensor, target: Tensor, grid: Grid, T: float, method: str = "euler",
                         sigma="relu", reg: float = 0.0, checkpoint=None) -> Callable:
    """The cost of :func:`~savlib.meanfield.loss_and_grad` as an objective over
    ``{"a", "b"}``; ``need_grad=False`` runs the forward solve only."""
    reg = _check_reg(reg)

    def obj(params, need_grad=True):
        a, b = params["a"], params["b"]
        if need_grad:
            J, ga, gb = loss_and_grad(f0, a, b, target, grid, T, method, sigma, reg,
                                      checkpoint=checkpoint)
            return J, {"a": ga, "b": gb}
        with torch.no_grad():
            fT = _final_state(f0, a, b, grid, T, method, sigma)
            J = 0.5 * grid.volume * ((fT - target) ** 2).sum() / f0.shape[0]
            if reg:
                J = J + reg * tikhonov(a, b, grid, T)
        return J, None
    obj.grid, obj.T = grid, T
    return obj


def classifier_objective(f0: Tensor, labels: Tensor, grid: Grid, T: float, method: str = "euler",
                         sigma="relu", loss: str = "xent", reg: float = 0.0, *,
                         batch_size: int | None = None, generator: torch.Generator | None = None,
                         checkpoint=None) -> Callable:
    """The classification cost of eq. 2.9 / section 2.4 over ``{"a", "b", "W", "mu"}``
    (see :func:`~savlib.meanfield.classifier_loss_and_grad`).

    With ``batch_size`` the objective works on a minibatch: ``obj.resample()`` draws a new
    one (``gradient_descent`` calls it before every iteration), and both the gradient and
    the value-only calls (which schemes such as relaxed SAV make at the new point) use
    the current minibatch, so one step sees one consistent cost. Without ``batch_size``
    the whole data set is used (as PAM needs, whose line search compares costs)."""
    reg = _check_reg(reg)
    n = f0.shape[0]
    if batch_size is not None and not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be None or an int >= 1, got {batch_size!r}")
    state = {"x": f0, "y": labels}

    def resample():
        if batch_size is not None and batch_size < n:
            idx = torch.randperm(n, generator=generator)[:batch_size].to(f0.device)
            state["x"], state["y"] = f0[idx], labels[idx]

    def obj(params, need_grad=True):
        x, y = state["x"], state["y"]
        if need_grad:
            return classifier_loss_and_grad(x, params["a"], params["b"], y, params["W"],
                                            params["mu"], grid, T, method, sigma, loss, reg,
                                            checkpoint=checkpoint)
        with torch.no_grad():
            fT = _final_state(x, params["a"], params["b"], grid, T, method, sigma)
            O = head_logits(fT, params["W"], params["mu"], grid)
            if loss == "xent":
                J = torch.nn.functional.cross_entropy(O, y)
            else:
                C = torch.nn.functional.one_hot(y, O.shape[1]).to(O.dtype)
                J = 0.5 * ((torch.sigmoid(O) - C) ** 2).sum() / O.shape[0]
            if reg:
                J = J + reg * tikhonov(params["a"], params["b"], grid, T)
        return J, None
    resample()
    obj.grid, obj.T = grid, T
    if batch_size is not None and batch_size < n:
        obj.resample = resample
    return obj


def accuracy(params: dict, f0: Tensor, labels: Tensor, grid: Grid, T: float,
             method: str = "euler", sigma="relu") -> float:
    """Fraction of samples whose largest output ``O_k`` (eq. 2.9) is the label."""
    with torch.no_grad():
        fT = _final_state(f0, params["a"], params["b"], grid, T, method, sigma)
        O = head_logits(fT, params["W"], params["mu"], grid)
        return float((O.argmax(1) == labels).to(torch.float64).mean())


def _weights(obj, params, metric, weights):
    if weights is not None:
        return weights
    if metric == "euclidean":
        return {k: 1.0 for k in params}
    if metric == "l2":
        return l2_weights(obj.grid, obj.T, params["a"].shape[0])
    raise ValueError(f"metric must be 'l2' or 'euclidean', got {metric!r}")


def _positive(name: str, x) -> None:
    if isinstance(x, bool) or not (isinstance(x, (int, float)) and math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")


def _progress(iterable, progress, desc):
    if not progress:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, desc=desc)


def gradient_descent(objective: Callable, params: dict[str, Tensor], lr: float, iters: int, *,
                     metric: str = "l2", weights: dict | None = None,
                     optimizer: Callable | None = None, train=None, progress: bool = False):
    """Gradient descent on a and b (and the head) with adjoint gradients (Liu & Markowich 2020
    section 5.1, with the gradients of eq. 4.3-4.4 / 4.7).

    Plain descent: ``p <- p - lr * grad_p / w_p`` (``w`` from :func:`l2_weights` for
    ``metric="l2"``, 1 for ``"euclidean"``). ``optimizer``: a factory
    ``tensors -> torch.optim.Optimizer`` (e.g. ``lambda ps: savlib.schemes.RelSAV(ps, lr=...)``
    or ``torch.optim.Adam``); it is driven through the closure protocol of
    ``savlib.schemes.base``, in the coordinates ``sqrt(w) p`` where the Euclidean norm is
    the metric's norm (so the gradient it sees has the L2 norm of the gradient density),
    and the energy-stable schemes of the other parts become the outer optimizer.
    ``train``: the names of the parameters to update (default all), e.g. ``("W", "mu")``
    to fit the classification head alone on a frozen network. A minibatch objective
    (``classifier_objective(..., batch_size=...)``) is resampled before every iteration;
    ``History.J`` then holds minibatch costs.
    Returns ``(params, History)``; ``params`` are new tensors, the input is not modified.
    """
    if not (isinstance(iters, int) and iters >= 0):
        raise ValueError(f"iters must be an int >= 0, got {iters!r}")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    w = _weights(objective, params, metric, weights)
    params = {k: v.detach().clone() for k, v in params.items()}
    hist = History()
    keys = list(params) if train is None else list(train)
    for k in keys:
        if k not in params:
            raise ValueError(f"train names {k!r}, which is not a parameter ({sorted(params)})")
    if optimizer is not None:
        # the optimizer works in the coordinates x = sqrt(w) p, where the Euclidean norm is
        # the L2 norm: its gradient g / sqrt(w) has |.|^2 = ||gradient density||_{L2}^2, so
        # energy-based schemes (SAV: r^2 ~ I + C) see the continuous problem's quantities.
        sq = {k: math.sqrt(w[k]) for k in keys}
        xs = {k: (params[k] * sq[k]).requires_grad_(False) for k in keys}
        opt = optimizer([xs[k] for k in keys])

        def closure():
            need = torch.is_grad_enabled()
            with torch.no_grad():
                for k in keys:
                    params[k] = xs[k] / sq[k]
                J, g = objective(params, need_grad=need)
            hist.evals += 1
            if need:
                for k in keys:
                    xs[k].grad = g[k] / sq[k]
            return J
    resample = getattr(objective, "resample", None)
    for _ in _progress(range(iters), progress, "gradient descent"):
        if resample is not None:
            resample()
        if optimizer is None:
            J, g = objective(params, need_grad=True)
            hist.evals += 1
            with torch.no_grad():
                for k in keys:
                    params[k].sub_(g[k], alpha=lr / w[k])
        else:
            J = opt.step(closure)
        hist.J.append(float(J))
        hist.step.append(lr)
    if optimizer is not None:
        for k in keys:
            params[k] = (xs[k] / sq[k]).detach()
            xs[k].grad = None
    J, _ = objective(params, need_grad=False)
    hist.J.append(float(J))
    for v in params.values():
        v.grad = None
    return params, hist


def pam(objective: Callable, params: dict[str, Tensor], tau: float, outer: int, *,
        inner: int = 5, lr: float = 1.0, blocks=(("a",), ("b",)), metric: str = "l2",
        weights: dict | None = None, armijo: float = 1e-4, check: bool = True,
        progress: bool = False):
    """Proximal alternating minimisation, Liu & Markowich 2020 Algorithm 1 (eq. 5.1a-b).

    Each outer step minimises, block after block (``a`` then ``b`` by default; put the
    head ``("W", "mu")`` in a block of its own for classification),
    ``Phi(x) = J(x, rest) + ||x - x^k||^2 / (2 tau)`` approximately by ``inner`` steps of
    gradient descent with Armijo backtracking (starting step ``lr``), each of which
    decreases Phi. Hence ``Phi(x^{k+1}) <= Phi(x^k) = J(x^k)``, which gives the paper's
    monotone decrease
    ``J(a^{k+1}, b^{k+1}) <= J(a^k, b^k) - (||a^{k+1}-a^k||^2 + ||b^{k+1}-b^k||^2) / (2 tau)``
    even though the inner problems are not solved exactly. It is checked after every
    outer step (``History.decrease`` holds the slack); a violation raises RuntimeError
    when ``check`` is on. Norms are the discrete L2 norms of :func:`l2_weights`.
    """
    if not (isinstance(tau, (int, float)) and tau > 0):
        raise ValueError(f"tau must be > 0, got {tau!r}")
    if not (isinstance(outer, int) and outer >= 0 and isinstance(inner, int) and inner >= 1):
        raise ValueError(f"outer must be an int >= 0 and inner an int >= 1, got {outer!r}, {inner!r}")
    _positive("lr", lr)
    if not (isinstance(armijo, (int, float)) and 0 < armijo < 1):
        raise ValueError(f"armijo must be in (0, 1), got {armijo!r}")
    w = _weights(objective, params, metric, weights)
    params = {k: v.detach().clone() for k, v in params.items()}
    for blk in blocks:
        for k in blk:
            if k not in params:
                raise ValueError(f"block names {k!r}, which is not a parameter ({sorted(params)})")
    hist = History()
    J0, _ = objective(params, need_grad=False)
    hist.evals += 1
    Jk = float(J0)
    hist.J.append(Jk)
    eta = {blk: float(lr) for blk in blocks}

    def prox(x, xk, blk):
        return sum(w[k] * float(((x[k] - xk[k]) ** 2).sum()) for k in blk) / (2 * tau)

    for _ in _progress(range(outer), progress, "PAM"):
        start = {k: v.clone() for k, v in params.items()}
        for blk in blocks:
            anchor = {k: params[k].clone() for k in blk}
            J, g = objective(params, need_grad=True)
            hist.evals += 1
            phi = float(J)
            for _it in range(inner):
                # gradient of Phi in the metric w
                d = {k: g[k] / w[k] + (params[k] - anchor[k]) / tau for k in blk}
                dn = sum(w[k] * float((d[k] ** 2).sum()) for k in blk)
                if dn == 0:
                    break
                step = eta[blk]
                accepted = False
                for _bt in range(40):
                    trial = dict(params)
                    for k in blk:
                        trial[k] = params[k] - step * d[k]
                    Jt, _ = objective(trial, need_grad=False)
                    hist.evals += 1
                    phit = float(Jt) + prox(trial, anchor, blk)
                    if phit <= phi - armijo * step * dn:
                        accepted = True
                        break
                    step *= 0.5
                if not accepted:
                    break
                params = trial
                phi = phit
                eta[blk] = min(2 * step, float(lr))
                if _it + 1 < inner:
                    J, g = objective(params, need_grad=True)
                    hist.evals += 1
            hist.step.append(eta[blk])
        Jn, _ = objective(params, need_grad=False)
        hist.evals += 1
        Jn = float(Jn)
        moved = sum(w[k] * float(((params[k] - start[k]) ** 2).sum()) for blk in blocks for k in blk)
        slack = Jk - moved / (2 * tau) - Jn
        hist.decrease.append(slack)
        if check and slack < -1e-10 * max(1.0, abs(Jk)):
            raise RuntimeError(f"PAM sufficient decrease violated: J went {Jk:.6g} -> {Jn:.6g} "
                               f"with movement {moved:.3g} (slack {slack:.3g})")
        Jk = Jn
        hist.J.append(Jk)
    return params, hist


# ------------------------------------------------------------------ Pontryagin / MSA
def hamiltonian(f: Tensor, r: Tensor, a: Tensor, b: Tensor, grid: Grid, sigma="relu") -> Tensor:
    """``H(f, r, a, b) = int_Y sigma(a - B_b f) r dy`` (section 4.2), for each time step:
    ``f``, ``r``, ``a`` of shape ``(steps, N)``, ``b`` ``(steps, N, N)``; returns ``(steps,)``."""
    act = get_activation(sigma)
    u = a - grid.volume * torch.einsum("nij,nj->ni", b, f)
    return grid.volume * (act.fn(u) * r).sum(-1)


def hamiltonian_argmax(f: Tensor, r: Tensor, box, a_prev: Tensor, b_prev: Tensor):
    """Pointwise maximiser of the Hamiltonian over the box
    ``A = [a-, a+] x [b-, b+]`` for a non-decreasing sigma: the bang-bang controls of
    Liu & Markowich 2020 eq. 4.10. For every step and label y, ``a = a+`` where ``r > 0``, ``a-``
    where ``r < 0``; ``b(y, z) = b-`` where ``r(y) f(z) > 0`` and ``b+`` where
    ``r(y) f(z) < 0`` (this maximises ``a - int b f`` when ``r > 0`` and minimises it when
    ``r < 0``). Where ``r(y) = 0`` or ``f(z) = 0`` the Hamiltonian does not depend on the
    control and the previous value is kept. Shapes: ``f``, ``r`` ``(steps, N)``."""
    a_lo, a_hi, b_lo, b_hi = (float(x) for x in box)
    if not (a_lo <= a_hi and b_lo <= b_hi):
        raise ValueError(f"box must be (a-, a+, b-, b+) with a- <= a+ and b- <= b+, got {box}")
    sr = torch.sign(r)
    a = torch.where(sr > 0, torch.full_like(a_prev, a_hi), torch.where(sr < 0, torch.full_like(a_prev, a_lo), a_prev))
    s = sr[:, :, None] * torch.sign(f)[:, None, :]
    b = torch.where(s > 0, torch.full_like(b_prev, b_lo), torch.where(s < 0, torch.full_like(b_prev, b_hi), b_prev))
    return a, b


def discrete_costates(f0, a, b, target, grid, T, sigma="relu"):
    """Forward-Euler trajectory ``f_n`` and the co-states ``r_n`` of the discrete PMP with
    the sign of section 4.2: ``r_N = target - f_N`` and
    ``r_n = r_{n+1} - dt volume (sigma'(u_n) r_{n+1}) b_n`` (the discrete adjoint of the
    residual network, divided by ``-volume``), for a single sample ``f0`` of shape ``(1, N)``."""
    steps, T, tab, act = check_inputs(f0, a, b, grid, T, "euler", sigma)
    traj = forward(f0, a, b, grid, T, "euler", act)[:, 0]
    tgt = target.reshape(-1)
    dt = T / steps
    r = torch.empty_like(traj)
    r[steps] = tgt - traj[steps]
    for n in reversed(range(steps)):
        u = a[n] - grid.volume * b[n] @ traj[n]
        r[n] = r[n + 1] - dt * grid.volume * (act.deriv(u) * r[n + 1]) @ b[n]
    return traj, r


def msa(f0: Tensor, a0: Tensor, b0: Tensor, target: Tensor, grid: Grid, T: float, box, iters: int,
        sigma="tanh", *, rho: float = 0.0, inner: int = 20, inner_lr: float = 0.05,
        progress: bool = False):
    """Method of successive approximations, Liu & Markowich 2020 Algorithm 2, for the residual network
    (forward Euler) and one input function ``f0 (1, N)``.

    Each iteration solves the forward problem, the co-state with ``r(T) = target - f(T)``
    (section 4.2 sign), and maximises the Hamiltonian step by step. ``rho = 0``: plain MSA,
    the exact bang-bang maximiser :func:`hamiltonian_argmax` (eq. 4.10). ``rho > 0``:
    the extended MSA of Li, Chen, Tai & E (JMLR 2018), which maximises the augmented
    Hamiltonian ``H_n(theta) - rho/2 |f_{n+1} - f_n - dt sigma(...)|^2 -
    rho/2 |r_n - d/df (f + dt sigma(...)) . r_{n+1}|^2`` (both penalties written for the
    Euler map) by ``inner`` steps of projected gradient ascent from the current controls;
    the penalties keep the new controls close to ones consistent with the current
    state/co-state, the known remedy for plain MSA's failure to converge.
    Returns ``(a, b, History)``; ``History.J`` holds the cost of each iterate.
    """
    if f0.dim() != 2 or f0.shape[0] != 1:
        raise ValueError("msa works with one input function: f0 must have shape (1, N); the "
                         "pointwise Hamiltonian maximisation (4.10) is for a single sample")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 0:
        raise ValueError(f"iters must be an int >= 0, got {iters!r}")
    if not (isinstance(rho, (int, float)) and math.isfinite(rho) and rho >= 0):
        raise ValueError(f"rho must be a finite number >= 0 (0: plain MSA), got {rho!r}")
    if rho > 0:
        if isinstance(inner, bool) or not isinstance(inner, int) or inner < 1:
            raise ValueError(f"inner must be an int >= 1, got {inner!r}")
        _positive("inner_lr", inner_lr)
    steps, T, tab, act = check_inputs(f0, a0, b0, grid, T, "euler", sigma)
    target = target.reshape(1, -1)
    check_like("target", target, f0, tuple(f0.shape))
    a_lo, a_hi, b_lo, b_hi = (float(x) for x in box)
    a, b = a0.detach().clamp(a_lo, a_hi).clone(), b0.detach().clamp(b_lo, b_hi).clone()
    dt, vol = T / steps, grid.volume
    hist = History()
    for _ in _progress(range(iters), progress, "MSA" if rho == 0 else "extended MSA"):
        traj, r = discrete_costates(f0, a, b, target, grid, T, act)
        hist.J.append(0.5 * vol * float(((traj[-1] - target[0]) ** 2).sum()))
        if rho == 0:
            a, b = hamiltonian_argmax(traj[:-1], r[1:], box, a, b)
        else:
            a, b = _extended_step(traj, r, a, b, grid, dt, act, box, rho, inner, inner_lr)
        hist.evals += 1
    traj = forward(f0, a, b, grid, T, "euler", act)
    hist.J.append(0.5 * vol * float(((traj[-1, 0] - target[0]) ** 2).sum()))
    return a, b, hist


def _extended_step(traj, r, a, b, grid, dt, act, box, rho, inner, lr):
    a_lo, a_hi, b_lo, b_hi = (float(x) for x in box)
    vol = grid.volume
    x, xn, p, pn = traj[:-1], traj[1:], r[:-1], r[1:]
    th_a, th_b = a.clone(), b.clone()
    for _ in range(inner):
        th_a.requires_grad_(True)
        th_b.requires_grad_(True)
        with torch.enable_grad():
            u = th_a - vol * torch.einsum("nij,nj->ni", th_b, x)
            s = act.fn(u)
            H = vol * (s * pn).sum()
            # d/df of the Euler map, transposed, applied to p_{n+1}
            grad_x = pn - dt * vol * torch.einsum("ni,nij->nj", act.deriv(u) * pn, th_b)
            pen = ((xn - x - dt * s) ** 2).sum() + ((p - grad_x) ** 2).sum()
            Haug = H - 0.5 * rho * vol * pen
            ga, gb = torch.autograd.grad(Haug, (th_a, th_b))
        with torch.no_grad():
            th_a = (th_a + lr * ga / (vol * dt)).clamp(a_lo, a_hi)
            th_b = (th_b + lr * gb / (vol * vol * dt)).clamp(b_lo, b_hi)
    return th_a.detach(), th_b.detach()
