"""The MNIST experiments (``isgd_mnist_grid``, ``gradflow2024_mnist``): declared configurations,
resumable units, the stored-grid reader and the variants' models. Tiny sizes only."""
from __future__ import annotations

import json
import math

import pytest
import torch

from savlib.errors import ResultError
from savlib.experiments import mnist as M
from savlib.experiments.record import Context, resolve_config, write_json


def _mnist_or_skip():
    from savlib.problems import mnist
    try:
        return mnist(n_train=64, n_test=32, seed=0)
    except FileNotFoundError:
        pytest.skip("MNIST not installed")


def test_gradflow_config_is_the_reports_setup():
    cfg = resolve_config("gradflow2024_mnist", "full")
    assert (cfg["n_train"], cfg["n_test"], cfg["epochs"], cfg["full_jacobian_epochs"], cfg["batch"]) == \
        (8000, 2000, 50, 10, 256)
    assert cfg["seeds"] == [0, 1, 2] and cfg["sav"] == "ResSAV"
    assert cfg["table"]["SAV"] == [0.1, 100.0, 4.0] and cfg["table"]["ExpSAV"] == [0.1, 1.0, 1e-6]
    assert cfg["variants"] == ["double softmax", "SAV lambda=0"]
    assert resolve_config("gradflow2024_mnist", "full", seed=5)["seeds"] == [5, 6, 7]
    assert resolve_config("gradflow2024_mnist", "quick")["seeds"] == [0]
    with pytest.raises(ValueError, match="unknown variant"):
        resolve_config("gradflow2024_mnist", "quick", variants=["nope"])


def test_grid_config_and_plan():
    cfg = resolve_config("isgd_mnist_grid", "full")
    assert (cfg["epochs"], cfg["full_batch_epochs"], cfg["n_train"]) == (10, 100, None)
    assert cfg["seeds"] == [0, 1, 2] and cfg["repeat_lrs"] == [0.1, 1.0, 10.0] and cfg["repeat_batches"] == ["128"]
    plan = M._grid_plan(cfg)
    assert len(plan) == len(set(plan))
    # 3 seeds x (3 optimizers + ISGD-fresh) x 3 lrs first, then the fresh row, then the grid at seed 0
    assert len(plan) == 36 + 3 + 3 * 4 * 6 - 9 == 102
    assert all(b == "128" for _, b, _, _ in plan[:39])
    assert {s for _, _, _, s in plan[:36]} == {0, 1, 2} and {s for _, _, _, s in plan[36:]} == {0}
    grid_cells = {(o, b, lr) for o, b, lr, s in plan if s == 0 and o != M.FRESH}
    assert len(grid_cells) == 72
    # a grid without batch 128 has no repeated cells and no fresh variant
    cfg2 = resolve_config("isgd_mnist_grid", "quick", batches=["512"], lrs=[0.1])
    assert cfg2["repeat_batches"] == [] and cfg2["variants"][M.FRESH]["batches"] == []
    assert M._grid_plan(cfg2) == [(o, "512", 0.1, 0) for o in ("SGD", "Adam", "ISGD")]


def test_grid_units_resume_and_stored_reader(tmp_path):
    _mnist_or_skip()
    kw = dict(n_train=256, n_test=128, epochs=1, lrs=[0.1, 10.0], batches=["128"], repeat_lrs=[10.0],
              seeds=[0, 1], optimizers=("SGD", "ISGD"))
    part = tmp_path / "isgd_mnist_grid.partial.json"
    ctx = Context(partial=part, name="isgd_mnist_grid")
    first = M.isgd_mnist_grid("quick", device="cpu", ctx=ctx, **kw)
    units = json.loads(part.read_text())["units"]
    assert "SGD/b128/lr10/seed1" in units and "ISGD-fresh/b128/lr0.1/seed0" in units
    assert len(units) == len(M._grid_plan(ctx.config))
    again = Context(partial=part, resume=True, name="isgd_mnist_grid")
    second = M.isgd_mnist_grid("quick", device="cpu", ctx=again, **kw)
    assert len(again.resumed) == len(units)               # nothing recomputed
    assert second["test_accuracy"] == first["test_accuracy"] and second["repeats"] == first["repeats"]
    rep = first["repeats"]
    assert rep["seeds"] == [0, 1] and len(rep["test_accuracy"]["SGD"]["128"][0]) == 2
    assert rep["min"]["ISGD"]["128"][0] <= rep["mean"]["ISGD"]["128"][0] <= rep["max"]["ISGD"]["128"][0]
    # the stored reader: the partial file (all units here) ...
    stored = M.isgd_grid_stored(tmp_path)
    assert stored["stored"] == {"kind": "partial", "units": len(units), "of": len(units)}
    assert stored["test_accuracy"] == first["test_accuracy"]
    # ... with a unit missing its cell becomes NaN
    data = json.loads(part.read_text())
    del data["units"]["ISGD/b128/lr10/seed0"]
    write_json(part, data)
    stored = M.isgd_grid_stored(tmp_path)
    assert stored["stored"]["units"] == len(units) - 1 and not stored["complete"]
    assert math.isnan(stored["test_accuracy"]["ISGD"]["128"][1])
    assert stored["repeats"]["mean"]["ISGD"]["128"][0] == first["repeats"]["test_accuracy"]["ISGD"]["128"][0][1]
    # a result of record (with provenance) wins over the partial file
    write_json(tmp_path / "isgd_mnist_grid.json", dict(first, provenance={"config": ctx.config}))
    assert M.isgd_grid_stored(tmp_path)["stored"]["kind"] == "record"
    with pytest.raises(ResultError, match="isgd_mnist_grid --full"):
        M.isgd_grid_stored(tmp_path / "empty")


def test_gradflow_models_and_units(tmp_path):
    _mnist_or_skip()
    net = M.mnist_mlp(0, hidden=100, output_bias=False)
    assert sum(p.numel() for p in net.parameters()) == 79_500          # (784 + 1) x 100 + 100 x 10
    soft = M.mnist_mlp(0, hidden=100, output_bias=False, softmax_output=True)
    x = torch.rand(5, 784)
    p = soft(x)
    assert torch.allclose(p.sum(1), torch.ones(5)) and torch.equal(p, torch.softmax(net(x), 1))
    # the double softmax bounds the cross-entropy: log(1 + 9/e) <= CE <= log(9 + e)
    ce = torch.nn.functional.cross_entropy(p, torch.zeros(5, dtype=torch.long), reduction="none")
    assert bool((ce >= math.log(1 + 9 / math.e) - 1e-6).all() and (ce <= math.log(9 + math.e) + 1e-6).all())
    part = tmp_path / "g.partial.json"
    ctx = Context(partial=part, name="gradflow2024_mnist")
    res = M.gradflow2024_mnist("quick", device="cpu", ctx=ctx, n_train=512, n_test=256, epochs=2,
                               seeds=[0, 1], algorithms=["SGD", "SAV"], variants=["SAV lambda=0"])
    assert set(json.loads(part.read_text())["units"]) == {
        "SGD/seed0", "SAV/seed0", "SAV lambda=0/SAV/seed0", "SGD/seed1", "SAV/seed1", "SAV lambda=0/SAV/seed1"}
    s = res["summary"]["SAV"]
    assert s["seeds"] == 2 and set(s["epochs_to_90"]) == {"0", "1"}
    assert s["final_accuracy_min"] <= s["final_accuracy_mean"] <= s["final_accuracy_max"]
    run = res["runs"]["SAV"]["0"]
    assert run["epoch"] == [0, 1, 2] and len(run["step_scale_epoch_mean"]) == 2
    assert 0.9 < run["step_scale_min"] <= 1.0                 # C = 100 keeps r~/sqrt(I + C) near 1
    assert res["runs"]["SGD"]["0"]["step_scale_min"] is None
    assert "SAV" in res["variant_summary"]["SAV lambda=0"]
    again = Context(partial=part, resume=True, name="gradflow2024_mnist")
    res2 = M.gradflow2024_mnist("quick", device="cpu", ctx=again, n_train=512, n_test=256, epochs=2,
                                seeds=[0, 1], algorithms=["SGD", "SAV"], variants=["SAV lambda=0"])
    assert len(again.resumed) == 6 and res2["summary"] == res["summary"]
