"""Raissi et al. 2019's Burgers PINN setup (savlib.problems.pinn.BurgersRaissi) and the
``pinn_burgers`` experiment (savlib.experiments.pinn.burgers_pinn / train_budget)."""
import math

import numpy as np
import pytest
import torch

from savlib.experiments import run
from savlib.experiments.pinn import RAISSI_COMPARE, burgers_pinn, train_budget
from savlib.experiments.record import Context, resolve_config
from savlib.problems import BurgersRaissi
from savlib.problems.pinn import InputScale, latin_hypercube


def _small(**kw):
    return BurgersRaissi(**{**dict(n_f=64, n_u=20, test_nx=16, test_nt=6), **kw})


def test_points_follow_raissi_et_al():
    p = BurgersRaissi(seed=3)
    cand = p.candidates()
    assert cand.shape == (456, 2)
    # 10,000 Latin-hypercube points plus all candidates; 100 of the candidates as data
    assert p.data.x_f.shape == (10_456, 2) and torch.equal(p.data.x_f[10_000:], cand)
    assert p.data.x_b.shape == (100, 2)
    rows = {tuple(r) for r in cand.tolist()}
    assert all(tuple(r) in rows for r in p.data.x_b.tolist())
    assert len({tuple(r) for r in p.data.x_b.tolist()}) == 100        # drawn without replacement
    x, t = p.data.x_b[:, 0], p.data.x_b[:, 1]
    want = torch.where(t == 0, -torch.sin(math.pi * x), torch.zeros_like(x))
    assert torch.allclose(p.data.u_b, want, atol=1e-15, rtol=0)
    # another seed draws other points
    assert not torch.equal(BurgersRaissi(seed=4).data.x_f[:10_000], p.data.x_f[:10_000])


def test_latin_hypercube_has_one_point_per_stratum():
    g = torch.Generator().manual_seed(0)
    pts = latin_hypercube(g, 500, [-1.0, 0.0], [1.0, 1.0])
    for d, (lo, hi) in enumerate([(-1.0, 1.0), (0.0, 1.0)]):
        strata = np.floor((pts[:, d].numpy() - lo) / (hi - lo) * 500).astype(int)
        assert sorted(strata.tolist()) == list(range(500))
    # plain uniform points almost never do
    u = torch.rand(500, generator=g, dtype=torch.float64)
    assert len(set(np.floor(u.numpy() * 500).astype(int).tolist())) < 500


def test_network_scales_inputs_and_has_raissis_layers():
    p = _small()
    net = p.default_model(generator=torch.Generator().manual_seed(0)).double()
    assert isinstance(net[0], InputScale)
    lin = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in lin] == [20] * 8 + [1] and lin[0].in_features == 2
    corners = torch.tensor([[-1.0, 0.0], [1.0, 1.0], [0.0, 0.5]], dtype=torch.float64)
    assert torch.equal(net[0](corners), torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]], dtype=torch.float64))
    # the residual differentiates through the scaling: the same network with the scaling folded
    # into its first layer has the same residual
    folded = torch.nn.Sequential(*[m for m in net][1:])
    folded = type(folded)(*[type(m)(m.in_features, m.out_features, dtype=torch.float64)
                            if isinstance(m, torch.nn.Linear) else m for m in folded])
    folded.load_state_dict({k[:k.index(".")] and f"{int(k[:k.index('.')]) - 1}{k[k.index('.'):]}": v
                            for k, v in net.state_dict().items() if not k.startswith("0.")})
    with torch.no_grad():
        scale = torch.tensor([2.0 / 2.0, 2.0 / 1.0], dtype=torch.float64)
        shift = torch.tensor([-2.0 * -1.0 / 2.0 - 1.0, -1.0], dtype=torch.float64)
        w = folded[0].weight.clone()
        folded[0].bias.add_(w @ shift)
        folded[0].weight.copy_(w * scale)
    pts = p.data.x_f[:50]
    assert torch.allclose(p.residual(net, pts), p.residual(folded, pts), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(p.residual(net, pts), p.residual(torch.nn.Sequential(*[m for m in net][1:]), pts))
    with pytest.raises(ValueError):
        InputScale([0.0], [0.0])
    with pytest.raises(ValueError):
        BurgersRaissi(n_u=500)


def test_chunked_lbfgs_is_one_long_lbfgs_run():
    """train_budget drives torch's L-BFGS in short calls (to log and to stop at the budget); the
    iterates are those of one uninterrupted call with the same number of iterations."""
    p = _small(n_f=40)
    r = train_budget(p, "L-BFGS", 1.0, 120, widths=[8, 8], seed=1, dtype=torch.float64, n_logs=10,
                     keep_state=True)
    iters = r["steps"][-1]
    assert r["closure_calls"] == r["evals"][-1] and r["evals"][-1] <= 120 + 25
    net = p.default_model(widths=[8, 8], generator=torch.Generator().manual_seed(1)).double()
    opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=iters, max_eval=10**6, history_size=50,
                            tolerance_grad=1e-9, tolerance_change=float(torch.finfo(torch.float64).eps),
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = p.loss(net)
        loss.backward()
        return loss
    opt.step(closure)
    for k, v in net.state_dict().items():
        assert torch.allclose(v, torch.tensor(r["state"][k], dtype=torch.float64), rtol=1e-9, atol=1e-12), k
    # and it learns
    assert r["final_test_rel_l2"] < 0.9 * r["test_rel_l2"][0] and r["final_loss"] < r["loss"][0]


@pytest.mark.parametrize("scheme, lr", RAISSI_COMPARE)
def test_every_scheme_gets_exactly_the_budget(scheme, lr):
    p = _small(n_f=30)
    r = train_budget(p, scheme, lr, 40, widths=[6], dtype=torch.float64, n_logs=6)
    n = r["closure_calls"] + r["closure_calls_no_grad"]
    assert r["evals"][0] == 0 and r["evals"][-1] == n
    if scheme == "L-BFGS":          # stops within its last line search of the budget
        assert 40 <= n <= 40 + 25 and r["steps"][-1] < n
        return
    assert n == 40
    assert len(r["wall_time"]) == len(r["test_rel_l2"]) == len(r["cpu_time"]) and r["wall_time"][-1] > 0
    if scheme == "A-RelSAV":
        assert r["closure_calls_no_grad"] == 20 and r["steps"][-1] == 20
    elif scheme == "ISGD":
        assert r["steps"][-1] == 4
    else:
        assert r["steps"][-1] == 40


def test_quick_experiment_writes_what_the_chapter_reads(tmp_path):
    res = run("pinn_burgers", size="quick", out=tmp_path)
    s = res["summary"]
    assert {"best_rel_l2", "best_run", "literature", "per_key", "table"} <= set(s)
    assert "provenance" in res and res["provenance"]["config"] == resolve_config("pinn_burgers", "quick")
    finals = {f"literature|seed{k}": r["final_test_rel_l2"] for k, r in res["literature"].items()}
    finals.update({f"{key}|seed{k}": r["final_test_rel_l2"] for key, per in res["runs"].items() for k, r in per.items()})
    assert s["best_run"] in finals and s["best_rel_l2"] == min(finals.values())
    cfg = res["config"]
    # the same budget for every scheme of the comparison (L-BFGS: within its last line search)
    for key, per in res["runs"].items():
        for r in per.values():
            assert r["closure_calls"] + r["closure_calls_no_grad"] == r["evals"][-1]
            if key.endswith("|L-BFGS"):
                assert cfg["compare_evals"] <= r["evals"][-1] <= cfg["compare_evals"] + 25
            else:
                assert r["evals"][-1] == cfg["compare_evals"]
    assert len(res["literature"]) == cfg["lbfgs_seeds"] and cfg["lbfgs_dtype"] == "float64"
    lit = res["literature"]["0"]
    assert "state" in lit and lit["evals"][-1] >= cfg["lbfgs_evals"]
    # the stored network reproduces the stored error
    p = BurgersRaissi(seed=0, **cfg["problem"])
    net = p.default_model(widths=cfg["widths"]).to(getattr(torch, cfg["lbfgs_dtype"]))
    net.load_state_dict({k: torch.tensor(v) for k, v in lit["state"].items()})
    assert p.relative_l2(net) == pytest.approx(lit["final_test_rel_l2"], rel=1e-5)
    assert (tmp_path / "pinn_burgers.json").is_file() and (tmp_path / "pinn_burgers.png").is_file()


def test_declared_configuration_and_resume(tmp_path):
    full = resolve_config("pinn_burgers", "full")
    assert full["problem"]["n_f"] == 10_000 and full["problem"]["n_u"] == 100 and full["widths"] == [20] * 8
    assert full["seeds"] == [0, 1, 2] and full["compare_evals"] <= full["lbfgs_evals"] and full["lbfgs_seeds"] >= 1
    assert [s for s, _ in full["compare"]] == [s for s, _ in RAISSI_COMPARE]
    assert full["lbfgs"]["history_size"] == 50 and full["lbfgs"]["line_search"] == "strong_wolfe"
    kw = dict(compare=[("Adam", 1e-3)], lbfgs_evals=20, compare_evals=10)
    ctx = Context(partial=tmp_path / "p.json", name="pinn_burgers")
    first = burgers_pinn("quick", ctx=ctx, **kw)
    assert sorted(ctx.units) == ["literature|seed0", "lr=0.001|Adam|seed0"]
    ctx2 = Context(partial=tmp_path / "p.json", resume=True, name="pinn_burgers")
    again = burgers_pinn("quick", ctx=ctx2, **kw)
    assert len(ctx2.resumed) == 2 and again["runs"] == first["runs"] and again["literature"] == first["literature"]
    with pytest.raises(ValueError):
        burgers_pinn("quick", compare=[("Nesterov", 0.1)])
    with pytest.raises(ValueError):
        burgers_pinn("quick", lbfgs_seeds=2)          # more literature seeds than seeds
    with pytest.raises(ValueError):
        burgers_pinn("quick", lbfgs_dtype="float16")
