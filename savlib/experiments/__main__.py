"""``python -m savlib.experiments NAME [--quick|--full] [--device cuda] [--out DIR]`` and ``--list``.

Writes ``DIR/NAME.json`` (with ``provenance``: the command, commit, resolved configuration,
machine, wall time) and ``DIR/NAME.png``; every finished training run is kept in
``DIR/NAME.partial.json`` as it goes, and ``--resume`` continues an interrupted run from it.
The default is ``DIR = results``; results of record go to ``benchmarks/results``. A tqdm
progress bar shows the work. Without ``--quick``/``--full`` the size follows quick mode (``savlib.quick()``).
``--set KEY=VALUE`` (repeatable) overrides one keyword of the experiment function (values
are parsed as JSON when possible, e.g. ``--set epochs=5 --set lrs=[1,10]``); the overrides
are stored in the JSON. ``--threads N`` calls ``torch.set_num_threads(N)``.

Several processes (book chapter "Training at scale")::

    torchrun --standalone --nproc_per_node=4 -m savlib.experiments NAME --full --out results

Launched by ``torchrun`` (or ``python -m torch.distributed.run``), every process joins the
default group (:func:`savlib.distributed.init_from_env`: NCCL when the device is CUDA, each
process on GPU ``LOCAL_RANK`` of its node; gloo on CPU) and runs the experiment inside
:func:`savlib.distributed.default_group`, so every :func:`savlib.train.fit` call splits
each mini-batch across the ranks and every savlib scheme shares its energy (one float64
all-reduce per step). Only rank 0 shows progress and writes the JSON (with a
``"distributed"`` entry: world size and backend), the PNG and the partial result file
(``NAME.partial.json``); the group is destroyed
at the end. Experiments that do not train through ``fit`` (``meanfield_mnist``: the adjoint solver
and PAM) run in full on every rank, consistently but without a speed-up.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import matplotlib
import torch
import torch.distributed as dist

from .. import distributed as sd
from ..config import get_device, launcher_env
from ..errors import ConfigError, ResultError
from . import EXPERIMENTS, _json_safe, list_experiments, run


def _distributed_setup(device: str | None) -> tuple[object, str | None]:
    """Under torchrun: pick this process's device (``cuda`` -> ``cuda:LOCAL_RANK``) and
    initialise the default group; returns ``(group or None, device)``."""
    if not dist.is_available() or not dist.is_torchelastic_launched():
        return None, device
    env = launcher_env()
    dev = get_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", env["local_rank"] if env else 0)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    return sd.init_from_env(dev), str(dev)


# keywords of savlib.experiments.run that have their own option
_OPTIONS = {"size": "--quick or --full", "seed": "--seed", "device": "--device", "out": "--out",
            "progress": "--no-progress", "resume": "--resume", "ctx": "the runner", "name": "the first argument"}


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
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/NAME.partial.json (the units an interrupted run finished)")
    a = p.parse_args(argv)
    overrides = {}
    for item in a.set:
        key, sep, val = item.partition("=")
        if not sep or not key.isidentifier():
            p.error(f"--set expects KEY=VALUE, got {item!r}")
        if key in _OPTIONS:
            p.error(f"--set {key}=...: {key} is set by {_OPTIONS[key]}, not by --set")
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
        if a.threads < 1:
            p.error(f"--threads must be >= 1, got {a.threads}")
        torch.set_num_threads(a.threads)
    size = "quick" if a.quick else ("full" if a.full else None)
    group, device = _distributed_setup(a.device)
    ok = False
    try:
        main_rank = sd.is_main_process()
        scope = sd.default_group(group) if group is not None else contextlib.nullcontext()
        with scope:
            try:
                res = run(a.name, size=size, device=device, out=a.out if main_rank else None,
                          progress=main_rank and not a.no_progress, seed=a.seed, resume=a.resume,
                          **overrides)
            except (ConfigError, ResultError) as e:
                print(f"python -m savlib.experiments: error: {e}", file=sys.stderr)
                return 2
        world = sd.world_size()
        if group is not None and main_rank:
            # run() wrote the JSON before knowing it ran distributed: add that and rewrite it
            res["distributed"] = {"world_size": world, "backend": dist.get_backend(),
                                  "device": device}
            path = Path(a.out) / f"{a.name}.json"
            path.write_text(json.dumps(_json_safe(res), indent=1, allow_nan=False))
        ok = True
    finally:
        if group is not None:
            if ok:
                dist.barrier()     # rank 0 has written its files before anyone leaves
            dist.destroy_process_group()
    if main_rank:
        where = f" on {world} processes ({res['distributed']['backend']})" if group is not None else ""
        print(f"{a.name}: {res['total_seconds']:.1f} s{where}; wrote {a.out}/{a.name}.json and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
