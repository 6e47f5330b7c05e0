"""F16 and F18 on their own: the unscaled score e_ij = q_i . k_j, and the output o_i as the
alpha-weighted sum of the values, read off the attention op's own intermediate results."""

import numpy as np

from minillm.ops.attention import attention_forward


def _qkv(T=5, S=7, D=3, seed=16):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((1, 1, n, D)) for n in (T, S, S))


def test_F16_scores_are_unscaled_dot_products_before_the_sqrt_dk_scaling():
    q, k, v = _qkv()
    D = q.shape[-1]
    _, (_, _, _, P, _, scale, _) = attention_forward(q, k, v)
    assert scale == 1 / np.sqrt(D)
    e = np.array([[q[0, 0, i] @ k[0, 0, j] for j in range(7)] for i in range(5)])  # (T, S) F16
    alpha = np.exp(e * scale) / np.exp(e * scale).sum(axis=1, keepdims=True)  # F17 from F16
    np.testing.assert_allclose(P[0, 0], alpha, rtol=1e-12, atol=0)


def test_F18_output_is_the_alpha_weighted_sum_of_values():
    q, k, v = _qkv(seed=18)
    O, (_, _, _, P, _, _, _) = attention_forward(q, k, v)
    for i in range(5):
        o_i = sum(P[0, 0, i, j] * v[0, 0, j] for j in range(7))  # o_i = sum_j alpha_ij v_j
        np.testing.assert_allclose(O[0, 0, i], o_i, rtol=1e-12, atol=1e-15)
