"""The six inputs of issue 9's table, each with its right value (PyTorch 2.13's, or the math's).

Each stands for a kind, fixed everywhere it occurs; the edge table (test_edge_table.py) holds
the kinds op by op against PyTorch. Inputs are float64, as in the issue.
"""

import warnings

import numpy as np
import pytest

import minillm.functional as F
from minillm.generate import sample_next, top_p_filter
from minillm.models import GPT, GPTConfig
from minillm.ops import dispatch
from minillm.optim import AdamW
from minillm.tensor import Tensor


def test_row1_F_power_rule_at_zero_gives_gradient_0_for_x_to_the_0():
    """d/dx x^0 = 0 everywhere, also at x = 0 where p x^(p-1) = 0 * inf = nan."""
    x = Tensor(np.array([0.0, 1.0, 2.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "divide by zero" on the way either
        (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])


def test_row2_mean_over_no_elements_is_nan_not_zero_division():
    assert np.isnan(Tensor(np.zeros(0)).mean().item())
    m = Tensor(np.zeros((3, 0))).mean(axis=1)
    assert m.shape == (3,) and np.isnan(m.data).all(), m


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_row3_F17_softmax_and_log_softmax_over_an_empty_axis_are_empty(fn):
    x = Tensor(np.zeros((3, 0)), requires_grad=True)
    y = fn(x, dim=-1)
    assert y.shape == (3, 0) and y.dtype == np.float64
    y.backward(np.zeros((3, 0)))
    assert x.grad.shape == (3, 0)
    assert Tensor(np.zeros((3, 0))).softmax(-1).shape == (3, 0)  # the Tensor method as well


def test_row4_logsumexp_of_minus_inf_is_minus_inf():
    x = Tensor(np.array([-np.inf, -np.inf, -np.inf]), requires_grad=True)
    y = F.logsumexp(x, dim=0)
    assert y.item() == -np.inf
    y.backward()
    assert np.isnan(x.grad).all(), x.grad  # torch: exp(x - lse) = exp(-inf + inf) = nan
    assert Tensor(np.array([-np.inf, -np.inf])).logsumexp(0).item() == -np.inf


@pytest.mark.parametrize("path", ["fast", "reference"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_row5_F8_cross_entropy_with_every_target_ignored_is_nan_with_zero_gradient(dtype, path):
    """loss nan (0 / 0, as torch) but the gradient exactly 0, on the CPU kernel too."""
    z = Tensor(np.random.default_rng(0).standard_normal((3, 5)).astype(dtype), requires_grad=True)
    with dispatch.use_cpu("reference") if path == "reference" else dispatch.use_cpu():
        loss = F.cross_entropy(z, np.array([-100, -100, -100]))
        loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(z.grad, np.zeros((3, 5), dtype))


def test_row5_one_adamw_step_on_an_all_ignored_batch_keeps_the_gpt_finite():
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layers=2, n_heads=2, d_model=16))
    before = [p.data.copy() for p in model.parameters()]
    x = np.random.default_rng(1).integers(0, 11, (2, 8))
    _, loss = model(x, np.full((2, 8), -100))
    loss.backward()
    AdamW(model.parameters(), lr=1e-3, weight_decay=0.0).step()
    assert np.isnan(loss.item())
    for (name, p), b in zip(model.named_parameters(), before, strict=True):
        assert np.isfinite(p.data).all(), f"{name} turned non-finite"
        np.testing.assert_array_equal(p.data, b, err_msg=f"{name}: a zero gradient moved it")


def test_row6_C19_top_p_0_keeps_the_argmax():
    logits = np.array([[0.0, 5.0, 1.0]])
    draws = {int(sample_next(logits, np.random.default_rng(s), top_p=0.0)[0]) for s in range(20)}
    assert draws == {1}, draws
    kept = np.isfinite(top_p_filter(logits, 0.0))
    np.testing.assert_array_equal(kept, [[False, True, False]])
