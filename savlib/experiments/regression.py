"""Regression experiments: Ma, Mao & Shen 2024 Examples 1-3 (Figs. 1-10) and the gradient-flow report's Experiments 1-3.

Book chapters ``book/particles/regression.ipynb`` (and ``mean_field.ipynb`` for the PM/SPM
gap); run with ``python -m savlib.experiments NAME [--quick|--full]``.

Conventions for all Ma, Mao & Shen 2024 experiments (see :mod:`savlib.particles`):
the mean-field network with ``time_scale="particle"`` (``lr`` is the time step of the
particle ODE, Ma, Mao & Shen 2024 eq. 9), MSE as the training loss and the relative error reported,
inputs z-scored over the pool, 80/20 split. Ma, Mao & Shen 2024 never gives epoch counts; each
function states the ones it uses. The gradient-flow report uses an ordinary one-hidden-layer ReLU network
(:func:`gradflow_mlp`) trained on the MSE, by default in the setup of the authors' released
generator (raw inputs, ``c ~ N(0, 1)``, IEQ on ``q = f(w) - y``; :data:`GRADFLOW_LITERAL`), with
the project's earlier choices as named variants (:data:`GRADFLOW_VARIANTS`).

Every experiment declares its resolved parameters (``ctx.declare``, including the ``seeds``
list: three seeds at full size) before any training and runs each training run as a resumable
unit (``ctx.unit``); the results of record are ``benchmarks/results/NAME.json``, made by
``python -m savlib.experiments NAME --full --out benchmarks/results``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from .._figures import finish
from ..config import get_device, seed_everything
from ..particles import MeanFieldNet, SmoothedParticleNet
from ..problems.regression import gaussian, quadratic, sin_cos
from ..train import History, fit

__all__ = ["make_scheme", "count_increases", "epochs_to", "ma2024_fig1", "ma2024_fig2_7", "ma2024_fig3_4",
           "ma2024_fig5_6", "ma2024_fig10", "gradflow_mlp", "make_scheme_002", "gradflow2024_regression",
           "GRADFLOW_PARAMS", "GRADFLOW_LITERAL", "GRADFLOW_VARIANTS", "PAPER_TABLE36", "plot_runs"]


def count_increases(values: list[float], rtol: float = 1e-7) -> int:
    """Number of steps at which a loss sequence goes up (relative tolerance ``rtol`` for
    round-off); the monotonicity measure of Ma, Mao & Shen 2024 Fig. 1."""
    return sum(1 for a, b in zip(values, values[1:]) if not (b <= a * (1 + rtol)))


def epochs_to(h: History, key: str, level: float, *, above: bool = False) -> int | None:
    """First logged epoch at which ``h.series(key)`` is below ``level`` (``above=True``: at or
    above it), or ``None`` if never (the gradient-flow report's Tables 3.6-3.7: epochs to test loss < 1e-4 /
    90% accuracy). Needs the history logged every epoch."""
    for e, v in zip(h.epoch, h.series(key)):
        if math.isfinite(v) and ((v >= level) if above else (v < level)):
            return e
    return None


def _override(value: int | None, default: int, name: str) -> int:
    """A size override (``epochs``, ``M``, ``m``): ``None`` keeps the size's default."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _size(size: str) -> bool:
    from . import _check_size

    return _check_size(size) == "full"


def _mf_model(D: int, m: int, spm: bool, seed: int, device, J: int = 10, h: float = 1e-4):
    seed_everything(seed)
    net = MeanFieldNet(D, m, device=device)
    return SmoothedParticleNet(net, J=J, h=h, seed=seed) if spm else net


def make_scheme(name: str, params, lr: float, C: float, lam: float):
    """Ma, Mao & Shen 2024's schemes by the paper's names: Euler (= SGD), SAV, ResSAV, RelSAV (Algs. 2-4),
    the adaptive A-Euler (= Adam), A-SAV, A-ResSAV, A-RelSAV (Alg. 5), with ``L = lam * Id``,
    and the baselines of Figs. 10 and 12, Adagrad and RMSprop (torch's, at ``lr``)."""
    from ..schemes import RelSAV, ResSAV, SAV

    params = list(params)
    table = {
        "Euler": lambda: torch.optim.SGD(params, lr=lr),
        "SAV": lambda: SAV(params, lr=lr, C=C, lam=lam),
        "ResSAV": lambda: ResSAV(params, lr=lr, C=C, lam=lam),
        "RelSAV": lambda: RelSAV(params, lr=lr, C=C, lam=lam),
        "A-Euler": lambda: torch.optim.Adam(params, lr=lr),
        "A-SAV": lambda: SAV(params, lr=lr, C=C, lam=lam, adaptive=True),
        "A-ResSAV": lambda: ResSAV(params, lr=lr, C=C, lam=lam, adaptive=True),
        "A-RelSAV": lambda: RelSAV(params, lr=lr, C=C, lam=lam, adaptive=True),
        "Adagrad": lambda: torch.optim.Adagrad(params, lr=lr),
        "RMSprop": lambda: torch.optim.RMSprop(params, lr=lr),
    }
    if name not in table:
        raise ValueError(f"unknown scheme {name!r}; expected one of {sorted(table)}")
    return table[name]()


def _summ(h: History, **extra) -> dict[str, Any]:
    return {"history": h.to_dict(), "initial_train": h.train_loss[0], "final_train": h.train_loss[-1],
            "final_test": h.test_loss[-1], "final_test_rel_error": h.final("test_rel_error"),
            "diverged": h.diverged, **extra}


# ============================================================================ shared helpers
def _seeds(seeds, seed: int, n: int) -> list[int]:
    """The declared seed list: ``seeds`` as given, else ``seed, seed + 1, ..., seed + n - 1``."""
    if seeds is None:
        return [seed + k for k in range(n)]
    if isinstance(seeds, (int, bool)) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                   for s in seeds) or not list(seeds):
        raise ValueError(f"seeds must be a non-empty list of ints >= 0, got {seeds!r}")
    return list(seeds)


def _stats(values: list[float]) -> dict[str, Any]:
    """Mean, min, max and the values themselves over seeds (non-finite values are kept in
    ``values`` and counted in ``n_nonfinite``; the mean is over the finite ones)."""
    ok = [float(v) for v in values if v is not None and math.isfinite(v)]
    return {"values": list(values), "mean": sum(ok) / len(ok) if ok else math.nan,
            "min": min(ok) if ok else math.nan, "max": max(ok) if ok else math.nan,
            "n_nonfinite": len(values) - len(ok)}


# ============================================================================ Ma, Mao & Shen 2024 Fig. 1
def ma2024_fig1(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0, seeds=None,
                steps: int | None = None, M: int | None = None, m: int | None = None, ctx=None) -> dict[str, Any]:
    """Ma, Mao & Shen 2024 Fig. 1: Example 1 (eq. 25), D = 20, full batch, C = 1, lambda = 10, Euler / SAV /
    RelSAV, as PM and SPM (h = 1e-4, J = 10). Claim: SAV and RelSAV train losses decay
    monotonically at lr 0.6, Euler's oscillates.

    The paper uses M = 10^4 points and m = 1000 particles and does not give the number of steps.
    A full-batch SPM step at that size costs J = 10 forward-backward passes over 8000 x 1000, so
    the result of record is smaller: M = 2000, m = 200, 300 full-batch steps, 3 seeds; lr 0.6
    (the paper's) and lr 4 (to show Euler's instability), PM at both rates and SPM at lr 0.6.
    Every step's loss is recorded and its increases counted (:func:`count_increases`).
    Quick: 60 steps, one seed, PM only. ``steps``, ``M``, ``m`` override the size's values.
    """
    from .record import Context

    ctx = ctx or Context()
    full = _size(size)
    cfg = ctx.declare(D=20, M=_override(M, 2000, "M"), m=_override(m, 200, "m"),
                      steps=_override(steps, 300 if full else 60, "steps"), lrs=[0.6, 4.0], spm_lrs=[0.6] if full else [],
                      schemes=["Euler", "SAV", "RelSAV"], C=1.0, lam=10.0, J=10, h=1e-4,
                      seeds=_seeds(seeds, seed, 3 if full else 1), loss="mse", time_scale="particle")
    dev = get_device(device)
    runs: dict[str, Any] = {}
    for s in cfg["seeds"]:
        data = sin_cos(D=cfg["D"], M=cfg["M"], seed=s, device=dev)
        for lr in cfg["lrs"]:
            for kind in ("PM", "SPM"):
                if kind == "SPM" and lr not in cfg["spm_lrs"]:
                    continue
                for scheme in cfg["schemes"]:
                    def one(lr=lr, kind=kind, scheme=scheme):
                        model = _mf_model(cfg["D"], cfg["m"], kind == "SPM", s, dev, J=cfg["J"], h=cfg["h"])
                        h = fit(model, make_scheme(scheme, model.parameters(), lr, cfg["C"], cfg["lam"]), data,
                                epochs=cfg["steps"], record_steps=True, progress=progress, seed=s)
                        rel = [b / a - 1.0 for a, b in zip(h.step_loss, h.step_loss[1:]) if a > 0]
                        r = h.step_diagnostics.get("r", [])
                        return _summ(h, increases_train=count_increases(h.train_loss),
                                     increases_step_loss=count_increases(h.step_loss),
                                     max_rel_increase=max([0.0] + rel), step_loss=h.step_loss,
                                     r_increases=count_increases(r, rtol=1e-12) if r else None)
                    runs[f"lr={lr:g} {kind}|{scheme}|seed={s}"] = ctx.unit(f"lr={lr:g}/{kind}/{scheme}/seed{s}", one)
    summary = {}
    for key in {k.rsplit("|", 1)[0] for k in runs}:
        vals = [runs[f"{key}|seed={s}"] for s in cfg["seeds"]]
        summary[key] = {"increases_step_loss": [v["increases_step_loss"] for v in vals],
                        "max_rel_increase": [v["max_rel_increase"] for v in vals],
                        "diverged": [v["diverged"] for v in vals], "final_train": _stats([v["final_train"] for v in vals]),
                        "initial_train": [v["initial_train"] for v in vals]}
    return {"size": size, "device": str(dev), "params": cfg, "runs": runs, "summary": summary}


# ============================================================================ Ma, Mao & Shen 2024 Figs. 2, 7
def _gap_summary(gaps: list[float]) -> dict[str, Any]:
    """Mean PM-vs-SPM gap over the seeds where both runs stayed finite (``nan`` if none did),
    how many of those favour SPM, and how many seeds were left out because a run diverged."""
    ok = [g for g in gaps if math.isfinite(g)]
    return {"mean_rel_gap": sum(ok) / len(ok) if ok else math.nan,
            "seeds_spm_better": sum(g > 0 for g in ok), "n_seeds": len(gaps),
            "n_finite": len(ok), "n_diverged": len(gaps) - len(ok)}


def ma2024_fig2_7(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0,
                  seeds=None, epochs: int | None = None, M: int | None = None, ctx=None) -> dict[str, Any]:
    """Ma, Mao & Shen 2024 Figs. 2 and 7: PM against SPM (J = 10, h = 1e-4), batch l = 64.

    * Fig. 2: Example 1, D = 40, M = 10^4, m = 1000, lr = 0.2, C = 1, lambda = 4 (the caption's
      lambda is garbled, "0. c"; the text says 4);
    * Fig. 7: Example 2, D = 40, M = 10^4, m = 100, lr = 0.01, C = 1, lambda = 0.

    Schemes Euler, SAV, RelSAV, each trained as PM and as SPM from the same initial particles
    on the same batches; repeated over ``seeds`` (data, initialisation and batches all change
    with the seed). Reported: the relative gap ``(PM - SPM) / PM`` of the final test loss
    (positive = SPM better; ``nan`` when either run diverged), its mean over the seeds where both
    stayed finite, how many of those favour SPM and how many diverged (``summary``). Ma, Mao & Shen 2024
    claims SPM is "slightly better". Epochs are not given: full size is the paper's M and m,
    5 epochs (625 steps), 3 seeds; quick M = 1000, m = 100 (Fig. 2) / 50 (Fig. 7), 6 epochs,
    2 seeds.
    """
    from .record import Context

    ctx = ctx or Context()
    full = _size(size)
    figs = {"fig2": dict(problem="sin_cos", m=1000 if full else 100, lr=0.2, C=1.0, lam=4.0),
            "fig7": dict(problem="quadratic", m=100 if full else 50, lr=0.01, C=1.0, lam=0.0)}
    cfg = ctx.declare(D=40, M=_override(M, 10_000 if full else 1000, "M"), batch=64,
                      epochs=_override(epochs, 5 if full else 6, "epochs"), seeds=_seeds(seeds, seed, 3 if full else 2),
                      J=10, h=1e-4, figs=figs, schemes=["Euler", "SAV", "RelSAV"], loss="mse", time_scale="particle")
    dev = get_device(device)
    runs: dict[str, Any] = {}
    gaps: dict[str, dict[str, list[float]]] = {}
    for fig, p in cfg["figs"].items():
        for s in cfg["seeds"]:
            make_data = sin_cos if p["problem"] == "sin_cos" else quadratic
            data = make_data(D=cfg["D"], M=cfg["M"], seed=s, device=dev)
            for scheme in cfg["schemes"]:
                finals = {}
                for kind in ("PM", "SPM"):
                    def one(kind=kind, scheme=scheme, p=p):
                        model = _mf_model(cfg["D"], p["m"], kind == "SPM", s, dev, J=cfg["J"], h=cfg["h"])
                        h = fit(model, make_scheme(scheme, model.parameters(), p["lr"], p["C"], p["lam"]), data,
                                epochs=cfg["epochs"], batch_size=cfg["batch"], seed=s, progress=progress)
                        return _summ(h)
                    r = ctx.unit(f"{fig}/{kind}/{scheme}/seed{s}", one)
                    runs[f"{fig}|{kind}-{scheme}|seed={s}"] = r
                    finals[kind] = r["final_test"]
                both = math.isfinite(finals["PM"]) and math.isfinite(finals["SPM"]) and finals["PM"] != 0
                gap = (finals["PM"] - finals["SPM"]) / finals["PM"] if both else math.nan
                gaps.setdefault(fig, {}).setdefault(scheme, []).append(gap)
    summary = {fig: {sc: _gap_summary(v) for sc, v in d.items()} for fig, d in gaps.items()}
    return {"size": size, "device": str(dev), "params": cfg, "runs": runs, "gaps": gaps, "summary": summary}


# ============================================================================ Ma, Mao & Shen 2024 Figs. 3-4
def ma2024_fig3_4(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0, seeds=None,
                  epochs: int | None = None, M: int | None = None, m: int | None = None, J: int | None = None,
                  ctx=None) -> dict[str, Any]:
    """Ma, Mao & Shen 2024 Figs. 3-4: Example 1, D = 40, l = 256, C = 100, lambda = 4, SPM (h = 1e-4).

    Fig. 3 (fixed lr 0.5 and 1): Euler, SAV, ResSAV, RelSAV, with Euler (SGD) at lr 0.01 as
    baseline. Fig. 4 (adaptive, lr 0.01 and 1): A-Euler (= Adam), A-SAV, A-ResSAV, A-RelSAV, with
    Adam at its default 1e-3 as baseline (the baseline of a figure is one run, shown in both
    panels). Claim: at lr 0.5 and 1 the SAV schemes converge while Euler does not; the text of
    section 3.1.1 adds that at lr 0.5 SAV's test loss is about two orders of magnitude above
    Euler's. The paper's size is M = 10^5, m = 1000, J = 10, epochs not given. Result of record
    (what a shared 2-core CPU affords): M = 2 10^4, m = 500, J = 2, 4 epochs (252 steps), 3 seeds. Quick M = 4000, m = 100, J = 2,
    10 epochs, one seed. ``epochs``, ``M``, ``m``, ``J`` override the size's values.
    """
    from .record import Context

    ctx = ctx or Context()
    full = _size(size)
    M0, m0, e0 = (20_000, 500, 4) if full else (4000, 100, 10)
    plan = [["fig3 lr=0.5", s, 0.5] for s in ("Euler", "SAV", "ResSAV", "RelSAV")]
    plan += [["fig3 lr=1", s, 1.0] for s in ("Euler", "SAV", "ResSAV", "RelSAV")] + [["fig3", "Euler", 0.01]]
    for lr in (0.01, 1.0):
        plan += [[f"fig4 lr={lr:g}", s, lr] for s in ("A-Euler", "A-SAV", "A-ResSAV", "A-RelSAV")]
    plan += [["fig4", "A-Euler", 1e-3]]
    cfg = ctx.declare(D=40, M=_override(M, M0, "M"), m=_override(m, m0, "m"), batch=256, C=100.0, lam=4.0,
                      epochs=_override(epochs, e0, "epochs"), J=_override(J, 2, "J"), h=1e-4, plan=plan,
                      seeds=_seeds(seeds, seed, 3 if full else 1), loss="mse", time_scale="particle")
    dev = get_device(device)
    runs: dict[str, Any] = {}
    for s in cfg["seeds"]:
        data = sin_cos(D=cfg["D"], M=cfg["M"], seed=s, device=dev)
        for panel, scheme, lr in cfg["plan"]:
            def one(scheme=scheme, lr=lr):
                model = _mf_model(cfg["D"], cfg["m"], True, s, dev, J=cfg["J"], h=cfg["h"])
                h = fit(model, make_scheme(scheme, model.parameters(), lr, cfg["C"], cfg["lam"]), data,
                        epochs=cfg["epochs"], batch_size=cfg["batch"], seed=s, progress=progress)
                return _summ(h)
            runs[f"{panel}|{scheme} lr={lr:g}|seed={s}"] = ctx.unit(f"{scheme}/lr={lr:g}/seed{s}", one)
    summary = {}
    for key in {k.rsplit("|", 1)[0] for k in runs}:
        vals = [runs[f"{key}|seed={s}"] for s in cfg["seeds"]]
        summary[key] = {f: _stats([v[f] for v in vals]) for f in ("initial_train", "final_train", "final_test")}
        summary[key]["diverged"] = [v["diverged"] for v in vals]
    return {"size": size, "device": str(dev), "params": cfg, "runs": runs, "summary": summary}


# ============================================================================ Ma, Mao & Shen 2024 Figs. 5-6
def ma2024_fig5_6(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0, seeds=None,
                  C: float = 100.0, epochs: int | None = None, M: int | None = None,
                  m: int | None = None, J: int | None = None, ctx=None) -> dict[str, Any]:
    """Ma, Mao & Shen 2024 Figs. 5-6: Example 1, D = 40, l = 256, lr = 0.5, SPM (h = 1e-4).

    Fig. 5: SAV (and ResSAV, RelSAV) with lambda in {0, 1, 4, 10}, C = 100. Claims: lambda = 4
    is best for vanilla SAV; lambda hardly matters for ResSAV and RelSAV.
    Fig. 6: ``1 - q^n`` with ``q^n = r^n / sqrt(I(theta^n) + C)`` for the three schemes at
    lambda = 0 and 4. Claim: ``1 - q ~ 0.6`` for SAV at lambda = 0, ``~ 0`` otherwise.
    The caption of Fig. 6 says C = 10, that of Fig. 5 C = 100; both panels here come from the
    same runs with ``C`` (default 100). Every step's q is recorded; ``one_minus_q`` keeps every
    ``stride``-th value and ``one_minus_q_at`` the value at chosen steps (504 = 8 epochs, ...).
    The paper's size is M = 10^5, m = 1000, J = 10, epochs not given. Result of record (what a
    shared 2-core CPU affords): M = 2 10^4, m = 1000, J = 2, 16 epochs (1008 steps), 3 seeds,
    SAV at all four lambdas and ResSAV, RelSAV at lambda = 0 and 4 (``plan``), with the test
    loss also read after 8 epochs (504 steps). Quick M = 2000, m = 100, J = 2, 6 epochs, one seed.
    ``epochs``, ``M``, ``m``, ``J`` override the size's values.
    """
    from .record import Context

    ctx = ctx or Context()
    full = _size(size)
    M0, m0, e0 = (20_000, 1000, 16) if full else (2000, 100, 6)
    cfg = ctx.declare(D=40, M=_override(M, M0, "M"), m=_override(m, m0, "m"), batch=256, lr=0.5, C=float(C),
                      plan={"SAV": [0.0, 1.0, 4.0, 10.0], "ResSAV": [0.0, 4.0], "RelSAV": [0.0, 4.0]},
                      epochs=_override(epochs, e0, "epochs"), J=_override(J, 2, "J"), h=1e-4,
                      seeds=_seeds(seeds, seed, 3 if full else 1), report_steps=[63, 126, 252, 504, 1008, 1890],
                      loss="mse", time_scale="particle")
    dev = get_device(device)
    runs: dict[str, Any] = {}
    for s in cfg["seeds"]:
        data = sin_cos(D=cfg["D"], M=cfg["M"], seed=s, device=dev)
        for scheme, lams in cfg["plan"].items():
            for lam in lams:
                def one(scheme=scheme, lam=lam):
                    model = _mf_model(cfg["D"], cfg["m"], True, s, dev, J=cfg["J"], h=cfg["h"])
                    h = fit(model, make_scheme(scheme, model.parameters(), cfg["lr"], cfg["C"], lam), data,
                            epochs=cfg["epochs"], batch_size=cfg["batch"], seed=s, progress=progress, record_steps=True)
                    q = h.step_diagnostics.get("q", [])
                    scale = h.step_diagnostics.get("step_scale", [])
                    tail = q[len(q) // 2:] or [math.nan]
                    stride = max(1, len(q) // 1000)  # keep the JSON small: at most ~1000 points per run
                    at = {str(n): 1.0 - q[n - 1] for n in cfg["report_steps"] if n <= len(q)}
                    h.step_diagnostics, h.step_loss = {}, []
                    return _summ(h, one_minus_q=[1.0 - v for v in q[::stride]], one_minus_q_stride=stride,
                                 one_minus_q_at=at, final_step_scale=scale[-1] if scale else math.nan,
                                 mean_one_minus_q_2nd_half=1.0 - sum(tail) / len(tail))
                runs[f"{scheme}|lam={lam:g}|seed={s}"] = ctx.unit(f"{scheme}/lam={lam:g}/seed{s}", one)
    summary = {}
    for scheme, lams in cfg["plan"].items():
        for lam in lams:
            vals = [runs[f"{scheme}|lam={lam:g}|seed={s}"] for s in cfg["seeds"]]
            hist = [v["history"] for v in vals]
            summary[f"{scheme}|lam={lam:g}"] = {
                "final_test": _stats([v["final_test"] for v in vals]),
                "test_by_epoch": {str(e): _stats([hh["test_loss"][e] for hh in hist if e < len(hh["test_loss"])])
                                  for e in sorted({1, 8, cfg["epochs"] // 2, cfg["epochs"]})},
                "one_minus_q_at": {n: _stats([v["one_minus_q_at"].get(n, math.nan) for v in vals])
                                   for n in vals[0]["one_minus_q_at"]},
                "mean_one_minus_q_2nd_half": _stats([v["mean_one_minus_q_2nd_half"] for v in vals])}
    return {"size": size, "device": str(dev), "params": cfg, "runs": runs, "summary": summary}


# ============================================================================ Ma, Mao & Shen 2024 Fig. 10
def ma2024_fig10(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0, seeds=None,
                 dims=None, epochs: int | None = None, M: int | None = None,
                 m: int | None = None, J: int | None = None, ctx=None) -> dict[str, Any]:
    """Ma, Mao & Shen 2024 Fig. 10: Example 3 (eq. 27, ``exp(-10 |x|_2)``, x ~ N(0, 0.2^2 I)), l = 256,
    C = 100, lambda = 4, SPM with h = 1e-6.

    SPM-Euler and SPM-RelSAV at lr 1, their adaptive forms A-Euler (= Adam) and A-RelSAV at
    lr 1, and the baselines Adam, Adagrad and RMSprop at their default 1e-3. Claims: RelSAV is
    more stable than Euler (fixed and adaptive lr 1); A-RelSAV converges faster and more
    accurately than Adam at 1e-3. Ma, Mao & Shen 2024 does not give D for Example 3: with D = 40 as in
    Examples 1-2, ``|x|_2 ~ 0.2 sqrt(40) ~ 1.3`` and the target is about ``e^{-13}`` on almost
    every sample, so the zero function is already a near-perfect fit in MSE and the relative
    error divides by near-zero targets; ``D = 2`` (targets of order 0.1) is the informative
    setting. ``dims`` (default ``[2, 40]``) runs both. Run keys ``"D=<D>|<scheme> lr=<lr>|seed=<s>"``.
    The paper's size is M = 10^5, m = 10^4, J = 10, epochs not given. Result of record
    (what a shared 2-core CPU affords): M = 2 10^4, m = 500, J = 2, 4 epochs (252 steps), 3 seeds; quick M = 2000, m = 100, J = 2, 6 epochs,
    one seed. ``epochs``, ``M``, ``m``, ``J`` override the size's values.
    """
    from .record import Context

    ctx = ctx or Context()
    full = _size(size)
    M0, m0, e0 = (20_000, 500, 4) if full else (2000, 100, 6)
    dims = [2, 40] if dims is None else ([dims] if isinstance(dims, int) and not isinstance(dims, bool) else list(dims))
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims):
        raise ValueError(f"dims must be a list of ints >= 1, got {dims!r}")
    cfg = ctx.declare(dims=dims, M=_override(M, M0, "M"), m=_override(m, m0, "m"), batch=256, C=100.0, lam=4.0,
                      epochs=_override(epochs, e0, "epochs"), J=_override(J, 2, "J"), h=1e-6,
                      plan=[["Euler", 1.0], ["RelSAV", 1.0], ["A-Euler", 1.0], ["A-RelSAV", 1.0], ["A-Euler", 1e-3],
                            ["Adagrad", 1e-3], ["RMSprop", 1e-3]],
                      seeds=_seeds(seeds, seed, 3 if full else 1), loss="mse", time_scale="particle")
    dev = get_device(device)
    runs: dict[str, Any] = {}
    for D in cfg["dims"]:
        for s in cfg["seeds"]:
            data = gaussian(D=D, M=cfg["M"], variant="000", seed=s, device=dev)
            zero = float(data.y_test.double().square().mean())
            for scheme, lr in cfg["plan"]:
                def one(scheme=scheme, lr=lr):
                    model = _mf_model(D, cfg["m"], True, s, dev, J=cfg["J"], h=cfg["h"])
                    h = fit(model, make_scheme(scheme, model.parameters(), lr, cfg["C"], cfg["lam"]), data,
                            epochs=cfg["epochs"], batch_size=cfg["batch"], seed=s, progress=progress)
                    return _summ(h, zero_function_test_mse=zero)
                runs[f"D={D}|{scheme} lr={lr:g}|seed={s}"] = ctx.unit(f"D={D}/{scheme}/lr={lr:g}/seed{s}", one)
    summary = {}
    for key in {k.rsplit("|", 1)[0] for k in runs}:
        vals = [runs[f"{key}|seed={s}"] for s in cfg["seeds"]]
        summary[key] = {f: _stats([v[f] for v in vals]) for f in
                        ("initial_train", "final_train", "final_test", "final_test_rel_error")}
        summary[key]["diverged"] = [v["diverged"] for v in vals]
    return {"size": size, "device": str(dev), "params": cfg, "runs": runs, "summary": summary}


# ============================================================================ the gradient-flow report's Experiments 1-3
class _Squeeze(torch.nn.Module):
    def forward(self, x):  # (N, 1) -> (N,)
        return x.squeeze(-1)


def gradflow_mlp(D: int, width: int = 1000, seed: int = 0, device=None) -> torch.nn.Module:
    """The gradient-flow report's regression network: ``D -> width`` ReLU ``-> 1`` with no output bias, i.e.
    ``(D + 1) width + width`` parameters (42,000 for D = 40, width 1000, as 002 counts them);
    torch's default initialisation drawn from ``seed``; output shape ``(N,)``."""
    seed_everything(seed)
    return torch.nn.Sequential(torch.nn.Linear(D, width), torch.nn.ReLU(), torch.nn.Linear(width, 1, bias=False),
                               _Squeeze()).to(get_device(device))


def make_scheme_002(name: str, params, lr: float, C: float = 1.0, lam: float = 0.0, *, model=None):
    """The gradient-flow report's algorithms by its names: SGD, Adam, SAV, ExpSAV, "IEQ (Full Jacobian)",
    "IEQ (Adaptive)" (eps = 1e-8).

    The report's SAV update ``w_{n+1} = w_n + (r_{n+1}/r_n) w*`` equals Ma, Mao & Shen 2024's only when
    ``r_n = sqrt(I_n + C)``, i.e. it is the restart scheme, so "SAV" here is
    :class:`savlib.schemes.ResSAV`. ExpSAV is :class:`savlib.schemes.ExpSAV` (the report's section 2.2.4).
    ``model``: the network, for the full-Jacobian IEQ's structured Gram matrix of its Linear
    layers (``jacobian="linear"``: the same step as the autograd Jacobian, equal to round-off
    in float64, and several times faster).
    """
    from ..schemes import IEQ, ExpSAV, IEQAdaptive, ResSAV

    params = list(params)
    table = {
        "SGD": lambda: torch.optim.SGD(params, lr=lr),
        "Adam": lambda: torch.optim.Adam(params, lr=lr),
        "SAV": lambda: ResSAV(params, lr=lr, C=C, lam=lam),
        "ExpSAV": lambda: ExpSAV(params, lr=lr, C=C, lam=lam),
        "IEQ (Full Jacobian)": lambda: IEQ(params, lr=lr, model=model),
        "IEQ (Adaptive)": lambda: IEQAdaptive(params, lr=lr, eps=1e-8),
    }
    if name not in table:
        raise ValueError(f"unknown algorithm {name!r} (the gradient-flow report's names: {sorted(table)})")
    return table[name]()


#: The gradient-flow report's parameter tables of Experiments 1-3 (batch, lr, C, lambda) and their epochs.
GRADFLOW_PARAMS: dict[str, dict[str, Any]] = {
    "exp1": {"problem": "sin_cos", "M": 10_000, "epochs": 1000, "algorithms": {
        "SGD": (256, 0.01, None, None), "Adam": (64, 0.001, None, None), "SAV": (256, 0.5, 100.0, 4.0),
        "ExpSAV": (256, 0.1, 1.0, 1.0), "IEQ (Full Jacobian)": (64, 0.1, None, None),
        "IEQ (Adaptive)": (256, 0.1, None, None)}},
    "exp2": {"problem": "quadratic", "M": 10_000, "epochs": 100, "algorithms": {
        "SGD": (64, 0.01, None, None), "Adam": (64, 0.001, None, None), "SAV": (64, 0.01, 1.0, 4.0),
        "IEQ (Full Jacobian)": (64, 0.01, None, None), "IEQ (Adaptive)": (64, 0.01, None, None)}},
    "exp3": {"problem": "gaussian_002", "M": 1000, "epochs": 100, "algorithms": {
        "SGD": (256, 0.01, None, None), "Adam": (256, 0.001, None, None), "SAV": (256, 0.01, 100.0, 4.0),
        "ExpSAV": (256, 0.01, 1.0, 0.0), "IEQ (Full Jacobian)": (256, 0.01, None, None),
        "IEQ (Adaptive)": (256, 0.01, None, None)}},
}
#: The gradient-flow report's Table 3.6: epochs to test loss < 1e-4 (None = "not converged"; ">1000" kept as text).
PAPER_TABLE36: dict[str, dict[str, Any]] = {
    "IEQ (Full Jacobian)": {"exp1": "~500", "exp2": "~30", "exp3": "~40"},
    "ExpSAV": {"exp1": "~800", "exp2": "~50", "exp3": "~30"},
    "IEQ (Adaptive)": {"exp1": "~1000", "exp2": "~40", "exp3": "~50"},
    "SAV": {"exp1": ">1000", "exp2": "~60", "exp3": "~70"},
    "Adam": {"exp1": "~1200", "exp2": "~35", "exp3": "~60"},
    "SGD": {"exp1": "not converged", "exp2": "~80", "exp3": "not converged"},
}
#: the setup of the gradient-flow report's released generator (its default here): raw inputs, quadratic
#: coefficients c ~ N(0, 1), IEQ on the literal residual q = f(w) - y.
GRADFLOW_LITERAL: dict[str, Any] = {"zscore": False, "coef": "normal", "ieq_residual": "sum"}
#: named deviations from it, each run on the experiment where it matters: ``change`` (the flags
#: that differ), ``experiments``, ``algorithms`` (None: all of that experiment's).
GRADFLOW_VARIANTS: dict[str, dict[str, Any]] = {
    "zscore": {"change": {"zscore": True}, "experiments": ["exp3"], "algorithms": None},
    "ieq_mean": {"change": {"ieq_residual": "mean"}, "experiments": ["exp3"],
                 "algorithms": ["IEQ (Full Jacobian)", "IEQ (Adaptive)"]},
    "coef_uniform": {"change": {"coef": "uniform"}, "experiments": ["exp2"], "algorithms": ["SGD", "Adam"]},
}


def _gradflow_data(problem: str, M: int, seed: int, zscore: bool, coef: str, dev):
    z = "all" if zscore else None
    if problem == "sin_cos":
        return sin_cos(D=40, M=M, seed=seed, zscore=z, device=dev)
    if problem == "quadratic":
        return quadratic(D=40, M=M, seed=seed, coef=coef, zscore=z, device=dev)
    return gaussian(D=40, M=M, variant="002", seed=seed, zscore=z, device=dev)


def _ieq_residual(kind: str, alg: str):
    """IEQ's residual: ``"sum"`` the literal ``q = f(w) - y`` of the gradient-flow report's section 2.2.5 (energy
    ``1/2 sum (f - y)^2``), ``"mean"`` the mean-scaled ``sqrt(2/b) (f - y)`` (energy = the batch
    MSE). Under a process group the adaptive IEQ scales every rank's residual by ``1/sqrt(W)``
    itself, so the literal residual is returned times ``sqrt(W)`` there (the same global energy)."""
    from ..distributed import ambient_group, world_size
    from ..schemes.ieq import mse_residual

    if kind == "mean":
        return mse_residual
    if kind != "sum":
        raise ValueError(f"ieq_residual must be 'sum' or 'mean', got {kind!r}")
    g = ambient_group()
    w = world_size(g) if (g is not None and alg == "IEQ (Adaptive)") else 1
    if w == 1:
        return lambda pred, y: mse_residual(pred, y, "sum")
    return lambda pred, y: mse_residual(pred, y, "sum") * math.sqrt(w)


def gradflow2024_regression(size: str = "quick", device=None, progress: bool = False, *, seed: int = 0,
                            seeds=None, experiments=("exp1", "exp2", "exp3"), epochs: dict | int | None = None,
                            width: int | None = None, M: int | None = None,
                            full_jacobian_epochs: dict | int | None = None, zscore: bool = False,
                            coef: str = "normal", ieq_residual: str = "sum", variants=None,
                            ctx=None) -> dict[str, Any]:
    """The gradient-flow report's Experiments 1-3 with the parameters of its tables (:data:`GRADFLOW_PARAMS`) and
    its Table 3.6 (epochs to test MSE < 1e-4) remeasured.

    **Default: the literal setup of the authors' released generator** (:data:`GRADFLOW_LITERAL`):
    raw (not z-scored) inputs, the quadratic's coefficients ``c ~ N(0, 1)``, IEQ on the literal
    residual ``q = f(w) - y``. Network :func:`gradflow_mlp` (width 1000), MSE loss, 80/20 split;
    Exp. 3 is ``gaussian(variant="002")`` (``exp(-10 |x|^2)``, covariance 0.04 I, M = 1000). The
    flags ``zscore``, ``coef`` ("normal"/"uniform") and ``ieq_residual`` ("sum"/"mean") change
    the base setup; ``variants`` (names of :data:`GRADFLOW_VARIANTS`, default all three at full
    size, none at quick size) adds runs with one flag changed, on the experiment where it
    matters, keyed ``"<variant>:<exp>|<alg>|seed=<s>"``.

    Sizes. The paper: M = 10^4 (Exps. 1-2) / 1000 (Exp. 3), width 1000, epochs 1000 / 100 / 100
    (full-Jacobian IEQ 50 on Exp. 2). Result of record (what a shared 2-core CPU affords): Exp. 3
    at the paper's size (100 epochs), Exps. 1 and 2 at the paper's M and width but 20 epochs
    (full-Jacobian IEQ 10), 3 seeds (data, initialisation and batches change with the seed). Quick: width 100, M = 1000, 10 epochs (full-Jacobian IEQ
    2), one seed. ``epochs`` and ``full_jacobian_epochs`` (an int or a dict per experiment),
    ``width``, ``M`` override the size's values. The test loss is logged every epoch.
    """
    from .record import Context

    ctx = ctx or Context()
    full = _size(size)
    experiments = [experiments] if isinstance(experiments, str) else list(experiments)
    for ex in experiments:
        if ex not in GRADFLOW_PARAMS:
            raise ValueError(f"unknown experiment {ex!r}; expected one of {sorted(GRADFLOW_PARAMS)}")
    variants = (list(GRADFLOW_VARIANTS) if full else []) if variants is None else list(variants)
    for v in variants:
        if v not in GRADFLOW_VARIANTS:
            raise ValueError(f"unknown variant {v!r}; expected one of {sorted(GRADFLOW_VARIANTS)}")
    if coef not in ("normal", "uniform"):
        raise ValueError(f"coef must be 'normal' or 'uniform', got {coef!r}")
    if ieq_residual not in ("sum", "mean"):
        raise ValueError(f"ieq_residual must be 'sum' or 'mean', got {ieq_residual!r}")
    default_ep = {"exp1": 20, "exp2": 20, "exp3": 100} if full else {e: 10 for e in GRADFLOW_PARAMS}
    default_fj = {"exp1": 10, "exp2": 10, "exp3": 100} if full else {e: 2 for e in GRADFLOW_PARAMS}

    def per_exp(value, default, name):
        out = {}
        for ex in GRADFLOW_PARAMS:
            v = value.get(ex) if isinstance(value, dict) else value
            out[ex] = _override(v, default[ex], name)
        return out

    ep = per_exp(epochs, default_ep, "epochs")
    fj = per_exp(full_jacobian_epochs, default_fj, "full_jacobian_epochs")
    needed = sorted(set(experiments) | {e for v in variants for e in GRADFLOW_VARIANTS[v]["experiments"]})
    exps = {ex: {"problem": GRADFLOW_PARAMS[ex]["problem"],
                 "M": _override(M, GRADFLOW_PARAMS[ex]["M"] if full else 1000, "M"),
                 "epochs": ep[ex], "full_jacobian_epochs": min(fj[ex], ep[ex]),
                 "algorithms": {a: list(p) for a, p in GRADFLOW_PARAMS[ex]["algorithms"].items()}}
            for ex in needed}
    cfg = ctx.declare(experiments=experiments, exps=exps, width=_override(width, 1000 if full else 100, "width"),
                      base={"zscore": bool(zscore), "coef": coef, "ieq_residual": ieq_residual},
                      variants={v: GRADFLOW_VARIANTS[v] for v in variants},
                      seeds=_seeds(seeds, seed, 3 if full else 1), network="40-width-1 ReLU, no output bias",
                      loss="mse", threshold=1e-4)
    dev = get_device(device)

    def one(ex, alg, s, flags):
        P = cfg["exps"][ex]
        b, lr, C, lam = P["algorithms"][alg]
        n_ep = P["full_jacobian_epochs"] if alg == "IEQ (Full Jacobian)" else P["epochs"]

        def compute():
            data = _gradflow_data(P["problem"], P["M"], s, flags["zscore"], flags["coef"], dev)
            model = gradflow_mlp(40, cfg["width"], s, dev)
            opt = make_scheme_002(alg, model.parameters(), lr, C if C is not None else 1.0, lam or 0.0, model=model)
            res_fn = _ieq_residual(flags["ieq_residual"], alg) if alg.startswith("IEQ") else None
            h = fit(model, opt, data, epochs=n_ep, batch_size=b, seed=s, progress=progress, residual_fn=res_fn)
            return _summ(h, batch=b, lr=lr, C=C, lam=lam, epochs=n_ep, zero_function_test_mse=float(
                data.y_test.double().square().mean()), **{"epochs_to_1e-4": epochs_to(h, "test_loss", cfg["threshold"])})
        return compute

    runs: dict[str, Any] = {}
    for s in cfg["seeds"]:
        for ex in cfg["experiments"]:
            for alg in cfg["exps"][ex]["algorithms"]:
                runs[f"{ex}|{alg}|seed={s}"] = ctx.unit(f"{ex}/{alg}/seed{s}", one(ex, alg, s, cfg["base"]))
        for v, spec in cfg["variants"].items():
            flags = dict(cfg["base"], **spec["change"])
            for ex in spec["experiments"]:
                for alg in spec["algorithms"] or list(cfg["exps"][ex]["algorithms"]):
                    runs[f"{v}:{ex}|{alg}|seed={s}"] = ctx.unit(f"{v}/{ex}/{alg}/seed{s}", one(ex, alg, s, flags))
    summary: dict[str, Any] = {}
    for key in {k.rsplit("|", 1)[0] for k in runs}:
        vals = [runs[f"{key}|seed={s}"] for s in cfg["seeds"]]
        summary[key] = {f: _stats([v[f] for v in vals]) for f in ("initial_train", "final_train", "final_test")}
        summary[key]["diverged"] = [v["diverged"] for v in vals]
        summary[key]["epochs_to_1e-4"] = [v["epochs_to_1e-4"] for v in vals]
    table = {alg: {ex: summary[f"{ex}|{alg}"]["epochs_to_1e-4"] for ex in cfg["experiments"]
                   if f"{ex}|{alg}" in summary} for alg in PAPER_TABLE36}
    return {"size": size, "device": str(dev), "params": cfg, "runs": runs, "summary": summary,
            "table36": table, "paper_table36": PAPER_TABLE36}


# ============================================================================ plotting
def plot_runs(res: dict[str, Any], path: Path | None = None, keys=("train_loss", "test_loss")):
    """One row per panel (the part of a run key before ``|``), train and test loss per epoch.
    Run keys ``"panel|label|seed=<s>"`` are drawn for the first seed only."""
    import matplotlib.pyplot as plt

    names = list(res["runs"])
    seeded = [k for k in names if k.rsplit("|", 1)[-1].startswith("seed=")]
    if seeded:
        first = min(int(k.rsplit("=", 1)[-1]) for k in seeded)
        names = [k for k in seeded if k.endswith(f"|seed={first}")]
    groups: dict[str, list[str]] = {}
    for k in names:
        groups.setdefault(k.split("|")[0] if "|" in k else k.split("-")[0], []).append(k)
    fig, axes = plt.subplots(len(groups), len(keys), figsize=(5 * len(keys), 3.4 * len(groups)), squeeze=False)
    for i, (g, members) in enumerate(groups.items()):
        for name in members:
            h = History.from_dict(res["runs"][name]["history"])
            label = name.split("|")[1] if name.count("|") >= 1 else name
            h.plot(list(keys), ax=list(axes[i]), label=label)
        for ax in axes[i]:
            ax.set_title(f"{g}: {ax.get_title()}", fontsize=9)
    return finish(fig, path)
