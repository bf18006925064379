"""The experiment runner's command line under bad input: every user error is one line on
stderr and exit status 2, before any training starts; nothing raises a traceback.

Fuzzed with hypothesis over option names, --set keys and values, thread counts and output
directories; every case runs ``main(argv)`` in-process and fails if an experiment starts."""
from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import savlib.experiments as E
from savlib.experiments.__main__ import _OPTIONS, main


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """Any experiment that actually starts is a test failure (all inputs here are bad)."""
    def refuse(*a, **k):
        raise AssertionError("an experiment started on bad input")
    monkeypatch.setattr(E, "seed_everything", refuse)


def _fails_cleanly(argv, capsys) -> str:
    capsys.readouterr()            # hypothesis reuses the fixture: start from empty buffers
    try:
        code = main(argv)
    except SystemExit as e:        # argparse's p.error
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, (argv, code, err)
    last = err.strip().splitlines()[-1]
    assert last.startswith("python -m savlib.experiments: error: "), (argv, err)
    assert "Traceback" not in err
    return last


FIXED = [
    ["nosuch"],
    ["ma2024_fig1", "--set", "nosuch=1"],
    ["ma2024_fig1", "--set", "M=abc"],
    ["ma2024_fig1", "--set", "M=-5"],
    ["ma2024_fig1", "--set", "M"],
    ["ma2024_fig1", "--set", "=3"],
    ["ma2024_fig1", "--set"],
    ["ma2024_fig1", "--threads", "0"],
    ["ma2024_fig1", "--threads", "-3"],
    ["ma2024_fig1", "--threads", "two"],
    ["ma2024_fig1", "--seed", "x"],
    ["ma2024_fig1", "--quick", "--full"],
    ["ma2024_fig1", "--out", "/proc/not-writable"],
    ["ma2024_fig1", "--bogus"],
] + [["ma2024_fig1", "--set", f"{k}=1"] for k in _OPTIONS]


@pytest.mark.parametrize("argv", FIXED, ids=[" ".join(a) for a in FIXED])
def test_bad_command_lines_fail_in_one_line(argv, capsys):
    _fails_cleanly(argv, capsys)


keys = st.text(string.ascii_letters + "_", min_size=1, max_size=12).filter(
    lambda k: k.isidentifier() and k not in {"steps", "M", "m", "seeds"})
values = st.one_of(st.integers(-10**6, 0).map(str), st.text(string.printable, max_size=8),
                   st.floats(allow_nan=True).map(repr))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=keys, value=values)
def test_unknown_set_keys_fail_in_one_line(key, value, capsys):
    _fails_cleanly(["ma2024_fig1", "--full", "--set", f"{key}={value}"], capsys)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.integers(-10**6, 0), st.text(string.ascii_letters, min_size=1, max_size=6),
                       st.floats(allow_nan=True, allow_infinity=True)))
def test_bad_values_of_a_known_key_fail_in_one_line(value, capsys):
    _fails_cleanly(["ma2024_fig1", "--full", "--set", f"M={value!r}" if isinstance(value, str)
                    else f"M={value}"], capsys)
