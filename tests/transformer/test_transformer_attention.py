"""Scaled dot-product attention (F5, F13, F15-F18): loops written from the equations, masks,
gradients, and PyTorch's F.scaled_dot_product_attention."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minillm.functional as F
from minillm.tensor import Tensor, gradcheck


def rand(rng, *shape):
    return rng.standard_normal(shape)  # float64


def attention_loop(q, k, v, allowed=None):
    """F16-F18 for one head, literally: e_ij = q_i . k_j; alpha_ij = exp(e_ij / sqrt d_k) /
    sum_l exp(e_il / sqrt d_k) over the allowed keys l; o_i = sum_j alpha_ij v_j."""
    T, d_k = q.shape
    S = k.shape[0]
    o = np.zeros((T, v.shape[1]))
    alpha = np.zeros((T, S))
    for i in range(T):
        e = [sum(q[i, c] * k[j, c] for c in range(d_k)) for j in range(S)]  # F16
        keys = [j for j in range(S) if allowed is None or allowed[i, j]]
        z = sum(math.exp(e[l] / math.sqrt(d_k)) for l in keys)
        for j in keys:
            alpha[i, j] = math.exp(e[j] / math.sqrt(d_k)) / z  # F17
            o[i] += alpha[i, j] * v[j]  # F18
    return o, alpha


@pytest.mark.parametrize("T,S,D,Dv", [(4, 4, 3, 3), (5, 7, 4, 6), (1, 1, 1, 1), (3, 1, 2, 5)])
def test_F5_attention_matches_loop(T, S, D, Dv, assert_close):
    rng = np.random.default_rng(T * 100 + S)
    q, k, v = rand(rng, 2, 3, T, D), rand(rng, 2, 3, S, D), rand(rng, 2, 3, S, Dv)
    o, w = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), return_weights=True)
    for b in range(2):
        for h in range(3):
            o_ref, a_ref = attention_loop(q[b, h], k[b, h], v[b, h])
            assert_close(o.data[b, h], o_ref, f"attention out (B,H,T,S,D)={(2, 3, T, S, D)} b={b}")
            assert_close(w[b, h], a_ref, f"attention weights b={b} h={h}")


def test_F17_attention_rows_sum_to_one_and_are_positive():
    rng = np.random.default_rng(0)
    q, k, v = (Tensor(rand(rng, 2, 3, 5, 4)) for _ in range(3))
    _, w = F.scaled_dot_product_attention(q, k, v, return_weights=True)
    assert np.all(w > 0), "F17: attention weights must be positive without a mask"
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-12, err_msg="F17: rows must sum to 1")


def test_F17_large_scores_stay_finite():
    """exp(e/sqrt d) overflows for scores of 1e4; the max-subtracted form does not."""
    q = Tensor(np.full((1, 1, 2, 4), 100.0))
    k = Tensor(np.full((1, 1, 3, 4), 100.0))
    v = Tensor(np.arange(12.0).reshape(1, 1, 3, 4))
    o = F.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(o.data[0, 0], np.tile(v.data[0, 0].mean(0), (2, 1)), rtol=1e-12)


def test_F13_row_vector_form_with_softmax_erratum(assert_close):
    """Q_i = X_i W_Q, K_j = X_j W_K, V_j = X_j W_V, S_ij = Q_i K_j^T / sqrt(d_k),
    alpha_ij = softmax_j(S_ij) (the source writes alpha_ij = S_ij: erratum),
    Z_i = sum_j alpha_ij V_j."""
    rng = np.random.default_rng(1)
    T, C, d_k = 6, 10, 4
    X = rand(rng, T, C)
    W_Q, W_K, W_V = rand(rng, C, d_k), rand(rng, C, d_k), rand(rng, C, d_k)
    Z = np.zeros((T, d_k))
    for i in range(T):
        Q_i = X[i] @ W_Q
        S_i = np.array([Q_i @ (X[j] @ W_K) / math.sqrt(d_k) for j in range(T)])
        alpha_i = np.exp(S_i - S_i.max()) / np.exp(S_i - S_i.max()).sum()  # softmax, not S_i
        Z[i] = sum(alpha_i[j] * (X[j] @ W_V) for j in range(T))
    Q, K, V = (Tensor((X @ W)[None, None]) for W in (W_Q, W_K, W_V))  # (1, 1, T, D)
    assert_close(F.scaled_dot_product_attention(Q, K, V).data[0, 0], Z, "F13 row-vector form")
    # The erratum taken literally (alpha = S, no softmax) is a different function:
    S = (X @ W_Q) @ (X @ W_K).T / math.sqrt(d_k)
    assert np.abs(S @ (X @ W_V) - Z).max() > 1e-1, "F13: alpha = S would give the same Z"


def test_F15_column_vector_form(assert_close):
    """q_i = W_q x_i with column vectors, W_q = W_Q^T: the same attention as F13's rows."""
    rng = np.random.default_rng(2)
    T, C, d_k = 5, 7, 3
    X = rand(rng, T, C)
    W_Q, W_K, W_V = rand(rng, C, d_k), rand(rng, C, d_k), rand(rng, C, d_k)
    W_q, W_k, W_v = W_Q.T, W_K.T, W_V.T  # (d_k, C): act on column vectors
    q = np.stack([W_q @ X[i] for i in range(T)])  # row i holds the column q_i
    k = np.stack([W_k @ X[i] for i in range(T)])
    v = np.stack([W_v @ X[i] for i in range(T)])
    o_ref, _ = attention_loop(q, k, v)
    Q, K, V = (Tensor((X @ W)[None, None]) for W in (W_Q, W_K, W_V))
    assert_close(F.scaled_dot_product_attention(Q, K, V).data[0, 0], o_ref, "F15 column form")


@settings(max_examples=25, deadline=None)
@given(
    T=st.integers(1, 7),
    t=st.integers(0, 6),
    seed=st.integers(0, 2**16),
)
def test_F5_causal_output_ignores_future_tokens(T, t, seed):
    t = min(t, T - 1)
    rng = np.random.default_rng(seed)
    q, k, v = rand(rng, 1, 2, T, 3), rand(rng, 1, 2, T, 3), rand(rng, 1, 2, T, 3)
    o1 = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True).data
    q2, k2, v2 = q.copy(), k.copy(), v.copy()
    for a in (q2, k2, v2):
        a[..., t + 1 :, :] = rand(rng, 1, 2, T - t - 1, 3)  # change every token after t
    o2 = F.scaled_dot_product_attention(Tensor(q2), Tensor(k2), Tensor(v2), is_causal=True).data
    np.testing.assert_array_equal(
        o1[..., : t + 1, :], o2[..., : t + 1, :], err_msg=f"causal attention T={T}: position {t}"
    )


def test_F5_causal_equals_loop_with_lower_triangle(assert_close):
    rng = np.random.default_rng(3)
    T = 6
    q, k, v = rand(rng, 1, 1, T, 4), rand(rng, 1, 1, T, 4), rand(rng, 1, 1, T, 5)
    o = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), is_causal=True)
    o_ref, _ = attention_loop(q[0, 0], k[0, 0], v[0, 0], np.tril(np.ones((T, T), dtype=bool)))
    assert_close(o.data[0, 0], o_ref, "causal attention")


def test_F5_padding_mask_ignores_padded_keys(assert_close):
    """A key-padding mask (B, 1, 1, S): padded keys get weight 0 and their values do not matter."""
    rng = np.random.default_rng(4)
    B, H, T, S, D = 2, 3, 4, 6, 5
    q, k, v = rand(rng, B, H, T, D), rand(rng, B, H, S, D), rand(rng, B, H, S, D)
    lengths = np.array([6, 3])
    mask = (np.arange(S)[None, :] < lengths[:, None])[:, None, None, :]  # (B, 1, 1, S)
    o, w = F.scaled_dot_product_attention(
        Tensor(q), Tensor(k), Tensor(v), mask, return_weights=True
    )
    assert np.all(w[1, :, :, 3:] == 0), "padded keys must get weight exactly 0"
    v2 = v.copy()
    v2[1, :, 3:] = 1e6  # garbage in the padded values
    o2 = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v2), mask)
    assert_close(o2.data, o.data, "padded values leak into the output")
    o_ref, _ = attention_loop(q[1, 0], k[1, 0, :3], v[1, 0, :3])  # batch 1 = the first 3 keys
    assert_close(o.data[1, 0], o_ref, "padding mask vs loop over the real keys")


def test_F5_boolean_and_float_masks_agree(assert_close):
    """A boolean mask (True = may attend) equals the float mask with 0 / -inf."""
    rng = np.random.default_rng(5)
    q, k, v = rand(rng, 2, 2, 5, 3), rand(rng, 2, 2, 7, 3), rand(rng, 2, 2, 7, 4)
    allowed = rng.random((5, 7)) < 0.6
    allowed[:, 2] = True
    additive = np.where(allowed, 0.0, -np.inf)
    ob = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), allowed)
    of = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), additive)
    assert_close(of.data, ob.data, "float mask vs boolean mask")
    bias = rand(rng, 5, 7)  # a finite float mask is added to the scores before the softmax
    o = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), bias)
    s = q @ k.swapaxes(-1, -2) / math.sqrt(3) + bias
    p = np.exp(s - s.max(-1, keepdims=True))
    assert_close(o.data, (p / p.sum(-1, keepdims=True)) @ v, "float mask added to the scores")


def test_F5_all_masked_row_gives_zeros():
    rng = np.random.default_rng(6)
    q, k, v = (Tensor(rand(rng, 1, 1, 3, 2)) for _ in range(3))
    mask = np.array([[True, True, False], [False, False, False], [True, False, False]])
    o = F.scaled_dot_product_attention(q, k, v, mask)
    assert np.all(o.data[0, 0, 1] == 0), "a query with no allowed key must output zeros"
    assert np.all(np.isfinite(o.data)), "masked attention produced NaN/inf"


@pytest.mark.parametrize("mask_shape", [(4,), (2, 5, 5), (2, 1, 1), (5, 6)])
def test_F5_mask_that_does_not_broadcast_raises(mask_shape):
    rng = np.random.default_rng(7)
    q, k, v = rand(rng, 2, 3, 5, 4), rand(rng, 2, 3, 7, 4), rand(rng, 2, 3, 7, 4)
    with pytest.raises(ValueError) as e:
        F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), np.ones(mask_shape, bool))
    assert str(mask_shape) in str(e.value) and "(2, 3, 5, 7)" in str(e.value), str(e.value)


def test_F5_mismatched_qkv_shapes_raise():
    rng = np.random.default_rng(8)
    with pytest.raises(ValueError, match=r"\(2, 5, 4\).*\(2, 7, 3\)"):
        F.scaled_dot_product_attention(
            Tensor(rand(rng, 2, 5, 4)), Tensor(rand(rng, 2, 7, 3)), Tensor(rand(rng, 2, 7, 3))
        )
    with pytest.raises(ValueError, match="rank"):
        F.scaled_dot_product_attention(
            Tensor(rand(rng, 4)), Tensor(rand(rng, 4)), Tensor(rand(rng, 4))
        )


@pytest.mark.parametrize("case", ["plain", "causal", "bool", "float"])
def test_F5_attention_gradcheck(case):
    rng = np.random.default_rng(9)
    T, S = (4, 4) if case == "causal" else (3, 5)
    q = Tensor(rand(rng, 2, 2, T, 3), requires_grad=True)
    k = Tensor(rand(rng, 2, 2, S, 3), requires_grad=True)
    v = Tensor(rand(rng, 2, 2, S, 2), requires_grad=True)
    mask = {"bool": rng.random((T, S)) < 0.6, "float": rand(rng, T, S)}.get(case)
    if case == "bool":
        mask[:, 0] = True

    def attention(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, mask, is_causal=case == "causal")

    assert gradcheck(attention, q, k, v)


@pytest.mark.parametrize("case", ["plain", "bool", "float", "causal", "scale"])
def test_F5_matches_torch_sdpa(case, torch_fixture, assert_close):
    fx = torch_fixture(f"sdpa_{case}")
    q, k, v = (Tensor(fx[n].copy(), requires_grad=True) for n in ("q", "k", "v"))
    mask = fx["mask"] if "mask" in fx else None
    scale = None if np.isnan(fx["scale"]) else float(fx["scale"])
    o = F.scaled_dot_product_attention(q, k, v, mask, is_causal=bool(fx["is_causal"]), scale=scale)
    assert_close(o.data, fx["o"], f"sdpa_{case} output")
    (o * Tensor(fx["G"])).sum().backward()
    for name, t in (("q", q), ("k", k), ("v", v)):
        assert_close(t.grad, fx[f"d{name}"], f"sdpa_{case} d{name}")
