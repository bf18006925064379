"""Results of record (savlib.experiments.record): provenance, stale results, partial results
and resume, on a toy experiment; and the check that no stored result in benchmarks/results is
stale (its configuration is the one the current code declares for its command)."""
from __future__ import annotations

import json
import math
import os

import pytest

from savlib import experiments as E
from savlib.errors import ConfigError, ResultError
from savlib.experiments import record
from savlib.experiments.__main__ import main


# ----------------------------------------------------------------------------- the stored results
def test_no_stored_result_is_stale(monkeypatch):
    monkeypatch.delenv("SAVLIB_SEED", raising=False)
    stale = record.stale_results()
    assert not stale, "stale results of record; regenerate them with:\n" + "\n".join(
        f"  {f}: {why}\n    {cmd}" for f, why, cmd in stale)


def test_every_stored_experiment_result_has_provenance():
    found = 0
    for path in sorted(record.RESULTS_DIR.glob("*.json")):
        res = json.loads(path.read_text())
        if "experiment" not in res or path.name.endswith(".partial.json"):
            continue
        found += 1
        prov = res.get("provenance") or {}
        missing = {"command", "commit", "config", "machine", "wall_seconds", "created"} - set(prov)
        assert not missing, f"{path.name}: provenance lacks {sorted(missing)}"
        assert prov["command"].startswith(f"python -m savlib.experiments {res['experiment']} --")
        assert prov["wall_seconds"] > 0 and prov["config"]
    assert found > 0


def test_every_benchmark_result_has_provenance():
    """The benchmarks' JSONs (``benchmarks/*.py``) carry the command that wrote them, the
    commit, the machine, the wall time and the date; the command names an existing script."""
    found = 0
    for path in sorted(record.RESULTS_DIR.glob("*.json")):
        res = json.loads(path.read_text())
        if "experiment" in res or path.name.endswith(".partial.json"):
            continue
        found += 1
        prov = res.get("provenance") or {}
        missing = {"command", "commit", "machine", "wall_seconds", "created"} - set(prov)
        assert not missing, f"{path.name}: provenance lacks {sorted(missing)}"
        script = prov["command"].split()[1]
        assert prov["command"].startswith("python benchmarks/") and (record.RESULTS_DIR.parents[1] / script).is_file()
    assert found > 0


# ----------------------------------------------------------------------------- a toy experiment
CALLS: list[str] = []


def toy(size="quick", device=None, progress=False, *, seed=0, n=None, scale=1.0, fail_at=None, ctx=None):
    """Units k = 0..n-1 with value scale * (seed + k) and one NaN; ``fail_at`` interrupts."""
    ctx = ctx or record.Context()
    cfg = ctx.declare(n=n or (4 if size == "full" else 2), scale=scale, seed=seed)
    out = []
    for k in range(cfg["n"]):
        def compute(k=k):
            if k == fail_at:
                raise KeyboardInterrupt
            CALLS.append(f"{seed}/{k}")
            return {"value": scale * (seed + k), "nan": math.nan, "pair": (k, k)}
        out.append(ctx.unit(f"k{k}", compute))
    return {"size": size, "seed": seed, "units": out}


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.delenv("SAVLIB_SEED", raising=False)
    E.register("_toy", "toy experiment of the tests", toy)
    CALLS.clear()
    yield
    E.EXPERIMENTS.pop("_toy", None)


def test_resolve_config_runs_nothing(toy_registered):
    cfg = record.resolve_config("_toy", "full", seed=3, scale=2.0)
    assert cfg == {"n": 4, "scale": 2.0, "seed": 3, "seed_offset": 0} and CALLS == []
    with pytest.raises(ConfigError):
        record.resolve_config("_toy", "full", nope=1)
    with pytest.raises(ConfigError):
        record.resolve_config("_no_such_experiment", "full")
    with pytest.raises(ConfigError):
        record.resolve_config("_toy", "huge")


def test_run_writes_provenance_and_removes_the_partial_file(toy_registered, tmp_path):
    res = E.run("_toy", size="full", out=tmp_path, seed=1, scale=0.5)
    stored = record.load_result("_toy", tmp_path)
    prov = stored["provenance"]
    assert prov["command"] == "python -m savlib.experiments _toy --full --seed 1 --set 'scale=0.5' " \
                              "--out benchmarks/results"
    assert prov["config"] == record.resolve_config("_toy", "full", 1, scale=0.5)
    assert {"platform", "cpus", "torch", "savlib"} <= set(prov["machine"]) and prov["wall_seconds"] >= 0
    assert [u["value"] for u in stored["units"]] == [0.5, 1.0, 1.5, 2.0]
    assert math.isnan(stored["units"][0]["nan"]) and stored["units"][0]["pair"] == [0, 0]
    assert json.dumps(record.json_safe(res["units"])) == json.dumps(record.json_safe(stored["units"]))
    assert not (tmp_path / "_toy.partial.json").exists()
    assert record.stale_results(tmp_path) == []
    # a changed default makes the stored result stale, and the report names the command
    raw = json.loads((tmp_path / "_toy.json").read_text())
    raw["provenance"]["config"]["n"] = 5
    (tmp_path / "_toy.json").write_text(json.dumps(raw))
    [(name, why, cmd)] = record.stale_results(tmp_path)
    assert name == "_toy.json" and "n" in why and cmd == prov["command"]


def test_an_interrupted_run_resumes_to_the_same_result(toy_registered, tmp_path):
    whole = E.run("_toy", size="full", out=tmp_path / "a")
    CALLS.clear()
    with pytest.raises(KeyboardInterrupt):
        E.run("_toy", size="full", out=tmp_path / "b", fail_at=2)
    partial = json.loads((tmp_path / "b" / "_toy.partial.json").read_text())
    assert list(partial["units"]) == list(partial["unit_seconds"]) == ["k0", "k1"] and CALLS == ["0/0", "0/1"]
    # resuming with another configuration is refused before any unit runs
    with pytest.raises(ConfigError):
        E.run("_toy", size="full", out=tmp_path / "b", resume=True, scale=2.0)
    CALLS.clear()
    res = E.run("_toy", size="full", out=tmp_path / "b", resume=True, fail_at=None)
    assert CALLS == ["0/2", "0/3"]
    assert json.dumps(record.json_safe(res["units"])) == json.dumps(record.json_safe(whole["units"]))
    assert res["provenance"]["resumed_units"] == 2
    # the compute of the resumed units is kept with them and counted in the total
    assert res["provenance"]["unit_seconds_total"] >= sum(partial["unit_seconds"].values()) > 0


def test_unwritable_out_fails_before_running(toy_registered, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ResultError):
        E.run("_toy", size="full", out=blocker / "sub")
    assert CALLS == []


def test_a_corrupt_partial_file_is_named(toy_registered, tmp_path):
    (tmp_path / "_toy.partial.json").write_text("{not json")
    with pytest.raises(ResultError, match="_toy.partial.json"):
        E.run("_toy", size="full", out=tmp_path, resume=True)


def test_cli_user_errors_are_one_line_and_exit_2(toy_registered, tmp_path, capsys):
    assert main(["_toy", "--full", "--no-progress", "--out", str(tmp_path), "--set", "nope=1"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err and CALLS == []
    assert main(["_toy", "--full", "--no-progress", "--out", str(tmp_path), "--set", "n=3"]) == 0
    assert len(record.load_result("_toy", tmp_path)["units"]) == 3


def test_savlib_seed_is_recorded_in_the_config(toy_registered, monkeypatch):
    monkeypatch.setenv("SAVLIB_SEED", "4")
    assert record.resolve_config("_toy", "quick")["seed_offset"] == 4
    with pytest.raises(ConfigError):
        record.stale_results()
    monkeypatch.delenv("SAVLIB_SEED")
    assert os.environ.get("SAVLIB_SEED") is None


def test_provenance_records_the_commit_the_run_started_from(toy_registered, tmp_path, monkeypatch):
    """A commit made while a long run goes on must not be recorded as its code."""
    commits = iter(["abc-at-start", "def-at-end"])
    monkeypatch.setattr(E, "_git_commit", lambda *a: next(commits))
    monkeypatch.setattr(record, "_git_commit", lambda *a: "def-at-end")
    E.run("_toy", size="full", out=tmp_path)
    assert record.load_result("_toy", tmp_path)["provenance"]["commit"] == "abc-at-start"
