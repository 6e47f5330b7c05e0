"""Positional encodings (F20, C15): the sinusoid table element by element, the learned table, and
the errors for sequences longer than max_len."""

import math

import numpy as np
import pytest

from minillm.nn import LearnedPositionalEmbedding, SinusoidalPositionalEncoding, sinusoidal_table
from minillm.tensor import Tensor


@pytest.mark.parametrize("max_len,d_model", [(9, 6), (7, 5), (1, 1), (4, 2), (50, 13)])
def test_F20_table_matches_formula_elementwise(max_len, d_model):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model))"""
    pe = sinusoidal_table(max_len, d_model)
    assert pe.shape == (max_len, d_model)
    for pos in range(max_len):
        for j in range(d_model):
            i = j // 2
            angle = pos / 10000 ** (2 * i / d_model)
            ref = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(pe[pos, j] - ref) <= 1e-12, (
                f"F20: PE[{pos}, {j}] = {pe[pos, j]} != {ref} (max_len={max_len}, d={d_model})"
            )


def test_F20_sin_cos_pairs_lie_on_unit_circle_and_shift_by_rotation():
    """Each (sin, cos) pair has norm 1, and PE(pos + k) is a fixed rotation of PE(pos): the
    property Vaswani et al. cite for attending by relative position."""
    d, k = 8, 3
    pe = sinusoidal_table(40, d)
    pairs = pe.reshape(40, d // 2, 2)  # (T, C/2, 2) (sin, cos)
    np.testing.assert_allclose((pairs**2).sum(-1), 1.0, rtol=1e-12)
    for i in range(d // 2):
        w = 1.0 / 10000 ** (2 * i / d)
        R = np.array([[math.cos(k * w), -math.sin(k * w)], [math.sin(k * w), math.cos(k * w)]])
        np.testing.assert_allclose(pairs[:-k, i] @ R, pairs[k:, i], atol=1e-12, err_msg=f"i={i}")


def test_F20_forward_adds_the_table(assert_close):
    rng = np.random.default_rng(0)
    pe = SinusoidalPositionalEncoding(6, max_len=10, dtype=np.float64)
    x = rng.standard_normal((3, 7, 6))
    assert_close(pe(Tensor(x)), x + sinusoidal_table(7, 6), "F20 forward")
    assert_close(pe(Tensor(x[:, :2]), start=5), x[:, :2] + sinusoidal_table(7, 6)[5:7], "start=5")
    assert pe.parameters() == [], "the sinusoidal table must not be a trainable parameter"


def test_F20_float32_input_stays_float32():
    pe = SinusoidalPositionalEncoding(4, max_len=5)
    assert pe(Tensor(np.zeros((1, 5, 4), np.float32))).dtype == np.float32


def test_F20_gradient_passes_through_unchanged():
    pe = SinusoidalPositionalEncoding(5, max_len=8)
    x = Tensor(np.zeros((2, 3, 5), np.float32), requires_grad=True)
    pe(x).sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones((2, 3, 5), np.float32))


@pytest.mark.parametrize("cls", ["sin", "learned"])
def test_C15_sequence_longer_than_max_len_raises(cls):
    layer = SinusoidalPositionalEncoding(4, 6) if cls == "sin" else LearnedPositionalEmbedding(6, 4)
    layer(Tensor(np.zeros((1, 6, 4), np.float32)))  # T == max_len is fine
    with pytest.raises(ValueError, match=r"T=7.*max_len=6"):
        layer(Tensor(np.zeros((1, 7, 4), np.float32)))
    with pytest.raises(ValueError, match=r"start=5.*max_len=6"):
        layer(Tensor(np.zeros((1, 2, 4), np.float32)), start=5)


@pytest.mark.parametrize("cls", ["sin", "learned"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 4), (1, 2, 3, 4)])
def test_C15_wrong_input_shape_raises(cls, shape):
    layer = SinusoidalPositionalEncoding(4, 6) if cls == "sin" else LearnedPositionalEmbedding(6, 4)
    with pytest.raises(ValueError) as e:
        layer(Tensor(np.zeros(shape, np.float32)))
    assert "d_model=4" in str(e.value) and str(shape) in str(e.value), str(e.value)


def test_C15_learned_positions_add_rows_and_get_gradients(assert_close):
    rng = np.random.default_rng(1)
    lp = LearnedPositionalEmbedding(7, 3, rng=rng)
    assert [n for n, _ in lp.named_parameters()] == ["P.W"] and lp.P.W.shape == (7, 3)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    y = lp(Tensor(x), start=2)
    assert_close(y, x + lp.P.W.data[2:6], "learned positions forward")
    y.sum().backward()
    expected = np.zeros((7, 3), np.float32)
    expected[2:6] = 2.0  # each used row receives the gradient of the B = 2 sequences
    np.testing.assert_array_equal(lp.P.W.grad, expected)
