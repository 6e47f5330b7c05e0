"""F3: the RNN language model's output layer, log p = log softmax(h_t W_o + b_o)."""

import numpy as np
import pytest

from minillm import nn
from minillm.tensor import Tensor, gradcheck


def layer(H, V, seed=0, **kw):
    return nn.LogSoftmaxOutput(H, V, rng=np.random.default_rng(seed), dtype=np.float64, **kw)


@pytest.mark.parametrize("shape", [(2, 5, 3), (7, 3), (1, 1, 3), (3,)])
def test_F3_output_equals_log_of_softmax(shape, assert_close):
    out = layer(3, 11)
    h = np.random.default_rng(1).standard_normal(shape)
    z = h @ out.W_o.data + out.b_o.data  # (..., V)
    expected = np.log(np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True))
    assert_close(out(Tensor(h)).data, expected, f"LogSoftmaxOutput {shape}")


@pytest.mark.parametrize("V", [1, 2, 29])
def test_F3_rows_exp_sum_to_one(V, assert_close):
    logp = layer(4, V)(Tensor(np.random.default_rng(2).standard_normal((3, 6, 4)))).data
    assert (logp <= 0).all(), f"LogSoftmaxOutput V={V}: a log-probability above 0"
    assert_close(np.exp(logp).sum(axis=-1), np.ones((3, 6)), f"LogSoftmaxOutput V={V} row sums")


def test_F3_output_is_stable_for_huge_logits(assert_close):
    """h W_o of +-1e4 would overflow exp; log softmax is computed as z - logsumexp(z)."""
    out = layer(2, 3, bias=False)
    out.W_o.data[...] = [[1e4, -1e4, 0.0], [0.0, 0.0, 0.0]]
    logp = out(Tensor(np.array([[1.0, 0.0]]))).data
    assert_close(logp, np.array([[0.0, -2e4, -1e4]]), "LogSoftmaxOutput at logits +-1e4")


def test_F3_output_gradcheck():
    out = layer(3, 5, seed=3)
    h = Tensor(np.random.default_rng(4).standard_normal((2, 4, 3)), requires_grad=True)
    assert gradcheck(lambda h, W, b: out(h), h, out.W_o, out.b_o)


def test_F3_output_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"expected h \(\.\.\., 3\), got shape \(2, 4\)"):
        layer(3, 5)(Tensor(np.zeros((2, 4))))
