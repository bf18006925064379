"""In-process checks of savlib.distributed and the schemes' process-group arguments, on a
1-rank gloo group (no spawn): argument errors, the refusals, and that a 1-rank group gives
bitwise the same training as no group with exactly one fused collective per step."""
from __future__ import annotations

import datetime

import pytest
import torch
import torch.distributed as dist

from dist_harness import SCHEMES, make_model, single_process, _closure, batches, make_data, flat
from savlib import distributed as sd
from savlib.schemes import IEQ, ISGD, SAV, IEQAdaptive


@pytest.fixture
def group1(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1,
                            timeout=datetime.timedelta(seconds=30))
    try:
        yield dist.group.WORLD
    finally:
        dist.destroy_process_group()


def test_group_errors_without_init():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="not initialised"):
        SAV([w], process_group="default")
    with pytest.raises(ValueError, match="process_group"):
        SAV([w], process_group="everyone")
    with pytest.raises(TypeError, match="sharded"):
        SAV([w], sharded=1)
    assert sd.world_size() == 1 and sd.rank() == 0 and sd.is_main_process()


def test_refusals(group1):
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="IEQAdaptive"):
        IEQ([w], process_group="default")
    with pytest.raises(ValueError, match="sharded"):
        IEQAdaptive([w], process_group="default", sharded=True)
    with pytest.raises(ValueError, match="lbfgs"):
        ISGD([w], inner="lbfgs", process_group=group1, sharded=True)
    with pytest.raises(TypeError, match="ProcessGroup"):
        SAV([w], process_group=3)
    with sd.default_group() as g:       # the ambient group reaches schemes built inside
        assert SAV([w]).process_group is g
        assert IEQ([w]).process_group is None   # full-Jacobian IEQ stays single-process
    assert SAV([w]).process_group is None


@pytest.mark.parametrize("name", list(SCHEMES))
def test_one_rank_group_is_bitwise_no_group(group1, name):
    factory, kind = SCHEMES[name]
    ref, ref_losses = single_process(name, steps=5)
    x, y = make_data()
    model = make_model()
    opt = factory(model.parameters(), group1, False)
    losses = []
    with sd.CommCounter() as cc:
        for idx in batches()[:5]:
            losses.append(float(opt.step(_closure(model, model, opt, x[idx], y[idx], kind))))
    assert torch.equal(flat(model), ref)
    assert losses == ref_losses
    assert cc.calls >= 5 and all(dt in ("float64",) for k, _, dt in cc.log if k == "all_reduce_f64")


def test_all_reduce_f64_rejects_other_dtypes(group1):
    with pytest.raises(TypeError, match="float64"):
        sd.all_reduce_f64(torch.zeros(2), group1)
    v = torch.tensor([1.0, 2.0], dtype=torch.float64)
    with sd.CommCounter() as cc:
        assert torch.equal(sd.all_reduce_f64(v, group1), torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert (cc.calls, cc.bytes) == (1, 16)
