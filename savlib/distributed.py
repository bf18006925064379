"""torch.distributed helpers shared by the schemes, :func:`savlib.train.fit` and the experiments.

Book chapter "Training at scale" (part "Beyond one machine"). savlib does not ship a
communication engine: it uses ``torch.distributed`` (gloo on CPU, NCCL on GPU) and adds,
per optimizer step, the few scalar reductions an energy-stable scheme needs on top of the
gradient averaging that DistributedDataParallel (DDP) or FSDP already performs.

Why the schemes need it. DDP averages gradients, but every rank's loss ``I`` is the loss
of its own shard of the batch. The SAV variable ``r = sqrt(I + C)`` (Ma, Mao & Shen 2024 eq. 17), the
exponential ``r = C exp(I)`` (the gradient-flow report's section 2.2.4) and IEQ's ``|q|^2`` all depend on the
loss, so a scheme fed the rank-local loss computes a different step size on every rank and
the replicas drift apart; a scheme that branches on a local value (a NaN check, a
relaxation, a restart) may take different branches on different ranks and the next
collective then hangs. savlib therefore packs every scalar that feeds its state into one
float64 vector per step and sums it with **one** ``all_reduce`` (:func:`all_reduce_f64`).

Two layouts (``EnergyOptimizer(..., process_group=pg, sharded=...)``):

* ``sharded=False`` (DDP, replicated parameters): the gradients are already the average
  over ranks, so the squared norms and inner products are identical on every rank and only
  the loss has to be averaged (a vector of length 1).
* ``sharded=True`` (FSDP-style: each rank owns a slice of the parameters and holds the
  averaged gradient of that slice): norms and inner products are partial sums over the
  rank's slice and are *summed*; the loss is averaged. Still one collective.

Process groups: ``process_group`` may be ``None`` (no communication; or the ambient group
set by :func:`default_group`), ``"default"``/``"world"``/``torch.distributed.group.WORLD``
(the default group, which must be initialised) or any ``ProcessGroup``.

Every collective savlib issues goes through :func:`all_reduce_f64` or
:func:`all_reduce_tensors`, so :class:`CommCounter` sees them all (the benchmark
``benchmarks/dist_comm.py`` uses it).
"""
from __future__ import annotations

import contextlib
import datetime
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["resolve_group", "is_distributed", "world_size", "rank", "is_main_process", "print0",
           "all_reduce_f64", "all_reduce_tensors", "average_gradients", "CommCounter",
           "default_group", "ambient_group", "init_from_env", "backend_for", "spawn_gloo"]

F64 = torch.float64
_WORLD_NAMES = ("default", "world", "WORLD")
_AMBIENT: list[Any] = []      # stack of groups set by default_group()
_COUNTERS: list["CommCounter"] = []


# ------------------------------------------------------------------------ groups
def resolve_group(process_group: Any, who: str = "savlib") -> Any:
    """Normalise a ``process_group`` argument.

    Returns ``None`` (no communication) or a group object usable by ``torch.distributed``
    collectives. ``None`` resolves to the ambient group of :func:`default_group` if one is
    active. ``"default"``, ``"world"`` and ``torch.distributed.group.WORLD`` mean the default
    group; it must have been initialised with ``torch.distributed.init_process_group``.
    Anything else must be a ``torch.distributed.ProcessGroup``.
    """
    if process_group is None:
        return _AMBIENT[-1] if _AMBIENT else None
    if isinstance(process_group, str):
        if process_group not in _WORLD_NAMES:
            raise ValueError(f"{who}: process_group={process_group!r}; expected None, 'default', "
                             "'world' or a torch.distributed.ProcessGroup")
        process_group = dist.group.WORLD
    if not dist.is_available():
        raise ValueError(f"{who}: process_group given but torch.distributed is not available in "
                         "this PyTorch build")
    if not dist.is_initialized():
        raise ValueError(f"{who}: process_group given but torch.distributed is not initialised; "
                         "call torch.distributed.init_process_group(...) first (torchrun sets the "
                         "environment for init_method='env://')")
    if process_group is dist.group.WORLD:
        return dist.group.WORLD
    if not isinstance(process_group, dist.ProcessGroup):
        raise TypeError(f"{who}: process_group must be None, 'default' or a "
                        f"torch.distributed.ProcessGroup, got {type(process_group).__name__}")
    return process_group


def is_distributed() -> bool:
    """True when ``torch.distributed`` is initialised (whatever the world size)."""
    return dist.is_available() and dist.is_initialized()


def world_size(group: Any = None) -> int:
    """Number of ranks in ``group`` (the default group when ``None``); 1 when not distributed."""
    if not is_distributed():
        return 1
    return dist.get_world_size(group=group)


def rank(group: Any = None) -> int:
    """This process's rank in ``group``; 0 when not distributed."""
    if not is_distributed():
        return 0
    return dist.get_rank(group=group)


def is_main_process() -> bool:
    """True on global rank 0 (and when not distributed): the rank that logs and saves."""
    return rank() == 0


def print0(*args: Any, **kwargs: Any) -> None:
    """``print`` on global rank 0 only."""
    if is_main_process():
        print(*args, **kwargs)


@contextlib.contextmanager
def default_group(group: Any = "default") -> Iterator[Any]:
    """Within this context, savlib schemes and :func:`savlib.train.fit` created or called
    with ``process_group=None`` use ``group`` (replicated layout). This is how
    ``python -m savlib.experiments`` makes every experiment distributed under ``torchrun``
    without changing the experiment code."""
    g = resolve_group(group, "default_group")
    _AMBIENT.append(g)
    try:
        yield g
    finally:
        _AMBIENT.pop()


def ambient_group() -> Any:
    """The group set by the innermost :func:`default_group`, or ``None``."""
    return _AMBIENT[-1] if _AMBIENT else None


def backend_for(device: torch.device | str) -> str:
    """``"nccl"`` for CUDA devices, ``"gloo"`` otherwise."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def init_from_env(device: torch.device | str | None = None, timeout_s: float = 1800.0) -> Any:
    """Initialise the default process group the way ``torchrun`` expects
    (``init_method="env://"``), with NCCL for a CUDA ``device`` and gloo otherwise, when this
    process was launched by ``torchrun`` (``torch.distributed.is_torchelastic_launched()``).
    Returns the WORLD group, or ``None`` when not launched by torchrun. Idempotent."""
    if not dist.is_available() or not dist.is_torchelastic_launched():
        return None
    if not dist.is_initialized():
        dev = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        dist.init_process_group(backend=backend_for(dev), init_method="env://",
                                timeout=datetime.timedelta(seconds=timeout_s))
    return dist.group.WORLD


# ------------------------------------------------------------------- collectives
class CommCounter:
    """Count the collectives savlib issues (and their payload bytes) inside a ``with`` block.

    ``calls`` and ``bytes`` are totals; ``log`` lists ``(kind, numel, dtype)`` per call.
    Counts what goes through :func:`all_reduce_f64` / :func:`all_reduce_tensors` (every
    savlib collective). DDP's own gradient buckets are not seen here; the benchmark counts
    them with a DDP communication hook.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.bytes = 0
        self.log: list[tuple[str, int, str]] = []

    def _add(self, kind: str, tensors: Sequence[Tensor]) -> None:
        self.calls += 1
        n = sum(t.numel() for t in tensors)
        self.bytes += sum(t.numel() * t.element_size() for t in tensors)
        self.log.append((kind, n, str(tensors[0].dtype).replace("torch.", "") if tensors else "-"))

    def __enter__(self) -> "CommCounter":
        _COUNTERS.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        _COUNTERS.remove(self)


def all_reduce_f64(vec: Tensor, group: Any) -> Tensor:
    """Sum the float64 vector ``vec`` over the ranks of ``group`` in **one** ``all_reduce``
    (in place; returns ``vec``). ``group=None`` is a no-op (single process).

    Every rank receives the same bytes, so the scalar recursions fed by the result take
    identical branches on every rank; a NaN on one rank becomes a NaN on all of them.
    """
    if group is None:
        return vec
    if vec.dtype != F64:
        raise TypeError(f"all_reduce_f64 expects a float64 vector, got {vec.dtype}")
    for c in _COUNTERS:
        c._add("all_reduce_f64", [vec])
    dist.all_reduce(vec, op=dist.ReduceOp.SUM, group=group)
    return vec


def all_reduce_tensors(tensors: Sequence[Tensor], group: Any, *, average: bool = True) -> None:
    """Sum (``average=True``: average) ``tensors`` over ``group`` in place with one
    ``all_reduce`` of a flattened buffer (all tensors must share device and dtype, as the
    gradients of one model do; otherwise one collective per (device, dtype))."""
    if group is None or not tensors:
        return
    W = dist.get_world_size(group=group)
    buckets: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    for t in tensors:
        buckets.setdefault((t.device, t.dtype), []).append(t)
    for ts in buckets.values():
        flat = torch.cat([t.reshape(-1) for t in ts])
        for c in _COUNTERS:
            c._add("all_reduce_tensors", [flat])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM, group=group)
        if average:
            flat.div_(W)
        off = 0
        for t in ts:
            n = t.numel()
            t.copy_(flat[off:off + n].view_as(t))
            off += n


def average_gradients(params: Sequence[Tensor], group: Any) -> None:
    """Average ``p.grad`` over ``group`` (what DDP does, in one flattened collective):
    :func:`savlib.train.fit` calls it after ``backward`` when it runs distributed.
    Parameters without a gradient get a zero gradient first, so every rank sends the same
    layout (a rank-dependent layout would hang the collective)."""
    if group is None:
        return
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    all_reduce_tensors(grads, group, average=True)


# ------------------------------------------------- several CPU processes from one process
def _spawn_entry(rank_: int, fn: Any, world: int, tmp: str, args: tuple, timeout_s: float) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/pg", rank=rank_, world_size=world,
                            timeout=datetime.timedelta(seconds=timeout_s))
    try:
        out = fn(rank_, world, *args)
        torch.save(out, f"{tmp}/rank{rank_}.pt")
    finally:
        dist.destroy_process_group()


def spawn_gloo(fn: Any, world: int = 2, args: Sequence[Any] = (), timeout_s: float = 300.0) -> list[Any]:
    """Run ``fn(rank, world, *args)`` on ``world`` new CPU processes and return the list of
    their return values (index = rank).

    Each process is started with the ``spawn`` method of ``torch.multiprocessing`` (so this
    works from a notebook and never forks a process holding threads), uses one thread, and
    joins a gloo default group initialised with ``init_method="file://..."`` in a temporary
    directory (no network port). ``fn`` must be importable by module name (a function
    defined in a notebook cannot be sent to a spawned process) and its result picklable.
    An exception in a worker is re-raised here; a worker still running after ``timeout_s``
    seconds (a hung collective) is killed and ``RuntimeError`` raised. Used by the book
    chapter "Training at scale" and ``benchmarks/dist_comm.py``.
    """
    import tempfile
    import time

    import torch.multiprocessing as mp

    if not isinstance(world, int) or isinstance(world, bool) or world < 1:
        raise ValueError(f"world must be a positive int, got {world!r}")
    if not callable(fn) or getattr(fn, "__module__", "__main__") in ("__main__", "__mp_main__"):
        raise ValueError("spawn_gloo needs a function importable from a module (not one defined in "
                         "__main__ or a notebook): spawned processes import it by name")
    if not dist.is_available() or not dist.is_gloo_available():
        raise RuntimeError("spawn_gloo needs torch.distributed with the gloo backend")
    with tempfile.TemporaryDirectory(prefix="savlib-dist-") as tmp:
        ctx = mp.start_processes(_spawn_entry, args=(fn, world, tmp, tuple(args), timeout_s),
                                 nprocs=world, join=False, start_method="spawn")
        deadline = time.monotonic() + timeout_s
        while not ctx.join(timeout=0.5):      # raises ProcessRaisedException on a worker error
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    if p.is_alive():
                        p.kill()
                raise RuntimeError(f"{getattr(fn, '__name__', fn)} did not finish on {world} "
                                   f"processes within {timeout_s:.0f} s (a hung collective?)")
        return [torch.load(f"{tmp}/rank{r}.pt", weights_only=False) for r in range(world)]


# ------------------------------------------------- the book's demonstrations (moved)
#: names that lived here before the demos moved to :mod:`savlib.experiments.scale_demos`
#: (this module keeps only communication primitives); still importable from here
_MOVED = ("DEMO_STATE", "demo_problem", "demo_model", "train_demo", "demo_local_vs_global",
          "demo_replicas", "local_vs_global_worker", "replicas_worker")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from .experiments import scale_demos
        return getattr(scale_demos, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
