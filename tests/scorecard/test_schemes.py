"""The schemes area of the reproduction scorecard (savlib.scorecard.schemes)."""
import math
import time

import pytest

from savlib.scorecard import PAPERS, VERDICTS, Row
from savlib.scorecard import schemes as sc


@pytest.fixture(scope="module")
def rows():
    t0 = time.process_time()
    out = sc.rows()
    return out, time.process_time() - t0


def test_rows_are_valid_and_cover_the_listed_items(rows):
    rs, _ = rows
    assert all(isinstance(r, Row) and r.verdict in VERDICTS and r.paper in PAPERS for r in rs)
    have = {(r.paper, r.item) for r in rs}
    expected = {("ma2024sav", i) for i in ("Thm 1", "Thm 2", "Algorithm 1", "Algorithm 2", "Algorithm 3",
                                           "Algorithm 4", "Algorithm 5")}
    expected |= {("gradflow2024report", i) for i in ("Thm 2.1", "Thm 2.2", "Thm 2.3", "Thm 2.5", "Thm 2.6",
                                                    "Sec. 2.2.5, Method A; Thm 2.4", "Sec. 2.2.5, Method B",
                                                    "Sec. 2.3 (SAV, ExpSAV)", "Sec. 2.3 (IEQ)", "Table 3.8")}
    expected |= {("li2023isgd", i) for i in ("Eq. 7", "Eq. 8", "Sec. 2.2 (step limit)", "Eqs. 4, 12")}
    assert expected <= have, expected - have
    assert len(have) == len(rs)                      # one row per item
    for r in rs:
        assert r.chapter.startswith("book/") and r.claim and r.measured and r.size
        assert r.evidence.startswith(("check:", "benchmark:"))


def test_live_checks_are_cheap(rows):
    _, seconds = rows
    assert seconds < 20            # 22 rows; every check is a few small float64 steps


def test_mathematical_rows_are_reproduced(rows):
    """The theorems hold for savlib's schemes: a failure here is a bug in a scheme."""
    rs, _ = rows
    by = {(r.paper, r.item): r.verdict for r in rs}
    for key in [("ma2024sav", "Thm 1"), ("ma2024sav", "Thm 2"), ("ma2024sav", "Algorithm 2"),
                ("ma2024sav", "Algorithm 4"), ("ma2024sav", "Algorithm 5"), ("ma2024sav", "Algorithm 1"),
                ("gradflow2024report", "Thm 2.2"), ("gradflow2024report", "Thm 2.3"),
                ("gradflow2024report", "Sec. 2.2.5, Method A; Thm 2.4"), ("li2023isgd", "Eq. 8")]:
        assert by[key] == "reproduced", key
    # the printed relaxations keep r from growing but never undo a drift below r^
    assert by[("gradflow2024report", "Thm 2.5")] == "partly"
    assert by[("gradflow2024report", "Thm 2.6")] == "partly"
    assert by[("li2023isgd", "Sec. 2.2 (step limit)")] == "partly"


def test_verdict_rules_on_synthetic_numbers():
    assert sc.identity_verdict(0.3) == "reproduced"
    assert sc.identity_verdict(1.5) == "not reproduced"
    assert sc.identity_verdict(math.nan) == "not reproduced"
    assert sc.ratio_verdict(1.7, 1.5) == "reproduced"
    assert sc.ratio_verdict(1.0, 1.5) == "not reproduced"
    # the allowance grows as the step shrinks below the rounding of theta
    assert sc.dtheta_allowance(1.0, 1e-3) < sc.dtheta_allowance(1.0, 1e-3, weight=10.0)
    assert sc.dtheta_allowance(1.0, 0.0) > 0


def test_printed_relaxations_on_hand_numbers():
    # r~ above r^: both printed rules pull r down towards r^ (never above r~)
    assert sc.printed_relaxation_expsav(2.0, 1.0, dw_norm=0.0, dt=1.0, eta=0.99) == pytest.approx(1.0)
    assert sc.printed_relaxation_expsav(2.0, 1.0, dw_norm=0.5, dt=1.0, eta=1.0) == pytest.approx(1.5)
    r = sc.printed_relaxation_sav(2.0, 1.0, diss=0.0, eta=0.99)
    assert 1.0 - 1e-12 <= r <= 2.0 and r ** 2 - 1.0 <= 1e-12
    # r~ below r^ (the drift relaxation is for): both keep r~
    assert sc.printed_relaxation_expsav(0.5, 1.0, dw_norm=0.1, dt=1.0, eta=0.99) == 0.5
    assert sc.printed_relaxation_sav(0.5, 1.0, diss=0.1, eta=0.99) == 0.5


def test_a_broken_identity_is_caught(monkeypatch):
    """The SAV identity check fails when the scheme's r update is wrong."""
    from savlib.schemes import sav

    orig = sav.SAV._update

    def wrong(self, v, d):
        scale, state, diag = orig(self, v, d)
        state["r"] = state["r"] * 1.01                       # r drifts: eq. 18 no longer holds
        return scale, state, diag

    monkeypatch.setattr(sav.SAV, "_update", wrong)
    res = sc.check_sav_identity("SAV", dts=(0.5,), steps=4)
    assert sc.identity_verdict(res["used"]) == "not reproduced"


def test_missing_benchmarks_give_not_attempted(monkeypatch):
    monkeypatch.setattr(sc, "_bench", lambda name: None)
    rs = sc.rows()
    cost = [r for r in rs if r.evidence.startswith("benchmark:")]
    assert cost and all(r.verdict == "not attempted" for r in cost)
