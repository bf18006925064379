"""Discrete adjoint vs autograd, checkpointing, classification head, continuous co-state.

Seed 004 section 4.1 (eq. 4.2-4.7, Prop. 4.1); book chapter book/meanfield/control.ipynb.
"""
import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from savlib.meanfield import (ACTIVATIONS, METHODS, Grid, classifier_loss_and_grad,
                              continuous_gradients, costate, forward, head_logits,
                              loss_and_grad, tikhonov, autonomous)

F64 = torch.float64


def _problem(grid, steps, batch, seed=0, scale=1.0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    N = grid.N
    f0 = torch.randn(batch, N, generator=g, dtype=F64).to(dtype)
    a = torch.randn(steps, N, generator=g, dtype=F64).to(dtype)
    b = (scale * torch.randn(steps, N, N, generator=g, dtype=F64)).to(dtype)
    tgt = torch.randn(batch, N, generator=g, dtype=F64).to(dtype)
    return f0, a, b, tgt


def _autograd(f0, a, b, tgt, grid, T, method, sigma, reg, substeps=1):
    a = a.clone().requires_grad_(True)
    b = b.clone().requires_grad_(True)
    traj = forward(f0, a, b, grid, T, method, sigma, substeps=substeps)
    J = 0.5 * grid.volume * ((traj[-1] - tgt) ** 2).sum() / f0.shape[0] + reg * tikhonov(a, b, grid, T)
    ga, gb = torch.autograd.grad(J, (a, b))
    return J.detach(), ga, gb


def _rel(x, y):
    return float((x - y).norm() / y.norm())


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("sigma", sorted(ACTIVATIONS))
def test_discrete_adjoint_equals_autograd(method, sigma):
    grid = Grid(2, 3)
    f0, a, b, tgt = _problem(grid, steps=5, batch=3, seed=hash((method, sigma)) % 1000)
    J, ga, gb = loss_and_grad(f0, a, b, tgt, grid, 0.8, method, sigma, reg=0.25)
    J_ref, ga_ref, gb_ref = _autograd(f0, a, b, tgt, grid, 0.8, method, sigma, 0.25)
    assert abs(float(J - J_ref)) <= 1e-12 * abs(float(J_ref))
    assert _rel(ga, ga_ref) < 1e-10
    assert _rel(gb, gb_ref) < 1e-10


@settings(max_examples=15, deadline=None)
@given(dim=st.integers(1, 2), cells=st.integers(1, 3), steps=st.integers(1, 4),
       batch=st.integers(1, 3), substeps=st.integers(1, 2), seed=st.integers(0, 10_000),
       method=st.sampled_from(sorted(METHODS)), sigma=st.sampled_from(sorted(ACTIVATIONS)),
       target_1d=st.booleans())
def test_adjoint_property(dim, cells, steps, batch, substeps, seed, method, sigma, target_1d):
    grid = Grid(dim, cells)
    f0, a, b, tgt = _problem(grid, steps, batch, seed)
    if target_1d:
        tgt = tgt[0]
    J, ga, gb = loss_and_grad(f0, a, b, tgt, grid, 1.3, method, sigma, substeps=substeps)
    _, ga_ref, gb_ref = _autograd(f0, a, b, tgt.expand_as(f0), grid, 1.3, method, sigma, 0.0, substeps)
    assert torch.allclose(ga, ga_ref, rtol=1e-10, atol=1e-13 * (1 + float(ga_ref.abs().max())))
    assert torch.allclose(gb, gb_ref, rtol=1e-10, atol=1e-13 * (1 + float(gb_ref.abs().max())))


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("checkpoint", [1, 3, True])
def test_checkpointing_gives_the_same_gradients_with_less_memory(method, checkpoint):
    grid = Grid(1, 6)
    f0, a, b, tgt = _problem(grid, steps=16, batch=2, seed=3, scale=0.5)
    J, ga, gb, info = loss_and_grad(f0, a, b, tgt, grid, 1.0, method, "tanh", return_info=True)
    Jc, gac, gbc, infoc = loss_and_grad(f0, a, b, tgt, grid, 1.0, method, "tanh",
                                        checkpoint=checkpoint, return_info=True)
    assert float(J) == float(Jc)
    assert torch.equal(ga, gac) and torch.equal(gb, gbc)
    assert infoc.stored_bytes < info.stored_bytes
    assert infoc.forward_steps == 2 * 16  # one recomputation of every step


def test_checkpoint_memory_grows_like_sqrt_of_depth():
    grid = Grid(1, 4)
    held = {}
    for steps in (16, 64, 256):
        f0, a, b, tgt = _problem(grid, steps, 1, seed=1, scale=0.3)
        _, _, _, full = loss_and_grad(f0, a, b, tgt, grid, 1.0, "euler", "tanh", return_info=True)
        _, _, _, ck = loss_and_grad(f0, a, b, tgt, grid, 1.0, "euler", "tanh", checkpoint=True,
                                    return_info=True)
        held[steps] = (full.stored_bytes, ck.stored_bytes)
    # without checkpoints memory is linear in depth; with sqrt checkpoints it is ~ 2 sqrt(steps)
    assert held[256][0] == 16 * held[16][0]
    assert held[256][1] <= 4.5 * held[16][1]


@pytest.mark.parametrize("loss", ["logistic", "xent"])
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_classifier_gradients_equal_autograd(loss, method):
    grid = Grid(2, 3)
    f0, a, b, _ = _problem(grid, steps=3, batch=5, seed=7)
    g = torch.Generator().manual_seed(8)
    W = torch.randn(4, grid.N, generator=g, dtype=F64)
    mu = torch.randn(4, generator=g, dtype=F64)
    labels = torch.tensor([0, 3, 1, 1, 2])
    J, grads = classifier_loss_and_grad(f0, a, b, labels, W, mu, grid, 1.0, method, "elu", loss, reg=0.1)
    leaves = [t.clone().requires_grad_(True) for t in (a, b, W, mu)]
    traj = forward(f0, leaves[0], leaves[1], grid, 1.0, method, "elu")
    O = head_logits(traj[-1], leaves[2], leaves[3], grid)
    if loss == "xent":
        Jr = torch.nn.functional.cross_entropy(O, labels)
    else:
        C = torch.nn.functional.one_hot(labels, 4).to(F64)
        Jr = 0.5 * ((torch.sigmoid(O) - C) ** 2).sum() / 5
    Jr = Jr + 0.1 * tikhonov(leaves[0], leaves[1], grid, 1.0)
    ref = torch.autograd.grad(Jr, leaves)
    assert abs(float(J - Jr.detach())) < 1e-12
    for name, r in zip("a b W mu".split(), ref):
        assert _rel(grads[name], r) < 1e-10, name


def test_continuous_costate_agrees_at_first_order():
    """Prop. 4.1 with the co-state of eq. 4.2 vs the exact discrete adjoint: O(dt)."""
    grid = Grid(1, 6)
    g = torch.Generator().manual_seed(0)
    N = grid.N
    f0 = torch.randn(2, N, generator=g, dtype=F64)
    a1 = torch.randn(N, generator=g, dtype=F64)
    b1 = torch.randn(N, N, generator=g, dtype=F64)
    tgt = torch.randn(2, N, generator=g, dtype=F64)
    errs = []
    for steps in (32, 64, 128, 256):
        a, b = autonomous(a1, b1, steps)
        _, ga, gb = loss_and_grad(f0, a, b, tgt, grid, 1.0, "euler", "tanh")
        traj = forward(f0, a, b, grid, 1.0, "euler", "tanh")
        r = costate(traj, a, b, traj[-1] - tgt, grid, 1.0, "tanh")
        ca, cb = continuous_gradients(traj, r, a, b, grid, 1.0, "tanh")
        errs.append(_rel(ca, ga) + _rel(cb, gb))
    orders = [math.log2(errs[i] / errs[i + 1]) for i in range(len(errs) - 1)]
    assert errs[0] < 0.2
    assert abs(orders[-1] - 1) < 0.1, orders


def test_float32_and_dtype_follow_inputs():
    grid = Grid(1, 5)
    f0, a, b, tgt = _problem(grid, 4, 2, seed=2, dtype=torch.float32)
    J, ga, gb = loss_and_grad(f0, a, b, tgt, grid, 1.0, "heun", "sigmoid")
    assert ga.dtype == torch.float32 and gb.dtype == torch.float32 and J.dtype == torch.float32
    J64, ga64, _ = loss_and_grad(f0.double(), a.double(), b.double(), tgt.double(), grid, 1.0, "heun", "sigmoid")
    assert _rel(ga.double(), ga64) < 1e-5


@pytest.mark.parametrize("checkpoint", [None, 2])
def test_lam0_is_the_gradient_with_respect_to_the_input(checkpoint):
    """The co-state at t = 0 is the derivative of the cost-to-go w.r.t. the state
    (the link to the HJB equation, section 4.3)."""
    grid = Grid(1, 5)
    f0, a, b, tgt = _problem(grid, steps=6, batch=2, seed=11)
    _, _, _, info = loss_and_grad(f0, a, b, tgt, grid, 1.0, "rk4", "arctan", checkpoint=checkpoint,
                                  return_info=True)
    v = f0.clone().requires_grad_(True)
    J = 0.5 * grid.volume * ((forward(v, a, b, grid, 1.0, "rk4", "arctan")[-1] - tgt) ** 2).sum() / 2
    (g,) = torch.autograd.grad(J, v)
    assert _rel(info.lam0, g) < 1e-10
    _, _, _ = loss_and_grad(f0, a, b, tgt, grid, 1.0, "rk4", "arctan")  # no info: lam0 skipped
