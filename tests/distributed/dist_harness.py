"""Shared pieces of the multi-process tests: a tiny float64 MLP problem, the scheme table,
training loops for the replicated (DDP) and sharded (FSDP-style) layouts, and
:func:`spawn`, which runs a worker on ``world`` gloo ranks with a hard deadline (a hung
collective fails the test instead of the CI run).

``tests/distributed`` has no ``__init__.py``: pytest's prepend import mode puts this
directory on ``sys.path``, and ``multiprocessing``'s spawn start method hands that path to
the children, so the workers below unpickle by module name.
"""
from __future__ import annotations

import datetime
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F

from savlib.distributed import CommCounter
from savlib.schemes import ISGD, SAV, ExpSAV, IEQAdaptive, RelExpSAV, RelSAV, ResSAV
from savlib.schemes.ieq import mse_residual

F64 = torch.float64
STEPS = 20
N_SAMPLES, BATCH, D_IN, D_OUT, WIDTH = 32, 8, 3, 2, 6

# name -> (factory(params, process_group, sharded), kind); kind "loss" or "residual"
SCHEMES: dict[str, tuple[Callable[..., torch.optim.Optimizer], str]] = {
    "SAV": (lambda p, g, s: SAV(p, lr=0.3, C=1.0, lam=0.5, process_group=g, sharded=s), "loss"),
    "ResSAV": (lambda p, g, s: ResSAV(p, lr=0.3, C=1.0, process_group=g, sharded=s), "loss"),
    "RelSAV": (lambda p, g, s: RelSAV(p, lr=0.3, C=1.0, lam=0.5, process_group=g, sharded=s), "loss"),
    "A-SAV": (lambda p, g, s: SAV(p, lr=0.05, adaptive=True, process_group=g, sharded=s), "loss"),
    "A-ResSAV": (lambda p, g, s: ResSAV(p, lr=0.05, adaptive=True, lam=0.5, process_group=g,
                                        sharded=s), "loss"),
    "A-RelSAV": (lambda p, g, s: RelSAV(p, lr=0.05, adaptive=True, process_group=g, sharded=s), "loss"),
    "ExpSAV": (lambda p, g, s: ExpSAV(p, lr=0.3, lam=0.5, process_group=g, sharded=s), "loss"),
    "RelExpSAV": (lambda p, g, s: RelExpSAV(p, lr=0.3, process_group=g, sharded=s), "loss"),
    "IEQAdaptive": (lambda p, g, s: IEQAdaptive(p, lr=0.5, process_group=g, sharded=s), "residual"),
    "ISGD-adam": (lambda p, g, s: ISGD(p, lr=0.5, inner="adam", inner_steps=4, process_group=g,
                                       sharded=s), "loss"),
    "ISGD-lbfgs": (lambda p, g, s: ISGD(p, lr=0.5, inner="lbfgs", inner_steps=5, process_group=g,
                                        sharded=s), "loss"),
}
#: schemes that support sharded=True (IEQAdaptive and ISGD's L-BFGS refuse it)
SHARDED = [k for k in SCHEMES if k not in ("IEQAdaptive", "ISGD-lbfgs")]


def make_data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(N_SAMPLES, D_IN, generator=g, dtype=F64)
    y = torch.stack([torch.sin(x.sum(1)), torch.cos(x[:, 0])], 1)
    return x, y


def make_model() -> torch.nn.Module:
    torch.manual_seed(7)
    return torch.nn.Sequential(torch.nn.Linear(D_IN, WIDTH), torch.nn.Tanh(),
                               torch.nn.Linear(WIDTH, D_OUT)).to(F64)


def batches() -> list[torch.Tensor]:
    """The global mini-batch (row indices) of every step: the same on all ranks."""
    g = torch.Generator().manual_seed(5)
    return [torch.randperm(N_SAMPLES, generator=g)[:BATCH] for _ in range(STEPS)]


def flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def single_process(name: str, steps: int = STEPS) -> tuple[torch.Tensor, list[float]]:
    """Reference: one process, no group, each step on the whole global batch."""
    factory, kind = SCHEMES[name]
    x, y = make_data()
    model = make_model()
    opt = factory(model.parameters(), None, False)
    losses = []
    for idx in batches()[:steps]:
        xb, yb = x[idx], y[idx]
        losses.append(float(opt.step(_closure(model, model, opt, xb, yb, kind))))
    return flat(model), losses


def _closure(fwd, bare, opt, xb, yb, kind, before=None, after_backward=None, nan=False):
    def closure():
        if before is not None:
            before()
        opt.zero_grad()
        if kind == "residual":
            q = mse_residual(bare(xb), yb)   # IEQ: the bare module (autograd.grad bypasses DDP)
            return q * float("nan") if nan else q
        loss = F.mse_loss(fwd(xb), yb)
        if nan:
            loss = loss * float("nan")
        if torch.is_grad_enabled():
            loss.backward()
            if after_backward is not None:
                after_backward()
        return loss
    return closure


def _init(rank: int, world: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/pg", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))


def _shard(rank: int, world: int, idx: torch.Tensor) -> torch.Tensor:
    k = idx.numel() // world
    return idx[rank * k:(rank + 1) * k]


# ------------------------------------------------------------------------- workers
def worker_all(rank: int, world: int, tmp: str, names: list[str]) -> None:
    """One process launch for the three phases (launching costs more than the phases)."""
    _init(rank, world, tmp)
    out = {"replicated": phase_replicated(rank, world, names),
           "sharded": phase_sharded(rank, world, [n for n in names if n in SHARDED]),
           "nan": phase_nan(rank, world, names),
           "fit": phase_fit(rank, world, tmp)}
    torch.save(out, f"{tmp}/rank{rank}.pt")
    dist.destroy_process_group()


def phase_replicated(rank: int, world: int, names: list[str]) -> dict[str, Any]:
    """DDP: every rank holds a replica and half of each global batch."""
    out: dict[str, Any] = {}
    try:
        x, y = make_data()
        for name in names:
            factory, kind = SCHEMES[name]
            model = make_model()
            ddp = torch.nn.parallel.DistributedDataParallel(model)
            opt = factory(model.parameters(), "default", False)
            losses = []
            with CommCounter() as cc:
                for idx in batches():
                    idx = _shard(rank, world, idx)
                    fwd = ddp if kind == "loss" else model
                    losses.append(float(opt.step(_closure(fwd, model, opt, x[idx], y[idx], kind))))
            out[name] = {"params": flat(model), "losses": losses, "calls": cc.calls, "bytes": cc.bytes,
                         "log": cc.log}
    except Exception:
        out["error"] = traceback.format_exc()
    return out


def phase_sharded(rank: int, world: int, names: list[str]) -> dict[str, Any]:
    """FSDP-style: rank r owns the parameter tensors i with i % world == r and steps only
    those; every closure starts with an all-gather (each tensor broadcast from its owner) and
    averages the gradients after backward, as FSDP's forward/backward hooks do."""
    out: dict[str, Any] = {}
    try:
        x, y = make_data()
        for name in names:
            factory, kind = SCHEMES[name]
            model = make_model()
            params = list(model.parameters())
            mine = [p for i, p in enumerate(params) if i % world == rank]

            def gather():
                with torch.no_grad():
                    for i, p in enumerate(params):
                        dist.broadcast(p, src=i % world)
                model.zero_grad()         # every rank contributes a fresh gradient

            def reduce_grads():           # raw torch.distributed: not counted as savlib's
                for p in params:
                    dist.all_reduce(p.grad)
                    p.grad.div_(world)

            opt = factory(mine, "default", True)
            losses = []
            with CommCounter() as cc:
                for idx in batches():
                    idx = _shard(rank, world, idx)
                    cl = _closure(model, model, opt, x[idx], y[idx], kind, before=gather,
                                  after_backward=reduce_grads)
                    losses.append(float(opt.step(cl)))
            gather()
            out[name] = {"params": flat(model), "losses": losses, "calls": cc.calls, "bytes": cc.bytes,
                         "log": cc.log}
    except Exception:
        out["error"] = traceback.format_exc()
    return out


def phase_nan(rank: int, world: int, names: list[str]) -> dict[str, Any]:
    """DDP; at step 3 the loss (or residual) of the LAST rank only is NaN. Records what
    each rank raised, whether its parameters were left unchanged, and that a collective
    after the error still completes (no rank is stuck in a different collective)."""
    out: dict[str, Any] = {}
    x, y = make_data()
    for name in names:
        factory, kind = SCHEMES[name]
        model = make_model()
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        opt = factory(model.parameters(), "default", False)
        rec: dict[str, Any] = {"error": None}
        for step, idx in enumerate(batches()[:4]):
            idx = _shard(rank, world, idx)
            before = flat(model)
            nan = step == 3 and rank == world - 1
            fwd = ddp if kind == "loss" else model
            try:
                opt.step(_closure(fwd, model, opt, x[idx], y[idx], kind, nan=nan))
            except ValueError as exc:
                rec = {"error": f"{type(exc).__name__}: {exc}", "step": step,
                       "unchanged": bool(torch.equal(before, flat(model)))}
                break
        t = torch.ones(1)
        dist.all_reduce(t)                  # every rank must reach this point
        rec["after"] = float(t)
        out[name] = rec
    return out


FIT_OPTS = {
    "RelSAV": lambda p, g: RelSAV(p, lr=0.3, process_group=g),
    "SGD": lambda p, g: torch.optim.SGD(p, lr=0.1),
}


def run_fit(name: str, group: Any = None, checkpoint: str | None = None) -> tuple[torch.Tensor, Any]:
    """savlib.train.fit for 2 epochs of batches of 8 (rank shares of 4 under a group)."""
    from savlib.train import fit

    x, y = make_data()
    model = make_model()
    opt = FIT_OPTS[name](model.parameters(), group)
    h = fit(model, opt, (x, y, x[:8], y[:8]), F.mse_loss, epochs=2, batch_size=BATCH, seed=3,
            process_group=group, checkpoint=checkpoint)
    return flat(model), h


def phase_fit(rank: int, world: int, tmp: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        for name in FIT_OPTS:
            params, h = run_fit(name, "default", checkpoint=f"{tmp}/ck_{name}_r{rank}.pt")
            out[name] = {"params": params, "train_loss": h.train_loss, "world": h.config["world_size"]}
        dist.barrier()
        out["ckpts"] = sorted(p.name for p in Path(tmp).glob("ck_*.pt"))
    except Exception:
        out["error"] = traceback.format_exc()
    return out


# --------------------------------------------------------------------------- spawn
def spawn(worker: Callable, tmp: Path, names: list[str], world: int = 2,
          timeout: float = 120.0) -> list[dict[str, Any]]:
    """Run ``worker(rank, world, str(tmp), names)`` on ``world`` spawned processes; return
    each rank's saved results. A worker that has not finished after ``timeout`` seconds
    (a hang) is killed and the test fails."""
    import torch.multiprocessing as mp

    ctx = mp.start_processes(worker, args=(world, str(tmp), names), nprocs=world, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + timeout
    while not ctx.join(timeout=0.5):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                if p.is_alive():
                    p.kill()
            raise AssertionError(f"{worker.__name__} did not finish within {timeout:.0f} s: "
                                 "a collective hung")
    res = [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(world)]
    for r, o in enumerate(res):
        for phase, v in o.items():
            assert not isinstance(v.get("error"), str), f"rank {r}, {phase}:\n{v['error']}"
    return res
