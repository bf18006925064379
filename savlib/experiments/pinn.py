"""PINN training experiments: Burgers in Raissi et al. 2019's setup (``pinn_burgers``), Ma, Mao &
Shen 2024 Fig. 12 (``pinn_burgers_paper``) and Li, Chen & Huang 2023 Figs. 2-4 (ISGD,Adam).

Book chapter "Implicit SGD and SAV on PINNs" (``book/pinns/training.ipynb``). Every run is
measured against the exact solution (Cole-Hopf for Burgers, closed forms for the others).
``pinn_burgers`` (:func:`burgers_pinn`) trains Raissi et al. 2019's Burgers PINN
(:class:`~savlib.problems.pinn.BurgersRaissi`) with L-BFGS as they do, and compares SGD, Adam,
L-BFGS, the adaptive SAV family and ISGD on it at the same full batch and the same number of
gradient evaluations (:func:`train_budget`); the other experiments go through
:func:`savlib.train.fit` with a :class:`savlib.problems.pinn.PINNModel` (:func:`train_pinn`).

**Cost unit.** Schemes are compared at an equal number of *loss/gradient evaluations*
(closure calls), not of steps: A-SAV, A-ResSAV, Adam, Adagrad, RMSprop and SGD call the
closure once per step; A-RelSAV twice (the second call, at the new parameters, is
forward-only but is counted as a full evaluation); one ISGD step calls it ``K1`` times
(its inner Adam steps). Each run gets the same budget ``evals``; the counters of
:class:`~savlib.problems.pinn.PINNModel` are checked against ``steps x evals per step``.

**Sizes.** The experiment runner knows ``quick`` (CI) and ``full``. ``full`` of
``pinn_burgers`` is Raissi et al.'s problem and network with budgets that fit about an hour
of one CPU core (:data:`RAISSI_SIZES`); ``full`` of ``pinn_isgd`` is a *reduced CPU size*
(the parameters are in each function's ``SIZES`` table and in the JSON). The papers' sizes are the separate experiments
``pinn_burgers_paper`` and ``pinn_isgd_paper`` (meant for a GPU; their ``quick`` is the
same as the CPU experiments'). Both run every scheme with 3 seeds at full size (each seed
draws its own points, network and batch order); the result holds every run under
``runs[KEY][SEED]`` and the statistics over seeds under ``summary`` (:func:`summarize`).

**Results of record.** Both functions declare their whole configuration first
(``ctx.declare``: sizes, points, widths, budgets, lrs, schemes, seeds) and run each training
run as one resumable unit (``ctx.unit``), so ``python -m savlib.experiments pinn_burgers
--full --out benchmarks/results [--resume]`` writes a result with provenance.

Deviations from the papers, all recorded in the JSON under ``"config"``:

* Ma, Mao & Shen 2024 does not give the number of iterations of Fig. 12, nor the initial/boundary
  points (see :class:`savlib.problems.pinn.Burgers`);
* Li, Chen & Huang 2023 does not give ``K1`` (inner steps) nor the split between the implicit phase
  and the Adam phase of Algorithm 1; we use ``K1 = 10`` and spend half the budget in the
  implicit phase (``K0 = evals / (2 K1)``), the rest in Adam at the paper's small rate
  ``eta`` (the second entry of Li, Chen & Huang 2023 Table 1), with the inner rate ``gamma = eta``;
* Li, Chen & Huang 2023 uses mini-batches of 40 of the 400 collocation points at the small rate of the
  ODE only; all other runs are full batch.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from .._figures import finish
from ..config import generator, get_device
from ..problems.pinn import BURGERS_NU, Burgers, Helmholtz2D, PerturbedODE, PINNModel, Poisson2D, max_abs, rel_l2
from ..train import History, fit
from .record import RESULTS_DIR, load_result  # noqa: F401  (re-exported)
from .record import Context

__all__ = ["EXPERIMENTS", "RAISSI_SIZES", "RAISSI_COMPARE", "RAISSI_LBFGS", "RAISSI_REPORTED", "burgers_pinn",
           "burgers_summary", "plot_burgers", "train_budget", "BURGERS_SCHEMES", "ISGD_SCHEMES", "BURGERS_SIZES", "ISGD_SIZES", "PAPER_ISGD",
           "ISGD_SEEDS", "STIFFNESS_SIZES", "adam_warmup", "stiffness_sweep", "stiffness_summary",
           "plot_stiffness", "make_optimizer", "evals_per_step", "train_pinn", "burgers_fig12", "isgd_pinn",
           "plot_runs", "summarize", "summary_table", "summary_html", "load_result", "RESULTS_DIR"]


#: Ma, Mao & Shen 2024 Fig. 12: the adaptive SAV family against torch's adaptive optimizers
BURGERS_SCHEMES = ("A-SAV", "A-ResSAV", "A-RelSAV", "Adam", "Adagrad", "RMSprop")
#: Li, Chen & Huang 2023 Figs. 2-4
ISGD_SCHEMES = ("SGD", "Adam", "ISGD,Adam")

#: Li, Chen & Huang 2023 Table 1 and the text of sec. 4: absolute errors quoted for Figs. 3d and 4d
PAPER_ISGD = {
    "poisson2d": {"max_abs_error": 2e-3, "iterations_adam": 2_000_000, "iterations_isgd": 1_100_000},
    "helmholtz": {"max_abs_error": 7e-3, "iterations_adam": 1_000_000, "iterations_isgd": 550_000},
    "ode_eps2": {"iterations_adam": 120_000, "iterations_isgd": 102_000},
    "ode_eps0.01": {"iterations_adam": 400_000, "iterations_isgd": 360_000},
}

#: Burgers sizes. "cpu" is what ``pinn_burgers --full`` runs (3 seeds x 2 lrs x 6 schemes x 1000
#: evaluations: about 25 minutes of one CPU core); "paper" is Ma, Mao & Shen 2024's network and points (the
#: iteration count is ours: the paper does not give it).
BURGERS_SIZES: dict[str, dict[str, Any]] = {
    "quick": dict(nx=40, nt=15, n_initial=50, n_boundary=25, test_nx=64, test_nt=25, widths=[32] * 5,
                  evals=150, n_logs=10, seeds=1),
    "cpu": dict(nx=60, nt=20, n_initial=100, n_boundary=50, test_nx=256, test_nt=100, widths=[32] * 5,
                evals=1000, n_logs=30, seeds=3),
    "paper": dict(nx=200, nt=60, n_initial=200, n_boundary=100, test_nx=256, test_nt=100, widths=[32] * 5,
                  evals=20_000, n_logs=100, seeds=3),
}

#: Li, Chen & Huang 2023 sizes per problem: problem kwargs, hidden widths, budget (evaluations per run)
ISGD_SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "quick": {
        "ode_eps2": dict(kw=dict(eps=2.0, n_f=100, n_test=401), widths=[20] * 3, evals=300),
        "ode_eps0.01": dict(kw=dict(eps=0.01, n_f=100, n_test=401), widths=[20] * 3, evals=300),
        "poisson2d": dict(kw=dict(n_f=200, n_b=80, n_test=41), widths=[20] * 3, evals=200),
        "helmholtz": dict(kw=dict(n_f=200, n_b=80, n_test=41), widths=[20] * 3, evals=200),
    },
    "cpu": {
        "ode_eps2": dict(kw=dict(eps=2.0), widths=[50] * 4, evals=1500),
        "ode_eps0.01": dict(kw=dict(eps=0.01), widths=[50] * 4, evals=1500),
        "poisson2d": dict(kw=dict(n_f=1000, n_b=200), widths=[50] * 4, evals=1000),
        "helmholtz": dict(kw=dict(n_f=1000, n_b=200), widths=[50] * 4, evals=1000),
    },
    "paper": {
        "ode_eps2": dict(kw=dict(eps=2.0), widths=[50] * 4, evals=120_000),
        "ode_eps0.01": dict(kw=dict(eps=0.01), widths=[50] * 4, evals=400_000),
        "poisson2d": dict(kw=dict(), widths=[100] * 6, evals=2_000_000),
        "helmholtz": dict(kw=dict(), widths=[100] * 6, evals=1_000_000),
    },
}

#: seeds per size of ``pinn_isgd`` (full: 3 seeds x 4 problems x 2 lrs x 3 schemes, about 25 minutes
#: of one CPU core)
ISGD_SEEDS = {"quick": 1, "cpu": 3, "paper": 3}

#: Li, Chen & Huang 2023 sec. 4 / Table 1: (small lr, large lr), and the batch size at the small lr
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
    """The optimizers of the chapter by name: Ma, Mao & Shen 2024's ``A-SAV``, ``A-ResSAV``, ``A-RelSAV``
    (``savlib.schemes`` with ``adaptive=True``, constant ``C``, ``L = lam Id``), torch's ``Adam``,
    ``Adagrad``, ``RMSprop``, ``SGD`` (other settings at torch's defaults), ``LBFGS`` (torch's
    L-BFGS with ``max_iter=1`` and no line search: one gradient evaluation per step, so it is
    compared at equal cost like the others; history 20, step ``lr`` along the quasi-Newton
    direction), and ``ISGD`` (one implicit step = ``K1`` inner Adam steps at rate ``gamma``,
    Li, Chen & Huang 2023 Algorithm 1)."""
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


def _new_run(problem, evals, lr, widths, seed: int, device, dtype) -> tuple[torch.device, PINNModel]:
    """Check a run's budget and rate; the device and a fresh :class:`PINNModel` seeded by ``seed``."""
    if not isinstance(evals, int) or evals < 2:
        raise ValueError(f"evals must be an int >= 2, got {evals!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    dev = get_device(device)
    net = problem.default_model(widths=widths, generator=generator(seed)).to(dev, dtype)
    return dev, PINNModel(problem, net)


def train_pinn(problem, scheme: str, lr: float, evals: int, *, widths, seed: int = 0, device=None,
               dtype: torch.dtype = torch.float32, batch_size: int | None = None, n_logs: int = 30,
               C: float = 1e4, lam: float = 4.0, K1: int = 10, isgd_fraction: float = 0.5,
               eta: float | None = None, keep_model: bool = False) -> dict[str, Any]:
    """Train ``problem.default_model(widths)`` (seeded by ``seed``: every scheme starts from the
    same network) with ``scheme`` at ``lr`` for a budget of ``evals`` closure calls.

    ``scheme`` is a name of :func:`make_optimizer` or ``"ISGD,Adam"`` (Li, Chen & Huang 2023 Algorithm 1:
    ``K0 = isgd_fraction * evals / K1`` implicit steps of rate ``lr`` with ``K1`` inner Adam steps
    at rate ``eta``, then Adam at rate ``eta`` for the rest of the budget; ``eta`` defaults to
    ``lr``). Returns a JSON-ready dict: the curves against evaluations (``evals``, ``steps``,
    ``test_rel_l2``, ``test_max_abs``, ``loss`` (the PINN loss of the last step before each
    log), ``wall_time``) and the final values, ``diverged``/``divergence``, and the measured
    closure-call counters; with ``keep_model=True`` also ``"model"``, the trained
    :class:`~savlib.problems.pinn.PINNModel` (not JSON: for error maps).
    """
    dev, model = _new_run(problem, evals, lr, widths, seed, device, dtype)
    net = model.net
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


# ============================================================================ Ma, Mao & Shen 2024 Fig. 12
def _seed_list(seeds, seed: int, n: int) -> list[int]:
    if seeds is None:
        return [seed + k for k in range(n)]
    out = [int(s) for s in seeds]
    if not out or any(s < 0 for s in out) or len(set(out)) != len(out):
        raise ValueError(f"seeds must be distinct non-negative ints, got {seeds!r}")
    return out


def _bar(progress: bool, total: int, desc: str):
    """A progress bar over the runs (a disabled one, which does nothing, when ``progress`` is off)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not progress)


def burgers_fig12(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0,
                  seeds=None, paper: bool = False, lrs=(0.01, 0.001), schemes=BURGERS_SCHEMES,
                  evals: int | None = None, widths=None, nx: int | None = None, nt: int | None = None,
                  C: float = 1e4, lam: float = 4.0, ctx: Context | None = None) -> dict[str, Any]:
    """Ma, Mao & Shen 2024 Example 5 / Fig. 12: Burgers (``nu = 0.01/pi``) relative L2 test error against
    the Cole-Hopf solution vs gradient evaluations, A-SAV / A-ResSAV / A-RelSAV (``C = 1e4``,
    ``lam = 4``) against Adam, Adagrad, RMSprop, at ``lr = 0.01`` and ``0.001``; 5 hidden layers
    of 32 tanh units, full batch on a grid of residual points.

    Sizes (:data:`BURGERS_SIZES`): quick 40 x 15 points, 150 evaluations, one seed; full (CPU)
    60 x 20 points, 1000 evaluations per run, seeds ``seed, seed+1, seed+2`` (each seed draws
    its own initial/boundary points and network); ``paper=True`` at full size: Ma, Mao & Shen 2024's
    200 x 60 points (with 200 initial and 100 boundary points, which the paper does not give) and
    20000 evaluations (the paper does not give its iteration count either). The result of record
    ``pinn_burgers_paper`` runs 2000 evaluations per run (``--set evals=2000``), which fits the 36
    runs in about an hour of one CPU core; it is what the chapter "Implicit SGD and SAV on PINNs"
    and the scorecard's Fig. 12 rows read.
    ``evals``, ``widths``, ``nx``, ``nt``, ``seeds`` override the size's values. Every run is
    one unit ``lr=LR|SCHEME|seedS`` of the result of record.
    """
    ctx = ctx or Context()
    sz = _size(size, paper)
    base = BURGERS_SIZES[sz]
    cfg = ctx.declare(
        scale=sz, nx=int(nx or base["nx"]), nt=int(nt or base["nt"]), grid=True, n_initial=base["n_initial"],
        n_boundary=base["n_boundary"], test_nx=base["test_nx"], test_nt=base["test_nt"],
        widths=[int(w) for w in (widths or base["widths"])], evals=int(evals or base["evals"]),
        n_logs=base["n_logs"], nu=BURGERS_NU, C=float(C), lam=float(lam), lrs=[float(v) for v in lrs],
        schemes=list(schemes), seeds=_seed_list(seeds, seed, base["seeds"]), dtype="float32",
        cost_unit="closure calls (A-RelSAV: 2 per step)")
    unknown = [s for s in cfg["schemes"] if s not in BURGERS_SCHEMES + ISGD_SCHEMES + ("LBFGS",)]
    if unknown:
        raise ValueError(f"unknown schemes {unknown}")
    runs: dict[str, dict[str, Any]] = {}
    bar = _bar(progress, len(cfg["seeds"]) * len(cfg["lrs"]) * len(cfg["schemes"]), "pinn_burgers")
    for s in cfg["seeds"]:
        problem = Burgers(nu=cfg["nu"], nx=cfg["nx"], nt=cfg["nt"], grid=cfg["grid"], n_initial=cfg["n_initial"],
                          n_boundary=cfg["n_boundary"], test_nx=cfg["test_nx"], test_nt=cfg["test_nt"], seed=s)
        for lr in cfg["lrs"]:
            for name in cfg["schemes"]:
                key = f"lr={lr:g}|{name}"
                runs.setdefault(key, {})[str(s)] = r = ctx.unit(
                    f"{key}|seed{s}",
                    lambda: train_pinn(problem, name, lr, cfg["evals"], widths=cfg["widths"], seed=s,
                                       device=device, n_logs=cfg["n_logs"], C=cfg["C"], lam=cfg["lam"]))
                bar.update(1)
                bar.set_postfix(run=f"{name} lr={lr:g} seed {s}", err=f"{r['final_test_rel_l2']:.3g}")
    bar.close()
    return {"size": size, "scale": sz, "device": str(get_device(device)), "config": cfg,
            "residual_points": cfg["nx"] * cfg["nt"], "reference": "Cole-Hopf (savlib.problems.burgers_exact)",
            "runs": runs, "summary": summarize(runs)}


# ============================================================================ Raissi et al. 2019 setup
#: ``pinn_burgers``: Raissi et al. 2019's Burgers PINN (:class:`~savlib.problems.pinn.BurgersRaissi`)
#: trained by L-BFGS as they do (the literature run), and a comparison of optimizers on the same
#: problem at the same full batch and the same budget of gradient evaluations. ``full`` takes
#: about 70 minutes of one CPU core (the wall times are in the JSON): three literature runs of
#: 10,000 evaluations (Raissi et al. allow 50,000) and the comparison.
RAISSI_SIZES: dict[str, dict[str, Any]] = {
    "quick": dict(problem=dict(n_f=400, n_u=40, test_nx=64, test_nt=25), widths=[20] * 3, lbfgs_evals=150,
                  lbfgs_seeds=1, compare_evals=60, seeds=1, n_logs=12),
    "full": dict(problem=dict(n_f=10_000, n_u=100, test_nx=256, test_nt=100), widths=[20] * 8,
                 lbfgs_evals=10_000, lbfgs_seeds=3, compare_evals=600, seeds=3, n_logs=40),
}
#: the comparison: (scheme, learning rate); L-BFGS with the literature's settings (:data:`RAISSI_LBFGS`)
RAISSI_COMPARE = (("L-BFGS", 1.0), ("SGD", 1e-2), ("Adam", 1e-3), ("A-SAV", 1e-2), ("A-ResSAV", 1e-2),
                  ("A-RelSAV", 1e-2), ("ISGD", 0.5))
#: Raissi et al. 2019's L-BFGS-B settings (scipy): history (maxcor) 50, at most 50 line-search
#: steps, ftol = float64 machine epsilon; torch's L-BFGS with the strong Wolfe line search stands in
RAISSI_LBFGS = dict(history_size=50, tolerance_change=float(torch.finfo(torch.float64).eps), tolerance_grad=1e-9,
                    line_search="strong_wolfe", lr=1.0, iterations_per_call=50)
#: Raissi et al. 2019, Burgers (continuous-time inference): relative L2 error of their PINN
RAISSI_REPORTED = {"rel_l2": 6.7e-4, "n_u": 100, "n_f": 10_000, "widths": [20] * 8, "optimizer": "L-BFGS-B"}


def _log_points(budget: int, n: int, extra=()) -> list[int]:
    """Evaluation counts at which a run is logged: half geometric (early progress), half linear."""
    import numpy as np

    pts = set(np.unique(np.round(np.geomspace(1, budget, max(2, n // 2)))).astype(int).tolist())
    pts |= set(np.round(np.linspace(0, budget, max(2, n // 2 + 1))).astype(int).tolist())
    pts |= {int(e) for e in extra if 0 <= e <= budget}
    return sorted(pts)


def train_budget(problem, scheme: str, lr: float, evals: int, *, widths, seed: int = 0, device=None,
                 dtype: torch.dtype = torch.float32, n_logs: int = 40, log_at=(), C: float = 1e4, lam: float = 4.0,
                 K1: int = 10, gamma: float = 1e-3, lbfgs: dict | None = None, keep_state: bool = False
                 ) -> dict[str, Any]:
    """Train ``problem.default_model(widths)`` (seeded by ``seed``) on the full batch of its points
    with ``scheme`` for a budget of ``evals`` loss evaluations (closure calls), counting every call.

    ``scheme`` is a name of :func:`make_optimizer` or ``"L-BFGS"``: torch's L-BFGS with the strong
    Wolfe line search and the settings ``lbfgs`` (default :data:`RAISSI_LBFGS`), driven in calls of
    at most ``iterations_per_call`` iterations, each capped so that it ends within one line search
    of the next log point and of the budget (each call re-evaluates the loss once at its start,
    at the point where the last one ended: the iteration is the same as in one long call, and
    these extra evaluations are counted too). A call that ends on one of torch's tolerances
    (``lbfgs_tolerance_stops`` counts them; in float32 the loss-change test fires once the loss
    stalls in its last digits) does not end the run: the next call continues from the same
    state. The run stops early only if two calls in a row make no iteration. The curves are logged when
    the count first reaches each of :func:`_log_points` (and ``log_at``): ``evals``, ``steps``
    (optimizer steps; L-BFGS iterations), ``wall_time`` and ``cpu_time`` (seconds of the clock and
    of this process's CPU in the optimizer, the test-error evaluations excluded: on a shared
    machine the CPU time is the fair measure of cost), ``loss``, ``test_rel_l2``, ``test_max_abs``. A non-finite loss or a
    :class:`~savlib.errors.NonFiniteError` ends the run as diverged. ``keep_state=True`` adds the
    final parameters (``"state"``: name -> nested lists) so that a chapter can rebuild the network.
    """
    from ..errors import NonFiniteError

    dev, model = _new_run(problem, evals, lr, widths, seed, device, dtype)
    net = model.net
    x_f = model.data.x_f
    ref = problem.reference().to(dev, dtype)
    x_te = problem.test_points().to(dev, dtype)
    if scheme == "L-BFGS":
        o = dict(RAISSI_LBFGS, **(lbfgs or {}))
        per_call = int(o["iterations_per_call"])
        opt = torch.optim.LBFGS(net.parameters(), lr=lr, max_iter=per_call, history_size=int(o["history_size"]),
                                tolerance_grad=float(o["tolerance_grad"]),
                                tolerance_change=float(o["tolerance_change"]), line_search_fn=o["line_search"])
    else:
        opt = make_optimizer(scheme, net.parameters(), lr, C=C, lam=lam, K1=K1, gamma=gamma)
    last = {"loss": math.nan}

    def closure():
        opt.zero_grad()
        loss = model.training_loss(None, x_f)
        if loss.requires_grad:
            loss.backward()
        last["loss"] = float(loss.detach())
        return loss

    def counted() -> int:
        return model.evals + model.evals_no_grad

    points = _log_points(evals, n_logs, log_at)
    curves: dict[str, list] = {k: [] for k in ("evals", "steps", "wall_time", "cpu_time", "loss", "test_rel_l2",
                                                "test_max_abs")}

    def log(steps: int, seconds: float, cpu: float) -> None:
        with torch.no_grad():
            pred = model(x_te)
        curves["evals"].append(counted())
        curves["steps"].append(steps)
        curves["wall_time"].append(seconds)
        curves["cpu_time"].append(cpu)
        curves["loss"].append(last["loss"])
        curves["test_rel_l2"].append(float(rel_l2(pred.to(torch.float64), ref.to(torch.float64))))
        curves["test_max_abs"].append(float(max_abs(pred.to(torch.float64), ref.to(torch.float64))))

    with torch.no_grad():
        last["loss"] = float(model.training_loss(None, x_f))
    model.evals_no_grad -= 1            # a measurement, not a step
    log(0, 0.0, 0.0)
    nxt = 1
    while nxt < len(points) and points[nxt] <= 0:
        nxt += 1
    steps, seconds, cpu, idle, tol_stops = 0, 0.0, 0.0, 0, 0
    diverged, divergence, stopped = False, None, None
    while counted() < evals:
        before = counted()
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            if scheme == "L-BFGS":
                # stop within one line search of the budget and of the next log point
                target = points[nxt] if nxt < len(points) else evals
                opt.param_groups[0]["max_eval"] = max(1, min(int(per_call * 1.25), evals - before, target - before))
                n0 = opt.state[opt._params[0]].get("n_iter", 0)
                opt.step(closure)
                made = opt.state[opt._params[0]].get("n_iter", 0) - n0
                if made < per_call and counted() - before < opt.param_groups[0]["max_eval"]:
                    tol_stops += 1          # the call ended on a tolerance, not on its caps
                steps += made
                idle = idle + 1 if made == 0 else 0
            else:
                opt.step(closure)
                steps += 1
        except NonFiniteError as e:
            diverged, divergence = True, {"evals": counted(), "reason": str(e)}
        seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
        if not diverged and not math.isfinite(last["loss"]):
            diverged, divergence = True, {"evals": counted(), "reason": "loss not finite"}
        if diverged:
            break
        if idle >= 2:
            stopped = f"converged: L-BFGS made no iteration in two calls (tolerances) after {counted()} evaluations"
            break
        if counted() >= points[min(nxt, len(points) - 1)] or counted() >= evals:
            log(steps, seconds, cpu)
            while nxt < len(points) and points[nxt] <= counted():
                nxt += 1
        if counted() == before:
            raise RuntimeError(f"{scheme}: a step made no closure call")
    if curves["evals"][-1] != counted():
        log(steps, seconds, cpu)
    fin = [v for v in curves["test_rel_l2"] if math.isfinite(v)]
    out = {"scheme": scheme, "lr": lr, "budget_evals": evals, "batch_size": None, **curves,
           "final_test_rel_l2": curves["test_rel_l2"][-1], "final_test_max_abs": curves["test_max_abs"][-1],
           "best_test_rel_l2": min(fin) if fin else math.nan, "final_loss": curves["loss"][-1],
           "diverged": diverged, "divergence": divergence, "stopped": stopped, "lbfgs_tolerance_stops": tol_stops,
           "closure_calls": model.evals, "closure_calls_no_grad": model.evals_no_grad,
           "wall_time_s": curves["wall_time"][-1], "cpu_time_s": curves["cpu_time"][-1],
           "n_params": sum(p.numel() for p in net.parameters()),
           "cpu_seconds_per_eval": curves["cpu_time"][-1] / max(1, counted())}
    if keep_state:
        out["state"] = {k: v.detach().cpu().to(torch.float64).tolist() for k, v in net.state_dict().items()}
    return out


def burgers_pinn(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0, seeds=None,
                 lbfgs_evals: int | None = None, lbfgs_seeds: int | None = None, compare_evals: int | None = None,
                 compare=None, dtype: str = "float32", lbfgs_dtype: str = "float64",
                 ctx: Context | None = None) -> dict[str, Any]:
    """Raissi et al. 2019's Burgers PINN on this CPU, and a fair comparison of optimizers on it.

    Problem: :class:`~savlib.problems.pinn.BurgersRaissi` (``n_u = 100`` initial/boundary points,
    ``n_f = 10000`` Latin-hypercube collocation points plus the 456 candidates, inputs scaled to
    ``[-1, 1]^2``, 8 hidden layers of 20 tanh units); each seed draws its own points and network.

    * ``literature``: L-BFGS as Raissi et al. (history 50, strong Wolfe line search, loss
      tolerance float64 epsilon; :data:`RAISSI_LBFGS`) in ``lbfgs_dtype`` (float64: in float32
      the line search stalls, measured at about 3e-3 after 5000 evaluations) for at most
      ``lbfgs_evals`` loss/gradient evaluations (Raissi et al. allow 50,000), on the first
      ``lbfgs_seeds`` seeds, with the final network stored.
    * ``runs``: each ``(scheme, lr)`` of ``compare`` (default :data:`RAISSI_COMPARE`: L-BFGS with
      the literature's settings, SGD, Adam, the A-SAV family with ``C = 1e4``, ``lambda = 4`` of
      Ma, Mao & Shen 2024, and ISGD with ``K1 = 10`` inner Adam steps at rate ``1e-3``) in
      ``dtype`` on the same full batch for ``compare_evals`` evaluations per seed (L-BFGS may
      end up to one line search past the budget).

    The relative L2 error is measured on the Cole-Hopf test grid (``burgers_exact``). Sizes:
    :data:`RAISSI_SIZES`. Units: ``literature|seedS`` and ``lr=LR|SCHEME|seedS``. ``summary``
    holds ``best_rel_l2`` (the lowest final error over all runs), ``best_run``, the statistics
    per run key (:func:`summarize`) and of the literature runs, and ``table`` (one row per
    optimizer: error, evaluations, seconds of wall clock and of CPU).
    """
    from . import _check_size
    from ..problems.pinn import BurgersRaissi

    ctx = ctx or Context()
    sz = _check_size(size)
    base = RAISSI_SIZES[sz]
    for name, v in (("dtype", dtype), ("lbfgs_dtype", lbfgs_dtype)):
        if v not in ("float32", "float64"):
            raise ValueError(f"{name} must be 'float32' or 'float64', got {v!r}")
    pairs = [[str(s), float(lr)] for s, lr in (compare if compare is not None else RAISSI_COMPARE)]
    unknown = [s for s, _ in pairs if s not in ("SGD", "Adam", "Adagrad", "RMSprop", "A-SAV", "A-ResSAV", "A-RelSAV",
                                                "ISGD", "L-BFGS")]
    if unknown:
        raise ValueError(f"unknown schemes {unknown}")
    cfg = ctx.declare(
        scale=sz, problem=dict(base["problem"], nu=BURGERS_NU), widths=list(base["widths"]),
        lbfgs_evals=int(lbfgs_evals or base["lbfgs_evals"]), lbfgs_seeds=int(lbfgs_seeds or base["lbfgs_seeds"]),
        lbfgs_dtype=lbfgs_dtype, compare_evals=int(compare_evals or base["compare_evals"]),
        lbfgs=dict(RAISSI_LBFGS), compare=pairs, C=1e4, lam=4.0, K1=10, isgd_inner_lr=1e-3,
        seeds=_seed_list(seeds, seed, base["seeds"]), n_logs=int(base["n_logs"]), dtype=dtype, batch="full",
        cost_unit="closure calls: loss + gradient evaluations (A-RelSAV: 2 per step, the second forward-only; "
                  "ISGD: K1 per step; L-BFGS: every line-search evaluation)")
    if not 1 <= cfg["lbfgs_seeds"] <= len(cfg["seeds"]):
        raise ValueError(f"lbfgs_seeds must be between 1 and the number of seeds, got {cfg['lbfgs_seeds']}")
    dt, dt_lit = getattr(torch, cfg["dtype"]), getattr(torch, cfg["lbfgs_dtype"])
    literature: dict[str, Any] = {}
    runs: dict[str, dict[str, Any]] = {}
    bar = _bar(progress, cfg["lbfgs_seeds"] + len(cfg["seeds"]) * len(pairs), "pinn_burgers")
    for i, s in enumerate(cfg["seeds"]):
        problem = BurgersRaissi(seed=s, **cfg["problem"])
        if i < cfg["lbfgs_seeds"]:
            lit = literature[str(s)] = ctx.unit(
                f"literature|seed{s}",
                lambda: train_budget(problem, "L-BFGS", cfg["lbfgs"]["lr"], cfg["lbfgs_evals"], widths=cfg["widths"],
                                     seed=s, device=device, dtype=dt_lit, n_logs=cfg["n_logs"], lbfgs=cfg["lbfgs"],
                                     keep_state=True))
            bar.update(1)
            bar.set_postfix(run=f"L-BFGS seed {s}", err=f"{lit['final_test_rel_l2']:.3g}")
        for name, lr in pairs:
            key = f"lr={lr:g}|{name}"
            runs.setdefault(key, {})[str(s)] = r = ctx.unit(
                f"{key}|seed{s}",
                lambda: train_budget(problem, name, lr, cfg["compare_evals"], widths=cfg["widths"], seed=s,
                                     device=device, dtype=dt, n_logs=cfg["n_logs"], C=cfg["C"], lam=cfg["lam"],
                                     K1=cfg["K1"], gamma=cfg["isgd_inner_lr"], lbfgs=cfg["lbfgs"]))
            bar.update(1)
            bar.set_postfix(run=f"{name} lr={lr:g} seed {s}", err=f"{r['final_test_rel_l2']:.3g}")
    bar.close()
    return {"size": size, "scale": sz, "device": str(get_device(device)), "config": cfg,
            "problem": repr(BurgersRaissi(seed=cfg["seeds"][0], **cfg["problem"])),
            "reference": "Cole-Hopf (savlib.problems.burgers_exact)", "paper": dict(RAISSI_REPORTED),
            "literature": literature, "runs": runs, "summary": burgers_summary(literature, runs)}


def burgers_summary(literature: dict[str, Any], runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``best_rel_l2`` and ``best_run`` (over the literature runs and every comparison run),
    ``literature`` (statistics over seeds of the final error, evaluations and seconds),
    ``per_key`` (:func:`summarize` of the comparison) and ``table``: one row per optimizer
    (problem, optimizer, lr, final relative L2 mean/sd/min/max over seeds, evaluations,
    wall-clock and CPU seconds per run, seeds, diverged seeds)."""
    cands = [(r["final_test_rel_l2"], f"literature|seed{s}") for s, r in literature.items()]
    cands += [(r["final_test_rel_l2"], f"{k}|seed{s}") for k, per in runs.items() for s, r in per.items()]
    cands = [c for c in cands if math.isfinite(c[0])]
    best = min(cands) if cands else (math.nan, None)
    lit = list(literature.values())
    per_key = summarize(runs)
    table = [{"problem": "Burgers (Raissi et al. 2019 setup)", "optimizer": "L-BFGS (literature run)",
              "lr": lit[0]["lr"] if lit else math.nan, "seeds": len(lit), "diverged": sum(bool(r["diverged"]) for r in lit),
              "rel_l2": _stats([r["final_test_rel_l2"] for r in lit if not r["diverged"]]),
              "evals": _stats([float(r["evals"][-1]) for r in lit]),
              "seconds": _stats([r["wall_time_s"] for r in lit]), "cpu_seconds": _stats([r["cpu_time_s"] for r in lit])}]
    for key, per in runs.items():
        rs = list(per.values())
        table.append({"problem": "Burgers (Raissi et al. 2019 setup)", "optimizer": rs[0]["scheme"], "lr": rs[0]["lr"],
                      "seeds": len(rs), "diverged": sum(bool(r["diverged"]) for r in rs),
                      "rel_l2": _stats([r["final_test_rel_l2"] for r in rs if not r["diverged"]]),
                      "evals": _stats([float(r["evals"][-1]) for r in rs]),
                      "seconds": _stats([r["wall_time_s"] for r in rs]),
                      "cpu_seconds": _stats([r["cpu_time_s"] for r in rs])})
    return {"best_rel_l2": best[0], "best_run": best[1],
            "literature": {"final_rel_l2": _stats([r["final_test_rel_l2"] for r in lit if not r["diverged"]]),
                           "evals": [r["evals"][-1] for r in lit], "wall_time_s": [r["wall_time_s"] for r in lit],
                           "stopped": [r.get("stopped") for r in lit]},
            "per_key": per_key, "table": table}


def plot_burgers(res: dict[str, Any], path: Path | None = None):
    """Two panels: relative L2 test error against gradient evaluations and against CPU seconds
    (one thread; on a shared machine the fair clock), one line per seed, one colour per optimizer
    (the literature L-BFGS runs and the comparison's runs)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    series = [(f"L-BFGS, literature run ({res['config']['lbfgs_dtype']})", list(res["literature"].values()))]
    series += [(k.split("|", 1)[1] + f" (lr {k.split('|')[0][3:]})", list(v.values())) for k, v in res["runs"].items()]
    for ax, xkey, xlabel in ((axes[0], "evals", "gradient evaluations"),
                             (axes[1], "cpu_time", "CPU seconds (one thread)")):
        for i, (label, rs) in enumerate(series):
            for j, r in enumerate(rs):
                ys = [v if math.isfinite(v) else math.nan for v in r["test_rel_l2"]]
                ax.loglog([max(x, 1e-3 if xkey == "cpu_time" else 1) for x in r[xkey]], ys, color=f"C{i}",
                          lw=1, alpha=0.8, label=label if j == 0 else None)
        ax.axhline(res["paper"]["rel_l2"], color="k", ls=":", lw=1, label="Raissi et al. 2019")
        ax.axvline(res["config"]["compare_evals"], color="grey", ls="--", lw=0.8) if xkey == "evals" else None
        ax.set_xlabel(xlabel)
        ax.set_ylabel("relative L2 test error")
    axes[0].legend(fontsize=7)
    return finish(fig, path)


# ============================================================================ Li, Chen & Huang 2023 Figs. 2-4
def _problem_kw(p: str, kw: dict[str, Any]) -> dict[str, Any]:
    """Every constructor parameter of problem ``p`` but the seed: the class defaults updated
    with ``kw`` (so the declared configuration names the points, weights and coefficients)."""
    from dataclasses import MISSING, fields

    out = {f.name: f.default for f in fields(_PROBLEMS[p]) if f.init and f.name != "seed" and f.default is not MISSING}
    bad = set(kw) - set(out)
    if bad:
        raise ValueError(f"{p}: unknown problem parameters {sorted(bad)}")
    out.update(kw)
    return out


def isgd_pinn(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0, seeds=None,
              paper: bool = False, problems=("ode_eps2", "ode_eps0.01", "poisson2d", "helmholtz"),
              schemes=ISGD_SCHEMES, K1: int = 10, isgd_fraction: float = 0.5, evals: dict | None = None,
              ctx: Context | None = None) -> dict[str, Any]:
    """Li, Chen & Huang 2023 Figs. 2-4: singularly perturbed ODE (eq. 19, eps = 2 and 0.01), 2-D Poisson
    (eq. 20) and Helmholtz k = 4 (eq. 21), SGD vs Adam vs ISGD,Adam at a small lr (0.001 for
    the ODE with batches of 40, 0.0005 for the 2-D problems) and at lr 0.5 (full batch), all
    with the same budget of closure calls. Reports the max absolute error next to the
    paper's 0.2% (Poisson) and 0.7% (Helmholtz).

    Sizes (:data:`ISGD_SIZES`): full (CPU) keeps the ODE's 400 points and 4 x 50 network,
    uses 1000 + 200 points and a 4 x 50 network for the 2-D problems, 1500 (ODE) / 1000 (2-D)
    evaluations per run and seeds ``seed, seed+1, seed+2`` (quick: one seed);
    ``paper=True`` at full size uses the paper's networks, points and Table 1 iteration
    counts. ``evals={"ode_eps2": 500, ...}`` overrides budgets per problem. Every run is one
    unit ``PROBLEM|lr=LR|SCHEME|seedS`` of the result of record.
    """
    ctx = ctx or Context()
    sz = _size(size, paper)
    unknown = [p for p in problems if p not in _PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problems {unknown}; expected some of {sorted(_PROBLEMS)}")
    evals = dict(evals or {})
    if set(evals) - set(problems):
        raise ValueError(f"evals given for problems not run: {sorted(set(evals) - set(problems))}")
    pcfg = {}
    for p in problems:
        c = ISGD_SIZES[sz][p]
        pcfg[p] = {"kw": _problem_kw(p, c["kw"]), "widths": list(c["widths"]), "evals": int(evals.get(p, c["evals"])),
                   "lrs": list(ISGD_LRS[p]), "small_lr_batch": ISGD_SMALL_BATCH[p], "eta": ISGD_LRS[p][0]}
    cfg = ctx.declare(scale=sz, problems=pcfg, schemes=list(schemes), K1=int(K1), isgd_fraction=float(isgd_fraction),
                      seeds=_seed_list(seeds, seed, ISGD_SEEDS[sz]), n_logs=30, dtype="float32",
                      cost_unit="closure calls (one ISGD step = K1 inner Adam steps = K1 calls)")
    runs: dict[str, dict[str, Any]] = {}
    plan = [(p, lr, name) for p in cfg["problems"] for lr in cfg["problems"][p]["lrs"] for name in cfg["schemes"]]
    bar = _bar(progress, len(cfg["seeds"]) * len(plan), "pinn_isgd")
    for s in cfg["seeds"]:
        made = {p: _PROBLEMS[p](seed=s, **c["kw"]) for p, c in cfg["problems"].items()}
        for p, lr, name in plan:
            c = cfg["problems"][p]
            small = lr == c["lrs"][0]
            key = f"{p}|lr={lr:g}|{name}"
            runs.setdefault(key, {})[str(s)] = r = ctx.unit(
                f"{key}|seed{s}",
                lambda: train_pinn(made[p], name, lr, c["evals"], widths=c["widths"], seed=s, device=device,
                                   batch_size=c["small_lr_batch"] if small else None, n_logs=cfg["n_logs"],
                                   K1=cfg["K1"], isgd_fraction=cfg["isgd_fraction"], eta=c["eta"]))
            bar.update(1)
            bar.set_postfix(run=f"{p} {name} lr={lr:g} seed {s}", err=f"{r['final_test_rel_l2']:.3g}")
    bar.close()
    return {"size": size, "scale": sz, "device": str(get_device(device)), "config": cfg,
            "problems": {p: repr(made[p]) for p in cfg["problems"]}, "paper": {p: PAPER_ISGD.get(p, {}) for p in
                                                                               cfg["problems"]},
            "runs": runs, "summary": summarize(runs)}


# ============================================================================ Li, Chen & Huang 2023 Fig. 1 / sec. 2.2
#: sizes of ``pinn_stiffness``: the network and points of the chapter "Stiffness of PINN
#: losses" at book size (full) and a smoke test (quick)
STIFFNESS_SIZES: dict[str, dict[str, Any]] = {
    "quick": dict(widths=[20] * 3, n_f=128, steps=200, freqs=[4, 12, 24, 50], seeds=1),
    "full": dict(widths=[30] * 4, n_f=1000, steps=2000, freqs=[2, 4, 8, 16, 32, 50, 60], seeds=3),
}


def adam_warmup(problem, widths, steps: int, seed: int = 0, device=None, dtype: torch.dtype = torch.float64):
    """``problem.default_model(widths)`` from :func:`savlib.generator` ``(seed)`` after ``steps``
    full-batch steps of torch's Adam with default settings (lr 1e-3) on ``problem.loss``: the
    warm-up before the Hessian spectra of the chapter "Stiffness of PINN losses" (Li, Chen & Huang 2023
    Fig. 1 uses Adam; it does not say at which parameters its spectra were taken)."""
    model = problem.default_model(widths=list(widths), generator=generator(seed)).to(get_device(device), dtype)
    opt = torch.optim.Adam(model.parameters())
    for _ in range(int(steps)):
        opt.zero_grad()
        loss = problem.loss(model)
        loss.backward()
        opt.step()
    return model


def _top_eigen(problem, model, tol: float) -> dict[str, Any]:
    from ..analysis import Hessian, lanczos

    r = lanczos(Hessian(problem.closure(model), model), k=1, tol=tol)
    return {"lambda_max": float(r.values[0]), "lanczos_steps": int(r.steps), "converged": bool(r.converged)}


def stiffness_sweep(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0, seeds=None,
                    widths=None, n_f: int | None = None, steps: int | None = None, freqs=None, amp: float = 0.1,
                    tol: float = 1e-6, ctx: Context | None = None) -> dict[str, Any]:
    """Li, Chen & Huang 2023 sec. 2.2 / Fig. 1, the frequency sweep of the chapter "Stiffness of PINN
    losses": for ``u = sin(2 pi x) + amp sin(m pi x)`` (``-u'' = f`` on (0, 1), ``N_r = n_f``
    collocation points) and each ``m`` in ``freqs``, plus the smooth ``u_L`` (``amp = 0``), the
    largest Hessian eigenvalue of the PINN loss (Lanczos, relative tolerance ``tol``) at the
    Glorot initialisation and after ``steps`` steps of Adam (:func:`adam_warmup`), and the
    relative L2 error after Adam; every seed draws its own network. float64 throughout.

    Sizes (:data:`STIFFNESS_SIZES`): full is the chapter's former book size (4 x 30 tanh,
    ``N_r = 1000``, 2000 Adam steps, m in 2..60 (7 values), 3 seeds; about 10 minutes of one
    CPU core);
    quick 3 x 20, ``N_r = 128``, 200 steps, one seed. Each (seed, m) is one unit ``seedS|m=M``
    (``m=0`` is ``u_L``)."""
    from ..problems import poisson1d_multiscale

    ctx = ctx or Context()
    from . import _check_size

    base = STIFFNESS_SIZES[_check_size(size)]
    cfg = ctx.declare(widths=[int(w) for w in (widths or base["widths"])], n_f=int(n_f or base["n_f"]),
                      steps=int(steps if steps is not None else base["steps"]),
                      freqs=[int(m) for m in (freqs or base["freqs"])], amp=float(amp), smooth_freq=0,
                      seeds=_seed_list(seeds, seed, base["seeds"]), lanczos_tol=float(tol), dtype="float64",
                      optimizer="torch.optim.Adam, default settings (lr 1e-3), full batch")
    runs: dict[str, dict[str, Any]] = {}
    bar = _bar(progress, len(cfg["seeds"]) * (len(cfg["freqs"]) + 1), "pinn_stiffness")

    def one(m: int, s: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        p = poisson1d_multiscale(freq=m if m else 2, amp=cfg["amp"] if m else 0.0, n_f=cfg["n_f"])
        m0 = adam_warmup(p, cfg["widths"], 0, s, device)
        init = _top_eigen(p, m0, cfg["lanczos_tol"])
        model = adam_warmup(p, cfg["widths"], cfg["steps"], s, device)
        trained = _top_eigen(p, model, cfg["lanczos_tol"])
        return {"freq": m, "amp": cfg["amp"] if m else 0.0, "init": init, "adam": trained,
                "loss_after_adam": float(p.loss(model).detach()), "rel_l2_after_adam": float(p.relative_l2(model)),
                "max_abs_forcing": float(p.forcing(torch.linspace(0, 1, 4001, dtype=torch.float64)[:, None]).abs().max()),
                "seconds": time.perf_counter() - t0}

    for s in cfg["seeds"]:
        for m in [0] + cfg["freqs"]:
            runs.setdefault(str(m), {})[str(s)] = ctx.unit(f"seed{s}|m={m}", lambda: one(m, s))
            bar.update(1)
    bar.close()
    return {"size": size, "device": str(get_device(device)), "config": cfg, "runs": runs,
            "summary": stiffness_summary(runs, cfg)}


def stiffness_summary(runs: dict[str, dict[str, Any]], cfg: dict[str, Any]) -> dict[str, Any]:
    """Statistics over seeds of a :func:`stiffness_sweep` result: per ``m`` (``"0"`` = ``u_L``)
    the mean/std/min/max of ``lambda_max`` after Adam and at initialisation, of the ratio to the
    smooth problem's value for the same seed, and of the relative error; per seed, whether
    ``lambda_max`` after Adam increases with ``m`` over the sweep (``monotone``), the
    frequencies where it does not, and the least-squares slope of ``log lambda_max`` against
    ``log m`` over all frequencies and over ``m >= 16``."""
    import numpy as np

    seeds = [str(s) for s in cfg["seeds"]]
    freqs = cfg["freqs"]
    per_m = {}
    for m in ["0"] + [str(f) for f in freqs]:
        rs = runs[m]
        per_m[m] = {"lambda_adam": _stats([rs[s]["adam"]["lambda_max"] for s in seeds]),
                    "lambda_init": _stats([rs[s]["init"]["lambda_max"] for s in seeds]),
                    "ratio_to_smooth": _stats([rs[s]["adam"]["lambda_max"] / runs["0"][s]["adam"]["lambda_max"]
                                               for s in seeds]),
                    "rel_l2": _stats([rs[s]["rel_l2_after_adam"] for s in seeds])}
    per_seed = {}
    for s in seeds:
        lam = np.array([runs[str(f)][s]["adam"]["lambda_max"] for f in freqs])
        drops = [f"{freqs[i]}->{freqs[i + 1]}" for i in range(len(freqs) - 1) if lam[i + 1] <= lam[i]]
        hi = np.array(freqs) >= 16
        per_seed[s] = {"monotone": not drops, "drops": drops,
                       "slope_all": float(np.polyfit(np.log(freqs), np.log(lam), 1)[0]) if len(freqs) > 1 else math.nan,
                       "slope_m_ge_16": float(np.polyfit(np.log(np.array(freqs)[hi]), np.log(lam[hi]), 1)[0])
                       if hi.sum() > 1 else math.nan,
                       "top_over_smooth": float(lam[-1] / runs["0"][s]["adam"]["lambda_max"])}
    return {"per_freq": per_m, "per_seed": per_seed}


def plot_stiffness(res: dict[str, Any], path: Path | None = None):
    """``lambda_max`` after Adam (and at initialisation) against the frequency ``m``, one line
    per seed, with the smooth problem's value per seed as a dashed line."""
    import matplotlib.pyplot as plt

    cfg = res["config"]
    freqs = cfg["freqs"]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, s in enumerate(str(v) for v in cfg["seeds"]):
        ax.loglog(freqs, [res["runs"][str(f)][s]["adam"]["lambda_max"] for f in freqs], "o-", color=f"C{i}",
                  ms=3, lw=1, label=f"seed {s}, after {cfg['steps']} Adam steps")
        ax.loglog(freqs, [res["runs"][str(f)][s]["init"]["lambda_max"] for f in freqs], "x:", color=f"C{i}",
                  ms=3, lw=0.8, label="at initialisation" if i == 0 else None)
        ax.axhline(res["runs"]["0"][s]["adam"]["lambda_max"], color=f"C{i}", ls="--", lw=0.8,
                   label="$u_L$ after Adam" if i == 0 else None)
    ax.set_xlabel("frequency m of the term 0.1 sin(m pi x)")
    ax.set_ylabel("largest Hessian eigenvalue")
    ax.set_title(f"1-{'-'.join(map(str, cfg['widths']))}-1 tanh, N_r = {cfg['n_f']}", fontsize=9)
    ax.legend(fontsize=7)
    return finish(fig, path)


# ============================================================================ reporting
def _stats(values: list[float]) -> dict[str, float]:
    v = [x for x in values if isinstance(x, (int, float)) and math.isfinite(x)]
    if not v:
        return {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan, "n": 0}
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return {"mean": m, "std": sd, "min": min(v), "max": max(v), "n": len(v)}


def summarize(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per run key (``[PROBLEM|]lr=LR|SCHEME``): the statistics over seeds (mean, sample
    standard deviation, min, max, number of finite values) of the final and best relative L2
    test error and of the final max abs error, the number of seeds that diverged, and the
    evaluations each seed reached. Diverged runs enter only ``n_diverged`` (their final error
    is not finite)."""
    out = {}
    for key, per_seed in runs.items():
        rs = list(per_seed.values())
        out[key] = {"scheme": rs[0]["scheme"], "lr": rs[0]["lr"], "n_seeds": len(rs),
                    "n_diverged": sum(bool(r["diverged"]) for r in rs),
                    "evals_reached": [r["evals"][-1] for r in rs], "budget_evals": rs[0]["budget_evals"],
                    "final_rel_l2": _stats([r["final_test_rel_l2"] for r in rs if not r["diverged"]]),
                    "best_rel_l2": _stats([r["best_test_rel_l2"] for r in rs]),
                    "final_max_abs": _stats([r["final_test_max_abs"] for r in rs if not r["diverged"]]),
                    "wall_time_s": sum(r["wall_time_s"] for r in rs)}
    return out


def summary_table(res: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per run key (problem, lr, scheme) of a result of :func:`burgers_fig12` or
    :func:`isgd_pinn`: seeds, diverged seeds, fewest evaluations reached, and the mean, sample
    standard deviation, min and max over the seeds that did not diverge of the final relative
    L2 error (``final_rel_l2`` is the mean), the mean best relative L2 and the mean final max
    abs error."""
    rows = []
    summ = res.get("summary") or summarize(res["runs"])
    for key, s in summ.items():
        parts = key.split("|")
        f = s["final_rel_l2"]
        rows.append({"run": key, "problem": parts[0] if len(parts) == 3 else "burgers", "lr": s["lr"],
                     "scheme": s["scheme"], "n_seeds": s["n_seeds"], "n_diverged": s["n_diverged"],
                     "evals": min(s["evals_reached"]), "budget_evals": s["budget_evals"],
                     "final_rel_l2": f["mean"], "final_rel_l2_std": f["std"], "final_rel_l2_min": f["min"],
                     "final_rel_l2_max": f["max"], "best_rel_l2": s["best_rel_l2"]["mean"],
                     "final_max_abs": s["final_max_abs"]["mean"], "diverged": s["n_diverged"] == s["n_seeds"],
                     "wall_time_s": s["wall_time_s"]})
    return rows


def summary_html(res: dict[str, Any], metric: str = "final_rel_l2") -> str:
    """:func:`summary_table` as an HTML table (for a chapter's ``IPython.display.HTML``): per run
    key the seeds, the diverged seeds, and mean +- sample standard deviation [min, max] over the
    seeds that did not diverge of ``metric`` (``final_rel_l2``, ``best_rel_l2`` is a mean only,
    ``final_max_abs`` likewise)."""
    from html import escape

    head = ("<tr><th>problem</th><th>lr</th><th>scheme</th><th>seeds</th><th>diverged</th>"
            "<th>gradient evaluations</th><th>final relative L2: mean &plusmn; sd [min, max]</th>"
            "<th>best relative L2 (mean)</th><th>final max abs error (mean)</th></tr>")
    body = []
    for r in summary_table(res):
        if r["n_diverged"] == r["n_seeds"]:
            fin = "diverged"
        else:
            fin = (f"{r['final_rel_l2']:.3g} &plusmn; {r['final_rel_l2_std']:.2g} "
                   f"[{r['final_rel_l2_min']:.3g}, {r['final_rel_l2_max']:.3g}]")
        ev = f"{r['budget_evals']}" if r["evals"] == r["budget_evals"] else f"{r['evals']} of {r['budget_evals']}"
        cells = [escape(r["problem"]), f"{r['lr']:g}", escape(r["scheme"]), str(r["n_seeds"]), str(r["n_diverged"]),
                 ev, fin, f"{r['best_rel_l2']:.3g}",
                 "-" if r["n_diverged"] == r["n_seeds"] else f"{r['final_max_abs']:.3g}"]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="savlib-results"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def plot_runs(res: dict[str, Any], path: Path | None = None, key: str = "test_rel_l2"):
    """One panel per (problem, lr): ``key`` against gradient evaluations, one thin line per
    seed and scheme (one colour per scheme); saved to ``path`` (and closed) when given, else
    the figure is returned."""
    import matplotlib.pyplot as plt

    panels: dict[str, list[str]] = {}
    for k in res["runs"]:
        panels.setdefault(k.rsplit("|", 1)[0], []).append(k)
    n = len(panels)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, (panel, keys) in zip(axes.flat, panels.items()):
        for i, k in enumerate(keys):
            per_seed = res["runs"][k]
            nd = sum(bool(r["diverged"]) for r in per_seed.values())
            for j, r in enumerate(per_seed.values()):
                ys = [v if isinstance(v, (int, float)) and math.isfinite(v) else math.nan for v in r[key]]
                lab = None
                if j == 0:
                    lab = r["scheme"] + (f" ({nd}/{len(per_seed)} diverged)" if nd else "")
                ax.semilogy(r["evals"], ys, color=f"C{i}", label=lab, lw=1.0, alpha=0.8)
        ax.set_title(f"{panel} ({len(res['runs'][keys[0]])} seed{'s' if len(res['runs'][keys[0]]) > 1 else ''})",
                     fontsize=9)
        ax.set_xlabel("gradient evaluations (closure calls)")
        ax.set_ylabel({"test_rel_l2": "relative L2 test error", "loss": "training loss",
                       "test_max_abs": "max abs test error"}.get(key, key))
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return finish(fig, path)


def _burgers(size="quick", device=None, progress=False, *, seed=0, ctx=None, **kw):
    return burgers_pinn(size, device, progress, seed=seed, ctx=ctx, **kw)


def _burgers_paper(size="quick", device=None, progress=False, *, seed=0, ctx=None, **kw):
    return burgers_fig12(size, device, progress, seed=seed, paper=True, ctx=ctx, **kw)


def _burgers_paper_lam0(size="quick", device=None, progress=False, *, seed=0, ctx=None, **kw):
    """A named variant of ``pinn_burgers_paper``: A-SAV with ``lam = 0`` (no ``(I + dt L)^{-1}``
    damping), otherwise the same setup, rates and seeds; A-ResSAV coincides with A-SAV there
    (``C = 1e4``)."""
    kw.setdefault("lam", 0.0)
    kw.setdefault("schemes", ("A-SAV",))
    return burgers_fig12(size, device, progress, seed=seed, paper=True, ctx=ctx, **kw)


def _isgd(size="quick", device=None, progress=False, *, seed=0, ctx=None, **kw):
    return isgd_pinn(size, device, progress, seed=seed, ctx=ctx, **kw)


def _isgd_paper(size="quick", device=None, progress=False, *, seed=0, ctx=None, **kw):
    return isgd_pinn(size, device, progress, seed=seed, paper=True, ctx=ctx, **kw)


# the keywords these wrappers accept are their targets' (``record.resolve_config`` checks
# them with inspect.signature, which follows __wrapped__)
_burgers.__wrapped__ = burgers_pinn
_burgers_paper.__wrapped__ = _burgers_paper_lam0.__wrapped__ = burgers_fig12
_isgd.__wrapped__ = _isgd_paper.__wrapped__ = isgd_pinn


def _experiments():
    from . import Experiment

    return {
        "pinn_burgers": Experiment("pinn_burgers", "Burgers PINN in Raissi et al. 2019's setup: L-BFGS as they train it, "
                                   "and SGD/Adam/L-BFGS/A-SAV family/ISGD at equal full batch and gradient "
                                   "evaluations, 3 seeds", _burgers, plot_burgers),
        "pinn_burgers_paper": Experiment("pinn_burgers_paper", "Ma, Mao & Shen 2024 Fig. 12 with the paper's points and "
                                         "network, both rates, six optimizers, 3 seeds (20000 evaluations per run by "
                                         "default, a GPU run; the result of record: --set evals=2000, an hour of one "
                                         "CPU core)", _burgers_paper, plot_runs),
        "pinn_burgers_paper_lam0": Experiment("pinn_burgers_paper_lam0", "pinn_burgers_paper's A-SAV with lambda = 0 "
                                              "(no damping by (I + dt L)^-1), same setup, rates and seeds: how much "
                                              "of the gap to Adam lambda = 4 makes", _burgers_paper_lam0, plot_runs),
        "pinn_isgd": Experiment("pinn_isgd", "Li, Chen & Huang 2023 Figs. 2-4: ODE/Poisson/Helmholtz, SGD vs Adam vs ISGD,Adam, "
                                "3 seeds (full = reduced CPU size)", _isgd, plot_runs),
        "pinn_stiffness": Experiment("pinn_stiffness", "Li, Chen & Huang 2023 sec. 2.2 / Fig. 1: largest Hessian eigenvalue "
                                     "of the 1-D Poisson PINN loss against the frequency of the fine scale, 3 seeds",
                                     stiffness_sweep, plot_stiffness),
        "pinn_isgd_paper": Experiment("pinn_isgd_paper", "Li, Chen & Huang 2023 Figs. 2-4 at the paper's size (GPU)",
                                      _isgd_paper, plot_runs),
    }


EXPERIMENTS = _experiments()
