"""Hessian tools and the loss-decay identity of seed 001 eqs. 10-11 (savlib.analysis)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from savlib.analysis import (
    Hessian, flatten, gd_loss_change, hessian_matrix, hessian_spectrum, hvp, igd_loss_change, lanczos,
    loss_decay, rayleigh_quotient,
)
from savlib.gradflow import Quadratic, gd_stability_limit
from savlib.problems import mlp, poisson1d_multiscale


def _regression(seed=0, widths=(2, 6, 6, 1)):
    g = torch.Generator().manual_seed(seed)
    net = mlp(list(widths), generator=g, dtype=torch.float64)
    X = torch.randn(20, widths[0], generator=g, dtype=torch.float64)
    y = torch.sin(X.sum(1))
    return net, (lambda: ((net(X)[:, 0] - y) ** 2).mean())


def _quadratic_module(K, theta_star, theta0):
    """A module whose one parameter vector sees the loss of gradflow.Quadratic."""
    q = Quadratic(K, theta_star)
    p = torch.nn.Parameter(torch.as_tensor(theta0, dtype=torch.float64).clone())
    return q, p, (lambda: q.loss(p))


def test_hvp_matches_finite_difference_of_gradients():
    net, f = _regression()
    params = list(net.parameters())
    g = torch.Generator().manual_seed(3)
    v = torch.randn(sum(p.numel() for p in params), generator=g, dtype=torch.float64)

    def grad_at(shift):
        with torch.no_grad():
            i = 0
            for p in params:
                p.add_(shift[i:i + p.numel()].view_as(p))
                i += p.numel()
        gr = flatten(torch.autograd.grad(f(), params))
        with torch.no_grad():
            i = 0
            for p in params:
                p.sub_(shift[i:i + p.numel()].view_as(p))
                i += p.numel()
        return gr

    h = 1e-5
    fd = (grad_at(h * v) - grad_at(-h * v)) / (2 * h)
    hv = hvp(f, net, v)
    assert torch.allclose(hv, fd, rtol=1e-6, atol=1e-8 * float(fd.abs().max()))


def test_dense_hessian_matches_torch_functional():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(5, 5, generator=g, dtype=torch.float64)
    w = torch.nn.Parameter(torch.randn(5, generator=g, dtype=torch.float64))
    f = lambda: torch.tanh(A @ w).pow(3).sum() + (w**4).sum()  # noqa: E731
    H = hessian_matrix(f, [w])
    ref = torch.autograd.functional.hessian(lambda z: torch.tanh(A @ z).pow(3).sum() + (z**4).sum(), w.detach())
    assert torch.allclose(H, ref, atol=1e-12)


def test_quadratic_hessian_is_K_and_batched_equals_loop():
    K = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 1e4]], dtype=torch.float64)
    _, p, f = _quadratic_module(K, torch.zeros(3), torch.ones(3))
    assert torch.allclose(hessian_matrix(f, [p]), K, atol=1e-10)
    net, f2 = _regression(1)
    H = Hessian(f2, net)
    V = torch.randn(H.n, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    loop = torch.stack([H.matvec(V[:, j]) for j in range(7)], dim=1)
    assert torch.allclose(H.matmat(V, batch=3), loop, atol=1e-12)


def test_lanczos_matches_dense_spectrum_of_a_pinn_loss():
    torch.manual_seed(0)
    p = poisson1d_multiscale(n_f=32)
    net = p.default_model(widths=[8, 8]).double()
    closure = p.closure(net)
    ev = hessian_spectrum(closure, net)
    H = Hessian(closure, net)
    assert ev.numel() == H.n == sum(q.numel() for q in net.parameters())
    top = lanczos(H, k=3, tol=1e-10)
    assert top.converged and top.steps < H.n
    assert torch.allclose(top.values, ev.flip(0)[:3], rtol=1e-8)
    bottom = lanczos(H, k=2, which="SA", tol=1e-10, max_steps=H.n)
    assert torch.allclose(bottom.values, ev[:2], rtol=1e-6, atol=1e-8 * float(ev.abs().max()))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 60), k=st.integers(1, 4))
def test_lanczos_random_symmetric(seed, n, k):
    k = min(k, n)
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    lam = torch.cat([torch.logspace(0, 6, 3, dtype=torch.float64), torch.randn(n - 3, generator=g,
                                                                                 dtype=torch.float64)]) \
        if n > 3 else torch.randn(n, generator=g, dtype=torch.float64)
    A = Q @ torch.diag(lam) @ Q.T
    A = 0.5 * (A + A.T)
    ev = torch.linalg.eigvalsh(A)
    for which, ref in (("LA", ev.flip(0)), ("SA", ev), ("LM", ev[ev.abs().argsort(descending=True)])):
        r = lanczos(A, k=k, which=which, max_steps=n, tol=1e-12)
        assert torch.allclose(r.values, ref[:k], atol=1e-8 * float(ev.abs().max()))
    # the residual bound is honest: |A y - theta y| for the returned Ritz vectors
    r = lanczos(A, k=k, max_steps=n, return_vectors=True)
    for i in range(k):
        y = r.vectors[:, i]
        assert float(torch.linalg.vector_norm(A @ y - r.values[i] * y)) <= float(r.residuals[i]) + 1e-8 * float(
            ev.abs().max())


def test_lanczos_with_function_operator_and_nonconvergence_flag():
    d = torch.linspace(1, 100, 500, dtype=torch.float64)
    r = lanczos(lambda v: d * v, n=500, k=1, tol=1e-9, max_steps=500)
    assert r.converged and abs(float(r.values[0]) - 100.0) < 1e-8
    # with 3 steps the evenly spread spectrum cannot be resolved: flagged, not hidden
    r3 = lanczos(lambda v: d * v, n=500, k=1, tol=1e-10, max_steps=3)
    assert not r3.converged and r3.steps == 3 and float(r3.values[0]) < 100.0


def test_rayleigh_quotient_is_weighted_eigenvalue_average():
    K = torch.tensor([1e-4, 1.0, 1e4], dtype=torch.float64)
    v = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
    y2 = v**2 / (v**2).sum()
    assert rayleigh_quotient(torch.diag(K), v) == pytest.approx(float((K * y2).sum()), rel=1e-14)


@pytest.mark.parametrize("lr", [1e-5, 1.5e-4, 3e-4])
def test_loss_decay_is_exact_for_quadratic(lr):
    """Seed 001 eqs. 7-8 and 10-11 on K = diag(1e-4, 1e4): predicted == actual, GD loses
    monotone decay beyond lr = 2/1e4, IGD never does."""
    K = torch.tensor([1e-4, 1e4], dtype=torch.float64)
    q, p, f = _quadratic_module(K, torch.tensor([1.0, -1.0]), torch.tensor([0.0, 0.0]))
    before = p.detach().clone()
    gd = loss_decay(f, [p], lr, "gd")
    assert torch.equal(p.detach(), before)  # parameters restored
    assert gd.predicted == pytest.approx(gd.actual, rel=1e-10, abs=1e-14)
    assert gd.predicted == pytest.approx(float(q.loss(q.gd_step(before, lr)) - q.loss(before)), rel=1e-10)
    assert (gd.actual < 0) == (lr < gd_stability_limit(1e4))
    igd = loss_decay(f, [p], lr, "igd")
    assert igd.predicted == pytest.approx(igd.actual, rel=1e-10) and igd.actual < 0 and igd.factor < -1
    # the IGD branch reads the current point as theta_{n+1}: check with an exact IGD step
    theta_n = before + lr * q.grad(before)
    assert torch.allclose(q.igd_step(theta_n, lr), before, atol=1e-12)
    assert igd.actual == pytest.approx(float(q.loss(before) - q.loss(theta_n)), rel=1e-10)


def test_loss_decay_second_order_accurate_on_network():
    net, f = _regression(2)
    errs = []
    for lr in (1e-2, 5e-3):
        d = loss_decay(f, net, lr)
        errs.append(abs(d.predicted - d.actual))
        assert d.predicted == pytest.approx(gd_loss_change(lr, d.grad_norm2, d.rayleigh))
        d2 = loss_decay(f, net, lr, "igd")
        assert d2.predicted == pytest.approx(igd_loss_change(lr, d2.grad_norm2, d2.rayleigh))
    assert 6 < errs[0] / errs[1] < 10  # third-order remainder: halving lr divides it by ~8


def test_bad_inputs():
    net, f = _regression()
    with pytest.raises(TypeError):
        Hessian(3, net)
    with pytest.raises(ValueError, match="no parameters"):
        Hessian(f, [])
    with pytest.raises(ValueError, match="scalar"):
        Hessian(lambda: torch.ones(2, requires_grad=True) * 2, [torch.ones(2, requires_grad=True)])
    H = Hessian(f, net)
    with pytest.raises(ValueError, match="entries"):
        H.matvec(torch.ones(3))
    with pytest.raises(ValueError, match="max_params"):
        hessian_matrix(f, net, max_params=10)
    with pytest.raises(ValueError, match="which"):
        lanczos(H, which="BE")
    with pytest.raises(ValueError, match="k must"):
        lanczos(torch.eye(3), k=4)
    with pytest.raises(ValueError, match="give n"):
        lanczos(lambda v: v)
    with pytest.raises(ValueError, match="square"):
        lanczos(torch.ones(2, 3))
    with pytest.raises(ValueError, match="scheme"):
        loss_decay(f, net, 0.1, "rk4")
    with pytest.raises(ValueError, match="learning rate"):
        loss_decay(f, net, -1.0)
    with pytest.raises(ValueError, match="nonzero"):
        rayleigh_quotient(torch.eye(2), torch.zeros(2))


@pytest.mark.parametrize("which,k,expected", [
    ("LA", 1, [5.0]), ("LA", 3, [5.0, 5.0, 5.0]), ("LA", 4, [5.0, 5.0, 5.0, 1.0]),
    ("SA", 3, [-2.0, 1.0, 1.0]), ("LM", 5, [5.0, 5.0, 5.0, -2.0, 1.0]),
])
def test_lanczos_returns_repeated_eigenvalues_with_their_multiplicity(which, k, expected):
    """An operator with fewer distinct eigenvalues than k exhausts the Krylov space of the
    start vector early; Lanczos continues from fresh vectors and finds every copy."""
    D = torch.diag(torch.tensor([5.0, 5.0, 5.0, 1.0, 1.0, -2.0], dtype=torch.float64))
    r = lanczos(D, k=k, which=which)
    assert r.converged and r.values.tolist() == pytest.approx(expected, abs=1e-12)


def test_lanczos_on_a_multiple_of_the_identity_hessian():
    """The Hessian of 1.5|x|^2 is 3 I: one distinct eigenvalue, any k <= n."""
    x = torch.randn(7, dtype=torch.float64, requires_grad=True)
    H = Hessian(lambda: 1.5 * (x ** 2).sum(), [x])
    for k in (1, 2, 7):
        r = lanczos(H, k=k)
        assert r.converged and r.values.tolist() == pytest.approx([3.0] * k, abs=1e-12)
