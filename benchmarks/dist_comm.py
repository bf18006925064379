"""Communication per step that savlib's schemes add on top of DDP (issue 7, "Verify").

Usage (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dist_comm.py            # 2 ranks, gloo, CPU
    .venv/bin/python benchmarks/dist_comm.py --world 3 --steps 5 --width 256

Two (``--world``) CPU processes (gloo, ``init_method=file://``) train a float32 MLP
``784 -> width -> 10`` (``width=128``: 101,770 parameters) under DistributedDataParallel,
each rank on its own mini-batch of 64, with every scheme in turn. Per step it counts

* ``ddp``: DDP's gradient all-reduces (calls and bytes), with a DDP communication hook that
  counts every bucket and then all-reduces it as DDP's default hook does;
* ``savlib``: every collective savlib issues (:class:`savlib.distributed.CommCounter`): the
  fused float64 scalar all-reduce, RelSAV's second one, ISGD's per-evaluation one and
  IEQAdaptive's own gradient all-reduce (its ``torch.autograd.grad`` bypasses DDP, so it runs
  on the bare module and reduces the gradient itself);

for the replicated layout (DDP) and, for the schemes that support it, the sharded layout
(``sharded=True``; each rank steps every other parameter tensor). The reference is DDP with
``torch.optim.SGD``: one gradient all-reduce per step and nothing else. Counts are exact
(no timing), so the JSON (``benchmarks/results/dist_comm.json``) is reproducible; the
table is printed. The book chapter "Training at scale" reads the JSON; its demonstration
that the energy must be global is :func:`savlib.experiments.scale_demos.demo_local_vs_global`.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F

RESULTS = Path(__file__).resolve().parent / "results" / "dist_comm.json"


def _schemes(K1: int = 5) -> dict[str, Any]:
    from savlib.schemes import ISGD, SAV, ExpSAV, IEQAdaptive, RelExpSAV, RelSAV, ResSAV

    return {
        "SGD (torch)": (lambda p, g, s: torch.optim.SGD(p, lr=0.1), "torch"),
        "Adam (torch)": (lambda p, g, s: torch.optim.Adam(p, lr=1e-3), "torch"),
        "SAV": (lambda p, g, s: SAV(p, lr=0.1, process_group=g, sharded=s), "loss"),
        "ResSAV": (lambda p, g, s: ResSAV(p, lr=0.1, process_group=g, sharded=s), "loss"),
        "RelSAV": (lambda p, g, s: RelSAV(p, lr=0.1, process_group=g, sharded=s), "loss"),
        "A-SAV": (lambda p, g, s: SAV(p, lr=1e-3, adaptive=True, process_group=g, sharded=s), "loss"),
        "A-RelSAV": (lambda p, g, s: RelSAV(p, lr=1e-3, adaptive=True, process_group=g, sharded=s), "loss"),
        "ExpSAV": (lambda p, g, s: ExpSAV(p, lr=0.1, process_group=g, sharded=s), "loss"),
        "RelExpSAV": (lambda p, g, s: RelExpSAV(p, lr=0.1, process_group=g, sharded=s), "loss"),
        "IEQAdaptive": (lambda p, g, s: IEQAdaptive(p, lr=0.1, process_group=g), "residual"),
        f"ISGD-adam (K1={K1})": (lambda p, g, s: ISGD(p, lr=0.1, inner="adam", inner_steps=K1,
                                                      process_group=g, sharded=s), "loss"),
        f"ISGD-lbfgs ({K1} it)": (lambda p, g, s: ISGD(p, lr=0.1, inner="lbfgs", inner_steps=K1,
                                                       process_group=g), "loss"),
    }


def _no_sharded(name: str) -> bool:
    return name.startswith(("IEQAdaptive", "ISGD-lbfgs", "SGD", "Adam"))


def _init(rank: int, world: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/pg", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))


def _count_worker(rank: int, world: int, tmp: str, cfg: dict[str, Any]) -> None:
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

    from savlib.distributed import CommCounter
    from savlib.schemes.ieq import mse_residual

    _init(rank, world, tmp)
    g = torch.Generator().manual_seed(100 + rank)          # each rank its own data
    out: dict[str, Any] = {}
    for name, (factory, kind) in _schemes(cfg["K1"]).items():
        for sharded in (False, True):
            if sharded and _no_sharded(name):
                continue
            torch.manual_seed(0)
            model = torch.nn.Sequential(torch.nn.Linear(784, cfg["width"]), torch.nn.Tanh(),
                                        torch.nn.Linear(cfg["width"], 10))
            ddp = torch.nn.parallel.DistributedDataParallel(model)
            state = {"calls": 0, "bytes": 0}

            def hook(st, bucket):
                buf = bucket.buffer()
                st["calls"] += 1
                st["bytes"] += buf.numel() * buf.element_size()
                return allreduce_hook(None, bucket)

            ddp.register_comm_hook(state, hook)
            params = list(model.parameters())
            mine = [p for i, p in enumerate(params) if i % world == rank] if sharded else params
            opt = factory(mine, "default", sharded)

            def closure(xb, yb):
                def c():
                    model.zero_grad()
                    if kind == "residual":
                        return mse_residual(model(xb), F.one_hot(yb, 10).float())
                    loss = F.cross_entropy(ddp(xb), yb)
                    if torch.is_grad_enabled():
                        loss.backward()
                    return loss
                return c

            def one_step():
                xb = torch.randn(cfg["batch"], 784, generator=g)
                yb = torch.randint(0, 10, (cfg["batch"],), generator=g)
                if kind == "torch":
                    closure(xb, yb)()
                    opt.step()
                else:
                    opt.step(closure(xb, yb))

            one_step()                                     # DDP rebuilds its buckets once
            state.update(calls=0, bytes=0)
            with CommCounter() as cc:
                for _ in range(cfg["steps"]):
                    one_step()
            n = cfg["steps"]
            out[f"{name}{' [sharded]' if sharded else ''}"] = {
                "ddp_calls": state["calls"] / n, "ddp_bytes": state["bytes"] / n,
                "savlib_calls": cc.calls / n, "savlib_bytes": cc.bytes / n,
                "savlib_f64_calls": sum(1 for k, _, _ in cc.log if k == "all_reduce_f64") / n,
                "n_params": sum(p.numel() for p in params)}
    torch.save(out, f"{tmp}/rank{rank}.pt")
    dist.destroy_process_group()


def _spawn(worker, world: int, cfg: dict[str, Any], timeout: float = 300.0) -> list[Any]:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        ctx = mp.start_processes(worker, args=(world, tmp, cfg), nprocs=world, join=False,
                                 start_method="spawn")
        deadline = time.monotonic() + timeout
        while not ctx.join(timeout=0.5):
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    if p.is_alive():
                        p.kill()
                raise RuntimeError(f"{worker.__name__} did not finish in {timeout:.0f} s")
        return [torch.load(f"{tmp}/rank{r}.pt", weights_only=False) for r in range(world)]


def measure(world: int = 2, steps: int = 3, width: int = 128, batch: int = 64, K1: int = 5) -> dict[str, Any]:
    """Collectives and bytes per step per scheme (rank 0's counts; the function checks
    that every rank counted the same). Returns a JSON-ready dict with ``rows``."""
    cfg = dict(steps=steps, width=width, batch=batch, K1=K1)
    t0 = time.perf_counter()
    res = _spawn(_count_worker, world, cfg)
    for r in res[1:]:
        if r != res[0]:
            raise RuntimeError("ranks counted different collectives")
    base = res[0]["SGD (torch)"]
    rows = {}
    for name, v in res[0].items():
        rows[name] = dict(v, total_calls=v["ddp_calls"] + v["savlib_calls"],
                          total_bytes=v["ddp_bytes"] + v["savlib_bytes"],
                          added_calls=v["ddp_calls"] + v["savlib_calls"] - base["ddp_calls"],
                          added_bytes=v["ddp_bytes"] + v["savlib_bytes"] - base["ddp_bytes"])
    return {"world": world, "backend": "gloo", "config": cfg, "rows": rows,
            "seconds": time.perf_counter() - t0, "torch": torch.__version__,
            "python": platform.python_version()}


def table(res: dict[str, Any]) -> str:
    """The per-step table as markdown."""
    lines = ["| scheme | DDP all-reduces | DDP bytes | savlib collectives | savlib bytes | "
             "added vs DDP+SGD (calls / bytes) |", "|---|---:|---:|---:|---:|---:|"]
    for name, v in res["rows"].items():
        lines.append(f"| {name} | {v['ddp_calls']:g} | {v['ddp_bytes']:,.0f} | {v['savlib_calls']:g} | "
                     f"{v['savlib_bytes']:,.0f} | {v['added_calls']:+g} / {v['added_bytes']:+,.0f} |")
    return "\n".join(lines)


# The book's demonstration of local vs global energy moved to savlib (a notebook must import
# from savlib): savlib.experiments.scale_demos.demo_local_vs_global, re-exported here for old callers.
from savlib.experiments.scale_demos import demo_local_vs_global  # noqa: E402,F401
from savlib.experiments.record import benchmark_provenance  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--K1", type=int, default=5)
    p.add_argument("--out", default=str(RESULTS))
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    res = measure(a.world, a.steps, a.width, a.batch, a.K1)
    res["provenance"] = benchmark_provenance(__file__, argv if argv is not None else sys.argv[1:],
                                             time.perf_counter() - t0)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    print(table(res))
    print(f"\n{a.world} ranks, gloo, {res['rows']['SAV']['n_params']:,} float32 parameters; "
          f"{res['seconds']:.1f} s; wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))   # spawn children import dist_comm
    sys.exit(main())
