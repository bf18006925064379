"""Training PINNs through savlib.train.fit: savlib.problems.pinn.PINNModel and savlib.experiments.pinn.

Book chapter "Implicit SGD and SAV on PINNs". The cost unit of the chapter (closure calls)
is checked here against the optimizers' own behaviour.
"""
import json
import math

import pytest
import torch

from savlib.experiments import EXPERIMENTS, _json_safe
from savlib.errors import ConfigError
from savlib.experiments.pinn import (BURGERS_SCHEMES, ISGD_SCHEMES, adam_warmup, burgers_fig12, evals_per_step,
                                     isgd_pinn, make_optimizer, stiffness_sweep, summary_html, summary_table,
                                     train_pinn)
from savlib.experiments.record import Context, resolve_config
from savlib.problems import Burgers, Helmholtz2D, PerturbedODE, Poisson2D, burgers_exact
from savlib.problems.pinn import PINNData, PINNModel, max_abs, rel_l2
from savlib.schemes import isgd_adam
from savlib.train import fit


def _ode(**kw):
    return PerturbedODE(eps=kw.pop("eps", 0.5), n_f=kw.pop("n_f", 40), n_test=kw.pop("n_test", 101), **kw)


def _model(p, widths=(8, 8), dtype=torch.float64, seed=0):
    net = p.default_model(widths=list(widths), generator=torch.Generator().manual_seed(seed)).to(dtype=dtype)
    return PINNModel(p, net)


def test_training_loss_is_the_problem_loss_and_counts_closure_calls():
    p = _ode()
    m = _model(p)
    full = m.training_loss(None, m.data.x_f)
    assert torch.allclose(full, p.loss(m.net, dtype=torch.float64))
    assert full.requires_grad and m.evals == 1 and m.evals_no_grad == 0
    # a batch of collocation points keeps every boundary point
    xb = m.data.x_f[:7]
    sub = m.training_loss(None, xb)
    expected = p.loss(m.net, PINNData(xb, p.data.x_b, p.data.u_b))
    assert torch.allclose(sub, expected) and m.evals == 2
    # relaxed SAV re-evaluates under no_grad: the residual still needs input derivatives
    with torch.no_grad():
        again = m.training_loss(None, m.data.x_f)
    assert not again.requires_grad and m.evals_no_grad == 1
    assert float(again) == pytest.approx(float(full.detach()), rel=1e-12)


def test_split_scores_against_the_exact_solution():
    p = Poisson2D(n_f=64, n_b=16, n_test=11)
    m = _model(p)
    s = m.split()
    assert torch.equal(s.y_test, p.reference())
    assert torch.allclose(s.y_train, p.exact(p.data.x_f))
    with torch.no_grad():
        err = float(s.metrics["rel_l2"](m(s.x_test), s.y_test))
        mx = float(s.metrics["max_abs"](m(s.x_test), s.y_test))
    assert err == pytest.approx(p.relative_l2(m.net), rel=1e-12)
    assert mx == pytest.approx(p.max_abs_error(m.net), rel=1e-12)
    # the exact solution itself scores zero, a wrong one does not
    assert float(rel_l2(s.y_test, s.y_test)) == 0.0 and float(max_abs(s.y_test + 0.5, s.y_test)) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        rel_l2(s.y_test[:3], s.y_test)


def test_burgers_split_uses_the_cole_hopf_reference():
    p = Burgers(nx=10, nt=5, n_initial=8, n_boundary=4, test_nx=16, test_nt=6)
    s = _model(p).split()
    x = p.test_points()
    assert torch.allclose(s.y_test, burgers_exact(x[:, 0], x[:, 1], p.nu), atol=0, rtol=0)
    assert torch.allclose(s.y_test[x[:, 1] == 0], -torch.sin(math.pi * x[x[:, 1] == 0, 0]), atol=1e-12)


def test_pinn_model_rejects_bad_input():
    p = _ode()
    with pytest.raises(TypeError):
        PINNModel("not a problem", p.default_model(widths=[4]))
    with pytest.raises(TypeError):
        PINNModel(p, lambda x: x)
    with pytest.raises(TypeError):
        PINNModel(p, p.default_model(widths=[4]), data=(1, 2))


def test_fit_trains_a_pinn_full_batch_and_mini_batch():
    p = _ode(eps=2.0)
    for batch in (None, 10):
        m = _model(p, seed=1)
        loss0 = float(p.loss(m.net).detach())
        h = fit(m, torch.optim.Adam(m.parameters(), lr=1e-2), m.split(), steps=60, batch_size=batch, blowup=None)
        assert m.evals == 60 and m.evals_no_grad == 0
        assert float(p.loss(m.net).detach()) < 0.5 * loss0      # the PINN loss is what fit lowered
        assert len(h.metrics["test_rel_l2"]) == len(h.epoch) and math.isfinite(h.metrics["test_rel_l2"][-1])


@pytest.mark.parametrize("scheme", ["A-SAV", "A-ResSAV", "A-RelSAV", "Adam", "Adagrad", "RMSprop", "SGD",
                                    "ISGD,Adam"])
def test_equal_budget_in_closure_calls(scheme):
    p = _ode()
    r = train_pinn(p, scheme, 1e-3, 40, widths=[6], dtype=torch.float64, n_logs=5)
    assert r["evals"][0] == 0 and r["evals"][-1] == 40
    assert r["closure_calls"] + r["closure_calls_no_grad"] == 40
    if scheme == "A-RelSAV":
        assert r["steps"][-1] == 20 and r["closure_calls_no_grad"] == 20
    elif scheme == "ISGD,Adam":   # K0 = 2 implicit steps of K1 = 10 calls, then 20 Adam steps
        assert r["steps"][-1] == 22 and r["phases"][0][:3] == ["ISGD", 1e-3, 2]
    else:
        assert r["steps"][-1] == 40 and r["closure_calls_no_grad"] == 0


def test_evals_per_step():
    assert evals_per_step("A-RelSAV") == 2 and evals_per_step("ISGD", K1=7) == 7
    assert evals_per_step("A-SAV") == evals_per_step("Adam") == 1


def test_isgd_adam_run_is_algorithm_1():
    """train_pinn's two-phase ISGD,Adam is the schedule of savlib.schemes.isgd_adam (same losses)."""
    p = _ode(eps=1.0, n_f=30)
    r = train_pinn(p, "ISGD,Adam", 0.5, 40, widths=[6], dtype=torch.float64, n_logs=1000, K1=5, eta=1e-2)
    m = _model(p, widths=[6])
    closure = lambda: _closure(m)  # noqa: E731
    ref = isgd_adam(m.parameters(), closure, lr=0.5, K0=4, K1=5, gamma=1e-2, K2=20, eta=1e-2)
    assert r["steps"][-1] == 24 and len(r["loss"]) == 25
    assert torch.allclose(torch.tensor(r["loss"][1:], dtype=torch.float64), ref[:-1], rtol=1e-9, atol=0)
    assert r["final_test_rel_l2"] == pytest.approx(p.relative_l2(m.net), rel=1e-9)


def _closure(m):
    m.zero_grad()
    loss = m.training_loss(None, m.data.x_f)
    if torch.is_grad_enabled():
        loss.backward()
    return loss


def test_make_optimizer_names_and_bad_input():
    ps = [torch.nn.Parameter(torch.zeros(3))]
    assert type(make_optimizer("Adagrad", ps, 0.1)).__name__ == "Adagrad"
    sav = make_optimizer("A-RelSAV", ps, 0.1, C=1e4, lam=4.0)
    assert sav.defaults["adaptive"] is True and sav.defaults["C"] == 1e4
    with pytest.raises(ValueError):
        make_optimizer("Nesterov", ps, 0.1)
    with pytest.raises(ValueError):
        train_pinn(_ode(), "Adam", 1e-3, 1, widths=[4])
    with pytest.raises(ValueError):
        train_pinn(_ode(), "Adam", -1.0, 10, widths=[4])
    with pytest.raises(ValueError):
        isgd_pinn("quick", problems=("wave",))
    with pytest.raises(ValueError):
        burgers_fig12("medium")


def test_large_lr_sgd_diverges_where_isgd_adam_stays_finite():
    """Li, Chen & Huang 2023, sec. 4.1 at lr 0.5 (quick size): SGD blows up, the implicit schedule does not."""
    res = isgd_pinn("quick", problems=("ode_eps2",), schemes=("SGD", "ISGD,Adam"))
    sgd, isgd = res["runs"]["ode_eps2|lr=0.5|SGD"]["0"], res["runs"]["ode_eps2|lr=0.5|ISGD,Adam"]["0"]
    assert sgd["diverged"] and sgd["evals"][-1] < 300
    assert not isgd["diverged"] and isgd["evals"][-1] == 300 and isgd["final_test_rel_l2"] < 1.0
    s = res["summary"]["ode_eps2|lr=0.5|SGD"]
    assert s["n_diverged"] == 1 and s["final_rel_l2"]["n"] == 0
    json.dumps(_json_safe(res), allow_nan=False)   # what the runner writes


def test_experiments_are_registered():
    for name in ("pinn_burgers", "pinn_burgers_paper", "pinn_isgd", "pinn_isgd_paper", "pinn_stiffness"):
        assert EXPERIMENTS[name].name == name
    for P in (Helmholtz2D, Poisson2D):
        assert P(n_f=8, n_b=8, n_test=3).dim == 2


@pytest.mark.parametrize("name", ["pinn_burgers", "pinn_burgers_paper", "pinn_isgd", "pinn_isgd_paper",
                                  "pinn_stiffness"])
def test_declared_configuration_names_everything_that_determines_the_run(name):
    quick, full = resolve_config(name, "quick"), resolve_config(name, "full")
    assert len(quick["seeds"]) == 1 and len(full["seeds"]) == 3 and full["seeds"] == [0, 1, 2]
    assert resolve_config(name, "full", seed=5)["seeds"] == [5, 6, 7]
    if name == "pinn_burgers":
        for k in ("problem", "widths", "lbfgs_evals", "compare_evals", "lbfgs", "compare", "C", "lam", "K1", "dtype"):
            assert k in full, k
        assert {"n_f", "n_u", "nu", "test_nx", "test_nt"} <= set(full["problem"])
    elif name == "pinn_burgers_paper":
        for k in ("nx", "nt", "n_initial", "n_boundary", "widths", "evals", "lrs", "schemes", "C", "lam", "nu"):
            assert k in full, k
        assert full["lrs"] == [0.01, 0.001] and full["schemes"] == list(BURGERS_SCHEMES)
    elif name.startswith("pinn_isgd"):
        for p, c in full["problems"].items():
            assert {"kw", "widths", "evals", "lrs", "small_lr_batch", "eta"} <= set(c)
            assert "n_f" in c["kw"]          # the points are named, not left to the class default
        assert full["schemes"] == list(ISGD_SCHEMES) and full["K1"] == 10
    else:
        assert {"widths", "n_f", "steps", "freqs", "amp", "lanczos_tol"} <= set(full)
    with pytest.raises(ConfigError):
        resolve_config(name, "full", no_such_keyword=1)
    assert resolve_config("pinn_burgers_paper", "full", evals=50)["evals"] == 50
    assert resolve_config("pinn_burgers", "full", compare_evals=50)["compare_evals"] == 50


def test_burgers_units_resume_to_the_same_result(tmp_path):
    """One unit per (lr, scheme, seed); an interrupted run resumed from the partial file gives
    the result of an uninterrupted one."""
    kw = dict(lrs=[0.01], schemes=["Adam", "A-SAV"], evals=6, seeds=[0, 1])
    ctx = Context(partial=tmp_path / "p.json", name="pinn_burgers_paper")
    full = burgers_fig12("quick", ctx=ctx, **kw)
    assert sorted(ctx.units) == ["lr=0.01|A-SAV|seed0", "lr=0.01|A-SAV|seed1", "lr=0.01|Adam|seed0",
                                 "lr=0.01|Adam|seed1"]
    assert set(full["runs"]["lr=0.01|Adam"]) == {"0", "1"}
    # two seeds draw different points and networks
    assert full["runs"]["lr=0.01|Adam"]["0"]["test_rel_l2"] != full["runs"]["lr=0.01|Adam"]["1"]["test_rel_l2"]
    ctx2 = Context(partial=tmp_path / "p.json", resume=True, name="pinn_burgers_paper")
    again = burgers_fig12("quick", ctx=ctx2, **kw)
    assert len(ctx2.resumed) == 4 and again["runs"] == full["runs"]
    st = full["summary"]["lr=0.01|Adam"]["final_rel_l2"]
    vals = [full["runs"]["lr=0.01|Adam"][k]["final_test_rel_l2"] for k in ("0", "1")]
    assert st["n"] == 2 and st["mean"] == pytest.approx(sum(vals) / 2) and st["min"] == min(vals)
    assert st["std"] == pytest.approx(abs(vals[0] - vals[1]) / math.sqrt(2))
    rows = summary_table(full)
    assert {r["run"] for r in rows} == {"lr=0.01|Adam", "lr=0.01|A-SAV"} and all(r["n_seeds"] == 2 for r in rows)
    html = summary_html(full)
    assert html.count("<tr>") == 3 and f"{st['mean']:.3g} &plusmn;" in html


def test_stiffness_sweep_units_and_summary():
    res = stiffness_sweep("quick", freqs=[4, 24], steps=3, n_f=32, widths=[6, 6])
    assert set(res["runs"]) == {"0", "4", "24"} and set(res["runs"]["4"]) == {"0"}
    r = res["runs"]["24"]["0"]
    assert r["init"]["converged"] and r["adam"]["lambda_max"] > 0 and r["freq"] == 24 and r["amp"] == 0.1
    assert res["runs"]["0"]["0"]["amp"] == 0.0
    s = res["summary"]["per_seed"]["0"]
    lam = [res["runs"][m]["0"]["adam"]["lambda_max"] for m in ("4", "24")]
    assert s["monotone"] == (lam[1] > lam[0])
    assert s["top_over_smooth"] == pytest.approx(lam[1] / res["runs"]["0"]["0"]["adam"]["lambda_max"])
    # the forcing's amplitude grows like m^2: a property of the problem, not of training
    assert res["runs"]["24"]["0"]["max_abs_forcing"] > res["runs"]["4"]["0"]["max_abs_forcing"]


def test_adam_warmup_is_seeded_and_matches_torch_adam():
    from savlib.problems import poisson1d_low

    p = poisson1d_low(n_f=16)
    a, b = adam_warmup(p, [5], 4, seed=3), adam_warmup(p, [5], 4, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    m = p.default_model(widths=[5], generator=torch.Generator().manual_seed(3)).double()
    opt = torch.optim.Adam(m.parameters())
    for _ in range(4):
        opt.zero_grad()
        p.loss(m).backward()
        opt.step()
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), m.parameters()))


def test_lbfgs_is_one_gradient_per_step_and_learns():
    """L-BFGS (max_iter=1, no line search) costs one closure call per step, so the equal-cost
    comparison of the PINN chapter holds for it, and it lowers the test error of the ODE."""
    from savlib.experiments.pinn import train_pinn
    from savlib.problems import PerturbedODE

    ode = PerturbedODE(eps=2.0, n_f=60, n_test=201)
    r = train_pinn(ode, "LBFGS", 0.1, 60, widths=[8], n_logs=4)
    assert r["closure_calls"] + r["closure_calls_no_grad"] == 60 and r["steps"][-1] == 60
    assert not r["diverged"] and r["final_test_rel_l2"] < r["test_rel_l2"][0]
