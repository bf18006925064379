"""Shared machinery of the savlib schemes (book part "Schemes").

Every scheme in :mod:`savlib.schemes` is a :class:`torch.optim.Optimizer`. This module
holds what they share, and nothing scheme-specific. Its public API is small:

Closures (the ``torch.optim.LBFGS`` protocol)
    ``loss = opt.step(closure)``. The closure zeroes the gradients, computes the loss,
    calls ``loss.backward()`` **only if** ``torch.is_grad_enabled()``, and returns the
    loss. Schemes that need the loss at the new point (relaxed SAV, relaxed ExpSAV) call
    the closure a second time under ``torch.no_grad()``.

    * :func:`make_closure` builds such a closure from ``(model, loss_fn, inputs, targets)``.
    * :func:`evaluate_loss` calls a closure with gradients on and checks what came back.
    * :func:`evaluate_loss_no_grad` calls it again without building a graph.

Hyper-parameter validation (each raises ``TypeError``/``ValueError`` naming the argument)
    :func:`check_real`, :func:`check_positive`, :func:`check_nonnegative`,
    :func:`check_unit_interval`, :func:`check_betas`.

Multi-tensor kernels (one reduction, one update pass; ``foreach=False`` gives the
per-tensor reference path with the same arithmetic)
    :func:`sq_norms` -- the squared norms of a list of tensors as one float64 vector.
    :func:`add_scaled_` -- ``p += c_i * u_i`` for a list of 0-d tensor coefficients,
    without allocating a scaled copy of ``u`` and without a host sync.

:class:`EnergyOptimizer`
    Base class: keeps *scheme-wide* float64 scalar state (``r``, ``log r``, the step
    count ...) in ``self.state["scheme"]`` (a string key, so that
    :meth:`~torch.optim.Optimizer.state_dict` round-trips it untouched: torch casts
    per-parameter floating state to the parameter dtype, which would destroy the
    float64 guarantee), and the diagnostics of the last step in ``self.diagnostics``
    as 0-d tensors on the parameter device (reading them does not sync unless you
    call ``.item()``; a CPU step keeps them as floats and builds the tensors on first
    read). It also lists the parameters that received a gradient.

On CPU (where the input validation reads the loss to the host anyway) the SAV-type steps
read their one reduction -- a squared norm per parameter tensor (a BLAS dot product), a
handful of numbers -- to the host, sum it and run the scalar recursion on Python floats
(``f64_*`` helpers below), and update with one ``_foreach_add_`` and a Python coefficient
when every param group has the same step (as torch's SGD does): the same float64 formulas
without ~25 launches of tiny 0-d tensor kernels per step. On accelerators everything stays
on the device (no sync; the squared norms come from one ``_foreach_norm`` launch). The two
paths round identically except in how each squared norm is accumulated (in the tensor's
dtype either way), in the order of the few-term sums (``torch.dot`` on the device, left to
right on the host) and in the fused update, i.e. in the last bits (float64) or the last few
float32 bits.

Scalar state is float64 whatever the parameter dtype; the loss and the reductions
are promoted to float64 before they enter the scalar recursions, and the resulting
step coefficients are cast back to each parameter's dtype.

Several processes (book chapter "Training at scale"): every scheme takes
``process_group=None`` and ``sharded=False``. With a group, :meth:`EnergyOptimizer._reduce`
packs the loss and the squared norms / inner products that feed the scalar state into one
float64 vector and sums it with one ``all_reduce`` per step (see :mod:`savlib.distributed`):
the loss is averaged over the ranks (DDP's "mean" semantics); the norms are summed when
``sharded=True`` (each rank owns a slice of the parameters) and left alone otherwise
(DDP has already averaged the gradients, so they are the same on every rank). All branches
(finite checks, restarts, relaxation) are then taken on global values, so every rank takes
the same branch and raises the same error.
"""
from __future__ import annotations

import functools
import math
import numbers
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import Tensor

from ..distributed import all_reduce_f64, resolve_group
from ..distributed import world_size as _world_size

__all__ = [
    "make_closure",
    "evaluate_loss",
    "evaluate_loss_no_grad",
    "check_real",
    "check_positive",
    "check_nonnegative",
    "check_unit_interval",
    "check_betas",
    "sq_norms",
    "add_scaled_",
    "EnergyOptimizer",
    "F64",
]

F64 = torch.float64
#: dtypes whose squared norm the CPU path takes as a BLAS dot product (see
#: ``EnergyOptimizer._host_sq_norms``)
_DOT_DTYPES = (torch.float32, torch.float64)

_CLOSURE_HELP = (
    "pass a closure that zeroes the gradients, computes the loss, calls loss.backward() "
    "when torch.is_grad_enabled(), and returns the loss, e.g. "
    "opt.step(savlib.schemes.make_closure(model, loss_fn, inputs, targets))"
)


# --------------------------------------------------------------------------- closures
def make_closure(model: torch.nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor],
                 inputs: Any, targets: Any, *, optimizer: torch.optim.Optimizer | None = None
                 ) -> Callable[[], Tensor]:
    """A closure in the torch.optim (LBFGS) protocol for ``loss_fn(model(inputs), targets)``.

    It zeroes the gradients (of ``optimizer`` if given, else of ``model``), evaluates the
    loss, calls ``backward`` only when ``torch.is_grad_enabled()`` (so a scheme can
    re-evaluate it cheaply under ``torch.no_grad()``), and returns the loss.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"make_closure: model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"make_closure: loss_fn must be callable, got {type(loss_fn).__name__}")

    def closure() -> Tensor:
        if optimizer is not None:
            optimizer.zero_grad()
        else:
            model.zero_grad()
        loss = loss_fn(model(inputs), targets)
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    return closure


def _check_loss(loss: Any, who: str) -> Tensor:
    if not isinstance(loss, Tensor):
        raise TypeError(f"{who}: the closure returned {type(loss).__name__}, expected the loss "
                        f"as a scalar torch.Tensor; {_CLOSURE_HELP}")
    if loss.numel() != 1:
        raise TypeError(f"{who}: the closure returned a tensor of shape {tuple(loss.shape)}, "
                        f"expected a scalar loss; {_CLOSURE_HELP}")
    if loss.is_complex():
        raise TypeError(f"{who}: the closure returned a complex loss; expected a real scalar")
    loss = loss.detach()
    return loss if loss.dim() == 0 else loss.reshape(())


def evaluate_loss(closure: Callable[[], Any] | None, who: str) -> Tensor:
    """Call ``closure`` with gradients enabled; return the detached 0-d loss.

    Raises ``TypeError`` (saying what to pass) when ``closure`` is missing, not callable,
    or returns something other than a scalar tensor.
    """
    if closure is None:
        raise TypeError(f"{who}.step() needs a closure: {_CLOSURE_HELP}")
    if not callable(closure):
        raise TypeError(f"{who}.step(closure): closure must be callable, got "
                        f"{type(closure).__name__}; {_CLOSURE_HELP}")
    with torch.enable_grad():
        loss = closure()
    return _check_loss(loss, who)


def evaluate_loss_no_grad(closure: Callable[[], Any], who: str) -> Tensor:
    """Call ``closure`` again under ``torch.no_grad()`` (no graph, no backward) and return
    the detached 0-d loss: the loss at the new parameters (seed 000 eq. 21)."""
    with torch.no_grad():
        loss = closure()
    return _check_loss(loss, who)


# ------------------------------------------------------------------------- validation
def check_real(name: str, value: Any) -> float:
    """``value`` as a finite Python float, or ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Tensor)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if isinstance(value, Tensor):
        if value.numel() != 1 or value.is_complex():
            raise TypeError(f"{name} must be a real number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(name: str, value: Any) -> float:
    """A finite real ``> 0``."""
    v = check_real(name, value)
    if not v > 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    return v


def check_nonnegative(name: str, value: Any) -> float:
    """A finite real ``>= 0``."""
    v = check_real(name, value)
    if not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def check_unit_interval(name: str, value: Any) -> float:
    """A real in the closed interval ``[0, 1]``."""
    v = check_real(name, value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {v}")
    return v


def check_betas(betas: Any) -> tuple[float, float]:
    """Adam's ``(beta1, beta2)``, each in ``[0, 1)``."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    b1, b2 = (check_real(f"betas[{i}]", b) for i, b in enumerate(betas))
    for i, b in enumerate((b1, b2)):
        if not 0.0 <= b < 1.0:
            raise ValueError(f"betas[{i}] must lie in [0, 1), got {b}")
    return b1, b2


# --------------------------------------------------------------------- foreach kernels
def sq_norms(tensors: Sequence[Tensor], device: torch.device, foreach: bool = True) -> Tensor:
    """Squared Euclidean norms ``|t_i|^2`` of ``tensors`` as one float64 vector on ``device``.

    ``foreach=True`` uses a single ``torch._foreach_norm`` launch; ``False`` the
    per-tensor reference path. The norms are taken in the tensors' own dtype (as torch's
    ``clip_grad_norm_`` does) and squared in float64.
    """
    if not tensors:
        return torch.zeros(0, dtype=F64, device=device)
    if foreach:
        norms = torch._foreach_norm(list(tensors))
    else:
        norms = [torch.linalg.vector_norm(t) for t in tensors]
    try:
        stacked = torch.stack(norms)          # one op when all norms share device and dtype
    except RuntimeError:
        stacked = torch.stack([n.to(device=device, dtype=F64) for n in norms])
    return stacked.to(device=device, dtype=F64) ** 2


def add_scaled_(params: Sequence[Tensor], updates: Sequence[Tensor], coefs: Tensor,
                foreach: bool = True) -> None:
    """In place ``params[i] += coefs[i] * updates[i]``; ``coefs`` is a float64 vector of
    per-tensor coefficients living on a device (it may hold a value computed on the
    device, e.g. ``r_{n+1}``): no host sync and no scaled copy of ``updates``."""
    if not params:
        return
    dtype = params[0].dtype
    if all(p.dtype == dtype for p in params) and params[0].device == coefs.device and (
            len({p.device for p in params}) == 1):
        cs = list(coefs.to(dtype).unbind())
    else:
        cs = [c.to(device=p.device, dtype=p.dtype) for c, p in zip(coefs.unbind(), params)]
    if foreach:
        torch._foreach_addcmul_(list(params), list(updates), cs)
    else:
        for p, u, c in zip(params, updates, cs):
            p.addcmul_(u, c)


# ------------------------------------------------------------- float64 on the host (CPU)
# On CPU the scalar recursions run on Python floats (IEEE float64, the same correctly
# rounded +, -, *, / as 0-d float64 tensors) instead of ~20 tiny tensor operations. sqrt is
# libm's correctly rounded one and exp/log/log1p/expm1 are libm's (within an ulp); torch's
# CPU kernels for these (MKL's vector math) differ from them in the last bit for about one
# argument in seventy, so the host and device paths agree to an ulp, not bitwise. The helpers
# below never raise where a tensor operation would return inf/nan.
def f64_div(a: float, b: float) -> float:
    """IEEE ``a / b`` (``+-inf`` or nan for ``b == 0``, as a tensor division gives)."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0.0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def f64_sqrt(a: float) -> float:
    """Correctly rounded ``sqrt`` (nan for ``a < 0`` or nan, as ``torch.sqrt``)."""
    return math.sqrt(a) if a >= 0.0 else math.nan


def f64_exp(a: float) -> float:
    """``exp`` with ``inf`` on overflow (as ``torch.exp``)."""
    try:
        return math.exp(a)
    except OverflowError:
        return math.inf


def f64_expm1(a: float) -> float:
    """``expm1`` with ``inf`` on overflow (as ``torch.expm1``)."""
    try:
        return math.expm1(a)
    except OverflowError:
        return math.inf


def f64_log(a: float) -> float:
    """``log`` with ``log 0 = -inf`` and nan below 0 (as ``torch.log``)."""
    if a > 0.0:
        return math.log(a)
    return -math.inf if a == 0.0 else math.nan


def f64_log1p(a: float) -> float:
    """``log1p`` with ``log1p(-1) = -inf`` and nan below -1 (as ``torch.log1p``)."""
    if a > -1.0:
        return math.log1p(a)
    return -math.inf if a == -1.0 else math.nan


def f64_min(a: float, b: float) -> float:
    """``torch.minimum`` on floats (nan-propagating)."""
    if a != a or b != b:
        return math.nan
    return b if b < a else a


def f64_clamp01(a: float) -> float:
    """``torch.clamp(a, 0, 1)`` on floats (nan stays nan)."""
    if a != a:
        return a
    return 0.0 if a < 0.0 else (1.0 if a > 1.0 else a)


# ------------------------------------------------------------- the step's profiler scope
try:   # torch's registries of global step hooks (torch.optim.optimizer, torch >= 2.0)
    from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks
except ImportError:        # pragma: no cover - a torch without them: always torch's wrapper
    _global_optimizer_pre_hooks = _global_optimizer_post_hooks = None


def _hook_step(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a scheme's ``step`` as ``torch.optim.Optimizer`` does, minus a cost nobody sees.

    torch wraps every optimizer's ``step`` (``Optimizer.profile_hook_step``) in a
    ``record_function("Optimizer.step#<Class>.step")`` scope that also runs the step hooks.
    For torch's own optimizers the scope holds only the update. A savlib scheme calls the
    closure inside ``step``, so the whole forward and backward pass would run inside that
    scope, and on CPU that is not free even with no profiler running: the ``SAV+hook`` row of
    ``benchmarks/step_cost.py`` (SAV sent through torch's wrapper) costs 0.07-0.10 of an SGD
    iteration more than SAV at n = 1e5 and 1e6 in the stored run. So savlib goes through
    torch's wrapper (same profiler event, same hooks, same order) whenever a profiler is
    active or any step hook, global or per optimizer, is registered, and otherwise calls the
    step directly (followed, as in torch, by ``_optimizer_step_code``, the profiler's entry
    point). ``tests/schemes/test_optimizer_contract.py`` checks both routes."""
    traced = torch.optim.Optimizer.profile_hook_step(func)

    @functools.wraps(func)
    def step(self, *args: Any, **kwargs: Any) -> Any:
        if (_global_optimizer_pre_hooks is None or torch.autograd._profiler_enabled()
                or self._optimizer_step_pre_hooks or self._optimizer_step_post_hooks
                or _global_optimizer_pre_hooks or _global_optimizer_post_hooks):
            return traced(self, *args, **kwargs)
        out = func(self, *args, **kwargs)
        self._optimizer_step_code()
        return out

    step.hooked = True       # tells torch.optim.Optimizer not to wrap it a second time
    return step


# ------------------------------------------------------------------------- base class
class EnergyOptimizer(torch.optim.Optimizer):
    """Base class of the energy-stable schemes.

    Subclasses implement ``step``. Scheme-wide options (the energy's ``C``, the
    relaxation ``eta`` ...) are listed in ``_scheme_wide``: they may not differ between
    param groups, since the energy is one number for the whole model.

    * ``self.scalars``: the scheme-wide float64 state (a dict; saved by ``state_dict``).
    * ``self.diagnostics``: dict of 0-d tensors describing the last step (no host sync).
    * ``self.process_group`` / ``self.sharded``: the ``torch.distributed`` group whose ranks
      share one energy (``None``: single process) and whether each rank owns only a slice
      of the parameters (FSDP-style) rather than a replica (DDP). Not part of
      ``state_dict`` (a group cannot be saved); the scalar state is identical on every
      rank, so rank 0's checkpoint restores all of them.
    """

    _scheme_wide: tuple[str, ...] = ()
    #: run the scalar recursion on the host when the parameters are on the CPU (see the
    #: module docstring). ``False`` forces the device path, which is how the tests check
    #: the accelerator code on a CPU-only machine.
    _host_scalars: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is not None and not getattr(step, "hooked", False):
            cls.step = _hook_step(step)     # see _hook_step: torch's wrapper only when observed

    def __init__(self, params: Iterable, defaults: dict[str, Any], foreach: bool | None = None,
                 process_group: Any = None, sharded: bool = False):
        if foreach is not None and not isinstance(foreach, bool):
            raise TypeError(f"foreach must be True, False or None, got {foreach!r}")
        if not isinstance(sharded, bool):
            raise TypeError(f"sharded must be a bool, got {sharded!r}")
        self.foreach = True if foreach is None else foreach
        self.process_group = resolve_group(process_group, type(self).__name__)
        self.sharded = sharded
        self._world = _world_size(self.process_group) if self.process_group is not None else 1
        super().__init__(params, defaults)
        self.diagnostics = {}

    # diagnostics -------------------------------------------------------------------
    @property
    def diagnostics(self) -> dict[str, Tensor]:
        """Diagnostics of the last step: a dict of 0-d float64 tensors on the parameter
        device. A CPU step records them as Python floats and they become tensors (one
        ``torch.tensor`` call) on first read, so a step nobody inspects pays nothing."""
        d = self._diag_value
        if d is None:
            keys, vals, dev = self._diag_floats
            d = self._diag_value = dict(zip(keys, torch.tensor(vals, dtype=F64, device=dev).unbind()))
        return d

    @diagnostics.setter
    def diagnostics(self, value: dict[str, Tensor]) -> None:
        self._diag_value = value
        self._diag_floats = None

    def _set_float_diagnostics(self, keys: tuple[str, ...], vals: list[float],
                               device: torch.device) -> None:
        """Record the diagnostics as Python floats (CPU steps); built lazily."""
        self._diag_value = None
        self._diag_floats = (keys, vals, device)

    def _add_scaled_floats(self, params: list[Tensor], updates: list[Tensor], coefs: Tensor,
                           scale: float, uniform: float | None = None) -> None:
        """CPU form of ``add_scaled_(params, updates, scale * coefs)`` for a Python float
        ``scale``.

        ``uniform``: the common value of every entry of ``coefs`` when there is one (a single
        param group, the usual case). The step is then ``p += (scale * uniform) u`` with one
        ``_foreach_add_`` (what torch's SGD does), the coefficient rounded to the parameter
        dtype. Otherwise the products are rounded to the parameter dtype into a cached buffer
        whose per-tensor views feed ``_foreach_addcmul_`` (same coefficients as
        :func:`add_scaled_`, without re-building the 0-d coefficient list every step)."""
        if not params:
            return
        dtype = params[0].dtype
        if uniform is not None and all(p.dtype == dtype for p in params):
            alpha = scale * uniform
            if self.foreach:
                torch._foreach_add_(params, updates, alpha=alpha)
            else:
                for p, u in zip(params, updates):
                    p.add_(u, alpha=alpha)
            return
        if coefs is None:       # only a uniform coefficient was given, but dtypes differ
            coefs = torch.full((len(params),), uniform, dtype=F64)
        dev = coefs.device
        cache = getattr(self, "_coef_buf", None)
        if cache is None or cache[0] != (len(params), dtype, dev):
            buf = torch.empty(len(params), dtype=dtype, device=dev)
            cache = self._coef_buf = ((len(params), dtype, dev), buf, list(buf.unbind()))
        for p in params:
            if p.dtype != dtype or p.device != dev:
                add_scaled_(params, updates, coefs * scale, self.foreach)
                return
        torch.mul(coefs, scale, out=cache[1])   # float64 product, rounded on store
        if self.foreach:
            torch._foreach_addcmul_(params, updates, cache[2])
        else:
            for p, u, c in zip(params, updates, cache[2]):
                p.addcmul_(u, c)

    def _workspace(self, p: Tensor, tag: str = "") -> Tensor:
        """A scratch tensor shaped like ``p`` (one per ``tag``), kept between steps (not part
        of the state: ``state_dict`` never sees it), so that a step does not allocate."""
        ws = self.__dict__.setdefault("_ws", {}).setdefault(tag, {})
        t = ws.get(p)
        if t is None or t.shape != p.shape or t.dtype != p.dtype or t.device != p.device:
            t = ws[p] = torch.empty_like(p, memory_format=torch.preserve_format)
        return t

    # several processes ---------------------------------------------------------------
    def _reduce(self, means: Sequence[Tensor], sums: Sequence[Tensor] = ()
                ) -> tuple[list[Tensor], list[Tensor]]:
        """Global values of rank-local scalars in **one** float64 ``all_reduce``.

        ``means``: rank-local losses, averaged over the ranks (DDP's mean-loss semantics,
        equal-sized shards of the batch). ``sums``: squared norms / inner products of
        the gradients or parameters; summed over the ranks when ``sharded`` (partial
        sums over each rank's slice), returned unchanged otherwise (the gradients are
        replicated). Without a process group both come back unchanged (no collective).
        """
        means = [m.reshape(()).to(device=self._device, dtype=F64) for m in means]
        sums = [t.reshape(()).to(device=self._device, dtype=F64) for t in sums]
        if self.process_group is None:
            return means, sums
        k = len(means)
        parts = means + (sums if self.sharded else [])
        if not parts:
            return means, sums
        vec = all_reduce_f64(torch.stack(parts), self.process_group)
        g_means = list((vec[:k] / self._world).unbind()) if k else []
        g_sums = list(vec[k:].unbind()) if self.sharded else sums
        return g_means, g_sums

    def _reduce_floats(self, means: Sequence[float], sums: Sequence[float] = ()
                       ) -> tuple[list[float], list[float]]:
        """:meth:`_reduce` for values already on the host as Python floats (the CPU steps):
        packed into one float64 vector, one ``all_reduce``, read back. Without a process
        group (or with nothing to reduce) the floats come back unchanged, without a tensor."""
        means, sums = list(means), list(sums)
        if self.process_group is None or not (means or (sums and self.sharded)):
            return means, sums
        k = len(means)
        vec = torch.tensor(means + (sums if self.sharded else []), dtype=F64, device=self._device)
        out = all_reduce_f64(vec, self.process_group).tolist()
        return [v / self._world for v in out[:k]], (out[k:] if self.sharded else sums)

    # param groups ---------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        for key in self._scheme_wide:
            if key in param_group and param_group[key] != self.defaults[key]:
                raise ValueError(
                    f"{type(self).__name__}: {key!r} is a property of the energy shared by all "
                    f"param groups; got {param_group[key]!r} for one group and "
                    f"{self.defaults[key]!r} as the default")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        self._validate_group(group)
        for p in group["params"]:
            if p.is_complex():
                raise TypeError(f"{type(self).__name__}: complex parameters are not supported "
                                "(the energy uses the real inner product)")

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Validate one param group's hyper-parameters (normalising them in place)."""

    # scalar state ----------------------------------------------------------------
    @property
    def scalars(self) -> dict[str, Any]:
        return self.state["scheme"]  # defaultdict(dict): created empty on first use

    @property
    def _device(self) -> torch.device:
        return self.param_groups[0]["params"][0].device

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        # torch stores non-parameter state by reference: copy it, keep it float64, and
        # move it to the parameters' device.
        scal = self.state.get("scheme")
        if scal is not None:
            dev = self._device
            self.state["scheme"] = {
                k: (v.detach().clone().to(device=dev, dtype=F64) if isinstance(v, Tensor) else v)
                for k, v in scal.items()}

    def _one(self, device: torch.device) -> Tensor:
        """A cached float64 constant 1 on ``device`` (for ``xi`` when nothing is relaxed)."""
        one = getattr(self, "_one_cache", None)
        if one is None or one.device != device:
            one = self._one_cache = torch.ones((), dtype=F64, device=device)
        return one

    # parameters with gradients -----------------------------------------------------
    def _grads(self) -> list[tuple[dict[str, Any], list[Tensor], list[Tensor]]]:
        """``(group, params, grads)`` for each group, keeping only parameters whose
        ``.grad`` is set (the others are left untouched, as torch.optim does)."""
        out = []
        any_grad = False
        for group in self.param_groups:
            ps, gs = [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise TypeError(f"{type(self).__name__} does not support sparse gradients")
                ps.append(p)
                gs.append(p.grad)
            any_grad = any_grad or bool(ps)
            out.append((group, ps, gs))
        if not any_grad:
            raise ValueError(f"{type(self).__name__}.step: no parameter has a gradient after the "
                             f"closure ran; {_CLOSURE_HELP}")
        return out

    # the (I + dt L)^{-1} direction of seed 000 eqs. 17-20 ------------------------------
    def _linear_direction(self, groups) -> tuple[list[Tensor], list[Tensor], Tensor, Tensor, Tensor]:
        """Flatten the groups for the non-adaptive step ``dtheta_i = -K c_i N_i`` with
        ``c_i = dt_i / (1 + dt_i lam_i)`` (``(I + dt L)^{-1}`` for ``L = lam Id``).

        Returns ``(params, grads, n2, c, w)``: ``n2`` the squared gradient norms (the one
        reduction of the step), ``c`` the per-tensor coefficients and ``w = c^2 / dt``, all
        float64 vectors, so that

        * ``S = sum(c * n2)`` is ``dt (N, (I + dt L)^{-1} N)`` (seed 000 eq. 20), and
        * ``K^2 sum(w * n2)`` is ``|dtheta|^2 / dt`` of the step ``-K c N``,

        with ``dt`` allowed to differ between param groups (the sums then run with each
        group's ``dt``; every energy law holds in that ``dt``-weighted norm).
        """
        ps: list[Tensor] = []
        gs: list[Tensor] = []
        key = []
        for group, gps, ggs in groups:
            ps += gps
            gs += ggs
            key.append((len(gps), group["lr"], group["lam"]))
        key = tuple(key)
        cache = getattr(self, "_coef_cache", None)
        if cache is None or cache[0] != key or cache[1].device != self._device:
            c = [lr / (1.0 + lr * lam) for k, lr, lam in key for _ in range(k)]
            w = [(lr / (1.0 + lr * lam)) ** 2 / lr for k, lr, lam in key for _ in range(k)]
            cache = (key, torch.tensor(c, dtype=F64, device=self._device),
                     torch.tensor(w, dtype=F64, device=self._device))
            self._coef_cache = cache
        n2 = sq_norms(gs, self._device, self.foreach)
        return ps, gs, n2, cache[1], cache[2]

    def _linear_floats(self) -> tuple[list[Tensor], list[Tensor], float, float, Tensor,
                                      float | None]:
        """CPU form of :meth:`_grads` followed by :meth:`_linear_direction`, in one pass over
        the parameters: the same reduction (one norm per tensor, in the tensor's dtype,
        squared in float64), read to the host once and summed on Python floats, so the step
        launches no further tensor operation before its update.

        Returns ``(params, grads, S, diss_unit, c, uniform)``: ``S = sum(c * n2)`` and
        ``diss_unit = sum(w * n2)`` as Python floats (summed in parameter order), ``c`` the
        float64 coefficient vector, and ``uniform`` its common value when all entries are
        equal (one param group), else ``None`` (see :meth:`_add_scaled_floats`).
        """
        ps: list[Tensor] = []
        gs: list[Tensor] = []
        key = []
        for group in self.param_groups:
            k = len(ps)
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if g.is_sparse:
                    raise TypeError(f"{type(self).__name__} does not support sparse gradients")
                ps.append(p)
                gs.append(g)
            key.append((len(ps) - k, group["lr"], group["lam"]))
        if not ps:
            raise ValueError(f"{type(self).__name__}.step: no parameter has a gradient after the "
                             f"closure ran; {_CLOSURE_HELP}")
        key = tuple(key)
        cache = getattr(self, "_coef_floats", None)
        if cache is None or cache[0] != key:
            c = [lr / (1.0 + lr * lam) for k, lr, lam in key for _ in range(k)]
            w = [(lr / (1.0 + lr * lam)) ** 2 / lr for k, lr, lam in key for _ in range(k)]
            uniform = c[0] if all(x == c[0] for x in c) else None
            cache = (key, torch.tensor(c, dtype=F64), list(zip(c, w)), uniform)
            self._coef_floats = cache
        S = 0.0
        D = 0.0
        for v, (ci, wi) in zip(self._host_sq_norms(gs), cache[2]):
            S += ci * v
            D += wi * v
        return ps, gs, S, D, cache[1], cache[3]

    def _host_sq_norms(self, tensors: Sequence[Tensor]) -> list[float]:
        """CPU form of :func:`sq_norms`: ``|t_i|^2`` as Python floats.

        float32 and float64 tensors: ``torch.dot(t, t)`` in the tensor's dtype (BLAS), one
        pass and one host read per tensor. On CPU this is cheaper than ``_foreach_norm``
        followed by a read per norm, and it is the more accurate of the two in float32
        (``tests/schemes/test_host_device_paths.py`` checks it on 1e6 standard normals).
        Both overflow to inf at the same point (torch's CPU norm does not rescale), which
        the schemes' finite checks report. Half precision keeps the norm, squared in
        float64: a dot product in float16 overflows once ``|t| > 256``."""
        out = []
        for t in tensors:
            if t.dtype in _DOT_DTYPES:
                f = t.reshape(-1)
                out.append(torch.dot(f, f).item())
            else:
                v = torch.linalg.vector_norm(t).item()
                out.append(v * v)
        return out

    def _host_loss_new(self, closure: Callable[[], Any], who: str) -> float:
        """The loss at the new parameters for the relaxed schemes' CPU step (the closure
        again under ``no_grad``), as a Python float; with a process group the mean over
        the ranks (the second collective of a relaxed step)."""
        loss_new = evaluate_loss_no_grad(closure, who)
        if self.process_group is not None:
            (loss_new,), _ = self._reduce([loss_new.to(device=self._device, dtype=F64)])
        return loss_new.item()
