"""Cost of one training iteration and of the optimizer step alone, for every savlib scheme,
as ratios to torch's SGD and Adam measured in the same run.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/step_cost.py            # n = 1e4 .. 1e7
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/step_cost.py --quick    # n = 1e4, 1e5; few reps
    .venv/bin/python benchmarks/step_cost.py --sizes 1e5 1e6 --reps 7 --batch 32
    .venv/bin/python benchmarks/step_cost.py --report    # table + the cost bounds of the stored run

What is measured, per model size ``n`` (an MLP ``64 -> h -> h -> 1`` with ``h`` chosen so
that it has about ``n`` parameters, mini-batch ``--batch``, float32, CPU):

* ``iter``: one training iteration, forward + backward + step (``opt.step(closure)`` for
  the savlib schemes, ``closure(); opt.step()`` for torch's).
* ``step``: the optimizer step alone. The gradients are computed once; the closure then
  only returns the cached loss (for RelSAV/RelExpSAV also the "new" loss), so the time
  is that of the scheme's own work: reductions, updates, scalar recursions. IEQAdaptive
  differentiates the residual inside its step, so it has no step-only row.
* the rows ``floor:SAV`` and ``floor:RelSAV`` (:class:`FloorSGD`) are not schemes: torch's
  SGD plus only the work a SAV-type (relaxed) step cannot avoid, the floor each scheme's
  cost is judged against (``--report`` names it beside every missed bound).
* ``peak_mem``: increase of the peak resident set size (``VmHWM``, reset before the
  iterations) over the model-and-gradients baseline, during a few iterations, each scheme in a fresh
  subprocess (``--mem-sizes``; default the sizes >= 1e6).
* ``ieq_batch``: full-Jacobian IEQ vs SGD per iteration on seed 000's Example-1 network
  (two-layer ReLU, D = 40, m = 1000) as the batch grows (if ``savlib.schemes.IEQ`` exists).

Times are CPU time of the process (``time.process_time``), not wall-clock time: on a
shared machine wall-clock time mostly measures the other jobs. The machine is shared
and noisy all the same (memory bandwidth, caches). Per iteration, schemes are interleaved
one iteration at a time (``--reps`` rounds of ``--iters`` iterations of every scheme, in a
new random order every iteration, seeded) and each iteration is timed on its own. Every
scheme runs once per slot, so the ratio to SGD (or Adam) is taken pair by pair within a
slot, which cancels load that changes more slowly than a slot, and the median of these
``reps * iters`` paired ratios is reported (``iter_vs_sgd``); ``iter_seconds`` is the median
time and ``iter_vs_sgd_unpaired`` the ratio of the medians. Step only, each scheme runs
``--iters`` consecutive steps per round (in the round's random order) and the median over
rounds is reported. The minimum over rounds of the round means (least disturbed by other
jobs) is stored and printed too, with every raw sample. Results go to
``benchmarks/results/step_cost.json``; the ratio tables are printed, then the markdown table
of ``benchmarks/README.md`` and the check of the cost bounds (:func:`report`, which
``--report`` prints again from a stored file).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import savlib.schemes as S  # noqa: E402
from savlib.experiments.record import benchmark_provenance  # noqa: E402

D_IN = 64


def _clock() -> float:
    """CPU time of this process. On a shared machine wall-clock time mostly measures the
    other jobs (the scheduler takes the core away for whole time slices); CPU time only
    counts what this process ran. With one intra-op thread (the default, ``--threads 1``)
    every operator runs on the calling thread, so nothing is missed; the memory-bandwidth
    contention of other jobs still shows as noise."""
    return time.process_time()


def width_for(n: float) -> int:
    """Hidden width h of the 64 -> h -> h -> 1 MLP with about n parameters."""
    # n = 64h + h + h^2 + h + h + 1 = h^2 + 67 h + 1
    return max(4, int(round((-67 + math.sqrt(67 ** 2 + 4 * (n - 1))) / 2)))


def make_mlp(n: float, batch: int, seed: int = 0):
    torch.manual_seed(seed)
    h = width_for(n)
    model = torch.nn.Sequential(torch.nn.Linear(D_IN, h), torch.nn.Tanh(), torch.nn.Linear(h, h),
                                torch.nn.Tanh(), torch.nn.Linear(h, 1))
    x = torch.randn(batch, D_IN)
    y = torch.randn(batch, 1)
    return model, x, y


class FloorSGD(torch.optim.SGD):
    """Cost references, not schemes: torch's SGD step plus only the work that a SAV-type
    step cannot avoid, so that a row measures the floor a scheme's cost is judged against.

    ``reduce``: the squared gradient norms (one ``_foreach_norm``) read to the host once,
    as every SAV-type step must before it can scale its update (row ``floor:SAV``).
    ``relax``: also the parameter copy that keeps a failed relaxation bitwise reversible
    and the second, gradient-free closure call for the loss at the new point (row
    ``floor:RelSAV``). No scalar recursion, checks, state or diagnostics.
    """

    def __init__(self, params, lr: float, relax: bool = False):
        super().__init__(params, lr=lr)
        self.relax = relax
        self.backup = None

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            loss = closure()
        ps = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        gs = [p.grad for p in ps]
        torch.stack(torch._foreach_norm(gs)).tolist()
        if self.relax:
            if self.backup is None:
                self.backup = [torch.empty_like(p) for p in ps]
            torch._foreach_copy_(self.backup, ps)
        torch._foreach_add_(ps, gs, alpha=-self.param_groups[0]["lr"])
        if self.relax:
            closure()
        return loss


def schemes(lr_small: float = 1e-4):
    """(name, kind, factory): kind 'torch' (closure then step()), 'sav' (step(closure)),
    'ieq' (residual closure)."""
    rows = [
        ("SGD", "torch", lambda p: torch.optim.SGD(p, lr=lr_small)),
        ("Adam", "torch", lambda p: torch.optim.Adam(p, lr=lr_small)),
        ("Adam(foreach)", "torch", lambda p: torch.optim.Adam(p, lr=lr_small, foreach=True)),
        ("SAV", "sav", lambda p: S.SAV(p, lr=lr_small, C=1.0)),
        ("ResSAV", "sav", lambda p: S.ResSAV(p, lr=lr_small, C=1.0)),
        ("RelSAV", "sav", lambda p: S.RelSAV(p, lr=lr_small, C=1.0)),
        ("A-SAV", "sav", lambda p: S.SAV(p, lr=lr_small, C=1.0, adaptive=True)),
        ("A-ResSAV", "sav", lambda p: S.ResSAV(p, lr=lr_small, C=1.0, adaptive=True)),
        ("A-RelSAV", "sav", lambda p: S.RelSAV(p, lr=lr_small, C=1.0, adaptive=True)),
        # torch's SGD with the closure passed to its step: the closure then runs inside
        # torch's profiling wrapper, as every savlib scheme's does (measures that scope)
        ("SGD(closure)", "sav", lambda p: torch.optim.SGD(p, lr=lr_small)),
        # the floors (:class:`FloorSGD`): what a SAV-type and a relaxed step cannot avoid
        ("floor:SAV", "sav", lambda p: FloorSGD(p, lr=lr_small)),
        ("floor:RelSAV", "sav", lambda p: FloorSGD(p, lr=lr_small, relax=True)),
        ("ExpSAV", "sav", lambda p: S.ExpSAV(p, lr=lr_small, C=1.0)),
        ("RelExpSAV", "sav", lambda p: S.RelExpSAV(p, lr=lr_small, C=1.0)),
    ]
    if hasattr(S, "IEQAdaptive"):
        rows.append(("IEQAdaptive", "ieq", lambda p: S.IEQAdaptive(p, lr=lr_small)))
    return rows


def _closures(model, x, y):
    mse = torch.nn.functional.mse_loss

    def closure():
        # the gradients are zeroed (kept allocated, so that no scheme's backward allocates)
        # only when they are about to be computed: a relaxed scheme's second call, under
        # torch.no_grad(), only evaluates the loss
        if torch.is_grad_enabled():
            model.zero_grad(set_to_none=False)
            loss = mse(model(x), y)
            loss.backward()
            return loss
        return mse(model(x), y)

    def residual():
        return S.ieq.mse_residual(model(x), y) if hasattr(S, "ieq") else None

    return closure, residual


def _one_iter(kind, opt, closure, residual):
    if kind == "torch":
        closure()
        opt.step()
    elif kind == "sav":
        opt.step(closure)
    else:
        opt.step(residual)


def time_sizes(sizes, batch, reps, iters, threads, progress=True):
    torch.set_num_threads(threads)
    out = {}
    for n in sizes:
        model, x, y = make_mlp(n, batch)
        nparam = sum(p.numel() for p in model.parameters())
        closure, residual = _closures(model, x, y)
        rows = schemes()
        opts = {name: (kind, fac(list(model.parameters()))) for name, kind, fac in rows}
        # warm-up: allocate optimizer state, first-call overheads
        for name, (kind, opt) in opts.items():
            for _ in range(2):
                _one_iter(kind, opt, closure, residual)
        # cached-gradient closure for the step-only timing
        with torch.enable_grad():
            loss = closure()
        grads = [p.grad.detach().clone() for p in model.parameters()]
        cached = loss.detach()

        def restore():
            for p, g in zip(model.parameters(), grads):
                p.grad.copy_(g)

        def cached_closure():
            return cached

        it_t = {name: [] for name in opts}      # per round: mean over its iterations
        it_all = {name: [] for name in opts}    # every iteration
        st_t = {name: [] for name, (kind, _) in opts.items() if kind != "ieq"}
        names = list(opts)
        rng = random.Random(0)
        for rep in range(reps):
            # a new random order every round: which scheme runs before which changes the
            # cache state a step starts from (at n ~ 1e6 the model, its gradients and Adam's
            # moments no longer all fit), so no scheme may always follow the same one
            order = rng.sample(names, len(names))
            # per iteration: interleaved at the finest grain, one iteration of every scheme
            # in turn, so that a burst of load from other jobs hits all schemes alike, in a
            # new random order every iteration (a fixed order within a round let one
            # predecessor's cache state bias all of a round's iterations of a scheme)
            tot = dict.fromkeys(names, 0.0)
            for _ in range(iters):
                for name in rng.sample(names, len(names)):
                    kind, opt = opts[name]
                    t0 = _clock()
                    _one_iter(kind, opt, closure, residual)
                    dt = _clock() - t0
                    tot[name] += dt
                    it_all[name].append(dt)
            for name in names:
                it_t[name].append(tot[name] / iters)
            # step only: ``iters`` consecutive steps of one scheme (as in training, a step
            # finds the gradients it reads in cache, not another scheme's state), schemes in
            # the round's random order
            restore()      # no step changes p.grad, and the cached closure never zeroes it
            for name in order:
                kind, opt = opts[name]
                if kind == "ieq":
                    continue
                t0 = _clock()
                for _ in range(iters):
                    if kind == "torch":
                        opt.step()
                    else:
                        opt.step(cached_closure)
                st_t[name].append((_clock() - t0) / iters)
            if progress:
                print(f"  n={nparam:.2e} rep {rep + 1}/{reps}", file=sys.stderr)
        med_it = {k: statistics.median(v) for k, v in it_all.items()}
        # every scheme ran once in every slot (one iteration of each, random order), so
        # sample i of two schemes was taken within the same few milliseconds: the ratio of
        # the pair cancels load that drifts more slowly than a slot, and its median over
        # slots is the reported ratio (the ratio of the two medians is stored as well)
        paired = {ref: {k: statistics.median(a / b for a, b in zip(v, it_all[ref]))
                        for k, v in it_all.items()} for ref in ("SGD", "Adam")}
        med_st = {k: statistics.median(v) for k, v in st_t.items()}
        min_it = {k: min(v) for k, v in it_t.items()}
        min_st = {k: min(v) for k, v in st_t.items()}
        out[str(int(n))] = dict(
            n_params=nparam, width=width_for(n), batch=batch, iters_per_round=iters,
            iter_seconds=med_it, step_seconds=med_st,
            iter_vs_sgd=paired["SGD"], iter_vs_adam=paired["Adam"],
            iter_vs_sgd_unpaired={k: v / med_it["SGD"] for k, v in med_it.items()},
            step_vs_sgd={k: v / med_st["SGD"] for k, v in med_st.items()},
            step_vs_adam={k: v / med_st["Adam"] for k, v in med_st.items()},
            # the minimum over rounds is the least disturbed by other jobs on a shared machine
            iter_vs_sgd_min={k: v / min_it["SGD"] for k, v in min_it.items()},
            step_vs_sgd_min={k: v / min_st["SGD"] for k, v in min_st.items()},
            iter_samples=it_all, iter_round_means=it_t, step_samples=st_t,
        )
        del opts, model, grads
    return out


# ------------------------------------------------------------------------- memory
def _mem_child(name: str, n: float, batch: int) -> None:
    torch.set_num_threads(1)
    model, x, y = make_mlp(n, batch)
    closure, residual = _closures(model, x, y)
    with torch.enable_grad():
        closure()                                   # gradients allocated: the baseline
    base = _rss_kb("VmRSS")
    _reset_peak()
    kind, fac = next((k, f) for nm, k, f in schemes() if nm == name)
    opt = fac(list(model.parameters()))
    for _ in range(3):
        _one_iter(kind, opt, closure, residual)
    peak = _rss_kb("VmHWM")
    print(json.dumps(dict(base_kb=base, peak_kb=peak)))


def _rss_kb(field: str) -> int:
    """Current (VmRSS) or peak (VmHWM) resident set size from /proc (Linux); falls back
    to ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> None:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0: write 5 to clear_refs), so the
    peak measured afterwards belongs to the optimizer's iterations only."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def memory_sizes(sizes, batch):
    out = {}
    for n in sizes:
        res = {}
        for name, _, _ in schemes():
            cmd = [sys.executable, __file__, "--_mem-child", name, str(n), str(batch)]
            r = subprocess.run(cmd, capture_output=True, text=True, check=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
            d = json.loads(r.stdout.strip().splitlines()[-1])
            res[name] = (d["peak_kb"] - d["base_kb"]) / 1024.0
        out[str(int(n))] = dict(peak_increase_mib=res,
                                vs_adam={k: (v / res["Adam"] if res["Adam"] > 0 else float("nan"))
                                         for k, v in res.items()})
    return out


# ------------------------------------------------------------------------ IEQ batch
def ieq_batches(batches, reps, iters, threads):
    if not hasattr(S, "IEQ"):
        return None
    torch.set_num_threads(threads)
    out = {}
    for b in batches:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(40, 1000), torch.nn.ReLU(), torch.nn.Linear(1000, 1))
        x, y = torch.randn(b, 40), torch.randn(b, 1)
        closure, residual = _closures(model, x, y)
        sgd = torch.optim.SGD(model.parameters(), lr=1e-4)
        ieq = S.IEQ(model.parameters(), lr=1e-4, model=model)   # the structured Linear Gram
        ieqa = S.IEQAdaptive(model.parameters(), lr=1e-4)
        runs = {"SGD": ("torch", sgd), "IEQ": ("ieq", ieq), "IEQAdaptive": ("ieq", ieqa)}
        for kind, opt in runs.values():
            _one_iter(kind, opt, closure, residual)
        t = {k: [] for k in runs}
        for _ in range(reps):
            for k, (kind, opt) in runs.items():
                t0 = _clock()
                for _ in range(iters):
                    _one_iter(kind, opt, closure, residual)
                t[k].append((_clock() - t0) / iters)
        med = {k: statistics.median(v) for k, v in t.items()}
        out[str(b)] = dict(iter_seconds=med, iter_vs_sgd={k: v / med["SGD"] for k, v in med.items()},
                           n_params=sum(p.numel() for p in model.parameters()))
    return out


def _table(title, data, key, cols):
    print(f"\n{title}")
    names = list(next(iter(data.values()))[key].keys())
    print(f"{'scheme':<12}" + "".join(f"{c:>12}" for c in cols))
    for nm in names:
        print(f"{nm:<12}" + "".join(f"{data[c][key].get(nm, float('nan')):>12.3f}" for c in cols))


# the cost bounds of the template step, checked from a stored result (``--report``)
PLAIN = ("SAV", "ResSAV", "ExpSAV")


def _n(c) -> str:
    """``1e5`` for a size key such as ``"99681"`` or ``100000.0``."""
    return f"{float(c):.0e}".replace("e+0", "e").replace("e+", "e")


def targets(res: dict) -> list[tuple[str, str, float, float]]:
    """The template step's cost bounds as rows ``(bound, where, value, limit)`` for every
    size ``n >= 1e5`` in ``res`` (a ``step_cost.json``): per iteration SAV, ResSAV and
    ExpSAV <= 1.10x SGD, RelSAV (one more forward pass) <= 1.4x SGD, the adaptive forms
    without relaxation <= 1.05x torch's default Adam; full IEQ at batch 64 <= 2.5x SGD; and
    peak memory vs Adam."""
    rows = []
    for c, t in res["timing"].items():
        if float(c) < 1e5:
            continue
        n = f"n={_n(c)}"
        for nm in PLAIN:
            rows.append(("iter / SGD <= 1.10", f"{nm} {n}", t["iter_vs_sgd"][nm], 1.10))
        for nm in ("A-SAV", "A-ResSAV"):
            rows.append(("iter / Adam <= 1.05", f"{nm} {n}", t["iter_vs_adam"][nm], 1.05))
        rows.append(("iter / SGD <= 1.4", f"RelSAV {n}", t["iter_vs_sgd"]["RelSAV"], 1.4))
    if res.get("ieq_batch") and "64" in res["ieq_batch"]:
        rows.append(("IEQ iter / SGD <= 2.5", "batch 64", res["ieq_batch"]["64"]["iter_vs_sgd"]["IEQ"], 2.5))
    for c, m in (res.get("memory") or {}).items():
        for nm, v in m["vs_adam"].items():
            if nm not in ("SGD", "Adam", "Adam(foreach)"):
                rows.append(("peak memory / Adam <= 1.1", f"{nm} n={_n(c)}", v, 1.1))
    return rows


def _floor_note(res: dict, where: str, bound: float) -> str:
    """For a missed per-iteration bound of a SAV-type scheme, its floor in the same run
    (:class:`FloorSGD`), marked unreachable when the floor itself is above the bound."""
    name, n = where.split(" ", 1)
    floor = {"SAV": "floor:SAV", "ResSAV": "floor:SAV", "ExpSAV": "floor:SAV",
             "RelSAV": "floor:RelSAV"}.get(name)
    size = {f"n={_n(c)}": c for c in res["timing"]}.get(n)
    if floor is None or size is None or floor not in res["timing"][size]["iter_vs_sgd"]:
        return ""
    v = res["timing"][size]["iter_vs_sgd"][floor]
    return f"; floor {v:.3f}" + (", above the bound: unreachable" if v > bound else "")


def report(res: dict) -> str:
    """The README's "Last stored run" table (medians; n = 1e5, 1e6, 1e7 where present)
    and the target check, as markdown."""
    cols = [c for c in res["timing"] if float(c) >= 1e5]
    names = list(res["timing"][cols[0]]["iter_vs_sgd"])
    head = ([f"iter/SGD {_n(c)}" for c in cols] + [f"iter/Adam {_n(c)}" for c in cols]
            + [f"step/SGD {_n(c)}" for c in cols])
    out = ["| scheme | " + " | ".join(head) + " |",
           "|---|" + "---|" * len(head)]
    for nm in names:
        vals = []
        for key in ("iter_vs_sgd", "iter_vs_adam", "step_vs_sgd"):
            for c in cols:
                v = res["timing"][c][key].get(nm)
                vals.append("n/a" if v is None else f"{v:.2f}")
        out.append(f"| {nm} | " + " | ".join(vals) + " |")
    sgd_iter = ", ".join(f"{res['timing'][c]['iter_seconds']['SGD'] * 1e3:.3g} ms" for c in cols)
    sgd_step = ", ".join(f"{res['timing'][c]['step_seconds']['SGD'] * 1e6:.0f} us" for c in cols)
    out += ["", f"SGD in this run, n = {', '.join(_n(c) for c in cols)}: "
            f"iteration {sgd_iter}; step alone {sgd_step}.", ""]
    rows = targets(res)
    bad = [r for r in rows if not r[2] <= r[3]]
    out.append(f"Cost bounds: {len(rows) - len(bad)} of {len(rows)} met"
               + ("." if not bad else "; not met: " + "; ".join(
                   f"{w} {lab.split(' <=')[0]} = {v:.3f} (bound {b}{_floor_note(res, w, b)})"
                   for lab, w, v, b in bad)))
    floors = [f"n={_n(c)}: " + ", ".join(
        f"{nm} {res['timing'][c]['iter_vs_sgd'][nm]:.3f}" for nm in ("floor:SAV", "floor:RelSAV"))
        for c in cols if "floor:SAV" in res["timing"][c]["iter_vs_sgd"]]
    if floors:
        out.append("Floors per iteration / SGD in the same run (torch's SGD plus only the work "
                   "a SAV-type or relaxed step cannot avoid, FloorSGD): " + "; ".join(floors) + ".")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", type=float, default=None)
    ap.add_argument("--mem-sizes", nargs="*", type=float, default=None)
    ap.add_argument("--quick", action="store_true", help="n = 1e4, 1e5; 3 reps; no memory rows")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--iters", type=int, default=None, help="timed iterations per round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ieq-batches", nargs="*", type=int, default=[16, 32, 64, 128, 256])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "step_cost.json"))
    ap.add_argument("--report", nargs="?", const=str(ROOT / "benchmarks" / "results" / "step_cost.json"),
                    metavar="JSON", help="print the markdown table and the cost-bound check of a "
                    "stored run (default: the committed step_cost.json) and exit")
    ap.add_argument("--_mem-child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.report:
        print(report(json.loads(Path(a.report).read_text())))
        return
    if a._mem_child:
        name, n, b = a._mem_child
        _mem_child(name, float(n), int(b))
        return
    sizes = a.sizes or ([1e4, 1e5] if a.quick else [1e4, 1e5, 1e6, 1e7])
    reps = 3 if a.quick and a.reps == 11 else a.reps
    mem_sizes = a.mem_sizes if a.mem_sizes is not None else ([] if a.quick else [n for n in sizes if n >= 1e6])
    t_start = time.time()
    timing = {}
    for n in sizes:
        iters = a.iters or max(9, min(50, int(2e6 / n)))   # >= 99 paired samples per size
        timing.update(time_sizes([n], a.batch, reps, iters, a.threads))
    cols = list(timing.keys())
    _table("per iteration (forward + backward + step) / SGD", timing, "iter_vs_sgd", cols)
    _table("per iteration / Adam", timing, "iter_vs_adam", cols)
    _table("optimizer step only / SGD step", timing, "step_vs_sgd", cols)
    _table("per iteration / SGD, minimum over rounds", timing, "iter_vs_sgd_min", cols)
    _table("step only / SGD step, minimum over rounds", timing, "step_vs_sgd_min", cols)
    mem = memory_sizes(mem_sizes, a.batch) if mem_sizes else {}
    if mem:
        _table("peak memory increase / Adam's", mem, "vs_adam", list(mem.keys()))
    ieq = ieq_batches(a.ieq_batches, reps, 5, a.threads) if a.ieq_batches else None
    if ieq:
        _table("IEQ on the Example-1 network (D=40, m=1000): per iteration / SGD, by batch",
               ieq, "iter_vs_sgd", list(ieq.keys()))
    res = dict(
        command=" ".join([Path(sys.executable).name, "benchmarks/step_cost.py"] + (argv or sys.argv[1:])),
        machine=dict(platform=platform.platform(), processor=platform.processor(),
                     cpu_count=os.cpu_count(), torch=torch.__version__, threads=a.threads,
                     note="shared 2-core machine; per iteration: median of paired per-slot ratios over every interleaved iteration; step: median over rounds"),
        batch=a.batch, reps=reps, dtype="float32", timing=timing, memory=mem, ieq_batch=ieq,
        wall_seconds=time.time() - t_start,
    )
    res["provenance"] = benchmark_provenance(__file__, argv if argv is not None else sys.argv[1:],
                                             res["wall_seconds"])
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(f"\nwrote {a.out} ({res['wall_seconds']:.0f} s)\n")
    if any(float(c) >= 1e5 for c in timing):
        print(report(res))


if __name__ == "__main__":
    main()
