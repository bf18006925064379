"""Cost of the mean-field forward solver and of its discrete adjoint (issue 6).

Run:  OMP_NUM_THREADS=1 python benchmarks/meanfield_cost.py  [--quick]
Writes benchmarks/results/meanfield_cost.json and prints the ratios.

What is measured (all in one run):

* throughput of ``savlib.meanfield.forward`` against the bare ``torch.matmul`` calls it
  cannot avoid: one ``(batch, N) @ (N, N)`` product per RK stage and step. Ratio =
  matmul time / forward time (target of issue 6: >= 0.6).
* ``loss_and_grad`` (forward sweep + discrete adjoint) against its bare products: three
  per stage (``f b^T`` forward, ``ubar b`` for the co-state, ``ubar^T Y`` for dJ/db).
* the adjoint gradient's cost relative to one forward solve (target <= 3x); the total
  (forward sweep + reverse sweep) and the reverse sweep alone are both reported.
* timings: the minimum over interleaved repeats (the machine is shared; the minimum is
  the least disturbed run), medians reported too.
* memory against depth: the bytes held for the reverse sweep (``AdjointInfo.stored_bytes``)
  and the peak resident memory of a fresh process, without and with checkpointing
  (``checkpoint=True``: every ceil(sqrt(steps))-th state is kept and segments recomputed).

Sizes: a 28 x 28 grid (N = 784, MNIST-sized), batch 256, 10 steps; --quick shrinks them.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from savlib.experiments.record import benchmark_provenance
from savlib.meanfield import Grid, METHODS, forward, loss_and_grad


def _time(fn, repeats):
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def throughput(cells, batch, steps, repeats):
    grid = Grid(2, cells)
    N = grid.N
    g = torch.Generator().manual_seed(0)
    f0 = torch.randn(batch, N, generator=g, dtype=torch.float64)
    a = torch.randn(steps, N, generator=g, dtype=torch.float64)
    b = torch.randn(steps, N, N, generator=g, dtype=torch.float64)
    tgt = torch.randn(batch, N, generator=g, dtype=torch.float64)
    out = {}
    for method in ("euler", "rk4"):
        s = METHODS[method].stages
        bT = [b[n].t() for n in range(steps)]
        U = torch.randn(batch, N, dtype=torch.float64)

        def fwd():
            forward(f0, a, b, grid, 1.0, method, "relu")

        def mm_fwd():
            for n in range(steps):
                for _ in range(s):
                    torch.matmul(f0, bT[n])

        def adj():
            loss_and_grad(f0, a, b, tgt, grid, 1.0, method, "relu")

        def mm_adj():
            for n in range(steps):
                for _ in range(s):
                    torch.matmul(f0, bT[n])
                    torch.matmul(U, b[n])
                    torch.matmul(U.t(), f0)

        def adj_ck():
            loss_and_grad(f0, a, b, tgt, grid, 1.0, method, "relu", checkpoint=True)

        fns = {"forward": fwd, "matmul_forward": mm_fwd, "adjoint": adj,
               "matmul_adjoint": mm_adj, "adjoint_checkpointed": adj_ck}
        for fn in fns.values():  # warm-up
            fn()
        times = {k: [] for k in fns}
        for _ in range(repeats):  # interleaved so load affects all alike
            for k, fn in fns.items():
                times[k] += _time(fn, 1)
        med = {k: min(v) for k, v in times.items()}
        out[method] = {
            "seconds_min": med,
            "seconds_median": {k: statistics.median(v) for k, v in times.items()},
            "forward_vs_matmul": med["matmul_forward"] / med["forward"],
            "adjoint_vs_matmul": med["matmul_adjoint"] / med["adjoint"],
            "adjoint_total_over_forward": med["adjoint"] / med["forward"],
            "reverse_sweep_over_forward": (med["adjoint"] - med["forward"]) / med["forward"],
            "checkpointed_total_over_forward": med["adjoint_checkpointed"] / med["forward"],
        }
    return out


_CHILD = """
import sys, torch
from savlib.meanfield import Grid, loss_and_grad
cells, batch, steps, ck = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
torch.set_num_threads(1)
grid = Grid(2, cells)
g = torch.Generator().manual_seed(0)
f0 = torch.randn(batch, grid.N, generator=g, dtype=torch.float64)
a = torch.randn(steps, grid.N, generator=g, dtype=torch.float64)
b = 0.1 * torch.randn(steps, grid.N, grid.N, generator=g, dtype=torch.float64)
def _status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return 0
try:  # reset the peak-RSS counter (VmHWM) so the import of torch does not mask it
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    pass
base = _status("VmRSS:")
J, ga, gb, info = loss_and_grad(f0, a, b, f0, grid, 1.0, "euler", "tanh",
                                checkpoint=True if ck else None, return_info=True)
peak = _status("VmHWM:")
print(info.stored_bytes, base, peak)
"""


def memory(cells, batch, depths):
    rows = []
    for steps in depths:
        for ck in (False, True):
            res = subprocess.run([sys.executable, "-c", _CHILD, str(cells), str(batch), str(steps),
                                  "1" if ck else "0"], capture_output=True, text=True, check=True)
            stored, base, peak = (int(x) for x in res.stdout.split())
            params = steps * (Grid(2, cells).N ** 2 + Grid(2, cells).N) * 8
            rows.append({"steps": steps, "checkpoint": ck, "stored_MiB": stored / 2 ** 20,
                         "params_MiB": params / 2 ** 20,
                         "peak_rss_increase_MiB": (peak - base) / 2 ** 20})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "meanfield_cost.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        cells, batch, steps, repeats, mem_cells, depths = 12, 64, 4, 3, 8, (16, 64)
    else:
        cells, batch, steps, repeats, mem_cells, depths = 28, 256, 10, 9, 16, (32, 128, 512)
    t0 = time.time()
    tp = throughput(cells, batch, steps, repeats)
    mem = memory(mem_cells, 256 if not args.quick else 32, depths)
    result = {
        "config": {"grid": f"{cells}x{cells}", "N": cells * cells, "batch": batch, "steps": steps,
                   "dtype": "float64", "threads": 1, "repeats": repeats, "quick": args.quick,
                   "memory_grid": f"{mem_cells}x{mem_cells}",
                   "machine": platform.machine(), "torch": torch.__version__},
        "throughput": tp,
        "memory_vs_depth": mem,
        "targets": {"forward_vs_matmul": ">= 0.6", "adjoint_total_over_forward": "<= 3"},
        "wall_seconds": time.time() - t0,
        "provenance": benchmark_provenance(__file__, sys.argv[1:], time.time() - t0),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    for m, r in tp.items():
        print(f"{m:6s} forward/matmul {r['forward_vs_matmul']:.2f}  adjoint/matmul "
              f"{r['adjoint_vs_matmul']:.2f}  adjoint total/forward {r['adjoint_total_over_forward']:.2f}"
              f"  reverse/forward {r['reverse_sweep_over_forward']:.2f}  checkpointed/forward "
              f"{r['checkpointed_total_over_forward']:.2f}")
    for row in mem:
        print(f"steps {row['steps']:4d} checkpoint {row['checkpoint']!s:5s} stored {row['stored_MiB']:8.1f} MiB"
              f"  params {row['params_MiB']:7.1f} MiB  peak RSS +{row['peak_rss_increase_MiB']:8.1f} MiB")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
