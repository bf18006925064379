"""The torch.optim contract for every scheme of the table in ``harness.CASES``:
state_dict continuation (bit-exact), param groups, parameters without gradients, 0-d
parameters, foreach vs per-tensor paths, float32 parameters with float64 scalar state,
and every bad input of issue 3 (clear error, parameters untouched)."""
import copy
import math

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from harness import CASES, PROBLEMS, Case, check_state_dict_continuation, check_untouched_on_error, ids, run
from savlib.schemes import SAV, ExpSAV, RelExpSAV, RelSAV, ResSAV, make_closure

ALL = [SAV, ResSAV, RelSAV, ExpSAV, RelExpSAV]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_state_dict_continuation_bit_exact(case):
    check_state_dict_continuation(case)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_state_dict_holds_float64_scalars_and_roundtrips(case):
    prob, opt = case.make(dtype=torch.float32)
    run(prob, opt, 3)
    sd = opt.state_dict()
    scal = sd["state"]["scheme"]
    assert scal["step"] == 3
    for k, v in scal.items():
        if isinstance(v, torch.Tensor):
            assert v.dtype == torch.float64, k
    assert all(p.dtype == torch.float32 for p in prob.params)
    for v in opt.diagnostics.values():
        assert v.dtype == torch.float64 and v.dim() == 0 and v.device == prob.params[0].device
    prob2, opt2 = case.make(dtype=torch.float32)
    opt2.load_state_dict(copy.deepcopy(sd))
    for k, v in opt2.scalars.items():
        if isinstance(v, torch.Tensor):
            assert v.dtype == torch.float64 and torch.equal(v, scal[k])
    # the loaded state is a copy: stepping the first optimizer does not change it
    saved = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in opt2.scalars.items()}
    run(prob, opt, 1)
    for k, v in opt2.scalars.items():
        assert (torch.equal(v, saved[k]) if isinstance(v, torch.Tensor) else v == saved[k])


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_foreach_and_per_tensor_paths_agree(case):
    prob1, opt1 = case.make(foreach=True)
    prob2, opt2 = case.make(foreach=False)
    for _ in range(8):
        l1, l2 = opt1.step(prob1.closure), opt2.step(prob2.closure)
        torch.testing.assert_close(l1, l2, rtol=1e-13, atol=0)
    for p1, p2 in zip(prob1.params, prob2.params):
        torch.testing.assert_close(p1, p2, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_zero_dim_params_move(case):
    """The quadratic problem has a 0-d parameter; it is updated like any other."""
    c = Case(case.cls, case.kwargs, "quadratic")
    prob, opt = c.make()
    b0 = prob.params[1].detach().clone()
    run(prob, opt, 3)
    assert prob.params[1].dim() == 0 and not torch.equal(prob.params[1].detach(), b0)


@pytest.mark.parametrize("cls", ALL)
def test_params_without_grad_untouched(cls):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    frozen = model[0].bias
    frozen.requires_grad_(False)
    unused = torch.nn.Parameter(torch.randn(4))          # receives no gradient
    before_frozen, before_unused = frozen.clone(), unused.detach().clone()
    before_w = model[0].weight.detach().clone()
    opt = cls(list(model.parameters()) + [unused], lr=0.1)
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    for _ in range(3):
        opt.step(make_closure(model, torch.nn.functional.mse_loss, x, y, optimizer=opt))
    assert torch.equal(frozen, before_frozen) and torch.equal(unused.detach(), before_unused)
    assert not torch.equal(model[0].weight.detach(), before_w)
    assert unused not in opt.state


@pytest.mark.parametrize("cls", [SAV, ResSAV])
def test_param_groups_dt_weighted_identity(cls):
    """Two groups with different dt and lambda: eq. 18 holds in the dt-weighted norm
    sum_g |dth_g|^2 (1/dt_g + lam_g), and 'C' may not differ between groups."""
    prob = PROBLEMS["mlp"]()
    W1, b1, W2, b2 = prob.params
    groups = [dict(params=[W1, b1], lr=0.3, lam=2.0), dict(params=[W2, b2], lr=0.05)]
    opt = cls(groups, lr=0.1, C=1.0, lam=0.5)
    r0 = None
    for _ in range(4):
        before = [p.detach().clone() for p in prob.params]
        opt.step(prob.closure)
        dg = opt.diagnostics
        r0 = dg["r_start"]
        r1 = dg["r"]
        d = [((p.detach() - q) ** 2).sum() for p, q in zip(prob.params, before)]
        wd = (d[0] + d[1]) * (1 / 0.3 + 2.0) + (d[2] + d[3]) * (1 / 0.05 + 0.5)
        res = r1 ** 2 - r0 ** 2 + (r1 - r0) ** 2 + wd
        assert abs(float(res)) <= 1e-12 * float(r0 ** 2)
    with pytest.raises(ValueError, match="shared by all param groups"):
        cls([dict(params=[W1], C=2.0), dict(params=[W2])], lr=0.1, C=1.0)
    opt.add_param_group(dict(params=[torch.nn.Parameter(torch.zeros(2))], lr=0.2))
    assert opt.param_groups[-1]["lr"] == 0.2 and opt.param_groups[-1]["lam"] == 0.5


@pytest.mark.parametrize("cls", [RelSAV, RelExpSAV])
def test_make_closure_reused_without_grad(cls):
    """Relaxed schemes call the closure again under no_grad; make_closure then skips
    backward, and the reported loss at the new point is the true loss there."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    opt = cls(model.parameters(), lr=0.1)
    cl = make_closure(model, torch.nn.functional.mse_loss, x, y)
    opt.step(cl)
    with torch.no_grad():
        true = torch.nn.functional.mse_loss(model(x), y).double()
    torch.testing.assert_close(opt.diagnostics["loss_new"], true, rtol=1e-6, atol=0)


# ------------------------------------------------------------------------ bad input
BAD_HYPER = [
    (SAV, dict(lr=0.0), ValueError, "lr must be > 0"),
    (SAV, dict(lr=-1.0), ValueError, "lr must be > 0"),
    (SAV, dict(lr=float("nan")), ValueError, "lr must be finite"),
    (SAV, dict(lr="0.1"), TypeError, "lr must be a real number"),
    (ResSAV, dict(lam=-0.1), ValueError, "lam must be >= 0"),
    (RelSAV, dict(eta=1.5), ValueError, r"eta must lie in \[0, 1\]"),
    (RelSAV, dict(eta=-0.01), ValueError, r"eta must lie in \[0, 1\]"),
    (SAV, dict(C=float("inf")), ValueError, "C must be finite"),
    (SAV, dict(adaptive=True, betas=(0.9, 1.0)), ValueError, r"betas\[1\]"),
    (SAV, dict(adaptive=True, betas=0.9), TypeError, "betas must be a pair"),
    (SAV, dict(adaptive=True, eps=0.0), ValueError, "eps must be > 0"),
    (SAV, dict(adaptive=1), TypeError, "adaptive must be a bool"),
    (SAV, dict(foreach="yes"), TypeError, "foreach"),
    (ExpSAV, dict(C=0.0), ValueError, "C must be > 0"),
    (ExpSAV, dict(update="thm2.2"), ValueError, "update must be one of"),
    (RelExpSAV, dict(eta=2.0), ValueError, r"eta must lie in \[0, 1\]"),
    (ExpSAV, dict(lr=-0.1), ValueError, "lr must be > 0"),
]


@pytest.mark.parametrize("cls,kw,exc,match", BAD_HYPER, ids=[f"{c.__name__}-{k}" for c, k, _, _ in BAD_HYPER])
def test_bad_hyper_parameters(cls, kw, exc, match):
    p = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(exc, match=match):
        cls([p], **kw)


def _nan_loss(prob):
    def c():
        loss = prob.closure()
        return loss * float("nan")
    return c


def _inf_loss(prob):
    return lambda: prob.closure() + float("inf")


def _nan_grad(prob):
    def c():
        loss = prob.closure()
        prob.params[0].grad[..., 0] = float("nan")
        return loss
    return c


def _inf_grad(prob):
    def c():
        loss = prob.closure()
        prob.params[0].grad.view(-1)[0] = float("inf")
        return loss
    return c


BAD_CLOSURES = [
    (_nan_loss, ValueError, "expected a finite loss"),
    (_inf_loss, ValueError, "expected a finite loss"),
    (_nan_grad, ValueError, "gradient has non-finite entries"),
    (_inf_grad, ValueError, "gradient has non-finite entries"),
    (lambda prob: None, TypeError, "needs a closure"),
    (lambda prob: 3.0, TypeError, "closure must be callable"),
    (lambda prob: (lambda: prob.closure().item()), TypeError, "returned float"),
    (lambda prob: (lambda: torch.stack([prob.closure()] * 2)), TypeError, "expected a scalar loss"),
    (lambda prob: (lambda: prob.loss()), ValueError, "no parameter has a gradient"),
]


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
@pytest.mark.parametrize("factory,exc,match", BAD_CLOSURES, ids=[f"bad{i}" for i in range(len(BAD_CLOSURES))])
def test_bad_closure_leaves_everything_untouched(case, factory, exc, match):
    def bad(prob):
        # closures that must not even run the real closure (zero the grads first)
        for p in prob.params:
            p.grad = None
        return factory(prob)
    check_untouched_on_error(case, bad, exc, match)


@pytest.mark.parametrize("cls", [SAV, ResSAV, RelSAV])
@pytest.mark.parametrize("adaptive", [False, True])
def test_C_too_small_names_the_smallest_valid_C(cls, adaptive):
    case = Case(cls, dict(lr=0.1, C=1.0, adaptive=adaptive), "mlp")

    def shifted(prob):
        return lambda: prob.closure() - 5.0       # I + C = loss - 4 < 0

    check_untouched_on_error(case, shifted, ValueError, r"C must exceed -I\(theta\) = 4\.")


def test_diagnostics_need_no_host_sync_and_track_loss():
    """Diagnostics are tensors (no .item() in step); q = r_n / sqrt(I_n + C) starts at 1."""
    prob = PROBLEMS["mlp"]()
    opt = SAV(prob.params, lr=0.5, C=1.0)
    l0 = opt.step(prob.closure)
    dg = opt.diagnostics
    assert all(isinstance(v, torch.Tensor) for v in dg.values())
    assert float(dg["q"]) == 1.0
    assert float(dg["r_hat"]) == pytest.approx(math.sqrt(float(l0) + 1.0), rel=1e-14)
    assert float(dg["energy"]) == pytest.approx(float(dg["r"]) ** 2, rel=1e-14)
    assert float(dg["lr_eff"]) == pytest.approx(0.5 * float(dg["step_scale"]), rel=1e-14)


# ------------------------------------------------------------ step hooks and the profiler
# savlib's step skips torch's record_function scope only when nothing can observe it
# (savlib.schemes.base._hook_step); with a hook or a profiler it goes through torch's wrapper.
HOOK_CASES = [c for c in CASES if c.cls in (SAV, RelSAV, ExpSAV)][:3]


@pytest.mark.parametrize("case", HOOK_CASES, ids=ids(HOOK_CASES))
def test_step_hooks_run_in_torch_order_and_can_replace_arguments(case):
    prob, opt = case.make()
    calls = []
    swapped = []

    def counting_closure():
        swapped.append(1)
        return prob.closure()

    def pre(o, args, kwargs):
        assert o is opt
        calls.append("pre")
        assert args[0] is opt                  # torch passes (self, closure) as args
        return (opt, counting_closure), {}

    h1 = opt.register_step_pre_hook(pre)
    h2 = opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    g1 = register_optimizer_step_pre_hook(lambda o, a, k: calls.append("gpre"))
    g2 = register_optimizer_step_post_hook(lambda o, a, k: calls.append("gpost"))
    try:
        before = [p.detach().clone() for p in prob.params]
        opt.step(prob.closure)
    finally:
        for h in (h1, h2, g1, g2):
            h.remove()
    assert calls == ["gpre", "pre", "post", "gpost"]          # torch's order
    assert swapped, "the closure returned by the pre hook was not used"
    assert any(not torch.equal(a, b) for a, b in zip(before, prob.params))
    calls.clear()
    opt.step(prob.closure)                                    # hooks removed: fast route
    assert calls == []


@pytest.mark.parametrize("case", HOOK_CASES[:1], ids=ids(HOOK_CASES[:1]))
def test_profiler_sees_the_step_event(case):
    prob, opt = case.make()
    opt.step(prob.closure)                                    # no profiler: fast route
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        opt.step(prob.closure)
    names = {e.name for e in prof.events()}
    assert f"Optimizer.step#{type(opt).__name__}.step" in names, sorted(names)[:20]


def test_every_scheme_step_is_wrapped_once():
    """Each scheme's ``step`` goes through torch's own profiling wrapper (torch.optim adds
    it when the first instance of a class is built), and through it exactly once."""
    import savlib.schemes as S
    for cls in (S.SAV, S.ResSAV, S.RelSAV, S.ExpSAV, S.RelExpSAV, S.IEQ, S.IEQAdaptive, S.ISGD):
        cls([torch.zeros(2, requires_grad=True)], lr=0.1)     # torch patches step on first use
        assert getattr(cls.step, "hooked", False), cls
        assert cls.step.__wrapped__.__name__ == "step"
        assert not getattr(cls.step.__wrapped__, "hooked", False), cls