"""PINN training experiments: seed 000 Fig. 12 (Burgers) and seed 001 Figs. 2-4 (ISGD,Adam).

Book chapter "Implicit SGD and SAV on PINNs" (``book/pinns/training.ipynb``). Every run goes
through :func:`savlib.train.fit` with a :class:`savlib.problems.pinn.PINNModel` and is
measured against the exact solution (Cole-Hopf for Burgers, closed forms for the others).

**Cost unit.** Schemes are compared at an equal number of *loss/gradient evaluations*
(closure calls), not of steps: A-SAV, A-ResSAV, Adam, Adagrad, RMSprop and SGD call the
closure once per step; A-RelSAV twice (the second call, at the new parameters, is
forward-only but is counted as a full evaluation); one ISGD step calls it ``K1`` times
(its inner Adam steps). Each run gets the same budget ``evals``; the counters of
:class:`~savlib.problems.pinn.PINNModel` are checked against ``steps x evals per step``.

**Sizes.** The experiment runner knows ``quick`` (CI) and ``full``. ``full`` of
``pinn_burgers`` and ``pinn_isgd`` is a *reduced CPU size* that finishes in well under an
hour on one thread of a laptop-class CPU (the parameters are in each function's
``SIZES`` table and in the JSON). The papers' sizes are the separate experiments
``pinn_burgers_paper`` and ``pinn_isgd_paper`` (meant for a GPU; their ``quick`` is the
same as the CPU experiments').

Deviations from the papers, all recorded in the JSON under ``"params"``:

* seed 000 does not give the number of iterations of Fig. 12, nor the initial/boundary
  points (see :class:`savlib.problems.pinn.Burgers`);
* seed 001 does not give ``K1`` (inner steps) nor the split between the implicit phase
  and the Adam phase of Algorithm 1; we use ``K1 = 10`` and spend half the budget in the
  implicit phase (``K0 = evals / (2 K1)``), the rest in Adam at the paper's small rate
  ``eta`` (the second entry of seed 001 Table 1), with the inner rate ``gamma = eta``;
* seed 001 uses mini-batches of 40 of the 400 collocation points at the small rate of the
  ODE only; all other runs are full batch.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from .._figures import finish
from ..config import get_device
from ..problems.pinn import Burgers, Helmholtz2D, PerturbedODE, PINNModel, Poisson2D
from ..train import History, fit

__all__ = ["EXPERIMENTS", "BURGERS_SCHEMES", "ISGD_SCHEMES", "BURGERS_SIZES", "ISGD_SIZES", "PAPER_ISGD",
           "make_optimizer", "evals_per_step", "train_pinn", "burgers_fig12", "isgd_pinn", "plot_runs",
           "summary_table", "load_result", "RESULTS_DIR"]

#: where ``python -m savlib.experiments NAME --full --out benchmarks/results`` writes (repository checkout)
RESULTS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "results"

#: seed 000 Fig. 12: the adaptive SAV family against torch's adaptive optimizers
BURGERS_SCHEMES = ("A-SAV", "A-ResSAV", "A-RelSAV", "Adam", "Adagrad", "RMSprop")
#: seed 001 Figs. 2-4
ISGD_SCHEMES = ("SGD", "Adam", "ISGD,Adam")

#: seed 001 Table 1 and the text of sec. 4: absolute errors quoted for Figs. 3d and 4d
PAPER_ISGD = {
    "poisson2d": {"max_abs_error": 2e-3, "iterations_adam": 2_000_000, "iterations_isgd": 1_100_000},
    "helmholtz": {"max_abs_error": 7e-3, "iterations_adam": 1_000_000, "iterations_isgd": 550_000},
    "ode_eps2": {"iterations_adam": 120_000, "iterations_isgd": 102_000},
    "ode_eps0.01": {"iterations_adam": 400_000, "iterations_isgd": 360_000},
}

#: Burgers sizes. "cpu" is what ``pinn_burgers --full`` runs; "paper" is seed 000's network and
#: points (the iteration count is ours: the paper does not give it).
BURGERS_SIZES: dict[str, dict[str, Any]] = {
    "quick": dict(nx=40, nt=15, n_initial=50, n_boundary=25, test_nx=64, test_nt=25, widths=[32] * 5,
                  evals=150, n_logs=10),
    "cpu": dict(nx=60, nt=20, n_initial=100, n_boundary=50, test_nx=256, test_nt=100, widths=[32] * 5,
                evals=4000, n_logs=30),
    "paper": dict(nx=200, nt=60, n_initial=200, n_boundary=100, test_nx=256, test_nt=100, widths=[32] * 5,
                  evals=20_000, n_logs=100),
}

#: seed 001 sizes per problem: problem kwargs, hidden widths, budget (evaluations per run)
ISGD_SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "ode_eps2": dict(kw=dict(eps=2.0, n_f=100, n_test=401), widths=[20] * 3, evals=300),
        "ode_eps0.01": dict(kw=dict(eps=0.01, n_f=100, n_test=401), widths=[20] * 3, evals=300),
        "poisson2d": dict(kw=dict(n_f=200, n_b=80, n_test=41), widths=[20] * 3, evals=200),
        "helmholtz": dict(kw=dict(n_f=200, n_b=80, n_test=41), widths=[20] * 3, evals=200),
    },
    "cpu": {
        "ode_eps2": dict(kw=dict(eps=2.0), widths=[50] * 4, evals=3000),
        "ode_eps0.01": dict(kw=dict(eps=0.01), widths=[50] * 4, evals=3000),
        "poisson2d": dict(kw=dict(n_f=1000, n_b=200), widths=[50] * 4, evals=2500),
        "helmholtz": dict(kw=dict(n_f=1000, n_b=200), widths=[50] * 4, evals=2500),
    },
    "paper": {
        "ode_eps2": dict(kw=dict(eps=2.0), widths=[50] * 4, evals=120_000),
        "ode_eps0.01": dict(kw=dict(eps=0.01), widths=[50] * 4, evals=400_000),
        "poisson2d": dict(kw=dict(), widths=[100] * 6, evals=2_000_000),
        "helmholtz": dict(kw=dict(), widths=[100] * 6, evals=1_000_000),
    },
}

#: seed 001 sec. 4 / Table 1: (small lr, large lr), and the batch size at the small lr
ISGD_LRS = {"ode_eps2": (1e-3, 0.5), "ode_eps0.01": (1e-3, 0.5), "poisson2d": (5e-4, 0.5),
            "helmholtz": (5e-4, 0.5)}
ISGD_SMALL_BATCH = {"ode_eps2": 40, "ode_eps0.01": 40, "poisson2d": None, "helmholtz": None}
_PROBLEMS = {"ode_eps2": PerturbedODE, "ode_eps0.01": PerturbedODE, "poisson2d": Poisson2D,
             "helmholtz": Helmholtz2D}


def evals_per_step(scheme: str, K1: int = 10) -> int:
    """Closure calls per optimizer step (the cost unit): 2 for A-RelSAV/RelSAV, ``K1`` for ISGD."""
    if scheme in ("A-RelSAV", "RelSAV"):
        return 2
    if scheme == "ISGD":
        return int(K1)
    return 1


def make_optimizer(scheme: str, params, lr: float, *, C: float = 1e4, lam: float = 4.0, K1: int = 10,
                   gamma: float = 1e-3) -> torch.optim.Optimizer:
    """The optimizers of the chapter by name: seed 000's ``A-SAV``, ``A-ResSAV``, ``A-RelSAV``
    (``savlib.schemes`` with ``adaptive=True``, constant ``C``, ``L = lam Id``), torch's ``Adam``,
    ``Adagrad``, ``RMSprop``, ``SGD`` (other settings at torch's defaults), ``LBFGS`` (torch's
    L-BFGS with ``max_iter=1`` and no line search: one gradient evaluation per step, so it is
    compared at equal cost like the others; history 20, step ``lr`` along the quasi-Newton
    direction), and ``ISGD`` (one implicit step = ``K1`` inner Adam steps at rate ``gamma``,
    seed 001 Algorithm 1)."""
    from ..schemes import ISGD
    from . import make_scheme

    torch_opts = {"Adam": torch.optim.Adam, "Adagrad": torch.optim.Adagrad, "RMSprop": torch.optim.RMSprop,
                  "SGD": torch.optim.SGD}
    if scheme in torch_opts:
        return torch_opts[scheme](params, lr=lr)
    if scheme == "ISGD":
        return ISGD(params, lr=lr, inner="adam", inner_steps=K1, inner_lr=gamma)
    if scheme == "LBFGS":
        return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=20)
    return make_scheme(scheme, params, lr, C, lam)


def _fit_phase(model: PINNModel, opt, split, steps: int, batch_size, n_logs: int, seed: int) -> History:
    steps_per_epoch = 1 if batch_size is None else -(-split.n_train // batch_size)
    epochs = -(-steps // steps_per_epoch)
    eval_every = max(1, epochs // max(n_logs, 1))
    return fit(model, opt, split, steps=steps, batch_size=batch_size, seed=seed, eval_every=eval_every,
               blowup=None)


def train_pinn(problem, scheme: str, lr: float, evals: int, *, widths, seed: int = 0, device=None,
               dtype: torch.dtype = torch.float32, batch_size: int | None = None, n_logs: int = 30,
               C: float = 1e4, lam: float = 4.0, K1: int = 10, isgd_fraction: float = 0.5,
               eta: float | None = None, keep_model: bool = False) -> dict[str, Any]:
    """Train ``problem.default_model(widths)`` (seeded by ``seed``: every scheme starts from the
    same network) with ``scheme`` at ``lr`` for a budget of ``evals`` closure calls.

    ``scheme`` is a name of :func:`make_optimizer` or ``"ISGD,Adam"`` (seed 001 Algorithm 1:
    ``K0 = isgd_fraction * evals / K1`` implicit steps of rate ``lr`` with ``K1`` inner Adam steps
    at rate ``eta``, then Adam at rate ``eta`` for the rest of the budget; ``eta`` defaults to
    ``lr``). Returns a JSON-ready dict: the curves against evaluations (``evals``, ``steps``,
    ``test_rel_l2``, ``test_max_abs``, ``loss`` (the PINN loss of the last step before each
    log), ``wall_time``) and the final values, ``diverged``/``divergence``, and the measured
    closure-call counters; with ``keep_model=True`` also ``"model"``, the trained
    :class:`~savlib.problems.pinn.PINNModel` (not JSON: for error maps).
    """
    if not isinstance(evals, int) or evals < 2:
        raise ValueError(f"evals must be an int >= 2, got {evals!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    dev = get_device(device)
    net = problem.default_model(widths=widths, generator=torch.Generator().manual_seed(seed)).to(dev, dtype)
    model = PINNModel(problem, net)
    split = model.split()
    if scheme == "ISGD,Adam":
        eta = lr if eta is None else eta
        K0 = max(1, int(isgd_fraction * evals) // K1)
        phases = [("ISGD", lr, K0, K1), ("Adam", eta, evals - K0 * K1, 1)]
    else:
        k = evals_per_step(scheme)
        phases = [(scheme, lr, evals // k, k)]
    curves: dict[str, list] = {"evals": [], "steps": [], "test_rel_l2": [], "test_max_abs": [], "loss": [],
                               "wall_time": []}
    loss0 = _initial_loss(model)
    ev0 = st0 = 0
    t0 = 0.0
    diverged, divergence = False, None
    expected = 0
    for name, rate, steps, k in phases:
        if steps < 1:
            continue
        opt = make_optimizer(name, model.parameters(), rate, C=C, lam=lam, K1=K1, gamma=eta or 1e-3)
        n_phase_logs = max(2, round(n_logs * steps * k / evals))
        h = _fit_phase(model, opt, split, steps, batch_size, n_phase_logs, seed)
        start = 1 if curves["evals"] else 0          # entry 0 of a later phase repeats the last one
        for i in range(start, len(h.step)):
            curves["evals"].append(ev0 + h.step[i] * k)
            curves["steps"].append(st0 + h.step[i])
            curves["test_rel_l2"].append(h.metrics["test_rel_l2"][i])
            curves["test_max_abs"].append(h.metrics["test_max_abs"][i])
            curves["loss"].append(h.batch_loss[i] if i > 0 else loss0)
            curves["wall_time"].append(t0 + h.wall_time[i])
        expected += h.step[-1] * k
        ev0, st0, t0 = ev0 + h.step[-1] * k, st0 + h.step[-1], t0 + h.wall_time[-1]
        if h.diverged:
            diverged, divergence = True, h.divergence
            break
    counted = model.evals + model.evals_no_grad
    # the cost unit, checked: closure calls == steps x calls per step (a diverged ISGD step may
    # stop inside its inner loop, so only completed runs are checked exactly)
    if not diverged and counted != expected:
        raise RuntimeError(f"{scheme}: counted {counted} closure calls, expected {expected}")
    fin = [v for v in curves["test_rel_l2"] if math.isfinite(v)]
    extra = {"model": model} if keep_model else {}
    return {**extra, "scheme": scheme, "lr": lr, "budget_evals": evals, "phases": [list(p) for p in phases],
            "batch_size": batch_size, **curves,
            "final_test_rel_l2": curves["test_rel_l2"][-1], "final_test_max_abs": curves["test_max_abs"][-1],
            "best_test_rel_l2": min(fin) if fin else math.nan,
            "final_loss": curves["loss"][-1], "diverged": diverged, "divergence": divergence,
            "closure_calls": model.evals, "closure_calls_no_grad": model.evals_no_grad,
            "wall_time_s": curves["wall_time"][-1], "n_params": sum(p.numel() for p in net.parameters())}


def _initial_loss(model: PINNModel) -> float:
    with torch.no_grad():
        v = float(model.training_loss(None, model.data.x_f))
    model.evals_no_grad -= 1   # a measurement, not a step
    return v


def _size(size: str, paper: bool) -> str:
    from . import _check_size

    if _check_size(size) == "quick":
        return "quick"
    return "paper" if paper else "cpu"


# ============================================================================ seed 000 Fig. 12
def burgers_fig12(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0,
                  paper: bool = False, lrs=(0.01, 0.001), schemes=BURGERS_SCHEMES) -> dict[str, Any]:
    """Seed 000 Example 5 / Fig. 12: Burgers (``nu = 0.01/pi``) relative L2 test error against
    the Cole-Hopf solution vs gradient evaluations, A-SAV / A-ResSAV / A-RelSAV (``C = 1e4``,
    ``lam = 4``) against Adam, Adagrad, RMSprop, at ``lr = 0.01`` and ``0.001``; 5 hidden layers
    of 32 tanh units, full batch on a grid of residual points.

    Sizes (:data:`BURGERS_SIZES`): quick 40 x 15 points, 150 evaluations; full (CPU) 60 x 20
    points, 4000 evaluations per run; ``paper=True`` at full size: seed 000's 200 x 60 points and
    20000 evaluations (the paper does not give its iteration count).
    """
    sz = _size(size, paper)
    cfg = dict(BURGERS_SIZES[sz])
    problem = Burgers(nx=cfg["nx"], nt=cfg["nt"], n_initial=cfg["n_initial"], n_boundary=cfg["n_boundary"],
                      test_nx=cfg["test_nx"], test_nt=cfg["test_nt"], seed=seed)
    runs: dict[str, Any] = {}
    plan = [(lr, s) for lr in lrs for s in schemes]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan), desc="pinn_burgers")
    for lr, s in plan:
        runs[f"lr={lr:g}|{s}"] = train_pinn(problem, s, lr, cfg["evals"], widths=cfg["widths"], seed=seed,
                                            device=device, n_logs=cfg["n_logs"], C=1e4, lam=4.0)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(run=f"{s} lr={lr:g}", err=f"{runs[f'lr={lr:g}|{s}']['final_test_rel_l2']:.3g}")
    if bar is not None:
        bar.close()
    return {"size": size, "scale": sz, "device": str(get_device(device)), "torch_threads": torch.get_num_threads(),
            "params": {**cfg, "nu": problem.nu, "C": 1e4, "lam": 4.0, "lrs": list(lrs), "schemes": list(schemes),
                       "residual_points": cfg["nx"] * cfg["nt"], "reference": "Cole-Hopf (savlib.problems.burgers_exact)",
                       "cost_unit": "closure calls (A-RelSAV: 2 per step)", "dtype": "float32", "seed": seed},
            "runs": runs}


# ============================================================================ seed 001 Figs. 2-4
def isgd_pinn(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0, paper: bool = False,
              problems=("ode_eps2", "ode_eps0.01", "poisson2d", "helmholtz"), schemes=ISGD_SCHEMES,
              K1: int = 10, isgd_fraction: float = 0.5) -> dict[str, Any]:
    """Seed 001 Figs. 2-4: singularly perturbed ODE (eq. 19, eps = 2 and 0.01), 2-D Poisson
    (eq. 20) and Helmholtz k = 4 (eq. 21), SGD vs Adam vs ISGD,Adam at a small lr (0.001 for
    the ODE with batches of 40, 0.0005 for the 2-D problems) and at lr 0.5 (full batch), all
    with the same budget of closure calls. Reports the max absolute error next to the
    paper's 0.2% (Poisson) and 0.7% (Helmholtz).

    Sizes (:data:`ISGD_SIZES`): full (CPU) keeps the ODE's 400 points and 4 x 50 network,
    uses 1000 + 200 points and a 4 x 50 network for the 2-D problems, 3000 (ODE) / 2500 (2-D)
    evaluations per run; ``paper=True`` at full size uses the paper's networks, points and
    Table 1 iteration counts.
    """
    sz = _size(size, paper)
    unknown = [p for p in problems if p not in _PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problems {unknown}; expected some of {sorted(_PROBLEMS)}")
    plan = [(p, lr, s) for p in problems for lr in ISGD_LRS[p] for s in schemes]
    runs: dict[str, Any] = {}
    params: dict[str, Any] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan), desc="pinn_isgd")
    made: dict[str, Any] = {}
    for p, lr, s in plan:
        cfg = ISGD_SIZES[sz][p]
        if p not in made:
            made[p] = _PROBLEMS[p](seed=seed, **cfg["kw"])
            params[p] = {"problem": repr(made[p]), "widths": cfg["widths"], "evals": cfg["evals"],
                         "lrs": list(ISGD_LRS[p]), "small_lr_batch": ISGD_SMALL_BATCH[p],
                         "eta": ISGD_LRS[p][0], "paper": PAPER_ISGD.get(p, {})}
        small = lr == ISGD_LRS[p][0]
        runs[f"{p}|lr={lr:g}|{s}"] = train_pinn(
            made[p], s, lr, cfg["evals"], widths=cfg["widths"], seed=seed, device=device,
            batch_size=ISGD_SMALL_BATCH[p] if small else None, n_logs=30, K1=K1, isgd_fraction=isgd_fraction,
            eta=ISGD_LRS[p][0])
        if bar is not None:
            bar.update(1)
            bar.set_postfix(run=f"{p} {s} lr={lr:g}", err=f"{runs[f'{p}|lr={lr:g}|{s}']['final_test_rel_l2']:.3g}")
    if bar is not None:
        bar.close()
    return {"size": size, "scale": sz, "device": str(get_device(device)), "torch_threads": torch.get_num_threads(),
            "params": {"problems": params, "K1": K1, "isgd_fraction": isgd_fraction, "schemes": list(schemes),
                       "cost_unit": "closure calls (one ISGD step = K1 inner Adam steps = K1 calls)",
                       "dtype": "float32", "seed": seed},
            "runs": runs}


# ============================================================================ reporting
def load_result(name: str, directory: str | Path | None = None) -> dict[str, Any]:
    """The JSON a full run wrote (default directory :data:`RESULTS_DIR`, i.e. the checkout's
    ``benchmarks/results``), with "NaN"/"Infinity" strings turned back into floats.
    Regenerate with ``python -m savlib.experiments NAME --full --out benchmarks/results``."""
    import json

    path = Path(directory or RESULTS_DIR) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `python -m savlib.experiments {name} --full "
                                f"--out benchmarks/results` first")
    conv = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    return json.loads(path.read_text(), parse_constant=None,
                      object_hook=lambda d: {k: conv.get(v, v) if isinstance(v, str) else
                                             ([conv.get(x, x) if isinstance(x, str) else x for x in v]
                                              if isinstance(v, list) else v) for k, v in d.items()})


def summary_table(res: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per run: problem/lr/scheme, budget, steps, final and best relative L2, final max
    abs error, diverged, wall time."""
    rows = []
    for key, r in res["runs"].items():
        parts = key.split("|")
        rows.append({"run": key, "problem": parts[0] if len(parts) == 3 else "burgers", "lr": r["lr"],
                     "scheme": r["scheme"], "evals": r["evals"][-1], "steps": r["steps"][-1],
                     "final_rel_l2": r["final_test_rel_l2"], "best_rel_l2": r["best_test_rel_l2"],
                     "final_max_abs": r["final_test_max_abs"], "diverged": r["diverged"],
                     "wall_time_s": r["wall_time_s"]})
    return rows


def plot_runs(res: dict[str, Any], path: Path | None = None, key: str = "test_rel_l2"):
    """One panel per (problem, lr): ``key`` against gradient evaluations; saved to ``path`` (and
    closed) when given, else the figure is returned."""
    import matplotlib.pyplot as plt

    panels: dict[str, list[str]] = {}
    for k in res["runs"]:
        panels.setdefault(k.rsplit("|", 1)[0], []).append(k)
    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, (panel, keys) in zip(axes.flat, panels.items()):
        for k in keys:
            r = res["runs"][k]
            ys = [v if isinstance(v, (int, float)) and math.isfinite(v) else math.nan for v in r[key]]
            lab = r["scheme"] + (" (diverged)" if r["diverged"] else "")
            ax.semilogy(r["evals"], ys, label=lab, lw=1.2)
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel("gradient evaluations (closure calls)")
        ax.set_ylabel({"test_rel_l2": "relative L2 test error", "loss": "training loss",
                       "test_max_abs": "max abs test error"}.get(key, key))
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return finish(fig, path)


def _burgers(size="quick", device=None, progress=False, *, seed=0):
    return burgers_fig12(size, device, progress, seed=seed)


def _burgers_paper(size="quick", device=None, progress=False, *, seed=0):
    return burgers_fig12(size, device, progress, seed=seed, paper=True)


def _isgd(size="quick", device=None, progress=False, *, seed=0):
    return isgd_pinn(size, device, progress, seed=seed)


def _isgd_paper(size="quick", device=None, progress=False, *, seed=0):
    return isgd_pinn(size, device, progress, seed=seed, paper=True)


def _experiments():
    from . import Experiment

    return {
        "pinn_burgers": Experiment("pinn_burgers", "seed 000 Fig. 12: Burgers PINN, A-SAV family vs Adam/Adagrad/"
                                   "RMSprop (full = reduced CPU size)", _burgers, plot_runs),
        "pinn_burgers_paper": Experiment("pinn_burgers_paper", "seed 000 Fig. 12 at the paper's size (GPU)",
                                         _burgers_paper, plot_runs),
        "pinn_isgd": Experiment("pinn_isgd", "seed 001 Figs. 2-4: ODE/Poisson/Helmholtz, SGD vs Adam vs ISGD,Adam "
                                "(full = reduced CPU size)", _isgd, plot_runs),
        "pinn_isgd_paper": Experiment("pinn_isgd_paper", "seed 001 Figs. 2-4 at the paper's size (GPU)",
                                      _isgd_paper, plot_runs),
    }


EXPERIMENTS = _experiments()
