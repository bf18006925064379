"""``benchmarks/step_cost.py`` runs and reports (not a timing test: nothing here compares
times; the targets are checked by the benchmark itself, from one run on a quiet machine).

* a tiny run (n = 1e3, a few iterations) exercises every scheme row and the JSON layout the
  book reads;
* ``targets`` and ``report`` turn a stored result into the README table and the check of the cost bounds,
  and a target that is missed is named as missed.
"""
import copy
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("step_cost", ROOT / "benchmarks" / "step_cost.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def tiny(bench):
    import torch
    threads = torch.get_num_threads()
    try:
        return bench.time_sizes([1e3], batch=4, reps=2, iters=2, threads=1, progress=False)
    finally:
        torch.set_num_threads(threads)


def test_tiny_run_has_every_scheme_and_ratio(bench, tiny):
    (key, row), = tiny.items()
    names = [name for name, _, _ in bench.schemes()]
    assert {"SGD", "Adam", "SAV", "SGD(closure)", "IEQAdaptive"} <= set(names)
    assert set(row["iter_seconds"]) == set(names)
    assert row["iter_vs_sgd"]["SGD"] == 1.0 and row["iter_vs_adam"]["Adam"] == 1.0
    assert all(t > 0 for t in row["iter_seconds"].values())
    # every iteration is a sample (reps * iters), the round means one per round
    assert all(len(v) == 4 for v in row["iter_samples"].values())
    assert all(len(v) == 2 for v in row["iter_round_means"].values())
    # the reported ratio is the median of per-slot pairs; the ratio of medians is kept too
    assert set(row["iter_vs_sgd_unpaired"]) == set(names)
    s, g = row["iter_samples"]["SAV"], row["iter_samples"]["SGD"]
    pairs = sorted(a / b for a, b in zip(s, g))
    assert row["iter_vs_sgd"]["SAV"] == pytest.approx((pairs[1] + pairs[2]) / 2, rel=1e-12)
    assert "IEQAdaptive" not in row["step_seconds"]      # differentiates inside its step


def _fake_result(tiny, value):
    """The tiny run's layout at three sizes >= 1e5 with every ratio set to ``value``."""
    (_, row), = tiny.items()
    row = copy.deepcopy(row)
    for key in ("iter_vs_sgd", "iter_vs_adam", "step_vs_sgd"):
        row[key] = {k: (1.0 if k in ("SGD", "Adam") and key != "step_vs_sgd" else value)
                    for k in row[key]}
    timing = {str(n): row for n in (100000, 1000000, 10000000)}
    return dict(timing=timing, memory={"1000000": {"vs_adam": {"SAV": 0.9, "A-SAV": 1.0}}},
                ieq_batch={"64": {"iter_vs_sgd": {"SGD": 1.0, "IEQ": 2.0}}})


def test_targets_and_report(bench, tiny):
    ok = _fake_result(tiny, 1.0)
    rows = bench.targets(ok)
    labels = {r[0] for r in rows}
    assert {"iter / SGD <= 1.10", "iter / Adam <= 1.05", "iter / SGD <= 1.4",
            "IEQ iter / SGD <= 2.5", "peak memory / Adam <= 1.1"} == labels
    # 3 sizes x (3 plain + 2 adaptive + RelSAV) + IEQ + 2 memory rows
    assert len(rows) == 3 * 6 + 1 + 2
    text = bench.report(ok)
    assert text.startswith("| scheme | iter/SGD 1e5 | iter/SGD 1e6 | iter/SGD 1e7 |")
    assert f"{len(rows)} of {len(rows)} met." in text
    bad = _fake_result(tiny, 1.12)          # plain schemes 1.12x SGD: missed, and said so
    text = bench.report(bad)
    assert "not met" in text and "SAV n=1e5 iter / SGD = 1.120 (bound 1.1; floor 1.120, above " in text
    assert "RelSAV n=1e5" not in text.split("Floors")[0]
    # with the floors below the bound, a miss is the scheme's own cost, not called unreachable
    for t in bad["timing"].values():
        t["iter_vs_sgd"]["floor:SAV"] = 1.04
    text = bench.report(bad)
    assert "SAV n=1e5 iter / SGD = 1.120 (bound 1.1; floor 1.040)" in text and "unreachable" not in text
    high = _fake_result(tiny, 1.5)
    assert ("RelSAV n=1e5 iter / SGD = 1.500 (bound 1.4; floor 1.500, above the bound: unreachable)"
            in bench.report(high))
    assert "RelSAV n=1e5" not in text       # 1.06 <= 1.4
    assert "Floors per iteration / SGD in the same run" in text and "floor:RelSAV 1.120" in text


def test_floor_rows_do_sgds_update_and_what_they_name(bench):
    """The floors are torch's SGD step plus the reduction (and, relaxed, the copy and the
    second closure call): the parameters move exactly as SGD's do."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    start = [p.detach().clone() for p in model.parameters()]
    calls = []

    def closure():
        calls.append(torch.is_grad_enabled())
        model.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        if torch.is_grad_enabled():
            loss.backward()
        return loss

    for relax in (False, True):
        with torch.no_grad():
            for p, s in zip(model.parameters(), start):
                p.copy_(s)
        calls.clear()
        bench.FloorSGD(model.parameters(), lr=0.1, relax=relax).step(closure)
        got = [p.detach().clone() for p in model.parameters()]
        with torch.no_grad():
            for p, s in zip(model.parameters(), start):
                p.copy_(s)
        closure()
        torch.optim.SGD(model.parameters(), lr=0.1).step()
        assert all(torch.equal(a, p) for a, p in zip(got, model.parameters()))
        assert calls[:2] == ([True, False] if relax else [True, True])


def test_report_of_the_stored_run(bench):
    path = ROOT / "benchmarks" / "results" / "step_cost.json"
    res = json.loads(path.read_text())
    text = bench.report(res)
    for name in ("SGD", "Adam", "SAV", "ExpSAV", "IEQAdaptive"):
        assert f"| {name} |" in text
    assert "Cost bounds:" in text
