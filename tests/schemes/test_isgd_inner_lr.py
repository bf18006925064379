"""ISGD's inner Adam rate tied to the outer rate (inner_lr=None): the rule
``INNER_LR_FACTOR * alpha * rms(grad L(theta_n))``, and its accuracy against the exact
proximal step (seed 001 eq. 12) on a quadratic, across loss scales and step sizes."""
from __future__ import annotations

import math

import pytest
import torch

from savlib.schemes.isgd import INNER_LR_FACTOR, ISGD

F64 = torch.float64
N = 50


def _quadratic():
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(N, N, generator=g, dtype=F64))
    K = (Q * torch.logspace(0, 2, N, dtype=F64)) @ Q.T           # curvatures 1 .. 100
    return K, torch.randn(N, generator=g, dtype=F64)


def _one_step(alpha, inner_lr, s=1.0):
    K, xs = _quadratic()
    x = torch.zeros(N, dtype=F64, requires_grad=True)

    def closure():
        x.grad = None
        e = x - xs
        loss = s * 0.5 * e @ K @ e
        if torch.is_grad_enabled():
            loss.backward()
        return loss
    exact = -alpha * s * torch.linalg.solve(torch.eye(N, dtype=F64) + alpha * s * K, K @ (-xs))
    opt = ISGD([x], lr=alpha, inner="adam", inner_steps=10, inner_lr=inner_lr)
    opt.step(closure)
    err = float((x.detach() - exact).norm() / exact.norm())
    return x.detach().clone(), err, float(opt.diagnostics["inner_lr"]), float((K @ xs).norm())


def test_rule_value_and_explicit_rate_kept():
    alpha = 0.01
    _, _, gam, gnorm = _one_step(alpha, None)
    assert gam == pytest.approx(INNER_LR_FACTOR * alpha * gnorm / math.sqrt(N), rel=1e-12)
    assert _one_step(alpha, 3e-3)[2] == 3e-3


@pytest.mark.parametrize("s", [1e-3, 1e-1, 1.0])
def test_tied_rate_follows_the_scale_of_the_step(s):
    # L -> s L at fixed alpha shrinks the implicit step s-fold: the tied rate follows it,
    # Adam at a fixed rate 1e-3 jitters around theta_n at amplitude 1e-3 instead
    alpha = 1e-2
    _, tied, _, _ = _one_step(alpha, None, s=s)
    _, fixed, _, _ = _one_step(alpha, 1e-3, s=s)
    assert tied < 0.6
    assert fixed > 0.75 and tied < fixed - 0.2


@pytest.mark.parametrize("alpha", [1e-2, 1e-1])   # alpha * k_max = 1 and 10
def test_tied_rate_resolves_the_implicit_step(alpha):
    _, tied, _, _ = _one_step(alpha, None)
    _, fixed, _, _ = _one_step(alpha, 1e-3)
    assert tied < 0.6 and fixed > 0.9
