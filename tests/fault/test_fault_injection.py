"""Fault injection: kill a running experiment at random moments and resume it; corrupt and
truncate every kind of file savlib reads (training checkpoints, the MNIST pickle, IDX files,
stored results and partial results). Each fault must end in the uninterrupted result or in
a typed error that names the file, with nothing half-loaded.

Counts (printed by ``-s``): see ``test_fault_counts`` at the end."""
from __future__ import annotations

import gzip
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from savlib.errors import CheckpointError, ResultError
from savlib.experiments import record
from savlib.particles import MeanFieldNet
from savlib.problems import regression as R
from savlib.train import FIT_KEYS, _digest, diverged_path, fit, load_checkpoint, save_checkpoint

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "slow_toy.py"
F64 = torch.float64
TRIED: dict[str, int] = {}


def _count(kind: str, n: int = 1) -> None:
    TRIED[kind] = TRIED.get(kind, 0) + n


def _run_toy(out: Path, *extra: str, kill_after: float | None = None) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("SAVLIB_SEED", None)
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--full", "--out", str(out), *extra],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is None:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        return 0
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return proc.returncode


def _units(out: Path) -> list:
    return record.load_result("_slow_toy", out)["units"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    _run_toy(out)
    return _units(out)


@pytest.mark.parametrize("seed", range(4))
def test_a_killed_experiment_resumes_to_the_uninterrupted_result(seed, uninterrupted, tmp_path):
    """SIGKILL at a random moment (import, mid-unit, between units), then ``--resume`` until
    done: the stored result equals an uninterrupted run's; at most the unit in progress is lost."""
    rnd = random.Random(seed)
    kills = 0
    for _ in range(3):
        if (tmp_path / "_slow_toy.json").exists():
            break
        _run_toy(tmp_path, *(["--resume"] if kills else []), kill_after=rnd.uniform(0.3, 2.5))
        kills += 1
        partial = tmp_path / "_slow_toy.partial.json"
        if partial.exists():                      # whatever survived is whole JSON
            json.loads(partial.read_text())
    if not (tmp_path / "_slow_toy.json").exists():
        _run_toy(tmp_path, "--resume")
    assert _units(tmp_path) == uninterrupted
    _count("experiment killed and resumed", kills)


# ----------------------------------------------------------------------------- checkpoints
def _setup(seed=0):
    torch.manual_seed(seed)
    data = R.sin_cos(D=3, M=120, seed=seed, dtype=F64, device="cpu")
    return data, MeanFieldNet(3, 20, dtype=F64)


def _params(net):
    return [p.detach().clone() for p in net.parameters()]


def test_divergence_never_overwrites_the_last_good_checkpoint(tmp_path):
    """SGD at lr 3 on the quadratic blows up in epoch 3: the checkpoint keeps epoch 2, the
    diverged state goes to ``.diverged``, and resuming starts from epoch 2 and says so."""
    data = R.quadratic(D=3, M=120, dtype=F64, device="cpu")

    def run(resume):
        torch.manual_seed(0)
        net = MeanFieldNet(3, 20, dtype=F64)
        h = fit(net, torch.optim.SGD(net.parameters(), lr=3.0), data, epochs=50, checkpoint=ck, resume=resume)
        return h, net

    ck = tmp_path / "run.pt"
    h, _ = run(False)
    assert h.diverged and h.divergence["epoch"] == 3
    kept = torch.load(ck, weights_only=True)
    assert kept["epoch"] == 2 and not kept["history"]["diverged"]
    assert all(bool(torch.isfinite(v).all()) for v in kept["model"].values())
    assert torch.load(diverged_path(ck), weights_only=True)["epoch"] == 3
    h2, _ = run(True)
    assert h2.config["resumed_from"] == {"checkpoint": str(ck), "epoch": 2, "step": 2}
    assert h2.diverged and h2.divergence == h.divergence and h2.train_loss[:3] == h.train_loss[:3]
    assert torch.load(ck, weights_only=True)["epoch"] == 2
    _count("training run diverged with a checkpoint")


def _checkpoint(tmp_path) -> tuple[Path, bytes]:
    data, net = _setup()
    ck = tmp_path / "ok.pt"
    fit(net, torch.optim.Adam(net.parameters(), lr=1e-2), data, epochs=2, batch_size=32, checkpoint=ck)
    return ck, ck.read_bytes()


def _assert_refused(path, net, opt, match=None):
    before, before_opt = _params(net), json.dumps(str(opt.state_dict()))
    with pytest.raises(CheckpointError, match=match or path.name):
        load_checkpoint(path, net, opt)
    assert all(torch.equal(a, b) for a, b in zip(before, _params(net))), "model changed"
    assert json.dumps(str(opt.state_dict())) == before_opt, "optimizer changed"


def test_truncated_and_corrupted_checkpoints_are_refused_naming_the_file(tmp_path):
    ck, raw = _checkpoint(tmp_path)
    data, net = _setup(1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    rnd = random.Random(0)
    bad = tmp_path / "bad.pt"
    cuts = [0, 1, 10, 100, len(raw) // 3, len(raw) // 2, len(raw) - 200, len(raw) - 1]
    for cut in cuts:
        bad.write_bytes(raw[:cut])
        _assert_refused(bad, net, opt)
    good = torch.load(ck, weights_only=True)["model"]
    refused = 0
    for _ in range(30):
        b = bytearray(raw)
        for _ in range(rnd.randint(1, 8)):
            i = rnd.randrange(len(b))
            b[i] = (b[i] + rnd.randrange(1, 256)) % 256      # a byte that really changes
        bad.write_bytes(bytes(b))
        try:
            load_checkpoint(bad, net, opt)
        except CheckpointError as e:
            assert "bad.pt" in str(e)
            refused += 1
        else:       # only a change outside the contents (zip bookkeeping) may load: whole
            assert all(torch.equal(v, net.state_dict()[k]) for k, v in good.items())
        data, net = _setup(1)
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    assert refused >= 25, refused
    # a flip inside a tensor's data: the sha256 refuses it
    state = torch.load(ck, weights_only=True)
    w = next(iter(state["model"]))
    state["model"][w] = state["model"][w].clone()
    state["model"][w].view(-1)[0] += 1e-12
    torch.save(state, bad)
    _assert_refused(bad, net, opt, match="sha256")
    bad.write_text('{"json": "not a checkpoint"}')
    _assert_refused(bad, net, opt)
    _assert_refused(tmp_path / "missing.pt", net, opt)
    _count("checkpoint truncated", len(cuts))
    _count("checkpoint bytes flipped (refused, or loaded whole)", 30)
    _count("checkpoint with one weight changed by 1e-12 (refused by its sha256)")
    _count("checkpoint of another program / missing", 2)


def test_checkpoints_of_another_run_are_refused_naming_the_file(tmp_path):
    ck, _ = _checkpoint(tmp_path)
    state = torch.load(ck, weights_only=True)
    data, net = _setup(1)
    cases = {
        "older savlib": {k: v for k, v in state.items() if k not in ("format", "version")},
        "version": {**state, "version": 99},
        "incomplete": {k: v for k, v in state.items() if k != "optimizer"},
        "optimizer": None,
        "shapes": None,
        "non-finite": {**state, "model": {k: v * math.nan for k, v in state["model"].items()}},
    }
    for name, payload in cases.items():
        p = tmp_path / f"{name}.pt"
        if name == "optimizer":
            torch.save(state, p)
            _assert_refused(p, net, torch.optim.SGD(net.parameters(), lr=0.1), match="optimizer Adam")
            continue
        if name == "shapes":
            torch.save(state, p)
            other = MeanFieldNet(3, 21, dtype=F64)
            _assert_refused(p, other, torch.optim.Adam(other.parameters(), lr=1e-2), match="shapes")
            continue
        if "sha256" in payload:        # signed again, so that the check named here refuses it
            payload = {k: v for k, v in payload.items() if k != "sha256"}
            payload["sha256"] = _digest(payload)
        torch.save(payload, p)
        _assert_refused(p, net, torch.optim.Adam(net.parameters(), lr=1e-2), match=REASON[name])
    # what fit needs besides the model and the optimizer, when it resumes
    lean = {k: v for k, v in state.items() if k not in ("sampler", "sha256")}
    lean["sha256"] = _digest(lean)
    torch.save(lean, tmp_path / "lean.pt")
    load_checkpoint(tmp_path / "lean.pt", net, torch.optim.Adam(net.parameters(), lr=1e-2))
    data, net = _setup(1)
    with pytest.raises(CheckpointError, match=r"lacks \['sampler'\]"):
        load_checkpoint(tmp_path / "lean.pt", net, torch.optim.Adam(net.parameters(), lr=1e-2),
                        require=FIT_KEYS)
    _count("checkpoint of another run", len(cases) + 1)


REASON = {"older savlib": "not a savlib", "version": "format version 99", "incomplete": "lacks",
          "non-finite": "non-finite"}


def test_checkpoint_of_format_version_1_without_checksum_still_loads(tmp_path):
    ck, _ = _checkpoint(tmp_path)
    state = torch.load(ck, weights_only=True)
    assert state["version"] == 2 and len(state["sha256"]) == 64
    old = {k: v for k, v in state.items() if k != "sha256"}
    old["version"] = 1
    torch.save(old, tmp_path / "v1.pt")
    data, net = _setup(1)
    load_checkpoint(tmp_path / "v1.pt", net, torch.optim.Adam(net.parameters(), lr=1e-2))
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state["model"].items())


def test_save_checkpoint_is_atomic(tmp_path, monkeypatch):
    """A crash while writing leaves the previous checkpoint whole."""
    ck, raw = _checkpoint(tmp_path)
    data, net = _setup()
    real = torch.save

    def dies(obj, f, *a, **k):
        real(obj, f, *a, **k)
        Path(f).write_bytes(Path(f).read_bytes()[:50])
        raise KeyboardInterrupt
    monkeypatch.setattr(torch, "save", dies)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(ck, net, torch.optim.Adam(net.parameters()), {"epoch": 9})
    assert ck.read_bytes() == raw
    _count("crash while writing a checkpoint")


# ----------------------------------------------------------------------------- data files
def test_corrupt_mnist_pickle_is_refused_before_unpickling(tmp_path):
    from savlib.problems.mnist import MNISTIntegrityError, load_pkl_verified

    src = tmp_path / "mnist.pkl.gz"
    with gzip.open(src, "wb") as f:
        f.write(b"not the real file")
    raw = src.read_bytes()
    for i, variant in enumerate([raw[:5], raw + b"x", b"", raw[::-1]]):
        p = tmp_path / f"m{i}.pkl.gz"
        p.write_bytes(variant)
        with pytest.raises(MNISTIntegrityError, match=p.name):
            load_pkl_verified(p)
    _count("MNIST pickle corrupted", 4)


def test_corrupt_idx_files_name_the_file(tmp_path):
    from savlib.problems.mnist import read_idx

    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    data = bytes([0, 0, 8, 3]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape) + arr.tobytes()
    rnd = random.Random(1)
    n = 0
    for gz in (False, True):
        blob = gzip.compress(data) if gz else data
        for cut in sorted({0, 3, 7, 15, len(blob) // 2, len(blob) - 1} | {rnd.randrange(len(blob)) for _ in range(4)}):
            p = tmp_path / f"cut{n}-idx3-ubyte{'.gz' if gz else ''}"
            p.write_bytes(blob[:cut])
            with pytest.raises(ValueError, match=p.name):
                read_idx(p)
            n += 1
    _count("IDX file truncated", n)


def test_corrupt_stored_results_name_the_file(tmp_path):
    good = {"experiment": "x", "value": 1}
    raw = json.dumps(good)
    n = 0
    for cut in (0, 1, len(raw) // 2, len(raw) - 1):
        (tmp_path / "x.json").write_text(raw[:cut])
        with pytest.raises(ResultError, match="x.json"):
            record.load_result("x", tmp_path)
        n += 1
    (tmp_path / "x.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ResultError, match="x.json"):
        record.load_result("x", tmp_path)
    with pytest.raises(ResultError, match="nothere.json"):
        record.load_result("nothere", tmp_path)
    _count("stored result corrupted or missing", n + 2)


def test_fault_counts():
    """Runs last in this file: the number of faults tried above, for the record."""
    print("\nfaults tried:", json.dumps(TRIED, indent=1), "total", sum(TRIED.values()))
    assert sum(TRIED.values()) > 0
