"""Elementwise activations: ReLU and the logistic sigmoid (C14)."""

from ..tensor import Tensor
from ..tensor.backend import array_module


def relu_forward(x):
    """y = max(x, 0); relu(-inf) = 0 and relu(nan) = nan, as PyTorch"""
    return array_module(x).where(x <= 0, 0, x), x  # where, not x * [x > 0]: -inf * 0 = nan


def relu_backward(dout, x):
    """dx = dout * [x > 0]   (the subgradient at 0 is 0, as in PyTorch; dout at nan, as
    PyTorch's threshold_backward, which zeroes only where x <= 0)"""
    return array_module(x).where(x <= 0, 0, dout)  # where: an inf dout times 0 is not nan


def sigmoid_forward(x):
    """s = 1 / (1 + exp(-x)), written as exp(min(x,0)) / (1 + exp(-|x|)) so no exp overflows"""
    xp = array_module(x)
    e = xp.exp(-xp.abs(x))  # in (0, 1]
    s = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return s, s


def sigmoid_backward(dout, s):
    """dx = dout * s * (1 - s)"""
    return dout * s * (1 - s)


def relu(x: Tensor) -> Tensor:
    y, cache = relu_forward(x.data)
    return Tensor.from_op(y, (x,), lambda d: (relu_backward(d, cache),), "relu")


def sigmoid(x: Tensor) -> Tensor:
    s, cache = sigmoid_forward(x.data)
    return Tensor.from_op(s, (x,), lambda d: (sigmoid_backward(d, cache),), "sigmoid")
