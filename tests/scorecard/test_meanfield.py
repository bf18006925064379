"""Scorecard rows for Liu & Markowich 2020 (savlib.scorecard.meanfield): every listed item has
a row with a valid verdict, the live checks are fast and their verdicts follow the stated
rules, and the MNIST rows are computed from a stored result (synthetic results here)."""
import copy
import time

import pytest

from savlib.scorecard import VERDICTS, Row
from savlib.scorecard import meanfield as mf

ITEMS = ["Eq. 2.1", "Thm 2.1", "Thm 2.2", "Thm 3.1", "Sec. 3.1-3.3", "Thm 3.2 (i)", "Lemma 3.3", "Thm 3.4",
         "Prop. 3.5", "Sec. 3.4", "Prop. 4.1 (discrete)", "Eq. 4.2", "Sec. 5.1 formulas", "Remark 4.1",
         "Eqs. 4.6-4.7", "Eq. 2.9 + sec. 4.1 (MNIST)", "Eq. 4.8", "Eqs. 4.9-4.10", "Thm 4.2 / eq. 4.11", "Thm 4.3",
         "Algorithm 1", "Algorithm 1 at MNIST size", "Algorithm 2"]


@pytest.fixture(scope="module")
def rows():
    return mf.rows()


def test_every_item_has_one_row_with_a_valid_verdict(rows):
    items = [r.item for r in rows]
    assert items == ITEMS
    for r in rows:
        assert isinstance(r, Row) and r.verdict in VERDICTS and r.paper == "liu2020selection"
        assert r.chapter.startswith("book/meanfield/") and r.claim and r.measured
        if r.verdict != "not attempted":
            assert r.notes.startswith("rule:"), r.item      # every computed verdict states its rule


def test_expected_verdicts(rows):
    v = {r.item: r.verdict for r in rows}
    # mathematical facts that hold on the grid
    for item in ("Eq. 2.1", "Thm 2.1", "Thm 2.2", "Thm 3.1", "Sec. 3.1-3.3", "Thm 3.2 (i)", "Thm 3.4",
                 "Prop. 3.5", "Sec. 3.4", "Prop. 4.1 (discrete)", "Eq. 4.2", "Remark 4.1", "Eq. 4.8",
                 "Eqs. 4.9-4.10", "Algorithm 1"):
        assert v[item] == "reproduced", item
    # the printed errata: sec. 5.1's sigma for sigma', eq. 4.7's missing factor 2
    assert v["Sec. 5.1 formulas"] == "not reproduced"
    assert v["Eqs. 4.6-4.7"] == "partly"
    assert v["Algorithm 2"] == "partly"            # plain MSA does not converge, extended MSA does
    for item in ("Lemma 3.3", "Thm 4.2 / eq. 4.11", "Thm 4.3"):
        assert v[item] == "not attempted"


@pytest.mark.parametrize("name", sorted(mf.CHECKS))
def test_live_checks_are_small(name):
    t0 = time.process_time()
    out = mf.CHECKS[name]()
    assert isinstance(out, dict) and out
    assert time.process_time() - t0 < 4.0          # < 2 s on one idle thread; slack for a busy CI


def _synthetic(acc=0.95, monotone=True, grad=1e-16, slack=1e-4):
    st = lambda x: {"mean": x, "std": 0.001, "min": x - 0.002, "max": x + 0.002, "n": 3, "values": [x] * 3}  # noqa: E731
    return {"config": {"n_train": 10000, "n_test": 2000, "cells": 28, "steps": 4, "epochs": 5, "outer": 6,
                       "n_pam": 2000}, "grid": {"N": 784}, "seeds": [0, 1, 2],
            "summary": {"final_test_acc": {"torch-Adam": st(acc), "adjoint-Adam": st(acc),
                                           "adjoint-A-RelSAV": st(acc), "PAM": st(0.85)}},
            "gradient_check": {"a": grad, "b": grad, "W": grad, "mu": grad, "J": grad},
            "pam_monotone": monotone, "pam_min_decrease_slack": slack, "pam_final_over_initial_J": st(0.3)}


def test_mnist_rows_follow_their_rules():
    head, pam = mf.mnist_row(_synthetic())
    assert head.verdict == "reproduced" and pam.verdict == "reproduced"
    assert "3 seeds" in head.size and "0.950 +- 0.001" in head.measured
    assert mf.mnist_row(_synthetic(acc=0.5))[0].verdict == "not reproduced"
    assert mf.mnist_row(_synthetic(grad=1e-6))[0].verdict == "not reproduced"
    assert mf.mnist_row(_synthetic(monotone=False))[1].verdict == "not reproduced"
    assert mf.mnist_row(_synthetic(slack=-1e-3))[1].verdict == "not reproduced"
    res = _synthetic()
    low = copy.deepcopy(res)
    low["summary"]["final_test_acc"]["adjoint-A-RelSAV"]["min"] = 0.85   # one seed below 0.9
    assert mf.mnist_row(low)[0].verdict == "not reproduced"
    (none,) = mf.mnist_row(None, "no file")
    assert none.verdict == "not attempted" and "no file" in none.measured


def test_mnist_row_reads_the_stored_result(rows):
    from savlib.experiments import load_result

    res = load_result("meanfield_mnist")
    (head,) = [r for r in rows if r.item.startswith("Eq. 2.9")]
    assert head == mf.mnist_row(res)[0]
    assert f"{len(res['seeds'])} seeds" in head.size


def test_claims_table_renders_html():
    from savlib.scorecard import claims_table

    html = claims_table([("a < b", "yes", "1 < 2")])._repr_html_()
    assert html.startswith("<table") and "&lt;" in html and html.count("<tr>") == 2
