"""Scorecard rows for the PINN part of the book (``book/pinns``): Ma, Mao & Shen 2024
(``ma2024sav``) Example 5 / Fig. 12, and Li, Chen & Huang 2023 (``li2023isgd``) Fig. 1,
Figs. 2-4, Table 1, eq. 8, Theorem 1 and secs. 2.4 and 4.1-4.3.

Every ``measured``, ``size`` and ``verdict`` is computed here from the stored results of
record (:func:`savlib.experiments.load_result`):

* ``pinn_burgers`` (``python -m savlib.experiments pinn_burgers --full``): Fig. 12, measured in
  the same-budget comparison on Raissi et al. 2019's Burgers setup;
* ``pinn_isgd`` (``python -m savlib.experiments pinn_isgd --full``): Figs. 2-4;
* ``pinn_stiffness`` (``python -m savlib.experiments pinn_stiffness --full``) and the benchmark
  ``pinn_spectrum`` (``benchmarks/pinn_spectrum.py``, the paper's 5 x 200 network): Fig. 1.
* ``isgd_fig1``, ``isgd_fair``, ``isgd_accuracy`` and ``isgd_long``
  (``python -m savlib.experiments NAME --full``) and two live checks (eq. 8 on the stiff quadratic,
  Theorem 1 on a wide two-layer network; together a few seconds): the rows of the chapter
  "Implicit SGD against its claims" (``book/pinns/isgd``, :func:`isgd_chapter_rows`), whose rules
  are functions of ``savlib.experiments.pinn_isgd``.

The rule that turns numbers into a verdict is in each row's ``notes``; the functions
``burgers_rows``, ``isgd_rows`` and ``spectrum_rows`` take the result dictionaries, so the rules
are unit-tested on synthetic results (``tests/scorecard/test_pinns.py``). A missing result gives
the verdict "not attempted" with the command that makes it.
"""
from __future__ import annotations

import math
from typing import Any

from ..experiments.pinn_isgd import (
    ACCURACY_FACTOR, ACCURACY_PARTLY, COST_FACTOR, EQ8_SLACK, ISGD_GAIN, ODE_SOLVED, PAPER_ACCURACY,
    THEOREM1_SIZE, TRAINED_REL_L2, accuracy_verdict, cost_verdict, eq8_check, fair_verdict, fig1_errors,
    fig1a_verdict, fig1b_verdict, ode_verdict, theorem1_check, theorem1_verdict)
from . import Row

__all__ = ["rows", "burgers_rows", "fig12_rows", "NO_PROGRESS", "FIG12_COMMAND", "burgers_literature_claim",
           "RAISSI_CLAIM", "RAISSI_BOUND", "isgd_rows", "spectrum_rows", "table1_row", "mean_sd", "ISGD_FIGS",
           "isgd_fig1_row", "isgd_chapter_rows", "isgd_eq8_row", "isgd_theorem1_row", "isgd_fig1a_row",
           "isgd_fair_row", "isgd_accuracy_row", "isgd_ode_row", "isgd_cost_row", "ISGD_CHAPTER_CLAIMS", "FIG1B_CLAIM",
           "CHAPTER_ISGD",
           "BURGERS_CLAIMS", "CHAPTER_TRAINING", "CHAPTER_STIFFNESS", "ODE_CONVERGED", "ABS_ERROR_FACTOR"]

CHAPTER_TRAINING = "book/pinns/training"
CHAPTER_STIFFNESS = "book/pinns/stiffness"
CHAPTER_ISGD = "book/pinns/isgd"
SAV_FAMILY = ("A-SAV", "A-ResSAV", "A-RelSAV")
BASELINES = ("Adam", "Adagrad", "RMSprop")
#: the ODE counts as solved below this mean relative L2 error (the ISGD chapter's rule too)
ODE_CONVERGED = ODE_SOLVED
#: Poisson / Helmholtz count as solved when the mean max abs error is within this factor of the
#: paper's (the ISGD chapter's accuracy rule too)
ABS_ERROR_FACTOR = ACCURACY_FACTOR

BURGERS_CLAIMS = {
    0.01: "Fig. 12(a), lr = 0.01: the adaptive SAV schemes (A-SAV, A-ResSAV, A-RelSAV, C = 1e4, lambda = 4) "
          "reach a lower test error, faster, than Adam, Adagrad and RMSprop.",
    0.001: "Fig. 12(b), lr = 0.001: the adaptive SAV schemes reach a lower test error, faster, than Adam, "
           "Adagrad and RMSprop.",
}

#: (item, problem key, claim, paper's max abs error or None)
ISGD_FIGS = (
    ("Fig. 2(a-c), eq. 19, eps = 2", "ode_eps2",
     "ISGD,Adam improves training convergence over SGD and Adam and stays stable at lr 0.001 (batch 40) "
     "and lr 0.5 (full batch).", None),
    ("Fig. 2(d-f), eq. 19, eps = 0.01", "ode_eps0.01",
     "Boundary layer: SGD and Adam do not converge at lr 0.5; ISGD,Adam stays stable and converges.", None),
    ("Fig. 3, eq. 20 (2-D Poisson)", "poisson2d",
     "Neither SGD nor Adam trains well as lr grows (0.0005 -> 0.5); ISGD,Adam trains well at both, max abs "
     "error below 0.2%.", 2e-3),
    ("Fig. 4, eq. 21 (Helmholtz, k = 4)", "helmholtz",
     "ISGD,Adam gives stable, accurate results; max abs error below 0.7%.", 7e-3),
)


def mean_sd(stats: dict[str, Any], fmt: str = ".3g") -> str:
    """``"mean +- sd"`` of a statistics entry of :func:`savlib.experiments.pinn.summarize`
    (``"diverged"`` when no seed has a finite value)."""
    if not stats or not stats.get("n"):
        return "diverged"
    return f"{stats['mean']:{fmt}} +- {stats['std']:{fmt}}"


def _seeds(n: int) -> str:
    return f"{n} seed" + ("s" if n != 1 else "")


def _missing(paper: str, item: str, claim: str, name: str, chapter: str, command: str) -> Row:
    return Row(paper=paper, item=item, claim=claim, measured=f"no stored result {name}: run `{command}`",
               size="-", verdict="not attempted", chapter=chapter,
               evidence=f"benchmark: {name}.json" if name == "pinn_spectrum" else f"result: {name}")


def _load(name: str):
    from ..errors import ResultError
    from ..experiments import load_result

    try:
        res = load_result(name)
    except ResultError:
        return None
    if name != "pinn_spectrum" and "provenance" not in res:
        return None             # a result made before results of record: not evidence
    return res


def _cfg(res: dict[str, Any]) -> dict[str, Any]:
    return res.get("config") or res["provenance"]["config"]


# ----------------------------------------------------------------------------- Fig. 12
def _final(summary: dict[str, Any], key: str) -> float:
    """Mean final relative L2 error of a run key; +inf when any seed diverged."""
    s = summary[key]
    if s["n_diverged"] or not s["final_rel_l2"]["n"]:
        return math.inf
    return s["final_rel_l2"]["mean"]


def _burgers_size(res: dict[str, Any]) -> str:
    cfg = _cfg(res)
    pb = cfg["problem"]
    return (f"Raissi et al. 2019's Burgers setup: {pb['n_f']} Latin-hypercube collocation points plus the 456 initial/boundary candidates, "
            f"{pb['n_u']} initial/boundary data points, {len(cfg['widths'])} x {cfg['widths'][0]} tanh, "
            f"{cfg['dtype']}, full batch; {cfg['compare_evals']} gradient evaluations per run (the paper: "
            f"200 x 60 points, 5 x 32 tanh, iterations not stated); {_seeds(len(cfg['seeds']))}")


def _ranking(fin: dict[str, float], sav: list[str], base: list[str]) -> tuple[str, str, str]:
    """Fig. 12's ranking rule on mean final errors ``fin``: "reproduced" if every SAV scheme
    ends below every baseline, "partly" if only the best SAV scheme ends below the best
    baseline, "not reproduced" otherwise; also the best of each."""
    best_sav, best_base = min(sav, key=fin.get), min(base, key=fin.get)
    if max(fin[s] for s in sav) < min(fin[s] for s in base):
        return "reproduced", best_sav, best_base
    return ("partly" if fin[best_sav] < fin[best_base] else "not reproduced"), best_sav, best_base


def burgers_rows(res: dict[str, Any]) -> list[Row]:
    """Fig. 12 of Ma, Mao & Shen 2024 from a ``pinn_burgers`` result (Raissi et al. 2019's setup,
    :func:`savlib.experiments.pinn.burgers_pinn`): the adaptive SAV schemes against the baselines
    of the same-budget comparison, at the SAV schemes' learning rate of Fig. 12(a); Fig. 12(b)
    (lr 0.001) and the claim about Adagrad and RMSprop are not part of that comparison."""
    cfg, per_key = _cfg(res), res["summary"]["per_key"]
    size = _burgers_size(res)
    fin = {}
    lr_of = {}
    for key, st in per_key.items():
        name = st["scheme"]
        if st["n_diverged"] or not st["final_rel_l2"]["n"]:
            fin[name] = math.inf
        else:
            fin[name] = st["final_rel_l2"]["mean"]
        lr_of[name] = st["lr"]
    sav = [s for s in SAV_FAMILY if s in fin]
    base = [s for s in BASELINES if s in fin]
    out = []
    paper_cmd = FIG12_COMMAND
    if sav and base:
        keys = {s: k for k, st in per_key.items() for s in [st["scheme"]]}
        verdict, best_sav, best_base = _ranking(fin, sav, base)
        spread = max((per_key[keys[s]]["final_rel_l2"]["std"] for s in (best_sav, best_base)
                      if per_key[keys[s]]["final_rel_l2"]["n"]), default=math.nan)
        gap = abs(fin[best_sav] - fin[best_base])
        others = sorted(set(fin) - set(sav) - set(base), key=fin.get)
        measured = (f"final relative L2 error after {cfg['compare_evals']} evaluations, mean +- sd over seeds: "
                    + "; ".join(f"{s} (lr {lr_of[s]:g}) {mean_sd(per_key[keys[s]]['final_rel_l2'])}"
                                for s in sav + base)
                    + ". Also run: " + "; ".join(f"{s} (lr {lr_of[s]:g}) {mean_sd(per_key[keys[s]]['final_rel_l2'])}"
                                                for s in others)
                    + f". Lowest of all: {min(fin, key=fin.get)}."
                    + (" The gap between the best SAV scheme and the best baseline is within one seed standard "
                       "deviation." if math.isfinite(gap) and gap <= spread else ""))
        missing = [s for s in BASELINES if s not in fin]
        out.append(Row(
            paper="ma2024sav", item="Example 5, Fig. 12(a)", claim=BURGERS_CLAIMS[0.01], measured=measured,
            size=size + (f"; baselines run: {', '.join(f'{s} at lr {lr_of[s]:g}' for s in base)}"
                         + (f"; not run: {', '.join(missing)}" if missing else "")),
            verdict=verdict, chapter=CHAPTER_TRAINING, evidence="result: pinn_burgers",
            notes="reproduced if each of A-SAV, A-ResSAV, A-RelSAV ends (mean over seeds, equal gradient "
                  "evaluations, same full batch) below each baseline of the comparison (Adam, Adagrad, RMSprop "
                  "where run); partly if only the best SAV scheme ends below the best baseline; not reproduced "
                  "otherwise (a scheme with a diverged seed counts as worst). The paper's error values are only "
                  "drawn, so the comparison is a ranking."))
    else:
        out.append(_missing("ma2024sav", "Example 5, Fig. 12(a)", BURGERS_CLAIMS[0.01], "pinn_burgers",
                            CHAPTER_TRAINING, "python -m savlib.experiments pinn_burgers --full --out benchmarks/results"))
    out.append(Row(paper="ma2024sav", item="Example 5, Fig. 12(b)", claim=BURGERS_CLAIMS[0.001],
                   measured=f"not run: the comparison of record runs each scheme at one rate (A-SAV family at "
                            f"0.01); `{paper_cmd}` runs both rates at the paper's size",
                   size="-", verdict="not attempted", chapter=CHAPTER_TRAINING, evidence="result: pinn_burgers"))
    out.append(Row(paper="ma2024sav", item="Example 5, text on Fig. 12(a)",
                   claim=FIG12_TEXT_CLAIM,
                   measured=f"not run: Adagrad and RMSprop are not in the comparison of record; `{paper_cmd}` "
                            "runs them", size="-", verdict="not attempted", chapter=CHAPTER_TRAINING,
                   evidence="result: pinn_burgers"))
    return out


def _fig12_size(res: dict[str, Any]) -> str:
    cfg = _cfg(res)
    return (f"Ma, Mao & Shen 2024's setup: {cfg['nx']} x {cfg['nt']} grid of residual points, "
            f"{cfg['n_initial']} initial and {cfg['n_boundary']} boundary points, "
            f"{len(cfg['widths'])} x {cfg['widths'][0]} tanh, {cfg['dtype']}, full batch; "
            f"{cfg['evals']} gradient evaluations per run (the paper does not state its count); "
            f"{_seeds(len(cfg['seeds']))}")


#: the command of the Fig. 12 result of record (the paper's points and network; 2000
#: evaluations per run fit in about an hour of one CPU core for 36 runs)
FIG12_COMMAND = "python -m savlib.experiments pinn_burgers_paper --full --set evals=2000 --out benchmarks/results"
#: the claim of Example 5's text on Fig. 12(a)
FIG12_TEXT_CLAIM = "At the large learning rate lr = 0.01, Adagrad and RMSprop do not converge."
#: Fig. 12's text: a scheme "does not converge" when a seed diverges or when, on the mean
#: over the seeds, it removes less than this share of the initial network's error
NO_PROGRESS = 0.1


def _mean_errors(per_seed: dict[str, Any]) -> tuple[float, float]:
    """The initial network's and the final relative L2 error, each a mean over the seeds."""
    rs = list(per_seed.values())
    return (sum(r["test_rel_l2"][0] for r in rs) / len(rs), sum(r["final_test_rel_l2"] for r in rs) / len(rs))


def _no_progress(per_seed: dict[str, Any]) -> bool:
    if any(r["diverged"] for r in per_seed.values()):
        return True
    first, final = _mean_errors(per_seed)
    return final >= (1.0 - NO_PROGRESS) * first


def fig12_rows(res: dict[str, Any]) -> list[Row]:
    """Fig. 12 of Ma, Mao & Shen 2024 (Example 5) from a ``pinn_burgers_paper`` result
    (:func:`savlib.experiments.pinn.burgers_fig12`: their points and network, every scheme at
    both learning rates): Fig. 12(a) at lr 0.01, Fig. 12(b) at lr 0.001, each ranked by the
    rule of :func:`burgers_rows`, and the text's claim that Adagrad and RMSprop do not converge
    at lr 0.01 (rule: :data:`NO_PROGRESS`)."""
    summ = res.get("summary") or {}
    size = _fig12_size(res)
    evals = _cfg(res)["evals"]
    out = []
    for lr, part in ((0.01, "a"), (0.001, "b")):
        item = f"Example 5, Fig. 12({part})"
        keys = {st["scheme"]: k for k, st in summ.items() if st["lr"] == lr}
        sav = [s for s in SAV_FAMILY if s in keys]
        base = [s for s in BASELINES if s in keys]
        if not sav or not base:
            out.append(_missing("ma2024sav", item, BURGERS_CLAIMS[lr], "pinn_burgers_paper", CHAPTER_TRAINING,
                                FIG12_COMMAND))
            continue
        fin = {s: _final(summ, keys[s]) for s in sav + base}
        verdict, best_sav, best_base = _ranking(fin, sav, base)
        measured = (f"final relative L2 error after {evals} evaluations at lr {lr:g}, mean +- sd over seeds: "
                    + "; ".join(f"{s} {mean_sd(summ[keys[s]]['final_rel_l2'])}"
                                + (f" ({summ[keys[s]]['n_diverged']} diverged)" if summ[keys[s]]["n_diverged"] else "")
                                for s in sav + base)
                    + f". Lowest: {min(fin, key=fin.get)}.")
        out.append(Row(
            paper="ma2024sav", item=item, claim=BURGERS_CLAIMS[lr], measured=measured, size=size,
            verdict=verdict, chapter=CHAPTER_TRAINING, evidence="result: pinn_burgers_paper",
            notes="reproduced if each of A-SAV, A-ResSAV, A-RelSAV ends (mean final relative L2 over seeds, "
                  "equal gradient evaluations, same full batch, same learning rate) below each of Adam, Adagrad "
                  "and RMSprop; partly if only the best SAV scheme ends below the best of them; not reproduced "
                  "otherwise (a scheme with a diverged seed counts as worst). The paper's error values are only "
                  "drawn, so the comparison is a ranking; 'faster' is not scored."))
    runs = res.get("runs") or {}
    fails = {s: _no_progress(runs[k]) for k, st in summ.items() for s in [st["scheme"]]
             if st["lr"] == 0.01 and s in ("Adagrad", "RMSprop")}
    claim = FIG12_TEXT_CLAIM
    if len(fails) < 2:
        out.append(_missing("ma2024sav", "Example 5, text on Fig. 12(a)", claim, "pinn_burgers_paper",
                            CHAPTER_TRAINING, FIG12_COMMAND))
        return out
    n_fail = sum(fails.values())
    def removed(k: str) -> str:
        if any(r["diverged"] for r in runs[k].values()):
            return f"{summ[k]['n_diverged']} of {len(runs[k])} seeds diverged"
        first, final = _mean_errors(runs[k])
        return (f"from {first:.3g} (initial network) to {mean_sd(summ[k]['final_rel_l2'])}: "
                f"{1 - final / first:.0%} of the error removed")

    measured = "; ".join(f"{s} {removed(k)}" for k, st in summ.items() for s in [st["scheme"]]
                         if st["lr"] == 0.01 and s in fails)
    out.append(Row(
        paper="ma2024sav", item="Example 5, text on Fig. 12(a)", claim=claim,
        measured=f"relative L2 error, means over seeds after {evals} evaluations: {measured}", size=size,
        verdict="reproduced" if n_fail == 2 else ("partly" if n_fail == 1 else "not reproduced"),
        chapter=CHAPTER_TRAINING, evidence="result: pinn_burgers_paper",
        notes=f"a scheme does not converge when a seed diverges or when its mean final relative L2 error is "
              f"above {1 - NO_PROGRESS:g} times the initial network's (it removed less than "
              f"{NO_PROGRESS:.0%} of the error); reproduced if both Adagrad and RMSprop do not converge at "
              f"lr 0.01, partly if one does not, not reproduced otherwise."))
    return out


# ----------------------------------------------------------------------------- Figs. 2-4, Table 1
def isgd_rows(res: dict[str, Any]) -> list[Row]:
    """Figs. 2-4 of Li et al. 2023 from a ``pinn_isgd`` result, one row per figure (Fig. 2 split by
    eps)."""
    cfg, summ = _cfg(res), res["summary"]
    n_seeds = len(cfg["seeds"])
    out = []
    for item, p, claim, paper_abs in ISGD_FIGS:
        if p not in cfg["problems"]:
            continue
        pc = cfg["problems"][p]
        lo, hi = pc["lrs"]
        kw = pc["kw"]
        pts = f"N = {kw['n_f']}" if "n_b" not in kw else f"N_f = {kw['n_f']}, N_b = {kw['n_b']} (paper 4000, 400)"
        size = (f"{pts}, {len(pc['widths'])} x {pc['widths'][0]} tanh, {pc['evals']} gradient evaluations per run "
                f"(paper, Table 1: {_paper_iters(p)}), {_seeds(n_seeds)}")
        metric = "final_rel_l2" if paper_abs is None else "final_max_abs"

        def val(lr, s):
            st = summ[f"{p}|lr={lr:g}|{s}"]
            return math.inf if st["n_diverged"] or not st[metric]["n"] else st[metric]["mean"]

        schemes = [s for s in cfg["schemes"] if f"{p}|lr={hi:g}|{s}" in summ]
        if "ISGD,Adam" not in schemes:
            continue
        ranked = sorted(schemes, key=lambda s: val(hi, s))
        best_hi = ranked[0]
        isgd = val(hi, "ISGD,Adam")
        target = ODE_CONVERGED if paper_abs is None else ABS_ERROR_FACTOR * paper_abs
        # separated: the runner-up's mean is above ISGD,Adam's by more than the larger standard deviation
        second = ranked[1] if len(ranked) > 1 else None
        separated = second is None or not math.isfinite(val(hi, second)) or (
            val(hi, second) - isgd > max(summ[f"{p}|lr={hi:g}|{s}"][metric]["std"] for s in ("ISGD,Adam", second)))
        best_lo = min(schemes, key=lambda s: val(lo, s))
        if best_hi == "ISGD,Adam" and isgd < target and best_lo == "ISGD,Adam":
            verdict = "reproduced"
        elif best_hi == "ISGD,Adam" and (isgd < target or (math.isfinite(isgd) and separated)):
            verdict = "partly"
        else:
            verdict = "not reproduced"
        name = "relative L2" if paper_abs is None else "max abs error"
        parts = []
        for lr in (hi, lo):
            cells = []
            for s in schemes:
                st = summ[f"{p}|lr={lr:g}|{s}"]
                txt = mean_sd(st[metric])
                if st["n_diverged"]:
                    txt = (f"diverged in {st['n_diverged']}/{st['n_seeds']} seeds" if st["n_diverged"] == st["n_seeds"]
                           else f"{txt} ({st['n_diverged']}/{st['n_seeds']} seeds diverged)")
                cells.append(f"{s} {txt}")
            parts.append(f"lr {lr:g}: " + ", ".join(cells))
        measured = (f"final {name}, mean +- sd over seeds. " + "; ".join(parts)
                    + f". Lowest at lr {hi:g}: {best_hi}; at lr {lo:g}: {best_lo}"
                    + (f". Paper: below {paper_abs:g}." if paper_abs is not None else "."))
        out.append(Row(
            paper="li2023isgd", item=item, claim=claim, measured=measured, size=size, verdict=verdict,
            chapter=CHAPTER_TRAINING, evidence="result: pinn_isgd",
            notes=(f"reproduced if at lr {hi:g} ISGD,Adam ends with the lowest mean final {name} of "
                   f"{', '.join(schemes)} (a scheme with a diverged seed counts as worst) and that mean is below "
                   + (f"{ODE_CONVERGED:g} (converged)" if paper_abs is None else
                      f"{ABS_ERROR_FACTOR:g} x the paper's {paper_abs:g}")
                   + f", and it also ends lowest at lr {lo:g}; partly if only the lr {hi:g} condition holds, or if "
                   f"at lr {hi:g} it ends lowest, above that threshold, but separated from the runner-up by more than "
                   "the larger of their standard deviations over seeds (stable where the others diverge or stall); "
                   "not reproduced otherwise.")))
    return out


def _paper_iters(p: str) -> str:
    from ..experiments.pinn import PAPER_ISGD

    it = PAPER_ISGD.get(p, {})
    return f"Adam {it.get('iterations_adam', 0):,}, ISGD,Adam {it.get('iterations_isgd', 0):,} iterations"


def table1_row(res: dict[str, Any] | None) -> Row:
    """Table 1 (iterations each optimizer needs to reach the reported accuracy): not attempted at
    our budgets; ``measured`` states the budgets as a share of the paper's and on how many
    problems any run reached the accuracy the figure rows ask for."""
    from ..experiments.pinn import PAPER_ISGD

    claim = ("Table 1: ISGD,Adam reaches the reported accuracy in fewer iterations than SGD/Adam "
             "(ODE eps = 2: 102,000 vs 120,000; eps = 0.01: 360,000 vs 400,000; Poisson: 1,100,000 vs "
             "2,000,000; Helmholtz: 550,000 vs 1,000,000).")
    if res is None:
        measured = "no stored result pinn_isgd"
    else:
        cfg, summ = _cfg(res), res["summary"]
        shares = [100 * c["evals"] / PAPER_ISGD[p]["iterations_isgd"] for p, c in cfg["problems"].items()
                  if PAPER_ISGD.get(p, {}).get("iterations_isgd")]
        reached = 0
        for _, p, _, paper_abs in ISGD_FIGS:
            if p not in cfg["problems"]:
                continue
            metric = "final_rel_l2" if paper_abs is None else "final_max_abs"
            target = ODE_CONVERGED if paper_abs is None else ABS_ERROR_FACTOR * paper_abs
            reached += any(st[metric]["n"] and st[metric]["mean"] < target
                           for k, st in summ.items() if k.startswith(p + "|"))
        measured = ("not run at these iteration counts: our budgets are "
                    + ", ".join(f"{p} {c['evals']}" for p, c in cfg["problems"].items())
                    + f" gradient evaluations per run ({min(shares):.2g}-{max(shares):.2g}% of the paper's ISGD,Adam "
                    f"iterations); on {reached} of {len(cfg['problems'])} problems some scheme reached the accuracy "
                    "the figure rows use, so iterations-to-accuracy cannot be compared. A GPU run of "
                    "`python -m savlib.experiments pinn_isgd_paper --full` would measure it.")
    return Row(paper="li2023isgd", item="Table 1", claim=claim, measured=measured, size="-", verdict="not attempted",
               chapter=CHAPTER_TRAINING, evidence="result: pinn_isgd",
               notes="needs 1e5-2e6 iterations per run; out of reach on the project's CPU.")


# ----------------------------------------------------------------------------- Fig. 1
def spectrum_rows(bench: dict[str, Any] | None, sweep: dict[str, Any] | None) -> list[Row]:
    """Fig. 1 of Li et al. 2023: the largest Hessian eigenvalues (paper-size network, benchmark
    ``pinn_spectrum``), the smooth-vs-multi-scale gap over seeds (``pinn_stiffness``), and Adam's
    failure on ``u_H``."""
    out = []
    claim_vals = ("Fig. 1: for the 5 x 200 tanh PINN (N_r = 1000) trained by Adam, the largest Hessian eigenvalue "
                  "is 1.1e4 for u_L = sin(2 pi x) and 4.6e8 for u_H = u_L + 0.1 sin(50 pi x) (ratio 4.2e4).")
    if bench is None:
        out.append(_missing("li2023isgd", "Fig. 1 (eigenvalues)", claim_vals, "pinn_spectrum", CHAPTER_STIFFNESS,
                            "python benchmarks/pinn_spectrum.py"))
    else:
        r = {x["problem"]: x for x in bench["results"]}
        lam_l, lam_h = r["u_L"]["trained"]["top"][0], r["u_H"]["trained"]["top"][0]
        ratio = lam_h / lam_l
        within = all(abs(math.log10(m / p)) <= 1 for m, p in ((lam_l, 1.1e4), (lam_h, 4.6e8)))
        verdict = ("reproduced" if ratio >= 1e3 and within else "partly" if ratio >= 1e3 else "not reproduced")
        out.append(Row(
            paper="li2023isgd", item="Fig. 1 (eigenvalues)", claim=claim_vals,
            measured=(f"lambda_max after {r['u_L']['adam_steps']} Adam steps: u_L {lam_l:.2g}, u_H {lam_h:.2g}, "
                      f"ratio {ratio:.2g} (at initialisation: {r['u_L']['init']['top'][0]:.2g}, "
                      f"{r['u_H']['init']['top'][0]:.2g}); Lanczos, top 5 converged: "
                      f"{r['u_L']['trained']['converged'] and r['u_H']['trained']['converged']}"),
            size=(f"{len(r['u_L']['widths'])} x {r['u_L']['widths'][0]} tanh ({r['u_L']['params']} parameters, "
                  f"the paper's network), N_r = 1000, {r['u_L']['adam_steps']} Adam steps (paper: up to 1e7 epochs; "
                  "the paper does not say where the spectrum was taken), one seed"),
            verdict=verdict, chapter=CHAPTER_STIFFNESS, evidence="benchmark: pinn_spectrum.json",
            notes="reproduced if the ratio is at least 1e3 and each eigenvalue is within a factor 10 of the "
                  "paper's; partly if only the ratio is at least 1e3; not reproduced otherwise."))
        fit_l, fit_h = r["u_L"]["relative_l2_after_adam"], r["u_H"]["relative_l2_after_adam"]
        adam_claim = ("Fig. 1 / sec. 2.2: Adam trains the PINN well for u_L but fails on the multi-scale u_H, "
                      "even after a million epochs.")
        out.append(Row(
            paper="li2023isgd", item="Fig. 1 (Adam on u_L vs u_H)", claim=adam_claim,
            measured=(f"relative L2 error after {r['u_L']['adam_steps']} Adam steps: u_L {fit_l:.2g}, u_H {fit_h:.2g}"
                      + _sweep_fit(sweep)),
            size=(f"paper's network, {r['u_L']['adam_steps']} Adam steps, one seed"
                  + (_sweep_size(sweep) if sweep is not None else "")),
            verdict=("reproduced" if fit_l < 0.1 and fit_h > 0.5 else "partly" if fit_h > 0.5 else "not reproduced"),
            chapter=CHAPTER_STIFFNESS, evidence="benchmark: pinn_spectrum.json",
            notes="reproduced if Adam's relative L2 error is below 0.1 on u_L and above 0.5 on u_H (paper-size "
                  "benchmark); partly if only u_H fails; not reproduced otherwise. Only thousands of steps, "
                  "not the paper's millions."))
    claim_gap = ("Sec. 2.2: as the solution changes from smooth to multi-scale, the largest Hessian eigenvalue "
                 "rises significantly (1.1e4 to 4.6e8) and the gradient flow becomes stiff.")
    if sweep is None:
        out.append(_missing("li2023isgd", "Fig. 1 / sec. 2.2 (gap over seeds)", claim_gap, "pinn_stiffness",
                            CHAPTER_STIFFNESS, "python -m savlib.experiments pinn_stiffness --full --out benchmarks/results"))
    else:
        cfg = _cfg(sweep)
        per_seed = sweep["runs"]
        m = 50 if "50" in per_seed else max(int(k) for k in per_seed)
        ratios = [per_seed[str(m)][s]["adam"]["lambda_max"] / per_seed["0"][s]["adam"]["lambda_max"]
                  for s in per_seed["0"]]
        ratios_init = [per_seed[str(m)][s]["init"]["lambda_max"] / per_seed["0"][s]["init"]["lambda_max"]
                       for s in per_seed["0"]]
        lo = min(ratios)
        verdict = "reproduced" if lo >= 1e3 else "partly" if lo >= 10 else "not reproduced"
        out.append(Row(
            paper="li2023isgd", item="Fig. 1 / sec. 2.2 (gap over seeds)", claim=claim_gap,
            measured=(f"lambda_max(m = {m}) / lambda_max(u_L) after {cfg['steps']} Adam steps, per seed: "
                      + ", ".join(f"{v:.3g}" for v in ratios)
                      + "; at initialisation: " + ", ".join(f"{v:.3g}" for v in ratios_init)),
            size=_sweep_size(sweep).lstrip("; "), verdict=verdict, chapter=CHAPTER_STIFFNESS,
            evidence="result: pinn_stiffness",
            notes="reproduced if the ratio after Adam is at least 1e3 for every seed (the paper's is 4.2e4); "
                  "partly if at least 10 for every seed; not reproduced otherwise."))
    return out


def _sweep_size(sweep: dict[str, Any]) -> str:
    cfg = _cfg(sweep)
    return (f"; sweep: 1-{'-'.join(map(str, cfg['widths']))}-1 tanh, N_r = {cfg['n_f']}, {cfg['steps']} Adam "
            f"steps, {_seeds(len(cfg['seeds']))}")


def _sweep_fit(sweep: dict[str, Any] | None) -> str:
    if sweep is None:
        return ""
    s = sweep["summary"]["per_freq"]
    m = "50" if "50" in s else max(s, key=int)
    return (f"; smaller network over seeds: u_L {mean_sd(s['0']['rel_l2'])}, m = {m} {mean_sd(s[m]['rel_l2'])}")


#: the claim of the row "Fig. 1 (ISGD at lr 0.1)"
FIG1B_CLAIM = ("with the same network, implicit SGD at learning rate 0.1 trains the multi-scale u_H, where "
               "Adam and L-BFGS fail (Fig. 1b).")


def isgd_fig1_row(res: dict[str, Any]) -> Row:
    """Li, Chen & Huang 2023, Fig. 1: at lr 0.1 implicit SGD trains the multi-scale u_H where
    Adam and L-BFGS fail, from an ``isgd_fig1`` result (the rule of "trains":
    :data:`savlib.experiments.pinn_isgd.TRAINED_REL_L2`)."""

    err = fig1_errors(res)
    opts = sorted({o for _, o in err})
    verdict = fig1b_verdict(res)
    measured = "; ".join(f"{p}: " + ", ".join(f"{o} {err[p, o]:.2g}" for o in opts) for p in ("u_L", "u_H"))
    return Row(
        paper="li2023isgd", item="Fig. 1 (ISGD at lr 0.1)",
        claim=FIG1B_CLAIM,
        measured=f"median final relative L2 over seeds: {measured}",
        size=_fig1_size(res),
        verdict=verdict, chapter=CHAPTER_ISGD, evidence="result: isgd_fig1",
        notes=(f"a method trains a problem when its median final relative L2 is below {TRAINED_REL_L2:g}; "
               "reproduced if ISGD trains u_H while Adam and L-BFGS (torch's defaults) do not, partly if ISGD "
               "trains it and so does one of them, not reproduced if ISGD does not train it "
               "(savlib.experiments.pinn_isgd.fig1b_verdict)."))


# ----------------------------------------------------------------------------- the ISGD chapter
_ISGD_CMD = "python -m savlib.experiments {} --full --out benchmarks/results"

#: (item, claim) of the rows of the chapter "Implicit SGD against its claims", in its order
ISGD_CHAPTER_CLAIMS = {
    "eq8": ("Eq. 8 (ISGD step)",
            "the implicit step contracts the loss of the stiff example (K = 1e-4, 1e4) at every rate, by at "
            "most max 1/(1 + alpha K)^2."),
    "theorem1": ("Theorem 1",
                 "Theorem 1 (eq. 18): for m large and alpha small, implicit GD on the two-layer network of "
                 "eq. 13 satisfies L(n) <= (1 + alpha lambda_0 / 2)^(-n) L(0)."),
    "fig1a": ("Fig. 1a", "Fig. 1a: Adam, L-BFGS and ISGD (lr 0.1) all train u_L."),
    "fair": ("Sec. 4.1 (same batch)",
             "ISGD trains the ODE of eq. 19 at eps = 2 better than SGD and Adam (Fig. 2; the paper runs ISGD on "
             "the full batch, SGD and Adam on batches of 40)."),
    "poisson2d": ("Sec. 4.2 (accuracy)",
                  "the 2-D Poisson problem (eq. 20, Fig. 3) reaches a max abs error below 2e-3 (0.2%) after "
                  "1.1e6 iterations."),
    "helmholtz": ("Sec. 4.3 (accuracy)",
                  "the Helmholtz problem (eq. 21, Fig. 4) reaches a max abs error below 7e-3 (0.7%) after "
                  "5.5e5 iterations."),
    "ode": ("Sec. 4.1 (eps = 0.01 solved)",
            "the ODE of eq. 19 at eps = 0.01 is solved: a converged solution after 3.6e5 iterations (Fig. 2)."),
    "cost": ("Sec. 2.4 (cost)", "the computational cost of ISGD is comparable to Adam's."),
}


def _isgd_row(key: str, measured: str, size: str, verdict: str, evidence: str, notes: str) -> Row:
    item, claim = ISGD_CHAPTER_CLAIMS[key]
    return Row(paper="li2023isgd", item=item, claim=claim, measured=measured, size=size, verdict=verdict,
               chapter=CHAPTER_ISGD, evidence=evidence, notes=notes)


def _isgd_missing(key: str, name: str) -> Row:
    item, claim = ISGD_CHAPTER_CLAIMS[key]
    return _missing("li2023isgd", item, claim, name, CHAPTER_ISGD, _ISGD_CMD.format(name))


def _short(x: float) -> str:
    """``1e-4`` and ``1e4`` rather than ``0.0001`` and ``10000``."""
    return f"{x:.0e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


def isgd_eq8_row(check: dict[str, Any]) -> Row:
    """Eq. 8 of Li, Chen & Huang 2023 from :func:`savlib.experiments.pinn_isgd.eq8_check` (run live,
    about a second), judged by :func:`~savlib.experiments.pinn_isgd.eq8_verdict`."""

    a = check["alphas"]
    gd = check["gd_factor"]
    measured = ((f"measured ratio <= bound at alpha = {_short(a[0])} to {_short(a[-1])}" if check["within_bound"] else
                 f"the measured ratio exceeds the bound (largest ratio / bound {check['max_ratio_over_bound']:.3g})")
                + (f" (equal from {_short(min(check['equal']))} on)" if check["equal"] else "")
                + ("; the loss falls at every rate" if check["falls"] else "; the loss does not fall at every rate")
                + "; GD's factor (eq. 7) at these rates " + ", ".join(f"{gd[x]:.1e}" for x in a)
                + f"; largest distance from the closed-form step {check['max_step_error']:.0e} of its length")
    size = (f"K = {', '.join(_short(k) for k in check['eigs'])}, float64, {check['steps']} implicit steps per rate, "
            f"inner tolerance {check['inner_tol']:g}")
    return _isgd_row("eq8", measured, size, check["verdict"],
                     "check: savlib's ISGD against the closed-form implicit step (quadratic_check)",
                     f"reproduced if at every rate the largest measured loss ratio is below 1 and at most the bound "
                     f"of eq. 8 (relative slack {EQ8_SLACK:g}); partly if the loss falls at every rate but exceeds the "
                     "bound at some rate; not reproduced if it does not fall at some rate "
                     "(savlib.experiments.pinn_isgd.eq8_verdict).")


def isgd_theorem1_row(th: dict[str, Any]) -> Row:
    """Theorem 1 of Li, Chen & Huang 2023 from a :func:`savlib.experiments.pinn_isgd.theorem1_check`
    result, judged by :func:`~savlib.experiments.pinn_isgd.theorem1_verdict`."""

    v = theorem1_verdict(th)
    steps = len(next(iter(th["runs"].values()))["losses"]) - 1
    measured = (f"{'holds' if v['verdict'] == 'reproduced' else 'fails'} at {len(v['alphas'])} rates up to "
                f"alpha = {max(v['alphas']):g}; largest L(n)/bound {v['max_loss_over_bound']:.2f}; "
                f"lambda_0 = {th['lambda0']:.2e}, |H(0) - H_inf| = {th['H0_minus_Hinf']:.1e} (Lemma 2 asks for "
                "less than lambda_0 / 4)")
    size = (f"m = {th['m']} tanh units, {th['n']} points, float64, {steps} implicit steps per rate, lambda_0 by "
            f"Monte Carlo over {th['mc_samples']:.0e} draws")
    return _isgd_row("theorem1", measured, size, v["verdict"],
                     "check: implicit GD on the two-layer network of eq. 13 (theorem1_check)",
                     "reproduced if L(n) is at most the bound of eq. 18 at every step of every rate run, not "
                     "reproduced otherwise (savlib.experiments.pinn_isgd.theorem1_verdict).")


def _budget_size(res: dict[str, Any], points: str) -> str:
    """The size of an ``isgd_fig1`` / ``isgd_fair`` result; ``points`` names its collocation
    points from the configuration's ``n_f``."""
    cfg = res["provenance"]["config"]
    return (f"{len(cfg['widths'])} x {cfg['widths'][0]} tanh, {points.format(n=cfg['n_f'])}, full batch, "
            f"{cfg['budget']} gradient evaluations per run, {_seeds(len(cfg['seeds']))}")


def _fig1_size(res: dict[str, Any]) -> str:
    return _budget_size(res, "N_r = {n}")


def isgd_fig1a_row(res: dict[str, Any]) -> Row:
    """Fig. 1a of Li, Chen & Huang 2023 from an ``isgd_fig1`` result, judged by
    :func:`savlib.experiments.pinn_isgd.fig1a_verdict`."""

    v = fig1a_verdict(res)
    measured = "median final relative L2 over seeds: " + ", ".join(f"{o} {e:.1e}" for o, e in v["errors"].items())
    return _isgd_row("fig1a", measured, _fig1_size(res), v["verdict"], "result: isgd_fig1",
                     f"a method trains u_L when its median final relative L2 is below {TRAINED_REL_L2:g}; reproduced "
                     "if Adam (lr 1e-3), L-BFGS (torch's defaults) and ISGD (lr 0.1) all train it, partly if one or "
                     "two of them do, not reproduced if none does (savlib.experiments.pinn_isgd.fig1a_verdict).")


def _fair_size(res: dict[str, Any]) -> str:
    return _budget_size(res, "{n} points")


def isgd_fair_row(res: dict[str, Any]) -> Row:
    """Sec. 4.1 of Li, Chen & Huang 2023 at the same batch and budget, from an ``isgd_fair``
    result, judged by :func:`savlib.experiments.pinn_isgd.fair_verdict`."""

    v = fair_verdict(res)
    err = v["errors"]
    measured = (f"median final relative L2 over seeds, same batch and budget: ISGD at the paper's alpha = 0.5 "
                f"{v['isgd_paper']:.1e}, best ISGD ({v['best_isgd']}) {err[v['best_isgd']]:.1e}, best of "
                f"SGD/Adam/A-SAV ({v['best_explicit']}) {err[v['best_explicit']]:.1e}"
                + "".join(f", {o} {e:.1e}" for o, e in v["lbfgs"].items()))
    return _isgd_row("fair", measured, _fair_size(res), v["verdict"], "result: isgd_fair",
                     f"on the ODE at eps = 2: reproduced if ISGD at alpha = 0.5 ends with a median final relative "
                     f"L2 error below 1/{ISGD_GAIN:g} of the best of SGD, Adam and A-SAV (each at every rate run); "
                     f"partly if only ISGD at its best rate does; not reproduced otherwise "
                     "(savlib.experiments.pinn_isgd.fair_verdict).")


def isgd_accuracy_row(acc: dict[str, Any], long: dict[str, Any] | None, problem: str) -> Row:
    """Sec. 4.2 (``problem="poisson2d"``) or 4.3 (``"helmholtz"``) of Li, Chen & Huang 2023 from an
    ``isgd_accuracy`` result (and ``isgd_long``, shown but not judged), judged by
    :func:`savlib.experiments.pinn_isgd.accuracy_verdict`."""

    v = accuracy_verdict(acc, long, problem)
    plan = {f"{p['problem']}|{p['variant']}": p for p in acc["provenance"]["config"]["plan"]}
    best = plan[f"{problem}|{v['best']}"]
    measured = (f"median max abs error {v['best_max_abs']:.1e} (best variant: {v['best']}); literal setup "
                f"{v['literal_max_abs']:.1e} after {v['literal_budget']} evaluations"
                + (f"; best variant after {v['long_evals']} evaluations (one seed) {v['long_max_abs']:.1e}"
                   if "long_evals" in v else "; no stored result isgd_long"))
    lit = next(p for p in plan.values() if p["problem"] == problem and p["variant"].startswith("paper"))
    size = (f"best variant: {best['budget']} gradient evaluations per run, {_seeds(v['n_seeds'])}; literal setup "
            f"({len(lit['widths'])} x {lit['widths'][0]} tanh, the paper's points, {lit['phases'][0][0]}, "
            f"{lit['dtype']}): {_seeds(lit['seeds'])} (paper: {PAPER_ACCURACY[problem]['iterations']:,} iterations)")
    return _isgd_row(problem, measured, size, v["verdict"], "result: isgd_accuracy",
                     f"reproduced if the best variant run on every seed has a median final max abs error within "
                     f"{ACCURACY_FACTOR:g} times the paper's {v['target']:g}, partly if within {ACCURACY_PARTLY:g} "
                     "times it, not reproduced "
                     "otherwise; the longer run (isgd_long, one seed) is shown, not judged "
                     "(savlib.experiments.pinn_isgd.accuracy_verdict).")


def isgd_ode_row(acc: dict[str, Any]) -> Row:
    """The ODE of eq. 19 at eps = 0.01 solved (Li, Chen & Huang 2023, sec. 4.1), from an
    ``isgd_accuracy`` result, judged by :func:`savlib.experiments.pinn_isgd.ode_verdict`."""
    import inspect

    from ..problems.pinn import PerturbedODE

    v = ode_verdict(acc)
    p = next(x for x in acc["provenance"]["config"]["plan"]
             if x["problem"] == "ode_eps0.01" and x["variant"] == v["best"])
    measured = f"median relative L2 {v['rel_l2']:.1e}, max abs {v['max_abs']:.1e} (best variant: {v['best']})"
    n_f = p["kw"].get("n_f", inspect.signature(PerturbedODE).parameters["n_f"].default)
    size = (f"{len(p['widths'])} x {p['widths'][0]} tanh, {n_f} points, {p['dtype']}, {p['budget']} "
            f"gradient evaluations per run, {_seeds(v['n_seeds'])}")
    return _isgd_row("ode", measured, size, v["verdict"], "result: isgd_accuracy",
                     f"reproduced if the variant with the lowest median max abs error has a median final relative "
                     f"L2 error below {ODE_SOLVED:g}, not reproduced otherwise "
                     "(savlib.experiments.pinn_isgd.ode_verdict).")


def isgd_cost_row(res: dict[str, Any]) -> Row:
    """Sec. 2.4 of Li, Chen & Huang 2023 (cost comparable to Adam's) from an ``isgd_fair`` result,
    judged by :func:`savlib.experiments.pinn_isgd.cost_verdict`."""

    v = cost_verdict(res)
    measured = (f"{1e3 * v['isgd_sec']:.1f} ms per gradient evaluation ({v['isgd']}) against Adam's "
                f"{1e3 * v['adam_sec']:.1f}; one ISGD step is many evaluations")
    return _isgd_row("cost", measured, _fair_size(res) + ", one core of a shared machine", v["verdict"],
                     "result: isgd_fair",
                     f"the paper counts the inner iterations as iterations (time proportional to them, its sec. 4), "
                     f"so the measure is optimizer seconds per gradient evaluation, mean over problems and seeds; "
                     f"reproduced if the best ISGD rate on the ODE at eps = 2 costs less than {COST_FACTOR:g} times "
                     "Adam at lr 1e-3, not reproduced otherwise (savlib.experiments.pinn_isgd.cost_verdict).")


def isgd_chapter_rows(fig1: dict[str, Any] | None, fair: dict[str, Any] | None, acc: dict[str, Any] | None,
                      long: dict[str, Any] | None, eq8: dict[str, Any], th: dict[str, Any]) -> list[Row]:
    """Every row of the chapter "Implicit SGD against its claims" (``book/pinns/isgd``), in its
    order, from the stored results ``isgd_fig1``, ``isgd_fair``, ``isgd_accuracy`` and ``isgd_long``
    (``None`` when missing: "not attempted" with the command) and the live checks ``eq8``
    (:func:`~savlib.experiments.pinn_isgd.eq8_check`) and ``th``
    (:func:`~savlib.experiments.pinn_isgd.theorem1_check`)."""
    out = [isgd_eq8_row(eq8), isgd_theorem1_row(th)]
    if fig1 is None:
        out += [_isgd_missing("fig1a", "isgd_fig1"),
                _missing("li2023isgd", "Fig. 1 (ISGD at lr 0.1)", FIG1B_CLAIM, "isgd_fig1",
                         CHAPTER_ISGD, _ISGD_CMD.format("isgd_fig1"))]
    else:
        out += [isgd_fig1a_row(fig1), isgd_fig1_row(fig1)]
    out.append(_isgd_missing("fair", "isgd_fair") if fair is None else isgd_fair_row(fair))
    for p in ("poisson2d", "helmholtz"):
        out.append(_isgd_missing(p, "isgd_accuracy") if acc is None else isgd_accuracy_row(acc, long, p))
    out.append(_isgd_missing("ode", "isgd_accuracy") if acc is None else isgd_ode_row(acc))
    out.append(_isgd_missing("cost", "isgd_fair") if fair is None else isgd_cost_row(fair))
    return out


# ----------------------------------------------------------------------------- all rows
def rows() -> list[Row]:
    """Every PINN row, from the stored results (missing results give "not attempted")."""
    out = spectrum_rows(_load("pinn_spectrum"), _load("pinn_stiffness"))
    burgers, fig12 = _load("pinn_burgers"), _load("pinn_burgers_paper")
    if fig12 is not None:       # Fig. 12 in the paper's own setup, at both rates
        out += fig12_rows(fig12)
    elif burgers is None:
        out += [_missing("ma2024sav", f"Example 5, Fig. 12({k})", c, "pinn_burgers", CHAPTER_TRAINING,
                         "python -m savlib.experiments pinn_burgers --full --out benchmarks/results")
                for k, c in zip("ab", BURGERS_CLAIMS.values())]
    else:
        out += burgers_rows(burgers)
    isgd = _load("pinn_isgd")
    if isgd is None:
        out += [_missing("li2023isgd", item, claim, "pinn_isgd", CHAPTER_TRAINING,
                         "python -m savlib.experiments pinn_isgd --full --out benchmarks/results")
                for item, _, claim, _ in ISGD_FIGS]
    else:
        out += isgd_rows(isgd)
    out.append(table1_row(isgd))

    out += isgd_chapter_rows(_load("isgd_fig1"), _load("isgd_fair"), _load("isgd_accuracy"), _load("isgd_long"),
                             eq8_check(), theorem1_check(**THEOREM1_SIZE))
    return out


#: the accuracy Raissi et al. 2019 report for their Burgers PINN, and the bound this scorecard accepts
RAISSI_CLAIM = ("Raissi et al. 2019: the Burgers PINN (8 x 20 tanh, 100 initial/boundary points, 10,000 "
                "collocation points, L-BFGS) reaches a relative L2 error of 6.7e-4.")
RAISSI_BOUND = 1e-3


def burgers_literature_claim(res: dict[str, Any]) -> tuple[str, str, str, str]:
    """Raissi et al. 2019's accuracy against the literature runs of a ``pinn_burgers`` result, as a
    row ``(claim, the paper, what we measured, verdict)`` of :func:`savlib.book.claims_table`
    (Raissi et al. are not one of the scorecard's source papers). Rule: reproduced if the mean
    final relative L2 error over the seeds is at most :data:`RAISSI_BOUND` (about 1.5 times the
    reported value), partly if the best seed's is, not reproduced otherwise."""
    cfg = _cfg(res)
    lit = res["literature"]
    errs = {s: r["final_test_rel_l2"] for s, r in lit.items()}
    finite = [v for v in errs.values() if math.isfinite(v)]
    mean = sum(finite) / len(finite) if finite and len(finite) == len(errs) else math.inf   # a failed seed fails the mean
    best = min(finite) if finite else math.inf
    verdict = ("reproduced" if mean <= RAISSI_BOUND else "partly" if best <= RAISSI_BOUND else "not reproduced")
    cpu = [r.get("cpu_time_s", math.nan) / 60 for r in lit.values()]
    measured = (f"L-BFGS (history {cfg['lbfgs']['history_size']}, strong Wolfe), {cfg['lbfgs_evals']} gradient "
                f"evaluations, {cfg.get('lbfgs_dtype', cfg['dtype'])}: final relative L2 error " + ", ".join(
                    f"{v:.2e} (seed {s})" for s, v in errs.items())
                + f"; mean {mean:.2e}; {max(cpu):.0f} CPU minutes per run at most")
    return (RAISSI_CLAIM, "Raissi, Perdikaris and Karniadakis (2019)", measured, verdict)
