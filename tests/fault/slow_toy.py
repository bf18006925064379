"""A small experiment run as a separate process by the fault-injection tests:
``python tests/fault/slow_toy.py --full --out DIR [--resume]``. Each of its units takes a
fraction of a second and computes a value from a seeded generator, so a run killed at any
moment and resumed must give exactly the uninterrupted result."""
from __future__ import annotations

import sys
import time

import torch

import savlib.experiments as E
from savlib.experiments import record
from savlib.experiments.__main__ import main


def slow_toy(size="quick", device=None, progress=False, *, seed=0, n=None, pause=0.15, ctx=None):
    ctx = ctx or record.Context()
    cfg = ctx.declare(n=n or 8, pause=pause, seed=seed)
    out = []
    for k in range(cfg["n"]):
        def compute(k=k):
            time.sleep(cfg["pause"])
            g = torch.Generator().manual_seed(1000 * seed + k)
            return {"k": k, "value": torch.randn(5, generator=g, dtype=torch.float64).tolist()}
        out.append(ctx.unit(f"k{k}", compute))
    return {"size": size, "seed": seed, "units": out}


E.register("_slow_toy", "fault-injection test experiment", slow_toy)

if __name__ == "__main__":
    sys.exit(main(["_slow_toy", "--no-progress", *sys.argv[1:]]))
