"""savlib.train.fit: torch and savlib optimizers, divergence, resume, JSON, sampler."""
import math

import matplotlib
import pytest
import torch

from savlib.particles import MeanFieldNet, SmoothedParticleNet
from savlib.problems import regression as R
from savlib.train import BatchSampler, History, fit

matplotlib.use("Agg")
F64 = torch.float64


def _setup(seed=0, m=20, D=3, M=120, spm=False):
    torch.manual_seed(seed)
    data = R.sin_cos(D=D, M=M, seed=seed, dtype=F64, device="cpu")
    net = MeanFieldNet(D, m, dtype=F64)
    model = SmoothedParticleNet(net, J=3, h=1e-3) if spm else net
    return data, model


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_torch_optimizers_train(opt):
    data, net = _setup()
    o = torch.optim.SGD(net.parameters(), lr=0.2) if opt == "sgd" else torch.optim.Adam(net.parameters(), lr=1e-2)
    h = fit(net, o, data, epochs=5, batch_size=32)
    assert h.epoch == list(range(6)) and h.step[-1] == 5 * 3  # 96 rows / 32 = 3 steps per epoch
    assert h.train_loss[-1] < h.train_loss[0]
    assert len(h.metrics["test_rel_error"]) == 6 and not h.diverged
    assert h.config["optimizer"] == type(o).__name__ and h.wall_time[-1] > 0


def test_steps_and_full_batch():
    data, net = _setup()
    h = fit(net, torch.optim.SGD(net.parameters(), lr=0.1), data, steps=7, batch_size=40)
    assert h.step[-1] == 7 and h.epoch[-1] == 3  # 96 rows -> 3 batches/epoch, last epoch partial
    h2 = fit(net, torch.optim.SGD(net.parameters(), lr=0.1), data, epochs=4)  # full batch
    assert h2.step[-1] == 4


def test_divergence_is_recorded_not_raised():
    data = R.quadratic(D=3, M=120, dtype=F64, device="cpu")
    torch.manual_seed(0)
    net = MeanFieldNet(3, 20, dtype=F64)
    h = fit(net, torch.optim.SGD(net.parameters(), lr=50.0), data, epochs=200)
    assert h.diverged and h.divergence["epoch"] < 200
    assert "loss" in h.divergence["reason"]
    assert len(h.epoch) == h.divergence["epoch"] + 1  # stopped: nothing logged after it
    last = h.train_loss[-1]
    assert not math.isfinite(last) or last > 1e6 * h.train_loss[0] / 10


def test_resume_continues_identically(tmp_path):
    data, net = _setup(spm=True)
    h_full = fit(net, torch.optim.Adam(net.parameters(), lr=1e-2), data, epochs=4, batch_size=32, seed=3)
    p_full = [p.detach().clone() for p in net.parameters()]

    ck = tmp_path / "run.pt"
    data, net = _setup(spm=True)
    fit(net, torch.optim.Adam(net.parameters(), lr=1e-2), data, epochs=2, batch_size=32, seed=3, checkpoint=ck)
    data, net = _setup(seed=0, spm=True)
    with torch.no_grad():  # scramble: the checkpoint must restore everything
        for p in net.parameters():
            p.add_(1.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    h_res = fit(net, opt, data, epochs=4, batch_size=32, seed=3, checkpoint=ck, resume=True)
    for a, b in zip(p_full, net.parameters()):
        assert torch.equal(a, b.detach())
    assert h_res.train_loss == h_full.train_loss and h_res.step == h_full.step


def test_history_json_round_trip(tmp_path):
    h = History(epoch=[0, 1], step=[0, 5], wall_time=[0.0, 1.5], train_loss=[1.0, math.nan],
                test_loss=[2.0, math.inf], batch_loss=[math.nan, 3.0], metrics={"test_accuracy": [0.1, 0.5]},
                diagnostics={"xi": [math.nan, 0.25]}, diverged=True, divergence={"epoch": 1, "reason": "x"},
                config={"lr": 0.1})
    p = tmp_path / "h.json"
    h.dump(p)
    g = History.load(p)
    assert g.epoch == h.epoch and g.config == h.config and g.divergence == h.divergence
    assert math.isnan(g.train_loss[1]) and g.test_loss[1] == math.inf and g.test_acc == [0.1, 0.5]
    assert "NaN" in p.read_text() and "nan" not in p.read_text().replace("NaN", "")
    axes = h.plot(["train_loss", "test_accuracy"])
    assert len(axes) == 2
    with pytest.raises(KeyError):
        h.series("nope")


def test_sampler_is_a_seeded_partition():
    s, t = BatchSampler(10, 3, seed=1), BatchSampler(10, 3, seed=1)
    e = s.epoch()
    assert len(s) == 4 and [len(b) for b in e] == [3, 3, 3, 1]
    assert sorted(torch.cat(e).tolist()) == list(range(10))
    assert all(torch.equal(a, b) for a, b in zip(e, t.epoch()))
    assert BatchSampler(10, None).epoch() == [None] and BatchSampler(10, 50).full_batch
    with pytest.raises(ValueError):
        BatchSampler(10, 0)


def test_bad_arguments():
    data, net = _setup()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="exactly one"):
        fit(net, opt, data)
    with pytest.raises(TypeError, match="Split"):
        fit(net, opt, object(), epochs=1)
    with pytest.raises(ValueError, match="resume"):
        fit(net, opt, data, epochs=1, resume=True)


def test_savlib_scheme_and_diagnostics():
    schemes = pytest.importorskip("savlib.schemes")
    data, net = _setup()
    opt = schemes.SAV(net.parameters(), lr=0.5, C=1.0, lam=1.0)
    h = fit(net, opt, data, epochs=15, record_steps=True)
    assert "energy" in h.diagnostics and len(h.step_diagnostics["energy"]) == 15
    e = h.step_diagnostics["energy"]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(e, e[1:]))  # seed 000 Thm 1: modified energy decays
    assert len(h.step_loss) == 15 and h.train_loss[-1] < h.train_loss[0]
    data, spm = _setup(spm=True)
    h = fit(spm, schemes.RelSAV(spm.parameters(), lr=0.5, C=1.0, lam=1.0), data, epochs=5, batch_size=48)
    assert h.step[-1] == 10 and "xi" in h.diagnostics and not h.diverged


def test_ieq_gets_a_residual_closure():
    ieq = pytest.importorskip("savlib.schemes.ieq")
    data, net = _setup(M=60)
    h = fit(net, ieq.IEQ(net.parameters(), lr=0.5), data, epochs=5)
    assert h.train_loss[-1] < h.train_loss[0] and not h.diverged


def test_experiment_runner_small_grid(tmp_path, capsys):
    pytest.importorskip("savlib.schemes.isgd")
    from savlib import experiments as E
    from savlib.experiments.__main__ import main

    assert main(["--list"]) == 0 and "isgd_mnist_grid" in capsys.readouterr().out
    assert E.count_increases([3.0, 2.0, 2.5, 1.0, 1.0]) == 1
    try:
        res = E.isgd_mnist_grid("quick", optimizers=("SGD", "ISGD"), lrs=[0.1, 10.0], batches=["512"])
    except FileNotFoundError:
        pytest.skip("MNIST not installed")
    acc = res["test_accuracy"]
    assert len(acc["SGD"]["512"]) == 2 and all(0.0 <= a <= 1.0 for a in acc["ISGD"]["512"])
    assert acc["SGD"]["512"][0] > 0.2  # 4 SGD steps at lr 0.1 already beat chance (0.1)
    E.plot_grid(res, tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 0
    with pytest.raises(ValueError, match="unknown experiment"):
        E.run("nope")
