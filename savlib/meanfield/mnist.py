"""MNIST as functions on Y = (0,1)^2: the mean-field residual network on a real task.

Liu & Markowich 2020, sections 2.3-2.4 (classification head, eq. 2.9) and 5.1
(adjoint gradients, Algorithm 1 = PAM). Book chapter "The MNIST experiment"
(``book/meanfield/mnist.ipynb``); command line
``python -m savlib.experiments meanfield_mnist [--quick|--full]``.

Each 28 x 28 image is a function ``f_I`` on ``Y = (0,1)^2``, piecewise constant on the
cells of ``Grid(2, 28)`` (N = 784); on a coarser ``Grid(2, cells)`` it is replaced by its
cell averages (``cells = 14`` is 2 x 2 average pooling). The network is the forward-Euler
solve of eq. 2.8 with ``steps`` layers of step ``dt = T / steps``, read out by
``O = int W(., z) f(z, T) dz + mu`` (eq. 2.9) with the softmax cross-entropy.

Three ways to train the same network from the same initial parameters:

* :func:`train_adjoint` -- minibatch gradient descent with the discrete adjoint gradients
  (``savlib.meanfield.gradient_descent``), any ``torch.optim`` optimizer or savlib scheme
  (e.g. adaptive relaxed SAV) as the outer optimizer;
* :func:`train_pam` -- Algorithm 1 (``savlib.meanfield.pam``), full batch, monotone;
* :func:`train_torch` -- the plain torch residual network :class:`ResNet`
  (``x_{l+1} = x_l + dt sigma(a_l - B_l x_l)``, logits ``x_L W^T + mu``), trained by autograd.

:class:`ResNet` with ``B_l = volume * b_l`` and ``W = volume * W_mf`` computes *the same
function* as the mean-field network (a change of variables, :meth:`ResNet.from_meanfield`),
so the comparison is between training procedures, not model classes. With the weights of
:func:`network_weights` the adjoint optimizer works in the ResNet's own coordinates; then
adjoint + Adam and autograd + Adam take the same steps on the same minibatches.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from .._figures import finish
from ..config import generator, get_device
from .activations import get_activation
from .adjoint import predict
from .control import classifier_objective, gradient_descent, pam
from .grid import Grid

__all__ = ["MNISTFunctions", "mnist_functions", "init_network", "network_weights", "ResNet",
           "RunRecord", "train_adjoint", "train_torch", "train_pam", "evaluate",
           "minibatch_indices", "persistent_optimizer", "mnist_experiment", "plot_mnist",
           "MNIST_SIZES", "LARGE_LR", "METHODS", "stats", "gradient_check"]

CLASSES = 10
SIDE = 28


@dataclass
class MNISTFunctions:
    """MNIST images as functions on a grid of Y = (0,1)^2 (cell values, shape ``(n, N)``)."""

    grid: Grid
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    info: dict = field(default_factory=dict)


def mnist_functions(n_train: int, n_test: int, *, cells: int = 28, seed: int = 0, device=None,
                    dtype: torch.dtype = torch.float32, root=None) -> MNISTFunctions:
    """Load a seeded MNIST subsample (``savlib.problems.mnist``, SHA-256 verified) as
    functions on ``Grid(2, cells)``: pixel ``(i, j)`` is the value on the cell whose centre
    is ``((i + 1/2)/28, (j + 1/2)/28)`` (row-major, like :class:`Grid`). ``cells`` must
    divide 28; ``cells < 28`` averages over blocks of ``28/cells`` pixels (cell averages,
    :meth:`Grid.coarsen`). Pixels are in [0, 1]."""
    from ..problems.mnist import mnist

    if isinstance(cells, bool) or not isinstance(cells, int) or cells < 1 or SIDE % cells:
        raise ValueError(f"cells must be an int dividing 28 (28, 14, 7, 4, 2, 1), got {cells!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    data = mnist(n_train=n_train, n_test=n_test, seed=seed, device=device, dtype=dtype, root=root)
    grid = Grid(2, cells)
    xtr, xte = data.x_train, data.x_test
    if cells != SIDE:
        fine = Grid(2, SIDE)
        xtr, xte = grid.coarsen(xtr, fine), grid.coarsen(xte, fine)
    info = dict(data.info)
    info.update(cells=cells, N=grid.N, pooling=SIDE // cells)
    return MNISTFunctions(grid, xtr.contiguous(), data.y_train, xte.contiguous(), data.y_test, info)


def init_network(grid: Grid, steps: int, classes: int = CLASSES, *, gain_b: float = 1.0,
                 gain_W: float = 1.0, dtype: torch.dtype = torch.float32, device=None,
                 generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Initial parameters ``{"a", "b", "W", "mu"}`` of the mean-field network.

    ``a = 0``, ``mu = 0``; the kernel ``b`` and the head ``W`` are Gaussian, scaled so that
    the ResNet's matrices ``B_l = volume * b_l`` and ``volume * W`` have entries of standard
    deviation ``gain / sqrt(N)`` (the usual fan-in scaling: the operator norm of ``B_l``
    stays near ``2 gain`` on every grid), i.e. ``b`` has standard deviation
    ``gain * sqrt(N)`` since ``volume = 1/N``."""
    for name, v in (("gain_b", gain_b), ("gain_W", gain_W)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"classes must be an int >= 1, got {classes!r}")
    N = grid.N
    s = math.sqrt(N)
    b = gain_b * s * torch.randn(steps, N, N, generator=generator, dtype=torch.float64)
    W = gain_W * s * torch.randn(classes, N, generator=generator, dtype=torch.float64)
    p = {"a": torch.zeros(steps, N, dtype=torch.float64), "b": b, "W": W,
         "mu": torch.zeros(classes, dtype=torch.float64)}
    dev = get_device(device)
    return {k: v.to(device=dev, dtype=dtype) for k, v in p.items()}


def network_weights(grid: Grid) -> dict[str, float]:
    """Metric weights for ``gradient_descent`` / ``pam`` (``weights=``) under which the
    optimizer's coordinates ``sqrt(w) p`` are the ResNet's parameters ``a``,
    ``B = volume * b``, ``volume * W``, ``mu`` (see :class:`ResNet`)."""
    v2 = grid.volume ** 2
    return {"a": 1.0, "b": v2, "W": v2, "mu": 1.0}


class ResNet(torch.nn.Module):
    """The plain residual network of Liu & Markowich 2020 eq. 2.1 with the head of eq. 2.9:
    ``x_{l+1} = x_l + dt sigma(a_l - x_l B_l^T)``, ``l = 0..L-1``, ``dt = T/L``, logits
    ``x_L W^T + mu``. Parameters ``a (L, N)``, ``B (L, N, N)``, ``W (K, N)``, ``mu (K,)``,
    trained by torch autograd.

    It is the mean-field network (``forward(..., method="euler")`` + ``head_logits``) under
    ``B = volume * b``, ``W = volume * W_mf``: the same function class, the same width N
    and depth L. Build one from mean-field parameters with :meth:`from_meanfield`."""

    def __init__(self, N: int, steps: int, classes: int = CLASSES, T: float = 1.0, sigma="relu", *,
                 dtype=torch.float32, device=None):
        super().__init__()
        if not (isinstance(T, (int, float)) and T > 0 and math.isfinite(T)):
            raise ValueError(f"T must be a finite number > 0, got {T!r}")
        for name, v in (("N", N), ("steps", steps), ("classes", classes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        self.T, self.steps, self.dt = float(T), steps, float(T) / steps
        self.act = get_activation(sigma)
        kw = dict(dtype=dtype, device=device)
        self.a = torch.nn.Parameter(torch.zeros(steps, N, **kw))
        self.B = torch.nn.Parameter(torch.zeros(steps, N, N, **kw))
        self.W = torch.nn.Parameter(torch.zeros(classes, N, **kw))
        self.mu = torch.nn.Parameter(torch.zeros(classes, **kw))

    @classmethod
    def from_meanfield(cls, params: dict[str, Tensor], grid: Grid, T: float = 1.0,
                       sigma="relu") -> "ResNet":
        """The ResNet computing the same function as the mean-field parameters ``params``."""
        a = params["a"]
        net = cls(grid.N, a.shape[0], params["W"].shape[0], T, sigma, dtype=a.dtype, device=a.device)
        with torch.no_grad():
            net.a.copy_(params["a"])
            net.B.copy_(params["b"] * grid.volume)
            net.W.copy_(params["W"] * grid.volume)
            net.mu.copy_(params["mu"])
        return net

    def to_meanfield(self, grid: Grid) -> dict[str, Tensor]:
        """The mean-field parameters ``{"a", "b", "W", "mu"}`` of this network."""
        if grid.N != self.a.shape[1]:
            raise ValueError(f"grid has N={grid.N} cells but the network has width {self.a.shape[1]}")
        v = grid.volume
        return {"a": self.a.detach().clone(), "b": self.B.detach() / v,
                "W": self.W.detach() / v, "mu": self.mu.detach().clone()}

    def forward(self, x: Tensor) -> Tensor:
        for l in range(self.steps):
            x = x + self.dt * self.act.fn(torch.addmm(self.a[l], x, self.B[l].t(), alpha=-1.0))
        return torch.addmm(self.mu, x, self.W.t())


@dataclass
class RunRecord:
    """What one training run measured, per epoch (``seconds``: training time only, without
    the evaluations). ``evals``: cost evaluations (forward solves, with or without the
    adjoint sweep). ``cpu_seconds``: the process's CPU time over the same spans (robust to
    other programs sharing the machine; equal to the wall time on an idle machine when
    torch runs one thread). ``train_loss``: mean minibatch loss of the epoch (PAM: the full-batch
    J after the outer step, ``J0`` before the first)."""

    name: str
    train_loss: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    cpu_seconds: list = field(default_factory=list)
    evals: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "train_loss": list(self.train_loss), "test_acc": list(self.test_acc),
                "seconds": list(self.seconds), "cpu_seconds": list(self.cpu_seconds),
                "evals": self.evals, "extra": dict(self.extra)}


def evaluate(params: dict[str, Tensor], x: Tensor, y: Tensor, grid: Grid, T: float = 1.0,
             sigma="relu", chunk: int = 2048) -> tuple[float, float]:
    """``(accuracy, cross-entropy)`` of the mean-field network on ``(x, y)``."""
    O = predict(x, params["a"], params["b"], params["W"], params["mu"], grid, T, "euler", sigma,
                chunk=chunk)
    acc = float((O.argmax(1) == y).to(torch.float64).mean())
    return acc, float(torch.nn.functional.cross_entropy(O.double(), y))


def minibatch_indices(n: int, batch_size: int, generator: torch.Generator) -> Callable[[], Tensor]:
    """The minibatch stream of ``classifier_objective(..., batch_size, generator)``: each
    call returns ``randperm(n)[:batch_size]``. The objective draws once when it is built
    and once before every iteration; :func:`train_torch` draws the same way, so both see
    the same batches for the same seed."""
    def draw() -> Tensor:
        return torch.randperm(n, generator=generator)[:batch_size]
    return draw


def persistent_optimizer(factory: Callable) -> Callable:
    """Wrap an optimizer factory ``tensors -> Optimizer`` so that its state (Adam moments,
    the SAV variable r) carries over between calls of ``gradient_descent`` (which builds a
    new optimizer on new tensors each call); lets a run be split into epochs."""
    holder: dict[str, Any] = {}

    def make(tensors):
        opt = factory(tensors)
        if "opt" in holder:
            opt.load_state_dict(holder["opt"].state_dict())
        holder["opt"] = opt
        return opt
    make.holder = holder
    return make


def _check_run_args(epochs, batch_size, n):
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an int >= 0, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be an int in [1, n_train={n}], got {batch_size!r}")


def train_adjoint(data: MNISTFunctions, params: dict[str, Tensor], optimizer: Callable, *,
                  epochs: int, batch_size: int, T: float = 1.0, sigma="relu", weights=None,
                  seed: int = 0, name: str = "adjoint", progress: bool = False):
    """Minibatch training by the discrete adjoint (Liu & Markowich 2020 section 5.1): ``gradient_descent``
    on ``classifier_objective(..., loss="xent", batch_size=...)`` with ``optimizer`` (a
    factory ``tensors -> Optimizer``, e.g. ``lambda ps: RelSAV(ps, lr, adaptive=True)``),
    ``ceil(n_train / batch_size)`` iterations per epoch; the optimizer state persists
    across epochs. ``weights``: the metric (default :func:`network_weights`).
    For a savlib scheme, ``RunRecord.extra["diagnostics"]`` holds its ``diagnostics``
    (``r``, ``step_scale``, ...) after the last step of every epoch.
    Returns ``(params, RunRecord)``."""
    grid = data.grid
    n = data.x_train.shape[0]
    _check_run_args(epochs, batch_size, n)
    w = network_weights(grid) if weights is None else weights
    gen = generator(seed)
    obj = classifier_objective(data.x_train, data.y_train, grid, T, "euler", sigma, "xent",
                               batch_size=batch_size, generator=gen)
    iters = math.ceil(n / batch_size)
    opt = persistent_optimizer(optimizer)
    rec = RunRecord(name)
    bar = _bar(epochs, progress, name)
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        params, h = gradient_descent(obj, params, lr=1.0, iters=iters, weights=w, optimizer=opt)
        rec.seconds.append(time.perf_counter() - t0)
        rec.cpu_seconds.append(time.process_time() - c0)
        rec.evals += h.evals
        rec.train_loss.append(sum(h.J[:-1]) / iters)
        diag = getattr(opt.holder.get("opt"), "diagnostics", None)
        if diag:  # savlib schemes: the state of the last step (e.g. SAV's r and step_scale)
            rec.extra.setdefault("diagnostics", []).append(
                {k: float(v) for k, v in diag.items() if isinstance(v, Tensor) and v.numel() == 1})
        rec.test_acc.append(evaluate(params, data.x_test, data.y_test, grid, T, sigma)[0])
        _tick(bar, rec)
    _close(bar)
    return params, rec


def train_torch(data: MNISTFunctions, params: dict[str, Tensor], optimizer: Callable, *,
                epochs: int, batch_size: int, T: float = 1.0, sigma="relu", seed: int = 0,
                name: str = "torch", progress: bool = False):
    """The baseline: :class:`ResNet` built from the same initial ``params``, trained by
    autograd with ``optimizer`` (a factory ``parameters -> Optimizer``, e.g.
    ``lambda ps: torch.optim.Adam(ps, 1e-3)``) on the minibatches of
    :func:`minibatch_indices` (the same stream as :func:`train_adjoint` for the same seed).
    Returns ``(mean-field params of the trained network, RunRecord)``."""
    grid = data.grid
    n = data.x_train.shape[0]
    _check_run_args(epochs, batch_size, n)
    net = ResNet.from_meanfield(params, grid, T, sigma)
    opt = optimizer(list(net.parameters()))
    draw = minibatch_indices(n, batch_size, generator(seed))
    draw()  # classifier_objective draws one batch when built; stay in step with it
    iters = math.ceil(n / batch_size)
    rec = RunRecord(name)
    bar = _bar(epochs, progress, name)
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        tot = 0.0
        for _it in range(iters):
            idx = draw().to(data.x_train.device)
            x, y = data.x_train[idx], data.y_train[idx]

            def closure():
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(net(x), y)
                if torch.is_grad_enabled():
                    loss.backward()
                rec.evals += 1
                return loss
            tot += float(opt.step(closure).detach())
        rec.seconds.append(time.perf_counter() - t0)
        rec.cpu_seconds.append(time.process_time() - c0)
        rec.train_loss.append(tot / iters)
        rec.test_acc.append(evaluate(net.to_meanfield(grid), data.x_test, data.y_test, grid, T, sigma)[0])
        _tick(bar, rec)
    _close(bar)
    return net.to_meanfield(grid), rec


def train_pam(data: MNISTFunctions, params: dict[str, Tensor], *, outer: int, n_pam: int | None = None,
              tau: float = 1.0, inner: int = 2, lr: float = 1.0, T: float = 1.0, sigma="relu",
              weights=None, name: str = "PAM", progress: bool = False):
    """Liu & Markowich 2020 Algorithm 1 (``savlib.meanfield.pam``) with the blocks ``a | b | (W, mu)``
    on the full-batch cross-entropy of the first ``n_pam`` training images (default all):
    PAM compares costs in its line search and its monotone decrease is a statement about
    one fixed cost, so it is run full batch. One record entry per outer step; the
    monotone-decrease check of ``pam`` is on (a violation raises). ``pam`` is called once per
    outer step (to record the test accuracy in between), so its backtracking step size
    restarts from ``lr`` at every outer step. ``weights``: the metric
    (default :func:`network_weights`). Returns ``(params, RunRecord)``; ``extra`` holds
    ``J`` (the full-batch cost before and after every outer step) and ``decrease``
    (the slack of the sufficient-decrease inequality)."""
    grid = data.grid
    if isinstance(outer, bool) or not isinstance(outer, int) or outer < 0:
        raise ValueError(f"outer must be an int >= 0, got {outer!r}")
    n = data.x_train.shape[0] if n_pam is None else n_pam
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= data.x_train.shape[0]:
        raise ValueError(f"n_pam must be an int in [1, {data.x_train.shape[0]}], got {n_pam!r}")
    w = network_weights(grid) if weights is None else weights
    obj = classifier_objective(data.x_train[:n], data.y_train[:n], grid, T, "euler", sigma, "xent")
    rec = RunRecord(name)
    rec.extra.update(n_pam=n, tau=tau, inner=inner, lr=lr, J=[], decrease=[])
    bar = _bar(outer, progress, name)
    for k in range(outer):
        t0, c0 = time.perf_counter(), time.process_time()
        params, h = pam(obj, params, tau=tau, outer=1, inner=inner, lr=lr,
                        blocks=(("a",), ("b",), ("W", "mu")), weights=w)
        rec.seconds.append(time.perf_counter() - t0)
        rec.cpu_seconds.append(time.process_time() - c0)
        rec.evals += h.evals
        if k == 0:
            rec.extra["J"].append(h.J[0])
        rec.extra["J"].append(h.J[-1])
        rec.extra["decrease"].extend(h.decrease)
        rec.train_loss.append(h.J[-1])
        rec.test_acc.append(evaluate(params, data.x_test, data.y_test, grid, T, sigma)[0])
        _tick(bar, rec)
    _close(bar)
    return params, rec


def _bar(total, progress, desc):
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc)


def _tick(bar, rec):
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{rec.train_loss[-1]:.3f}", acc=f"{rec.test_acc[-1]:.3f}")


def _close(bar):
    if bar is not None:
        bar.close()


# ------------------------------------------------------------------ checks and the experiment
def gradient_check(data: MNISTFunctions, params: dict[str, Tensor], *, n: int = 64, T: float = 1.0,
                   sigma="relu") -> dict[str, float]:
    """Relative differences, per parameter, between the adjoint gradients of
    ``classifier_loss_and_grad`` (cross-entropy, first ``n`` training images) and torch
    autograd through :class:`ResNet` built from the same parameters, in float64 (the
    ResNet's gradients mapped back by ``dJ/db = volume dJ/dB``, ``dJ/dW = volume dJ/dW_net``).
    Also ``"J"``: the relative difference of the two costs."""
    from .adjoint import classifier_loss_and_grad

    grid = data.grid
    p = {k: v.detach().to(torch.float64) for k, v in params.items()}
    x = data.x_train[:n].to(torch.float64)
    y = data.y_train[:n]
    J, g = classifier_loss_and_grad(x, p["a"], p["b"], y, p["W"], p["mu"], grid, T, "euler", sigma, "xent")
    net = ResNet.from_meanfield(p, grid, T, sigma)
    loss = torch.nn.functional.cross_entropy(net(x), y)
    loss.backward()
    v = grid.volume
    auto = {"a": net.a.grad, "b": net.B.grad * v, "W": net.W.grad * v, "mu": net.mu.grad}
    out = {k: float((g[k] - auto[k]).norm() / auto[k].norm().clamp_min(1e-300)) for k in auto}
    out["J"] = abs(float(J) - float(loss.detach())) / abs(float(loss.detach()))
    return out


#: sizes of :func:`mnist_experiment`: quick (CI, a 14 x 14 grid = 2 x 2 average pooling) and
#: full (the 28 x 28 grid of the issue, 10k / 2k images; about 3.5 minutes per seed on one
#: CPU thread).
MNIST_SIZES: dict[str, dict[str, Any]] = {
    "quick": dict(cells=14, n_train=1000, n_test=500, steps=4, epochs=10, batch_size=100,
                  n_pam=1000, outer=8),
    "full": dict(cells=28, n_train=10_000, n_test=2000, steps=4, epochs=5, batch_size=100,
                 n_pam=2000, outer=6),
}

#: the large-learning-rate comparison of :func:`mnist_experiment` (same at both sizes: a
#: 14 x 14 grid, 1000 / 500 images): Adam and A-RelSAV with each ``C`` at learning rate ``lr``
LARGE_LR: dict[str, Any] = dict(lr=0.3, Cs=[1.0, 100.0], cells=14, n_train=1000, n_test=500,
                                epochs=10, batch_size=100)

#: the training methods :func:`mnist_experiment` compares
METHODS = ("torch-Adam", "adjoint-Adam", "adjoint-A-RelSAV", "PAM")


def _dtype(dtype) -> torch.dtype:
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype.replace("torch.", ""), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype or its name, got {dtype!r}")
    return dtype


def stats(values) -> dict[str, Any]:
    """``{"mean", "std", "min", "max", "n", "values"}`` of a list of numbers (``std``: the
    sample standard deviation, 0 for one value): how results over seeds are summarised."""
    v = [float(x) for x in values]
    if not v:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan"),
                "n": 0, "values": []}
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return {"mean": m, "std": sd, "min": min(v), "max": max(v), "n": len(v), "values": v}


def mnist_experiment(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0,
                     seeds=None, T: float = 1.0, sigma: str = "relu", lr: float = 1e-2, C: float = 1.0,
                     gain_b: float = 1.0, gain_W: float = 0.1, tau: float = 100.0,
                     pam_lr: float = 10.0, inner: int = 3, dtype="float32", methods=METHODS,
                     large_lr: dict | None = LARGE_LR, ctx=None, **overrides) -> dict[str, Any]:
    """Liu & Markowich 2020's network on MNIST (book chapter "The MNIST experiment"): for every seed in
    ``seeds`` (default ``[seed, seed+1, seed+2]`` at full size, ``[seed]`` at quick size;
    the seed draws the image subsample, the initial network and the minibatch order), train
    the same initial network (``init_network``) by

    * ``"torch-Adam"``: :class:`ResNet` + autograd + ``torch.optim.Adam(lr)``;
    * ``"adjoint-Adam"``: adjoint gradients + the same Adam (same coordinates, same batches:
      the same steps, which isolates the cost of adjoint vs autograd);
    * ``"adjoint-A-RelSAV"``: adjoint gradients + savlib's adaptive relaxed SAV
      (Ma, Mao & Shen 2024 Alg. 5; ``RelSAV(lr, C, adaptive=True)``) as the outer optimizer;
    * ``"PAM"``: Algorithm 1, full batch on ``n_pam`` training images, ``outer`` steps;

    and report test accuracy, seconds per epoch (per outer step for PAM), the cost
    evaluations, and the adjoint-vs-autograd gradient check (float64) at the initial
    parameters. With ``large_lr`` (default :data:`LARGE_LR`; ``None`` skips it), also train
    at learning rate ``large_lr["lr"]`` on a small problem with Adam and with A-RelSAV for
    each ``C`` in ``large_lr["Cs"]`` (adjoint gradients), per seed.

    Sizes from :data:`MNIST_SIZES` (``overrides`` replace single entries). The whole
    configuration is declared first (``ctx.declare``); every training run is a resumable
    unit (``ctx.unit``): ``"seed{s}/check"``, ``"seed{s}/Adam-pair"`` (torch-Adam and
    adjoint-Adam together, to compare their final parameters), ``"seed{s}/adjoint-A-RelSAV"``,
    ``"seed{s}/PAM"``, ``"seed{s}/large-lr/{variant}"``. ``summary`` holds mean, spread,
    min and max over seeds (:func:`stats`)."""
    from ..experiments.record import Context

    ctx = ctx or Context()
    if size not in MNIST_SIZES:
        raise ValueError(f"size must be one of {sorted(MNIST_SIZES)}, got {size!r}")
    cfg = dict(MNIST_SIZES[size])
    for k, v in overrides.items():
        if k not in cfg:
            from ..errors import ConfigError
            raise ConfigError(f"unknown override {k!r}; expected one of {sorted(cfg)} or a keyword "
                              "of mnist_experiment")
        cfg[k] = v
    methods = list(methods)
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}; expected some of {METHODS}")
    if SIDE % cfg["cells"]:
        raise ValueError(f"cells must divide 28, got {cfg['cells']!r}")
    dt = _dtype(dtype)
    seeds = [seed + k for k in range(3 if size == "full" else 1)] if seeds is None else [int(s) for s in seeds]
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of ints >= 0, got {seeds!r}")
    if large_lr is not None:
        unknown = set(large_lr) - set(LARGE_LR)
        if unknown:
            raise ValueError(f"unknown large_lr keys {sorted(unknown)}; expected {sorted(LARGE_LR)}")
        large_lr = {**LARGE_LR, **large_lr}
    ctx.declare(**cfg, seeds=seeds, T=T, sigma=sigma, lr=lr, C=C, gain_b=gain_b, gain_W=gain_W, tau=tau,
                pam_lr=pam_lr, inner=inner, dtype=str(dt).replace("torch.", ""), methods=methods,
                large_lr=large_lr, loss="softmax cross-entropy", method="euler")
    from ..schemes import RelSAV

    dev = get_device(device)
    # the first torch.optim optimizer of a process imports torch._dynamo (seconds): do it
    # now so that it is not billed to the first epoch of the first timed run
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    common = dict(epochs=cfg["epochs"], batch_size=cfg["batch_size"], T=T, sigma=sigma, progress=progress)
    cache: dict[str, Any] = {}

    def setup_seed(s):
        """data and initial network of seed ``s`` (loaded once, only if a unit needs them)"""
        if cache.get("seed") != s:
            t0 = time.perf_counter()
            data = mnist_functions(cfg["n_train"], cfg["n_test"], cells=cfg["cells"], seed=s, device=dev,
                                   dtype=dt)
            load = time.perf_counter() - t0
            p0 = init_network(data.grid, cfg["steps"], gain_b=gain_b, gain_W=gain_W, dtype=dt, device=dev,
                              generator=generator(s))
            cache.update(seed=s, data=data, p0=p0, load=load)
        return cache["data"], cache["p0"]

    def check_unit(s):
        data, p0 = setup_seed(s)
        return {"gradient_check": gradient_check(data, p0, T=T, sigma=sigma),
                "initial_test_acc": evaluate(p0, data.x_test, data.y_test, data.grid, T, sigma)[0],
                "load_seconds": cache["load"]}

    def finish_run(data, params, rec):
        d = rec.as_dict()
        d["final_train_acc"] = evaluate(params, data.x_train, data.y_train, data.grid, T, sigma)[0]
        return d

    def pair_unit(s):
        data, p0 = setup_seed(s)
        out, fin = {}, {}
        for m in ("torch-Adam", "adjoint-Adam"):
            if m not in methods:
                continue
            train = train_torch if m == "torch-Adam" else train_adjoint
            fin[m], rec = train(data, p0, lambda ps: torch.optim.Adam(ps, lr=lr), name=m, seed=s, **common)
            out[m] = finish_run(data, fin[m], rec)
        if len(fin) == 2:
            pa, pt = fin["adjoint-Adam"], fin["torch-Adam"]
            out["param_reldiff"] = max(float((pa[k] - pt[k]).norm() / pt[k].norm().clamp_min(1e-30)) for k in pt)
        return out

    def relsav_unit(s):
        data, p0 = setup_seed(s)
        p, rec = train_adjoint(data, p0, lambda ps: RelSAV(ps, lr=lr, C=C, adaptive=True),
                               name="adjoint-A-RelSAV", seed=s, **common)
        return finish_run(data, p, rec)

    def pam_unit(s):
        data, p0 = setup_seed(s)
        p, rec = train_pam(data, p0, outer=cfg["outer"], n_pam=cfg["n_pam"], tau=tau, inner=inner, lr=pam_lr,
                           T=T, sigma=sigma, name="PAM", progress=progress)
        return finish_run(data, p, rec)

    def large_unit(s, variant, Cv):
        L = large_lr
        small = mnist_functions(L["n_train"], L["n_test"], cells=L["cells"], seed=s, device=dev, dtype=dt)
        q0 = init_network(small.grid, cfg["steps"], gain_b=gain_b, gain_W=gain_W, dtype=dt, device=dev,
                          generator=generator(s))
        opt = ((lambda ps: torch.optim.Adam(ps, lr=L["lr"])) if Cv is None
               else (lambda ps: RelSAV(ps, lr=L["lr"], C=Cv, adaptive=True)))
        _, rec = train_adjoint(small, q0, opt, epochs=L["epochs"], batch_size=L["batch_size"], T=T, sigma=sigma,
                               seed=s, name=variant, progress=progress)
        diag = rec.extra.get("diagnostics", [])
        return {"train_loss": rec.train_loss, "test_acc": rec.test_acc,
                "step_scale": [dd.get("step_scale", float("nan")) for dd in diag],
                "r": [dd.get("r", float("nan")) for dd in diag]}

    checks: dict[str, Any] = {}
    runs: dict[str, dict[str, Any]] = {m: {} for m in methods}
    reldiff: dict[str, float] = {}
    large: dict[str, dict[str, Any]] = {}
    variants = {}
    if large_lr is not None:
        variants = {"Adam": None, **{f"A-RelSAV, C = {Cv:g}": float(Cv) for Cv in large_lr["Cs"]}}
    for s in seeds:
        key = str(s)
        checks[key] = ctx.unit(f"seed{s}/check", lambda: check_unit(s))
        if "torch-Adam" in methods or "adjoint-Adam" in methods:
            pair = ctx.unit(f"seed{s}/Adam-pair", lambda: pair_unit(s))
            for m in ("torch-Adam", "adjoint-Adam"):
                if m in pair:
                    runs[m][key] = pair[m]
            if "param_reldiff" in pair:
                reldiff[key] = pair["param_reldiff"]
        if "adjoint-A-RelSAV" in methods:
            runs["adjoint-A-RelSAV"][key] = ctx.unit(f"seed{s}/adjoint-A-RelSAV", lambda: relsav_unit(s))
        if "PAM" in methods:
            runs["PAM"][key] = ctx.unit(f"seed{s}/PAM", lambda: pam_unit(s))
        for v, Cv in variants.items():
            large.setdefault(v, {})[key] = ctx.unit(f"seed{s}/large-lr/{v}", lambda: large_unit(s, v, Cv))

    grid = Grid(2, cfg["cells"])
    n_par = cfg["steps"] * grid.N * (grid.N + 1) + CLASSES * (grid.N + 1)

    def over_seeds(fn):
        return {m: stats([fn(r) for r in runs[m].values()]) for m in methods}

    summary = {
        "final_test_acc": over_seeds(lambda r: r["test_acc"][-1]),
        "final_train_acc": over_seeds(lambda r: r["final_train_acc"]),
        "cpu_seconds_per_epoch": over_seeds(lambda r: _median(r["cpu_seconds"])),
        "seconds_per_epoch": over_seeds(lambda r: _median(r["seconds"])),
        "evals_per_epoch": over_seeds(lambda r: r["evals"] / max(1, len(r["seconds"]))),
        "initial_test_acc": stats([c["initial_test_acc"] for c in checks.values()]),
        "gradient_check_max": stats([max(c["gradient_check"].values()) for c in checks.values()]),
    }
    res: dict[str, Any] = {
        "size": size, "device": str(dev), "dtype": str(dt).replace("torch.", ""),
        "torch_threads": torch.get_num_threads(), "config": cfg, "seeds": seeds,
        "hyper": dict(T=T, sigma=sigma, lr=lr, C=C, gain_b=gain_b, gain_W=gain_W, tau=tau,
                      pam_lr=pam_lr, inner=inner, loss="softmax cross-entropy", method="euler"),
        "grid": {"dim": 2, "cells": grid.cells, "N": grid.N}, "parameters": n_par,
        "checks": checks, "runs": runs, "summary": summary,
        "gradient_check": {k: max(c["gradient_check"][k] for c in checks.values())
                           for k in next(iter(checks.values()))["gradient_check"]},
    }
    if "torch-Adam" in methods and "adjoint-Adam" in methods:
        res["adjoint_vs_torch_param_reldiff"] = stats(reldiff.values())
        res["adjoint_over_autograd_cpu_per_epoch"] = stats(
            [_median(runs["adjoint-Adam"][k]["cpu_seconds"]) / _median(runs["torch-Adam"][k]["cpu_seconds"])
             for k in runs["torch-Adam"]])
        res["adjoint_minus_torch_test_acc"] = stats(
            [runs["adjoint-Adam"][k]["test_acc"][-1] - runs["torch-Adam"][k]["test_acc"][-1]
             for k in runs["torch-Adam"]])
    if "PAM" in methods:
        Js = [r["extra"]["J"] for r in runs["PAM"].values()]
        res["pam_monotone"] = all(J[k + 1] <= J[k] for J in Js for k in range(len(J) - 1))
        slack = [x for r in runs["PAM"].values() for x in r["extra"]["decrease"]]
        res["pam_min_decrease_slack"] = min(slack) if slack else None
        res["pam_final_over_initial_J"] = stats([J[-1] / J[0] for J in Js])
    if large:
        res["large_lr"] = {"config": large_lr, "runs": large, "summary": {
            v: {"first_epoch_loss": stats([r["train_loss"][0] for r in rs.values()]),
                "final_test_acc": stats([r["test_acc"][-1] for r in rs.values()]),
                "last_step_scale": stats([r["step_scale"][-1] if r["step_scale"] else 1.0 for r in rs.values()])}
            for v, rs in large.items()}}
    return res


def _median(xs):
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = len(s) // 2
    return s[k] if len(s) % 2 else 0.5 * (s[k - 1] + s[k])


def _band(ax, curves, style, label, x0=1, color=None):
    """mean over seeds with a min-max band"""
    n = min(len(c) for c in curves)
    if n == 0:
        return
    xs = list(range(x0, x0 + n))
    t = torch.tensor([c[:n] for c in curves], dtype=torch.float64)
    line, = ax.plot(xs, t.mean(0).tolist(), style, ms=3, label=label, color=color)
    if len(curves) > 1:
        ax.fill_between(xs, t.min(0).values.tolist(), t.max(0).values.tolist(), alpha=0.2,
                        color=line.get_color())


def plot_mnist(res: dict[str, Any], path: str | Path | None = None):
    """Training loss and test accuracy per epoch (per outer step for PAM) of every method of
    :func:`mnist_experiment` (mean over seeds, band: min to max), CPU seconds per epoch, and,
    when present, the large-learning-rate runs; saved to ``path`` (and closed) when given,
    else the figure is returned."""
    import matplotlib.pyplot as plt

    has_large = "large_lr" in res
    fig, ax = plt.subplots(1, 4 if has_large else 3, figsize=(18 if has_large else 14, 3.8))
    acc0 = res["summary"]["initial_test_acc"]["mean"]
    for m, by_seed in res["runs"].items():
        style = "s--" if m == "PAM" else "o-"
        _band(ax[0], [r["train_loss"] for r in by_seed.values()], style, m)
        _band(ax[1], [[acc0] + r["test_acc"] for r in by_seed.values()], style, m, x0=0)
    ax[0].set_yscale("log")
    ax[0].set_xlabel("epoch (PAM: outer step)")
    ax[0].set_ylabel("training cross-entropy")
    ax[1].set_xlabel("epoch (PAM: outer step)")
    ax[1].set_ylabel("test accuracy")
    ax[1].axhline(0.1, color="gray", lw=0.8, ls=":")
    ax[1].legend(fontsize=8)
    cpu = res["summary"]["cpu_seconds_per_epoch"]
    names = list(cpu)
    ax[2].bar(range(len(names)), [cpu[m]["mean"] for m in names],
              yerr=[[cpu[m]["mean"] - cpu[m]["min"] for m in names], [cpu[m]["max"] - cpu[m]["mean"] for m in names]])
    ax[2].set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    ax[2].set_ylabel("CPU seconds per epoch (PAM: per outer step)")
    if has_large:
        for i, (v, by_seed) in enumerate(res["large_lr"]["runs"].items()):
            _band(ax[3], [r["train_loss"] for r in by_seed.values()], "o-", v, color=f"C{i}")
        ax[3].set_yscale("log")
        ax[3].set_xlabel("epoch")
        L = res["large_lr"]["config"]
        ax[3].set_ylabel("mean minibatch cross-entropy")
        ax[3].set_title(f"lr {L['lr']}: {L['cells']}x{L['cells']} grid, {L['n_train']} images", fontsize=9)
        ax[3].legend(fontsize=8)
    g = res["grid"]
    fig.suptitle(f"mean-field ResNet on MNIST: grid {g['cells']}x{g['cells']} (N={g['N']}), "
                 f"{res['config']['steps']} layers, {res['config']['n_train']} training images, "
                 f"{len(res['seeds'])} seed(s): mean and min-max band", fontsize=10)
    return finish(fig, path)
