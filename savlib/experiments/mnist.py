"""MNIST experiments: Li, Chen & Huang 2023 Appendix C.2 (Table 2) and the gradient-flow report's Experiment 4 (Table 3.7).

Book chapter ``book/particles/mnist.ipynb``; run with ``python -m savlib.experiments NAME``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from .._figures import finish
from ..config import get_device, seed_everything
from ..problems.mnist import mnist
from ..train import fit

__all__ = ["PAPER_TABLE2", "TABLE2_LRS", "TABLE2_BATCHES", "tied_inner_lr", "isgd_mnist_grid", "plot_grid",
           "mnist_mlp", "table2_summary", "gradflow2024_mnist", "PAPER_TABLE37", "GRADFLOW_MNIST_PARAMS",
           "ce_sqrt_residual", "plot_mnist_runs", "GRADFLOW_MNIST_VARIANTS", "FRESH",
           "isgd_grid_stored"]

#: Li, Chen & Huang 2023 Appendix C.2, Table 2: test accuracy after 10 epochs (100 for the full batch).
PAPER_TABLE2: dict[str, dict[str, list[float]]] = {
    "SGD": {"32": [0.907, 0.950, 0.978, 0.936, 0.217, 0.096], "128": [0.857, 0.926, 0.967, 0.973, 0.101, 0.089],
            "512": [0.665, 0.894, 0.942, 0.975, 0.219, 0.114], "full": [0.131, 0.666, 0.886, 0.945, 0.242, 0.012]},
    "Adam": {"32": [0.966, 0.969, 0.871, 0.432, 0.415, 0.131], "128": [0.972, 0.973, 0.895, 0.508, 0.413, 0.150],
             "512": [0.970, 0.971, 0.939, 0.626, 0.508, 0.170], "full": [0.919, 0.853, 0.725, 0.459, 0.391, 0.364]},
    "ISGD": {"32": [0.903, 0.950, 0.975, 0.978, 0.973, 0.971], "128": [0.853, 0.924, 0.968, 0.978, 0.977, 0.967],
             "512": [0.691, 0.895, 0.943, 0.975, 0.976, 0.969], "full": [0.141, 0.626, 0.887, 0.941, 0.952, 0.976]},
}
#: the learning rates of Li, Chen & Huang 2023's Table 2 (its columns)
TABLE2_LRS = [0.001, 0.01, 0.1, 1.0, 2.0, 10.0]
#: the batch sizes of Li, Chen & Huang 2023's Table 2 (its rows; "full" = the whole set)
TABLE2_BATCHES = ["32", "128", "512", "full"]


def tied_inner_lr(lr: float, cap: float = 1e-3, ratio: float = 1e-2) -> float:
    """The inner Adam rate savlib's experiments use for ISGD: ``gamma = min(cap, ratio * lr)``
    (default ``min(1e-3, lr / 100)``).

    Why tie it: Adam's first inner step moves every coordinate by about ``gamma`` whatever the
    gradient, while the exact proximal step (Li, Chen & Huang 2023 eq. 12) moves it by about
    ``lr |dL/dtheta_i|``. With a fixed ``gamma = 1e-3`` and a small outer ``lr`` the inner
    solver overshoots the proximal minimiser by orders of magnitude and training falls apart
    (measured on MNIST, lr 1e-3, b 128: the loss rises from 2.3 to 5.9 in 400 steps, while
    ``gamma = 1e-5`` tracks SGD). Li, Chen & Huang 2023 does not state its MNIST inner settings.
    """
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    return min(float(cap), float(ratio) * float(lr))


def mnist_mlp(seed: int = 0, device=None, hidden: int = 128, *, output_bias: bool = True,
              softmax_output: bool = False) -> torch.nn.Module:
    """Li, Chen & Huang 2023 App. C.2: the 784-128-10 ReLU network (softmax inside the cross-entropy),
    torch's default initialisation drawn from ``seed``. ``output_bias=False`` drops the 10
    output biases (the gradient-flow report's parameter count); ``softmax_output=True`` ends the network with
    a softmax, so that a cross-entropy applies a second one (the gradient-flow report's released code)."""
    seed_everything(seed)
    layers = [torch.nn.Linear(784, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10, bias=output_bias)]
    if softmax_output:
        layers.append(torch.nn.Softmax(dim=1))
    return torch.nn.Sequential(*layers).to(get_device(device))


def _isgd(params, lr: float, inner_steps: int, inner_lr, inner_state: str = "fresh"):
    from ..schemes.isgd import ISGD

    gamma = tied_inner_lr(lr) if inner_lr == "tied" else float(inner_lr)
    return ISGD(params, lr=lr, inner="adam", inner_steps=inner_steps, inner_lr=gamma, inner_state=inner_state)


#: the ISGD variant of the grid with the inner Adam restarted every outer step (see isgd_mnist_grid)
FRESH = "ISGD-fresh"


def isgd_mnist_grid(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0,
                    seeds=None, repeat_lrs=None, repeat_batches=None, fresh_batches=None,
                    isgd_inner_steps: int = 3, isgd_inner_lr: float | str = 1e-3,
                    isgd_inner_state: str = "carry",
                    optimizers=("SGD", "Adam", "ISGD"), lrs=None, batches=None,
                    epochs: int | None = None, full_batch_epochs: int | None = None,
                    n_train: int | None = None, n_test: int | None = None, ctx=None) -> dict[str, Any]:
    """Li, Chen & Huang 2023 Appendix C.2, Table 2: MNIST, 784-128-10 ReLU network, softmax cross-entropy,
    SGD / Adam / ISGD over lr {0.001, 0.01, 0.1, 1, 2, 10} x batch {32, 128, 512, full};
    10 epochs (100 for the full batch); final test accuracy.

    Full size: the 60k/10k split (pixels /255), 10 / 100 epochs, as in the paper (one seed,
    ``seeds[0]``, for the whole grid, as the paper reports one number per cell). Quick size:
    2000 training and 1000 test images, 1 epoch (5 for the full batch). ``epochs``,
    ``full_batch_epochs``, ``n_train``, ``n_test`` override the size's values (the runner's
    ``--set`` option); ``None`` for ``n_train``/``n_test`` means all images.

    **Repeated cells.** The cells ``repeat_lrs`` x ``repeat_batches`` (default lr 0.1, 1, 10 at
    batch 128: where the three optimizers part ways) run at every seed of ``seeds`` (default
    ``[seed, seed + 1, seed + 2]``), so the comparisons the book draws rest on 3 seeds; every
    seed draws its own initial network and batch order (the data are the same).

    ISGD is :class:`savlib.schemes.ISGD` with ``isgd_inner_steps`` inner Adam steps (K1 = 3) at
    rate ``isgd_inner_lr`` (default 1e-3, Adam's default, as Li, Chen & Huang 2023 says "Adam with default
    settings"; ``"tied"`` is :func:`tied_inner_lr`, ``gamma = min(1e-3, lr/100)``) and inner
    state ``isgd_inner_state``. Li, Chen & Huang 2023 does not say whether its inner Adam starts afresh at
    every outer step. ``"carry"`` (default) keeps one inner Adam whose moments run on across
    outer steps while the proximal anchor moves to ``theta_n``.

    **Variant "ISGD-fresh"** (reduced: only the batches ``fresh_batches``, default ``["128"]``,
    every lr at ``seeds[0]`` and the repeated lrs at every seed): the inner Adam restarted at
    every outer step (the :class:`~savlib.schemes.ISGD` default) with the tied rate
    :func:`tied_inner_lr` (without it the fresh form fails at small lr). Its first inner steps
    move every weight by about ``gamma`` whatever its gradient.

    A diverged run stops and its accuracy at that point is recorded (a NaN network predicts
    class 0). Every training run is one unit (``ctx.unit``, key ``OPT/bBATCH/lrLR/seedS``):
    the repeated cells first, then the fresh variant, then the rest of the grid by batch
    (128, 32, 512, full), so an interrupted run (``--resume``) has the decisive cells first.
    """
    from . import _check_size
    from .record import Context

    ctx = ctx or Context()
    full = _check_size(size) == "full"
    optimizers = list(optimizers)
    for o in optimizers:
        if o not in ("SGD", "Adam", "ISGD"):
            raise ValueError(f"optimizer must be SGD, Adam or ISGD, got {o!r}")
    if isgd_inner_state not in ("carry", "fresh"):
        raise ValueError(f"isgd_inner_state must be 'carry' or 'fresh', got {isgd_inner_state!r}")
    lrs = [float(v) for v in (lrs or TABLE2_LRS)]
    batches = [str(b) for b in (batches or TABLE2_BATCHES)]
    seeds = [int(s) for s in (seeds if seeds is not None else [seed, seed + 1, seed + 2])]
    if not seeds:
        raise ValueError("seeds must not be empty")
    repeat_lrs = [float(v) for v in (repeat_lrs if repeat_lrs is not None else [0.1, 1.0, 10.0]) if float(v) in lrs]
    repeat_batches = [str(b) for b in (repeat_batches if repeat_batches is not None else ["128"]) if str(b) in batches]
    fresh_batches = [str(b) for b in (fresh_batches if fresh_batches is not None else ["128"]) if str(b) in batches]
    if "ISGD" not in optimizers:
        fresh_batches = []
    cfg = ctx.declare(
        n_train=n_train if n_train is not None else (None if full else 2000),
        n_test=n_test if n_test is not None else (None if full else 1000),
        epochs=epochs or (10 if full else 1), full_batch_epochs=full_batch_epochs or (100 if full else 5),
        lrs=lrs, batches=batches, optimizers=optimizers, network="784-128-10 ReLU",
        isgd={"inner_steps": isgd_inner_steps, "inner_lr": isgd_inner_lr, "inner_state": isgd_inner_state},
        seeds=seeds, repeat_lrs=repeat_lrs, repeat_batches=repeat_batches,
        variants={FRESH: {"inner_steps": isgd_inner_steps, "inner_lr": "tied", "inner_state": "fresh",
                          "batches": fresh_batches}})
    dev = get_device(device)
    data = mnist(n_train=cfg["n_train"], n_test=cfg["n_test"], seed=seeds[0], device=dev)
    make = {
        "SGD": lambda p, lr: torch.optim.SGD(p, lr=lr),
        "Adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
        "ISGD": lambda p, lr: _isgd(p, lr, isgd_inner_steps, isgd_inner_lr, isgd_inner_state),
        FRESH: lambda p, lr: _isgd(p, lr, isgd_inner_steps, "tied", "fresh"),
    }

    def train(opt_name: str, b: str, lr: float, s: int) -> dict[str, Any]:
        model = mnist_mlp(s, dev)
        n_ep = cfg["full_batch_epochs"] if b == "full" else cfg["epochs"]
        h = fit(model, make[opt_name](model.parameters(), lr), data, epochs=n_ep,
                batch_size=None if b == "full" else int(b), seed=s, eval_every=n_ep)
        return {"test_accuracy": h.final("test_accuracy"), "final_train_loss": h.final("train_loss"),
                "seconds": h.wall_time[-1], "diverged": h.diverged}

    plan = _grid_plan(cfg)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(plan), desc="isgd_mnist_grid")
    units: dict[tuple, dict[str, Any]] = {}
    for o, b, lr, s in plan:
        units[(o, b, lr, s)] = ctx.unit(_unit_key(o, b, lr, s),
                                        lambda o=o, b=b, lr=lr, s=s: train(o, b, lr, s))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(opt=o, b=b, lr=lr, seed=s, acc=f"{units[(o, b, lr, s)]['test_accuracy']:.3f}")
    if bar is not None:
        bar.close()
    return _grid_result(size, dev, cfg, units)


def _grid_plan(cfg: dict[str, Any]) -> list[tuple[str, str, float, int]]:
    """The units of :func:`isgd_mnist_grid` in run order: ``(optimizer, batch, lr, seed)``."""
    seeds, lrs, fresh_b = cfg["seeds"], cfg["lrs"], cfg["variants"][FRESH]["batches"]
    all_opts = cfg["optimizers"] + ([FRESH] if fresh_b else [])
    plan: list[tuple[str, str, float, int]] = []
    for b in cfg["repeat_batches"]:                                 # 1. the repeated cells, every seed
        for s in seeds:
            for o in all_opts:
                if o == FRESH and b not in fresh_b:
                    continue
                plan += [(o, b, lr, s) for lr in cfg["repeat_lrs"]]
    for b in fresh_b:                                               # 2. the fresh variant's row
        plan += [(FRESH, b, lr, seeds[0]) for lr in lrs]
    order = sorted(cfg["batches"], key=lambda b: ["128", "32", "512", "full"].index(b)
                   if b in TABLE2_BATCHES else 9)
    for b in order:                                                 # 3. the grid at seeds[0]
        for o in cfg["optimizers"]:
            plan += [(o, b, lr, seeds[0]) for lr in lrs]
    seen: set = set()
    return [u for u in plan if not (u in seen or seen.add(u))]


def _unit_key(o: str, b: str, lr: float, s: int) -> str:
    return f"{o}/b{b}/lr{lr:g}/seed{s}"


def isgd_grid_stored(directory: str | Path | None = None) -> dict[str, Any]:
    """The stored :func:`isgd_mnist_grid` result: ``isgd_mnist_grid.json`` when it is a result
    of record (has ``provenance``), else the runs finished so far in
    ``isgd_mnist_grid.partial.json`` (written by an interrupted or running
    ``python -m savlib.experiments isgd_mnist_grid --full --out benchmarks/results``), put
    together the same way with the cells not yet run as NaN. ``res["stored"]`` says which:
    ``{"kind": "record" | "partial", "units": done, "of": total}``. Raises
    :class:`~savlib.errors.ResultError` when neither exists."""
    import json

    from ..errors import ResultError
    from .record import RESULTS_DIR, from_json, load_result

    d = Path(directory or RESULTS_DIR)
    try:
        res = load_result("isgd_mnist_grid", d)
        if res.get("provenance"):
            cfg = res["provenance"]["config"]
            res["stored"] = {"kind": "record", "units": len(_grid_plan(cfg)), "of": len(_grid_plan(cfg))}
            return res
    except ResultError:
        pass
    path = d / "isgd_mnist_grid.partial.json"
    if not path.is_file():
        raise ResultError(f"neither a result of record nor {path}: run `python -m savlib.experiments "
                          "isgd_mnist_grid --full --threads 1 --out benchmarks/results`")
    part = from_json(json.loads(path.read_text()))
    cfg = part["config"]
    plan = _grid_plan(cfg)
    units = {u: part["units"][_unit_key(*u)] for u in plan if _unit_key(*u) in part["units"]}
    res = _grid_result("full", "cpu", cfg, units)
    res["complete"] = len(units) == len(plan)
    res["stored"] = {"kind": "partial", "units": len(units), "of": len(plan)}
    return res


def _grid_result(size: str, dev, cfg: dict[str, Any], units: dict[tuple, dict[str, Any]]) -> dict[str, Any]:
    """The result dict of :func:`isgd_mnist_grid` from its units ``(opt, batch, lr, seed) -> value``."""
    s0, lrs = cfg["seeds"][0], cfg["lrs"]

    def row(o, b, key):
        return [units[(o, b, lr, s0)][key] if (o, b, lr, s0) in units else math.nan for lr in lrs]

    fresh_b = cfg["variants"][FRESH]["batches"]
    grid = {key: {o: {b: row(o, b, key) for b in cfg["batches"]} for o in cfg["optimizers"]}
            for key in ("test_accuracy", "final_train_loss", "seconds", "diverged")}
    rep: dict[str, Any] = {"seeds": cfg["seeds"], "lrs": cfg["repeat_lrs"], "batches": cfg["repeat_batches"],
                           "test_accuracy": {}, "mean": {}, "min": {}, "max": {}}
    for o in cfg["optimizers"] + ([FRESH] if fresh_b else []):
        for b in cfg["repeat_batches"]:
            if o == FRESH and b not in fresh_b:
                continue
            per = [[units[(o, b, lr, s)]["test_accuracy"] if (o, b, lr, s) in units else math.nan
                    for s in cfg["seeds"]] for lr in cfg["repeat_lrs"]]
            done = [[a for a in v if math.isfinite(a)] or [math.nan] for v in per]
            rep["test_accuracy"].setdefault(o, {})[b] = per
            rep["mean"].setdefault(o, {})[b] = [sum(v) / len(v) for v in done]
            rep["min"].setdefault(o, {})[b] = [min(v) for v in done]
            rep["max"].setdefault(o, {})[b] = [max(v) for v in done]
    res: dict[str, Any] = {
        "size": size, "device": str(dev), "lrs": lrs, "batches": cfg["batches"], "optimizers": cfg["optimizers"],
        "epochs": cfg["epochs"], "full_batch_epochs": cfg["full_batch_epochs"],
        "n_train": cfg["n_train"] or 60000, "n_test": cfg["n_test"] or 10000, "seed": s0,
        "isgd": dict(cfg["isgd"], inner_lr_rule="min(1e-3, lr/100)" if cfg["isgd"]["inner_lr"] == "tied" else "fixed"),
        "paper_epochs": 10, "paper_full_batch_epochs": 100,
        "test_accuracy": grid["test_accuracy"], "final_train_loss": grid["final_train_loss"],
        "seconds": grid["seconds"], "diverged": grid["diverged"],
        "variants": {FRESH: dict(cfg["variants"][FRESH],
                                 test_accuracy={b: row(FRESH, b, "test_accuracy") for b in fresh_b})},
        "repeats": rep, "compute_seconds": sum(u["seconds"] for u in units.values()), "units_done": len(units),
        "paper": PAPER_TABLE2, "complete": True}
    res.update(table2_summary(res))
    return res


def table2_summary(res: dict[str, Any]) -> dict[str, Any]:
    """The issue's target evaluated on a (possibly partial) grid result: ISGD's worst accuracy
    at lr in {1, 2, 10} over the mini-batch columns, SGD's accuracy at lr 10, Adam's best
    accuracy at lr >= 1 (mini-batch columns). Missing cells are skipped."""
    lrs, out = res["lrs"], {}
    acc = res["test_accuracy"]
    mb = [b for b in res["batches"] if b != "full"]

    def cells(o, lr_set):
        vals = [acc[o][b][lrs.index(lr)] for b in mb for lr in lr_set
                if o in acc and lr in lrs and len(acc[o][b]) > lrs.index(lr)]
        return [v for v in vals if math.isfinite(v)]

    big = [lr for lr in (1.0, 2.0, 10.0) if lr in lrs]
    if cells("ISGD", big):
        out["isgd_min_acc_lr_ge_1_minibatch"] = min(cells("ISGD", big))
    if cells("SGD", [10.0]):
        out["sgd_max_acc_lr10_minibatch"] = max(cells("SGD", [10.0]))
    if cells("Adam", big):
        out["adam_max_acc_lr_ge_1_minibatch"] = max(cells("Adam", big))
    return out


def plot_grid(res: dict[str, Any], path: Path | None = None):
    """Heat maps of the measured grid (top) and Li, Chen & Huang 2023 Table 2 (bottom); saved to ``path``
    (and closed) when given, else the figure is returned. Cells not (yet) measured are blank."""
    import matplotlib.pyplot as plt

    opts, batches, lrs = res["optimizers"], res["batches"], res["lrs"]
    fig, axes = plt.subplots(2, len(opts), figsize=(4.2 * len(opts), 6.4), squeeze=False)
    for j, o in enumerate(opts):
        paper = res.get("paper", PAPER_TABLE2).get(o)
        for i, (label, table) in enumerate((("measured", res["test_accuracy"][o]), ("Li et al. 2023, Table 2", paper))):
            ax = axes[i][j]
            if table is None:
                ax.axis("off")
                continue
            grid = []
            for b in batches:
                row = []
                for k, lr in enumerate(lrs):
                    if label == "measured":
                        v = table[b][k] if k < len(table[b]) else math.nan
                    else:
                        v = table[b][TABLE2_LRS.index(lr)] if lr in TABLE2_LRS else math.nan
                    row.append(float(v) if not isinstance(v, str) else math.nan)
                grid.append(row)
            ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
            for r, row in enumerate(grid):
                for c, v in enumerate(row):
                    if math.isfinite(v):
                        ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7,
                                color="white" if v < 0.6 else "black")
            ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
            ax.set_yticks(range(len(batches)), batches)
            ax.set_title(f"{o}: {label}", fontsize=9)
            ax.set_xlabel("lr")
            ax.set_ylabel("batch")
    return finish(fig, path)


# ============================================================================ the gradient-flow report's Experiment 4
#: The gradient-flow report's Table 3.7: epochs to 90% test accuracy (MNIST, Experiment 4).
PAPER_TABLE37 = {"IEQ (Adaptive)": "~20", "ExpSAV": "~25", "IEQ (Full Jacobian)": "~30", "SAV": "~30", "SGD": "~50"}
#: The gradient-flow report's Experiment 4 parameter table (lr, C, lambda); batch 256, 50 epochs (full-Jacobian IEQ: 10).
GRADFLOW_MNIST_PARAMS = {"SGD": (0.1, None, None), "SAV": (0.1, 100.0, 4.0), "ExpSAV": (0.1, 1.0, 1e-6),
                         "IEQ (Full Jacobian)": (0.1, None, None), "IEQ (Adaptive)": (0.1, None, None)}


def ce_sqrt_residual(logits: torch.Tensor, y: torch.Tensor, C: float = 1.0) -> torch.Tensor:
    """IEQ residual for the cross-entropy: ``q_i = sqrt(2 (l_i + C) / b)`` of the per-sample
    losses (:func:`savlib.schemes.ieq.sqrt_residual`; 002 does not define q for this loss)."""
    from ..schemes.ieq import sqrt_residual

    return sqrt_residual(torch.nn.functional.cross_entropy(logits, y, reduction="none"), C=C)


#: the variants of :func:`gradflow2024_mnist` besides the report's setup
GRADFLOW_MNIST_VARIANTS = ("double softmax", "SAV lambda=0")


def gradflow2024_mnist(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0,
                       seeds=None, epochs: int | None = None, full_jacobian_epochs: int | None = None,
                       n_train: int | None = None, n_test: int | None = None,
                       algorithms=None, variants=None, ctx=None) -> dict[str, Any]:
    """The gradient-flow report's Experiment 4 and Table 3.7, the report's setup as its text states it: MNIST
    subsample 8000/2000 (``torch.randperm``, pixels /255), 784-100-10 ReLU network with a
    softmax output and the cross-entropy loss, batch 256, 50 epochs, lr 0.1 for SGD, SAV
    (C = 100, lambda = 4), ExpSAV (C = 1, lambda = 1e-6), full-Jacobian IEQ (10 epochs, "the
    computational limit") and adaptive IEQ; test accuracy every epoch, and the epochs to
    reach 90% (Table 3.7). Every algorithm runs at every seed of ``seeds`` (default
    ``[seed, seed + 1, seed + 2]`` at full size, ``[seed]`` at quick size); a seed draws its
    own subsample, initial network and batch order. The network has the report's
    ``(784 + 1) x 100 + 100 x 10 = 79,500`` parameters (no output bias).

    Readings of the report: "SAV" is :class:`savlib.schemes.ResSAV` (the report's SAV update
    ``w += (r_{n+1}/r_n) w*`` is the restart form, see
    :func:`savlib.experiments.regression.make_scheme_002`); the report does not define the IEQ
    variable for the cross-entropy, savlib's is :func:`ce_sqrt_residual`
    (``q_i = sqrt(2 (l_i + 1) / b)``, so ``1/2 |q|^2`` is the mean loss + 1).

    Variants (``variants``, default both; each at every seed):

    * ``"double softmax"``: every algorithm on the network the authors' released code trains,
      which ends with a softmax *and* feeds that to a cross-entropy that applies its own
      (log-)softmax. The text describes one softmax; a second one is a bug (it bounds the
      loss between log(1 + 9/e) = 1.46 and log(9 + e) = 2.46 and shrinks the gradients), so
      it is a variant, run to measure what it does to Table 3.7.
    * ``"SAV lambda=0"``: SAV with lambda = 0, to separate lambda's factor
      ``1 / (1 + lr lambda)`` from the SAV step factor ``r~/sqrt(I + C)``.

    Each run records ``step_scale`` (the scalar factor of the step: SAV's ``r~/sqrt(I + C)``,
    ExpSAV's ``r_{n+1}/r_n``, adaptive IEQ's ``alpha``) per epoch (mean) and its minimum.
    Quick size: 2000/1000 images, 10 epochs (full-Jacobian IEQ: 1), one seed.
    """
    from .record import Context

    ctx = ctx or Context()
    full = _check(size)
    algorithms = list(algorithms or GRADFLOW_MNIST_PARAMS)
    for a in algorithms:
        if a not in GRADFLOW_MNIST_PARAMS:
            raise ValueError(f"unknown algorithm {a!r}; expected one of {list(GRADFLOW_MNIST_PARAMS)}")
    variants = list(GRADFLOW_MNIST_VARIANTS if variants is None else variants)
    for v in variants:
        if v not in GRADFLOW_MNIST_VARIANTS:
            raise ValueError(f"unknown variant {v!r}; expected some of {list(GRADFLOW_MNIST_VARIANTS)}")
    cfg = ctx.declare(
        n_train=n_train or (8000 if full else 2000), n_test=n_test or (2000 if full else 1000),
        epochs=epochs or (50 if full else 10), full_jacobian_epochs=full_jacobian_epochs or (10 if full else 1),
        seeds=[int(s) for s in (seeds if seeds is not None else ([seed, seed + 1, seed + 2] if full else [seed]))],
        batch=256, network="784-100-10 ReLU, softmax output, no output bias (79,500 parameters)",
        loss="cross-entropy", algorithms=algorithms, table={a: GRADFLOW_MNIST_PARAMS[a] for a in algorithms},
        sav="ResSAV", ieq_residual="sqrt(2 (l_i + 1) / b)", variants=variants)
    dev = get_device(device)
    runs: dict[str, dict[str, Any]] = {}
    var_runs: dict[str, dict[str, dict[str, Any]]] = {v: {} for v in variants}
    plan = [("paper", a) for a in algorithms]
    if "double softmax" in variants:
        plan += [("double softmax", a) for a in algorithms]
    if "SAV lambda=0" in variants and "SAV" in algorithms:
        plan += [("SAV lambda=0", "SAV")]
    for s in cfg["seeds"]:
        data = mnist(n_train=cfg["n_train"], n_test=cfg["n_test"], seed=s, device=dev)
        for variant, alg in plan:
            key = f"{alg}/seed{s}" if variant == "paper" else f"{variant}/{alg}/seed{s}"
            r = ctx.unit(key, lambda variant=variant, alg=alg, data=data, s=s:
                         _gradflow_run(alg, variant, data, s, cfg, dev, progress))
            (runs if variant == "paper" else var_runs[variant]).setdefault(alg, {})[str(s)] = r
    return {"size": size, "device": str(dev), "params": cfg, "runs": runs, "variants": var_runs,
            "summary": _gradflow_summary(runs),
            "variant_summary": {v: _gradflow_summary(rv) for v, rv in var_runs.items()},
            "paper_table37": PAPER_TABLE37}


def _gradflow_run(alg: str, variant: str, data, s: int, cfg: dict[str, Any], dev, progress: bool) -> dict[str, Any]:
    from .regression import make_scheme_002

    lr, C, lam = GRADFLOW_MNIST_PARAMS[alg]
    if variant == "SAV lambda=0":
        lam = 0.0
    model = mnist_mlp(s, dev, hidden=100, output_bias=False, softmax_output=variant == "double softmax")
    opt = make_scheme_002(alg, model.parameters(), lr, C if C is not None else 1.0, lam or 0.0)
    kw = {"residual_fn": ce_sqrt_residual} if alg.startswith("IEQ") else {}
    ep = cfg["full_jacobian_epochs"] if alg == "IEQ (Full Jacobian)" else cfg["epochs"]
    h = fit(model, opt, data, epochs=ep, batch_size=cfg["batch"], seed=s, progress=progress,
            record_steps=True, **kw)
    acc = h.test_acc
    scale = h.step_diagnostics.get("step_scale")
    per_epoch = None
    if scale:
        n = len(scale) // max(ep, 1)
        per_epoch = [sum(scale[k * n:(k + 1) * n]) / n for k in range(len(scale) // n)] if n else None
    return {"epoch": h.epoch, "train_loss": h.train_loss, "test_loss": h.test_loss, "test_accuracy": acc,
            "final_test_accuracy": acc[-1], "final_test_loss": h.test_loss[-1], "epochs": ep,
            "epochs_to_90": next((e for e, a in zip(h.epoch, acc) if math.isfinite(a) and a >= 0.9), None),
            "seconds": h.wall_time[-1], "diverged": h.diverged,
            "step_scale_min": min(scale) if scale else None, "step_scale_epoch_mean": per_epoch}


def _gradflow_summary(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per algorithm: final test accuracy mean/min/max over seeds and epochs to 90% per seed."""
    out = {}
    for alg, per_seed in runs.items():
        accs = [r["final_test_accuracy"] for r in per_seed.values()]
        out[alg] = {"final_accuracy_mean": sum(accs) / len(accs), "final_accuracy_min": min(accs),
                    "final_accuracy_max": max(accs),
                    "epochs_to_90": {s: r["epochs_to_90"] for s, r in per_seed.items()},
                    "epochs": next(iter(per_seed.values()))["epochs"], "seeds": len(accs),
                    "seconds": sum(r["seconds"] for r in per_seed.values())}
    return out


def _check(size: str) -> bool:
    from . import _check_size

    return _check_size(size) == "full"


def plot_mnist_runs(res: dict[str, Any], path: Path | None = None):
    """Train loss, test loss and test accuracy per epoch of every algorithm of
    :func:`gradflow2024_mnist` (mean over seeds, band = min..max); the variants dashed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    groups = [("", res["runs"], "-")] + [(f" [{v}]", rv, "--") for v, rv in res.get("variants", {}).items()]
    for j, (suffix, runs, ls) in enumerate(groups):
        for k, (name, per_seed) in enumerate(runs.items()):
            color = f"C{list(GRADFLOW_MNIST_PARAMS).index(name) if name in GRADFLOW_MNIST_PARAMS else k}"
            rs = list(per_seed.values())
            n = min(len(r["epoch"]) for r in rs)
            ep = rs[0]["epoch"][:n]
            for ax, key in zip(axes, ("train_loss", "test_loss", "test_accuracy")):
                vals = [[r[key][i] for r in rs] for i in range(n)]
                mean = [sum(v) / len(v) for v in vals]
                ax.plot(ep, mean, ls, color=color, label=name + suffix, lw=1.2 if j == 0 else 0.9)
                if len(rs) > 1:
                    ax.fill_between(ep, [min(v) for v in vals], [max(v) for v in vals], color=color, alpha=0.15)
    for ax, t in zip(axes, ("train loss", "test loss", "test accuracy")):
        ax.set_title(t)
        ax.set_xlabel("epoch")
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[2].set_ylim(0.8, 1.0)
    axes[2].axhline(0.9, color="gray", lw=0.6)
    axes[2].legend(fontsize=6, ncol=2)
    return finish(fig, path)
