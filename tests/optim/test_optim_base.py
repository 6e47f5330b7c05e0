"""The Optimizer base: parameter groups, None grads, zero_grad, state_dict, and its errors."""

import numbers

import numpy as np
import pytest

from minillm.optim import SGD, Adam, AdamW, Optimizer
from minillm.tensor import Tensor

SHAPES = [(3, 5), (7,), (1,)]

OPTIMIZERS = {
    "sgd_momentum": lambda params: SGD(params, lr=0.05, momentum=0.9, dampening=0.1),
    "sgd_nesterov": lambda params: SGD(params, lr=0.05, momentum=0.8, nesterov=True),
    "adam": lambda params: Adam(params, lr=0.01, weight_decay=0.1),
    "adamw": lambda params: AdamW(params, lr=0.01, betas=(0.8, 0.99)),
}


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    return [Tensor(rng.standard_normal(s), requires_grad=True) for s in SHAPES]


def grouped(params):
    """Two groups, the second without weight decay and with its own lr (nanoGPT's split)."""
    return [
        {"params": [params[0]]},
        {"params": params[1:], "weight_decay": 0.0, "lr": 0.02},
    ]


def set_grads(params, rng, skip=()):
    for i, p in enumerate(params):
        p.grad = None if i in skip else rng.standard_normal(p.shape)


def test_C21_param_groups_fill_defaults_and_keep_overrides():
    params = make_params()
    opt = AdamW(grouped(params), lr=0.01, weight_decay=0.1)
    g0, g1 = opt.param_groups
    assert (g0["lr"], g0["weight_decay"]) == (0.01, 0.1), f"group 0 is {g0}"
    assert (g1["lr"], g1["weight_decay"]) == (0.02, 0.0), f"group 1 is {g1}"
    assert g1["params"][0] is params[1] and g1["params"][1] is params[2]


def test_C21_a_group_lr_set_between_steps_is_used(assert_close):
    p = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = SGD([p], lr=0.1)
    opt.param_groups[0]["lr"] = 0.5  # what a scheduler does
    p.grad = np.array([1.0, -1.0])
    opt.step()
    assert_close(p.data, [0.5, 2.5], "sgd after lr change")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_C21_none_grad_is_skipped_without_state(name):
    params = make_params()
    before = [p.data.copy() for p in params]
    opt = OPTIMIZERS[name](params)
    set_grads(params, np.random.default_rng(1), skip=(1,))
    opt.step()
    assert np.array_equal(params[1].data, before[1]), f"{name} moved a parameter with grad None"
    assert params[1] not in opt.state, f"{name} made state for a parameter with grad None"
    assert not np.array_equal(params[0].data, before[0]), f"{name} did not move parameter 0"


def test_zero_grad_sets_none_or_zeros_in_place():
    params = make_params()
    set_grads(params, np.random.default_rng(1), skip=(2,))
    opt = SGD(params, lr=0.1)
    grad0 = params[0].grad
    opt.zero_grad(set_to_none=False)
    assert params[0].grad is grad0 and not grad0.any(), "zero_grad(False) must zero in place"
    assert params[2].grad is None, "zero_grad(False) must leave a None grad None"
    opt.zero_grad()
    assert all(p.grad is None for p in params), "zero_grad() must set every grad to None"


def test_step_returns_the_closure_loss():
    params = make_params()
    set_grads(params, np.random.default_rng(1))
    assert SGD(params, lr=0.1).step(lambda: 1.25) == 1.25


def test_state_dict_numbers_params_by_index_with_plain_values():
    params = make_params()
    opt = AdamW(grouped(params), lr=0.01)
    set_grads(params, np.random.default_rng(1), skip=(1,))
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1, 2]]
    assert sorted(sd["state"]) == [0, 2], f"state indices {sorted(sd['state'])}"
    for idx, s in sd["state"].items():
        assert isinstance(s["step"], numbers.Integral), f"state {idx} step is {type(s['step'])}"
        for key in ("exp_avg", "exp_avg_sq"):
            assert isinstance(s[key], np.ndarray), f"state {idx} {key} is {type(s[key])}"
            assert s[key] is not opt.state[params[idx]][key], f"state {idx} {key} is not a copy"
    for g in sd["param_groups"]:
        for k, v in g.items():
            assert isinstance(v, (numbers.Real, tuple, list)), f"group key {k} has {type(v)}"


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_C21_state_dict_round_trip_continues_identically(name):
    """Three steps, save, load into a fresh optimizer over copied parameters, three more steps:
    the same parameters as six uninterrupted steps, bit for bit."""
    ref = make_params()
    ref_opt = OPTIMIZERS[name](grouped(ref))
    run = make_params()
    run_opt = OPTIMIZERS[name](grouped(run))
    for k in range(3):
        skip = (1,) if k == 0 else ()  # parameter 1 starts one step late: per-parameter counts
        set_grads(ref, np.random.default_rng(10 + k), skip)
        set_grads(run, np.random.default_rng(10 + k), skip)
        ref_opt.step()
        run_opt.step()
    saved = run_opt.state_dict()
    for s in run_opt.state.values():  # the snapshot must not share arrays with the optimizer
        for v in s.values():
            if isinstance(v, np.ndarray):
                v[...] = np.nan
    resumed = [Tensor(p.data.copy(), requires_grad=True) for p in run]
    resumed_opt = OPTIMIZERS[name](grouped(resumed))
    resumed_opt.load_state_dict(saved)
    for s in saved["state"].values():  # and load must copy out of the snapshot
        for v in s.values():
            if isinstance(v, np.ndarray):
                v[...] = np.nan
    for k in range(3, 6):
        set_grads(ref, np.random.default_rng(10 + k))
        set_grads(resumed, np.random.default_rng(10 + k))
        ref_opt.step()
        resumed_opt.step()
    for i, (a, b) in enumerate(zip(resumed, ref, strict=True)):
        assert np.array_equal(a.data, b.data), f"{name}: parameter {i} differs after resume"


def test_load_state_dict_restores_hyper_parameters():
    params = make_params()
    opt = AdamW(grouped(params), lr=0.01)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.123
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.123
    assert opt.param_groups[0]["params"][0] is params[0]


def test_load_state_dict_casts_state_to_the_parameter_dtype():
    p = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.load_state_dict(
        {
            "state": {0: {"momentum_buffer": np.ones(3)}},
            "param_groups": [
                {**{k: v for k, v in opt.param_groups[0].items() if k != "params"}, "params": [0]}
            ],
        }
    )
    dtype = opt.state[p]["momentum_buffer"].dtype
    assert dtype == np.float32, f"loaded momentum_buffer has dtype {dtype}, expected float32"


def test_load_state_dict_rejects_group_count_mismatch():
    params = make_params()
    sd = AdamW(params).state_dict()
    with pytest.raises(ValueError, match="1 parameter groups, the optimizer has 2"):
        AdamW(grouped(make_params())).load_state_dict(sd)


def test_load_state_dict_rejects_group_size_mismatch():
    sd = AdamW(make_params()).state_dict()
    with pytest.raises(ValueError, match="group 0 has 3 parameters.*has 2"):
        AdamW(make_params()[:2]).load_state_dict(sd)


def test_load_state_dict_rejects_state_shape_mismatch():
    params = make_params()
    opt = AdamW(params)
    set_grads(params, np.random.default_rng(1))
    opt.step()
    sd = opt.state_dict()
    other = [Tensor(np.zeros(s), requires_grad=True) for s in [(3, 5), (6,), (1,)]]
    with pytest.raises(ValueError, match=r"parameter 1 'exp_avg' has shape \(7,\).*\(6,\)"):
        AdamW(other).load_state_dict(sd)


def test_load_state_dict_rejects_missing_keys_and_unknown_index():
    opt = SGD(make_params(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="'state'"):
        opt.load_state_dict({"param_groups": []})
    sd = opt.state_dict()
    sd["state"] = {7: {"momentum_buffer": np.zeros(3)}}
    with pytest.raises(ValueError, match="unknown parameter index 7"):
        opt.load_state_dict(sd)


def test_duplicate_parameter_is_rejected():
    p, q = make_params()[:2]
    with pytest.raises(ValueError, match="item 1 .*appears twice"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match=r"param group 1 item 0 \(shape \(3, 5\)\) appears twice"):
        SGD([{"params": [p, q]}, {"params": [p]}], lr=0.1)


def test_empty_and_malformed_params_are_rejected():
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam(iter([]))
    with pytest.raises(TypeError, match="single Tensor"):
        Adam(make_params()[0])
    with pytest.raises(TypeError, match="item 1 is a ndarray"):
        Adam([make_params()[0], np.zeros(3)])
    with pytest.raises(ValueError, match="no 'params' key"):
        Adam([{"lr": 0.1}])


def test_base_optimizer_step_must_be_implemented():
    opt = Optimizer(make_params(), {"lr": 0.1})
    with pytest.raises(NotImplementedError, match="Optimizer must implement"):
        opt.step()
