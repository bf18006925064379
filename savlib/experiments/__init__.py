"""Named reproductions of the papers' experiments: ``python -m savlib.experiments NAME``.

Each experiment is a function ``fn(size, device, progress, seed, ctx, **overrides) -> dict``
registered in :data:`EXPERIMENTS`; :func:`run` resolves its configuration, calls it, writes
``OUT/NAME.json`` (measured numbers, the paper's numbers where it prints them, and
``provenance``: command, commit, configuration, machine, wall time) and ``OUT/NAME.png``, and
returns the result. Results of record, partial results and ``--resume`` are explained in
:mod:`savlib.experiments.record`. ``size="quick"`` is the CI size (seconds to a minute on 2 CPU cores);
``size="full"`` is the papers' size (a GPU helps). Book chapters of part "Particles" call the
same functions. ``--set KEY=VALUE`` on the command line (``overrides`` here) changes one
keyword of the experiment function, e.g. a reduced grid.

Experiments (see each function's docstring for the paper's parameters and any deviation):

* ``isgd_mnist_grid``  -- Li, Chen & Huang 2023 Appendix C.2, Table 2 (:mod:`.mnist`);
* ``gradflow2024_mnist`` -- the gradient-flow report's Experiment 4 and Table 3.7 (:mod:`.mnist`);
* ``ma2024_fig1``      -- Ma, Mao & Shen 2024 Fig. 1 (full-batch PM/SPM, Euler vs SAV vs RelSAV, lr 0.6);
* ``ma2024_fig2_7``    -- Ma, Mao & Shen 2024 Figs. 2 and 7 (PM vs SPM gap, Examples 1-2);
* ``ma2024_fig3_4``    -- Ma, Mao & Shen 2024 Figs. 3-4 (Example 1, fixed and adaptive learning rates);
* ``ma2024_fig5_6``    -- Ma, Mao & Shen 2024 Figs. 5-6 (lambda sweep and 1 - q);
* ``ma2024_fig10``     -- Ma, Mao & Shen 2024 Fig. 10 (Example 3 with Adagrad and RMSprop baselines);
* ``gradflow2024_regression`` -- the gradient-flow report's Experiments 1-3 and Table 3.6 (:mod:`.regression`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..config import quick, seed_everything
from ..errors import ConfigError, ResultError
from .record import RESULTS_DIR, Context, _git_commit, json_safe, load_result, provenance, resolve_config, write_json

SIZES = ("quick", "full")


@dataclass(frozen=True)
class Experiment:
    name: str
    summary: str
    fn: Callable[..., dict[str, Any]]
    plot: Callable[[dict[str, Any], Path], None]


def _check_size(size: str) -> str:
    if size not in SIZES:
        raise ConfigError(f"size must be one of {SIZES}, got {size!r}")
    return size


_json_safe = json_safe   # the name earlier code imports


from .mnist import (  # noqa: E402
    GRADFLOW_MNIST_PARAMS, PAPER_TABLE2, PAPER_TABLE37, TABLE2_BATCHES, TABLE2_LRS, gradflow2024_mnist,
    isgd_mnist_grid, plot_grid, plot_mnist_runs, tied_inner_lr,
)
from .regression import (  # noqa: E402
    GRADFLOW_PARAMS, PAPER_TABLE36, count_increases, epochs_to, gradflow2024_regression, gradflow_mlp, ma2024_fig1,
    ma2024_fig2_7, ma2024_fig3_4, ma2024_fig5_6, ma2024_fig10, make_scheme, make_scheme_002, plot_runs,
)

_plot_runs = plot_runs  # old name

__all__ = ["EXPERIMENTS", "Experiment", "run", "register", "list_experiments", "isgd_mnist_grid",
           "gradflow2024_mnist", "ma2024_fig1", "ma2024_fig2_7", "ma2024_fig3_4", "ma2024_fig5_6", "ma2024_fig10",
           "gradflow2024_regression", "PAPER_TABLE2", "PAPER_TABLE36", "PAPER_TABLE37", "GRADFLOW_PARAMS",
           "GRADFLOW_MNIST_PARAMS", "TABLE2_LRS", "TABLE2_BATCHES", "count_increases", "epochs_to", "make_scheme",
           "make_scheme_002", "gradflow_mlp", "plot_grid", "plot_runs", "plot_mnist_runs", "tied_inner_lr",
           "RESULTS_DIR", "load_result"]

#: every experiment ``python -m savlib.experiments NAME`` runs, by name
EXPERIMENTS: dict[str, Experiment] = {
    "isgd_mnist_grid": Experiment("isgd_mnist_grid", "Li, Chen & Huang 2023 Table 2: MNIST lr x batch grid, SGD/Adam/ISGD",
                                  isgd_mnist_grid, plot_grid),
    "gradflow2024_mnist": Experiment("gradflow2024_mnist", "the gradient-flow report's Exp. 4 + Table 3.7: MNIST, SGD/SAV/ExpSAV/IEQ",
                                     gradflow2024_mnist, plot_mnist_runs),
    "ma2024_fig1": Experiment("ma2024_fig1", "Ma, Mao & Shen 2024 Fig. 1: full-batch PM/SPM, Euler vs SAV vs RelSAV at lr 0.6",
                              ma2024_fig1, plot_runs),
    "ma2024_fig2_7": Experiment("ma2024_fig2_7", "Ma, Mao & Shen 2024 Figs. 2, 7: PM vs SPM gap (Examples 1-2)",
                                ma2024_fig2_7, plot_runs),
    "ma2024_fig3_4": Experiment("ma2024_fig3_4", "Ma, Mao & Shen 2024 Figs. 3-4: Example 1, fixed and adaptive lr",
                                ma2024_fig3_4, plot_runs),
    "ma2024_fig5_6": Experiment("ma2024_fig5_6", "Ma, Mao & Shen 2024 Figs. 5-6: lambda sweep and 1 - q",
                                ma2024_fig5_6, plot_runs),
    "ma2024_fig10": Experiment("ma2024_fig10", "Ma, Mao & Shen 2024 Fig. 10: Example 3, RelSAV vs Euler/Adam/Adagrad/RMSprop",
                               ma2024_fig10, plot_runs),
    "gradflow2024_regression": Experiment("gradflow2024_regression",
                                          "the gradient-flow report's Exps. 1-3 + Table 3.6: SGD/Adam/SAV/ExpSAV/IEQ",
                                          gradflow2024_regression, plot_runs),
}


def list_experiments() -> list[tuple[str, str]]:
    """``(name, one-line summary)`` of every registered experiment (``--list``)."""
    return [(e.name, e.summary) for e in EXPERIMENTS.values()]


def register(name: str, summary: str, fn: Callable[..., dict[str, Any]],
             plot: Callable[[dict[str, Any], Path], None] | None = None) -> Experiment:
    """Add an experiment to :data:`EXPERIMENTS`. ``fn(size=, device=, progress=, seed=, ctx=,
    **overrides)`` calls ``ctx.declare(...)`` with its resolved parameters before any work, runs
    each training run as ``ctx.unit(key, compute)`` (:mod:`savlib.experiments.record`) and
    returns a JSON-able dict; ``plot(result, png_path)`` draws it (default: no figure)."""
    if not isinstance(name, str) or not name or not callable(fn):
        raise ValueError("register needs a non-empty name and a callable fn")
    exp = Experiment(name, summary, fn, plot or (lambda res, path: None))
    EXPERIMENTS[name] = exp
    return exp


def run(name: str, size: str | None = None, device=None, out: str | Path | None = None,
        progress: bool = False, seed: int = 0, resume: bool = False, **overrides: Any) -> dict[str, Any]:
    """Run experiment ``name`` at ``size`` (default: quick when ``savlib.quick()``, else full)
    and return the result; with ``out``, write ``out/NAME.json`` (with ``provenance``) and
    ``out/NAME.png``.

    ``overrides`` are passed to the experiment function (e.g. ``epochs=5``) and recorded. The
    configuration is resolved and ``out`` checked for writing *before* anything runs, so a
    typo fails at once (:class:`~savlib.errors.ConfigError`,
    :class:`~savlib.errors.ResultError`). With ``out``, every finished unit (one training run)
    is kept in ``out/NAME.partial.json``; ``resume=True`` continues from it (same result as an
    uninterrupted run), and the file is removed when the result is written.
    """
    size = _check_size(size or ("quick" if quick() else "full"))
    try:
        config = resolve_config(name, size, seed, **overrides)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:   # an experiment's own check of an override's value
        raise ConfigError(f"{name}: {e}") from e
    exp = EXPERIMENTS[name]
    partial = None
    if out is not None:
        outp = Path(out)
        try:
            outp.mkdir(parents=True, exist_ok=True)
            probe = outp / f".{name}.write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise ResultError(f"--out {outp}: not a writable directory ({e.strerror or e})") from None
        partial = outp / f"{name}.partial.json"
        if not resume and partial.exists():
            partial.unlink()
    ctx = Context(partial=partial, resume=resume, name=name)
    commit = _git_commit()          # the code this run starts from
    seed_everything(seed)
    t0 = time.perf_counter()
    res = exp.fn(size=size, device=device, progress=progress, seed=seed, ctx=ctx, **overrides)
    wall = time.perf_counter() - t0
    if ctx.config != config:
        raise RuntimeError(f"{name} declared another configuration than its dry run")
    res["experiment"] = name
    res["overrides"] = json_safe(overrides)
    res["total_seconds"] = wall
    res["provenance"] = provenance(name, size, seed, overrides, config, wall, device=device,
                                   resumed_units=len(ctx.resumed), unit_seconds=ctx.unit_seconds,
                                   commit=commit)
    if out is not None:
        write_json(outp / f"{name}.json", res)
        exp.plot(res, outp / f"{name}.png")
        partial.unlink(missing_ok=True)
    return res


from .pinn import EXPERIMENTS as _pinn; EXPERIMENTS.update(_pinn)  # noqa: E402
from .pinn_isgd import EXPERIMENTS as _pinn_isgd; EXPERIMENTS.update(_pinn_isgd)  # noqa: E402
from .meanfield_mnist import EXPERIMENT as _mf_mnist; EXPERIMENTS[_mf_mnist.name] = _mf_mnist
