"""The optimizer contract of issue 16, for every scheme of ``harness.SCHEMES``: a step
completes or raises with parameters, optimizer state and diagnostics bitwise unchanged
(relaxed schemes included); hyper-parameters are re-validated at every step (lr = 0 moves
nothing, a negative or NaN lr is a clear error); add_param_group validates before installing;
the state dict carries the scheme and its scheme-wide hyper-parameters; errors are types."""
import copy
import math

import pytest
import torch

from harness import SCHEMES, assert_unchanged, run, snapshot
from savlib.errors import ClosureError, HyperParameterError, NonFiniteError, StateDictError
from savlib.schemes import IEQ, ISGD, SAV, ExpSAV, IEQAdaptive

ids = [r.id for r in SCHEMES]
RELAXED = [r for r in SCHEMES if r.relaxed]


@pytest.mark.parametrize("row", SCHEMES, ids=ids)
def test_non_finite_loss_raises_typed_error_and_changes_nothing(row):
    prob, opt = row.make()
    run(prob, opt, 2)
    snap = snapshot(prob, opt)
    with pytest.raises(NonFiniteError):
        opt.step(row.bad_closure(prob))
    assert_unchanged(prob, opt, snap)
    with pytest.raises(ValueError):            # NonFiniteError is still a ValueError
        opt.step(row.bad_closure(prob, float("inf")))
    assert_unchanged(prob, opt, snap)


@pytest.mark.parametrize("row", SCHEMES, ids=ids)
def test_bad_closures_raise_closure_error(row):
    prob, opt = row.make()
    for bad in (None, 3, lambda: 1.0):
        with pytest.raises(ClosureError):
            opt.step(bad)
    with pytest.raises(TypeError):             # ClosureError is still a TypeError
        opt.step(None)


@pytest.mark.parametrize("row", RELAXED, ids=[r.id for r in RELAXED])
def test_relaxed_step_whose_second_closure_call_fails_changes_nothing(row):
    """The relaxation calls the closure again under no_grad after the update: if that call
    raises, the parameters are put back and neither r nor the Adam moments are committed."""
    prob, opt = row.make()
    run(prob, opt, 2)
    snap = snapshot(prob, opt)

    def closure():
        if not torch.is_grad_enabled():
            raise RuntimeError("data loader failed")
        return prob.closure()
    with pytest.raises(RuntimeError, match="data loader"):
        opt.step(closure)
    assert_unchanged(prob, opt, snap)

    def nan_second():
        out = prob.closure()
        return out if torch.is_grad_enabled() else out * math.nan
    opt.step(nan_second)            # a NaN at the new point keeps the unrelaxed value
    assert float(opt.diagnostics["xi"]) == 1.0


@pytest.mark.parametrize("row", SCHEMES, ids=ids)
def test_rejected_param_group_is_not_installed(row):
    prob, opt = row.make()
    n = len(opt.param_groups)
    extra = torch.zeros(3, requires_grad=True)
    for bad in (-1.0, math.nan, "0.1"):
        with pytest.raises(HyperParameterError):
            opt.add_param_group({"params": [extra], "lr": bad})
        assert len(opt.param_groups) == n
    run(prob, opt, 2)
    assert torch.equal(extra.detach(), torch.zeros(3))


@pytest.mark.parametrize("row", SCHEMES, ids=ids)
def test_scheduler_reaching_lr_zero_is_a_step_that_moves_nothing(row):
    prob, opt = row.make()
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    for _ in range(2):
        opt.step(prob.closure)
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.0
    before = [p.detach().clone() for p in prob.params]
    loss = opt.step(prob.closure)
    assert math.isfinite(float(loss))
    for p, b in zip(prob.params, before):
        assert torch.equal(p.detach(), b)
    assert all(torch.isfinite(v) or torch.isnan(v) for v in opt.diagnostics.values())


@pytest.mark.parametrize("row", SCHEMES, ids=ids)
@pytest.mark.parametrize("lr", [-0.1, math.nan, math.inf])
def test_bad_lr_set_after_construction_is_an_error(row, lr):
    prob, opt = row.make()
    run(prob, opt, 1)
    opt.param_groups[0]["lr"] = lr
    snap = snapshot(prob, opt)
    with pytest.raises(HyperParameterError, match="lr"):
        opt.step(prob.closure)
    assert_unchanged(prob, opt, snap)


@pytest.mark.parametrize("row", SCHEMES, ids=ids)
def test_state_dict_names_the_scheme_and_refuses_another(row):
    prob, opt = row.make()
    run(prob, opt, 2)
    sd = opt.state_dict()
    assert sd["savlib"]["scheme"] == row.cls.__name__
    other = next(r for r in SCHEMES if r.cls is not row.cls and r.closure == row.closure)
    prob2, opt2 = other.make()
    run(prob2, opt2, 1)
    with pytest.raises(StateDictError, match=row.cls.__name__):
        opt2.load_state_dict(copy.deepcopy(sd))
    with pytest.raises(ValueError):
        opt2.load_state_dict(copy.deepcopy(sd))


@pytest.mark.parametrize("cls,kw,key,other", [
    (SAV, {}, "C", 5.0), (ExpSAV, {}, "C", 3.0), (SAV, {"adaptive": True}, "C", 2.0),
    (IEQAdaptive, {}, "eps", 1e-3), (ISGD, {"inner": "adam"}, "inner_steps", 3)])
def test_load_state_dict_restores_scheme_wide_hyper_parameters(cls, kw, key, other):
    w = torch.randn(4, requires_grad=True)
    opt = cls([w], lr=0.1, **kw)
    opt2 = cls([torch.randn(4, requires_grad=True)], lr=0.1, **{**kw, key: other})
    opt2.load_state_dict(opt.state_dict())
    assert opt2.defaults[key] == opt.defaults[key]
    assert all(g[key] == opt.defaults[key] for g in opt2.param_groups)


def test_state_dict_without_the_savlib_key_still_loads_and_other_state_is_refused():
    w = torch.randn(4, requires_grad=True)

    def closure():
        w.grad = None
        loss = (w ** 2).sum()
        if torch.is_grad_enabled():
            loss.backward()
        return loss
    opt = SAV([w], lr=0.1, C=2.0)
    opt.step(closure)
    sd = opt.state_dict()
    sd.pop("savlib")                          # a state dict saved before issue 16
    opt2 = SAV([w], lr=0.1)
    opt2.load_state_dict(copy.deepcopy(sd))
    assert opt2.defaults["C"] == 2.0 and opt2.scalars["r"] == opt.scalars["r"]
    ex = ExpSAV([w], lr=0.1)
    with pytest.raises(StateDictError, match="r"):
        ex.load_state_dict(copy.deepcopy(sd))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("cls", [IEQ, IEQAdaptive])
def test_ieq_in_half_precision_solves_in_float32(cls, dtype):
    torch.manual_seed(0)
    x = torch.randn(16, 3).to(dtype)
    w = torch.randn(3, dtype=dtype, requires_grad=True)
    y = torch.randn(16).to(dtype)
    opt = cls([w], lr=0.5)
    losses = [float(opt.step(lambda: (x @ w - y) / 4)) for _ in range(5)]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert w.dtype == dtype
    assert all(v.dtype == torch.float64 for v in opt.diagnostics.values())


def test_step_count_is_one_kind_for_every_scheme():
    for row in SCHEMES:
        prob, opt = row.make()
        run(prob, opt, 2)
        step = opt.scalars["step"]
        assert type(step) is int and step == 2, row.id


@pytest.mark.parametrize("row", SCHEMES, ids=ids)
def test_failing_first_step_leaves_no_state(row):
    prob, opt = row.make()
    sd = copy.deepcopy(opt.state_dict())
    with pytest.raises(NonFiniteError):
        opt.step(row.bad_closure(prob))
    from harness import _equal_nested
    assert _equal_nested(opt.state_dict(), sd) and opt.diagnostics == {}


@pytest.mark.parametrize("row", SCHEMES, ids=ids)
def test_every_scheme_decreases_the_loss(row):
    prob, opt = row.make()
    l0 = float(prob.loss()) if row.closure == "loss" else float(prob.loss())
    run(prob, opt, 30)
    assert float(prob.loss()) < 0.9 * l0


@pytest.mark.parametrize("row", [r for r in SCHEMES if r.energy_law], ids=[r.id for r in SCHEMES if r.energy_law])
@pytest.mark.parametrize("lr_scale", [1.0, 100.0])
def test_modified_energy_never_increases(row, lr_scale):
    """The energy laws (Ma, Mao & Shen 2024, eq. (18), Thm. 2; Anonymous 2024, Thms 2.2-2.3,
    section 2.2.5) hold for every dt: the modified energy is non-increasing, also at 100x dt."""
    prob, opt = row.make(lr=row.kwargs["lr"] * lr_scale)
    energies = []
    for _ in range(15):
        opt.step(prob.closure)
        energies.append(float(opt.diagnostics["energy"]))
    assert all(b <= a * (1 + 1e-12) + 1e-15 for a, b in zip(energies, energies[1:]))
