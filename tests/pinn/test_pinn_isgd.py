"""savlib.experiments.pinn_isgd: eqs. 7-8 and Theorem 1 of Li, Chen & Huang 2023 measured,
the budgeted training loop, and the quick experiments producing what the chapter reads."""
import math

import numpy as np
import pytest
import torch

from savlib.experiments import EXPERIMENTS, run
from savlib.experiments.pinn_isgd import (
    final_table, layer_points, prox_quadratic, quadratic_check, theorem1_check, train_budget,
)
from savlib.problems import PerturbedODE, poisson1d_low


@pytest.mark.parametrize("alpha", [1e-3, 0.1, 10.0, 1e3])
def test_stiff_example_matches_closed_form(alpha):
    # eqs. 7-8, K1 = 1e-4, K2 = 1e4: the proximal step solved tightly is the closed form,
    # and every step contracts the loss by at most max_k 1/(1 + alpha k)^2
    r = quadratic_check([1e-4, 1e4], alpha, steps=5, inner_tol=1e-10)
    assert r["max_step_error"] < 1e-7
    assert r["max_loss_ratio"] <= r["bound_eq8"] * (1 + 1e-9)
    assert r["bound_eq8"] < 1


def test_gd_factor_exceeds_one_where_isgd_contracts():
    r = quadratic_check([1e-4, 1e4], 0.1, steps=2)
    assert r["gd_factor_eq7"] > 1e5 and r["max_loss_ratio"] < 1


def test_spd_quadratic_rate():
    r = quadratic_check(np.logspace(-2, 2, 20), 1.0, steps=5, inner_tol=1e-10)
    assert r["max_step_error"] < 1e-5
    assert r["max_loss_ratio"] <= r["bound_eq8"] * (1 + 1e-6)


def test_prox_quadratic_solves_backward_euler():
    A = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    ts, t0 = torch.tensor([1.0, -1.0], dtype=torch.float64), torch.tensor([3.0, 2.0], dtype=torch.float64)
    t1 = prox_quadratic(A, ts, t0, 0.7)
    assert torch.allclose(t1, t0 - 0.7 * A @ (t1 - ts), atol=1e-12)   # eq. 4


@pytest.mark.parametrize("seed", [0, 1])
def test_theorem1_bound_holds_for_wide_two_layer_net(seed):
    r = theorem1_check(m=2048, n=6, alphas=(0.5, 5.0), steps=8, seed=seed, mc_samples=50_000)
    assert r["lambda0"] > 0
    for v in r["runs"].values():
        assert v["max_loss_over_bound"] <= 1 + 1e-12
        assert v["losses"][-1] < v["losses"][0]
        assert max(v["per_step"]) <= v["per_step_bound"]


def test_train_budget_never_exceeds_budget_and_counts():
    p = PerturbedODE(eps=2.0, n_f=40, n_test=101)
    for phases in ([("Adam", 1e-3, None)], [("L-BFGS (Wolfe)", None, None)], [("ISGD", 50.0, None)],
                   [("Adam", 1e-3, 10), ("L-BFGS", None, None)]):
        r = train_budget(p, phases, 37, widths=[8, 8], seed=0, n_logs=5)
        assert r["final_evals"] <= 37 and r["evals"][-1] == r["final_evals"]
        assert r["evals"] == sorted(r["evals"]) and r["evals"][0] == 0
        assert math.isfinite(r["final_rel_l2"]) and not r["diverged"]
    r = train_budget(p, [("Adam", 1e-3, None)], 37, widths=[8, 8], seed=0, n_logs=5)
    assert r["final_evals"] == 37


def test_train_budget_reports_divergence():
    p = poisson1d_low(n_f=32)
    r = train_budget(p, [("SGD", 10.0, None)], 50, widths=[8, 8], seed=0, n_logs=5)
    assert r["diverged"]


def test_layer_points():
    x = layer_points(400, 0.01, torch.Generator().manual_seed(0))
    assert x.shape == (400, 1) and float(x.min()) > 0 and float(x.max()) < 1
    assert int((x > 0.9).sum()) >= 200


def test_unknown_optimizer_is_a_value_error():
    with pytest.raises(ValueError):
        train_budget(poisson1d_low(n_f=8), [("Newton", 1.0, None)], 5, widths=[4])


@pytest.mark.parametrize("name", ["isgd_fig1", "isgd_fair", "isgd_accuracy", "isgd_long"])
def test_quick_experiment_has_what_the_chapter_reads(name, tmp_path):
    assert name in EXPERIMENTS
    res = run(name, size="quick", out=tmp_path)
    assert (tmp_path / f"{name}.json").is_file() and res["provenance"]["command"]
    rows = final_table(res)
    assert rows and all({"problem", "optimizer", "rel_l2", "max_abs", "evals", "seconds"} <= set(r) for r in rows)
    for per_seed in res["runs"].values():
        for r in per_seed.values():
            assert r["final_evals"] <= r["budget"]
            assert len(r["evals"]) == len(r["rel_l2"]) == len(r["seconds"]) == len(r["max_abs"])
    if name == "isgd_fig1":
        assert {k.split("|")[0] for k in res["runs"]} == {"u_L", "u_H"}
        assert all("pred" in r for per in res["runs"].values() for r in per.values())
    if name == "isgd_accuracy":
        assert {k.split("|")[0] for k in res["runs"]} == {"poisson2d", "helmholtz", "ode_eps0.01"}
