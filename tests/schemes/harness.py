"""Table-driven harness for the savlib schemes (in the spirit of torch's test_optim).

One table, :data:`CASES`, lists ``Case(scheme class, kwargs, problem kind)``; the
contract tests (``test_optimizer_contract.py``) and the convergence tests run over it.
Other scheme families add their own rows in their own test file::

    from harness import Case, PROBLEMS, check_state_dict_continuation
    MY_CASES = [Case(IEQAdaptive, dict(lr=0.1), "quadratic")]

(``tests/schemes`` has no ``__init__.py``; pytest's default ``prepend`` import mode puts
this directory on ``sys.path``, so ``import harness`` works from any test file here.)

and call the ``check_*`` functions, or register a new problem kind in :data:`PROBLEMS`
(a factory ``(dtype, seed) -> Problem``; e.g. residual closures for IEQ).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from savlib.schemes import SAV, ExpSAV, RelExpSAV, RelSAV, ResSAV

F64 = torch.float64


@dataclass
class Problem:
    """``params`` (leaf tensors), ``closure()`` in the torch.optim protocol (zeroes the
    grads of ``params``, backward only when grad mode is on), ``loss()`` without grad,
    ``minimiser`` (or None) and ``min_loss`` (the optimal value, 0 when unknown)."""

    params: list[torch.Tensor]
    closure: Callable[[], torch.Tensor]
    loss: Callable[[], torch.Tensor]
    minimiser: list[torch.Tensor] | None = None
    min_loss: float = 0.0


def _closure(params, f):
    def closure():
        for p in params:
            p.grad = None
        loss = f()
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    def loss():
        with torch.no_grad():
            return f()

    return closure, loss


def quadratic(dtype=F64, seed=0, n=6, cond=30.0, scale=1.0) -> Problem:
    """Ill-conditioned quadratic ``1/2 e^T K e + 1/2 (b - 1)^2`` (condition number
    ``cond``), with a vector parameter and a 0-d parameter ``b``."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
    K = (Q * torch.logspace(0, math.log10(cond), n, dtype=F64)) @ Q.T
    xstar = torch.randn(n, generator=g, dtype=F64)
    x = torch.zeros(n, dtype=dtype, requires_grad=True)
    b = torch.zeros((), dtype=dtype, requires_grad=True)
    K, xs = K.to(dtype), xstar.to(dtype)

    def f():
        e = x - xs
        return scale * (0.5 * e @ K @ e + 0.5 * (b - 1) ** 2)

    c, l = _closure([x, b], f)
    return Problem([x, b], c, l, [xs, torch.ones((), dtype=dtype)], 0.0)


def rosenbrock(dtype=F64, seed=0) -> Problem:
    """Rosenbrock ``(1 - x)^2 + 100 (y - x^2)^2`` from ``(-1.2, 1)``; minimiser ``(1, 1)``."""
    xy = torch.tensor([-1.2, 1.0], dtype=dtype, requires_grad=True)

    def f():
        return (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2

    c, l = _closure([xy], f)
    return Problem([xy], c, l, [torch.ones(2, dtype=dtype)], 0.0)


def mlp(dtype=F64, seed=0, width=8, batch=32) -> Problem:
    """A small tanh MLP (2 -> width -> 1) regressing ``sin(x1 + x2)``; MSE loss."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(batch, 2, generator=g, dtype=F64).to(dtype)
    Y = torch.sin(X.sum(1, keepdim=True))
    W1 = (torch.randn(width, 2, generator=g, dtype=F64) / 2).to(dtype).requires_grad_()
    b1 = torch.zeros(width, dtype=dtype, requires_grad=True)
    W2 = (torch.randn(1, width, generator=g, dtype=F64) / width ** 0.5).to(dtype).requires_grad_()
    b2 = torch.zeros((), dtype=dtype, requires_grad=True)

    def f():
        return ((torch.tanh(X @ W1.T + b1) @ W2.T + b2 - Y) ** 2).mean()

    c, l = _closure([W1, b1, W2, b2], f)
    return Problem([W1, b1, W2, b2], c, l, None, 0.0)


PROBLEMS: dict[str, Callable[..., Problem]] = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    "mlp": mlp,
}


@dataclass
class Case:
    """One row of the table: a scheme, its kwargs, and the problem kind it runs on."""

    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)
    problem: str = "mlp"

    @property
    def id(self) -> str:
        kw = ",".join(f"{k}={v}" for k, v in self.kwargs.items())
        return f"{self.cls.__name__}({kw})-{self.problem}"

    def make(self, dtype=F64, seed=0, **kw):
        prob = PROBLEMS[self.problem](dtype=dtype, seed=seed)
        return prob, self.cls(prob.params, **{**self.kwargs, **kw})


# The table: every scheme of this family, plain and adaptive, on an MLP.
CASES: list[Case] = [
    Case(SAV, dict(lr=0.5, C=1.0, lam=0.5)),
    Case(ResSAV, dict(lr=0.5, C=1.0, lam=0.0)),
    Case(RelSAV, dict(lr=0.5, C=1.0, lam=0.5, eta=0.99)),
    Case(SAV, dict(lr=0.05, C=1.0, lam=0.5, adaptive=True)),
    Case(ResSAV, dict(lr=0.05, C=1.0, adaptive=True)),
    Case(RelSAV, dict(lr=0.05, C=1.0, lam=1.0, adaptive=True)),
    Case(ExpSAV, dict(lr=0.5, C=1.0, lam=0.5)),
    Case(ExpSAV, dict(lr=0.5, C=1.0, update="thm2.3")),
    Case(RelExpSAV, dict(lr=0.5, C=1.0, lam=0.5)),
    Case(RelExpSAV, dict(lr=0.5, C=2.0, update="thm2.3")),
]


def ids(cases):
    return [c.id for c in cases]


# ------------------------------------------------------------------ reusable checks
def run(prob: Problem, opt, steps: int) -> list[float]:
    return [float(opt.step(prob.closure)) for _ in range(steps)]


def check_state_dict_continuation(case: Case, warmup: int = 5, more: int = 10) -> None:
    """torch test_optim style: after ``warmup`` steps, a fresh optimizer on a deep copy of
    the parameters, loaded from a deep copy of ``state_dict()``, continues bit-identically
    for ``more`` steps; scalar state stays float64."""
    prob, opt = case.make()
    run(prob, opt, warmup)
    prob2 = PROBLEMS[case.problem](dtype=F64, seed=0)
    with torch.no_grad():
        for p2, p in zip(prob2.params, prob.params):
            p2.copy_(p)
    opt2 = case.cls(prob2.params, **case.kwargs)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    for _ in range(more):
        l1 = opt.step(prob.closure)
        l2 = opt2.step(prob2.closure)
        assert torch.equal(l1, l2)
        for p, p2 in zip(prob.params, prob2.params):
            assert torch.equal(p, p2), "parameters diverged after load_state_dict"
    for k, v in opt.scalars.items():
        v2 = opt2.scalars[k]
        if isinstance(v, torch.Tensor):
            assert v.dtype == F64 and v2.dtype == F64 and torch.equal(v, v2), k
        else:
            assert v == v2, k


def check_untouched_on_error(case: Case, closure_factory, exc=ValueError, match=None) -> None:
    """A bad closure raises ``exc`` and leaves parameters and optimizer state unchanged."""
    import pytest

    prob, opt = case.make()
    run(prob, opt, 2)
    before = [p.detach().clone() for p in prob.params]
    state = copy.deepcopy(opt.state_dict())
    with pytest.raises(exc, match=match):
        opt.step(closure_factory(prob))
    for p, b in zip(prob.params, before):
        assert torch.equal(p, b)
    after = opt.state_dict()
    assert _equal_nested(after, state)


def _equal_nested(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal_nested(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal_nested(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and isinstance(b, float) and a != a and b != b)


# --------------------------------------------------- issue 16: one table of every scheme
def residual_mlp_data(dtype=F64, seed=0, width=8, batch=32):
    """Inputs ``X``, targets ``Y = sin(x1 + x2)`` and the parameters ``[W1, b1, W2, b2]`` of
    the one-hidden-layer tanh MLP the residual problems share (float64 draws, cast)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(batch, 2, generator=g, dtype=F64).to(dtype)
    Y = torch.sin(X.sum(1))
    W1 = (torch.randn(width, 2, generator=g, dtype=F64) / 2).to(dtype).requires_grad_()
    b1 = torch.zeros(width, dtype=dtype, requires_grad=True)
    W2 = (torch.randn(width, generator=g, dtype=F64) / width ** 0.5).to(dtype).requires_grad_()
    b2 = torch.zeros((), dtype=dtype, requires_grad=True)
    return X, Y, [W1, b1, W2, b2]


def residual_mlp(dtype=F64, seed=0, width=8, batch=32) -> Problem:
    """The MLP of :func:`mlp` as an IEQ residual problem: the closure returns
    ``q = sqrt(2/b)(f - y)`` with its graph (``1/2|q|^2`` is the MSE loss), no backward."""
    from savlib.schemes.ieq import mse_residual

    X, Y, (W1, b1, W2, b2) = residual_mlp_data(dtype, seed, width, batch)

    def closure():
        return mse_residual(torch.tanh(X @ W1.T + b1) @ W2 + b2, Y)

    def loss():
        with torch.no_grad():
            return 0.5 * closure().square().sum()
    return Problem([W1, b1, W2, b2], closure, loss, None, 0.0)


PROBLEMS.setdefault("residual_mlp", residual_mlp)


@dataclass
class Row:
    """A scheme of the table: its class and kwargs, the closure it takes (``"loss"``: the
    torch.optim protocol; ``"residual"``: IEQ's residual vector), whether it calls the
    closure a second time (``relaxed``) and whether it keeps per-parameter moments
    (``adaptive``)."""

    cls: type
    kwargs: dict[str, Any]
    closure: str = "loss"
    relaxed: bool = False
    adaptive: bool = False
    #: the modified energy ``diagnostics["energy"]`` never increases from step to step
    energy_law: bool = False

    @property
    def id(self) -> str:
        return Case(self.cls, self.kwargs).id.rsplit("-", 1)[0]

    def make(self, dtype=F64, **kw):
        prob = PROBLEMS["mlp" if self.closure == "loss" else "residual_mlp"](dtype=dtype, seed=0)
        return prob, self.cls(prob.params, **{**self.kwargs, **kw})

    def bad_closure(self, prob, value=float("nan")):
        """A closure of this row's kind whose loss (residual) is ``value``."""
        def closure():
            out = prob.closure()
            return out * value if self.closure == "residual" else out + value
        return closure


def _schemes():
    from savlib.schemes import IEQ, ISGD, IEQAdaptive
    return [
        Row(SAV, dict(lr=0.5, C=1.0, lam=0.5), energy_law=True),
        Row(ResSAV, dict(lr=0.5, C=1.0)),
        Row(RelSAV, dict(lr=0.5, C=1.0, lam=0.5), relaxed=True, energy_law=True),
        Row(SAV, dict(lr=0.05, C=1.0, adaptive=True), adaptive=True, energy_law=True),
        Row(ResSAV, dict(lr=0.05, C=1.0, adaptive=True), adaptive=True),
        Row(RelSAV, dict(lr=0.05, C=1.0, lam=1.0, adaptive=True), relaxed=True, adaptive=True,
            energy_law=True),
        Row(ExpSAV, dict(lr=0.5, C=1.0, lam=0.5), energy_law=True),
        Row(ExpSAV, dict(lr=0.5, C=1.0, update="thm2.3"), energy_law=True),
        Row(RelExpSAV, dict(lr=0.5, C=1.0, lam=0.5), relaxed=True, energy_law=True),
        Row(IEQ, dict(lr=0.5), closure="residual"),
        Row(IEQ, dict(lr=0.5, evolve_q=True), closure="residual", energy_law=True),
        Row(IEQAdaptive, dict(lr=0.5), closure="residual"),
        Row(ISGD, dict(lr=0.5)),
        Row(ISGD, dict(lr=0.5, inner="adam", inner_steps=3, inner_lr=1e-2, inner_state="carry"),
            adaptive=True),
        Row(ISGD, dict(lr=0.5, inner="lbfgs", inner_steps=5)),
    ]


#: every scheme of savlib, for the contract tests of issue 16 (test_contract.py)
SCHEMES: list[Row] = _schemes()


def snapshot(prob: Problem, opt) -> tuple:
    """Parameters, state_dict and diagnostics, deep-copied, to compare bitwise."""
    return ([p.detach().clone() for p in prob.params], copy.deepcopy(opt.state_dict()),
            {k: v.clone() for k, v in opt.diagnostics.items()})


def assert_unchanged(prob: Problem, opt, snap: tuple) -> None:
    params, sd, diag = snap
    for p, b in zip(prob.params, params):
        assert torch.equal(p.detach(), b), "parameters changed"
    assert _equal_nested(opt.state_dict(), sd), "optimizer state changed"
    now = opt.diagnostics
    same = lambda a, b: bool((a == b) | (torch.isnan(a) & torch.isnan(b)))  # noqa: E731
    assert now.keys() == diag.keys() and all(same(now[k], diag[k]) for k in diag), "diagnostics changed"
