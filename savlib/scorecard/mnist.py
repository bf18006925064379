"""Scorecard rows for the MNIST experiments (book chapter ``book/particles/mnist``): the
gradient-flow report's Experiment 4 and Table 3.7 (``gradflow2024report``), Li, Chen and
Huang's Table 2 (``li2023isgd``), and Ma, Mao and Shen's Example 4 (``ma2024sav``, not run).

``measured`` and ``verdict`` are computed from the stored results ``gradflow2024_mnist`` and
``isgd_mnist_grid`` (the latter read with :func:`savlib.experiments.mnist.isgd_grid_stored`,
which falls back on the runs finished so far while the grid's run is incomplete, and says
so in ``size``). Each row's rule is stated in its ``notes``. The functions ``*_row(res)``
take a result dict, so the rules can be tested on synthetic results.
"""
from __future__ import annotations

import math
from typing import Any

from . import Row

__all__ = ["rows", "CHAPTER", "table37_row", "speed_row", "accuracy_row", "table2_large_lr_row",
           "table2_small_lr_row", "table2_cells_row", "ma2024_example4_row", "claims_table",
           "PAPER_ACCURACY_RANGES"]

CHAPTER = "book/particles/mnist"
#: the report's Sec. 3.5.2 "performance summary": final test accuracy ranges
PAPER_ACCURACY_RANGES = {"ExpSAV": (0.92, 0.94), "SAV": (0.90, 0.93), "IEQ (Full Jacobian)": (0.92, 0.95),
                         "IEQ (Adaptive)": (0.92, 0.94), "SGD": (0.88, 0.92)}
_GF_CMD = "python -m savlib.experiments gradflow2024_mnist --full --threads 1 --out benchmarks/results"
_GRID_CMD = "python -m savlib.experiments isgd_mnist_grid --full --threads 1 --out benchmarks/results"


def _num(text: str) -> float:
    return float(text.strip("~>"))


def _median(v: list[float]) -> float:
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def _e90(run_summary: dict[str, Any]) -> list[float]:
    """Epochs to 90% per seed; a seed that never reaches it counts as ``inf``."""
    return [math.inf if e is None else float(e) for e in run_summary["epochs_to_90"].values()]


def _fmt_e90(run_summary: dict[str, Any]) -> str:
    ep = run_summary["epochs"]
    return "/".join(f">{ep}" if e is None else str(e) for e in run_summary["epochs_to_90"].values())


def _gf_size(res: dict[str, Any]) -> str:
    p = res["params"]
    return (f"{p['n_train']}/{p['n_test']} images, 784-100-10, batch {p['batch']}, {p['epochs']} epochs "
            f"(full-Jacobian IEQ {p['full_jacobian_epochs']}), {len(p['seeds'])} seeds")


def _gf_row(res: dict[str, Any], verdict: str, item: str, paper: str, measured: str, rule: str) -> Row:
    """A scorecard row of the report's MNIST experiment, backed by the stored result."""
    return Row("gradflow2024report", item, paper, measured, _gf_size(res), verdict, CHAPTER,
               "result: gradflow2024_mnist", rule)


def table37_row(res: dict[str, Any]) -> Row:
    """Table 3.7: epochs to 90% test accuracy per method."""
    from ..experiments.mnist import PAPER_TABLE37

    summ, good, parts = res["summary"], 0, []
    for alg, paper in PAPER_TABLE37.items():
        if alg not in summ:
            continue
        med = _median(_e90(summ[alg]))
        ok = math.isfinite(med) and abs(med - _num(paper)) <= 0.3 * _num(paper)
        good += ok
        parts.append(f"{alg} {_fmt_e90(summ[alg])} (paper {paper})")
    n = len(parts)
    verdict = "reproduced" if good == n else ("partly" if good >= 2 else "not reproduced")
    return _gf_row(res, verdict, "Table 3.7",
                   "Epochs to reach 90% test accuracy on MNIST: IEQ (Adaptive) ~20, ExpSAV ~25, "
                   "IEQ (Full Jacobian) ~30, SAV ~30, SGD ~50.",
                   "epochs to 90% per seed: " + "; ".join(parts) + f"; {good} of {n} methods match",
                   "A method matches when its median over seeds is within 30% of the report's number (a seed "
                   "that never reaches 90% counts as never); reproduced if all match, partly if at least 2 do. "
                   "The report runs full-Jacobian IEQ for 10 epochs only, so its ~30 cannot be reached.")


def speed_row(res: dict[str, Any]) -> Row:
    """Experiment 4 / Sec. 3.6.2: the energy-stable methods need far fewer epochs than SGD."""
    summ = res["summary"]
    sgd = _median(_e90(summ["SGD"]))
    others = [a for a in ("SAV", "ExpSAV", "IEQ (Adaptive)") if a in summ]
    ratio = {a: _median(_e90(summ[a])) / sgd for a in others}
    faster = [a for a in others if ratio[a] <= 0.75]
    slower = [a for a in others if ratio[a] >= 1.0]
    verdict = ("reproduced" if len(faster) == len(others)
               else "not reproduced" if not faster else "partly")
    txt = "; ".join(f"{a} {'never' if not math.isfinite(r) else f'{r:.2f}x'}" for a, r in ratio.items())
    return _gf_row(res, verdict, "Exp. 4 claim (Sec. 3.6.2)",
                   "The energy-stable methods reach 90% accuracy much faster than SGD (SGD ~50 epochs, "
                   "adaptive IEQ ~20, ExpSAV ~25, SAV ~30).",
                   f"median epochs to 90% relative to SGD's ({sgd:g}): {txt}; slower than SGD or equal: "
                   f"{', '.join(slower) or 'none'}",
                   "Reproduced if SAV, ExpSAV and adaptive IEQ each need at most 0.75x SGD's median epochs "
                   "to 90%; not reproduced if none does; partly otherwise.")


def accuracy_row(res: dict[str, Any]) -> Row:
    """Sec. 3.5.2's performance summary: final test accuracy ranges."""
    summ, good, parts = res["summary"], 0, []
    for alg, (lo, hi) in PAPER_ACCURACY_RANGES.items():
        if alg not in summ:
            continue
        s = summ[alg]
        ok = lo - 0.005 <= s["final_accuracy_mean"] <= hi + 0.005
        good += ok
        parts.append(f"{alg} {s['final_accuracy_mean']:.3f} [{s['final_accuracy_min']:.3f}, "
                     f"{s['final_accuracy_max']:.3f}] (paper {lo:.2f}-{hi:.2f})")
    n = len(parts)
    verdict = "reproduced" if good == n else ("partly" if good >= 3 else "not reproduced")
    return _gf_row(res, verdict, "Exp. 4 performance summary (Sec. 3.5.2)",
                   "Final test accuracy: ExpSAV 92-94%, SAV 90-93%, IEQ (Full Jacobian) 92-95%, "
                   "IEQ (Adaptive) 92-94%, SGD 88-92% (the weakest).",
                   "final test accuracy, mean [min, max] over seeds: " + "; ".join(parts) + f"; {good} of {n} in range",
                   "A method matches when its mean over seeds lies in the report's range (+-0.005); "
                   "reproduced if all match, partly if at least 3 do.")


def _grid_size(grid: dict[str, Any]) -> str:
    st = grid.get("stored", {"kind": "record"})
    n = f"{grid['n_train']}/{grid['n_test']} images, {grid['epochs']} epochs ({grid['full_batch_epochs']} full-batch)"
    if st["kind"] == "partial":
        n += f"; run in progress, {st['units']} of {st['of']} runs stored"
    return n


def _grid_evidence(grid: dict[str, Any]) -> str:
    st = grid.get("stored", {"kind": "record"})
    return "result: isgd_mnist_grid" + (" (partial run)" if st["kind"] == "partial" else "")


def _rep(grid, o, lr, stat, b="128"):
    rep = grid["repeats"]
    try:
        return rep[stat][o][b][rep["lrs"].index(lr)]
    except (KeyError, ValueError):
        return math.nan


def table2_large_lr_row(grid: dict[str, Any]) -> Row:
    """Table 2: ISGD is stable at lr 1-10 where SGD (lr 10) and Adam (lr >= 1) fail."""
    isgd = [_rep(grid, "ISGD", lr, "min") for lr in (1.0, 10.0)]
    sgd10 = _rep(grid, "SGD", 10.0, "max")
    adam = [_rep(grid, "Adam", lr, "max") for lr in (1.0, 10.0)]
    vals = isgd + [sgd10] + adam
    claim = ("ISGD keeps 0.967-0.978 test accuracy at lr 1, 2 and 10 with mini-batches, where SGD "
             "collapses at lr 10 (<= 0.114) and Adam at lr >= 1 (<= 0.63); batch 128: ISGD 0.978 / 0.967 "
             "at lr 1 / 10, SGD 0.089 at lr 10, Adam 0.508 / 0.150 at lr 1 / 10.")
    nseeds = len(grid["repeats"]["seeds"])
    size = _grid_size(grid) + f"; batch 128, {nseeds} seeds"
    if not all(math.isfinite(v) for v in vals):
        return Row("li2023isgd", "Table 2 (lr 1-10)", claim, "the 3-seed cells at batch 128 are not all stored yet",
                   size, "not attempted", CHAPTER, _grid_evidence(grid), "Needs ISGD, SGD and Adam at lr 1 and 10.")
    ok_isgd = min(isgd) >= 0.95
    fail_others = sgd10 <= 0.3 and max(adam) <= 0.3
    verdict = "reproduced" if ok_isgd and fail_others else ("partly" if ok_isgd or fail_others else "not reproduced")
    return Row("li2023isgd", "Table 2 (lr 1-10)", claim,
               f"batch 128, worst of {nseeds} seeds: ISGD {isgd[0]:.3f} / {isgd[1]:.3f} at lr 1 / 10; best of "
               f"{nseeds} seeds: SGD {sgd10:.3f} at lr 10, Adam {adam[0]:.3f} / {adam[1]:.3f} at lr 1 / 10",
               size, verdict, CHAPTER, _grid_evidence(grid),
               "Reproduced if ISGD's worst seed is >= 0.95 at lr 1 and 10 and the best seed of SGD (lr 10) "
               "and of Adam (lr 1 and 10) is <= 0.3; partly if only one half holds.")


def table2_small_lr_row(grid: dict[str, Any]) -> Row:
    """Table 2: ISGD tracks SGD at small lr (mini-batches)."""
    lrs, acc = grid["lrs"], grid["test_accuracy"]
    gaps = {}
    for b in ("32", "128", "512"):
        for lr in (0.001, 0.01, 0.1):
            if b in acc.get("ISGD", {}) and lr in lrs:
                g = acc["ISGD"][b][lrs.index(lr)] - acc["SGD"][b][lrs.index(lr)]
                if math.isfinite(g):
                    gaps[(b, lr)] = g
    claim = ("At small rates ISGD's accuracy is close to SGD's with mini-batches (e.g. batch 128, lr 0.001 / "
             "0.01 / 0.1: ISGD 0.853 / 0.924 / 0.968, SGD 0.857 / 0.926 / 0.967).")
    if not gaps:
        return Row("li2023isgd", "Table 2 (small lr)", claim, "no small-lr cell stored yet", _grid_size(grid),
                   "not attempted", CHAPTER, _grid_evidence(grid), "Needs ISGD and SGD at lr <= 0.1.")
    worst = max(gaps, key=lambda k: abs(gaps[k]))
    big = [k for k in gaps if k[1] >= 0.01]
    ok_all = max(abs(v) for v in gaps.values()) <= 0.03
    ok_big = bool(big) and max(abs(gaps[k]) for k in big) <= 0.03
    verdict = "reproduced" if ok_all else ("partly" if ok_big else "not reproduced")
    cells = ", ".join(f"b{b} lr {lr:g}: {g:+.3f}" for (b, lr), g in sorted(gaps.items()))
    return Row("li2023isgd", "Table 2 (small lr)", claim,
               f"ISGD minus SGD (seed {grid.get('seed', 0)}): {cells}; largest |gap| {abs(gaps[worst]):.3f} "
               f"at batch {worst[0]}, lr {worst[1]:g}",
               _grid_size(grid) + f"; {len(gaps)} mini-batch cells at lr <= 0.1, one seed", verdict, CHAPTER,
               _grid_evidence(grid),
               "Reproduced if |ISGD - SGD| <= 0.03 in every stored mini-batch cell at lr <= 0.1; partly if "
               "that holds at lr 0.01 and 0.1 only; not reproduced otherwise.")


def table2_cells_row(grid: dict[str, Any]) -> Row:
    """Table 2 as a whole: how many cells are within 0.05 of the paper."""
    from ..experiments.mnist import PAPER_TABLE2, TABLE2_LRS

    lrs, acc = grid["lrs"], grid["test_accuracy"]
    n = close = 0
    for o, per_b in acc.items():
        for b, row in per_b.items():
            for lr, a in zip(lrs, row):
                if math.isfinite(a) and lr in TABLE2_LRS and o in PAPER_TABLE2:
                    n += 1
                    close += abs(a - PAPER_TABLE2[o][b][TABLE2_LRS.index(lr)]) <= 0.05
    claim = "Table 2: test accuracy of SGD, Adam and ISGD for lr {0.001, ..., 10} x batch {32, 128, 512, full}."
    if not n:
        return Row("li2023isgd", "Table 2 (every cell)", claim, "no cell stored yet", _grid_size(grid),
                   "not attempted", CHAPTER, _grid_evidence(grid), "")
    share = close / n
    complete = grid.get("stored", {"kind": "record"})["kind"] == "record"
    verdict = ("reproduced" if share >= 0.9 and complete else "partly" if share >= 0.5 else "not reproduced")
    return Row("li2023isgd", "Table 2 (every cell)", claim,
               f"{close} of {n} measured cells within 0.05 of the paper ({share:.0%}), one seed",
               _grid_size(grid), verdict, CHAPTER, _grid_evidence(grid),
               "Reproduced if the grid is complete and >= 90% of its cells are within 0.05 of the paper; "
               "partly if >= 50% of the measured cells are; not reproduced otherwise.")


def ma2024_example4_row() -> Row:
    return Row("ma2024sav", "Example 4, Fig. 11",
               "On MNIST the four methods (PM and SPM, each with Euler and relaxed SAV) show no obvious "
               "difference; SPM's accuracy is slightly above PM's and relaxed SAV's train loss slightly "
               "below Euler's.",
               "not run: the paper gives no width, particle count, step size, batch or number of epochs for "
               "Example 4, and no chapter of the book trains its particle methods on MNIST",
               "-", "not attempted", CHAPTER, "check: none (not run)")


def _missing(paper: str, item: str, claim: str, name: str, cmd: str, why: str) -> Row:
    return Row(paper, item, claim, f"stored result {name} missing ({why}): run `{cmd}`", "-",
               "not attempted", CHAPTER, f"result: {name}")


def rows() -> list[Row]:
    from ..errors import ResultError
    from ..experiments.mnist import isgd_grid_stored
    from ..experiments.record import load_result

    out: list[Row] = []
    try:
        gf = load_result("gradflow2024_mnist")
        out += [table37_row(gf), speed_row(gf), accuracy_row(gf)]
    except ResultError as e:
        for item in ("Table 3.7", "Exp. 4 claim (Sec. 3.6.2)", "Exp. 4 performance summary (Sec. 3.5.2)"):
            out.append(_missing("gradflow2024report", item, "see the report", "gradflow2024_mnist", _GF_CMD,
                                type(e).__name__))
    try:
        grid = isgd_grid_stored()
        out += [table2_large_lr_row(grid), table2_small_lr_row(grid), table2_cells_row(grid)]
    except ResultError as e:
        for item in ("Table 2 (lr 1-10)", "Table 2 (small lr)", "Table 2 (every cell)"):
            out.append(_missing("li2023isgd", item, "see the paper", "isgd_mnist_grid", _GRID_CMD, type(e).__name__))
    out.append(ma2024_example4_row())
    return out
