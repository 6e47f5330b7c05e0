"""The warm-up + cosine schedule (C21): nanoGPT's get_lr, its endpoints and monotonicity."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minillm.optim as optim
from minillm.optim import AdamW, WarmupCosineLR, lr_scheduler, warmup_cosine_lr
from minillm.tensor import Tensor

lrs = st.floats(min_value=1e-6, max_value=10.0, allow_nan=False)


@st.composite
def schedules(draw):
    """(max_lr, min_lr, warmup_iters, decay_iters) with 0 <= min_lr <= max_lr."""
    max_lr = draw(lrs)
    min_lr = max_lr * draw(st.floats(min_value=0.0, max_value=1.0))
    warmup = draw(st.integers(min_value=0, max_value=2000))
    decay = warmup + draw(st.integers(min_value=1, max_value=20000))
    return max_lr, min_lr, warmup, decay


def test_C21_warmup_cosine_lr_by_hand():
    """nanoGPT (train.py, get_lr) with learning_rate=6e-4, min_lr=6e-5, warmup 4, decay 12."""
    assert warmup_cosine_lr(0, 6e-4, 6e-5, 4, 12) == 6e-4 * 1 / 5
    assert warmup_cosine_lr(3, 6e-4, 6e-5, 4, 12) == 6e-4 * 4 / 5
    assert warmup_cosine_lr(4, 6e-4, 6e-5, 4, 12) == 6e-5 + 1.0 * (6e-4 - 6e-5)
    # halfway through the decay: ratio 4/8, coefficient 0.5 * (1 + cos(pi / 2))
    assert warmup_cosine_lr(8, 6e-4, 6e-5, 4, 12) == 6e-5 + 0.5 * (1 + math.cos(math.pi / 2)) * (
        6e-4 - 6e-5
    )
    assert warmup_cosine_lr(12, 6e-4, 6e-5, 4, 12) == 6e-5
    assert warmup_cosine_lr(13, 6e-4, 6e-5, 4, 12) == 6e-5
    assert warmup_cosine_lr(10**9, 6e-4, 6e-5, 4, 12) == 6e-5


def test_C21_no_warmup_starts_at_max_lr():
    assert warmup_cosine_lr(0, 1e-3, 1e-4, 0, 10) == pytest.approx(1e-3, rel=1e-15, abs=0)


@given(schedules())
def test_C21_warmup_cosine_endpoints(schedule):
    max_lr, min_lr, warmup, decay = schedule
    if warmup > 0:
        first = warmup_cosine_lr(0, max_lr, min_lr, warmup, decay)
        assert first == max_lr / (warmup + 1), f"step 0 gives {first}"
        last = warmup_cosine_lr(warmup - 1, max_lr, min_lr, warmup, decay)
        assert last == max_lr * warmup / (warmup + 1), f"step {warmup - 1} gives {last}"
    peak = warmup_cosine_lr(warmup, max_lr, min_lr, warmup, decay)
    assert peak == pytest.approx(max_lr, rel=1e-15, abs=0), f"step {warmup} gives {peak}"
    assert warmup_cosine_lr(decay, max_lr, min_lr, warmup, decay) == min_lr
    assert warmup_cosine_lr(decay + 1, max_lr, min_lr, warmup, decay) == min_lr


@given(schedules(), st.data())
def test_C21_warmup_rises_and_cosine_falls_monotonically(schedule, data):
    max_lr, min_lr, warmup, decay = schedule
    a = data.draw(st.integers(min_value=0, max_value=decay + 5), label="a")
    b = data.draw(st.integers(min_value=a, max_value=decay + 5), label="b")
    lr_a = warmup_cosine_lr(a, max_lr, min_lr, warmup, decay)
    lr_b = warmup_cosine_lr(b, max_lr, min_lr, warmup, decay)
    assert 0.0 <= lr_a <= max_lr * (1 + 1e-15), f"lr({a}) = {lr_a} outside [0, {max_lr}]"
    if b < warmup:
        assert lr_a <= lr_b, f"warm-up falls: lr({a}) = {lr_a} > lr({b}) = {lr_b}"
    if a >= warmup:
        assert lr_a >= lr_b, f"decay rises: lr({a}) = {lr_a} < lr({b}) = {lr_b}"
        assert lr_b >= min_lr, f"lr({b}) = {lr_b} below min_lr {min_lr}"


def test_C21_schedule_rejects_bad_iteration_counts():
    with pytest.raises(ValueError, match="decay_iters=5 must be larger than warmup_iters=5"):
        warmup_cosine_lr(5, 1e-3, 1e-4, 5, 5)
    with pytest.raises(ValueError, match="warmup_iters=-1"):
        warmup_cosine_lr(0, 1e-3, 1e-4, -1, 5)
    with pytest.raises(ValueError, match="step=-2"):
        warmup_cosine_lr(-2, 1e-3, 1e-4, 1, 5)


def make_opt(lrs_by_group):
    groups = [
        {"params": [Tensor(np.zeros(2), requires_grad=True)], "lr": lr} for lr in lrs_by_group
    ]
    return AdamW(groups)


def test_C21_scheduler_sets_every_group_like_nanogpt_loop():
    """Step k of the optimizer runs at warmup_cosine_lr(k): set at construction, then step()."""
    opt = make_opt([6e-4, 6e-4])
    sched = WarmupCosineLR(opt, warmup_iters=3, decay_iters=10, min_lr=6e-5)
    for k in range(14):
        want = warmup_cosine_lr(k, 6e-4, 6e-5, 3, 10)
        got = [g["lr"] for g in opt.param_groups]
        assert got == [want, want], f"step {k}: group lrs {got}, expected {want}"
        assert sched.get_last_lr() == got
        sched.step()


def test_C21_scheduler_scales_groups_proportionally():
    opt = make_opt([1e-3, 1e-4, 0.0])
    sched = WarmupCosineLR(opt, warmup_iters=2, decay_iters=6, min_lr=2e-4)
    for k in range(8):
        lr_big, lr_small, lr_zero = sched.get_last_lr()
        assert lr_big == warmup_cosine_lr(k, 1e-3, 2e-4, 2, 6), f"step {k}"
        assert lr_small == pytest.approx(lr_big / 10, rel=1e-14, abs=0), f"step {k}"
        assert lr_zero == 0.0, f"step {k}: a group with lr 0 got {lr_zero}"
        sched.step()


def test_C21_scheduler_state_dict_round_trip_and_resume():
    opt = make_opt([1e-3, 5e-4])
    sched = WarmupCosineLR(opt, warmup_iters=2, decay_iters=8, min_lr=1e-4)
    for _ in range(4):
        sched.step()
    saved_opt, saved = opt.state_dict(), sched.state_dict()
    # the optimizer's groups now carry mid-schedule lrs; a new scheduler must use initial_lr
    opt2 = make_opt([123.0, 456.0])
    opt2.load_state_dict(saved_opt)
    sched2 = WarmupCosineLR(opt2, warmup_iters=2, decay_iters=8, min_lr=1e-4)
    assert sched2.base_lrs == [1e-3, 5e-4], f"resumed base lrs {sched2.base_lrs}"
    sched2.load_state_dict(saved)
    for _ in range(6):
        assert sched2.get_last_lr() == sched.get_last_lr(), f"step {sched.last_step}"
        assert [g["lr"] for g in opt2.param_groups] == sched.get_last_lr()
        sched.step()
        sched2.step()


def test_scheduler_rejects_bad_settings():
    opt = make_opt([1e-3])
    with pytest.raises(ValueError, match=r"min_lr=0.01 must lie in \[0, 0.001\]"):
        WarmupCosineLR(opt, 2, 8, min_lr=1e-2)
    with pytest.raises(ValueError, match="decay_iters=2 must be larger than warmup_iters=2"):
        WarmupCosineLR(opt, 2, 2, min_lr=0.0)
    sched = WarmupCosineLR(opt, 2, 8, min_lr=0.0)
    with pytest.raises(ValueError, match=r"lacks keys \['min_lr'\]"):
        sched.load_state_dict({k: v for k, v in sched.state_dict().items() if k != "min_lr"})
    with pytest.raises(ValueError, match="2 base lrs, the optimizer has 1"):
        sched.load_state_dict({**sched.state_dict(), "base_lrs": [1e-3, 1e-3]})


def test_optim_exports():
    assert lr_scheduler.WarmupCosineLR is WarmupCosineLR
    for name in ("Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_", "lr_scheduler"):
        assert name in optim.__all__, f"minillm.optim does not export {name}"
