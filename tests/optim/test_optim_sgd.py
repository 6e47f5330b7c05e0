"""SGD against steps written out by hand from its update equations (C21, C22 for weight decay)."""

import numpy as np
import pytest

from minillm.optim import SGD
from minillm.tensor import Tensor


def make_param(values, grad=None):
    p = Tensor(np.array(values, dtype=np.float64), requires_grad=True)
    p.grad = None if grad is None else np.array(grad, dtype=np.float64)
    return p


def test_C21_sgd_plain_steps_by_hand(assert_close):
    p = make_param([1.0, -2.0, 0.5], grad=[0.5, 1.0, -3.0])
    opt = SGD([p], lr=0.1)
    opt.step()  # p <- p - lr g
    assert_close(p.data, [1.0 - 0.1 * 0.5, -2.0 - 0.1 * 1.0, 0.5 + 0.1 * 3.0], "sgd step 1")
    p.grad = np.array([-1.0, 0.25, 2.0])
    opt.step()
    assert_close(p.data, [0.95 + 0.1, -2.1 - 0.025, 0.8 - 0.2], "sgd step 2")


def test_C21_sgd_momentum_dampening_steps_by_hand(assert_close):
    """b_1 = g_1 (no dampening on the first step), b_t = mu b_{t-1} + (1 - d) g_t, p -= lr b_t."""
    lr, mu, damp = 0.1, 0.9, 0.2
    g1, g2, g3 = np.array([0.5, -1.0]), np.array([1.0, 2.0]), np.array([-0.5, 0.0])
    p = make_param([1.0, 2.0], grad=g1)
    opt = SGD([p], lr=lr, momentum=mu, dampening=damp)
    opt.step()
    b1 = np.array([0.5, -1.0])
    assert_close(p.data, [1.0 - lr * 0.5, 2.0 + lr * 1.0], "sgd momentum step 1")
    assert_close(opt.state[p]["momentum_buffer"], b1, "sgd momentum buffer 1")
    p.grad = g2
    opt.step()
    b2 = np.array([0.9 * 0.5 + 0.8 * 1.0, 0.9 * -1.0 + 0.8 * 2.0])
    assert_close(opt.state[p]["momentum_buffer"], b2, "sgd momentum buffer 2")
    assert_close(p.data, [0.95 - lr * b2[0], 2.1 - lr * b2[1]], "sgd momentum step 2")
    p.grad = g3
    opt.step()
    b3 = np.array([0.9 * b2[0] + 0.8 * -0.5, 0.9 * b2[1]])
    assert_close(p.data, [0.95 - lr * b2[0] - lr * b3[0], 2.1 - lr * b2[1] - lr * b3[1]], "step 3")


def test_C21_sgd_nesterov_steps_by_hand(assert_close):
    """d = g + mu b_t with b_t the momentum buffer (b_1 = g_1)."""
    lr, mu = 0.5, 0.8
    p = make_param([1.0, -1.0, 3.0], grad=[1.0, 0.5, -2.0])
    opt = SGD([p], lr=lr, momentum=mu, nesterov=True)
    opt.step()
    # b_1 = g_1, d = g_1 + 0.8 g_1 = 1.8 g_1
    assert_close(p.data, [1.0 - 0.5 * 1.8, -1.0 - 0.5 * 0.9, 3.0 + 0.5 * 3.6], "nesterov step 1")
    p.grad = np.array([0.0, 1.0, 1.0])
    opt.step()
    b2 = np.array([0.8 * 1.0, 0.8 * 0.5 + 1.0, 0.8 * -2.0 + 1.0])
    d2 = np.array([0.0, 1.0, 1.0]) + 0.8 * b2
    assert_close(p.data, np.array([0.1, -1.45, 4.8]) - 0.5 * d2, "nesterov step 2")


def test_C22_sgd_weight_decay_adds_l2_gradient_by_hand(assert_close):
    """g <- g + wd p enters the momentum buffer; the stored grad itself is not changed."""
    lr, wd, mu = 0.1, 0.5, 0.9
    p = make_param([2.0, -4.0], grad=[1.0, 1.0])
    opt = SGD([p], lr=lr, momentum=mu, weight_decay=wd)
    opt.step()
    d1 = np.array([1.0 + 0.5 * 2.0, 1.0 + 0.5 * -4.0])  # [2, -1]
    assert_close(p.data, [2.0 - 0.1 * 2.0, -4.0 + 0.1 * 1.0], "sgd wd step 1")
    assert_close(p.grad, [1.0, 1.0], "sgd wd leaves grad")
    opt.step()
    d2 = np.array([1.0 + 0.5 * 1.8, 1.0 + 0.5 * -3.9])
    b2 = 0.9 * d1 + d2
    assert_close(p.data, np.array([1.8, -3.9]) - 0.1 * b2, "sgd wd step 2")


def test_C21_sgd_one_element_and_float32_stay_in_dtype(assert_close):
    p = Tensor(np.array([3.0], dtype=np.float32), requires_grad=True)
    p.grad = np.array([2.0], dtype=np.float32)
    SGD([p], lr=0.25, momentum=0.5).step()
    assert p.data.dtype == np.float32, f"sgd changed dtype to {p.data.dtype}"
    assert_close(p.data, np.array([3.0 - 0.5], dtype=np.float32), "sgd float32 step")


def test_C21_sgd_updates_data_in_place():
    p = make_param([1.0, 2.0], grad=[1.0, 1.0])
    data = p.data
    SGD([p], lr=0.1, momentum=0.9).step()
    assert p.data is data, "SGD replaced p.data instead of updating it in place"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": -0.1}, "lr=-0.1"),
        ({"lr": 0.1, "momentum": -0.5}, "momentum=-0.5"),
        ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay=-1.0"),
        ({"lr": 0.1, "nesterov": True}, "momentum=0"),
        ({"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}, "dampening=0.1"),
    ],
)
def test_sgd_rejects_bad_hyper_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SGD([make_param([1.0])], **kwargs)


def test_sgd_rejects_bad_hyper_parameter_in_a_group():
    with pytest.raises(ValueError, match="momentum=-1"):
        SGD([{"params": [make_param([1.0])], "momentum": -1}], lr=0.1)
