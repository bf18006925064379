"""``python -m savlib.experiments NAME [--quick|--full] [--device cuda] [--out DIR]`` and ``--list``.

Writes ``DIR/NAME.json`` and ``DIR/NAME.png`` (default ``DIR = results``) and shows a tqdm
progress bar. Without ``--quick``/``--full`` the size follows quick mode (``savlib.quick()``).
``--set KEY=VALUE`` (repeatable) overrides one keyword of the experiment function (values
are parsed as JSON when possible, e.g. ``--set epochs=5 --set lrs=[1,10]``); the overrides
are stored in the JSON. ``--threads N`` calls ``torch.set_num_threads(N)``.
"""
from __future__ import annotations

import argparse
import json
import sys

import matplotlib
import torch

from ..config import get_device
from . import EXPERIMENTS, list_experiments, run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m savlib.experiments", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="experiment name (see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="CI size")
    g.add_argument("--full", action="store_true", help="the papers' size")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: savlib.get_device())")
    p.add_argument("--out", default="results", help="output directory for JSON and PNG (default: results)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a keyword of the experiment (JSON value), repeatable")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads(N)")
    a = p.parse_args(argv)
    overrides = {}
    for item in a.set:
        key, sep, val = item.partition("=")
        if not sep or not key.isidentifier():
            p.error(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(val)
        except json.JSONDecodeError:
            overrides[key] = val
    if a.list or not a.name:
        for name, summary in list_experiments():
            print(f"{name:18s} {summary}")
        return 0 if a.list else 2
    if a.name not in EXPERIMENTS:
        p.error(f"unknown experiment {a.name!r}; choose from {', '.join(sorted(EXPERIMENTS))}")
    matplotlib.use("Agg")
    if a.threads is not None:
        import torch

        torch.set_num_threads(a.threads)
    size = "quick" if a.quick else ("full" if a.full else None)
    res = run(a.name, size=size, device=a.device, out=a.out, progress=not a.no_progress, seed=a.seed,
              **overrides)
    print(f"{a.name}: {res['total_seconds']:.1f} s; wrote {a.out}/{a.name}.json and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
