"""Regression problems of Ma, Mao & Shen 2024, Li, Chen & Huang 2023 and the gradient-flow
report, with Ma, Mao & Shen 2024's preprocessing.

Book chapter ``book/particles/regression.ipynb``.

* :func:`sin_cos`      -- Ma, Mao & Shen 2024 Example 1 (eq. 25) / the gradient-flow report's Experiment 1;
* :func:`quadratic`    -- Ma, Mao & Shen 2024 Example 2 (eq. 26) / the gradient-flow report's Experiment 2;
* :func:`gaussian`     -- Ma, Mao & Shen 2024 Example 3 (eq. 27, ``exp(-10 |x|_2)``, variant ``"000"``) /
  the gradient-flow report's Experiment 3 (``exp(-10 |x|^2)``, variant ``"002"``);
* :func:`multiscale`, :func:`discontinuous` -- Li, Chen & Huang 2023 Appendix C.1, eqs. (45)-(46).

Preprocessing (Ma, Mao & Shen 2024 section 3.1): inputs are z-scored, ``x -> (x - mu)/sigma`` per
feature, with the statistics of the whole pool (the paper normalises "before calculation",
i.e. before the split; ``zscore="train"`` uses training statistics only), and the pool of M
points is split 80/20 into train and test (the first 80% of the iid draw).

Loss (Ma, Mao & Shen 2024 says it "takes the relative error as the loss function"): both losses are
offered. Training on the relative error stalls (for targets of
order 100, e.g. Example 2, the gradients shrink by ~|y|^2) while training on the MSE and
*reporting* the relative error reproduces the figures. So every problem trains on
:func:`mse` by default (``Split.loss_fn``) and reports :func:`relative_error` as a metric;
``loss="relative"`` selects the other reading.

The coefficients ``p, q`` (Ex. 1) and ``c`` (Ex. 2) are "given" (000) / "randomly generated"
(002) but never printed; savlib draws ``p, q ~ N(0, I)`` and ``c ~ U(0, 1)^D`` from the
problem's seed (pass your own to override) and records them in ``Split.info``;
``quadratic(coef="normal")`` draws ``c ~ N(0, I)`` as the gradient-flow report's released generator does.
The gradient-flow report's generator also leaves the inputs raw: pass ``zscore=None`` for its setup.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from ..config import generator, get_device

__all__ = [
    "Split",
    "mse",
    "relative_error",
    "sin_cos",
    "quadratic",
    "gaussian",
    "multiscale",
    "discontinuous",
    "multiscale_fn",
    "discontinuous_fn",
    "REGRESSION_PROBLEMS",
    "regression_problem",
]


@dataclass
class Split:
    """A train/test (optionally validation) split of tensors on one device, plus how to score it.

    ``loss_fn(pred, y)`` is the default training loss, ``metrics`` maps a name to a function
    ``(pred, y) -> 0-d tensor`` reported on train and test by :func:`savlib.train.fit`;
    ``info`` records the parameters that generated the data (coefficients, seed, sizes).
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    name: str = ""
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None
    metrics: dict[str, Callable[[Tensor, Tensor], Tensor]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    x_valid: Tensor | None = None
    y_valid: Tensor | None = None

    def __post_init__(self) -> None:
        for a, b in (("x_train", "y_train"), ("x_test", "y_test"), ("x_valid", "y_valid")):
            xa, yb = getattr(self, a), getattr(self, b)
            if xa is None and yb is None:
                continue
            if not isinstance(xa, Tensor) or not isinstance(yb, Tensor):
                raise TypeError(f"{a} and {b} must both be torch.Tensor")
            if xa.shape[0] != yb.shape[0]:
                raise ValueError(f"{a} has {xa.shape[0]} rows but {b} has {yb.shape[0]}")

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    def to(self, device: str | torch.device) -> "Split":
        """A copy with all tensors on ``device``."""
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Split(mv(self.x_train), mv(self.y_train), mv(self.x_test), mv(self.y_test), self.name,
                     self.loss_fn, dict(self.metrics), dict(self.info), mv(self.x_valid), mv(self.y_valid))


def mse(pred: Tensor, y: Tensor) -> Tensor:
    """Mean-squared error ``(1/n) sum_i (f(x_i) - y_i)^2`` (Ma, Mao & Shen 2024 eq. 2, the empirical risk)."""
    if pred.shape != y.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} != target shape {tuple(y.shape)}")
    return ((pred - y) ** 2).mean()


def relative_error(pred: Tensor, y: Tensor) -> Tensor:
    """Squared relative L2 error ``sum_i (f(x_i) - y_i)^2 / sum_i y_i^2`` (Ma, Mao & Shen 2024 section 3.1,
    "relative error"; squared so that, as a loss, it is eq. 2 rescaled by a data constant)."""
    if pred.shape != y.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} != target shape {tuple(y.shape)}")
    return ((pred - y) ** 2).sum() / (y ** 2).sum().clamp_min(torch.finfo(y.dtype).tiny)


_LOSSES = {"mse": mse, "relative": relative_error}


def _finish(name: str, x: Tensor, y: Tensor, *, train_fraction: float, zscore: str | None,
            loss: str, device, dtype, info: dict) -> Split:
    """z-score, split, choose the loss, move to device (Ma, Mao & Shen 2024 section 3.1)."""
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {sorted(_LOSSES)}, got {loss!r}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
    n = x.shape[0]
    n_train = int(round(train_fraction * n))
    if n_train < 1 or n_train >= n:
        raise ValueError(f"M={n} too small for train_fraction={train_fraction}")
    if zscore not in (None, "all", "train"):
        raise ValueError(f"zscore must be None, 'all' or 'train', got {zscore!r}")
    if zscore is not None:
        ref = x if zscore == "all" else x[:n_train]
        mu, sd = ref.mean(0), ref.std(0)
        x = (x - mu) / torch.where(sd > 0, sd, torch.ones_like(sd))
    dev = get_device(device)
    dtype = dtype or torch.get_default_dtype()
    x, y = x.to(device=dev, dtype=dtype), y.to(device=dev, dtype=dtype)
    info = dict(info, M=n, n_train=n_train, zscore=zscore, loss=loss)
    return Split(x[:n_train], y[:n_train], x[n_train:], y[n_train:], name=name, loss_fn=_LOSSES[loss],
                 metrics={"mse": mse, "rel_error": relative_error}, info=info)


def _gen(seed: int) -> torch.Generator:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return generator(seed)


def _check_dims(D: int, M: int) -> None:
    for nm, v in (("D", D), ("M", M)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{nm} must be a positive int, got {v!r}")


def _vec(v, D: int, name: str) -> Tensor:
    t = torch.as_tensor(v, dtype=torch.float64).reshape(-1)
    if t.numel() != D:
        raise ValueError(f"{name} must have D={D} entries, got {t.numel()}")
    return t


def sin_cos(D: int = 40, M: int = 10_000, *, seed: int = 0, p=None, q=None, loss: str = "mse",
            zscore: str | None = "all", train_fraction: float = 0.8, device=None, dtype=None) -> Split:
    """``f*(x) = sin(sum_i p_i x_i) + cos(sum_i q_i x_i)``, ``x ~ U(0, 1)^D``.

    Ma, Mao & Shen 2024 Example 1, eq. (25) (Fig. 1: D = 20, M = 10^4; Figs. 3-6: D = 40, M = 10^5) and
    the gradient-flow report's Experiment 1 (D = 40, M = 10^4, 8000/2000). ``p, q ~ N(0, I_D)`` unless given.
    """
    _check_dims(D, M)
    g = _gen(seed)
    p = torch.randn(D, generator=g, dtype=torch.float64) if p is None else _vec(p, D, "p")
    q = torch.randn(D, generator=g, dtype=torch.float64) if q is None else _vec(q, D, "q")
    x = torch.rand(M, D, generator=g, dtype=torch.float64)
    y = torch.sin(x @ p) + torch.cos(x @ q)
    return _finish("sin_cos", x, y, train_fraction=train_fraction, zscore=zscore, loss=loss,
                   device=device, dtype=dtype, info={"D": D, "seed": seed, "p": p.tolist(), "q": q.tolist()})


def quadratic(D: int = 40, M: int = 10_000, *, seed: int = 0, c=None, coef: str = "uniform", loss: str = "mse",
              zscore: str | None = "all", train_fraction: float = 0.8, device=None, dtype=None) -> Split:
    """``f*(x) = sum_i c_i x_i^2``, ``x ~ U(0, 5)^D``.

    Ma, Mao & Shen 2024 Example 2, eq. (26) (Figs. 7-9: D = 40, M = 10^4) and the gradient-flow report's Experiment 2
    (D = 40, M = 10^4). Unless ``c`` is given it is drawn from the seed: ``coef="uniform"``
    (default) ``c ~ U(0, 1)^D``, so targets are positive and of order 10^2; ``coef="normal"``
    ``c ~ N(0, I_D)``, what the gradient-flow report's released generator draws (targets of either sign, of
    order ``(25/3) |c|`` ~ 50 in D = 40).
    """
    _check_dims(D, M)
    if coef not in ("uniform", "normal"):
        raise ValueError(f"coef must be 'uniform' or 'normal', got {coef!r}")
    g = _gen(seed)
    if c is None:
        c = (torch.rand if coef == "uniform" else torch.randn)(D, generator=g, dtype=torch.float64)
    else:
        c = _vec(c, D, "c")
    x = 5.0 * torch.rand(M, D, generator=g, dtype=torch.float64)
    y = (x ** 2) @ c
    return _finish("quadratic", x, y, train_fraction=train_fraction, zscore=zscore, loss=loss,
                   device=device, dtype=dtype, info={"D": D, "seed": seed, "coef": coef, "c": c.tolist()})


def gaussian(D: int = 40, M: int | None = None, *, variant: str = "000", seed: int = 0,
             std: float = 0.2, loss: str = "mse", zscore: str | None = "all", train_fraction: float = 0.8,
             device=None, dtype=None) -> Split:
    """The sharp "Gaussian" target, ``x ~ N(0, std^2 I_D)`` with ``std = 0.2``.

    * ``variant="000"``: Ma, Mao & Shen 2024 Example 3, eq. (27), ``f*(x) = exp(-10 |x|_2)`` (the norm, not
      its square), data "N(0, 0.2)" read as standard deviation 0.2, default M = 10^5;
    * ``variant="002"``: the gradient-flow report's Experiment 3, ``f*(x) = exp(-10 |x|_2^2)``, covariance 0.04 I
      (the same std 0.2), default M = 1000 (800/200).

    In D = 40 both targets are tiny on almost every sample (``|x|_2 ~ 0.2 sqrt(D)``); that is
    what the papers specify, so the relative-error metric is the meaningful one here.
    The targets are computed from the raw x, before z-scoring.
    """
    if variant not in ("000", "002"):
        raise ValueError(f"variant must be '000' (exp(-10|x|)) or '002' (exp(-10|x|^2)), got {variant!r}")
    M = (100_000 if variant == "000" else 1000) if M is None else M
    _check_dims(D, M)
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std!r}")
    g = _gen(seed)
    x = std * torch.randn(M, D, generator=g, dtype=torch.float64)
    r = x.norm(dim=1)
    y = torch.exp(-10.0 * r) if variant == "000" else torch.exp(-10.0 * r ** 2)
    return _finish(f"gaussian_{variant}", x, y, train_fraction=train_fraction, zscore=zscore, loss=loss,
                   device=device, dtype=dtype, info={"D": D, "seed": seed, "variant": variant, "std": std})


def multiscale_fn(x: Tensor) -> Tensor:
    """Li, Chen & Huang 2023 eq. (45): ``u(x) = (x^3 - x) sin(4x)/4 + sin(12x)/(x^2 + 1)`` on [-3, 3]."""
    return (x ** 3 - x) * torch.sin(4 * x) / 4 + torch.sin(12 * x) / (x ** 2 + 1)


def discontinuous_fn(x: Tensor) -> Tensor:
    """Li, Chen & Huang 2023 eq. (46): ``u(x) = sin(4x)`` on [-3, 0], ``2 + x sin(x)`` on (0, 3]."""
    return torch.where(x <= 0, torch.sin(4 * x), 2 + x * torch.sin(x))


def _one_d(name: str, fn, M: int, seed: int, loss: str, train_fraction: float, device, dtype) -> Split:
    _check_dims(1, M)
    g = _gen(seed)
    x = (6.0 * torch.rand(M, 1, generator=g, dtype=torch.float64) - 3.0)
    y = fn(x[:, 0])
    return _finish(name, x, y, train_fraction=train_fraction, zscore=None, loss=loss, device=device,
                   dtype=dtype, info={"D": 1, "seed": seed, "domain": [-3.0, 3.0]})


def multiscale(M: int = 1000, *, seed: int = 0, loss: str = "mse", train_fraction: float = 0.8,
               device=None, dtype=None) -> Split:
    """Li, Chen & Huang 2023 Appendix C.1, eq. (45), ``x ~ U(-3, 3)``, no z-scoring (the paper gives
    no sample count; M = 1000 points, 80/20)."""
    return _one_d("multiscale", multiscale_fn, M, seed, loss, train_fraction, device, dtype)


def discontinuous(M: int = 1000, *, seed: int = 0, loss: str = "mse", train_fraction: float = 0.8,
                  device=None, dtype=None) -> Split:
    """Li, Chen & Huang 2023 Appendix C.1, eq. (46), ``x ~ U(-3, 3)``, no z-scoring, M = 1000 points, 80/20."""
    return _one_d("discontinuous", discontinuous_fn, M, seed, loss, train_fraction, device, dtype)


#: the regression problems by name, for :func:`regression_problem`
REGRESSION_PROBLEMS: dict[str, Callable[..., Split]] = {
    "sin_cos": sin_cos,
    "quadratic": quadratic,
    "gaussian_000": lambda **kw: gaussian(variant="000", **kw),
    "gaussian_002": lambda **kw: gaussian(variant="002", **kw),
    "multiscale": multiscale,
    "discontinuous": discontinuous,
}


def regression_problem(name: str, **kwargs) -> Split:
    """Build a regression problem by name (keys of :data:`REGRESSION_PROBLEMS`)."""
    if name not in REGRESSION_PROBLEMS:
        raise ValueError(f"unknown regression problem {name!r}; expected one of {sorted(REGRESSION_PROBLEMS)}")
    return REGRESSION_PROBLEMS[name](**kwargs)
