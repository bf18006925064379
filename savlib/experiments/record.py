"""Results of record: resolved configurations, provenance, partial results and ``--resume``.

Every claim the book makes about training behaviour reads a JSON written by one command,
``python -m savlib.experiments NAME --full --out benchmarks/results``. This module holds what
makes such a file trustworthy:

* **The resolved configuration.** An experiment function declares, before it computes
  anything, every parameter it will run with: ``ctx.declare(n_train=..., epochs=..., ...)``.
  :func:`resolve_config` runs the function only up to that call (a *dry run*), so the
  configuration the current code would use for a command is known without training, and a
  stored result whose ``provenance.config`` differs from it is *stale*
  (:func:`stale_results`; ``tests/test_results_of_record.py`` fails on one and prints the
  command that regenerates it).
* **Provenance.** :func:`provenance` records the command, the git commit, the configuration,
  the machine, the wall time and the creation time.
* **Units and resume.** A long experiment is a sequence of units (one training run each):
  ``ctx.unit(key, compute)`` returns the stored value of a finished unit, or computes it and
  writes the partial result file ``OUT/NAME.partial.json`` at once (atomically). An
  interrupted run (Ctrl-C, SIGTERM, SIGKILL, the end of a session) loses at most the unit in
  progress; ``--resume`` continues from the file. Unit values go through JSON on both paths,
  so a resumed run ends with the same result as an uninterrupted one.
"""
from __future__ import annotations

import datetime as _dt
import inspect
import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..config import seed_offset
from ..errors import ConfigError, ResultError

__all__ = ["RESULTS_DIR", "Context", "resolve_config", "provenance", "benchmark_provenance", "command_line",
           "load_result",
           "write_json", "json_safe", "from_json", "stale_results"]

#: where the results of record live: ``python -m savlib.experiments NAME --full --out benchmarks/results``
RESULTS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
_REPO = Path(__file__).resolve().parents[2]
_CONSTANTS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def json_safe(obj: Any) -> Any:
    """``obj`` with tuples as lists, non-finite floats as the strings "NaN"/"Infinity"/
    "-Infinity" and paths as strings: what strict JSON can hold."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, Path):
        return str(obj)
    return obj


def from_json(obj: Any) -> Any:
    """The inverse of :func:`json_safe` for numbers: "NaN"/"Infinity" strings back to floats."""
    if isinstance(obj, dict):
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    if isinstance(obj, str):
        return _CONSTANTS.get(obj, obj)
    return obj


def _roundtrip(obj: Any) -> Any:
    return from_json(json.loads(json.dumps(json_safe(obj), allow_nan=False)))


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as compact strict JSON to ``path`` atomically (a temporary file, then
    rename), so a reader never sees half a file and a kill mid-write leaves the previous file
    intact. Compact because per-step histories over several seeds make large files."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(json_safe(obj), separators=(",", ":"), allow_nan=False) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        raise ResultError(f"cannot write {path}: {e.strerror or e}") from e


class _Declared(Exception):
    """Raised by :meth:`Context.declare` in a dry run to hand the configuration back."""

    def __init__(self, config: dict[str, Any]):
        super().__init__("dry run")
        self.config = config


class Context:
    """What an experiment function gets besides its parameters (keyword ``ctx``).

    ``declare(**params)`` states the resolved parameters (call it once, before any work);
    ``unit(key, compute)`` runs one resumable unit. A default ``Context()`` keeps units in
    memory only, which is what a chapter calling an experiment function directly gets.
    """

    def __init__(self, *, dry: bool = False, partial: str | Path | None = None, resume: bool = False,
                 name: str = "", progress: Callable[[str], None] | None = None):
        self.dry = dry
        self.partial = Path(partial) if partial is not None else None
        self.name = name
        self.config: dict[str, Any] | None = None
        self.units: dict[str, Any] = {}
        self.unit_seconds: dict[str, float] = {}
        self.resumed: list[str] = []
        self._stored: dict[str, Any] = {}
        self._stored_seconds: dict[str, float] = {}
        self._stored_config: dict[str, Any] | None = None
        if resume and self.partial is not None and self.partial.is_file():
            try:
                data = from_json(json.loads(self.partial.read_text()))
                self._stored_config = data["config"]
                self._stored = dict(data["units"])
                self._stored_seconds = dict(data.get("unit_seconds", {}))
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ResultError(f"{self.partial}: not a readable partial result ({e}); delete it "
                                  "or run without --resume") from e

    def declare(self, **params: Any) -> dict[str, Any]:
        """Record the experiment's resolved parameters (JSON-able) and return them. In a dry
        run this ends the function (:func:`resolve_config`). When resuming, a partial result
        made with another configuration raises :class:`~savlib.errors.ConfigError`."""
        cfg = _roundtrip(dict(params, seed_offset=seed_offset()))
        if self.dry:
            raise _Declared(cfg)
        if self._stored_config is not None and self._stored_config != cfg:
            diff = sorted(k for k in set(cfg) | set(self._stored_config)
                          if cfg.get(k) != self._stored_config.get(k))
            raise ConfigError(f"{self.partial} was made with another configuration (differs in "
                              f"{', '.join(diff)}); delete it or run without --resume")
        self.config = cfg
        return params

    def unit(self, key: str, compute: Callable[[], Any]) -> Any:
        """The value of unit ``key``: from the partial result when resuming, else ``compute()``
        (then stored, and the partial file rewritten). Values come back as they would from
        JSON (tuples as lists, non-finite floats as floats)."""
        if self.config is None:
            raise RuntimeError("an experiment must call ctx.declare(...) before ctx.unit(...)")
        key = str(key)
        if key in self.units:
            raise RuntimeError(f"unit {key!r} run twice")
        if key in self._stored:
            self.units[key] = self._stored[key]
            if key in self._stored_seconds:
                self.unit_seconds[key] = self._stored_seconds[key]
            self.resumed.append(key)
        else:
            t0 = time.perf_counter()
            self.units[key] = _roundtrip(compute())
            self.unit_seconds[key] = time.perf_counter() - t0
            if self.partial is not None:
                write_json(self.partial, {"experiment": self.name, "config": self.config, "units": self.units,
                                          "unit_seconds": self.unit_seconds})
        return self.units[key]


def resolve_config(name: str, size: str, seed: int = 0, **overrides: Any) -> dict[str, Any]:
    """The configuration experiment ``name`` would run with at ``size`` with ``seed`` and
    ``overrides``, found by running the function up to its ``ctx.declare(...)`` (nothing is
    trained). An unknown experiment or keyword raises :class:`~savlib.errors.ConfigError`."""
    from . import EXPERIMENTS, _check_size

    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; expected one of {', '.join(sorted(EXPERIMENTS))}")
    _check_size(size)
    fn = EXPERIMENTS[name].fn
    kwargs = dict(size=size, device="cpu", progress=False, seed=seed, ctx=Context(dry=True), **overrides)
    try:
        inspect.signature(fn).bind(**kwargs)     # an unknown keyword: a type, not message text
    except TypeError as e:
        raise ConfigError(f"{name}: {e}") from None
    try:
        fn(**kwargs)
    except _Declared as d:
        return d.config
    raise ConfigError(f"experiment {name!r} does not declare its configuration (ctx.declare)")


def command_line(name: str, size: str, seed: int = 0, overrides: dict[str, Any] | None = None,
                 out: str | Path | None = None) -> str:
    """The one command that (re)produces a result: ``python -m savlib.experiments NAME --full ...``."""
    parts = ["python -m savlib.experiments", name, f"--{size}"]
    if seed:
        parts.append(f"--seed {seed}")
    for k, v in (overrides or {}).items():
        val = v if isinstance(v, str) else json.dumps(json_safe(v), separators=(",", ":"))
        parts.append(f"--set '{k}={val}'")
    if out is not None:
        parts.append(f"--out {out}")
    return " ".join(parts)


def _machine(device: Any = None) -> dict[str, Any]:
    from .. import __version__

    out = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
           "torch": torch.__version__, "savlib": __version__}
    if device is not None:
        out["device"] = str(device)
    if hasattr(os, "getloadavg"):   # wall times on a shared machine mean little without it
        out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def _git_commit(paths: tuple[str, ...] = ("savlib",)) -> str | None:
    """HEAD, marked when ``paths`` (the code a result depends on) have uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=_REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + (f"+uncommitted changes in {', '.join(paths)}" if dirty else "")) or None


def provenance(name: str, size: str, seed: int, overrides: dict[str, Any], config: dict[str, Any],
               wall_seconds: float, device: Any = None, resumed_units: int = 0,
               unit_seconds: dict[str, float] | None = None, commit: str | None = None) -> dict[str, Any]:
    """The ``provenance`` entry of a result of record: ``command`` (and its parts ``experiment``,
    ``size``, ``seed``, ``overrides``), ``commit``, ``config``,
    ``machine``, ``wall_seconds`` (this process's time), ``resumed_units`` (how many units came
    from a partial result), ``unit_seconds_total`` (the wall time of every unit, including the
    resumed ones: the compute the result took), ``created`` (UTC). ``commit`` is the code the
    run started from (:func:`savlib.experiments.run` reads it before the first unit: a long run
    must not record a commit made while it ran); by default the current one."""
    machine = _machine(device or "cpu")
    return {"command": command_line(name, size, seed, overrides, out="benchmarks/results"),
            "experiment": name, "size": size, "seed": seed, "overrides": json_safe(overrides),
            "commit": commit or _git_commit(), "config": config, "machine": machine,
            "wall_seconds": wall_seconds,
            "resumed_units": resumed_units,
            "unit_seconds_total": sum((unit_seconds or {}).values()),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def benchmark_provenance(script: str, argv: list[str], wall_seconds: float) -> dict[str, Any]:
    """The ``provenance`` entry of a benchmark's JSON (``benchmarks/*.py``): the command
    (``python benchmarks/SCRIPT ARGS``), commit, machine, wall time and date. A benchmark's
    configuration is its command line plus the code at that commit."""
    machine = _machine()
    name = Path(script).name
    return {"command": " ".join(["python", f"benchmarks/{name}", *argv]),
            "commit": _git_commit(("savlib", f"benchmarks/{name}")),
            "machine": machine, "wall_seconds": wall_seconds,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def load_result(name: str, directory: str | Path | None = None) -> dict[str, Any]:
    """The stored result ``NAME.json`` (default directory :data:`RESULTS_DIR`, the checkout's
    ``benchmarks/results``) with "NaN"/"Infinity" strings turned back into floats. A missing
    or unreadable file raises :class:`~savlib.errors.ResultError` naming the file and the
    command that makes it."""
    path = Path(directory or RESULTS_DIR) / f"{name}.json"
    if not path.is_file():
        raise ResultError(f"{path} not found: run `python -m savlib.experiments {name} --full "
                          f"--out benchmarks/results` first")
    try:
        return from_json(json.loads(path.read_text()))
    except (OSError, ValueError) as e:
        raise ResultError(f"{path}: not a readable result ({e})") from e


def stale_results(directory: str | Path | None = None) -> list[tuple[str, str, str]]:
    """Every experiment result in ``directory`` (default :data:`RESULTS_DIR`) whose stored
    configuration differs from the one the current code would run for its command, or that
    has no provenance: a list of ``(file, reason, command)``. Results are compared with
    ``SAVLIB_SEED`` unset (the call raises if it is set)."""
    from . import EXPERIMENTS

    if seed_offset():
        raise ConfigError("stale_results compares against seed offset 0: unset SAVLIB_SEED")
    out = []
    for path in sorted(Path(directory or RESULTS_DIR).glob("*.json")):
        if path.name.endswith(".partial.json"):
            continue            # an unfinished run's units (``--resume`` checks their configuration)
        res = from_json(json.loads(path.read_text()))
        name = res.get("experiment")
        if name is None:
            continue            # a benchmark, not an experiment
        prov = res.get("provenance")
        size = res.get("size", "full")
        cmd = command_line(name, size, res.get("seed", 0), res.get("overrides") or {}, "benchmarks/results")
        if not prov:
            out.append((path.name, "no provenance", cmd))
            continue
        cmd = prov["command"]
        if path.name != f"{name}.json":
            out.append((path.name, f"its command writes {name}.json, not this file", cmd))
            continue
        if name not in EXPERIMENTS:
            out.append((path.name, f"experiment {name!r} no longer exists", cmd))
            continue
        try:
            now = resolve_config(name, prov["size"], prov["seed"], **prov["overrides"])
        except ConfigError as e:
            out.append((path.name, str(e), cmd))
            continue
        if now != prov["config"]:
            diff = sorted(k for k in set(now) | set(prov["config"]) if now.get(k) != prov["config"].get(k))
            out.append((path.name, "configuration changed in " + ", ".join(diff), cmd))
    return out
