"""Physics-informed neural network (PINN) problems of Ma, Mao & Shen 2024 and Li, Chen & Huang 2023, with exact solutions.

Every problem is a small dataclass that knows

* its equation, domain and boundary/initial data (with the paper's parameters as
  defaults),
* how to draw collocation and boundary points from a seeded ``torch.Generator``
  (:meth:`PINNProblem.sample`; the points drawn at construction from ``seed`` are in
  ``problem.data`` and used when no other points are given),
* its PDE residual, computed from the network by autograd (:meth:`residual`),
* the loss ``w_d * L_data + w_f * L_PDE`` (Li, Chen & Huang 2023 eq. 6; :meth:`loss`),
* the exact solution as a differentiable torch function (:meth:`exact`), a test grid
  and the relative L2 error on it (:meth:`relative_l2`), and
* the paper's network (:meth:`default_model`, built by :func:`mlp`).

The problems (book part "PINNs", chapter "Stiffness of PINN losses"):

================  ==========================================================  ===========
class             equation                                                    source
================  ==========================================================  ===========
``Burgers``       ``u_t + u u_x = nu u_xx``, ``u(x,0) = -sin(pi x)``           Ma, Mao & Shen 2024 Ex. 5, eq. 28
``Poisson1D``     ``-u'' = f`` on (0, 1), ``u = sin 2pi x + a sin(m pi x)``    Li, Chen & Huang 2023 sec. 2.2, eq. 9
``PerturbedODE``  ``-eps y'' + y' = f`` on (0, 1), boundary layer at 1        Li, Chen & Huang 2023 eq. 19
``Poisson2D``     ``-Lap u = f`` on the unit square, multi-scale ``u``        Li, Chen & Huang 2023 eq. 20
``Helmholtz2D``   ``Lap u + k^2 u = f``, ``u = sin(pi x) sin(4 pi y)``        Li, Chen & Huang 2023 eq. 21
================  ==========================================================  ===========

Derivatives with respect to the inputs use ``torch.autograd.grad`` of ``u.sum()``,
which is exact provided each output row depends only on its own input row (true for
any pointwise network such as :func:`mlp`; not for batch normalisation).

The model may be any callable mapping an ``(N, d)`` tensor to ``(N, 1)`` or ``(N,)``,
e.g. the exact solution itself (the tests check that the residual then vanishes).
Points follow the model: its first parameter's device and dtype, or the ``device``/
``dtype`` arguments for a parameter-free callable (default: CPU and torch's default
dtype).

Training through :func:`savlib.train.fit` (book chapter "Implicit SGD and SAV on PINNs"):
:class:`PINNModel` wraps a network and a problem into a model whose
``training_loss`` is the PINN loss on a batch of collocation points (all boundary points
every step) and whose :meth:`PINNModel.split` gives ``fit`` the collocation points and
the test grid with the exact solution, so that ``fit`` records the relative L2 and the
maximum absolute error against the exact solution (metrics :func:`rel_l2`,
:func:`max_abs`). The wrapper counts its loss evaluations, i.e. the closure calls of the
optimizer (``evals``: with gradient; ``evals_no_grad``: forward-only re-evaluations such
as relaxed SAV's), the unit of cost in which the chapter compares schemes.

Deviation (recorded in the chapter): Li, Chen & Huang 2023 write the 2-D Poisson loss with the
residual ``u_xx + u_yy - f`` while eq. 20 reads ``-u_xx - u_yy = f``; with that sign the
loss is minimised by ``-u`` (the boundary values are zero), so this module follows
eq. 20 and uses the residual ``-u_xx - u_yy - f``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..config import generator as _generator
from .burgers import BURGERS_NU, burgers_exact

__all__ = [
    "mlp",
    "PINNData",
    "PINNProblem",
    "Burgers",
    "BurgersRaissi",
    "InputScale",
    "latin_hypercube",
    "Poisson1D",
    "PerturbedODE",
    "Poisson2D",
    "Helmholtz2D",
    "poisson1d_low",
    "poisson1d_multiscale",
    "PINNModel",
    "rel_l2",
    "max_abs",
]

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "sin": None,  # filled below
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}


class _Sin(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


_ACTIVATIONS["sin"] = _Sin


def mlp(widths: Sequence[int], activation: str | Callable[[], nn.Module] = "tanh", *,
        generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
        device: str | torch.device | None = None) -> nn.Sequential:
    """Fully connected network ``widths[0] -> widths[1] -> ... -> widths[-1]``.

    ``activation`` (between layers, not after the last) is a name (``"tanh"`` -- the
    papers' choice --, ``"sin"``, ``"gelu"``, ``"silu"``, ``"softplus"``, ``"sigmoid"``) or a
    module factory. Weights are Glorot (Xavier) normal and biases zero, the usual PINN
    initialisation; pass ``generator`` for an initialisation independent of the global
    seed. Smooth activations only matter for PINNs: the residual differentiates the
    network twice.
    """
    widths = list(widths)
    if len(widths) < 2 or not all(isinstance(w, (int, np.integer)) and w >= 1 for w in widths):
        raise ValueError(f"widths must be >= 2 positive ints (input, hidden..., output), got {widths!r}")
    if isinstance(activation, str):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(_ACTIVATIONS)}")
        act = _ACTIVATIONS[activation]
    elif callable(activation):
        act = activation
    else:
        raise TypeError(f"activation must be a name or a module factory, got {type(activation).__name__}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        lin = nn.Linear(int(a), int(b), dtype=dtype, device=device)
        with torch.no_grad():
            if generator is None:
                nn.init.xavier_normal_(lin.weight)
            else:
                w = torch.empty(lin.weight.shape, dtype=torch.float64)
                nn.init.xavier_normal_(w, generator=generator)
                lin.weight.copy_(w)
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


@dataclass(eq=False)
class PINNData:
    """Collocation points ``x_f`` (``(N_f, d)``) and boundary/initial points ``x_b``
    (``(N_b, d)``) with their prescribed values ``u_b`` (``(N_b,)``)."""

    x_f: torch.Tensor
    x_b: torch.Tensor
    u_b: torch.Tensor

    def to(self, device=None, dtype=None) -> "PINNData":
        return PINNData(self.x_f.to(device=device, dtype=dtype), self.x_b.to(device=device, dtype=dtype),
                        self.u_b.to(device=device, dtype=dtype))


def _model_like(model, device=None, dtype=None) -> tuple[torch.device, torch.dtype]:
    if not callable(model):
        raise TypeError(f"model must be callable (an nn.Module or a function of an (N, d) tensor), "
                        f"got {type(model).__name__}")
    p = None
    if isinstance(model, nn.Module):
        p = next(iter(model.parameters()), None)
    dev = torch.device(device) if device is not None else (p.device if p is not None else torch.device("cpu"))
    dt = dtype if dtype is not None else (p.dtype if p is not None else torch.get_default_dtype())
    if not dt.is_floating_point:
        raise TypeError(f"dtype must be floating point, got {dt}")
    return dev, dt


def _grad(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    return g


def _check_positive_int(name: str, v) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return int(v)


def _check_weight(name: str, v) -> float:
    v = float(v)
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return v


@dataclass(eq=False)
class PINNProblem:
    """Shared machinery; subclasses define the geometry, the residual and the exact solution.

    Attributes common to all problems: ``w_data``, ``w_pde`` (the weights of Li, Chen & Huang 2023
    eq. 6) and ``seed`` (for the points in ``self.data``).
    """

    w_data: float = 1.0
    w_pde: float = 1.0
    seed: int = 0
    data: PINNData = field(init=False, repr=False)

    #: input dimension (x, or (x, t), or (x, y)); set by subclasses
    dim: int = field(init=False, default=1, repr=False)
    #: names of the inputs, for plots
    inputs: tuple[str, ...] = field(init=False, default=("x",), repr=False)

    def __post_init__(self) -> None:
        self.w_data = _check_weight("w_data", self.w_data)
        self.w_pde = _check_weight("w_pde", self.w_pde)
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        self._cache: dict = {}
        self.data = self.sample(_generator(int(self.seed)), dtype=torch.float64)

    # -- to be provided by subclasses -------------------------------------------------
    def _sample(self, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Collocation and boundary points, float64 on the CPU."""
        raise NotImplementedError

    def exact(self, x: torch.Tensor) -> torch.Tensor:
        """The exact solution at the rows of ``x`` (shape ``(N,)``), differentiable in ``x``."""
        raise NotImplementedError

    def forcing(self, x: torch.Tensor) -> torch.Tensor:
        """The right-hand side ``f`` at the rows of ``x`` (shape ``(N,)``)."""
        return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)

    def _residual(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def test_points(self) -> torch.Tensor:
        """The float64 test grid (rows are points)."""
        raise NotImplementedError

    def default_model(self, widths: Sequence[int] | None = None, activation: str = "tanh", **kw) -> nn.Module:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------
    def boundary_values(self, x_b: torch.Tensor) -> torch.Tensor:
        """Prescribed values at boundary/initial points (the exact solution there)."""
        with torch.no_grad():
            return self.exact(x_b)

    def sample(self, generator: torch.Generator | None = None, *, device=None,
               dtype: torch.dtype | None = None) -> PINNData:
        """Draw fresh collocation and boundary points from ``generator`` (a CPU
        ``torch.Generator``; a new one seeded with ``self.seed`` when None). Use it to
        resample the collocation points between steps."""
        if generator is None:
            generator = _generator(int(self.seed))
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        x_f, x_b = self._sample(generator)
        d = PINNData(x_f, x_b, self.boundary_values(x_b))
        return d.to(device=device, dtype=dtype or torch.get_default_dtype())

    def _as_input(self, x, device, dtype) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.ndim == 1 and self.dim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"points must have shape (N, {self.dim}), got {tuple(x.shape)}")
        return x.to(device=device, dtype=dtype)

    def _eval(self, model, x: torch.Tensor) -> torch.Tensor:
        u = model(x)
        if not isinstance(u, torch.Tensor):
            raise TypeError(f"model must return a tensor, got {type(u).__name__}")
        if u.ndim == 2 and u.shape[1] == 1:
            u = u[:, 0]
        if u.shape != (x.shape[0],):
            raise ValueError(f"model output must have shape (N,) or (N, 1) for N={x.shape[0]} points, "
                             f"got {tuple(u.shape)}")
        return u

    def residual(self, model, x, *, device=None, dtype=None) -> torch.Tensor:
        """PDE residual of ``model`` at the rows of ``x`` (shape ``(N,)``), by autograd
        (with ``create_graph=True``, so it can be differentiated again)."""
        dev, dt = _model_like(model, device, dtype)
        x = self._as_input(x, dev, dt).detach().requires_grad_(True)
        u = self._eval(model, x)
        return self._residual(u, x)

    def loss(self, model, data: PINNData | None = None, *, device=None, dtype=None,
             parts: bool = False):
        """``w_data * mean |u(x_b) - u_b|^2 + w_pde * mean |F(x_f)|^2`` (Li, Chen & Huang 2023 eq. 6).

        ``data`` defaults to ``self.data``. With ``parts=True`` returns
        ``(loss, loss_data, loss_pde)``.
        """
        dev, dt = _model_like(model, device, dtype)
        data = self._data_like(data, dev, dt)
        r = self.residual(model, data.x_f, device=dev, dtype=dt)
        ub = self._eval(model, data.x_b)
        l_data = ((ub - data.u_b) ** 2).mean()
        l_pde = (r**2).mean()
        total = self.w_data * l_data + self.w_pde * l_pde
        return (total, l_data, l_pde) if parts else total

    def _data_like(self, data, dev, dt) -> PINNData:
        if data is None:
            key = (str(dev), dt)
            if key not in self._cache:
                self._cache[key] = self.data.to(device=dev, dtype=dt)
            return self._cache[key]
        if not isinstance(data, PINNData):
            raise TypeError(f"data must be a PINNData (from problem.sample()), got {type(data).__name__}")
        if data.x_f.ndim != 2 or data.x_f.shape[1] != self.dim or data.x_b.ndim != 2 \
                or data.x_b.shape[1] != self.dim:
            raise ValueError(f"data points must have shape (N, {self.dim})")
        return data.to(device=dev, dtype=dt)

    def closure(self, model, data: PINNData | None = None) -> Callable[[], torch.Tensor]:
        """A zero-argument function returning the loss (for Hessian tools and optimisers
        that take a closure; it does not zero or accumulate gradients)."""
        return lambda: self.loss(model, data)

    def reference(self) -> torch.Tensor:
        """The exact solution on :meth:`test_points`, float64 (cached)."""
        if "reference" not in self._cache:
            with torch.no_grad():
                self._cache["reference"] = self.exact(self.test_points()).to(torch.float64)
        return self._cache["reference"]

    def predict(self, model, x=None, *, device=None, dtype=None) -> torch.Tensor:
        """The model on ``x`` (default: the test grid), detached, float64 on the CPU."""
        dev, dt = _model_like(model, device, dtype)
        x = self.test_points() if x is None else x
        x = self._as_input(x, dev, dt)
        with torch.no_grad():
            return self._eval(model, x).to(device="cpu", dtype=torch.float64)

    def relative_l2(self, model, *, device=None, dtype=None) -> float:
        """``|u_model - u|_2 / |u|_2`` on the test grid (a float)."""
        u = self.reference()
        return float(torch.linalg.vector_norm(self.predict(model, device=device, dtype=dtype) - u)
                     / torch.linalg.vector_norm(u))

    def max_abs_error(self, model, *, device=None, dtype=None) -> float:
        """``max |u_model - u|`` on the test grid (Li, Chen & Huang 2023 quotes absolute errors)."""
        return float((self.predict(model, device=device, dtype=dtype) - self.reference()).abs().max())


def _uniform(g: torch.Generator, n: int, d: int, lo: Sequence[float], hi: Sequence[float]) -> torch.Tensor:
    lo_t = torch.tensor(lo, dtype=torch.float64)
    hi_t = torch.tensor(hi, dtype=torch.float64)
    return lo_t + (hi_t - lo_t) * torch.rand(n, d, generator=g, dtype=torch.float64)


def _square_boundary(g: torch.Generator, n: int) -> torch.Tensor:
    """``n`` points uniformly distributed on the boundary of the unit square."""
    s = 4.0 * torch.rand(n, generator=g, dtype=torch.float64)
    side = s.floor().clamp(max=3)
    p = s - side
    zeros, ones = torch.zeros_like(p), torch.ones_like(p)
    x = torch.where(side == 0, p, torch.where(side == 1, ones, torch.where(side == 2, 1 - p, zeros)))
    y = torch.where(side == 0, zeros, torch.where(side == 1, p, torch.where(side == 2, ones, 1 - p)))
    return torch.stack([x, y], dim=1)


def _hidden(widths, default: Sequence[int]) -> list[int]:
    return list(default) if widths is None else list(widths)


# --------------------------------------------------------------------------------------
@dataclass(eq=False)
class Burgers(PINNProblem):
    """Viscous Burgers equation, Ma, Mao & Shen 2024 Example 5 (eq. 28).

    ``u_t + u u_x - nu u_xx = 0`` for ``x in (-1, 1)``, ``t in (0, 1]``;
    ``u(x, 0) = -sin(pi x)``; ``u(+-1, t) = 0``; ``nu = 0.01/pi``. Inputs are rows
    ``(x, t)``.

    Collocation: Ma, Mao & Shen 2024 uses "200 x 60 equally distributed residual points"; by
    default (``grid=True``) they are the tensor grid ``linspace(-1, 1, nx) x
    linspace(0, 1, nt)``; ``grid=False`` draws ``nx * nt`` uniform random points. The
    paper does not give the initial/boundary points: we use ``n_initial`` random points
    on ``t = 0`` and ``n_boundary`` random points on each of ``x = +-1`` (all from the
    generator). The test grid is 256 x 100 (``x`` by ``t``) with the Cole-Hopf solution
    :func:`savlib.problems.burgers_exact`. Default network: 5 hidden layers of 32 tanh
    units (Ma, Mao & Shen 2024).
    """

    nu: float = BURGERS_NU
    nx: int = 200
    nt: int = 60
    grid: bool = True
    n_initial: int = 200
    n_boundary: int = 100
    test_nx: int = 256
    test_nt: int = 100

    def __post_init__(self) -> None:
        self.dim, self.inputs = 2, ("x", "t")
        self.nu = float(self.nu)
        if not (self.nu > 0 and math.isfinite(self.nu)):
            raise ValueError(f"nu must be a finite number > 0, got {self.nu!r}")
        for name in ("nx", "nt", "n_initial", "n_boundary", "test_nx", "test_nt"):
            setattr(self, name, _check_positive_int(name, getattr(self, name)))
        super().__post_init__()

    def _sample(self, g):
        if self.grid:
            xs = torch.linspace(-1, 1, self.nx, dtype=torch.float64)
            ts = torch.linspace(0, 1, self.nt, dtype=torch.float64)
            x_f = torch.cartesian_prod(xs, ts)
        else:
            x_f = _uniform(g, self.nx * self.nt, 2, [-1.0, 0.0], [1.0, 1.0])
        x0 = _uniform(g, self.n_initial, 2, [-1.0, 0.0], [1.0, 0.0])
        tb = torch.rand(2 * self.n_boundary, generator=g, dtype=torch.float64)
        xb = torch.cat([-torch.ones(self.n_boundary), torch.ones(self.n_boundary)]).to(torch.float64)
        return x_f, torch.cat([x0, torch.stack([xb, tb], dim=1)])

    def boundary_values(self, x_b):
        # u(x, 0) = -sin(pi x) on t = 0, zero on x = +-1 (exact, no quadrature needed)
        x, t = x_b[:, 0], x_b[:, 1]
        return torch.where(t == 0, -torch.sin(math.pi * x), torch.zeros_like(x))

    def exact(self, x):
        """The Cole-Hopf solution (float64 quadrature; not differentiable in ``x``)."""
        x = torch.as_tensor(x)
        return burgers_exact(x[:, 0], x[:, 1], self.nu)

    def _residual(self, u, x):
        du = _grad(u, x)
        u_x, u_t = du[:, 0], du[:, 1]
        u_xx = _grad(u_x, x)[:, 0]
        return u_t + u * u_x - self.nu * u_xx

    def test_points(self):
        if "test_points" not in self._cache:
            xs = torch.linspace(-1, 1, self.test_nx, dtype=torch.float64)
            ts = torch.linspace(0, 1, self.test_nt, dtype=torch.float64)
            self._cache["test_points"] = torch.cartesian_prod(xs, ts)
        return self._cache["test_points"]

    def default_model(self, widths=None, activation="tanh", **kw):
        """Ma, Mao & Shen 2024: 5 hidden layers of 32 tanh units; ``widths`` lists the hidden widths."""
        return mlp([2, *_hidden(widths, [32] * 5), 1], activation, **kw)


class InputScale(nn.Module):
    """The affine map of a box ``[lo, hi]`` onto ``[-1, 1]^d``, ``2 (x - lo) / (hi - lo) - 1``:
    the first layer of Raissi et al.'s PINNs (their ``neural_net`` normalises the inputs so).
    It has no parameters; derivatives of the network with respect to ``x`` go through it."""

    def __init__(self, lo: Sequence[float], hi: Sequence[float]):
        super().__init__()
        lo_t, hi_t = torch.tensor(lo, dtype=torch.float64), torch.tensor(hi, dtype=torch.float64)
        if lo_t.shape != hi_t.shape or lo_t.ndim != 1 or not bool((hi_t > lo_t).all()):
            raise ValueError(f"lo and hi must be equal-length sequences with hi > lo, got {lo!r}, {hi!r}")
        self.register_buffer("lo", lo_t)
        self.register_buffer("hi", hi_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * (x - self.lo.to(x.dtype)) / (self.hi - self.lo).to(x.dtype) - 1.0


def latin_hypercube(g: torch.Generator, n: int, lo: Sequence[float], hi: Sequence[float]) -> torch.Tensor:
    """``n`` Latin-hypercube points in the box ``[lo, hi]`` (float64): in every coordinate each
    of the ``n`` equal strata holds exactly one point, at a uniform position inside it (the
    rule of pyDOE's ``lhs``, which Raissi et al. 2019 use for their collocation points)."""
    n = _check_positive_int("n", n)
    d = len(lo)
    cols = [(torch.randperm(n, generator=g, dtype=torch.float64)
             + torch.rand(n, generator=g, dtype=torch.float64)) / n for _ in range(d)]
    u = torch.stack(cols, dim=1)
    lo_t, hi_t = torch.tensor(lo, dtype=torch.float64), torch.tensor(hi, dtype=torch.float64)
    return lo_t + (hi_t - lo_t) * u


@dataclass(eq=False)
class BurgersRaissi(Burgers):
    """The Burgers problem in the setup of Raissi, Perdikaris & Karniadakis 2019 (their
    ``continuous_time_inference (Burgers)/Burgers.py``), which reports a relative L2 error
    of 6.7e-4 with L-BFGS.

    * Initial/boundary data: ``n_u = 100`` points drawn without replacement from the
      ``n_x0 + 2 n_tb = 256 + 2 x 100`` candidates ``(x_i, 0)`` (``x_i = linspace(-1, 1,
      256)``) and ``(+-1, t_j)`` (``t_j = linspace(0, 0.99, 100)``, their data file's
      times), with the exact values ``-sin(pi x)`` and 0.
    * Collocation: ``n_f = 10000`` Latin-hypercube points in ``[-1, 1] x [0, 1]``
      (:func:`latin_hypercube`) *plus all* the candidate points (Raissi et al. append them
      before drawing the ``n_u``), ``n_f + 456`` residual points in all.
    * Loss: ``mean |u - u_b|^2 + mean |residual|^2`` (weights 1, as :class:`PINNProblem`).
    * Network (:meth:`default_model`): inputs mapped onto ``[-1, 1]^2`` (:class:`InputScale`),
      8 hidden layers of 20 tanh units (their ``layers = [2, 20 x 8, 1]``), Glorot-normal
      weights and zero biases.

    Deviations, all small: their collocation box ends at ``t = 0.99`` (the last time of their
    data file) and ours at ``t = 1``; their Glorot weights are truncated normals; the test
    grid is :class:`Burgers`' 256 x 100 grid on ``t in [0, 1]`` with the Cole-Hopf solution
    instead of their stored numerical solution (which agrees with it to 4e-11). The
    ``nx``, ``nt``, ``grid``, ``n_initial`` and ``n_boundary`` fields of :class:`Burgers` are
    not used.
    """

    n_f: int = 10_000
    n_u: int = 100
    n_x0: int = 256
    n_tb: int = 100

    def __post_init__(self) -> None:
        for name in ("n_f", "n_u", "n_x0", "n_tb"):
            setattr(self, name, _check_positive_int(name, getattr(self, name)))
        if self.n_u > self.n_x0 + 2 * self.n_tb:
            raise ValueError(f"n_u = {self.n_u} exceeds the {self.n_x0 + 2 * self.n_tb} candidate points")
        super().__post_init__()

    def candidates(self) -> torch.Tensor:
        """The ``n_x0 + 2 n_tb`` initial/boundary candidate points (float64 rows ``(x, t)``)."""
        xs = torch.linspace(-1, 1, self.n_x0, dtype=torch.float64)
        ts = torch.linspace(0, 0.99, self.n_tb, dtype=torch.float64)
        return torch.cat([torch.stack([xs, torch.zeros_like(xs)], 1),
                          torch.stack([-torch.ones_like(ts), ts], 1),
                          torch.stack([torch.ones_like(ts), ts], 1)])

    def _sample(self, g):
        cand = self.candidates()
        x_f = torch.cat([latin_hypercube(g, self.n_f, [-1.0, 0.0], [1.0, 1.0]), cand])
        idx = torch.randperm(cand.shape[0], generator=g)[: self.n_u]
        return x_f, cand[idx]

    def default_model(self, widths=None, activation="tanh", **kw):
        """Raissi et al. 2019: inputs scaled onto ``[-1, 1]^2``, then 8 hidden layers of 20 tanh
        units; ``widths`` lists the hidden widths."""
        net = mlp([2, *_hidden(widths, [20] * 8), 1], activation, **kw)
        scale = InputScale([-1.0, 0.0], [1.0, 1.0]).to(device=kw.get("device"))
        return nn.Sequential(scale, *net)


# --------------------------------------------------------------------------------------
@dataclass(eq=False)
class Poisson1D(PINNProblem):
    """1-D Poisson problem of Li, Chen & Huang 2023, section 2.2 (eq. 9), with a tunable multi-scale term.

    ``-u'' = f`` on (0, 1), ``u(0) = u(1) = 0``, with the fabricated solution
    ``u(x) = sin(2 pi x) + amp * sin(freq * pi x)``: ``amp = 0`` is ``u_L`` and
    ``amp = 0.1, freq = 50`` is ``u_H`` of Li, Chen & Huang 2023, Fig. 1 (``freq`` must be an integer
    so the boundary values vanish). ``n_f = 1000`` collocation points uniformly
    sampled in (0, 1) (``grid=True``: the uniform grid instead), the two boundary
    points, and a test grid of ``n_test`` points. Default network: Li, Chen & Huang 2023's "5-layer"
    net of 200 tanh units, read as 5 hidden layers.
    """

    amp: float = 0.0
    freq: int = 50
    n_f: int = 1000
    grid: bool = False
    n_test: int = 2001

    def __post_init__(self) -> None:
        self.dim, self.inputs = 1, ("x",)
        self.amp = float(self.amp)
        if not math.isfinite(self.amp):
            raise ValueError(f"amp must be finite, got {self.amp!r}")
        if not isinstance(self.freq, (int, np.integer)) or isinstance(self.freq, bool) or self.freq < 1:
            raise ValueError(f"freq must be a positive int (so that u(0) = u(1) = 0), got {self.freq!r}")
        self.n_f = _check_positive_int("n_f", self.n_f)
        self.n_test = _check_positive_int("n_test", self.n_test)
        super().__post_init__()

    def _sample(self, g):
        if self.grid:
            x_f = torch.linspace(0, 1, self.n_f + 2, dtype=torch.float64)[1:-1, None]
        else:
            x_f = torch.rand(self.n_f, 1, generator=g, dtype=torch.float64)
        return x_f, torch.tensor([[0.0], [1.0]], dtype=torch.float64)

    def exact(self, x):
        x = torch.as_tensor(x)[:, 0]
        return torch.sin(2 * math.pi * x) + self.amp * torch.sin(self.freq * math.pi * x)

    def forcing(self, x):
        x = torch.as_tensor(x)[:, 0]
        k = self.freq * math.pi
        return (2 * math.pi) ** 2 * torch.sin(2 * math.pi * x) + self.amp * k**2 * torch.sin(k * x)

    def _residual(self, u, x):
        u_xx = _grad(_grad(u, x)[:, 0], x)[:, 0]
        return -u_xx - self.forcing(x)

    def test_points(self):
        return torch.linspace(0, 1, self.n_test, dtype=torch.float64)[:, None]

    def default_model(self, widths=None, activation="tanh", **kw):
        """Li, Chen & Huang 2023, Fig. 1: 5 layers of 200 tanh units; ``widths`` lists the hidden widths."""
        return mlp([1, *_hidden(widths, [200] * 5), 1], activation, **kw)


def poisson1d_low(**kw) -> Poisson1D:
    """``u_L(x) = sin(2 pi x)`` (Li, Chen & Huang 2023, sec. 2.2, Fig. 1a)."""
    return Poisson1D(amp=0.0, **kw)


def poisson1d_multiscale(freq: int = 50, amp: float = 0.1, **kw) -> Poisson1D:
    """``u_H(x) = sin(2 pi x) + 0.1 sin(50 pi x)`` (Li, Chen & Huang 2023, sec. 2.2, Fig. 1b)."""
    return Poisson1D(amp=amp, freq=freq, **kw)


# --------------------------------------------------------------------------------------
@dataclass(eq=False)
class PerturbedODE(PINNProblem):
    """Singularly perturbed boundary-value problem of Li, Chen & Huang 2023, eq. 19 (section 4.1).

    ``-eps y'' + y' = f`` on (0, 1), ``y(0) = y(1) = 0``, with the exact solution
    ``y(x) = (1 - e^{x/eps}) / (e^{1/eps} - 1) + sin(pi x / 2)`` (boundary layer of width
    ``eps`` at ``x = 1``), evaluated in the overflow-free form
    ``(e^{-1/eps} - e^{(x-1)/eps}) / (1 - e^{-1/eps})``. The loss is Li, Chen & Huang 2023's,
    ``1/2 (|y(0)|^2 + |y(1)|^2) + mean |residual|^2``, i.e. eq. 6 with the mean over the
    two boundary points. ``n_f = 400`` random collocation points; default network: 4
    hidden layers of 50 tanh units. The paper runs ``eps = 2`` and ``eps = 0.01``.
    """

    eps: float = 0.01
    n_f: int = 400
    n_test: int = 4001

    def __post_init__(self) -> None:
        self.dim, self.inputs = 1, ("x",)
        self.eps = float(self.eps)
        if not (self.eps > 0 and math.isfinite(self.eps)):
            raise ValueError(f"eps must be a finite number > 0, got {self.eps!r}")
        self.n_f = _check_positive_int("n_f", self.n_f)
        self.n_test = _check_positive_int("n_test", self.n_test)
        super().__post_init__()

    def _sample(self, g):
        return (torch.rand(self.n_f, 1, generator=g, dtype=torch.float64),
                torch.tensor([[0.0], [1.0]], dtype=torch.float64))

    def exact(self, x):
        x = torch.as_tensor(x)[:, 0]
        e = self.eps
        layer = (math.exp(-1 / e) - torch.exp((x - 1) / e)) / (-math.expm1(-1 / e))
        return layer + torch.sin(0.5 * math.pi * x)

    def forcing(self, x):
        x = torch.as_tensor(x)[:, 0]
        h = 0.5 * math.pi
        return self.eps * h**2 * torch.sin(h * x) + h * torch.cos(h * x)

    def _residual(self, u, x):
        u_x = _grad(u, x)[:, 0]
        u_xx = _grad(u_x, x)[:, 0]
        return -self.eps * u_xx + u_x - self.forcing(x)

    def test_points(self):
        return torch.linspace(0, 1, self.n_test, dtype=torch.float64)[:, None]

    def default_model(self, widths=None, activation="tanh", **kw):
        """Li, Chen & Huang 2023, sec. 4.1: 4 hidden layers of 50 tanh units."""
        return mlp([1, *_hidden(widths, [50] * 4), 1], activation, **kw)


# --------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Square(PINNProblem):
    n_f: int = 4000
    n_b: int = 400
    n_test: int = 101

    def __post_init__(self) -> None:
        self.dim, self.inputs = 2, ("x", "y")
        self.n_f = _check_positive_int("n_f", self.n_f)
        self.n_b = _check_positive_int("n_b", self.n_b)
        self.n_test = _check_positive_int("n_test", self.n_test)
        super().__post_init__()

    def _sample(self, g):
        return _uniform(g, self.n_f, 2, [0.0, 0.0], [1.0, 1.0]), _square_boundary(g, self.n_b)

    def _laplacian(self, u, x):
        du = _grad(u, x)
        return _grad(du[:, 0], x)[:, 0] + _grad(du[:, 1], x)[:, 1]

    def test_points(self):
        if "test_points" not in self._cache:
            s = torch.linspace(0, 1, self.n_test, dtype=torch.float64)
            self._cache["test_points"] = torch.cartesian_prod(s, s)
        return self._cache["test_points"]

    def default_model(self, widths=None, activation="tanh", **kw):
        """Li, Chen & Huang 2023, secs. 4.2-4.3: 6 hidden layers of 100 tanh units."""
        return mlp([2, *_hidden(widths, [100] * 6), 1], activation, **kw)


@dataclass(eq=False)
class Poisson2D(_Square):
    """2-D Poisson problem of Li, Chen & Huang 2023, eq. 20 (section 4.2).

    ``-u_xx - u_yy = f`` on the unit square, ``u = 0`` on the boundary, with
    ``u = sin(pi x) sin(pi y) + amp sin(freq pi x) sin(freq pi y)`` (paper: ``amp = 0.1``,
    ``freq = 10``). ``n_b = 400`` random boundary points, ``n_f = 4000`` random interior
    points; test grid ``n_test x n_test``. Residual sign follows eq. 20 (see the module
    docstring for the paper's sign slip in the loss).
    """

    amp: float = 0.1
    freq: int = 10

    def __post_init__(self) -> None:
        self.amp = float(self.amp)
        if not isinstance(self.freq, (int, np.integer)) or isinstance(self.freq, bool) or self.freq < 1:
            raise ValueError(f"freq must be a positive int, got {self.freq!r}")
        super().__post_init__()

    def exact(self, x):
        x = torch.as_tensor(x)
        a, b = x[:, 0], x[:, 1]
        k = self.freq * math.pi
        return torch.sin(math.pi * a) * torch.sin(math.pi * b) + self.amp * torch.sin(k * a) * torch.sin(k * b)

    def forcing(self, x):
        x = torch.as_tensor(x)
        a, b = x[:, 0], x[:, 1]
        k = self.freq * math.pi
        return (2 * math.pi**2 * torch.sin(math.pi * a) * torch.sin(math.pi * b)
                + self.amp * 2 * k**2 * torch.sin(k * a) * torch.sin(k * b))

    def _residual(self, u, x):
        return -self._laplacian(u, x) - self.forcing(x)


@dataclass(eq=False)
class Helmholtz2D(_Square):
    """2-D Helmholtz problem of Li, Chen & Huang 2023, eq. 21 (section 4.3).

    ``u_xx + u_yy + k^2 u = f`` on the unit square, ``u = 0`` on the boundary, with
    ``u = sin(a1 pi x) sin(a2 pi y)`` (paper: ``k = 4``, ``a1 = 1``, ``a2 = 4``), so
    ``f = (k^2 - (a1^2 + a2^2) pi^2) u``. Sampling as :class:`Poisson2D`.
    """

    k: float = 4.0
    a1: int = 1
    a2: int = 4

    def __post_init__(self) -> None:
        self.k = float(self.k)
        if not math.isfinite(self.k):
            raise ValueError(f"k must be finite, got {self.k!r}")
        for name in ("a1", "a2"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        super().__post_init__()

    def exact(self, x):
        x = torch.as_tensor(x)
        return torch.sin(self.a1 * math.pi * x[:, 0]) * torch.sin(self.a2 * math.pi * x[:, 1])

    def forcing(self, x):
        return (self.k**2 - (self.a1**2 + self.a2**2) * math.pi**2) * self.exact(x)

    def _residual(self, u, x):
        return self._laplacian(u, x) + self.k**2 * u - self.forcing(x)


# --------------------------------------------------------------------------------------
def rel_l2(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``|pred - y|_2 / |y|_2`` (not squared): the relative L2 error the PINN chapters report."""
    if pred.shape != y.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} != target shape {tuple(y.shape)}")
    return torch.linalg.vector_norm(pred - y) / torch.linalg.vector_norm(y).clamp_min(torch.finfo(y.dtype).tiny)


def max_abs(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``max |pred - y|``: the absolute error Li, Chen & Huang 2023 quotes (Figs. 3d, 4d)."""
    if pred.shape != y.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} != target shape {tuple(y.shape)}")
    return (pred - y).abs().max()


class PINNModel(nn.Module):
    """A network and a PINN problem as one model for :func:`savlib.train.fit`.

    ``forward(x)`` is the network's value ``u(x)`` as an ``(N,)`` tensor. ``fit`` trains on
    :meth:`training_loss` (its hook for models with their own objective): the loss of
    Li, Chen & Huang 2023 eq. 6 (``problem.loss``) with the batch ``x`` as collocation points and all
    boundary/initial points of ``data`` every step, so mini-batches of ``fit`` are
    mini-batches of collocation points (Li, Chen & Huang 2023 sec. 4.1 trains with batches of 40 of
    the 400 points). The loss is computed with gradients enabled even when the optimizer
    re-evaluates it under ``torch.no_grad()`` (relaxed SAV), because the residual needs
    input derivatives; it is then returned detached.

    Counters: ``evals`` (loss evaluations with gradients enabled, i.e. gradient
    evaluations) and ``evals_no_grad`` (forward-only re-evaluations); both count closure
    calls, the cost unit of book chapter "Implicit SGD and SAV on PINNs".

    Args:
        problem: a :class:`PINNProblem`.
        net: a module mapping ``(N, d)`` to ``(N, 1)`` or ``(N,)`` (e.g. ``problem.default_model()``).
        data: collocation and boundary points (default ``problem.data``), moved to the
            network's device and dtype.
    """

    def __init__(self, problem: PINNProblem, net: nn.Module, data: PINNData | None = None):
        super().__init__()
        if not isinstance(problem, PINNProblem):
            raise TypeError(f"problem must be a PINNProblem, got {type(problem).__name__}")
        if not isinstance(net, nn.Module):
            raise TypeError(f"net must be an nn.Module, got {type(net).__name__}")
        if data is not None and not isinstance(data, PINNData):
            raise TypeError(f"data must be a PINNData (from problem.sample()), got {type(data).__name__}")
        self.problem = problem
        self.net = net
        dev, dt = _model_like(net)
        self.data = problem._data_like(data, dev, dt) if data is not None else problem.data.to(dev, dt)
        self.evals = 0
        self.evals_no_grad = 0

    def _apply(self, fn, *args, **kw):  # keep the points on the network's device/dtype
        out = super()._apply(fn, *args, **kw)
        dev, dt = _model_like(self.net)
        self.data = self.data.to(dev, dt)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.problem._eval(self.net, x)

    def training_loss(self, loss_fn, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """PINN loss with collocation points ``x`` (``loss_fn`` and ``y`` are ignored: they
        are the data loss ``fit`` would use for an ordinary model)."""
        grad = torch.is_grad_enabled()
        with torch.enable_grad():
            loss = self.problem.loss(self.net, PINNData(x, self.data.x_b, self.data.u_b))
        if grad:
            self.evals += 1
            return loss
        self.evals_no_grad += 1
        return loss.detach()

    def split(self):
        """A :class:`savlib.problems.Split` for :func:`savlib.train.fit`: train rows are the
        collocation points with the exact solution there, test rows the problem's test grid
        with its (cached, float64) reference, both in the network's dtype; loss MSE against
        the exact solution (a diagnostic: training uses :meth:`training_loss`), metrics
        ``rel_l2`` and ``max_abs``."""
        from .regression import Split, mse

        dev, dt = _model_like(self.net)
        x_f = self.data.x_f
        with torch.no_grad():
            y_f = self.problem.exact(x_f.to(torch.float64).cpu()).to(dev, dt)
        x_te = self.problem.test_points().to(dev, dt)
        y_te = self.problem.reference().to(dev, dt)
        return Split(x_f, y_f, x_te, y_te, name=type(self.problem).__name__, loss_fn=mse,
                     metrics={"rel_l2": rel_l2, "max_abs": max_abs},
                     info={"problem": repr(self.problem), "n_f": int(x_f.shape[0]),
                           "n_b": int(self.data.x_b.shape[0]), "n_test": int(x_te.shape[0])})
