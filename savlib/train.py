"""The training loop: ``fit(model, optimizer, data, ...) -> History``.

One loop for torch's optimizers and every savlib scheme: each step is
``loss = optimizer.step(closure)`` with a closure in the torch.optim protocol (zero the
gradients, compute the loss, ``backward()`` only if ``torch.is_grad_enabled()``, return the
loss), so schemes that re-evaluate the loss under ``torch.no_grad()`` (relaxed SAV) or call it
many times (implicit SGD) work unchanged. IEQ, whose closure must return the residual
*vector*, gets one built from ``residual_fn`` (the gradient-flow report's section 2.2.5).

Used by the experiments (``python -m savlib.experiments``) and the book chapters of part
"Particles" (``book/particles/*.ipynb``).

What a run records (:class:`History`): per epoch the train and test loss (full passes in
eval mode), the mean batch loss, every metric of the problem (accuracy, relative error ...)
on train and test, the optimizer's ``diagnostics`` of the last step (0-d tensors, read
without a host sync and converted only when the epoch is logged), cumulative wall time;
optionally every step's batch loss and diagnostics (``record_steps=True``). Entry 0 is the
untrained model. A run whose loss becomes NaN/inf or exceeds ``blowup`` times the initial
training loss stops; ``History.diverged`` and ``History.divergence`` say when and why
(nothing is raised). Checkpoints (``checkpoint=PATH``) hold the model, the optimizer, the
sampler's generator and the history, so ``resume=True`` continues bit-identically; a diverged
state never replaces the last finite one (it is written to ``PATH.diverged``), and a
checkpoint that cannot be used raises :class:`savlib.errors.CheckpointError` naming the file.

Several processes (``process_group=``, or the ambient group of
:func:`savlib.distributed.default_group`; book chapter "Training at scale"): every rank
draws the same global batches and trains on its own contiguous share of each, the
gradients are averaged after every ``backward`` (one flattened all-reduce, as DDP does),
a savlib scheme must have been built with the same group (it then returns the global
loss), a torch optimizer is handed the all-reduced mean loss, and only rank 0 shows
progress and writes checkpoints (every rank reads them on ``resume``).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from .config import generator, get_device
from .distributed import all_reduce_f64, average_gradients, is_main_process, resolve_group
from .errors import CheckpointError, NonFiniteError
from .schemes.ieq import IEQBase, mse_residual

__all__ = ["fit", "History", "BatchSampler", "evaluate", "save_checkpoint", "load_checkpoint", "diverged_path",
           "FIT_KEYS"]


# ----------------------------------------------------------------------------- sampler
class BatchSampler:
    """Seeded mini-batch sampler: each epoch a fresh permutation of ``range(n)`` cut into
    batches of ``batch_size`` (the last one may be shorter unless ``drop_last``).
    ``batch_size=None`` or ``>= n`` means full batch: one batch ``None`` (= all rows) per
    epoch and no random draw. The generator's state is what a checkpoint stores."""

    def __init__(self, n: int, batch_size: int | None, seed: int = 0, *, drop_last: bool = False):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool)
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be None (full batch) or a positive int, got {batch_size!r}")
        self.n = n
        self.batch_size = None if batch_size is None or batch_size >= n else batch_size
        self.drop_last = drop_last
        self.generator = generator(int(seed))

    @property
    def full_batch(self) -> bool:
        return self.batch_size is None

    def __len__(self) -> int:
        if self.batch_size is None:
            return 1
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def epoch(self) -> list[Tensor | None]:
        """The batches (index tensors, CPU int64) of the next epoch."""
        if self.batch_size is None:
            return [None]
        perm = torch.randperm(self.n, generator=self.generator)
        batches = list(perm.split(self.batch_size))
        if self.drop_last and batches[-1].numel() < self.batch_size:
            batches.pop()
        return batches


# ----------------------------------------------------------------------------- history
def _enc(v: float) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return v


def _dec(v: Any) -> Any:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, v) if isinstance(v, str) else v


def _walk(obj: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(obj, dict):
        return {k: _walk(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_walk(v, fn) for v in obj]
    return fn(obj)


@dataclass
class History:
    """Per-epoch record of a :func:`fit` run (entry 0 = before training).

    ``metrics`` keys are ``"train_<name>"`` / ``"test_<name>"`` for every metric of the
    problem (e.g. ``test_accuracy``, ``test_rel_error``); ``diagnostics`` holds the
    optimizer's last-step diagnostics per epoch (e.g. ``energy``, ``q``, ``xi`` of a
    SAV scheme). ``step_loss``/``step_diagnostics`` are filled with ``record_steps=True``.
    Non-finite numbers survive the JSON round trip (stored as "NaN"/"Infinity").
    """

    epoch: list[int] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    batch_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    diagnostics: dict[str, list[float]] = field(default_factory=dict)
    step_loss: list[float] = field(default_factory=list)
    step_diagnostics: dict[str, list[float]] = field(default_factory=dict)
    diverged: bool = False
    divergence: dict[str, Any] | None = None
    config: dict[str, Any] = field(default_factory=dict)

    # -- convenience
    @property
    def train_acc(self) -> list[float] | None:
        return self.metrics.get("train_accuracy")

    @property
    def test_acc(self) -> list[float] | None:
        return self.metrics.get("test_accuracy")

    def final(self, key: str = "test_loss") -> float:
        """Last recorded value of ``key`` (a field name, a metric or a diagnostic)."""
        return self.series(key)[-1]

    def series(self, key: str) -> list[float]:
        if key in self.metrics:
            return self.metrics[key]
        if key in self.diagnostics:
            return self.diagnostics[key]
        if key in ("epoch", "step", "wall_time", "train_loss", "test_loss", "batch_loss", "step_loss"):
            return getattr(self, key)
        raise KeyError(f"{key!r} not recorded; available: train_loss, test_loss, batch_loss, "
                       f"{sorted(self.metrics)}, {sorted(self.diagnostics)}")

    # -- serialisation
    def to_dict(self) -> dict[str, Any]:
        return _walk(asdict(self), _enc)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        d = _walk(dict(d), _dec)
        names = set(cls.__dataclass_fields__)
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown History fields {sorted(unknown)}")
        return cls(**d)

    def dump(self, path: str | os.PathLike) -> None:
        """Write the history as JSON (standard JSON: non-finite numbers as strings)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "History":
        return cls.from_dict(json.loads(Path(path).read_text()))

    # -- plotting
    def plot(self, keys: tuple[str, ...] | list[str] = ("train_loss", "test_loss"), *, ax=None,
             label: str | None = None, logy: bool = True, x: str = "epoch", **kw):
        """Plot ``keys`` against ``x`` (``"epoch"``, ``"step"`` or ``"wall_time"``), one axis
        per key; returns the list of axes. Non-finite values are not drawn."""
        import matplotlib.pyplot as plt

        keys = [keys] if isinstance(keys, str) else list(keys)
        if ax is None:
            _, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.4), squeeze=False)
            axes = list(axes[0])
        else:
            axes = list(ax) if isinstance(ax, (list, tuple)) or hasattr(ax, "__len__") else [ax]
        if len(axes) != len(keys):
            raise ValueError(f"{len(keys)} keys but {len(axes)} axes")
        xs = self.series(x)
        for a, key in zip(axes, keys):
            ys = [v if math.isfinite(v) else math.nan for v in self.series(key)]
            a.plot(xs[:len(ys)], ys, label=label, **kw)
            if logy and any(v > 0 for v in ys if math.isfinite(v)):
                a.set_yscale("log")
            a.set_xlabel(x)
            a.set_title(key)
            if label:
                a.legend(fontsize=8)
        return axes


# ----------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate(model: torch.nn.Module, x: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor],
             metrics: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None,
             batch_size: int = 8192) -> dict[str, Tensor]:
    """Loss and metrics of ``model`` on ``(x, y)`` in eval mode, as 0-d tensors (one forward
    pass in chunks of ``batch_size`` rows; the loss is computed on the concatenated output)."""
    was_training = model.training
    model.eval()
    try:
        pred = torch.cat([model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])
    finally:
        model.train(was_training)
    out = {"loss": loss_fn(pred, y)}
    for name, fn in (metrics or {}).items():
        out[name] = fn(pred, y)
    return out


def _to_float(t: Any) -> float | None:
    if isinstance(t, Tensor):
        return float(t.detach().double()) if t.numel() == 1 else None
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        return float(t)
    return None


def _ieq_residual_default(optimizer, loss_fn):
    if not isinstance(optimizer, IEQBase):
        return None
    from .problems.regression import mse

    if loss_fn is mse or loss_fn is torch.nn.functional.mse_loss:
        return mse_residual
    raise ValueError(f"{type(optimizer).__name__} needs a residual closure: pass residual_fn=(pred, y) -> q "
                     "(e.g. savlib.schemes.ieq.mse_residual, or a sqrt_residual of per-sample losses)")


# ----------------------------------------------------------------------------- fit
def fit(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data, loss_fn=None, *,
        epochs: int | None = None, steps: int | None = None, batch_size: int | None = None,
        metrics: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None, seed: int = 0,
        device: str | torch.device | None = None, progress: bool = False,
        checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1, resume: bool = False,
        blowup: float | None = 1e6, eval_every: int = 1, record_steps: bool = False,
        residual_fn: Callable[[Tensor, Tensor], Tensor] | None = None, eval_batch_size: int = 8192,
        check_every: int | None = None, config: dict[str, Any] | None = None,
        process_group: Any = None) -> History:
    """Train ``model`` with ``optimizer`` on ``data`` and return the :class:`History`.

    Parameters
    ----------
    data : a :class:`savlib.problems.Split` (its ``loss_fn`` and ``metrics`` are the defaults)
        or a tuple ``(x_train, y_train, x_test, y_test)``.

    loss_fn : ``(pred, y) -> 0-d tensor``; default ``data.loss_fn``. A model with a
        ``training_loss(loss_fn, x, y)`` method (the SPM of :mod:`savlib.particles`) trains on
        that objective, and its ``begin_step()`` is called once before every optimizer step.

    epochs / steps : how long (exactly one of them). An epoch is one pass over the training
        set in mini-batches of ``batch_size`` (``None`` = full batch, one step per epoch);
        ``steps`` counts optimizer steps (history still logged per epoch, last epoch partial).

    seed : seeds the mini-batch sampler (the model and optimizer are seeded by the caller,
        e.g. with :func:`savlib.seed_everything`).

    device : where to train (default: the model's device, see :func:`savlib.get_device`);
        the data are moved there.

    blowup : stop when a batch loss is not finite or exceeds ``blowup`` times the initial
        training loss (``None``: only NaN/inf). Recorded in ``History.divergence``.

    eval_every : evaluate train/test every so many epochs (and always at the end).

    residual_fn : for IEQ-type optimizers whose closure returns the residual vector
        (chosen automatically for IEQ with the MSE loss).

    check_every : steps between divergence checks (each check is one host sync; default 1 on
        CPU, 50 elsewhere).

    checkpoint, checkpoint_every, resume : save every ``checkpoint_every`` epochs to
        ``checkpoint`` (atomically; see :func:`save_checkpoint`); with ``resume=True`` an
        existing checkpoint is loaded and the run continues where it stopped (same batches,
        same results; ``History.config["resumed_from"]`` says from where). The checkpoint only
        ever holds a finite state: a run that diverges leaves the last good one in place and
        writes its diverged state to ``checkpoint + ".diverged"``.

    process_group : train on the ranks of this ``torch.distributed`` group (``"default"`` for
        the default group; ``None``: the ambient group of
        :func:`savlib.distributed.default_group`, else one process). See the module docstring.
    """
    # ---- data
    if isinstance(data, (tuple, list)):
        if len(data) != 4:
            raise ValueError("data tuple must be (x_train, y_train, x_test, y_test)")
        x_tr, y_tr, x_te, y_te = data
        d_loss, d_metrics = None, {}
    elif all(hasattr(data, a) for a in ("x_train", "y_train", "x_test", "y_test")):
        x_tr, y_tr, x_te, y_te = data.x_train, data.y_train, data.x_test, data.y_test
        d_loss, d_metrics = getattr(data, "loss_fn", None), dict(getattr(data, "metrics", {}) or {})
    else:
        raise TypeError(f"data must be a Split or a 4-tuple of tensors, got {type(data).__name__}")
    loss_fn = loss_fn or d_loss
    if loss_fn is None or not callable(loss_fn):
        raise ValueError("no loss: pass loss_fn=(pred, y) -> scalar or a Split with loss_fn")
    metrics = d_metrics if metrics is None else dict(metrics)
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs= or steps=")
    for nm, v in (("epochs", epochs), ("steps", steps)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise ValueError(f"{nm} must be a positive int, got {v!r}")
    if not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every must be a positive int, got {eval_every!r}")
    if blowup is not None and not blowup > 1:
        raise ValueError(f"blowup must be None or > 1, got {blowup!r}")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if not params:
        raise ValueError("optimizer has no parameters")
    pg = resolve_group(process_group, "fit")
    world = rank_ = 0
    opt_pg = getattr(optimizer, "process_group", None)
    if pg is not None and hasattr(optimizer, "process_group") and opt_pg is None:
        if process_group is not None:
            raise ValueError(f"fit runs on several processes but {type(optimizer).__name__} was built "
                             "without process_group: its energy would be rank-local; pass "
                             "process_group= to the scheme as well (full-Jacobian IEQ cannot run "
                             "across processes: use IEQAdaptive)")
        # ambient group (python -m savlib.experiments under torchrun) and a scheme that
        # cannot share its energy (full-Jacobian IEQ): every rank trains the whole problem
        # itself (same seeds, same result) instead of failing the experiment
        if is_main_process():
            print(f"fit: {type(optimizer).__name__} does not run across processes; every rank "
                  "trains this run in full")
        pg = None
    if pg is not None:
        import torch.distributed as dist

        world, rank_ = dist.get_world_size(group=pg), dist.get_rank(group=pg)
    model_params = [p for p in model.parameters() if p.requires_grad]
    dev = get_device(device) if device is not None else params[0].device
    x_tr, y_tr, x_te, y_te = (t.to(dev) for t in (x_tr, y_tr, x_te, y_te))
    model.to(dev)
    n = int(x_tr.shape[0])
    sampler = BatchSampler(n, batch_size, seed)
    nb = len(sampler)
    total_steps = steps if steps is not None else epochs * nb
    n_epochs = -(-total_steps // nb)
    check_every = check_every or (1 if dev.type == "cpu" else 50)
    residual_fn = residual_fn or _ieq_residual_default(optimizer, loss_fn)
    spm_loss = getattr(model, "training_loss", None)
    begin_step = getattr(model, "begin_step", None)

    hist = History(config={
        "optimizer": type(optimizer).__name__,
        "hyper": {k: v for k, v in optimizer.defaults.items() if isinstance(v, (int, float, str, bool, type(None)))},
        "model": type(model).__name__, "n_params": sum(p.numel() for p in model.parameters()),
        "batch_size": batch_size, "epochs": n_epochs, "steps": total_steps, "seed": seed, "device": str(dev),
        "n_train": n, "n_test": int(x_te.shape[0]), "blowup": blowup, "world_size": max(world, 1),
        **(config or {}),
    })
    start_epoch, step, t_offset = 0, 0, 0.0

    def log_eval(epoch: int, batch_mean: float, diag: dict[str, Tensor], elapsed: float) -> float:
        tr = evaluate(model, x_tr, y_tr, loss_fn, metrics, eval_batch_size)
        te = evaluate(model, x_te, y_te, loss_fn, metrics, eval_batch_size)
        hist.epoch.append(epoch)
        hist.step.append(step)
        hist.wall_time.append(elapsed)
        hist.train_loss.append(float(tr["loss"]))
        hist.test_loss.append(float(te["loss"]))
        hist.batch_loss.append(batch_mean)
        for name in metrics:
            hist.metrics.setdefault(f"train_{name}", []).append(float(tr[name]))
            hist.metrics.setdefault(f"test_{name}", []).append(float(te[name]))
        for k, v in diag.items():
            fv = _to_float(v)
            if fv is not None:
                hist.diagnostics.setdefault(k, [math.nan] * (len(hist.epoch) - 1)).append(fv)
        for k, lst in hist.diagnostics.items():  # keys that vanished this epoch
            if len(lst) < len(hist.epoch):
                lst.append(math.nan)
        return hist.train_loss[-1]

    # ---- resume
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if resume and ckpt is None:
        raise ValueError("resume=True needs checkpoint=PATH")
    if resume and ckpt.is_file():
        state = load_checkpoint(ckpt, model, optimizer, map_location=dev, require=FIT_KEYS)
        sampler.generator.set_state(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        old = History.from_dict(state["history"])
        old.config.update({k: hist.config[k] for k in ("epochs", "steps")})
        old.config["resumed_from"] = {"checkpoint": str(ckpt), "epoch": state["epoch"], "step": state["step"]}
        hist = old
        start_epoch, step, t_offset = state["epoch"], state["step"], hist.wall_time[-1] if hist.wall_time else 0.0
        if progress and is_main_process():
            print(f"fit: resumed from {ckpt} at epoch {start_epoch} (step {step}), the last finite state")

    def save(epoch: int, path: Path | None = ckpt) -> None:
        if path is None or (pg is not None and not is_main_process()):
            return
        if path == ckpt and not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            path = diverged_path(ckpt)      # never over the last finite state
        save_checkpoint(path, model, optimizer, {
            "sampler": sampler.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "epoch": epoch, "step": step, "history": hist.to_dict()})

    t0 = time.perf_counter() - t_offset
    if start_epoch == 0:
        init_loss = log_eval(0, math.nan, {}, 0.0)
        if not math.isfinite(init_loss):
            hist.diverged, hist.divergence = True, {"epoch": 0, "step": 0, "reason": "initial loss not finite"}
            return hist
    ref = abs(hist.train_loss[0]) if hist.train_loss else 1.0
    limit = None if blowup is None else blowup * max(ref, torch.finfo(torch.float32).tiny)

    def closure_for(xb: Tensor, yb: Tensor) -> Callable[[], Tensor]:
        if residual_fn is not None:
            def closure() -> Tensor:
                optimizer.zero_grad()
                return residual_fn(model(xb), yb)
            return closure

        def closure() -> Tensor:
            optimizer.zero_grad()
            loss = spm_loss(loss_fn, xb, yb) if spm_loss is not None else loss_fn(model(xb), yb)
            if torch.is_grad_enabled():
                loss.backward()
                average_gradients(model_params, pg)          # no-op without a group
            if pg is not None and opt_pg is None:
                # a torch optimizer (L-BFGS branches on it): hand it the global mean loss
                vec = all_reduce_f64(loss.detach().reshape(1).to(torch.float64), pg)
                return (vec[0] / world).to(loss.dtype)
            return loss
        return closure

    bar = None
    if progress and (pg is None or is_main_process()):
        from tqdm.auto import tqdm

        bar = tqdm(total=n_epochs, initial=start_epoch, desc=hist.config["optimizer"], leave=False)
    model.train()
    try:
        for epoch in range(start_epoch + 1, n_epochs + 1):
            batch_sum = torch.zeros((), dtype=torch.float64, device=dev)
            n_done = 0
            diag: dict[str, Tensor] = {}
            step_losses: list[Tensor] = []
            step_diags: list[dict[str, Tensor]] = []
            reason = None
            for idx in sampler.epoch():
                if step >= total_steps:
                    break
                if pg is not None:      # this rank's contiguous share of the global batch
                    idx = torch.arange(n) if idx is None else idx
                    idx = torch.tensor_split(idx, world)[rank_]
                if idx is None:
                    xb, yb = x_tr, y_tr
                else:
                    idx = idx.to(dev)
                    xb, yb = x_tr[idx], y_tr[idx]
                if begin_step is not None:
                    begin_step()
                try:
                    out = optimizer.step(closure_for(xb, yb))
                except (NonFiniteError, FloatingPointError) as exc:
                    # schemes that check finiteness themselves raise NonFiniteError on NaN/inf
                    # (state unchanged): that is divergence, recorded like any other; other
                    # errors propagate
                    reason = f"{type(optimizer).__name__}.step raised at step {step + 1}: {exc}"
                    break
                step += 1
                n_done += 1
                if out is None:
                    raise TypeError(f"{type(optimizer).__name__}.step(closure) returned None; fit needs the loss")
                loss = out.detach()
                if residual_fn is not None and loss.numel() > 1:
                    loss = 0.5 * loss.double().pow(2).sum()
                batch_sum += loss.double()
                diag = dict(getattr(optimizer, "diagnostics", None) or {})
                if record_steps:
                    step_losses.append(loss.double().reshape(()))
                    step_diags.append({k: v.detach() for k, v in diag.items() if isinstance(v, Tensor)})
                if step % check_every == 0 or step == total_steps:
                    lv = float(loss)
                    if not math.isfinite(lv):
                        reason = f"batch loss {lv} at step {step}"
                    elif limit is not None and lv > limit:
                        reason = f"batch loss {lv:.3e} > blowup {blowup:g} x initial {ref:.3e} at step {step}"
                    if reason:
                        break
            if record_steps and step_losses:
                hist.step_loss.extend(torch.stack(step_losses).tolist())
                keys = set().union(*step_diags)
                for k in keys:
                    vals = [d.get(k) for d in step_diags]
                    hist.step_diagnostics.setdefault(k, []).extend(
                        [_to_float(v) if v is not None else math.nan for v in vals])
            batch_mean = float(batch_sum) / max(n_done, 1)
            if reason is None and not math.isfinite(batch_mean):
                reason = f"mean batch loss {batch_mean} in epoch {epoch}"
            if reason or epoch % eval_every == 0 or epoch == n_epochs:
                log_eval(epoch, batch_mean, diag, time.perf_counter() - t0)
            if reason:
                hist.diverged = True
                hist.divergence = {"epoch": epoch, "step": step, "reason": reason}
                break
            if bar is not None:
                bar.update(1)
                bar.set_postfix(train=f"{hist.train_loss[-1]:.3g}", test=f"{hist.test_loss[-1]:.3g}")
            if ckpt is not None and (epoch % checkpoint_every == 0 or epoch == n_epochs):
                save(epoch)
    finally:
        if bar is not None:
            bar.close()
    if ckpt is not None and hist.diverged:
        # never over the last good state: the diverged one goes beside it, for diagnosis
        save(hist.epoch[-1], diverged_path(ckpt))
    return hist


# ----------------------------------------------------------------------------- checkpoints
CHECKPOINT_FORMAT = "savlib.fit checkpoint"
CHECKPOINT_VERSION = 2          # 2: with a sha256 of the contents; 1 (without) still loads
#: what :func:`fit` keeps in a checkpoint besides the model and the optimizer
FIT_KEYS = ("sampler", "torch_rng", "epoch", "step", "history")


def _digest(obj: Any, h=None) -> str:
    """sha256 of a checkpoint's contents: every tensor's dtype, shape and bytes, every other
    value's ``repr``, in the order a ``torch.load`` gives them back (dicts keep it)."""
    h = hashlib.sha256() if h is None else h
    if isinstance(obj, Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for k, v in obj.items():
            _digest(k, h)
            _digest(v, h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__[0]}{len(obj)}".encode())
        for v in obj:
            _digest(v, h)
    else:
        h.update(f"R{obj!r}".encode())
    return h.hexdigest()


def diverged_path(checkpoint: str | os.PathLike) -> Path:
    """Where :func:`fit` keeps the state of a run that diverged: ``PATH.diverged`` beside the
    checkpoint, which keeps the last finite state."""
    p = Path(checkpoint)
    return p.with_name(p.name + ".diverged")


def _shapes(model: torch.nn.Module) -> list[list[int]]:
    return [list(p.shape) for p in model.parameters()]


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    extra: dict[str, Any] | None = None) -> None:
    """Write a checkpoint atomically (a temporary file, then ``os.replace``): the model and
    optimizer state dicts, ``extra`` (anything else to keep: :func:`fit` stores its sampler,
    RNG state, epoch, step and history there), and what
    :func:`load_checkpoint` checks: the format and its version, the optimizer's class and the
    model's parameter shapes, and a sha256 of all of it (a changed byte anywhere is refused
    on load)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
             "optimizer_class": type(optimizer).__name__, "param_shapes": _shapes(model),
             "model": model.state_dict(), "optimizer": optimizer.state_dict(), **(extra or {})}
    state["sha256"] = _digest(state)
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    map_location=None, require: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check a checkpoint written by :func:`save_checkpoint` and load it into ``model`` and
    ``optimizer``; return the whole checkpoint. Every problem raises
    :class:`savlib.errors.CheckpointError` naming the file, before ``model`` or
    ``optimizer`` change: unreadable or truncated file, not a savlib checkpoint, another
    version, contents that do not match their sha256 (a corrupted file), a missing entry
    (``model``, ``optimizer`` and the keys named in ``require``; :func:`fit` requires
    :data:`FIT_KEYS`), another optimizer class, other parameter shapes, or a non-finite
    model (a diverged state, which :func:`fit` never writes as its checkpoint)."""
    import pickle

    path = Path(path)

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {path}: {what}")

    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise bad("no such file") from None
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, IndexError, pickle.UnpicklingError) as e:
        raise bad(f"cannot be read ({type(e).__name__}); the file is truncated or not a checkpoint") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise bad("not a savlib.train.fit checkpoint (written by an older savlib, or another program)")
    if state.get("version") not in (1, CHECKPOINT_VERSION):
        raise bad(f"format version {state.get('version')!r}, this savlib reads 1 and {CHECKPOINT_VERSION}")
    if state["version"] >= 2:
        stored = state.pop("sha256", None)
        if stored != _digest(state):
            raise bad("corrupted: its contents do not match the sha256 stored with them")
    missing = {"model", "optimizer", *require} - set(state)
    if missing:
        raise bad(f"incomplete, lacks {sorted(missing)}")
    if state["optimizer_class"] != type(optimizer).__name__:
        raise bad(f"made with optimizer {state['optimizer_class']}, this run uses {type(optimizer).__name__}")
    if state["param_shapes"] != _shapes(model):
        raise bad(f"made for a model with parameter shapes {state['param_shapes']}, "
                  f"this model has {_shapes(model)}")
    if not all(bool(torch.isfinite(v).all()) for v in state["model"].values()
               if isinstance(v, Tensor) and v.is_floating_point()):
        raise bad("holds a non-finite (diverged) model; it cannot be resumed from")
    model_before = copy.deepcopy(model.state_dict())
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        model.load_state_dict(model_before)
        raise bad(f"does not fit this model and optimizer ({type(e).__name__}: {e})") from None
    return state
