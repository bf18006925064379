"""Regression problems of seeds 000 (Ex. 1-3), 002 (Exp. 1-3) and 001 (eqs. 45-46)."""
import math

import pytest
import torch

from savlib.problems import regression as R

F64 = torch.float64


@pytest.mark.parametrize("name", sorted(R.REGRESSION_PROBLEMS))
def test_split_sizes_seeding_and_defaults(name):
    d = R.regression_problem(name, M=200, seed=3, dtype=F64)
    assert d.n_train == 160 and d.n_test == 40  # 80/20
    assert d.y_train.shape == (160,) and d.x_train.dtype == F64
    assert d.loss_fn is R.mse and set(d.metrics) == {"mse", "rel_error"}
    again = R.regression_problem(name, M=200, seed=3, dtype=F64)
    other = R.regression_problem(name, M=200, seed=4, dtype=F64)
    assert torch.equal(d.x_train, again.x_train) and torch.equal(d.y_test, again.y_test)
    assert not torch.equal(d.y_train, other.y_train)


def test_zscore_uses_pool_statistics():
    d = R.sin_cos(D=5, M=500, dtype=F64)
    x = torch.cat([d.x_train, d.x_test])
    torch.testing.assert_close(x.mean(0), torch.zeros(5, dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(x.std(0), torch.ones(5, dtype=F64), atol=1e-12, rtol=0)
    t = R.sin_cos(D=5, M=500, dtype=F64, zscore="train")
    torch.testing.assert_close(t.x_train.mean(0), torch.zeros(5, dtype=F64), atol=1e-12, rtol=0)


def test_targets_follow_the_equations():
    d = R.sin_cos(D=4, M=100, zscore=None, dtype=F64)
    p, q = torch.tensor(d.info["p"], dtype=F64), torch.tensor(d.info["q"], dtype=F64)
    torch.testing.assert_close(d.y_train, torch.sin(d.x_train @ p) + torch.cos(d.x_train @ q))
    assert 0 < d.x_train.min() and d.x_train.max() < 1
    c = [1.0, 2.0, 0.0]
    d = R.quadratic(D=3, M=100, c=c, zscore=None, dtype=F64)
    torch.testing.assert_close(d.y_train, d.x_train[:, 0] ** 2 + 2 * d.x_train[:, 1] ** 2)
    assert d.x_train.max() <= 5
    for variant, power in (("000", 1), ("002", 2)):
        g = R.gaussian(D=3, M=100, variant=variant, zscore=None, dtype=F64)
        torch.testing.assert_close(g.y_train, torch.exp(-10 * g.x_train.norm(dim=1) ** power))
        assert g.x_train.std().item() == pytest.approx(0.2, rel=0.2)
    assert R.gaussian(variant="002").n_train == 800  # seed 002: 1000 points, 800/200


def test_one_d_functions_of_seed_001():
    x = torch.tensor([0.0, 1.0, -math.pi / 8, math.pi / 2], dtype=F64)
    ms = R.multiscale_fn(x)
    assert ms[0].item() == 0.0
    assert ms[1].item() == pytest.approx(math.sin(12) / 2)  # (1 - 1) sin4/4 + sin12/2
    dc = R.discontinuous_fn(x)
    assert dc[0].item() == 0.0  # sin(0) on [-3, 0]
    assert dc[2].item() == pytest.approx(-1.0)  # sin(-pi/2)
    assert dc[3].item() == pytest.approx(2 + math.pi / 2)  # 2 + x sin x
    d = R.multiscale(M=100)
    assert d.x_train.shape == (80, 1) and d.x_train.abs().max() <= 3


def test_relative_error_and_loss_choice():
    g = torch.Generator().manual_seed(0)
    p, y = torch.randn(50, generator=g, dtype=F64), torch.randn(50, generator=g, dtype=F64)
    assert R.relative_error(7 * p, 7 * y).item() == pytest.approx(R.relative_error(p, y).item())
    assert R.relative_error(p, y).item() == pytest.approx((R.mse(p, y) / (y ** 2).mean()).item())
    assert R.sin_cos(M=50, D=2, loss="relative").loss_fn is R.relative_error


def test_bad_input():
    with pytest.raises(ValueError, match="variant"):
        R.gaussian(variant="003")
    with pytest.raises(ValueError, match="loss"):
        R.sin_cos(M=50, loss="l1")
    with pytest.raises(ValueError, match="p must have"):
        R.sin_cos(D=3, M=50, p=[1.0])
    with pytest.raises(ValueError, match="unknown regression"):
        R.regression_problem("cubic")
    with pytest.raises(ValueError, match="shape"):
        R.mse(torch.zeros(3), torch.zeros(3, 1))
