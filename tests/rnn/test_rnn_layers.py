"""The recurrent layers: equal to a hand-unrolled loop of their cells, backprop through time by
finite differences, the initial/final state, and the error paths (F2, C11)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minillm import nn
from minillm.tensor import Tensor, concatenate, gradcheck

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def make(kind, I, H, L, dtype=np.float64, seed=0, **kw):
    return LAYERS[kind](I, H, num_layers=L, rng=np.random.default_rng(seed), dtype=dtype, **kw)


def unrolled(layer, x, state0=None):
    """The loop written out: for each layer l, for each t, h_t^l = cell_l(h_t^{l-1}, h_{t-1}^l)."""
    B, T, _ = x.shape
    inputs = [x[:, t] for t in range(T)]  # T x (B, I)
    finals = []
    for l, cell in enumerate(layer.cells):
        if state0 is None:
            state = None
        elif isinstance(state0, tuple):
            state = (Tensor(state0[0][l]), Tensor(state0[1][l]))
        else:
            state = Tensor(state0[l])
        outs = []
        for x_t in inputs:
            state = cell(Tensor(x_t), state)
            h = state[0] if isinstance(state, tuple) else state
            outs.append(h.data)
        inputs = outs
        finals.append(state)
    y = np.stack(inputs, axis=1)  # (B, T, H)
    if isinstance(finals[0], tuple):
        return y, tuple(np.stack([s[k].data for s in finals]) for k in range(2))
    return y, np.stack([s.data for s in finals])


def random_state(kind, L, B, H, rng):
    h0 = rng.standard_normal((L, B, H))
    return (h0, rng.standard_normal((L, B, H))) if kind == "lstm" else h0


def as_tensors(state):
    return tuple(Tensor(s) for s in state) if isinstance(state, tuple) else Tensor(state)


def check_equal(got, expected, assert_close, what):
    got_y, got_s = got
    exp_y, exp_s = expected
    assert_close(got_y.data, exp_y, f"{what} output")
    if isinstance(exp_s, tuple):
        for name, a, e in zip(("h_n", "c_n"), got_s, exp_s):
            assert_close(a.data, e, f"{what} {name}")
    else:
        assert_close(got_s.data, exp_s, f"{what} h_n")


@pytest.mark.parametrize("L", [1, 3])
@pytest.mark.parametrize("with_h0", [False, True])
def test_F2_rnn_equals_unrolled_cells(L, with_h0, assert_close):
    rng = np.random.default_rng(1)
    for nonlinearity in ("tanh", "relu"):
        layer = make("rnn", 3, 5, L, nonlinearity=nonlinearity)
        x = rng.standard_normal((2, 7, 3))
        h0 = random_state("rnn", L, 2, 5, rng) if with_h0 else None
        got = layer(Tensor(x), None if h0 is None else Tensor(h0))
        check_equal(got, unrolled(layer, x, h0), assert_close, f"RNN({nonlinearity}, L={L})")


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("L", [1, 2])
@pytest.mark.parametrize("with_h0", [False, True])
def test_C11_lstm_gru_equal_unrolled_cells(kind, L, with_h0, assert_close):
    rng = np.random.default_rng(2)
    layer = make(kind, 4, 3, L)
    x = rng.standard_normal((3, 5, 4))
    h0 = random_state(kind, L, 3, 3, rng) if with_h0 else None
    got = layer(Tensor(x), None if h0 is None else as_tensors(h0))
    check_equal(got, unrolled(layer, x, h0), assert_close, f"{kind}(L={L})")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_C11_one_step_one_unit(kind, assert_close):
    """B = T = I = H = 1: the layer is one call of its cell."""
    layer = make(kind, 1, 1, 1)
    x = np.array([[[0.7]]])
    check_equal(layer(Tensor(x)), unrolled(layer, x), assert_close, f"{kind} 1x1x1")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_F2_bptt_gradcheck(kind):
    """Backprop through time (autograd over the unrolled graph) equals central differences for
    the input, the initial state and every weight of a 2-layer stack, on a short sequence."""
    rng = np.random.default_rng(3)
    layer = make(kind, 2, 3, 2)
    x = Tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
    state = random_state(kind, 2, 2, 3, rng)
    state = tuple(Tensor(s, requires_grad=True) for s in (state if kind == "lstm" else (state,)))

    def run(x, *tensors):
        h0 = tensors[:2] if kind == "lstm" else tensors[0]
        y, s = layer(x, h0)
        parts = [y] + list(s if kind == "lstm" else (s,))
        return concatenate([p.reshape(-1) for p in parts])  # every output element at once

    assert gradcheck(run, x, *state, *layer.parameters())


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_C11_batch_first_false_is_the_transpose(kind, assert_close):
    a = make(kind, 3, 4, 2, seed=5)
    b = make(kind, 3, 4, 2, seed=5, batch_first=False)
    x = np.random.default_rng(4).standard_normal((2, 6, 3))  # (B, T, I)
    ya, sa = a(Tensor(x))
    yb, sb = b(Tensor(x.transpose(1, 0, 2)))  # (T, B, I) -> (T, B, H)
    assert_close(yb.data.transpose(1, 0, 2), ya.data, f"{kind} batch_first=False output")
    for p, q in zip(*(s if isinstance(s, tuple) else (s,) for s in (sb, sa))):
        assert_close(p.data, q.data, f"{kind} batch_first=False final state")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_C11_final_state_continues_the_sequence(kind, assert_close):
    """h_n is the top layer's last output, and reading x in two chunks (the second starting from
    the first's h_n) equals reading it at once."""
    layer = make(kind, 3, 4, 2, seed=6)
    x = np.random.default_rng(7).standard_normal((2, 9, 3))
    y, s = layer(Tensor(x))
    h_n = s[0] if kind == "lstm" else s
    assert_close(h_n.data[-1], y.data[:, -1], f"{kind} h_n[-1] vs output[:, -1]")
    y1, s1 = layer(Tensor(x[:, :4]))
    y2, s2 = layer(Tensor(x[:, 4:]), s1)
    assert_close(np.concatenate([y1.data, y2.data], axis=1), y.data, f"{kind} chunked output")
    for p, q in zip(*(t if isinstance(t, tuple) else (t,) for t in (s2, s))):
        assert_close(p.data, q.data, f"{kind} chunked final state")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_C22_dropout_acts_between_layers_only_while_training(kind, assert_close):
    x = Tensor(np.random.default_rng(8).standard_normal((2, 5, 3)))
    one = make(kind, 3, 4, 1, seed=9, dropout=0.5)  # one layer: no dropout anywhere (PyTorch)
    assert_close(one(x)[0].data, one.eval()(x)[0].data, f"{kind} 1 layer dropout")
    two = make(kind, 3, 4, 2, seed=9, dropout=0.5)
    plain = make(kind, 3, 4, 2, seed=9)
    assert_close(two.eval()(x)[0].data, plain(x)[0].data, f"{kind} eval() ignores dropout")
    trained = two.train()(x)[0].data
    assert not np.allclose(trained, plain(x)[0].data), f"{kind}: dropout had no effect"


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_C11_layers_reject_bad_shapes(kind):
    layer = make(kind, 3, 4, 2, dtype=np.float32)
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"{name}: expected input \(B, T, input_size\) with "):
        layer(Tensor(np.zeros((2, 5), np.float32)))
    with pytest.raises(ValueError, match=r"input_size=3, got \(2, 5, 4\)"):
        layer(Tensor(np.zeros((2, 5, 4), np.float32)))
    with pytest.raises(ValueError, match="no time steps"):
        layer(Tensor(np.zeros((2, 0, 3), np.float32)))
    x = Tensor(np.zeros((2, 5, 3), np.float32))
    bad = Tensor(np.zeros((1, 2, 4), np.float32))
    msg = r"expected initial state \(num_layers, B, H\) = \(2, 2, 4\), got shape \(1, 2, 4\)"
    with pytest.raises(ValueError, match=msg):
        layer(x, (bad, bad) if kind == "lstm" else bad)
    with pytest.raises(ValueError, match="num_layers must be >= 1, got 0"):
        make(kind, 3, 4, 0)


def test_C11_lstm_initial_state_must_be_a_pair():
    layer = make("lstm", 3, 4, 1, dtype=np.float32)
    h0 = Tensor(np.zeros((1, 2, 4), np.float32))
    with pytest.raises(ValueError, match=r"LSTM: the initial state must be a pair \(h0, c0\)"):
        layer(Tensor(np.zeros((2, 5, 3), np.float32)), h0)


def test_F2_bptt_over_10000_steps():
    """A 10,000-step sequence runs forward and backward: the engine walks the graph iteratively,
    so no RecursionError. About 2 s on an idle core (1 s forward, mostly Python's cyclic GC
    scanning the growing graph, 0.8 s backward; H = 2); no time limit is asserted, as the CI
    machine is shared."""
    layer = make("rnn", 1, 2, 1, seed=10)
    x = Tensor(np.random.default_rng(11).standard_normal((1, 10_000, 1)), requires_grad=True)
    y, h_n = layer(x)
    (y.sum() + h_n.sum()).backward()
    assert y.shape == (1, 10_000, 2), f"RNN 10,000 steps: output shape {y.shape}"
    assert np.isfinite(x.grad).all(), "RNN 10,000 steps: non-finite input gradient"
    assert np.abs(x.grad[0, 0]).sum() > 0, "RNN 10,000 steps: no gradient reached step 0"
    assert all(np.isfinite(p.grad).all() for p in layer.parameters())


@settings(max_examples=15, deadline=None)
@given(
    kind=st.sampled_from(["rnn", "lstm", "gru"]),
    B=st.integers(1, 3),
    T=st.integers(2, 6),
    L=st.integers(1, 2),
    data=st.data(),
)
def test_C11_output_at_t_ignores_later_inputs(kind, B, T, L, data):
    """Recurrence is causal: changing x after step t leaves output[:, :t+1] unchanged."""
    t = data.draw(st.integers(0, T - 2))
    layer = make(kind, 2, 3, L, seed=12)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((B, T, 2))
    x2 = x.copy()
    x2[:, t + 1 :] = rng.standard_normal((B, T - t - 1, 2))
    y, y2 = layer(Tensor(x))[0].data, layer(Tensor(x2))[0].data
    assert np.array_equal(y[:, : t + 1], y2[:, : t + 1]), f"{kind} L={L}: output at <= {t} moved"
    assert not np.allclose(y[:, t + 1 :], y2[:, t + 1 :]), f"{kind}: later outputs did not move"
