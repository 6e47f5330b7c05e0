"""The cells against their equations written out in NumPy (F2, C11), and their error paths."""

import numpy as np
import pytest

from minillm import nn
from minillm.tensor import Tensor


def sigma(a):
    return 1.0 / (1.0 + np.exp(-a))


def setup(cell, B, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, cell.input_size))
    h = rng.standard_normal((B, cell.hidden_size))
    c = rng.standard_normal((B, cell.hidden_size))
    return x, h, c


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("B, I, H", [(3, 4, 5), (1, 1, 1), (2, 7, 3)])
def test_F2_rnn_cell_matches_equation(nonlinearity, B, I, H, assert_close):
    """h_t = f(x_t W_xh + h_{t-1} W_hh + b_h)"""
    cell = nn.RNNCell(
        I, H, nonlinearity=nonlinearity, rng=np.random.default_rng(1), dtype=np.float64
    )
    x, h, _ = setup(cell, B)
    a = x @ cell.W_xh.data + h @ cell.W_hh.data + cell.b_h.data
    expected = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0)
    assert_close(cell(Tensor(x), Tensor(h)).data, expected, f"RNNCell({nonlinearity}) {x.shape}")


@pytest.mark.parametrize("B, I, H", [(3, 4, 5), (1, 1, 1), (2, 6, 3)])
def test_C11_lstm_cell_matches_equations(B, I, H, assert_close):
    """i, f, o = sigma(.), g = tanh(.), c_t = f c + i g, h_t = o tanh(c_t); gates i, f, g, o."""
    cell = nn.LSTMCell(I, H, rng=np.random.default_rng(2), dtype=np.float64)
    x, h, c = setup(cell, B)
    W_x, W_h, b = cell.W_x.data, cell.W_h.data, cell.b.data
    gate = [
        x @ W_x[:, k * H : (k + 1) * H] + h @ W_h[:, k * H : (k + 1) * H] + b[k * H : (k + 1) * H]
        for k in range(4)
    ]
    i, f, g, o = sigma(gate[0]), sigma(gate[1]), np.tanh(gate[2]), sigma(gate[3])
    c_t = f * c + i * g
    h_t, c_out = cell(Tensor(x), (Tensor(h), Tensor(c)))
    assert_close(c_out.data, c_t, f"LSTMCell c_t {x.shape}")
    assert_close(h_t.data, o * np.tanh(c_t), f"LSTMCell h_t {x.shape}")


@pytest.mark.parametrize("B, I, H", [(3, 4, 5), (1, 1, 1), (2, 6, 3)])
def test_C11_gru_cell_matches_pytorch_formulation(B, I, H, assert_close):
    """r, z = sigma(x W_x. + b_x. + h W_h. + b_h.), n = tanh(x W_xn + b_xn + r (h W_hn + b_hn)),
    h_t = (1 - z) n + z h; gates r, z, n."""
    cell = nn.GRUCell(I, H, rng=np.random.default_rng(3), dtype=np.float64)
    x, h, _ = setup(cell, B)
    W_x, W_h, b_x, b_h = cell.W_x.data, cell.W_h.data, cell.b_x.data, cell.b_h.data
    gx = [x @ W_x[:, k * H : (k + 1) * H] + b_x[k * H : (k + 1) * H] for k in range(3)]
    gh = [h @ W_h[:, k * H : (k + 1) * H] + b_h[k * H : (k + 1) * H] for k in range(3)]
    r, z = sigma(gx[0] + gh[0]), sigma(gx[1] + gh[1])
    n = np.tanh(gx[2] + r * gh[2])
    assert_close(cell(Tensor(x), Tensor(h)).data, (1 - z) * n + z * h, f"GRUCell {x.shape}")


@pytest.mark.parametrize("make", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_C11_cell_default_state_is_zeros(make, assert_close):
    cell = make(3, 4, rng=np.random.default_rng(4), dtype=np.float64)
    x, _, _ = setup(cell, 2)
    zeros = Tensor(np.zeros((2, 4)))
    state = (zeros, zeros) if make is nn.LSTMCell else zeros
    got, expected = cell(Tensor(x)), cell(Tensor(x), state)
    for a, e in zip(*(s if isinstance(s, tuple) else (s,) for s in (got, expected))):
        assert_close(a.data, e.data, f"{make.__name__} h=None vs zeros")


@pytest.mark.parametrize("make", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_C11_cell_without_bias(make, assert_close):
    """bias=False: no bias parameters, and a zero input and state give a zero h_t."""
    cell = make(3, 4, bias=False, rng=np.random.default_rng(5), dtype=np.float64)
    names = [n for n, _ in cell.named_parameters()]
    assert all(n.startswith("W") for n in names), f"{make.__name__}(bias=False) has {names}"
    out = cell(Tensor(np.zeros((2, 3))))
    h = out[0] if isinstance(out, tuple) else out
    assert_close(h.data, np.zeros((2, 4)), f"{make.__name__}(bias=False) at zero input")


def test_C11_lstm_forget_bias_shifts_the_forget_gate_only():
    a = nn.LSTMCell(2, 3, rng=np.random.default_rng(6))
    b = nn.LSTMCell(2, 3, forget_bias=1.0, rng=np.random.default_rng(6))
    diff = b.b.data - a.b.data  # (4H,)
    expected = np.r_[np.zeros(3), np.ones(3), np.zeros(6)]
    np.testing.assert_allclose(diff, expected, atol=1e-6, err_msg="LSTMCell forget_bias")


@pytest.mark.parametrize("make", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_C11_cell_rejects_bad_shapes(make):
    cell = make(3, 4)
    with pytest.raises(ValueError, match=r"expected x_t \(B, 3\), got shape \(2, 5\)"):
        cell(Tensor(np.zeros((2, 5), np.float32)))
    with pytest.raises(ValueError, match=r"expected x_t \(B, 3\), got shape \(3,\)"):
        cell(Tensor(np.zeros(3, np.float32)))
    bad = Tensor(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"expected state \(B, H\) = \(2, 4\), got shape \(2, 5\)"):
        cell(Tensor(np.zeros((2, 3), np.float32)), (bad, bad) if make is nn.LSTMCell else bad)


def test_F2_rnn_cell_rejects_unknown_nonlinearity_and_sizes():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        nn.RNNCell(2, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="input_size and hidden_size must be >= 1, got 2 and 0"):
        nn.GRUCell(2, 0)
