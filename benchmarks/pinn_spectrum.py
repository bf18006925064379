"""Seed 001 Fig. 1 at the paper's size: top Hessian eigenvalues of the 1-D Poisson PINN loss.

For u_L = sin(2 pi x) and u_H = sin(2 pi x) + 0.1 sin(50 pi x) (seed 001 sec. 2.2) this
builds the paper's network (5 hidden layers of 200 tanh units, ~161k parameters),
computes the largest Hessian eigenvalues by Lanczos (savlib.analysis.lanczos) at the
Glorot initialisation and after ``--steps`` steps of torch's Adam with default
settings (the paper does not say at which parameters its spectra were taken), and
writes ``benchmarks/results/pinn_spectrum.json``. A dense spectrum, as drawn in the
paper, is out of reach at this size (161k^2 entries); the chapter "Stiffness of PINN
losses" shows dense spectra of a smaller net.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pinn_spectrum.py            # paper size
    SAVLIB_QUICK=1 .venv/bin/python benchmarks/pinn_spectrum.py               # smoke test
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

import savlib
from savlib.analysis import Hessian, lanczos
from savlib.experiments.record import benchmark_provenance
from savlib.problems import poisson1d_low, poisson1d_multiscale

PAPER = {"u_L": 1.1e4, "u_H": 4.6e8}


def run(name, problem, widths, steps, k, seed, progress):
    model = problem.default_model(widths=widths, generator=savlib.generator(seed)).double()
    n = sum(p.numel() for p in model.parameters())
    out = {"problem": name, "params": n, "widths": widths, "adam_steps": steps}
    t0 = time.perf_counter()
    r0 = lanczos(Hessian(problem.closure(model), model), k=k, tol=1e-6)
    out["init"] = {"top": r0.values.tolist(), "lanczos_steps": r0.steps, "converged": r0.converged,
                   "seconds": time.perf_counter() - t0}
    opt = torch.optim.Adam(model.parameters())
    t0 = time.perf_counter()
    it = range(steps)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc=f"Adam {name}")
    for _ in it:
        opt.zero_grad()
        loss = problem.loss(model)
        loss.backward()
        opt.step()
    out["adam_seconds"] = time.perf_counter() - t0
    out["loss_after_adam"] = float(problem.loss(model).detach())
    out["relative_l2_after_adam"] = problem.relative_l2(model)
    t0 = time.perf_counter()
    r1 = lanczos(Hessian(problem.closure(model), model), k=k, tol=1e-6)
    out["trained"] = {"top": r1.values.tolist(), "lanczos_steps": r1.steps, "converged": r1.converged,
                      "seconds": time.perf_counter() - t0}
    out["paper_lambda_max"] = PAPER[name]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=savlib.pick(50, 2000))
    ap.add_argument("--width", type=int, default=savlib.pick(20, 200))
    ap.add_argument("--depth", type=int, default=savlib.pick(2, 5))
    ap.add_argument("--n-f", type=int, default=savlib.pick(100, 1000))
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "pinn_spectrum.json"))
    a = ap.parse_args()
    t0 = time.time()
    savlib.setup(seed=a.seed, dtype=torch.float64)
    widths = [a.width] * a.depth
    results = [run("u_L", poisson1d_low(n_f=a.n_f), widths, a.steps, a.k, a.seed, a.progress),
               run("u_H", poisson1d_multiscale(n_f=a.n_f), widths, a.steps, a.k, a.seed, a.progress)]
    ratio_init = results[1]["init"]["top"][0] / results[0]["init"]["top"][0]
    ratio_trained = results[1]["trained"]["top"][0] / results[0]["trained"]["top"][0]
    doc = {"benchmark": "pinn_spectrum", "source": "li2023isgd Fig. 1", "quick": savlib.quick(),
           "torch": torch.__version__, "machine": platform.platform(), "threads": torch.get_num_threads(),
           "results": results, "ratio_lambda_max_init": ratio_init, "ratio_lambda_max_trained": ratio_trained,
           "paper_ratio": PAPER["u_H"] / PAPER["u_L"],
           "provenance": benchmark_provenance(__file__, sys.argv[1:], time.time() - t0)}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(doc, indent=2))
    for r in results:
        print(f"{r['problem']}: {r['params']} params  lambda_max init {r['init']['top'][0]:.3e}  "
              f"after {r['adam_steps']} Adam steps {r['trained']['top'][0]:.3e}  (paper {r['paper_lambda_max']:.1e})  "
              f"rel. L2 {r['relative_l2_after_adam']:.2e}  Adam {r['adam_seconds']:.0f}s")
    print(f"ratio u_H/u_L: init {ratio_init:.3g}, trained {ratio_trained:.3g}, paper {doc['paper_ratio']:.3g}")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
