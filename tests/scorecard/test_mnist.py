"""Scorecard rows of the MNIST chapter: valid rows for every item, and the verdict rules on
synthetic results."""
from __future__ import annotations

import math

import pytest

from savlib.scorecard import VERDICTS, Row
from savlib.scorecard import mnist as S


def _gf(e90: dict[str, list], acc: dict[str, float]) -> dict:
    summ = {a: {"epochs_to_90": {str(k): e for k, e in enumerate(v)}, "epochs": 50,
                "final_accuracy_mean": acc[a], "final_accuracy_min": acc[a] - 0.002,
                "final_accuracy_max": acc[a] + 0.002} for a, v in e90.items()}
    return {"summary": summ, "params": {"n_train": 8000, "n_test": 2000, "batch": 256, "epochs": 50,
                                        "full_jacobian_epochs": 10, "seeds": [0, 1, 2]}}


PAPER_LIKE = _gf({"SGD": [50, 49, 52], "SAV": [30, 31, 29], "ExpSAV": [25, 26, 24], "IEQ (Full Jacobian)": [30, 30, 30],
                  "IEQ (Adaptive)": [20, 21, 19]},
                 {"SGD": 0.90, "SAV": 0.92, "ExpSAV": 0.93, "IEQ (Full Jacobian)": 0.93, "IEQ (Adaptive)": 0.93})
NO_GAP = _gf({"SGD": [17, 17, 18], "SAV": [23, 24, 23], "ExpSAV": [None, None, None],
              "IEQ (Full Jacobian)": [None, None, None], "IEQ (Adaptive)": [17, 17, 18]},
             {"SGD": 0.928, "SAV": 0.916, "ExpSAV": 0.896, "IEQ (Full Jacobian)": 0.89, "IEQ (Adaptive)": 0.928})


def test_rows_cover_the_items_and_are_valid():
    rs = S.rows()
    assert all(isinstance(r, Row) and r.verdict in VERDICTS and r.chapter == S.CHAPTER for r in rs)
    items = {(r.paper, r.item) for r in rs}
    for need in [("gradflow2024report", "Table 3.7"), ("gradflow2024report", "Exp. 4 claim (Sec. 3.6.2)"),
                 ("gradflow2024report", "Exp. 4 performance summary (Sec. 3.5.2)"),
                 ("li2023isgd", "Table 2 (lr 1-10)"), ("li2023isgd", "Table 2 (small lr)"),
                 ("li2023isgd", "Table 2 (every cell)"), ("ma2024sav", "Example 4, Fig. 11")]:
        assert need in items
    for r in rs:
        assert r.measured and r.claim
        if r.verdict != "not attempted":
            assert r.evidence.startswith("result:") and r.notes      # the rule is stated
    ma = next(r for r in rs if r.paper == "ma2024sav")
    assert ma.verdict == "not attempted" and "not run" in ma.measured


def test_gradflow_rules():
    assert S.table37_row(PAPER_LIKE).verdict == "reproduced"
    assert S.speed_row(PAPER_LIKE).verdict == "reproduced"
    assert S.accuracy_row(PAPER_LIKE).verdict == "reproduced"
    t = S.table37_row(NO_GAP)
    assert t.verdict == "partly" and "SGD 17/17/18 (paper ~50)" in t.measured and "ExpSAV >50/>50/>50" in t.measured
    sp = S.speed_row(NO_GAP)
    assert sp.verdict == "not reproduced" and "ExpSAV never" in sp.measured
    # accuracy: SGD 0.928 is above 0.92 + 0.005, SAV 0.916, IEQ (Adaptive) 0.928 in range -> 2 of 5
    acc = S.accuracy_row(NO_GAP)
    assert acc.verdict == "not reproduced" and "2 of 5 in range" in acc.measured
    one_fast = _gf({"SGD": [40] * 3, "SAV": [38] * 3, "ExpSAV": [20] * 3, "IEQ (Adaptive)": [39] * 3},
                   {"SGD": 0.9, "SAV": 0.9, "ExpSAV": 0.9, "IEQ (Adaptive)": 0.9})
    assert S.speed_row(one_fast).verdict == "partly"


def _grid(isgd_min, sgd10, adam, small_gap, kind="record"):
    lrs = [0.001, 0.01, 0.1, 1.0, 2.0, 10.0]
    sgd = [0.85, 0.92, 0.96, 0.97, 0.2, sgd10]
    isgd = [a + small_gap for a in sgd[:3]] + [isgd_min, isgd_min, isgd_min]
    acc = {"SGD": {"128": sgd}, "ISGD": {"128": isgd}, "Adam": {"128": [0.97, 0.97, 0.7, adam, adam, adam]}}
    rep_lrs = [0.1, 1.0, 10.0]
    rep = {"seeds": [0, 1, 2], "lrs": rep_lrs,
           "min": {o: {"128": [v[lrs.index(lr)] for lr in rep_lrs]} for o, v in ((k, a["128"]) for k, a in acc.items())},
           "max": {o: {"128": [v[lrs.index(lr)] for lr in rep_lrs]} for o, v in ((k, a["128"]) for k, a in acc.items())}}
    return {"lrs": lrs, "batches": ["128"], "test_accuracy": acc, "repeats": rep, "n_train": 60000,
            "n_test": 10000, "epochs": 10, "full_batch_epochs": 100, "seed": 0,
            "stored": {"kind": kind, "units": 10 if kind == "partial" else 40, "of": 40}}


def test_table2_rules():
    good = _grid(0.975, 0.11, 0.10, 0.01)
    assert S.table2_large_lr_row(good).verdict == "reproduced"
    assert S.table2_small_lr_row(good).verdict == "reproduced"
    assert S.table2_large_lr_row(_grid(0.975, 0.11, 0.6, 0.01)).verdict == "partly"       # Adam survives
    assert S.table2_large_lr_row(_grid(0.5, 0.9, 0.9, 0.01)).verdict == "not reproduced"
    assert S.table2_small_lr_row(_grid(0.975, 0.11, 0.1, 0.05)).verdict == "not reproduced"
    far_at_tiny = _grid(0.975, 0.11, 0.1, 0.0)
    far_at_tiny["test_accuracy"]["ISGD"]["128"][0] -= 0.1
    assert S.table2_small_lr_row(far_at_tiny).verdict == "partly"
    # a partial run says so, and caps "every cell" at partly
    part = _grid(0.975, 0.11, 0.10, 0.0, kind="partial")
    assert "run in progress, 10 of 40 runs stored" in S.table2_cells_row(part).size
    assert S.table2_cells_row(part).verdict in ("partly", "not reproduced")
    assert S.table2_cells_row(part).evidence == "result: isgd_mnist_grid (partial run)"
    # missing 3-seed cells: not attempted, not a guess
    miss = _grid(0.975, 0.11, 0.1, 0.0, kind="partial")
    miss["repeats"]["min"]["ISGD"]["128"][2] = math.nan
    assert S.table2_large_lr_row(miss).verdict == "not attempted"


@pytest.mark.parametrize("fn", [S.table37_row, S.speed_row, S.accuracy_row])
def test_rows_state_the_size(fn):
    assert "8000/2000 images" in fn(PAPER_LIKE).size and "3 seeds" in fn(PAPER_LIKE).size
