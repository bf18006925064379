"""The template step every savlib scheme runs (book part "Schemes").

Every scheme in :mod:`savlib.schemes` is a :class:`torch.optim.Optimizer` derived from
:class:`EnergyOptimizer`, whose :meth:`~EnergyOptimizer.step` is the one template:

1. check the closure and every param group's hyper-parameters (schedulers change ``lr``
   between steps: ``lr = 0`` is a step that moves nothing, a negative or NaN ``lr`` a
   :class:`~savlib.errors.HyperParameterError`);
2. ``_direction(closure)`` (the scheme): evaluate the closure, form the update direction
   ``u_i`` of every parameter tensor and the rank-local scalars the scalar update needs;
3. ``_reduce``: those scalars in **one** float64 vector and at most one ``all_reduce``;
4. ``_validate`` (the scheme): raise a typed error (non-finite loss, ``I + C <= 0`` ...);
5. ``_update`` (the scheme): the scalar recursion, plain arithmetic that runs on host
   floats (CPU: the reduction is read once) and on 0-d device tensors alike (no sync);
   :func:`sqrt`, :func:`exp`, :func:`log1p` ... are the shim that lets it;
6. apply ``p_i += scale * c_i * u_i``;
7. for relaxed schemes, ``_relax``: the loss at the new point (closure again under
   ``torch.no_grad()``) and the relaxed scalar;
8. commit the scalar state, the per-parameter state formed out of place (Adam moments)
   and the diagnostics, together.

Contract: a step completes or raises with parameters, optimizer state and diagnostics
bitwise unchanged -- anything that fails after step 6 undoes the update (the relaxed
schemes keep a copy of the parameters for that). The closure protocol is
``torch.optim.LBFGS``'s (:func:`make_closure`). Scalar state is float64 whatever the
parameter dtype -- Python floats when the parameters are on the CPU, 0-d float64 tensors on
their device otherwise, the step count an int (as torch's LBFGS counts) -- kept in
``self.state["scheme"]`` (a string key: ``state_dict`` round-trips it without casting it to
the parameter dtype). ``state_dict()`` also records the scheme's
name and its scheme-wide hyper-parameters (``C``, ``eta`` ...); ``load_state_dict``
restores them and refuses another scheme's state (:class:`~savlib.errors.StateDictError`).

Several processes (book chapter "Training at scale"): with ``process_group=`` the loss is
averaged over the ranks and, when ``sharded=True`` (each rank owns a slice of the
parameters), the partial sums are summed, in the one ``all_reduce`` of step 3, before any
branch, so every rank takes the same branches and raises the same errors.
"""
from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor

from ..distributed import all_reduce_f64, resolve_group
from ..distributed import world_size as _world_size
from ..errors import ClosureError, HyperParameterError, StateDictError

__all__ = ["make_closure", "evaluate_loss", "evaluate_loss_no_grad", "check_real", "check_positive",
           "check_nonnegative", "check_unit_interval", "check_betas", "sq_norms", "add_scaled_",
           "sqrt", "exp", "log", "log1p", "expm1", "minimum", "where", "isfinite", "clamp01",
           "Direction", "EnergyOptimizer", "F64"]

F64 = torch.float64

CLOSURE_HELP = (
    "pass a closure that zeroes the gradients, computes the loss, calls loss.backward() "
    "when torch.is_grad_enabled(), and returns the loss, e.g. "
    "opt.step(savlib.schemes.make_closure(model, loss_fn, inputs, targets))")


# --------------------------------------------------------------------------- closures
def make_closure(model: torch.nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor],
                 inputs: Any, targets: Any, *, optimizer: torch.optim.Optimizer | None = None
                 ) -> Callable[[], Tensor]:
    """A closure in the torch.optim (LBFGS) protocol for ``loss_fn(model(inputs), targets)``.

    It zeroes the gradients (of ``optimizer`` if given, else of ``model``), evaluates the
    loss, calls ``backward`` only when ``torch.is_grad_enabled()`` (so a relaxed scheme can
    re-evaluate it cheaply under ``torch.no_grad()``), and returns the loss.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"make_closure: model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"make_closure: loss_fn must be callable, got {type(loss_fn).__name__}")

    def closure() -> Tensor:
        (optimizer or model).zero_grad()
        loss = loss_fn(model(inputs), targets)
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    return closure


def check_closure(closure: Any, who: str) -> None:
    """:class:`~savlib.errors.ClosureError` unless ``closure`` is callable."""
    if closure is None:
        raise ClosureError(f"{who}.step() needs a closure: {CLOSURE_HELP}")
    if not callable(closure):
        raise ClosureError(f"{who}.step(closure): closure must be callable, got "
                           f"{type(closure).__name__}; {CLOSURE_HELP}")


def _check_loss(loss: Any, who: str) -> Tensor:
    if not isinstance(loss, Tensor) or loss.numel() != 1 or loss.is_complex():
        got = (type(loss).__name__ if not isinstance(loss, Tensor) else
               f"a {'complex ' if loss.is_complex() else ''}tensor of shape {tuple(loss.shape)}")
        raise ClosureError(f"{who}: the closure returned {got}, expected a scalar loss (a real 0-d "
                           f"torch.Tensor); {CLOSURE_HELP}")
    loss = loss.detach()
    return loss if loss.dim() == 0 else loss.reshape(())


def evaluate_loss(closure: Callable[[], Any] | None, who: str) -> Tensor:
    """Call ``closure`` with gradients enabled; return the detached 0-d loss
    (:class:`~savlib.errors.ClosureError` when the closure is missing or returns no scalar)."""
    check_closure(closure, who)
    with torch.enable_grad():
        loss = closure()
    return _check_loss(loss, who)


def evaluate_loss_no_grad(closure: Callable[[], Any], who: str) -> Tensor:
    """Call ``closure`` again under ``torch.no_grad()`` (no graph, no backward): the loss at
    the new parameters of a relaxed step (Ma, Mao & Shen 2024, eq. (21))."""
    with torch.no_grad():
        loss = closure()
    return _check_loss(loss, who)


# ------------------------------------------------------------------------- validation
def check_real(name: str, value: Any) -> float:
    """``value`` as a finite Python float, or a :class:`~savlib.errors.HyperParameterError`
    naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Tensor)):
        raise HyperParameterError(f"{name} must be a real number, got {type(value).__name__}")
    if isinstance(value, Tensor):
        if value.numel() != 1 or value.is_complex():
            raise HyperParameterError(f"{name} must be a real number, got a tensor of shape "
                                      f"{tuple(value.shape)}")
        value = value.item()
    value = float(value)
    if not math.isfinite(value):
        raise HyperParameterError(f"{name} must be finite, got {value}")
    return value


def check_positive(name: str, value: Any) -> float:
    """A finite real ``> 0``."""
    v = check_real(name, value)
    if not v > 0:
        raise HyperParameterError(f"{name} must be > 0, got {v}")
    return v


def check_nonnegative(name: str, value: Any) -> float:
    """A finite real ``>= 0``."""
    v = check_real(name, value)
    if not v >= 0:
        raise HyperParameterError(f"{name} must be >= 0, got {v}")
    return v


def check_unit_interval(name: str, value: Any) -> float:
    """A real in the closed interval ``[0, 1]``."""
    v = check_real(name, value)
    if not 0.0 <= v <= 1.0:
        raise HyperParameterError(f"{name} must lie in [0, 1], got {v}")
    return v


def check_betas(betas: Any) -> tuple[float, float]:
    """Adam's ``(beta1, beta2)``, each in ``[0, 1)``."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise HyperParameterError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    b1, b2 = (check_real(f"betas[{i}]", b) for i, b in enumerate(betas))
    for i, b in enumerate((b1, b2)):
        if not 0.0 <= b < 1.0:
            raise HyperParameterError(f"betas[{i}] must lie in [0, 1), got {b}")
    return b1, b2


def check_flag(name: str, value: Any) -> bool:
    """A bool (not merely truthy)."""
    if not isinstance(value, bool):
        raise HyperParameterError(f"{name} must be a bool, got {value!r}")
    return value


# --------------------------------------------------------------------- foreach kernels
def sq_norms(tensors: Sequence[Tensor], device: torch.device, foreach: bool = True) -> Tensor:
    """Squared Euclidean norms ``|t_i|^2`` of ``tensors`` as one float64 vector on ``device``:
    the norms in the tensors' own dtype (as ``clip_grad_norm_``), squared in float64."""
    if not tensors:
        return torch.zeros(0, dtype=F64, device=device)
    norms = (torch._foreach_norm(list(tensors)) if foreach
             else [torch.linalg.vector_norm(t) for t in tensors])
    try:
        stacked = torch.stack(norms)          # one op when all norms share device and dtype
    except RuntimeError:
        stacked = torch.stack([n.to(device=device, dtype=F64) for n in norms])
    return stacked.to(device=device, dtype=F64) ** 2


def add_scaled_(params: Sequence[Tensor], updates: Sequence[Tensor], coefs: Tensor,
                foreach: bool = True) -> None:
    """In place ``params[i] += coefs[i] * updates[i]`` for a float64 vector ``coefs`` that may
    live on a device: no host sync and no scaled copy of ``updates``."""
    if not params:
        return
    cs = [c.to(device=p.device, dtype=p.dtype) for c, p in zip(coefs.unbind(), params)]
    if foreach:
        torch._foreach_addcmul_(list(params), list(updates), cs)
    else:
        for p, u, c in zip(params, updates, cs):
            p.addcmul_(u, c)


# ------------------------------------------------- scalar arithmetic on floats and tensors
# A scheme's scalar update is written once. On the CPU its inputs are Python floats read
# from the one reduction; on an accelerator they are 0-d float64 tensors that never leave
# the device. +, -, * and comparisons work on both (Python floats follow IEEE there: inf * 0
# is nan, overflow gives inf); these few functions dispatch the rest, and give the float
# versions the tensors' IEEE results (sqrt(-1) is nan, exp(1000) is inf) instead of
# Python's exceptions. Scalar code avoids ``x ** 2`` (it raises OverflowError on floats)
# and divides only by quantities its checks keep away from zero.
_INF, _NAN = math.inf, math.nan


def sqrt(x):
    if isinstance(x, Tensor):
        return x.sqrt()
    return math.sqrt(x) if x >= 0.0 else _NAN


def _inf_on_overflow(f, x: float) -> float:
    try:
        return f(x)
    except OverflowError:
        return _INF


def exp(x):
    return x.exp() if isinstance(x, Tensor) else _inf_on_overflow(math.exp, x)


def log(x):
    if isinstance(x, Tensor):
        return x.log()
    return math.log(x) if x > 0.0 else (-_INF if x == 0.0 else _NAN)


def log1p(x):
    if isinstance(x, Tensor):
        return x.log1p()
    return math.log1p(x) if x > -1.0 else (-_INF if x == -1.0 else _NAN)


def expm1(x):
    return x.expm1() if isinstance(x, Tensor) else _inf_on_overflow(math.expm1, x)


def isfinite(x):
    return x.isfinite() if isinstance(x, Tensor) else math.isfinite(x)


def minimum(a, b):
    """nan-propagating minimum of two scalars (both tensors, or both host floats)."""
    if isinstance(a, Tensor):
        return torch.minimum(a, b)
    return a if (a <= b or a != a) else b


def where(cond, a, b):
    """``a if cond else b`` without a host sync on tensors (both branches are evaluated)."""
    return torch.where(cond, a, b) if isinstance(cond, Tensor) else (a if cond else b)


def clamp01(x):
    """``x`` clamped to ``[0, 1]`` (nan stays nan)."""
    if isinstance(x, Tensor):
        return x.clamp(0.0, 1.0)
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)


# ------------------------------------------------------------------------- template
@dataclass
class Direction:
    """What a scheme's ``_direction`` hands to the template.

    ``params[i] += scale * coefs[i] * updates[i]`` is the update (``scale`` comes from the
    scalar update; ``coefs`` a float64 vector, ``uniform`` its common value when there is
    one: the CPU update is then one ``_foreach_add_`` with a Python coefficient, as torch's
    SGD). ``means`` are rank-local scalars averaged over the ranks (the loss), ``sums``
    partial sums summed over them when the parameters are sharded. ``forms`` are more such
    sums, given as weights over the per-tensor scalars ``[*norms**2, *dots]`` (``norms``
    squared in float64 by the reduction): ``S = sum_i c_i |N_i|^2`` is ``norms = |N_i|``,
    ``forms = {"S": c}``, read with the rest in the one reduction. ``commit`` stores state
    formed out of place (called only when the step succeeds); ``undo`` restores what the
    direction itself changed (ISGD moves the parameters while solving).
    """

    params: list[Tensor]
    updates: list[Tensor]
    coefs: Tensor | None
    uniform: float | None = None
    means: dict[str, Tensor] = field(default_factory=dict)
    sums: dict[str, Tensor] = field(default_factory=dict)
    norms: Sequence[Tensor] = ()
    dots: Sequence[Tensor] = ()
    forms: dict[str, Sequence[float]] = field(default_factory=dict)
    commit: Callable[[], None] | None = None
    undo: Callable[[], None] | None = None
    loss: Tensor | None = None          # what step returns (rank-local; global with a group)
    extra: dict[str, Any] = field(default_factory=dict)


class EnergyOptimizer(torch.optim.Optimizer):
    """Base class of the energy-stable schemes: the template :meth:`step` (module docstring).

    A scheme supplies ``_direction(closure) -> Direction``, ``_validate(v, d)``,
    ``_update(v, d) -> (scale, state, diag)`` and, if ``_relaxed``, ``_relax``.
    Scheme-wide options (the energy's ``C``, ``eta`` ...) are listed in ``_scheme_wide``:
    they may not differ between param groups, since the energy is one number for the
    model; the step reads them from ``self.defaults``. ``_group_checks`` maps each
    per-group hyper-parameter to its check, run at construction, in ``add_param_group``
    (before the group is installed) and at every step (with ``lr >= 0`` allowed).

    * ``self.scalars``: the scheme-wide float64 state (saved by ``state_dict``).
    * ``self.diagnostics``: the last step's diagnostics, 0-d float64 tensors on the
      parameter device, formed on first read (a step nobody inspects pays nothing).
    * ``self.process_group`` / ``self.sharded``: see the module docstring. Not part of
      ``state_dict``; the scalar state is the same on every rank.
    """

    _scheme_wide: tuple[str, ...] = ()
    _group_checks: dict[str, Callable[[str, Any], Any]] = {}
    _relaxed: bool = False
    #: scalar-state keys this scheme writes (``load_state_dict`` refuses others)
    _state_keys: tuple[str, ...] = ("step",)
    #: run the scalar update on host floats when the parameters are on the CPU; ``False``
    #: keeps it on 0-d tensors, which is how the tests run the accelerator path on a CPU
    _host_scalars: bool = True

    def __init__(self, params: Iterable, defaults: dict[str, Any], foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        if foreach is not None and not isinstance(foreach, bool):
            raise HyperParameterError(f"foreach must be True, False or None, got {foreach!r}")
        check_flag("sharded", sharded)
        self.foreach = True if foreach is None else foreach
        self.process_group = resolve_group(process_group, type(self).__name__)
        self.sharded = sharded
        self._world = _world_size(self.process_group) if self.process_group is not None else 1
        self._diag: dict[str, Any] = {}
        self._diag_cache: dict[str, Tensor] | None = {}
        self._ws: dict[str, dict[Tensor, Tensor]] = {}
        super().__init__(params, defaults)

    # the template ----------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Tensor:  # type: ignore[override]
        """One step of the scheme (template in the module docstring); ``closure`` as in
        :func:`make_closure`. Returns the loss at the parameters before the step."""
        who = type(self).__name__
        check_closure(closure, who)
        for i, group in enumerate(self.param_groups):
            self._check_group(group, f"param group {i}: ", at_step=True)
        d = self._direction(closure)
        try:
            v = self._reduce(d.means, d.sums, d.norms, d.dots, d.forms)
            self._validate(v, d)
            scale, state, diag = self._update(v, d)
            self._apply(d, scale)
            if self._relaxed:
                self._relax_or_undo(closure, d, v, state, diag)
        except BaseException:
            if d.undo is not None:
                d.undo()
            raise
        if d.commit is not None:
            d.commit()
        self._commit(state, diag)
        if self.process_group is not None and "loss" in v:
            return self._global_loss(v, d)    # the mean over the ranks
        return d.loss

    def _relax_or_undo(self, closure, d: Direction, v, state: dict, diag: dict) -> None:
        """The relaxation after the update; a failure (the closure raising, a bad loss) puts
        the parameters back from the copy taken before the update."""
        backup = d.extra["backup"]

        def undo() -> None:
            torch._foreach_copy_(d.params, backup)
        d.undo = undo
        loss_new = evaluate_loss_no_grad(closure, type(self).__name__)
        (loss_new,) = self._reduce({"loss_new": loss_new}, {}).values()  # 2nd collective
        self._relax(loss_new, v, state, diag)

    def _apply(self, d: Direction, scale) -> None:
        """``p_i += scale * c_i * u_i`` (one ``_foreach_add_`` when the coefficient is one
        host float, else a vector of per-tensor coefficients, no host sync)."""
        if self._relaxed:
            d.extra["backup"] = backup = [self._workspace(p, "backup") for p in d.params]
            if self.foreach:
                torch._foreach_copy_(backup, d.params)
            else:
                for b, p in zip(backup, d.params):
                    b.copy_(p)
        if d.uniform is not None and not isinstance(scale, Tensor):
            alpha = float(scale * d.uniform)
            if self.foreach:
                torch._foreach_add_(d.params, d.updates, alpha=alpha)
            else:
                for p, u in zip(d.params, d.updates):
                    p.add_(u, alpha=alpha)
        elif d.params:
            coefs = d.coefs if d.coefs is not None else torch.full(
                (len(d.params),), d.uniform, dtype=F64, device=self._device)
            add_scaled_(d.params, d.updates, coefs * scale, self.foreach)

    def _commit(self, state: dict[str, Any], diag: dict[str, Any]) -> None:
        """The scalar state (Python floats on the CPU, 0-d float64 tensors on the parameter
        device elsewhere: the arithmetic the scalar update ran in), the step count (an int,
        as torch's LBFGS counts) and the diagnostics (kept raw: floats, 0-d tensors or
        zero-argument callables)."""
        sc = self.scalars
        host = self._on_host
        for k, x in state.items():
            if isinstance(x, Tensor) and (x.dim() > 0 or not host):
                sc[k] = x
            elif host:
                sc[k] = float(x)
            else:
                sc[k] = torch.tensor(x, dtype=F64, device=self._device)
        sc["step"] = self._step_number()
        self._set_diag(diag)

    def _set_diag(self, diag: dict[str, Any]) -> None:
        self._diag = diag
        self._diag_cache = None

    def _global_loss(self, v, d: Direction) -> Tensor:
        loss = v["loss"]
        if isinstance(loss, Tensor):
            return loss.to(dtype=d.loss.dtype, device=d.loss.device)
        return torch.tensor(float(loss), dtype=d.loss.dtype, device=d.loss.device)

    # the hooks a scheme supplies ---------------------------------------------------------
    def _direction(self, closure) -> Direction:
        raise NotImplementedError

    def _validate(self, v: dict[str, Any], d: Direction) -> None:
        """Raise a typed error (before anything moves); default: nothing to check."""

    def _update(self, v: dict[str, Any], d: Direction) -> tuple[Any, dict, dict]:
        raise NotImplementedError

    def _relax(self, loss_new, v: dict[str, Any], state: dict, diag: dict) -> None:
        raise NotImplementedError

    # the one reduction -------------------------------------------------------------------
    def _reduce(self, means: dict[str, Tensor], sums: dict[str, Tensor], norms: Sequence[Tensor] = (),
                dots: Sequence[Tensor] = (), forms: dict[str, Sequence[float]] | None = None
                ) -> dict[str, Any]:
        """Global values of rank-local scalars in **one** float64 vector and at most one
        ``all_reduce``: ``means`` averaged over the ranks (DDP's mean loss), ``sums`` and the
        ``forms`` (weighted sums over ``[*norms**2, *dots]``, see :class:`Direction`) summed
        when ``sharded`` (partial sums over each rank's slice), else left alone (replicated).
        The scalars are stacked and read once: on CPU (``_host_scalars``) to the host, the
        values coming back as Python floats; elsewhere as 0-d tensors (no sync)."""
        forms = forms or {}
        k = len(means) + len(sums)
        scal = [*means.values(), *sums.values(), *norms, *dots]
        if not scal:
            return {}
        x = self._stack(scal)
        host = self._host_scalars and x.device.type == "cpu"
        if host:        # Python floats: + and * follow IEEE (inf * 0 is nan), no exception
            x = x.tolist()
            head, tail = x[:k], x[k:]
            tail[:len(norms)] = [t * t for t in tail[:len(norms)]]
            vals = head + [sum(map(operator.mul, ws, tail)) for ws in forms.values()]
        else:
            x = x.to(dtype=F64)
            head, tail = x[:k], x[k:]
            if forms:
                tail = torch.cat([tail[:len(norms)] ** 2, tail[len(norms):]])
                tail = self._form_matrix(forms) @ tail
            vals = [*head, *tail]
        if self.process_group is not None:
            vals = self._all_reduce(vals, len(means), host)
        return dict(zip([*means, *sums, *forms], vals))

    def _stack(self, scalars: Sequence[Tensor]) -> Tensor:
        """0-d tensors as one vector (their promoted dtype) on the parameter device."""
        try:
            return torch.stack(scalars)     # one op when all share a device
        except RuntimeError:
            dev = self._device
            return torch.stack([t.reshape(()).to(device=dev, dtype=F64) for t in scalars])

    def _form_matrix(self, forms: dict[str, Sequence[float]]) -> Tensor:
        """The weights of the ``forms`` as one float64 matrix on the parameter device,
        cached while they do not change."""
        key = tuple(map(tuple, forms.values()))
        hit = self.__dict__.get("_forms_cache")
        if hit is None or hit[0] != key:
            hit = self._forms_cache = (key, torch.tensor(key, dtype=F64, device=self._device))
        return hit[1]

    def _all_reduce(self, vals: list, k: int, host: bool) -> list:
        """The one ``all_reduce`` of :meth:`_reduce`: the first ``k`` values averaged over the
        ranks, the others summed when ``sharded`` (else left alone)."""
        vec = torch.stack([torch.as_tensor(x, dtype=F64).to(self._device) for x in vals])
        part = vec if self.sharded else vec[:k]
        if part.numel():
            part = all_reduce_f64(part.clone(), self.process_group)
            vec = torch.cat([part[:k] / self._world, part[k:] if self.sharded else vec[k:]])
        return vec.tolist() if host else list(vec.unbind())

    def _reduce_tensors(self, means: list[Tensor], sums: list[Tensor]) -> list[Tensor]:
        """:meth:`_reduce` kept as 0-d float64 tensors (for ISGD's inner solver, which needs them)."""
        vals = list(self._stack([*means, *sums]).to(dtype=F64).unbind())
        if self.process_group is not None:
            vals = self._all_reduce(vals, len(means), host=False)
        return vals

    # hyper-parameters ----------------------------------------------------------------
    def _check_group(self, group: dict[str, Any], where_: str = "", at_step: bool = False) -> None:
        """Check (and normalise to floats) one group's hyper-parameters; at a step ``lr = 0``
        is allowed (a step that moves nothing, as torch's SGD). At a step, values unchanged
        since they were last checked are not checked again."""
        seen = self.__dict__.setdefault("_checked", {})
        values = tuple(map(group.__getitem__, self._group_checks))
        if at_step and seen.get(id(group)) == values:
            return
        for key, check in self._group_checks.items():
            if key == "lr" and at_step:
                check = check_nonnegative
            try:
                group[key] = check(key, group[key])
            except HyperParameterError as e:
                raise HyperParameterError(f"{type(self).__name__}: {where_}{e}") from None
        if at_step:
            seen[id(group)] = tuple(map(group.__getitem__, self._group_checks))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's ``add_param_group``, validated before the group is installed."""
        group = dict(param_group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        for key in self._scheme_wide:
            if group[key] != self.defaults[key]:
                raise HyperParameterError(
                    f"{type(self).__name__}: {key!r} is a property of the energy shared by all "
                    f"param groups; got {group[key]!r} for one group and "
                    f"{self.defaults[key]!r} as the default")
        self._check_group(group, f"param group {len(self.param_groups)}: ")
        for p in params:
            if isinstance(p, Tensor) and p.is_complex():
                raise HyperParameterError(f"{type(self).__name__}: complex parameters are not "
                                          "supported (the energy uses the real inner product)")
        super().add_param_group(group)

    # state -------------------------------------------------------------------------
    @property
    def scalars(self) -> dict[str, Any]:
        return self.state["scheme"]  # defaultdict(dict): created empty on first use

    @property
    def _device(self) -> torch.device:
        return self.param_groups[0]["params"][0].device

    def state_dict(self) -> dict[str, Any]:
        """torch's state dict plus ``"savlib"``: the scheme's name and its scheme-wide
        hyper-parameters, which :meth:`load_state_dict` restores."""
        sd = super().state_dict()
        sd["savlib"] = {"scheme": type(self).__name__,
                        "hyper": {k: self.defaults[k] for k in self._scheme_wide}}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict of the same scheme (refusing another's with a
        :class:`~savlib.errors.StateDictError`), restoring the scheme-wide hyper-parameters
        and keeping the scalar state float64 on the parameters' device (copied)."""
        who = type(self).__name__
        sd = dict(state_dict)
        meta = sd.pop("savlib", None)
        scal = sd.get("state", {}).get("scheme", {})
        if meta is not None and meta.get("scheme") != who:
            raise StateDictError(f"{who}.load_state_dict: this state dict was saved by "
                                 f"{meta.get('scheme')}, not {who}")
        unknown = set(scal) - set(self._state_keys)
        if unknown:
            raise StateDictError(f"{who}.load_state_dict: scalar state {sorted(unknown)} is not "
                                 f"{who}'s (expected a subset of {list(self._state_keys)}): a state "
                                 "dict of another scheme?")
        groups = sd.get("param_groups", [])
        hyper = dict(meta["hyper"]) if meta is not None else (
            {k: groups[0][k] for k in self._scheme_wide if groups and k in groups[0]})
        missing = [k for k in self._group_checks if any(k not in g for g in groups)]
        if missing:
            raise StateDictError(f"{who}.load_state_dict: the param groups lack {missing}: a "
                                 "state dict of another scheme?")
        super().load_state_dict(sd)
        self.defaults.update(hyper)
        for g in self.param_groups:
            g.update(hyper)
        self.state["scheme"] = {k: self._as_scalar_state(k, x)
                                for k, x in self.state.get("scheme", {}).items()}

    def _as_scalar_state(self, key: str, x: Any) -> Any:
        """A loaded scalar state value in the kind :meth:`_commit` writes (copied)."""
        if key == "step":
            return int(x)
        if isinstance(x, Tensor) and x.dim() > 0:
            return x.detach().clone().to(device=self._device, dtype=F64)
        if self._on_host:
            return float(x)
        return torch.tensor(float(x), dtype=F64, device=self._device)

    # diagnostics -------------------------------------------------------------------
    @property
    def diagnostics(self) -> dict[str, Tensor]:
        """Diagnostics of the last step as 0-d float64 tensors on the parameter device,
        formed on first read (host floats in one ``torch.tensor`` call; callables -- the
        costlier IEQ energies -- evaluated then)."""
        if self._diag_cache is None:
            raw = {k: (x() if callable(x) else x) for k, x in self._diag.items()}
            dev = self._device
            host = [k for k, x in raw.items() if not isinstance(x, Tensor)]
            out = {k: x.to(dtype=F64) for k, x in raw.items() if isinstance(x, Tensor)}
            if host:
                vals = torch.tensor([float(raw[k]) for k in host], dtype=F64, device=dev)
                out.update(zip(host, vals.unbind()))
            self._diag_cache = {k: out[k] for k in raw}
        return self._diag_cache

    # parameters with gradients -----------------------------------------------------
    def _with_grads(self) -> list[tuple[dict[str, Any], list[Tensor], list[Tensor]]]:
        """``(group, params, grads)`` per group, keeping only parameters whose ``.grad`` is
        set (the others are left untouched, as torch.optim does)."""
        out = []
        for group in self.param_groups:
            ps = [p for p in group["params"] if p.grad is not None]
            gs = [p.grad for p in ps]
            if any(map(operator.attrgetter("is_sparse"), gs)):
                raise ClosureError(f"{type(self).__name__} does not support sparse gradients")
            out.append((group, ps, gs))
        if not any(ps for _, ps, _ in out):
            raise ClosureError(f"{type(self).__name__}.step: no parameter has a gradient after "
                               f"the closure ran; {CLOSURE_HELP}")
        return out

    def _step_number(self) -> int:
        """The number of the step being taken (1 for the first)."""
        return self.state.get("scheme", {}).get("step", 0) + 1

    @property
    def _on_host(self) -> bool:
        """Whether the scalar update runs on Python floats (parameters on the CPU)."""
        return self._host_scalars and self._device.type == "cpu"

    def _stored(self, key: str, default):
        """Scalar state ``key`` in the arithmetic of ``default`` (a host float or a 0-d
        tensor), or ``default`` when the scheme has no such state yet (its first step)."""
        x = self.state.get("scheme", {}).get(key)
        if x is None:
            return default
        if isinstance(default, Tensor):
            return x if isinstance(x, Tensor) else torch.tensor(x, dtype=F64, device=default.device)
        return float(x)

    def _resolvent_direction(self, groups) -> Direction:
        """The direction ``-(I + dt L)^{-1} N`` of the non-adaptive SAV-type schemes with
        ``L = lam Id`` (Ma, Mao & Shen 2024, eqs. (17)-(20)): ``u_i = N_i`` with per-tensor
        coefficients ``c_i = dt_i / (1 + dt_i lam_i)``, and the one reduction: the gradient
        norms, read as ``S = sum c_i |N_i|^2 = dt (N, (I + dt L)^{-1} N)`` (eq. (20)) and
        ``D = sum (c_i^2 / dt_i) |N_i|^2``, ``|dtheta|^2 / dt`` of a unit step (``dt`` may
        differ between groups; the energy laws then hold in the dt-weighted norm)."""
        ps: list[Tensor] = []
        gs: list[Tensor] = []
        c: list[float] = []
        w: list[float] = []
        for group, gps, ggs in groups:
            lr, lam = group["lr"], group["lam"]
            ci = lr / (1.0 + lr * lam)
            ps += gps
            gs += ggs
            c += [ci] * len(gps)
            w += [ci ** 2 / lr if lr > 0 else 0.0] * len(gps)   # lr = 0: nothing moves
        uniform = c[0] if len(groups) == 1 or all(x == c[0] for x in c) else None
        cvec = None if uniform is not None else self._coef_vector("c", c)[0]
        norms = (torch._foreach_norm(gs) if self.foreach
                 else [torch.linalg.vector_norm(g) for g in gs])
        return Direction(ps, gs, cvec, uniform, norms=norms, forms={"S": c, "D": w})

    def _coef_vector(self, name: str, values: list[float]) -> tuple[Tensor, float | None]:
        """``values`` as a float64 vector on the parameter device (cached while they do not
        change) and their common value if they are all equal."""
        key = (tuple(values), self._device)
        cache = self.__dict__.setdefault("_coef_cache", {})
        hit = cache.get(name)
        if hit is None or hit[0] != key:
            uniform = values[0] if values and all(x == values[0] for x in values) else None
            hit = cache[name] = (key, torch.tensor(values, dtype=F64, device=self._device), uniform)
        return hit[1], hit[2]

    def _workspace(self, p: Tensor, tag: str = "") -> Tensor:
        """A scratch tensor shaped like ``p`` (one per ``tag``), kept between steps and not
        part of the state, so that a step does not allocate."""
        ws = self._ws.setdefault(tag, {})
        t = ws.get(p)
        if t is None or t.shape != p.shape or t.dtype != p.dtype or t.device != p.device:
            t = ws[p] = torch.empty_like(p, memory_format=torch.preserve_format)
        return t
