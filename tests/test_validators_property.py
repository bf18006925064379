"""Property tests of savlib's input validators: for any bad value hypothesis finds, a public
function raises ValueError or TypeError (savlib's own errors subclass these) with a message
that names the argument, before doing any work; no other exception type escapes.

Each test draws values outside the documented domain of one argument (non-positive or
non-integer sizes, NaN/inf, strings, wrong shapes) and checks the error's type and text."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from savlib.analysis import lanczos
from savlib.meanfield import Grid, forward, init_params, msa, pam, regression_objective
from savlib.particles import MeanFieldNet
from savlib.problems import regression as R
from savlib.train import fit

SETTINGS = settings(max_examples=40, deadline=None)
not_positive_int = st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.text(max_size=3),
                             st.none())
bad_number = st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf), st.just(-math.inf))


def _raises_naming(fn, name):
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    assert name in str(info.value), (name, str(info.value))


@SETTINGS
@given(D=not_positive_int, M=not_positive_int)
def test_regression_problem_sizes(D, M):
    if isinstance(D, int) and D >= 1 and isinstance(M, int) and M >= 1:
        return
    with pytest.raises((ValueError, TypeError)):
        R.sin_cos(D=D, M=M)


@SETTINGS
@given(frac=st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0), st.just(math.nan)))
def test_regression_train_fraction(frac):
    _raises_naming(lambda: R.quadratic(D=2, M=50, train_fraction=frac), "train_fraction")


A = torch.diag(torch.arange(1.0, 7.0, dtype=torch.float64))


@SETTINGS
@given(k=st.one_of(st.integers(max_value=0), st.integers(min_value=7), st.floats(), st.text(max_size=2)))
def test_lanczos_k(k):
    _raises_naming(lambda: lanczos(A, k=k), "k")


@SETTINGS
@given(tol=bad_number)
def test_lanczos_tol(tol):
    if tol > 0:          # inf is a (useless) valid tolerance
        return
    _raises_naming(lambda: lanczos(A, k=1, tol=tol), "tol")


@SETTINGS
@given(which=st.text(max_size=3).filter(lambda w: w not in ("LA", "SA", "LM")))
def test_lanczos_which(which):
    _raises_naming(lambda: lanczos(A, which=which), "which")


GRID = Grid(1, 4)
P = init_params(GRID, 3)
F0 = torch.zeros(2, GRID.N, dtype=P["a"].dtype)


@SETTINGS
@given(T=st.one_of(bad_number, st.text(max_size=2)))
def test_meanfield_depth(T):
    _raises_naming(lambda: forward(F0, P["a"], P["b"], GRID, T), "T")


@SETTINGS
@given(i=st.integers(0, 2 * GRID.N - 1), bad=st.sampled_from([math.nan, math.inf, -math.inf]),
       which=st.sampled_from(["f0", "a"]))
def test_meanfield_inputs_must_be_finite(i, bad, which):
    f0, a = F0.clone(), P["a"].clone()
    (f0 if which == "f0" else a).view(-1)[i % (f0 if which == "f0" else a).numel()] = bad
    _raises_naming(lambda: forward(f0, a, P["b"], GRID, 1.0), which)


@SETTINGS
@given(lr=bad_number)
def test_pam_lr(lr):
    obj = regression_objective(F0[:1], torch.zeros(1, GRID.N), GRID, 1.0)
    _raises_naming(lambda: pam(obj, P, tau=1.0, outer=1, lr=lr), "lr")


@SETTINGS
@given(rho=st.one_of(st.floats(max_value=-1e-9), st.just(math.nan), st.just(math.inf)))
def test_msa_rho(rho):
    _raises_naming(lambda: msa(F0[:1], P["a"], P["b"], F0[:1], GRID, 1.0, (-1, 1, -1, 1), 1, rho=rho), "rho")


DATA = R.sin_cos(D=2, M=40, dtype=torch.float64)


@SETTINGS
@given(epochs=st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=2)))
def test_fit_epochs(epochs):
    net = MeanFieldNet(2, 4, dtype=torch.float64)
    with pytest.raises((ValueError, TypeError)) as info:
        fit(net, torch.optim.SGD(net.parameters(), lr=0.1), DATA, epochs=epochs)
    assert "epochs" in str(info.value)
