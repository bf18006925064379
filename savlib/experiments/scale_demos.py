"""The demonstrations of the book chapter "Training at scale" (moved here from
:mod:`savlib.distributed`, which keeps only the communication primitives; the old names
``savlib.distributed.demo_*`` still resolve to these).

:func:`demo_local_vs_global` shows why the energy must be global; :func:`demo_replicas` runs
:func:`train_demo` on two gloo processes and in one. Workers are module-level functions, so
that :func:`~savlib.distributed.spawn_gloo` can import them by name in the spawned processes.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor

from ..distributed import CommCounter, spawn_gloo

F64 = torch.float64

__all__ = ["DEMO_STATE", "demo_problem", "demo_model", "train_demo", "demo_local_vs_global",
           "demo_replicas", "local_vs_global_worker", "replicas_worker"]

#: the float64 state that carries the energy, per scheme of :func:`demo_local_vs_global`
DEMO_STATE = {"SAV": "r", "RelSAV": "r", "ExpSAV": "log_r"}


def _demo_scheme(name: str, params: Any, group: Any) -> torch.optim.Optimizer:
    from ..schemes import ISGD, SAV, ExpSAV, IEQAdaptive, RelSAV

    table = {
        "SAV": lambda: SAV(params, lr=0.5, C=1.0, process_group=group),
        "RelSAV": lambda: RelSAV(params, lr=0.5, C=1.0, process_group=group),
        "ExpSAV": lambda: ExpSAV(params, lr=0.5, C=1.0, process_group=group),
        "IEQAdaptive": lambda: IEQAdaptive(params, lr=0.5, process_group=group),
        "ISGD": lambda: ISGD(params, lr=0.5, inner="adam", inner_steps=4, process_group=group),
    }
    if name not in table:
        raise ValueError(f"unknown demo scheme {name!r}; expected one of {sorted(table)}")
    return table[name]()


def demo_problem(n: int = 64) -> tuple[Tensor, Tensor]:
    """The small float64 regression problem of the chapter "Training at scale": ``n`` points
    ``x`` in R^4 and targets ``sin(3 sum x) + 0.5 [x_1 > 0]`` (a discontinuous part, so that
    halves of the data have clearly different losses)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g, dtype=F64)
    y = torch.sin(3 * x.sum(1, keepdim=True)) + 0.5 * (x[:, :1] > 0).to(F64)
    return x, y


def demo_model() -> torch.nn.Module:
    """The float64 MLP ``4 -> 16 -> 1`` (tanh) of the chapter, always with the same weights."""
    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(1)
        return torch.nn.Sequential(torch.nn.Linear(4, 16, dtype=F64), torch.nn.Tanh(),
                                   torch.nn.Linear(16, 1, dtype=F64))


def _flat(model: torch.nn.Module) -> Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def local_vs_global_worker(rank_: int, world: int, schemes: Sequence[str], steps: int) -> dict[str, Any]:
    """Worker of :func:`demo_local_vs_global` (runs inside a process group)."""
    import torch.nn.functional as F

    x, y = demo_problem()
    xs, ys = x.chunk(world)[rank_], y.chunk(world)[rank_]     # rank r holds the r-th part
    out: dict[str, Any] = {}
    for name in schemes:
        out[name] = {}
        for label, group in (("local", None), ("global", "default")):
            model = demo_model()
            ddp = torch.nn.parallel.DistributedDataParallel(model)   # averages the gradients
            opt = _demo_scheme(name, model.parameters(), group)
            state, losses, path = [], [], []
            for _ in range(steps):
                def closure() -> Tensor:
                    opt.zero_grad()
                    loss = F.mse_loss(ddp(xs), ys)
                    if torch.is_grad_enabled():
                        loss.backward()
                    return loss
                losses.append(float(opt.step(closure)))
                state.append(float(opt.scalars[DEMO_STATE[name]]))
                path.append(_flat(model))
            out[name][label] = {"state": state, "loss": losses, "path": torch.stack(path),
                                "params": _flat(model)}
    return out


def demo_local_vs_global(world: int = 2, schemes: Sequence[str] = ("SAV", "ExpSAV"), steps: int = 30,
                         timeout_s: float = 300.0) -> list[dict[str, Any]]:
    """Why the energy must be global (book chapter "Training at scale").

    On ``world`` gloo processes, each holding a different part of :func:`demo_problem`, train
    :func:`demo_model` wrapped in DistributedDataParallel (so the gradients *are* averaged)
    with each scheme twice: with the rank-local loss (``process_group=None``, what a scheme
    unaware of distribution does) and with savlib's global energy
    (``process_group="default"``). Returns, per rank, ``{scheme: {"local"|"global":
    {"state", "loss", "drift", "params"}}}``: the scheme's scalar state after every step
    (``r`` of SAV, Ma, Mao & Shen 2024, eq. (17); ``log r`` of ExpSAV, Anonymous 2024, section 2.2.4), the loss the
    step returned, and the largest parameter difference to rank 0 after every step."""
    names = list(schemes)
    for n in names:
        if n not in DEMO_STATE:
            raise ValueError(f"demo_local_vs_global: scheme {n!r} not in {sorted(DEMO_STATE)}")
    res = spawn_gloo(local_vs_global_worker, world, (names, steps), timeout_s)
    # compared here, after the runs, so that they issue no extra collective
    ref = {(n, lab): v["path"] for n in names for lab, v in res[0][n].items()}
    for r in res:
        for name in names:
            for label, v in r[name].items():
                v["drift"] = (v.pop("path") - ref[name, label]).abs().amax(dim=1).tolist()
    return res


def train_demo(scheme: str, steps: int = 20, batch_size: int = 16, process_group: Any = None
               ) -> tuple[Tensor, Any]:
    """Train :func:`demo_model` on :func:`demo_problem` with ``scheme`` through
    :func:`savlib.train.fit` (mini-batches of ``batch_size``, sampler seed 0); with a
    ``process_group`` every rank takes its share of each batch. Returns the flat float64
    parameters and the :class:`~savlib.train.History`. ``scheme``: SAV, RelSAV, ExpSAV,
    IEQAdaptive or ISGD."""
    import torch.nn.functional as F

    from ..train import fit

    x, y = demo_problem()
    model = demo_model()
    opt = _demo_scheme(scheme, model.parameters(), process_group)
    h = fit(model, opt, (x, y, x, y), F.mse_loss, steps=steps, batch_size=batch_size, seed=0,
            process_group=process_group)
    return _flat(model), h


def replicas_worker(rank_: int, world: int, schemes: Sequence[str], steps: int) -> dict[str, Any]:
    """Worker of :func:`demo_replicas`."""
    out = {}
    for name in schemes:
        with CommCounter() as cc:
            params, h = train_demo(name, steps, process_group="default")
        out[name] = {"params": params, "train_loss": h.train_loss, "world_size": h.config["world_size"],
                     "collectives": cc.calls, "bytes": cc.bytes}
    return out


def demo_replicas(world: int = 2, schemes: Sequence[str] = ("SAV", "RelSAV", "ExpSAV", "IEQAdaptive", "ISGD"),
                  steps: int = 20, timeout_s: float = 300.0) -> dict[str, Any]:
    """The 2-process run of the chapter "Training at scale": :func:`train_demo` for each
    scheme on ``world`` gloo processes and once in this process without a group. Returns
    ``{"ranks": [per rank {scheme: {"params", "train_loss", "world_size", "collectives",
    "bytes"}}], "single": {scheme: {"params", "train_loss"}}}``; ``collectives`` counts
    savlib's collectives (gradient averaging included) over the whole run."""
    names = list(schemes)
    ranks = spawn_gloo(replicas_worker, world, (names, steps), timeout_s)
    single = {}
    for name in names:
        params, h = train_demo(name, steps)
        single[name] = {"params": params, "train_loss": h.train_loss}
    return {"ranks": ranks, "single": single}
