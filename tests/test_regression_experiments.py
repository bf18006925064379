"""The seed 000 regression experiment functions: run keys, size overrides and the PM/SPM
gap summary when a run diverges (issue 4)."""
import math

import pytest

from savlib.experiments import ma2024_fig5_6, ma2024_fig10
from savlib.experiments.regression import _gap_summary


def test_fig10_keys_carry_the_dimension_and_overrides_apply():
    res = ma2024_fig10("quick", D=2, epochs=1, M=300, m=10)
    assert res["params"]["epochs"] == 1 and res["params"]["M"] == 300 and res["params"]["m"] == 10
    keys = list(res["runs"])
    assert len(keys) == 7 and all(k.startswith("D=2|") for k in keys)
    assert "D=2|A-RelSAV lr=1" in keys and "D=2|RMSprop lr=0.001" in keys
    assert all(len(v["history"]["epoch"]) == 2 for v in res["runs"].values())   # epoch 0 and 1


def test_fig5_6_overrides_apply():
    res = ma2024_fig5_6("quick", epochs=1, M=300, m=10)
    assert (res["params"]["epochs"], res["params"]["M"], res["params"]["m"]) == (1, 300, 10)
    assert set(res["runs"]) == {f"{s}|lam={l}" for s in ("SAV", "ResSAV", "RelSAV") for l in (0, 1, 4, 10)}


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_overrides_are_checked(bad):
    with pytest.raises(ValueError, match="epochs"):
        ma2024_fig10("quick", epochs=bad)


def test_gap_summary_ignores_diverged_seeds():
    s = _gap_summary([0.01, math.nan, -0.002])
    assert s["n_seeds"] == 3 and s["n_finite"] == 2 and s["n_diverged"] == 1
    assert s["mean_rel_gap"] == pytest.approx(0.004) and s["seeds_spm_better"] == 1
    s = _gap_summary([math.nan, math.nan])
    assert math.isnan(s["mean_rel_gap"]) and s["n_finite"] == 0 and s["seeds_spm_better"] == 0
