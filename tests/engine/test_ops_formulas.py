"""Properties and loop references of the formulas (F3, F5, F8, F16-F18, C14, C22)."""

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm.functional as F
from minillm.ops.attention import attention_forward
from minillm.ops.softmax import softmax_backward, softmax_forward
from minillm.tensor import Tensor

FAST = settings(max_examples=40, deadline=None)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=7)
finite = st.floats(-50, 50, allow_nan=False, width=64)


@FAST
@given(hnp.arrays(np.float64, shapes, elements=finite))
def test_F17_softmax_rows_sum_to_one(x):
    s = F.softmax(Tensor(x)).data
    assert (s >= 0).all(), f"softmax of shape {x.shape} has a negative entry"
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-12, err_msg=f"shape {x.shape}")


@FAST
@given(hnp.arrays(np.float64, shapes, elements=finite), st.floats(-1e3, 1e3))
def test_F17_softmax_is_shift_invariant(x, c):
    a = F.softmax(Tensor(x)).data
    b = F.softmax(Tensor(x + c)).data
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"shape {x.shape}, c={c}")


@FAST
@given(hnp.arrays(np.float64, shapes, elements=finite))
def test_F3_log_softmax_is_log_of_softmax_and_logsumexp_bounds(x):
    y = F.log_softmax(Tensor(x)).data
    np.testing.assert_allclose(np.exp(y), F.softmax(Tensor(x)).data, rtol=1e-12, atol=1e-300)
    lse = F.logsumexp(Tensor(x)).data
    m = x.max(axis=-1)
    assert np.all(lse >= m - 1e-12) and np.all(lse <= m + math.log(x.shape[-1]) + 1e-12)


def test_F17_softmax_backward_is_the_jacobian_vector_product():
    """dx = J^T dout with J = diag(s) - s s^T, written out for one row"""
    x = np.random.default_rng(0).standard_normal(7)
    dout = np.random.default_rng(1).standard_normal(7)
    s, cache = softmax_forward(x)
    J = np.diag(s) - np.outer(s, s)  # (N, N)
    np.testing.assert_allclose(softmax_backward(dout, cache), J.T @ dout, rtol=1e-13)


def attention_loop(q, k, v, allowed):
    """F16-F18 one query at a time: e_ij = q_i . k_j / sqrt(d_k), alpha = softmax_j, o_i"""
    B, H, T, D = q.shape
    o = np.zeros(q.shape[:-1] + (v.shape[-1],))
    for b in range(B):
        for h in range(H):
            for i in range(T):
                js = [j for j in range(k.shape[2]) if allowed[i, j]]
                if not js:
                    continue  # Deviation (ops.attention): a fully masked row gives 0
                e = np.array([q[b, h, i] @ k[b, h, j] / math.sqrt(D) for j in js])
                alpha = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
                o[b, h, i] = sum(a * v[b, h, j] for a, j in zip(alpha, js))
    return o


@pytest.mark.parametrize("T,S", [(5, 5), (3, 7), (1, 1)])
@pytest.mark.parametrize("causal", [False, True])
def test_F5_attention_matches_loop(T, S, causal):
    rng = np.random.default_rng(T * 10 + S)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, T, 4), (2, 3, S, 4), (2, 3, S, 5)))
    o, _ = attention_forward(q, k, v, is_causal=causal)
    # bottom-right aligned: the T queries are the last T of S positions (ops.causal_mask)
    allowed = np.tril(np.ones((T, S), dtype=bool), k=S - T) if causal else np.ones((T, S), bool)
    np.testing.assert_allclose(o, attention_loop(q, k, v, allowed), rtol=1e-12, atol=1e-14)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 7), st.integers(0, 6), st.integers(0, 10_000))
def test_F5_causal_output_at_t_ignores_tokens_after_t(T, t, seed):
    t = min(t, T - 1)
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((1, 2, T, 3)) for _ in range(3))
    o = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True).data
    k2, v2 = k.copy(), v.copy()
    k2[:, :, t + 1 :] = rng.standard_normal(k2[:, :, t + 1 :].shape) * 10
    v2[:, :, t + 1 :] = rng.standard_normal(v2[:, :, t + 1 :].shape) * 10
    o2 = F.scaled_dot_product_attention(Tensor(q), Tensor(k2), Tensor(v2), is_causal=True).data
    np.testing.assert_allclose(o2[:, :, : t + 1], o[:, :, : t + 1], rtol=1e-12, atol=1e-14)


def test_F5_fully_masked_row_gives_zero_output_and_zero_gradients():
    rng = np.random.default_rng(3)
    q, k, v = (Tensor(rng.standard_normal((1, 1, 3, 2)), requires_grad=True) for _ in range(3))
    mask = np.array([[True, False, True], [False, False, False], [True, True, True]])
    o, alpha = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, return_weights=True)
    np.testing.assert_array_equal(o.data[0, 0, 1], 0.0)
    np.testing.assert_array_equal(alpha[0, 0, 1], 0.0)
    np.testing.assert_allclose(alpha.sum(axis=-1)[0, 0, [0, 2]], 1.0, rtol=1e-14)
    o.backward(np.ones(o.shape))
    np.testing.assert_array_equal(q.grad[0, 0, 1], 0.0)
    assert np.isfinite(k.grad).all() and np.isfinite(v.grad).all()


def test_F5_boolean_mask_equals_float_mask_of_minus_inf():
    rng = np.random.default_rng(4)
    q, k, v = (Tensor(rng.standard_normal((2, 1, 4, 3))) for _ in range(3))
    mask = rng.random((4, 4)) > 0.3
    mask[:, 0] = True
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).data
    b = F.scaled_dot_product_attention(q, k, v, attn_mask=np.where(mask, 0.0, -np.inf)).data
    np.testing.assert_allclose(a, b, rtol=1e-14)


def test_F8_cross_entropy_is_mean_negative_log_probability_of_the_targets():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((6, 9)) * 3
    y = np.array([0, 8, -100, 3, 3, -100])
    loss = F.cross_entropy(Tensor(z), y).item()
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    expected = -np.mean([logp[n, y[n]] for n in range(6) if y[n] != -100])
    assert abs(loss - expected) < 1e-12, (loss, expected)


def test_F8_cross_entropy_with_every_row_ignored_is_nan_like_pytorch():
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = F.cross_entropy(Tensor(np.zeros((2, 3))), np.array([-100, -100]))
    assert np.isnan(loss.item())


@FAST
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=3, min_side=2, max_side=9),
        elements=st.floats(-100, 100, allow_nan=False),
    )
)
def test_C14_layer_norm_output_has_zero_mean_and_unit_variance(x):
    x = x + np.linspace(0, 1, x.shape[-1])  # no constant rows (those give 0, tested elsewhere)
    var = x.var(axis=-1)
    y = F.layer_norm(Tensor(x), x.shape[-1]).data
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-9, err_msg=f"shape {x.shape}")
    np.testing.assert_allclose(y.var(axis=-1), var / (var + 1e-5), rtol=1e-9)


def test_C22_dropout_zeroes_about_p_and_scales_the_rest_by_1_over_1_minus_p():
    x = Tensor(np.ones((200, 300)))
    y = F.dropout(x, 0.3, rng=np.random.default_rng(0)).data
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-15)
    assert abs(kept.mean() - 0.7) < 0.01, kept.mean()  # 60,000 draws: std 0.0019
    assert F.dropout(x, 0.3, training=False) is x
