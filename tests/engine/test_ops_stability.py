"""Numerical stability: huge logits and constant rows give finite values and gradients."""

import numpy as np
import pytest

import minillm.functional as F
from minillm.tensor import Tensor

HUGE = np.array([[1e4, -1e4, 0.0, 1e4 - 1.0], [-1e4, -1e4, -1e4 + 2.0, -1e4]])


def finite_forward_and_grad(fn, x, dtype):
    t = Tensor(x.astype(dtype), requires_grad=True)
    y = fn(t)
    y.backward(np.ones(y.shape, dtype=dtype))
    return y.data, t.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name,fn",
    [
        ("softmax", F.softmax),
        ("log_softmax", F.log_softmax),
        ("logsumexp", F.logsumexp),
        ("cross_entropy", lambda z: F.cross_entropy(z, np.array([1, 3]))),
        ("sigmoid", F.sigmoid),
        ("gelu", F.gelu),
        ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh")),
    ],
)
def test_logits_of_plus_minus_1e4_give_finite_values_and_gradients(name, fn, dtype):
    y, g = finite_forward_and_grad(fn, HUGE, dtype)
    assert np.isfinite(y).all(), (
        f"{name} {np.dtype(dtype)}: non-finite output at {np.argwhere(~np.isfinite(y))}"
    )
    assert np.isfinite(g).all(), (
        f"{name} {np.dtype(dtype)}: non-finite gradient at {np.argwhere(~np.isfinite(g))}"
    )


def test_softmax_of_huge_logits_has_the_right_values():
    s = F.softmax(Tensor(HUGE)).data
    e = np.exp(-1.0)
    np.testing.assert_allclose(s[0], [1 / (1 + e), 0.0, 0.0, e / (1 + e)], rtol=1e-12)
    ce = F.cross_entropy(Tensor(HUGE), np.array([1, 3]), reduction="none").data
    np.testing.assert_allclose(ce, [2e4 + np.log1p(e), np.log(3 + np.exp(2.0))], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_of_a_constant_row_is_finite_in_values_and_gradients(dtype):
    x = np.array([[3.0, 3.0, 3.0, 3.0, 3.0], [1.0, -2.0, 0.5, 4.0, 0.0]])
    gamma = Tensor(np.linspace(0.5, 1.5, 5).astype(dtype), requires_grad=True)
    beta = Tensor(np.arange(5.0).astype(dtype), requires_grad=True)
    t = Tensor(x.astype(dtype), requires_grad=True)
    y = F.layer_norm(t, 5, gamma, beta)
    y.backward(np.random.default_rng(0).standard_normal(y.shape).astype(dtype))
    for name, a in (("y", y.data), ("dx", t.grad), ("dgamma", gamma.grad), ("dbeta", beta.grad)):
        assert np.isfinite(a).all(), f"layer_norm {np.dtype(dtype)}: {name} not finite"
    np.testing.assert_allclose(y.data[0], beta.data, rtol=1e-6)  # x_hat = 0 on a constant row


def test_sigmoid_saturates_without_overflow_warnings():
    with np.errstate(over="raise", invalid="raise"):
        s = F.sigmoid(Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))).data
    np.testing.assert_allclose(s, [0.0, np.exp(-50.0) / (1 + np.exp(-50.0)), 0.5, 1.0, 1.0])
