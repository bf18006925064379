"""PM and SPM (seed 000 section 2.1, eq. 9, Algorithm 1): formulas, time scaling, smoothing."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from savlib.particles import MeanFieldNet, SmoothedParticleNet, mean_field_time, particle_velocity

F64 = torch.float64


def _net(D=3, m=7, out=None, act="tanh", ts="particle", seed=0):
    g = torch.Generator().manual_seed(seed)
    return MeanFieldNet(D, m, out, activation=act, time_scale=ts, generator=g, dtype=F64)


def _data(N=11, D=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, D, generator=g, dtype=F64), torch.randn(N, generator=g, dtype=F64)


@settings(max_examples=15, deadline=None)
@given(D=st.integers(1, 4), m=st.integers(1, 9), out=st.sampled_from([None, 1, 3]),
       act=st.sampled_from(["relu", "tanh", "sigmoid"]), ts=st.sampled_from(["particle", "gd"]))
def test_forward_is_the_mean_field_sum(D, m, out, act, ts):
    net = _net(D, m, out, act, ts)
    x, _ = _data(5, D)
    sig = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[act]
    xb = torch.cat([x, torch.ones(5, 1, dtype=F64)], 1)
    a, w = net.a.detach(), net.w.detach()
    expect = sum(torch.outer(sig(xb @ w[k]), a[k].reshape(-1)) for k in range(m)) / m
    expect = expect[:, 0] if out is None else expect
    torch.testing.assert_close(net(x), expect, rtol=1e-12, atol=1e-12)
    assert net(x).shape == ((5,) if out is None else (5, out))


def _eq9_velocity(net, x, y):
    """Seed 000 eq. (9) written out: da_k/dt = -E[(f - y) sigma(z_k)],
    dw_k/dt = -E[(f - y) a_k sigma'(z_k) [x; 1]] (tanh, sigma' = 1 - tanh^2)."""
    xb = torch.cat([x, torch.ones(x.shape[0], 1, dtype=F64)], 1)
    a, w = net.a.detach(), net.w.detach()
    z = xb @ w.T
    r = (torch.tanh(z) @ a / net.m - y)
    va = -(r[:, None] * torch.tanh(z)).mean(0)
    vw = -((r[:, None] * a[None, :] * (1 - torch.tanh(z) ** 2))[:, :, None] * xb[:, None, :]).mean(0)
    return va, vw


def test_particle_velocity_matches_eq9():
    net = _net(m=6)
    x, y = _data()
    va, vw = particle_velocity(net, x, y)
    ea, ew = _eq9_velocity(net, x, y)
    torch.testing.assert_close(va, ea, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(vw, ew, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("ts", ["particle", "gd"])
def test_time_scaling_of_one_sgd_step(ts):
    """PM-Euler = SGD(lr=dt) on net.parameters(): with time_scale='particle' the particles move
    by dt * v (eq. 9); with 'gd' by dt * (2/m) v, i.e. mean_field_time(dt, 1, m, 'gd')."""
    m, dt = 8, 0.3
    net = _net(m=m, ts=ts)
    x, y = _data()
    va, vw = _eq9_velocity(net, x, y)
    a0, w0 = net.a.detach().clone(), net.w.detach().clone()
    opt = torch.optim.SGD(net.parameters(), lr=dt)
    opt.zero_grad()
    ((net(x) - y) ** 2).mean().backward()
    opt.step()
    tau = mean_field_time(dt, 1, m, ts)
    assert tau == pytest.approx(dt if ts == "particle" else 2 * dt / m)
    torch.testing.assert_close(net.a.detach() - a0, tau * va, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(net.w.detach() - w0, tau * vw, rtol=1e-10, atol=1e-14)


def test_time_scale_does_not_change_the_function():
    a, b = _net(ts="particle", seed=3), _net(ts="gd", seed=3)
    x, _ = _data()
    torch.testing.assert_close(a(x), b(x), rtol=1e-12, atol=1e-14)
    assert a.scale == pytest.approx(math.sqrt(a.m / 2)) and b.scale == 1.0


def _explicit_spm_loss(spm, x, y):
    """Algorithm 1 by hand: for each j build shifted particles and average the J MSE losses."""
    xi_a, xi_w = spm.shifts()
    net = spm.net
    losses = []
    for j in range(spm.J):
        a = net.a + spm.h * xi_a[j]
        w = net.w + spm.h * xi_w[j]
        f = net.sigma(x @ w[:, :-1].T + w[:, -1]) @ a / net.m
        losses.append(((f - y) ** 2).mean())
    return sum(losses) / spm.J


@pytest.mark.parametrize("shared", [True, False])
def test_spm_loss_and_gradient_match_explicit_algorithm(shared):
    net = _net(m=5)
    spm = SmoothedParticleNet(net, J=4, h=0.3, shared=shared, seed=2)
    spm.begin_step()
    x, y = _data()
    mse = lambda p, t: ((p - t) ** 2).mean()  # noqa: E731
    l1 = spm.training_loss(mse, x, y)
    g1 = torch.autograd.grad(l1, list(spm.parameters()))
    l2 = _explicit_spm_loss(spm, x, y)
    g2 = torch.autograd.grad(l2, list(spm.parameters()))
    torch.testing.assert_close(l1, l2, rtol=1e-12, atol=1e-14)
    for u, v in zip(g1, g2):
        torch.testing.assert_close(u, v, rtol=1e-10, atol=1e-13)
    xi_a, xi_w = spm.shifts()
    assert xi_w.shape[1] == (1 if shared else net.m)  # shared: one xi_j for all particles


def test_spm_tends_to_pm_as_h_to_zero():
    net = _net(m=6)
    x, y = _data()
    mse = lambda p, t: ((p - t) ** 2).mean()  # noqa: E731
    lpm = mse(net(x), y)
    gpm = torch.autograd.grad(lpm, list(net.parameters()))
    spm0 = SmoothedParticleNet(net, J=3, h=0.0)
    l0 = spm0.training_loss(mse, x, y)
    g0 = torch.autograd.grad(l0, list(net.parameters()))
    torch.testing.assert_close(l0, lpm, rtol=1e-13, atol=0)
    for u, v in zip(g0, gpm):
        torch.testing.assert_close(u, v, rtol=1e-12, atol=1e-15)
    errs = []
    for h in (1e-2, 1e-3, 1e-4):
        spm = SmoothedParticleNet(net, J=10, h=h, seed=5)  # same seed: same xi, only h changes
        lh = spm.training_loss(mse, x, y)
        gh = torch.autograd.grad(lh, list(net.parameters()))
        errs.append(max((u - v).abs().max().item() for u, v in zip(gh, gpm)))
    assert errs[0] > errs[1] > errs[2]
    assert errs[1] / errs[2] == pytest.approx(10, rel=0.05)  # first order in h for finite J


def test_spm_reuses_xi_within_a_step_and_resumes_from_state_dict():
    net = _net(m=4)
    spm = SmoothedParticleNet(net, J=3, h=0.1, seed=7)
    x, y = _data()
    mse = lambda p, t: ((p - t) ** 2).mean()  # noqa: E731
    spm.begin_step()
    a = spm.training_loss(mse, x, y)
    with torch.no_grad():
        b = spm.training_loss(mse, x, y)
    assert a.item() == b.item()  # RelSAV's second evaluation sees the same xi
    state = spm.state_dict()
    spm.begin_step()
    c = spm.training_loss(mse, x, y).item()
    assert c != a.item()
    spm.load_state_dict(state)
    spm.begin_step()
    assert spm.training_loss(mse, x, y).item() == c
    torch.testing.assert_close(spm(x), net(x))  # forward = unshifted PM prediction


def test_bad_inputs():
    with pytest.raises(ValueError, match="m must"):
        MeanFieldNet(3, 0)
    with pytest.raises(ValueError, match="activation"):
        MeanFieldNet(3, 4, activation="nope")
    with pytest.raises(ValueError, match="time_scale"):
        MeanFieldNet(3, 4, time_scale="seconds")
    with pytest.raises(ValueError, match="shape"):
        MeanFieldNet(3, 4)(torch.zeros(2, 5))
    with pytest.raises(TypeError, match="MeanFieldNet"):
        SmoothedParticleNet(torch.nn.Linear(2, 1))
    with pytest.raises(ValueError, match="h must"):
        SmoothedParticleNet(MeanFieldNet(2, 3), h=-1.0)
    with pytest.raises(ValueError, match="J must"):
        SmoothedParticleNet(MeanFieldNet(2, 3), J=0)
