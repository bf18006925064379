"""The regression experiment functions (seed 000 Figs. 1-10, seed 002 Exps. 1-3): declared
configurations, run keys over seeds, size overrides, the seed 002 variants, resume through
``ctx.unit`` and the PM/SPM gap summary when a run diverges."""
import json
import math

import pytest
import torch

from savlib.experiments import (EXPERIMENTS, ma2024_fig1, ma2024_fig5_6, ma2024_fig10, gradflow2024_regression,
                                resolve_config)
from savlib.experiments import regression as R
from savlib.experiments.record import Context
from savlib.problems import quadratic

NAMES = ["ma2024_fig1", "ma2024_fig2_7", "ma2024_fig3_4", "ma2024_fig5_6", "ma2024_fig10", "gradflow2024_regression"]


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_declares_three_seeds_at_full_size(name, monkeypatch):
    monkeypatch.delenv("SAVLIB_SEED", raising=False)
    full, quick = resolve_config(name, "full"), resolve_config(name, "quick")
    assert full["seeds"] == [0, 1, 2]
    assert len(quick["seeds"]) >= 1
    assert resolve_config(name, "full", seed=5)["seeds"] == [5, 6, 7]


def test_gradflow_default_is_the_released_generator_setup():
    cfg = resolve_config("gradflow2024_regression", "full")
    assert cfg["base"] == {"zscore": False, "coef": "normal", "ieq_residual": "sum"}
    assert set(cfg["variants"]) == {"zscore", "ieq_mean", "coef_uniform"}
    assert cfg["exps"]["exp2"]["M"] == 10_000 and cfg["exps"]["exp3"]["M"] == 1000
    assert cfg["exps"]["exp3"]["full_jacobian_epochs"] == 100 and cfg["exps"]["exp3"]["epochs"] == 100
    with pytest.raises(ValueError, match="variant"):
        gradflow2024_regression("quick", variants=["nope"])


def test_quadratic_coefficients_normal_or_uniform():
    u, n = quadratic(D=40, M=50, coef="uniform"), quadratic(D=40, M=50, coef="normal")
    assert min(u.info["c"]) >= 0 and min(n.info["c"]) < 0
    with pytest.raises(ValueError, match="coef"):
        quadratic(D=4, M=10, coef="gamma")


def test_gradflow_variant_runs_and_literal_residual():
    res = gradflow2024_regression("quick", experiments=["exp3"], epochs=1, M=300, width=8,
                                  variants=["zscore", "ieq_mean"], seeds=[0, 1])
    keys = set(res["runs"])
    assert "exp3|IEQ (Full Jacobian)|seed=1" in keys and "zscore:exp3|SGD|seed=0" in keys
    assert "ieq_mean:exp3|IEQ (Adaptive)|seed=1" in keys and "ieq_mean:exp3|SGD|seed=0" not in keys
    # the variants that leave an algorithm unchanged give it the same run
    assert res["runs"]["exp3|SGD|seed=0"]["final_test"] == pytest.approx(
        gradflow2024_regression("quick", experiments=["exp3"], epochs=1, M=300, width=8, variants=[],
                                seeds=[0])["runs"]["exp3|SGD|seed=0"]["final_test"])
    # z-scoring changes the inputs, so the losses differ
    assert res["runs"]["zscore:exp3|SGD|seed=0"]["final_test"] != res["runs"]["exp3|SGD|seed=0"]["final_test"]
    assert len(res["summary"]["exp3|SGD"]["final_test"]["values"]) == 2


def test_mean_residual_is_the_literal_step_at_dt_times_2_over_b():
    """IEQ on sqrt(2/b) (f - y) at dt takes the same step as IEQ on f - y at dt 2/b (float64)."""
    from savlib.schemes import IEQ
    from savlib.schemes.ieq import mse_residual

    torch.manual_seed(0)
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    out = []
    for kind, lr in (("mean", 0.3), ("sum", 0.3 * 2 / 16)):
        net = R.gradflow_mlp(3, 5, seed=0).double()
        opt = IEQ(net.parameters(), lr=lr, model=net)
        for _ in range(3):
            opt.step(lambda: mse_residual(net(x), y, kind))
        out.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    assert torch.allclose(out[0], out[1], rtol=0, atol=1e-12)


def test_units_resume_to_the_same_result(tmp_path):
    part = tmp_path / "p.json"
    kw = dict(steps=3, M=200, m=5, seeds=[0, 1])
    a = ma2024_fig1("quick", ctx=Context(partial=part, name="ma2024_fig1"), **kw)
    stored = json.loads(part.read_text())
    assert len(stored["units"]) == 2 * 3 * 2          # 2 seeds x 3 schemes x 2 lrs (PM only at quick size)
    ctx = Context(partial=part, resume=True, name="ma2024_fig1")
    b = ma2024_fig1("quick", ctx=ctx, **kw)
    assert len(ctx.resumed) == 12 and a["summary"] == b["summary"]


def test_fig1_counts_increases_and_records_r():
    res = ma2024_fig1("quick", steps=4, M=200, m=5)
    run = res["runs"]["lr=0.6 PM|SAV|seed=0"]
    assert run["r_increases"] == 0                      # SAV's r never increases (its energy law)
    assert len(run["step_loss"]) == 4 and run["increases_step_loss"] == R.count_increases(run["step_loss"])
    assert res["summary"]["lr=4 PM|Euler"]["increases_step_loss"] == [res["runs"]["lr=4 PM|Euler|seed=0"][
        "increases_step_loss"]]


def test_fig10_keys_carry_the_dimension_and_overrides_apply():
    res = ma2024_fig10("quick", dims=[2], epochs=1, M=300, m=10)
    assert res["params"]["epochs"] == 1 and res["params"]["M"] == 300 and res["params"]["m"] == 10
    keys = list(res["runs"])
    assert len(keys) == 7 and all(k.startswith("D=2|") and k.endswith("|seed=0") for k in keys)
    assert "D=2|A-RelSAV lr=1|seed=0" in keys and "D=2|RMSprop lr=0.001|seed=0" in keys
    assert all(len(v["history"]["epoch"]) == 2 for v in res["runs"].values())   # epoch 0 and 1


def test_fig5_6_overrides_apply():
    res = ma2024_fig5_6("quick", epochs=1, M=300, m=10)
    assert (res["params"]["epochs"], res["params"]["M"], res["params"]["m"]) == (1, 300, 10)
    plan = {"SAV": (0, 1, 4, 10), "ResSAV": (0, 4), "RelSAV": (0, 4)}
    assert set(res["runs"]) == {f"{s}|lam={l}|seed=0" for s, ls in plan.items() for l in ls}
    assert set(res["summary"]) == {f"{s}|lam={l}" for s, ls in plan.items() for l in ls}


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_overrides_are_checked(bad):
    with pytest.raises(ValueError, match="epochs"):
        ma2024_fig10("quick", epochs=bad)


@pytest.mark.parametrize("bad", [[], 3, [0, -1], ["a"]])
def test_seed_lists_are_checked(bad):
    with pytest.raises(ValueError, match="seeds"):
        ma2024_fig10("quick", seeds=bad)


def test_gap_summary_ignores_diverged_seeds():
    s = R._gap_summary([0.01, math.nan, -0.002])
    assert s["n_seeds"] == 3 and s["n_finite"] == 2 and s["n_diverged"] == 1
    assert s["mean_rel_gap"] == pytest.approx(0.004) and s["seeds_spm_better"] == 1
    s = R._gap_summary([math.nan, math.nan])
    assert math.isnan(s["mean_rel_gap"]) and s["n_finite"] == 0 and s["seeds_spm_better"] == 0


def test_stats_over_seeds():
    s = R._stats([1.0, 3.0, math.nan])
    assert s["mean"] == 2.0 and s["min"] == 1.0 and s["max"] == 3.0 and s["n_nonfinite"] == 1


def test_plot_runs_draws_the_first_seed(tmp_path):
    res = ma2024_fig5_6("quick", epochs=1, M=300, m=10, seeds=[3, 4])
    fig = R.plot_runs(res)
    assert len(fig.axes) == 2 * 3                       # one row per scheme, train and test
    assert [len(ax.get_lines()) for ax in fig.axes] == [4, 4, 2, 2, 2, 2]   # the lambdas of each scheme, one seed
