"""C23, mixed-precision training (Micikevicius et al. 2018): float16/bfloat16 rounding, the dynamic
loss scaler's state machine, skipped steps that change nothing, small gradients that underflow
without scaling, and float16 training that tracks float32."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scale_tiny import LOSS_MARGIN, tiny_run_config

from minillm.models import GPT, GPTConfig, read_manifest
from minillm.nn.precision import (
    RANGES,
    low_precision,
    record_output_grads,
    round_to_format,
    to_format,
)
from minillm.optim import SGD, GradScaler
from minillm.tensor import Tensor
from minillm.train import configure_optimizer, read_metrics, train, train_step


def test_C23_float16_rounding_is_ieee_binary16():
    big, normal, subnormal = RANGES["float16"]
    x = np.array([65504, 65519, 65520, 2.0**-24, 2.0**-25, 3 * 2.0**-26, 1 + 2.0**-11, -70000],
                 np.float32)  # fmt: skip
    want = np.array([65504, 65504, np.inf, 2.0**-24, 0, 2.0**-24, 1, -np.inf], np.float32)
    np.testing.assert_array_equal(round_to_format(x, "float16"), want)
    assert (big, normal, subnormal) == (65504.0, 2.0**-14, 2.0**-24)


def test_C23_bfloat16_emulation_rounds_to_nearest_even():
    x = np.array([1 + 2.0**-8, 1 + 3 * 2.0**-8, 1 + 2.0**-8 + 2.0**-20, -(1 + 3 * 2.0**-8)],
                 np.float32)  # fmt: skip
    want = np.array([1, 1 + 2.0**-6, 1 + 2.0**-7, -(1 + 2.0**-6)], np.float32)
    np.testing.assert_array_equal(round_to_format(x, "bfloat16"), want)
    special = np.array([np.nan, np.inf, -np.inf, np.finfo(np.float32).max, 0.0], np.float32)
    out = round_to_format(special, "bfloat16")
    assert np.isnan(out[0]) and list(out[1:]) == [np.inf, -np.inf, np.inf, 0.0], out
    nan_payload = np.array([0x7F800001], np.uint32).view(np.float32)  # a nan that looks like inf
    assert np.isnan(round_to_format(nan_payload, "bfloat16")[0])


@given(st.integers(0, 2**32 - 1))
def test_C23_bfloat16_is_the_nearest_value_with_16_low_zero_bits(bits):
    x = np.array([bits], np.uint32).view(np.float32)
    if not np.isfinite(x[0]) or abs(float(x[0])) >= RANGES["bfloat16"][0]:
        return  # inf, nan and the overflow edge are the cases above
    r = round_to_format(x, "bfloat16")
    assert r.view(np.uint32)[0] & 0xFFFF == 0, f"{x[0]!r} -> {r[0]!r} keeps low bits"
    down = np.array([bits & 0xFFFF0000], np.uint32).view(np.float32)[0]
    up = np.array([(bits & 0xFFFF0000) + 0x10000], np.uint32).view(np.float32)[0]
    best = min(abs(float(down) - float(x[0])), abs(float(up) - float(x[0])))
    assert abs(float(r[0]) - float(x[0])) == best, f"{x[0]!r} -> {r[0]!r}, neighbours {down, up}"


def test_C23_to_format_rounds_the_value_and_the_gradient():
    x = Tensor(np.array([1 + 2.0**-12, 3.0], np.float32), requires_grad=True)
    y = to_format(x, "float16")
    np.testing.assert_array_equal(y.data, [1, 3])
    y.backward(np.array([2.0**-26, 70000], np.float32))
    np.testing.assert_array_equal(x.grad, [0, np.inf])  # underflow and overflow, both ways


def _params_with_grads(values):
    return [Tensor(np.array(v, np.float32), requires_grad=True) for v in values]


def _set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = np.array(g, np.float32)


def test_C23_grad_scaler_state_machine():
    """Halve and skip on inf/nan; double after growth_interval clean steps in a row; unscale
    divides by S; PyTorch's call-order errors; state through state_dict."""
    params = _params_with_grads([[1.0, 2.0]])
    opt = SGD(params, lr=0.5)
    scaler = GradScaler(init_scale=8.0, growth_interval=2)
    trajectory = []
    for grads in ([16, 8], [np.inf, 0], [4, 4], [4, 4], [np.nan, 1], [4, 4]):
        _set_grads(params, [grads])
        scaler.step(opt)  # unscales first: the update uses g / S
        scaler.update()
        trajectory.append((scaler.get_scale(), scaler.get_growth_tracker()))
    assert trajectory == [(8, 1), (4, 0), (4, 1), (8, 0), (4, 0), (4, 1)], trajectory
    # applied: steps 1, 3, 4, 6 with g / S = [2, 1], then [1, 1] three times (S = 4 each time)
    np.testing.assert_array_equal(params[0].data, [1 - 1 - 3 * 0.5, 2 - 0.5 - 3 * 0.5])
    _set_grads(params, [[4, 4]])
    scaler.unscale_(opt)
    np.testing.assert_array_equal(params[0].grad, [1, 1])
    with pytest.raises(RuntimeError, match="already been called"):
        scaler.unscale_(opt)
    scaler.update()  # a second clean step in a row: S doubles to 8
    with pytest.raises(RuntimeError, match="no step"):
        scaler.update()
    restored = GradScaler()
    restored.load_state_dict(scaler.state_dict())
    assert restored.state_dict() == scaler.state_dict() == {
        "scale": 8.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2,
        "_growth_tracker": 0,
    }  # fmt: skip


def test_C23_a_disabled_scaler_passes_through():
    params = _params_with_grads([[1.0]])
    opt = SGD(params, lr=1.0)
    scaler = GradScaler(enabled=False)
    loss = Tensor(np.float32(3.0))
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0
    _set_grads(params, [[0.25]])
    scaler.unscale_(opt)
    scaler.step(opt)
    scaler.update()
    np.testing.assert_array_equal(params[0].data, [0.75])
    assert scaler.state_dict() == {}


def _tiny_gpt(seed=0, T=16):
    config = GPTConfig(vocab_size=11, block_size=T, n_layers=2, n_heads=2, d_model=16, bias=True)
    return GPT(config, seed)


def _batch(B=4, T=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 11, (B, T)), rng.integers(0, 11, (B, T))


def test_C23_a_skipped_step_leaves_weights_and_optimizer_state_untouched():
    model = _tiny_gpt()
    opt = configure_optimizer(model, 1e-3, 0.1, (0.9, 0.99))
    scaler = GradScaler(init_scale=2.0**10)
    for i in range(3):  # some AdamW state first
        train_step(model, opt, [_batch(seed=i)], 1e-3, 1.0, None, "float16", scaler)
    weights = {n: p.data.copy() for n, p in model.named_parameters()}
    state = opt.state_dict()
    scaler = GradScaler(init_scale=2.0**40)  # S * loss overflows float16 in the backward
    loss, norm = train_step(model, opt, [_batch(seed=9)], 1e-3, 1.0, None, "float16", scaler)
    assert np.isfinite(loss) and not np.isfinite(norm), (loss, norm)
    assert scaler.get_scale() == 2.0**39, "C23: the overflow did not halve the scale"
    for name, p in model.named_parameters():
        assert np.array_equal(p.data, weights[name]), f"C23: skipped step changed {name}"
        assert p.grad is None, f"{name}: gradients not cleared after the skipped step"
    after = opt.state_dict()
    for i, s in state["state"].items():
        assert after["state"][i]["step"] == s["step"], f"parameter {i}: step count moved"
        for key in ("exp_avg", "exp_avg_sq"):
            assert np.array_equal(after["state"][i][key], s[key]), f"parameter {i}: {key} moved"


def test_C23_low_precision_runs_on_a_rounded_copy_and_restores_the_master_weights():
    model = _tiny_gpt()
    masters = {n: p.data for n, p in model.named_parameters()}
    x, y = _batch()
    with low_precision(model, "float16"):
        for name, p in model.named_parameters():
            assert np.array_equal(p.data, round_to_format(masters[name], "float16")), name
        logits, loss = model(x, y)
        loss.backward()
    assert np.array_equal(logits.data, round_to_format(logits.data, "float16")), "logits"
    for name, p in model.named_parameters():
        assert p.data is masters[name], f"{name}: the master weights are not back"
        assert np.array_equal(p.grad, round_to_format(p.grad, "float16")), f"{name}: .grad"
    _, again = model(x, y)  # no hook left behind
    assert not np.array_equal(again.data, loss.data)


def test_C23_small_gradients_underflow_in_float16_without_loss_scaling():
    """Unscaled, some weight gradients that float32 sees as nonzero are 0 in float16 and the
    rest are further from float32's; with S = 2^15 none is lost and the error is float16's
    rounding (2^-11 relative)."""
    x, y = _batch(B=16, T=32)

    def gradients(fmt, S):
        model = _tiny_gpt(T=32)
        with low_precision(model, fmt):
            _, loss = model(x, y)
            (loss * S).backward()
        return {n: p.grad / S for n, p in model.named_parameters()}

    exact = gradients("float32", 1.0)
    results = {}
    for S in (1.0, 2.0**15):
        g = gradients("float16", S)
        lost = sum(int(((g[k] == 0) & (exact[k] != 0)).sum()) for k in exact)
        err = np.sqrt(sum(((g[k] - exact[k]) ** 2).sum() for k in exact))
        results[S] = lost, err / np.sqrt(sum((exact[k] ** 2).sum() for k in exact))
    assert results[1.0][0] > 0 and results[2.0**15][0] == 0, f"C23 lost gradients: {results}"
    assert results[2.0**15][1] < 2.0**-11 < results[1.0][1], f"C23 relative errors: {results}"


def test_C23_activation_gradients_are_recorded_before_rounding():
    model = _tiny_gpt()
    x, y = _batch()
    with record_output_grads(model) as grads:
        _, loss = model(x, y)
        loss.backward()
    assert len(grads) > 10 and all(g.dtype == np.float32 for g in grads)
    smallest = min(float(np.abs(g[g != 0]).min()) for g in grads if np.any(g))
    assert smallest < RANGES["float16"][1], "no activation gradient below float16's normal range"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_C23_low_precision_training_tracks_float32(corpus_file, tmp_path, dtype):
    """100 steps of a 2-layer GPT: the mean loss of the last 20 steps within LOSS_MARGIN nats of
    float32's (the loss falls by about 1 nat over the run), and not equal to it (the rounding
    does happen)."""
    settings = dict(max_iters=100, eval_interval=1000, eval_iters=1, batch_size=8,
                    warmup_iters=10, lr=3e-3)  # fmt: skip
    base = train(tiny_run_config(corpus_file, tmp_path / "32", **settings), log=lambda m: None)
    low = train(
        tiny_run_config(corpus_file, tmp_path / dtype, dtype=dtype, **settings), log=lambda m: None
    )
    gap = abs(np.mean(low.losses[-20:]) - np.mean(base.losses[-20:]))
    drop = base.losses[0] - np.mean(base.losses[-20:])
    assert drop > 0.5, f"the float32 run did not learn: {base.losses[0]} -> {base.losses[-1]}"
    assert gap < LOSS_MARGIN, f"C23 {dtype}: last-20 mean loss {gap:.4f} nats from float32's"
    assert low.losses != base.losses, f"C23 {dtype} gave float32's losses exactly"
    records = [r for r in read_metrics(low.metrics) if r["kind"] == "train"]
    assert ("loss_scale" in records[0]) == (dtype == "float16"), records[0]


def test_C23_float16_resume_restores_the_scaler(corpus_file, tmp_path):
    def run(folder, **settings):  # a 6-step schedule, also for the 3-step first half
        cfg = tiny_run_config(corpus_file, tmp_path / folder, dtype="float16", lr_decay_iters=6)
        return train(dataclasses.replace(cfg, **settings), log=lambda m: None)

    straight = run("a")
    run("b", max_iters=3)
    state = read_manifest(tmp_path / "b")["state"]["scaler"]
    assert state["_growth_tracker"] == 3 and state["scale"] == 2.0**16, state
    resumed = run("b", resume=True)
    assert straight.losses[3:] == resumed.losses, (straight.losses, resumed.losses)
    a, b = ([{k: v for k, v in json.loads(line).items() if k != "tokens_per_s"}
             for line in open(run.metrics)] for run in (straight, resumed))  # fmt: skip
    assert a == b, "C23: the resumed run's metrics differ from the straight run's"
