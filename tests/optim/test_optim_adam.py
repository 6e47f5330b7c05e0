"""Adam and AdamW against steps written out by hand from their update equations (C21, C22)."""

import numpy as np
import pytest

from minillm.optim import Adam, AdamW
from minillm.tensor import Tensor


def make_param(values, grad=None, dtype=np.float64):
    p = Tensor(np.array(values, dtype=dtype), requires_grad=True)
    p.grad = None if grad is None else np.array(grad, dtype=dtype)
    return p


def adam_by_hand(p, g, m, v, t, lr, b1, b2, eps):
    """One step of the bias-corrected update, written from the equation (returns p, m, v)."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    p = p - lr / (1 - b1**t) * m / (np.sqrt(v) / np.sqrt(1 - b2**t) + eps)
    return p, m, v


def test_C21_adam_first_step_is_lr_times_sign(assert_close):
    """At t = 1, m_hat = g and sqrt(v_hat) = |g|, so the step is lr * g / (|g| + eps)."""
    p = make_param([1.0, -2.0, 0.5], grad=[0.5, -1e-3, 30.0])
    Adam([p], lr=0.1, eps=1e-8).step()
    expected = [
        1.0 - 0.1 * 0.5 / (0.5 + 1e-8),
        -2.0 + 0.1 * 1e-3 / (1e-3 + 1e-8),
        0.5 - 0.1 * 30.0 / (30.0 + 1e-8),
    ]
    assert_close(p.data, expected, "adam step 1")


def test_C21_adam_three_steps_by_hand(assert_close):
    lr, b1, b2, eps = 0.1, 0.5, 0.75, 1e-3
    grads = [np.array([0.5, -1.0]), np.array([1.0, 1.0]), np.array([-2.0, 0.25])]
    p = make_param([1.0, -2.0])
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    want, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    for t, g in enumerate(grads, start=1):
        p.grad = g.copy()
        opt.step()
        want, m, v = adam_by_hand(want, g, m, v, t, lr, b1, b2, eps)
        assert_close(p.data, want, f"adam step {t}")
        assert_close(opt.state[p]["exp_avg"], m, f"adam m step {t}")
        assert_close(opt.state[p]["exp_avg_sq"], v, f"adam v step {t}")
        assert opt.state[p]["step"] == t, f"adam step count {opt.state[p]['step']} != {t}"
    # step 1 written out: m = 0.5 g, v = 0.25 g^2, m_hat = g, sqrt(v_hat) = |g|
    assert_close(
        np.array(adam_by_hand(np.array([1.0]), 0.5, 0.0, 0.0, 1, lr, b1, b2, eps)[0]),
        np.array([1.0 - 0.1 * 0.5 / (0.5 + 1e-3)]),
        "adam step 1 by hand",
    )


def test_C22_adam_weight_decay_is_l2_in_the_gradient(assert_close):
    """Adam: g <- g + wd p before the moments (so wd is rescaled by 1/sqrt(v))."""
    lr, b1, b2, eps, wd = 0.05, 0.9, 0.99, 1e-8, 0.3
    p0 = np.array([2.0, -1.0, 0.5])
    grads = [np.array([0.1, 0.2, -0.3]), np.array([0.4, -0.1, 0.0])]
    p = make_param(p0)
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    want, m, v = p0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, start=1):
        p.grad = g.copy()
        opt.step()
        want, m, v = adam_by_hand(want, g + wd * want, m, v, t, lr, b1, b2, eps)
        assert_close(p.data, want, f"adam L2 step {t}")
        assert_close(p.grad, g, f"adam L2 leaves grad, step {t}")


def test_C21_adamw_decoupled_decay_then_adam_by_hand(assert_close):
    """AdamW: p <- p (1 - lr wd) first, then the Adam step from the undecayed gradient."""
    lr, b1, b2, eps, wd = 0.05, 0.9, 0.99, 1e-8, 0.3
    p0 = np.array([2.0, -1.0, 0.5])
    grads = [np.array([0.1, 0.2, -0.3]), np.array([0.4, -0.1, 0.0]), np.array([1.0, 1.0, 1.0])]
    p = make_param(p0)
    opt = AdamW([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    want, m, v = p0.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, start=1):
        p.grad = g.copy()
        opt.step()
        want, m, v = adam_by_hand(want * (1 - lr * wd), g, m, v, t, lr, b1, b2, eps)
        assert_close(p.data, want, f"adamw step {t}")
    # step 1 written out: 2.0 * (1 - 0.015) - 0.05 * 0.1 / (0.1 + 1e-8)
    p = make_param(p0, grad=grads[0])
    AdamW([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd).step()
    assert_close(p.data[:1], [2.0 * 0.985 - 0.05 * 0.1 / (0.1 + 1e-8)], "adamw step 1 by hand")


def test_C22_adamw_with_zero_gradient_only_decays(assert_close):
    p = make_param([3.0, -1.5], grad=[0.0, 0.0])
    AdamW([p], lr=0.1, weight_decay=0.2).step()
    assert_close(p.data, [3.0 * 0.98, -1.5 * 0.98], "adamw zero grad")


def test_C21_adam_equals_adamw_without_weight_decay(assert_close):
    rng = np.random.default_rng(0)
    a, b = make_param(rng.standard_normal((3, 5))), make_param(np.zeros((3, 5)))
    b.data[...] = a.data
    opt_a, opt_b = Adam([a], lr=0.01), AdamW([b], lr=0.01, weight_decay=0.0)
    for _ in range(3):
        g = rng.standard_normal((3, 5))
        a.grad, b.grad = g.copy(), g.copy()
        opt_a.step()
        opt_b.step()
    assert_close(b.data, a.data, "adamw(wd=0) vs adam")


def test_C21_adamw_defaults_match_pytorch():
    opt = AdamW([make_param([1.0])])
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (
        1e-3,
        (0.9, 0.999),
        1e-8,
        1e-2,
    ), f"AdamW defaults are {group}"
    assert Adam([make_param([1.0])]).param_groups[0]["weight_decay"] == 0.0


def test_C21_adamw_float32_stays_float32_and_in_place(assert_close):
    p = make_param([1.0, 2.0, -3.0], grad=[0.1, -0.2, 0.3], dtype=np.float32)
    data = p.data
    opt = AdamW([p], lr=0.01)
    opt.step()
    assert p.data is data, "AdamW replaced p.data instead of updating it in place"
    for key in ("exp_avg", "exp_avg_sq"):
        dtype = opt.state[p][key].dtype
        assert dtype == np.float32, f"AdamW state {key} has dtype {dtype}, expected float32"
    want, _, _ = adam_by_hand(
        np.array([1.0, 2.0, -3.0]) * (1 - 0.01 * 0.01),
        np.array([0.1, -0.2, 0.3]),
        0.0,
        0.0,
        1,
        0.01,
        0.9,
        0.999,
        1e-8,
    )
    assert_close(p.data, want.astype(np.float32), "adamw float32 step")


@pytest.mark.parametrize("cls", [Adam, AdamW])
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": -1e-3}, "lr=-0.001"),
        ({"betas": (1.0, 0.999)}, "beta1=1.0"),
        ({"betas": (-0.1, 0.999)}, "beta1=-0.1"),
        ({"betas": (0.9, 1.5)}, "beta2=1.5"),
        ({"betas": (0.9, 0.99, 0.9)}, "pair"),
        ({"eps": -1e-8}, "eps=-1e-08"),
        ({"weight_decay": -0.1}, "weight_decay=-0.1"),
    ],
)
def test_adam_rejects_bad_hyper_parameters(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls([make_param([1.0])], **kwargs)
