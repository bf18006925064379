"""savlib.book: the chapters' claims table checks itself; the no-kernel explorer embeds
one frame per value and a slider."""
from __future__ import annotations

import re

import pytest

from savlib.book import VERDICTS, claims_table, sweep
from savlib.errors import ConfigError
from savlib.scorecard import Row


def test_claims_table_renders_escaped_rows():
    html = claims_table([("a < b", "paper", "0.25"), ("c", "d", "e & f")]).data
    assert html.count("<tr>") == 3 and "a &lt; b" in html and "e &amp; f" in html
    assert ">what we measured</th>" in html


@pytest.mark.parametrize("rows", [
    [],
    [("a", "b")],                                  # a row shorter than the header
    [("a", "b", "c"), ("a", "b")],                # ragged
    [("a", " ", "c")],                            # empty cell
    [("a", "b", "0.123456789")],                  # unrounded float
    [("a", "b", "np.float64(0.5)")],              # NumPy repr
    [("a", "b", "c", "sort of")],                 # unknown verdict
])
def test_claims_table_rejects_malformed_rows(rows):
    header = ("claim", "the paper", "what we measured") if rows and len(rows[0]) == 2 else None
    with pytest.raises(ConfigError):
        claims_table(rows, header=header)


def test_claims_table_accepts_scorecard_rows_and_every_verdict():
    rows = [Row("ma2024sav", "Fig. 1", "claim", "measured 0.5", "M = 10", v, "book/x", "check: x") for v in VERDICTS]
    html = claims_table(rows).data
    assert html.count("<tr>") == 1 + len(VERDICTS) and ">verdict</th>" in html


def test_sweep_embeds_one_frame_per_value_and_a_slider():
    pytest.importorskip("matplotlib")
    seen = []

    def draw(fig, p):
        seen.append(p)
        fig.add_subplot().plot([0, 1, 2], [0, 1, 2 ** p])

    html = sweep(draw, [1, 2, 3], label="p").data
    assert set(seen) == {1, 2, 3}
    assert len(set(re.findall(r"frames\[(\d+)\]", html))) == 3
    assert 'type="range"' in html and "p = 3" not in html    # titles are drawn into the frames
    assert "https://" not in html and 'class="fa' not in html      # nothing loaded from a CDN
    with pytest.raises(ConfigError):
        sweep(draw, [], label="p")


def test_live_explorers_only_with_a_frontend(monkeypatch):
    from savlib.book import live

    monkeypatch.delenv("SAVLIB_NO_WIDGETS", raising=False)
    assert live()
    monkeypatch.setenv("SAVLIB_NO_WIDGETS", "1")
    assert not live()
