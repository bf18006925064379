"""Gradients of the cost by the co-state (adjoint) equation (Liu & Markowich 2020 section 4.1).

Two adjoints live here and the book ("Learning as optimal control",
``book/meanfield/control.ipynb``) compares them:

* the **discrete adjoint** of the chosen Runge-Kutta stepper (:func:`loss_and_grad`,
  :func:`classifier_loss_and_grad`): the exact derivative of the *discrete* cost with
  respect to the arrays ``a`` and ``b``, computed by one reverse sweep over the stored
  (or checkpointed and recomputed) stages -- no autograd. For forward Euler it is
  backpropagation through the residual network.
* the **continuous co-state** of eq. 4.2, ``r_t = B_{b^T}(sigma'(u) r)``,
  ``r(T) = f(T) - target``, integrated backward (:func:`costate`), and the gradient
  densities of Prop. 4.1, ``D_a J = sigma'(u) r``, ``D_b J = -f(z) sigma'(u(y)) r(y)``
  (:func:`continuous_gradients`). Section 5.1 of the paper writes sigma where sigma' is
  meant (a typo); we follow eq. 4.3-4.4. They agree with the discrete adjoint to O(dt).

Discrete cost (regression): ``J = mean_batch 1/2 volume sum_i (f_i(T) - target_i)^2
+ reg * R`` with the Tikhonov term of eq. 4.6 discretised by the midpoint rule in y and
the interval length ``dt = T/steps`` in t: ``R = dt volume sum a^2 + dt volume^2 sum b^2``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .activations import Activation, get_activation
from .grid import Grid
from .solver import Tableau, _finite_or_raise, check_inputs, check_like, forward, rk_step

__all__ = ["loss_and_grad", "classifier_loss_and_grad", "head_logits", "predict",
           "tikhonov", "costate", "continuous_gradients", "AdjointInfo", "make_head"]


@dataclass
class AdjointInfo:
    """What one adjoint solve did: ``stored_bytes`` is the peak number of bytes of
    states/stages held for the reverse sweep (the quantity checkpointing bounds),
    ``forward_steps`` counts RK steps including recomputation, ``lam0`` is dJ/df0."""

    stored_bytes: int = 0
    forward_steps: int = 0
    checkpoints: int = 0
    lam0: Tensor | None = None
    extra: dict = field(default_factory=dict)


def tikhonov(a: Tensor, b: Tensor, grid: Grid, T: float) -> Tensor:
    """The Tikhonov regulariser R(a, b) of Liu & Markowich 2020 eq. 4.6, discretised:
    ``dt * volume * sum a^2 + dt * volume^2 * sum b^2`` with ``dt = T / steps``."""
    dt = float(T) / a.shape[0]
    return dt * grid.volume * (a * a).sum() + dt * grid.volume ** 2 * (b * b).sum()


def _nbytes(pairs) -> int:
    return sum(t.element_size() * t.numel() for pair in pairs for t in pair)


def _reverse_step(lam: Tensor, stages, a_n: Tensor, b_n: Tensor, ga_n: Tensor, gb_n: Tensor,
                  vol: float, dt: float, tab: Tableau, act: Activation, need_lam: bool = True):
    """Adjoint of one RK step: given lam = dJ/df_{m+1}, accumulate dJ/da_n, dJ/db_n and
    return dJ/df_m. Stage cotangents: kbar_i = dt w_i lam + sum_{j>i} dt A_ji Ybar_j,
    ubar_i = sigma'(u_i) kbar_i, Ybar_i = -volume ubar_i b_n. With ``need_lam=False``
    (the first step, when dJ/df0 is not wanted) Ybar_0 is skipped and None returned."""
    s = tab.stages
    ybar: list[Tensor | None] = [None] * s
    ubar: list[Tensor | None] = [None] * s
    for i in reversed(range(s)):
        kbar = (dt * tab.w[i]) * lam
        for j in range(i + 1, s):
            c = tab.A[j][i]
            if c:
                kbar = kbar + (dt * c) * ybar[j]
        ubar[i] = act.deriv(stages[i][1]) * kbar
        if i or need_lam:
            ybar[i] = torch.mm(ubar[i], b_n).mul_(-vol)
    new = None
    if need_lam:
        new = lam
        for i in range(s):
            new = new + ybar[i]
    for i in range(s):
        ga_n.add_(ubar[i].sum(0))
        gb_n.addmm_(ubar[i].t(), stages[i][0], alpha=-vol)
    return new


def _solve_adjoint(f0, a, b, grid, T, tab, act, substeps, terminal, checkpoint, info,
                   need_lam0=False):
    steps = a.shape[0]
    vol = grid.volume
    dt = T / (steps * substeps)
    total = steps * substeps
    if checkpoint is None or checkpoint is False:
        k = total
        store_all = True
    else:
        if checkpoint is True or checkpoint == "sqrt":
            k = max(1, int(math.ceil(math.sqrt(total))))
        elif isinstance(checkpoint, int) and not isinstance(checkpoint, bool) and checkpoint >= 1:
            k = checkpoint
        else:
            raise ValueError(f"checkpoint must be None, True, 'sqrt' or an int >= 1, got {checkpoint!r}")
        store_all = False
    # forward sweep
    f = f0
    records: list = []
    ckpts: dict[int, Tensor] = {0: f0}
    held = 0
    for m in range(total):
        n = m // substeps
        if store_all:
            rec: list = []
            f = rk_step(f, a[n], b[n], vol, dt, tab, act, rec)
            records.append(rec)
            held += _nbytes(rec)
        else:
            f = rk_step(f, a[n], b[n], vol, dt, tab, act)
            if (m + 1) % k == 0 and m + 1 < total:
                ckpts[m + 1] = f
        _finite_or_raise(f, m + 1, (m + 1) * dt, tab.name)
    info.forward_steps += total
    fT = f
    J, lam = terminal(fT)
    ga = torch.zeros_like(a, memory_format=torch.contiguous_format)
    gb = torch.zeros_like(b, memory_format=torch.contiguous_format)
    if store_all:
        info.stored_bytes = held
        for m in reversed(range(total)):
            n = m // substeps
            lam = _reverse_step(lam, records[m], a[n], b[n], ga[n], gb[n], vol, dt, tab, act,
                                m > 0 or need_lam0)
            records[m] = None
    else:
        info.checkpoints = len(ckpts)
        ck_bytes = sum(t.element_size() * t.numel() for t in ckpts.values())
        peak = ck_bytes
        starts = sorted(ckpts)
        for s0 in reversed(starts):
            s1 = min(s0 + k, total)
            f = ckpts[s0]
            seg = []
            for m in range(s0, s1):
                rec: list = []
                f = rk_step(f, a[m // substeps], b[m // substeps], vol, dt, tab, act, rec)
                seg.append(rec)
            info.forward_steps += s1 - s0
            peak = max(peak, ck_bytes + sum(_nbytes(r) for r in seg))
            for m in reversed(range(s0, s1)):
                n = m // substeps
                lam = _reverse_step(lam, seg[m - s0], a[n], b[n], ga[n], gb[n], vol, dt, tab, act,
                                    m > 0 or need_lam0)
                seg[m - s0] = None
            del ckpts[s0]
        info.stored_bytes = peak
    info.lam0 = lam
    return J, ga, gb, fT


def _regression_terminal(target: Tensor, vol: float):
    def terminal(fT):
        d = fT - target
        batch = fT.shape[0]
        J = 0.5 * vol * (d * d).sum() / batch
        return J, d * (vol / batch)
    return terminal


def loss_and_grad(f0: Tensor, a: Tensor, b: Tensor, target: Tensor, grid: Grid, T: float,
                  method: str = "euler", sigma="relu", reg: float = 0.0, *, substeps: int = 1,
                  checkpoint=None, return_info: bool = False):
    """Cost and its exact gradients for the discrete forward map (Liu & Markowich 2020 section 4.1).

    ``J = mean_batch 1/2 volume sum_i (f_i(T) - target_i)^2 + reg * R(a, b)`` where R is
    the discretised Tikhonov term of eq. 4.6 (:func:`tikhonov`); ``target`` has shape
    ``(batch, N)`` or ``(N,)``. Returns ``(J, dJ_da, dJ_db)`` (shapes of ``a`` and ``b``),
    computed by the discrete adjoint recursion of the chosen stepper -- the discrete
    counterpart of eq. 4.2-4.4 and 4.7 -- not by autograd.

    ``checkpoint``: None stores every stage (fastest); an int ``k`` (or True for
    ``ceil(sqrt(steps))``) stores every k-th state only and recomputes each segment in the
    reverse sweep, so the memory held grows like ``steps/k + k`` instead of ``steps``.
    With ``return_info=True`` an :class:`AdjointInfo` is returned as a fourth item; its
    ``lam0`` is dJ/df0 (the co-state at t = 0, times volume), computed only then.
    """
    steps, T, tab, act = check_inputs(f0, a, b, grid, T, method, sigma, substeps)
    if isinstance(target, Tensor) and target.dim() == 1:
        target = check_like("target", target, f0, (grid.N,)).expand_as(f0)
    else:
        check_like("target", target, f0, tuple(f0.shape))
    reg = _check_reg(reg)
    info = AdjointInfo()
    with torch.no_grad():
        J, ga, gb, _ = _solve_adjoint(f0, a, b, grid, T, tab, act, substeps,
                                      _regression_terminal(target, grid.volume), checkpoint, info,
                                      need_lam0=return_info)
        if reg:
            J, ga, gb = _add_tikhonov(J, ga, gb, a, b, grid, T, reg)
    return (J, ga, gb, info) if return_info else (J, ga, gb)


def _check_reg(reg) -> float:
    if isinstance(reg, bool) or not isinstance(reg, (int, float)) or not math.isfinite(reg) or reg < 0:
        raise ValueError(f"reg must be a finite number >= 0, got {reg!r}")
    return float(reg)


def _add_tikhonov(J, ga, gb, a, b, grid, T, reg):
    dt = T / a.shape[0]
    J = J + reg * tikhonov(a, b, grid, T)
    ga = ga.add_(a, alpha=2 * reg * dt * grid.volume)
    gb = gb.add_(b, alpha=2 * reg * dt * grid.volume ** 2)
    return J, ga, gb


# ------------------------------------------------------------------ classification head
def make_head(grid: Grid, classes: int, *, scale: float = 1.0, dtype=torch.float64, device=None,
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """A random classification head (W ``(classes, N)``, mu ``(classes,)``) for eq. 2.9."""
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"classes must be an int >= 1, got {classes!r}")
    W = torch.randn(classes, grid.N, generator=generator, dtype=dtype) * scale
    return W.to(device), torch.zeros(classes, dtype=dtype, device=device)


def head_logits(fT: Tensor, W: Tensor, mu: Tensor, grid: Grid) -> Tensor:
    """The network output of Liu & Markowich 2020 eq. 2.9, ``O_k = int_Y W(k, z) f(z, T) dz + mu_k``,
    on the grid: ``volume * fT @ W^T + mu``, shape ``(batch, classes)``. The output label
    set is the finite set of classes (the paper's y runs over it)."""
    return torch.addmm(mu, fT, W.t(), alpha=grid.volume)


_LOSSES = ("logistic", "xent")


def _classifier_terminal(labels, W, mu, grid, loss):
    vol = grid.volume

    def terminal(fT):
        O = head_logits(fT, W, mu, grid)
        batch, K = O.shape
        if loss == "logistic":  # 1/2 |h(O) - C|^2 with the logistic h of section 2.3
            C = torch.nn.functional.one_hot(labels, K).to(O.dtype)
            p = torch.sigmoid(O)
            J = 0.5 * ((p - C) ** 2).sum() / batch
            Obar = (p - C) * p * (1 - p) / batch
        else:  # softmax cross-entropy
            logp = torch.log_softmax(O, dim=1)
            J = -logp.gather(1, labels[:, None]).sum() / batch
            Obar = logp.exp()
            Obar[torch.arange(batch, device=O.device), labels] -= 1
            Obar = Obar / batch
        terminal.gW = torch.mm(Obar.t(), fT).mul_(vol)
        terminal.gmu = Obar.sum(0)
        return J, torch.mm(Obar, W).mul_(vol)  # r(T) of section 4.1 (classification form)
    return terminal


def _check_head(f0, labels, W, mu, grid, loss):
    if loss not in _LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {_LOSSES}")
    if not isinstance(W, Tensor) or W.dim() != 2:
        raise ValueError(f"W must be a tensor of shape (classes, N={grid.N})")
    check_like("W", W, f0, (W.shape[0], grid.N))
    check_like("mu", mu, f0, (W.shape[0],))
    if not isinstance(labels, Tensor) or labels.dtype != torch.long or tuple(labels.shape) != (f0.shape[0],):
        raise TypeError(f"labels must be an int64 tensor of shape (batch={f0.shape[0]},)")
    if labels.device != f0.device:
        raise ValueError(f"labels are on {labels.device} but f0 is on {f0.device}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= W.shape[0]):
        raise ValueError(f"labels must lie in [0, {W.shape[0]}) (the number of rows of W)")


def classifier_loss_and_grad(f0: Tensor, a: Tensor, b: Tensor, labels: Tensor, W: Tensor,
                             mu: Tensor, grid: Grid, T: float, method: str = "euler",
                             sigma="relu", loss: str = "logistic", reg: float = 0.0, *,
                             substeps: int = 1, checkpoint=None):
    """Classification cost of Liu & Markowich 2020 sections 2.3-2.4 and its exact discrete gradients.

    Output ``O = volume * f(T) W^T + mu`` (eq. 2.9); ``loss="logistic"``:
    ``J = mean_batch 1/2 sum_k (h(O_k) - C_k)^2`` with ``h`` the logistic function and C
    the one-hot label; ``loss="xent"``: softmax cross-entropy. Plus ``reg * R(a, b)``
    (eq. 4.6). The co-state starts from ``r(T) = int (C^pre - C) h'(O) W dy`` (section
    4.1, last display). Returns ``(J, {"a", "b", "W", "mu"} -> gradient)``.
    """
    steps, T, tab, act = check_inputs(f0, a, b, grid, T, method, sigma, substeps)
    _check_head(f0, labels, W, mu, grid, loss)
    reg = _check_reg(reg)
    term = _classifier_terminal(labels, W, mu, grid, loss)
    with torch.no_grad():
        J, ga, gb, _ = _solve_adjoint(f0, a, b, grid, T, tab, act, substeps, term, checkpoint,
                                      AdjointInfo())
        if reg:
            J, ga, gb = _add_tikhonov(J, ga, gb, a, b, grid, T, reg)
    return J, {"a": ga, "b": gb, "W": term.gW, "mu": term.gmu}


def predict(f0: Tensor, a: Tensor, b: Tensor, W: Tensor, mu: Tensor, grid: Grid, T: float,
            method: str = "euler", sigma="relu", *, chunk: int = 4096) -> Tensor:
    """Logits ``O`` of eq. 2.9 for a batch of inputs (processed in chunks); the predicted
    class is ``argmax``."""
    outs = []
    with torch.no_grad():
        for s in range(0, f0.shape[0], chunk):
            x = f0[s:s + chunk]
            fT = _final_state(x, a, b, grid, T, method, sigma)
            outs.append(head_logits(fT, W, mu, grid))
    return torch.cat(outs, 0)


def _final_state(f0, a, b, grid, T, method, sigma, substeps=1):
    steps, T, tab, act = check_inputs(f0, a, b, grid, T, method, sigma, substeps)
    dt = T / (steps * substeps)
    f = f0
    for m in range(steps * substeps):
        f = rk_step(f, a[m // substeps], b[m // substeps], grid.volume, dt, tab, act)
        _finite_or_raise(f, m + 1, (m + 1) * dt, tab.name)
    return f


# ------------------------------------------------------------------ continuous co-state
def costate(traj: Tensor, a: Tensor, b: Tensor, terminal: Tensor, grid: Grid, T: float,
            sigma="relu") -> Tensor:
    """The co-state of Liu & Markowich 2020 eq. 4.2, ``r_t = B_{b^T}(sigma'(u) r)``, ``r(T) = terminal``
    (``f(T) - target`` for eq. 4.2b; ``target - f(T)`` for the PMP sign of section 4.2),
    integrated backward by explicit Euler on the control grid:
    ``r_n = r_{n+1} - dt * volume * (sigma'(u(t_{n+1}^-)) r_{n+1}) b_n``, with
    ``u(t_{n+1}^-) = a_n - B_{b_n} f_{n+1}`` taken from the forward trajectory ``traj``
    ``(steps + 1, batch, N)``. Returns ``r`` with the shape of ``traj``.

    This is "optimise, then discretise": it agrees with the exact discrete adjoint to
    O(dt), which the control chapter measures.
    """
    act = get_activation(sigma)
    steps = a.shape[0]
    if traj.dim() != 3 or traj.shape[0] != steps + 1:
        raise ValueError(f"traj must have shape (steps + 1 = {steps + 1}, batch, N), got {tuple(traj.shape)}")
    check_inputs(traj[0], a, b, grid, T, "euler", act)
    check_like("terminal", terminal, traj, tuple(traj.shape[1:]))
    dt = float(T) / steps
    vol = grid.volume
    r = torch.empty_like(traj)
    r[steps] = terminal
    with torch.no_grad():
        for n in reversed(range(steps)):
            u = torch.addmm(a[n], traj[n + 1], b[n].t(), alpha=-vol)
            r[n] = r[n + 1] - (dt * vol) * torch.mm(act.deriv(u) * r[n + 1], b[n])
    return r


def continuous_gradients(traj: Tensor, r: Tensor, a: Tensor, b: Tensor, grid: Grid, T: float,
                         sigma="relu") -> tuple[Tensor, Tensor]:
    """Prop. 4.1: the densities ``D_a J(y,s) = sigma'(u) r`` and ``D_b J(y,z,s) =
    -f(z,s) sigma'(u(y,s)) r(y,s)`` (batch-averaged), evaluated at the left end of each
    control interval and integrated over a cell (times ``volume``, ``volume**2``) and an
    interval (times ``dt``), so that they are comparable with the arrays returned by
    :func:`loss_and_grad` (which ``dJ_da / (dt volume)`` turns back into densities)."""
    act = get_activation(sigma)
    steps = a.shape[0]
    dt = float(T) / steps
    vol = grid.volume
    batch = traj.shape[1]
    with torch.no_grad():
        u = torch.baddbmm(a[:, None, :], traj[:-1], b.transpose(1, 2), alpha=-vol)
        g = act.deriv(u) * r[:-1]  # (steps, batch, N)
        ga = (dt * vol / batch) * g.sum(1)
        gb = (-dt * vol ** 2 / batch) * torch.bmm(g.transpose(1, 2), traj[:-1])
    return ga, gb
