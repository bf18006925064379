"""The MNIST experiment of the mean-field residual network (seed 004 eq. 2.9, section 5.1,
Algorithm 1): data as functions on (0,1)^2, the equivalent torch ResNet, adjoint vs autograd,
PAM's monotone decrease, learning well above chance. Book chapter book/meanfield/mnist.ipynb."""
import math

import pytest
import torch

from savlib.meanfield import (Grid, ResNet, classifier_objective,
                              gradient_check, gradient_descent, head_logits, init_network,
                              mnist_experiment, mnist_functions, network_weights, plot_mnist,
                              train_adjoint, train_pam, train_torch)
from savlib.meanfield.mnist import MNIST_SIZES, persistent_optimizer
from savlib.meanfield.solver import forward
from savlib.schemes import RelSAV

F64 = torch.float64


@pytest.fixture(scope="module")
def data64():
    return mnist_functions(600, 300, cells=14, seed=0, device="cpu", dtype=F64)


@pytest.fixture(scope="module")
def data28():
    return mnist_functions(40, 10, cells=28, seed=0, device="cpu", dtype=F64)


def test_images_are_functions_on_the_grid(data64, data28):
    g = data64.grid
    assert g == Grid(2, 14) and data64.x_train.shape == (600, 196) and data64.x_test.shape == (300, 196)
    assert data28.grid.N == 784 and data28.x_train.shape == (40, 784)
    for d in (data64, data28):
        assert float(d.x_train.min()) >= 0 and float(d.x_train.max()) <= 1
        assert d.y_train.dtype == torch.long and set(d.y_train.tolist()) <= set(range(10))
    # the 14 x 14 cells are 2 x 2 average pooling of the images (same seed, same subsample)
    fine = mnist_functions(600, 300, cells=28, seed=0, device="cpu", dtype=F64)
    pooled = torch.nn.functional.avg_pool2d(fine.x_train.reshape(-1, 1, 28, 28), 2).reshape(-1, 196)
    assert torch.allclose(pooled, data64.x_train, atol=1e-15)
    assert torch.equal(fine.y_train, data64.y_train)
    # the integral of f_I over Y is the mean pixel value
    assert torch.allclose(g.volume * data64.x_train.sum(1), fine.x_train.mean(1), atol=1e-13)


@pytest.mark.parametrize("cells", [0, 5, 13, 2.0])
def test_bad_cells(cells):
    with pytest.raises((ValueError, TypeError), match="cells"):
        mnist_functions(10, 10, cells=cells)


def test_resnet_is_the_same_function(data64):
    g = data64.grid
    p = init_network(g, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    p["a"] = 0.3 * torch.randn(p["a"].shape, generator=torch.Generator().manual_seed(2), dtype=F64)
    net = ResNet.from_meanfield(p, g, T=0.8, sigma="relu")
    x = data64.x_test[:50]
    ref = head_logits(forward(x, p["a"], p["b"], g, 0.8)[-1], p["W"], p["mu"], g)
    with torch.no_grad():
        out = net(x)
    assert torch.allclose(out, ref, rtol=1e-12, atol=1e-12)
    back = net.to_meanfield(g)
    for k in p:
        assert torch.allclose(back[k], p[k], rtol=1e-14, atol=0)
    # the fan-in scaling of init_network: B = volume * b has entries of std ~ gain / sqrt(N)
    assert abs(float(net.B.detach().std()) * math.sqrt(g.N) - 1.0) < 0.05


def test_adjoint_gradient_equals_autograd_float64(data64, data28):
    for d, steps in ((data64, 4), (data28, 2)):
        p = init_network(d.grid, steps, dtype=F64, generator=torch.Generator().manual_seed(3))
        p["a"] = 0.5 * torch.randn(p["a"].shape, generator=torch.Generator().manual_seed(4), dtype=F64)
        p["mu"] = torch.randn(10, generator=torch.Generator().manual_seed(5), dtype=F64)
        rel = gradient_check(d, p, n=32)
        assert max(rel.values()) < 1e-10, rel


def test_adjoint_adam_takes_the_same_steps_as_torch_adam(data64):
    g = data64.grid
    p0 = init_network(g, 2, gain_W=0.1, dtype=F64, generator=torch.Generator().manual_seed(0))
    kw = dict(epochs=2, batch_size=200, seed=7)
    pa, ra = train_adjoint(data64, p0, lambda ps: torch.optim.Adam(ps, lr=1e-2), **kw)
    pt, rt = train_torch(data64, p0, lambda ps: torch.optim.Adam(ps, lr=1e-2), **kw)
    for k in p0:
        assert float((pa[k] - pt[k]).norm() / pt[k].norm()) < 1e-9, k
        assert float((pa[k] - p0[k]).norm()) > 0  # both actually moved
    assert ra.train_loss == pytest.approx(rt.train_loss, rel=1e-10)
    assert ra.test_acc == rt.test_acc and ra.evals == rt.evals == 2 * 3


def test_persistent_optimizer_splits_a_run(data64):
    g = data64.grid
    p0 = init_network(g, 2, gain_W=0.1, dtype=F64, generator=torch.Generator().manual_seed(0))
    w = network_weights(g)

    def objective():
        return classifier_objective(data64.x_train, data64.y_train, g, 1.0, "euler", "relu", "xent",
                                    batch_size=100, generator=torch.Generator().manual_seed(1))
    make = persistent_optimizer(lambda ps: RelSAV(ps, lr=1e-2, adaptive=True))
    obj = objective()
    q, _ = gradient_descent(obj, p0, 1.0, 3, weights=w, optimizer=make)
    q, _ = gradient_descent(obj, q, 1.0, 3, weights=w, optimizer=make)
    r, _ = gradient_descent(objective(), p0, 1.0, 6, weights=w,
                            optimizer=lambda ps: RelSAV(ps, lr=1e-2, adaptive=True))
    for k in p0:
        assert torch.allclose(q[k], r[k], rtol=1e-10, atol=1e-12), k
    # without the persistent state (Adam moments reset) the split run differs
    obj = objective()
    s, _ = gradient_descent(obj, p0, 1.0, 3, weights=w, optimizer=lambda ps: RelSAV(ps, lr=1e-2, adaptive=True))
    s, _ = gradient_descent(obj, s, 1.0, 3, weights=w, optimizer=lambda ps: RelSAV(ps, lr=1e-2, adaptive=True))
    assert float((s["b"] - r["b"]).norm()) > 1e-6 * float(r["b"].norm())


def test_pam_decreases_the_cross_entropy_monotonically(data64):
    g = data64.grid
    p0 = init_network(g, 2, gain_W=0.1, dtype=F64, generator=torch.Generator().manual_seed(0))
    p, rec = train_pam(data64, p0, outer=4, n_pam=200, tau=100.0, lr=10.0, inner=2)
    J = rec.extra["J"]
    assert len(J) == 5 and all(J[k + 1] <= J[k] for k in range(4))
    assert min(rec.extra["decrease"]) >= 0
    assert J[-1] < 0.6 * J[0]  # and it actually learns
    assert J[0] == pytest.approx(math.log(10), rel=0.05)  # small head: near-uniform start


def test_learns_well_above_chance(data64):
    d = mnist_functions(1000, 300, cells=14, seed=0, device="cpu", dtype=torch.float32)
    p0 = init_network(d.grid, 4, gain_W=0.1, generator=torch.Generator().manual_seed(0))
    _, rec = train_adjoint(d, p0, lambda ps: RelSAV(ps, lr=1e-2, adaptive=True), epochs=4,
                           batch_size=100)
    assert rec.test_acc[-1] > 0.7  # chance is 0.1
    assert rec.train_loss[-1] < 0.5 * rec.train_loss[0]
    assert rec.evals == 4 * 10 * 2  # RelSAV: gradient + one extra cost evaluation per step


def test_experiment_small_and_registered(tmp_path):
    from savlib.experiments import EXPERIMENTS, run

    assert "meanfield_mnist" in EXPERIMENTS
    res = mnist_experiment("quick", seed=0, cells=7, n_train=200, n_test=100, epochs=1, n_pam=100,
                           outer=1, steps=2, seeds=[0, 1],
                           large_lr=dict(n_train=100, n_test=50, epochs=2, cells=7))
    assert set(res["runs"]) == {"torch-Adam", "adjoint-Adam", "adjoint-A-RelSAV", "PAM"}
    assert all(set(r) == {"0", "1"} for r in res["runs"].values()) and res["seeds"] == [0, 1]
    assert res["grid"]["N"] == 49 and res["adjoint_vs_torch_param_reldiff"]["max"] < 1e-4
    assert max(res["gradient_check"].values()) < 1e-10 and res["pam_monotone"]
    # the summary is computed from the runs: mean over seeds, sample standard deviation
    accs = [res["runs"]["PAM"][s]["test_acc"][-1] for s in ("0", "1")]
    st = res["summary"]["final_test_acc"]["PAM"]
    assert st["values"] == accs and st["mean"] == pytest.approx(sum(accs) / 2)
    assert st["std"] == pytest.approx(abs(accs[0] - accs[1]) / math.sqrt(2))
    ev = res["summary"]["evals_per_epoch"]
    assert ev["adjoint-A-RelSAV"]["values"] == [2 * e for e in ev["adjoint-Adam"]["values"]]
    assert set(res["large_lr"]["runs"]) == {"Adam", "A-RelSAV, C = 1", "A-RelSAV, C = 100"}
    assert len(res["large_lr"]["runs"]["Adam"]["1"]["train_loss"]) == 2
    assert len(res["large_lr"]["runs"]["A-RelSAV, C = 1"]["0"]["step_scale"]) == 2
    assert res["parameters"] == 2 * 49 * 50 + 10 * 50
    plot_mnist(res, tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 1000
    assert set(MNIST_SIZES) == {"quick", "full"} and MNIST_SIZES["full"]["cells"] == 28
    out = run("meanfield_mnist", size="quick", out=tmp_path, cells=7, n_train=100, n_test=50, epochs=1,
              n_pam=50, outer=1, steps=1, methods=("adjoint-A-RelSAV",), large_lr=None)
    assert (tmp_path / "meanfield_mnist.json").is_file() and set(out["runs"]) == {"adjoint-A-RelSAV"}
    assert out["provenance"]["config"]["methods"] == ["adjoint-A-RelSAV"]


def test_experiment_declares_its_configuration_and_resumes(tmp_path):
    from savlib.experiments import run
    from savlib.experiments.record import resolve_config

    cfg = resolve_config("meanfield_mnist", "full")
    assert cfg["seeds"] == [0, 1, 2] and cfg["cells"] == 28 and cfg["n_train"] == 10_000
    assert cfg["methods"] == ["torch-Adam", "adjoint-Adam", "adjoint-A-RelSAV", "PAM"]
    assert cfg["dtype"] == "float32" and cfg["large_lr"]["lr"] == 0.3 and cfg["lr"] == 0.01
    assert resolve_config("meanfield_mnist", "quick")["seeds"] == [0]
    assert resolve_config("meanfield_mnist", "full", seed=5, epochs=2)["seeds"] == [5, 6, 7]
    with pytest.raises(ValueError, match="override"):
        resolve_config("meanfield_mnist", "full", bogus=1)
    kw = dict(cells=7, n_train=100, n_test=50, epochs=1, n_pam=50, outer=1, steps=1, seeds=[0, 1], large_lr=None)
    first = run("meanfield_mnist", size="quick", out=tmp_path, **kw)
    # a partial result with both seeds done: resuming takes every unit from it, same numbers
    import json
    partial = tmp_path / "meanfield_mnist.partial.json"
    from savlib.experiments.record import write_json
    write_json(partial, {"experiment": "meanfield_mnist", "config": first["provenance"]["config"],
                         "units": {f"seed{s}/{u}": v for s in (0, 1) for u, v in (
                             ("check", first["checks"][str(s)]),
                             ("Adam-pair", {"torch-Adam": first["runs"]["torch-Adam"][str(s)],
                                            "adjoint-Adam": first["runs"]["adjoint-Adam"][str(s)],
                                            "param_reldiff": first["adjoint_vs_torch_param_reldiff"]["values"][s]}),
                             ("adjoint-A-RelSAV", first["runs"]["adjoint-A-RelSAV"][str(s)]),
                             ("PAM", first["runs"]["PAM"][str(s)]))}})
    again = run("meanfield_mnist", size="quick", out=tmp_path, resume=True, **kw)
    assert again["provenance"]["resumed_units"] == 8
    assert again["summary"] == json.loads(json.dumps(first["summary"]))


@pytest.mark.parametrize("kw,match", [(dict(size="huge"), "size"), (dict(cells=3), "cells"),
                                      (dict(bogus=1), "override"), (dict(methods=("SGD",)), "method")])
def test_experiment_bad_input(kw, match):
    size = kw.pop("size", "quick")
    with pytest.raises(ValueError, match=match):
        mnist_experiment(size, **kw)


def test_training_bad_input(data64):
    p0 = init_network(data64.grid, 1, dtype=F64)
    with pytest.raises(ValueError, match="epochs"):
        train_adjoint(data64, p0, torch.optim.Adam, epochs=-1, batch_size=10)
    with pytest.raises(ValueError, match="batch_size"):
        train_torch(data64, p0, torch.optim.Adam, epochs=1, batch_size=601)
    with pytest.raises(ValueError, match="n_pam"):
        train_pam(data64, p0, outer=1, n_pam=0)
    with pytest.raises(ValueError, match="gain_b"):
        init_network(data64.grid, 1, gain_b=-1.0)
    with pytest.raises(ValueError, match="T"):
        ResNet(4, 1, T=0.0)
